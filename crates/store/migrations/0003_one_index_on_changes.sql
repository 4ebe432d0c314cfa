-- Every write stores a change row, and SQLite writes each index it touches to the
-- WAL as a page of its own. `changes` had two indexes led by doc_id: the UNIQUE
-- (doc_id, hash) one that deduplicates, and (doc_id, seq). The first serves every
-- query the second did (a document's rows are few between compactions, so ordering
-- them by seq costs nothing), so a local write now touches one page fewer.
DROP INDEX changes_by_doc;
