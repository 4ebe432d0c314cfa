-- Heads of every document, kept with each write: the sync manifest is read from
-- here without loading a single document.
CREATE TABLE doc_heads (
    doc_id TEXT PRIMARY KEY,
    heads  TEXT NOT NULL,
    digest BLOB NOT NULL
);

-- Per-peer automerge sync states, so a reconnect resumes instead of starting over.
CREATE TABLE sync_states (
    peer   TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    state  BLOB NOT NULL,
    PRIMARY KEY (peer, doc_id)
);

-- Peers this device knows how to reach: configured (static), discovered (mdns) or
-- learned from other peers.
CREATE TABLE peers (
    addr        TEXT PRIMARY KEY,
    device_id   TEXT,
    source      TEXT NOT NULL,
    last_seen   INTEGER,
    last_synced INTEGER,
    last_error  TEXT
);

-- Invites issued by this device (an enrolment authority): one-time, expiring.
CREATE TABLE invites (
    secret_hash TEXT PRIMARY KEY,
    role        TEXT NOT NULL,
    branch      TEXT,
    expires_at  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    used_by     TEXT,
    used_at     INTEGER
);
