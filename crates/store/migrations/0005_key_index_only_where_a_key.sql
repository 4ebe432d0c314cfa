-- Most records have no natural key (bookings, daily use, task runs), yet each had
-- an entry in records_by_key, written with every insert. A lookup by key
-- (`key = ?`) never matches NULL, so an index of the keyed records alone serves it
-- the same, and a new booking touches one index fewer.
DROP INDEX records_by_key;
CREATE INDEX records_by_key ON records (kind, key COLLATE NOCASE) WHERE key IS NOT NULL;
