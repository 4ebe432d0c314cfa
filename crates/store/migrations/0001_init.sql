-- Local-only facts about this replica: its system, device, actor.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Automerge documents: a compacted snapshot plus the changes appended since.
CREATE TABLE documents (
    doc_id       TEXT PRIMARY KEY,
    snapshot     BLOB,
    snapshot_seq INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE changes (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL,
    hash   TEXT NOT NULL,
    bytes  BLOB NOT NULL,
    UNIQUE (doc_id, hash)
);
CREATE INDEX changes_by_doc ON changes (doc_id, seq);

-- The query index: derived from the documents, rebuilt from them at any time.
CREATE TABLE records (
    id     TEXT PRIMARY KEY,
    kind   TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    branch TEXT,
    key    TEXT,
    day    TEXT,
    search TEXT NOT NULL,
    data   TEXT NOT NULL
);
CREATE INDEX records_by_kind ON records (kind, branch);
CREATE INDEX records_by_doc ON records (doc_id);
CREATE INDEX records_by_key ON records (kind, key COLLATE NOCASE);
CREATE INDEX records_by_day ON records (kind, day);

CREATE TABLE stock_levels (
    item   TEXT NOT NULL,
    branch TEXT NOT NULL,
    level  INTEGER NOT NULL,
    PRIMARY KEY (item, branch)
);

CREATE TABLE conflicts (
    id     TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL,
    data   TEXT NOT NULL
);
CREATE INDEX conflicts_by_doc ON conflicts (doc_id);
