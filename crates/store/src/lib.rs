//! SQLite storage for a replica: documents as snapshot + appended changes, the
//! query index derived from them, conflicts, and local-only meta data.
//!
//! This is the only crate that speaks SQL. Every write goes through [`Store::write`],
//! one `BEGIN IMMEDIATE` transaction, so a change and its index update commit
//! together or not at all, and several processes can share one data directory.

use branchline_core::conflict::Conflict;
use branchline_core::doc::Record;
use branchline_core::schema::Kind;
use branchline_core::Fields;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("the disk is full: nothing was written")]
    DiskFull,
    #[error("stored data is damaged: {0}")]
    Damaged(String),
    #[error(
        "this data directory was written by a newer Branchline (schema {found}, this build knows {known})"
    )]
    TooNew { found: i64, known: i64 },
}

impl StoreError {
    fn from_sql(e: rusqlite::Error) -> StoreError {
        match &e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
                StoreError::DiskFull
            }
            _ => StoreError::Sql(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Numbered, append-only migrations. Never edit one that has shipped: add the next.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_sync.sql")),
    (3, include_str!("../migrations/0003_one_index_on_changes.sql")),
    (4, include_str!("../migrations/0004_deflated_whole_rows.sql")),
    (
        5,
        include_str!("../migrations/0005_key_index_only_where_a_key.sql"),
    ),
];

pub struct Store {
    conn: Connection,
    heads: Option<HeadsCache>,
    heads_generation: u64,
    /// A commit made without waiting for the disk has not been synced since.
    unsynced: bool,
    /// The generation the last commit that wrote heads made, and what it wrote.
    last_written: (u64, Vec<HeadsWritten>),
}

/// A document's id and the heads digest a commit wrote for it.
pub type HeadsWritten = (String, Vec<u8>);

/// The sync manifest (document id → heads digest) kept in memory: a sync session
/// consults it on every message, and reading a thousand rows each time cost more
/// than handling the message. Own commits update it through the transaction's log;
/// a commit by another connection (a CLI beside the daemon) changes SQLite's
/// `data_version`, which drops it.
struct HeadsCache {
    data_version: i64,
    digests: BTreeMap<String, Vec<u8>>,
}

/// A stored document: its snapshot and the changes after it.
pub struct StoredDoc {
    pub snapshot: Option<Vec<u8>>,
    pub changes: Vec<Vec<u8>>,
    /// Highest change sequence number read; later reads ask only for newer ones.
    pub seq: i64,
}

impl StoredDoc {
    /// Bytes read: the snapshot and every change row.
    pub fn len_bytes(&self) -> usize {
        self.snapshot.as_ref().map_or(0, Vec::len) + self.changes.iter().map(Vec::len).sum::<usize>()
    }
}

/// One row of the query index.
pub struct IndexRow<'a> {
    pub record: &'a Record,
    pub doc_id: &'a str,
}

/// A row of the query index with its columns worked out: the JSON, the search
/// text. Pure, so a merge prepares the rows of many documents side by side and the
/// writer only runs the SQL.
#[derive(Debug, Clone)]
pub struct PreparedRow {
    id: String,
    kind: &'static str,
    doc_id: String,
    branch: Option<String>,
    key: Option<String>,
    day: Option<String>,
    search: String,
    data: String,
}

impl PreparedRow {
    pub fn new(row: IndexRow<'_>) -> Result<PreparedRow> {
        let r = row.record;
        Ok(PreparedRow {
            id: r.id.clone(),
            kind: r.kind.name(),
            doc_id: row.doc_id.to_string(),
            branch: index_branch(r).map(str::to_string),
            key: r.kind.natural_key().and_then(|k| r.str(k)).map(str::to_string),
            day: index_day(r),
            search: index_search(r),
            data: serde_json::to_string(r).map_err(|e| StoreError::Damaged(e.to_string()))?,
        })
    }
}

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub branch: Option<String>,
    /// Substring search over every text field (case-insensitive).
    pub search: Option<String>,
    /// Inclusive day range over the record's main date (start, date, opened).
    pub from_day: Option<String>,
    pub to_day: Option<String>,
    /// Exact field matches, checked on the stored record.
    pub fields: Vec<(String, String)>,
    pub limit: Option<usize>,
}

fn index_branch(r: &Record) -> Option<&str> {
    r.str("branch").or_else(|| r.str("from_branch"))
}

fn index_day(r: &Record) -> Option<String> {
    ["start", "date", "opened_at", "requested_at"]
        .iter()
        .find_map(|f| r.str(f))
        .and_then(|s| s.get(..10))
        .map(str::to_string)
}

fn index_search(r: &Record) -> String {
    let mut s = String::new();
    for v in r.fields.values() {
        if let Some(t) = v.as_str() {
            s.push_str(&t.to_lowercase());
            s.push('\u{1f}');
        }
    }
    s
}

/// Pages of WAL (4 KiB each) past which a commit checkpoints: 16 MiB.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 4096;

/// Copies the WAL into the database from its own connection, off the write path.
pub struct Checkpointer {
    conn: Connection,
}

impl Checkpointer {
    pub fn open(path: &Path) -> Result<Checkpointer> {
        let conn = Connection::open(path).map_err(StoreError::from_sql)?;
        Ok(Checkpointer { conn })
    }

    /// A passive checkpoint: copies what it can without waiting for readers or
    /// writers, so it never holds up a write. Returns the WAL's frames and how many
    /// of them are now in the database.
    pub fn run(&self) -> Result<(i64, i64)> {
        Ok(self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(1)?, r.get(2)?))
        })?)
    }
}

impl Store {
    /// Open (creating if needed) the replica database and bring its schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path).map_err(StoreError::from_sql)?;
        Self::setup(conn)
    }

    pub fn open_in_memory() -> Result<Store> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Store> {
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        // WAL lets readers run beside the writer; FULL makes every acknowledged
        // commit survive power loss, not only a crash of the process.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Bound values never change a statement's plan: without this, SQLite (built
        // with STAT4) marks some cached statements to be re-prepared on every new
        // binding, which cost more than the rest of a small write put together.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        // Room for a merge's index pages in memory, so a large transaction does not
        // spill (and later rewrite) pages into the WAL before it commits.
        conn.pragma_update(None, "cache_size", -16384)?;
        // SQLite copies the WAL into the database (a checkpoint, with its own fsync)
        // inside whichever commit first finds the WAL past the threshold: 1000 pages
        // by default, every few merges. A running node checkpoints from another
        // connection instead (`Checkpointer`), so commits only append; this larger
        // threshold bounds the WAL of a process that does not, and closing the last
        // connection checkpoints what is left.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
        conn.set_prepared_statement_cache_capacity(64);
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
        if version > known {
            return Err(StoreError::TooNew {
                found: version,
                known,
            });
        }
        for (n, sql) in MIGRATIONS {
            if *n > version {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", n)?;
                tx.commit().map_err(StoreError::from_sql)?;
            }
        }
        Ok(Store {
            conn,
            heads: None,
            heads_generation: 0,
            unsynced: false,
            last_written: (0, Vec::new()),
        })
    }

    /// Run `f` in one immediate (write-locking) transaction; commit if it succeeds.
    pub fn write<R, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&Tx<'_>) -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E> {
        let r = self.write_inner(f);
        if r.is_ok() {
            self.unsynced = false;
        }
        r
    }

    /// Whether a commit made by `write_unsynced` still waits for a syncing one.
    pub fn has_unsynced_commits(&self) -> bool {
        self.unsynced
    }

    /// `write`, but the commit does not wait for the disk. It becomes durable with
    /// the next commit that does (a `write` syncs the log with everything before
    /// it); a power failure before then loses it and every commit after it, whole,
    /// never half. For what a peer sent during a catch-up: the peer still holds it,
    /// and the session's end syncs once for the lot.
    pub fn write_unsynced<R, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&Tx<'_>) -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E> {
        let sql = |e| E::from(StoreError::from_sql(e));
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        let out = self.write_inner(f);
        if out.is_ok() {
            self.unsynced = true;
        }
        // Back to syncing every commit; if that fails the connection cannot be
        // trusted to, so the error wins over the result.
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(sql)?;
        out
    }

    fn write_inner<R, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&Tx<'_>) -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| E::from(StoreError::from_sql(e)))?;
        let t = Tx {
            tx: &tx,
            heads_written: Default::default(),
        };
        let out = f(&t)?;
        let written = t.heads_written.into_inner();
        tx.commit().map_err(|e| E::from(StoreError::from_sql(e)))?;
        if !written.is_empty() {
            self.heads_generation += 1;
            if let Some(cache) = &mut self.heads {
                cache.digests.extend(written.iter().cloned());
            }
            self.last_written = (self.heads_generation, written);
        }
        Ok(out)
    }

    /// A number that changes whenever a heads digest may have changed, or `None`
    /// when the manifest is not cached (or another connection has written since).
    pub fn manifest_generation(&mut self) -> Result<Option<u64>> {
        let Some(cache) = &self.heads else {
            return Ok(None);
        };
        let dv: i64 = self
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        if dv != cache.data_version {
            self.heads = None;
            self.heads_generation += 1;
            return Ok(None);
        }
        Ok(Some(self.heads_generation))
    }

    /// The heads digests the last commit of this connection wrote, if the manifest
    /// was at `generation` just before it and nothing else has written since: a copy
    /// of the manifest taken then is brought up to date with these alone.
    pub fn manifest_written_since(&mut self, generation: u64) -> Result<Option<&[HeadsWritten]>> {
        let now = self.manifest_generation()?;
        let (made, written) = &self.last_written;
        Ok((now == Some(*made) && *made == generation.wrapping_add(1)).then_some(written.as_slice()))
    }

    /// Every document's heads digest, by id, and the generation it belongs to.
    pub fn manifest(&mut self) -> Result<(u64, &BTreeMap<String, Vec<u8>>)> {
        if self.manifest_generation()?.is_none() {
            let tx = self.conn.transaction()?;
            // Read inside the transaction that reads the rows, so a commit by another
            // connection in between cannot slip past both.
            let data_version: i64 = tx.query_row("PRAGMA data_version", [], |r| r.get(0))?;
            let digests = {
                let mut st = tx.prepare_cached("SELECT doc_id, digest FROM doc_heads")?;
                let rows = st
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<BTreeMap<String, Vec<u8>>>>()?;
                rows
            };
            drop(tx);
            self.heads_generation += 1;
            self.heads = Some(HeadsCache {
                data_version,
                digests,
            });
        }
        let generation = self.heads_generation;
        match &self.heads {
            Some(c) => Ok((generation, &c.digests)),
            None => Err(StoreError::Damaged("the manifest cache was lost".into())),
        }
    }

    /// Read through the same query helpers outside a write.
    pub fn read<R, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&Tx<'_>) -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| E::from(StoreError::from_sql(e)))?;
        f(&Tx {
            tx: &tx,
            heads_written: Default::default(),
        })
    }

    pub fn integrity_check(&self) -> Result<String> {
        Ok(self.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    /// The raw connection, for benchmarks that measure SQLite itself as a floor.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

pub struct Tx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    /// Heads digests this transaction wrote, for the manifest cache once it commits.
    heads_written: std::cell::RefCell<Vec<(String, Vec<u8>)>>,
}

fn decode_record(data: String) -> Result<Record> {
    serde_json::from_str(&data).map_err(|e| StoreError::Damaged(format!("index row: {e}")))
}

impl Tx<'_> {
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    pub fn doc_ids(&self) -> Result<Vec<String>> {
        let mut st = self.tx.prepare_cached(
            "SELECT doc_id FROM documents UNION SELECT DISTINCT doc_id FROM changes ORDER BY 1",
        )?;
        let ids = st
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(ids)
    }

    /// A document's snapshot and its changes after `after_seq` (0 = everything).
    pub fn load_doc(&self, doc_id: &str, after_seq: i64) -> Result<Option<StoredDoc>> {
        let (snapshot, snap_seq): (Option<Vec<u8>>, i64) = if after_seq == 0 {
            self.tx
                .prepare_cached("SELECT snapshot, snapshot_seq FROM documents WHERE doc_id = ?1")?
                .query_row([doc_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
                .unwrap_or((None, 0))
        } else {
            // A snapshot taken past what the caller has read (by another process on
            // this data directory) may hold changes whose rows it deleted: the
            // caller gets it too, to merge.
            self.tx
                .prepare_cached(
                    "SELECT snapshot, snapshot_seq FROM documents WHERE doc_id = ?1 AND snapshot_seq > ?2",
                )?
                .query_row(params![doc_id, after_seq], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
                .unwrap_or((None, after_seq))
        };
        let mut st = self
            .tx
            .prepare_cached("SELECT seq, bytes FROM changes WHERE doc_id = ?1 AND seq > ?2 ORDER BY seq")?;
        let mut seq = snap_seq;
        let mut changes = Vec::new();
        let mut rows = st.query(params![doc_id, snap_seq])?;
        while let Some(row) = rows.next()? {
            seq = row.get(0)?;
            changes.push(row.get(1)?);
        }
        if snapshot.is_none() && changes.is_empty() && after_seq == 0 {
            return Ok(None);
        }
        Ok(Some(StoredDoc {
            snapshot,
            changes,
            seq,
        }))
    }

    /// Append a change. Its sequence number, or `None` when it was already stored
    /// (then nothing is written).
    pub fn append_change(&self, doc_id: &str, hash: &str, bytes: &[u8]) -> Result<Option<i64>> {
        let mut st = self
            .tx
            .prepare_cached("INSERT OR IGNORE INTO changes (doc_id, hash, bytes) VALUES (?1, ?2, ?3)")?;
        let n = st
            .execute(params![doc_id, hash, bytes])
            .map_err(StoreError::from_sql)?;
        Ok((n == 1).then(|| self.tx.last_insert_rowid()))
    }

    /// Replace the changes up to `upto_seq` by a snapshot that contains them.
    pub fn compact(&self, doc_id: &str, snapshot: &[u8], upto_seq: i64) -> Result<()> {
        self.tx.execute(
            "INSERT INTO documents (doc_id, snapshot, snapshot_seq) VALUES (?1, ?2, ?3)
             ON CONFLICT(doc_id) DO UPDATE SET snapshot = excluded.snapshot, snapshot_seq = excluded.snapshot_seq",
            params![doc_id, snapshot, upto_seq],
        )?;
        self.tx.execute(
            "DELETE FROM changes WHERE doc_id = ?1 AND seq <= ?2",
            params![doc_id, upto_seq],
        )?;
        Ok(())
    }

    /// Put one record into the query index (replacing what was there).
    pub fn index_put(&self, row: IndexRow<'_>) -> Result<()> {
        self.index_put_prepared(&PreparedRow::new(row)?)
    }

    /// [`Tx::index_put`] for a row already worked out (off the writer's thread). An
    /// update that leaves the indexed columns as they were rewrites only the row, not
    /// the index entries.
    pub fn index_put_prepared(&self, r: &PreparedRow) -> Result<()> {
        let mut find = self.tx.prepare_cached(
            "SELECT kind = ?2 AND doc_id = ?3 AND branch IS ?4 AND key IS ?5 AND day IS ?6
             FROM records WHERE id = ?1",
        )?;
        let same: Option<bool> = find
            .query_row(params![r.id, r.kind, r.doc_id, r.branch, r.key, r.day], |x| {
                x.get(0)
            })
            .optional()?;
        let mut st = match same {
            Some(true) => {
                let mut st = self
                    .tx
                    .prepare_cached("UPDATE records SET search = ?2, data = ?3 WHERE id = ?1")?;
                st.execute(params![r.id, r.search, r.data])
                    .map_err(StoreError::from_sql)?;
                return Ok(());
            }
            Some(false) => self.tx.prepare_cached(
                "UPDATE records SET kind = ?2, doc_id = ?3, branch = ?4, key = ?5, day = ?6,
                   search = ?7, data = ?8 WHERE id = ?1",
            )?,
            None => self.tx.prepare_cached(
                "INSERT INTO records (id, kind, doc_id, branch, key, day, search, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?,
        };
        st.execute(params![
            r.id, r.kind, r.doc_id, r.branch, r.key, r.day, r.search, r.data
        ])
        .map_err(StoreError::from_sql)?;
        Ok(())
    }

    /// Put a row of a document whose rows were just cleared (`index_clear_doc`): no
    /// row to compare with, so no lookup first. A row of the same id under another
    /// document (only a crafted bundle makes one) is replaced.
    pub fn index_insert_prepared(&self, r: &PreparedRow) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO records (id, kind, doc_id, branch, key, day, search, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                r.id, r.kind, r.doc_id, r.branch, r.key, r.day, r.search, r.data
            ])
            .map_err(StoreError::from_sql)?;
        Ok(())
    }

    pub fn index_clear_doc(&self, doc_id: &str) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM records WHERE doc_id = ?1")?
            .execute([doc_id])?;
        Ok(())
    }

    pub fn index_clear_all(&self) -> Result<()> {
        self.tx
            .execute_batch("DELETE FROM records; DELETE FROM stock_levels; DELETE FROM conflicts;")?;
        Ok(())
    }

    pub fn set_stock_levels(&self, levels: &[(String, String, i64)]) -> Result<()> {
        self.tx.execute("DELETE FROM stock_levels", [])?;
        let mut st = self
            .tx
            .prepare_cached("INSERT INTO stock_levels (item, branch, level) VALUES (?1, ?2, ?3)")?;
        for (item, branch, level) in levels {
            st.execute(params![item, branch, level])?;
        }
        Ok(())
    }

    pub fn stock_level(&self, item: &str, branch: &str) -> Result<i64> {
        Ok(self
            .tx
            .query_row(
                "SELECT level FROM stock_levels WHERE item = ?1 AND branch = ?2",
                params![item, branch],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
    }

    pub fn stock_levels(&self) -> Result<Vec<(String, String, i64)>> {
        let mut st = self
            .tx
            .prepare_cached("SELECT item, branch, level FROM stock_levels ORDER BY item, branch")?;
        let v = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    pub fn set_conflicts(&self, doc_id: &str, conflicts: &[Conflict]) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM conflicts WHERE doc_id = ?1")?
            .execute([doc_id])?;
        let mut st = self
            .tx
            .prepare_cached("INSERT OR REPLACE INTO conflicts (id, doc_id, data) VALUES (?1, ?2, ?3)")?;
        for c in conflicts {
            let data = serde_json::to_string(c).map_err(|e| StoreError::Damaged(e.to_string()))?;
            st.execute(params![c.id, doc_id, data])?;
        }
        Ok(())
    }

    /// Record a document's current heads (sorted hex) and their digest.
    pub fn set_heads(&self, doc_id: &str, heads: &str, digest: &[u8]) -> Result<()> {
        let mut st = self.tx.prepare_cached(
            "INSERT INTO doc_heads (doc_id, heads, digest) VALUES (?1, ?2, ?3)
                 ON CONFLICT(doc_id) DO UPDATE SET heads = excluded.heads, digest = excluded.digest",
        )?;
        st.execute(params![doc_id, heads, digest])
            .map_err(StoreError::from_sql)?;
        self.heads_written
            .borrow_mut()
            .push((doc_id.to_string(), digest.to_vec()));
        Ok(())
    }

    pub fn heads(&self, doc_id: &str) -> Result<Option<String>> {
        Ok(self
            .tx
            .prepare_cached("SELECT heads FROM doc_heads WHERE doc_id = ?1")?
            .query_row([doc_id], |r| r.get(0))
            .optional()?)
    }

    pub fn sync_states(&self, peer: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let mut st = self
            .tx
            .prepare_cached("SELECT doc_id, state FROM sync_states WHERE peer = ?1")?;
        let v = st
            .query_map([peer], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    /// One document's sync state with `peer`, if one was saved.
    pub fn sync_state(&self, peer: &str, doc_id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .tx
            .prepare_cached("SELECT state FROM sync_states WHERE peer = ?1 AND doc_id = ?2")?
            .query_row([peer, doc_id], |r| r.get(0))
            .optional()?)
    }

    pub fn set_sync_state(&self, peer: &str, doc_id: &str, state: &[u8]) -> Result<()> {
        let mut st = self
            .tx
            .prepare_cached("INSERT OR REPLACE INTO sync_states (peer, doc_id, state) VALUES (?1, ?2, ?3)")?;
        st.execute(params![peer, doc_id, state])
            .map_err(StoreError::from_sql)?;
        Ok(())
    }

    /// SQLite's data version: changes when another connection commits, so a daemon
    /// notices writes made by a CLI on the same data directory.
    pub fn data_version(&self) -> Result<i64> {
        // Every write asks (a document held in memory is re-read only when it changed):
        // a cached statement, not one prepared each time.
        Ok(self
            .tx
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?)
    }

    pub fn max_change_seq(&self) -> Result<i64> {
        Ok(self
            .tx
            .query_row("SELECT coalesce(max(seq), 0) FROM changes", [], |r| r.get(0))?)
    }

    /// Documents with changes stored after `seq`.
    pub fn docs_changed_since(&self, seq: i64) -> Result<Vec<String>> {
        // A range of the rowid, deduplicated here: asked for DISTINCT, SQLite would
        // rather walk the whole (doc_id, hash) index in order.
        let mut st = self
            .tx
            .prepare_cached("SELECT doc_id FROM changes WHERE seq > ?1")?;
        let v = st
            .query_map([seq], |r| r.get(0))?
            .collect::<rusqlite::Result<std::collections::BTreeSet<String>>>()?;
        Ok(v.into_iter().collect())
    }

    pub fn add_invite(&self, secret_hash: &str, role: &str, expires_at: i64, now: i64) -> Result<()> {
        self.tx.execute(
            "INSERT INTO invites (secret_hash, role, expires_at, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![secret_hash, role, expires_at, now],
        )?;
        Ok(())
    }

    /// Use an invite once: its role, or why it cannot be used.
    pub fn take_invite(
        &self,
        secret_hash: &str,
        device: &str,
        now: i64,
    ) -> Result<std::result::Result<String, String>> {
        let row: Option<(String, i64, Option<String>)> = self
            .tx
            .query_row(
                "SELECT role, expires_at, used_by FROM invites WHERE secret_hash = ?1",
                [secret_hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        Ok(match row {
            None => Err("unknown invite code".into()),
            Some((_, _, Some(_))) => Err("this invite code has already been used".into()),
            Some((_, exp, None)) if exp < now => Err("this invite code has expired".into()),
            Some((role, _, None)) => {
                self.tx.execute(
                    "UPDATE invites SET used_by = ?2, used_at = ?3 WHERE secret_hash = ?1",
                    params![secret_hash, device, now],
                )?;
                Ok(role)
            }
        })
    }

    pub fn add_peer(&self, addr: &str, source: &str, device: Option<&str>) -> Result<()> {
        self.tx.execute(
            "INSERT INTO peers (addr, source, device_id) VALUES (?1, ?2, ?3)
             ON CONFLICT(addr) DO UPDATE SET device_id = coalesce(excluded.device_id, peers.device_id),
               source = CASE WHEN peers.source = 'static' THEN 'static' ELSE excluded.source END",
            params![addr, source, device],
        )?;
        Ok(())
    }

    /// Remember an address where a device was seen, unless it is known already.
    pub fn add_peer_if_new(&self, addr: &str, source: &str, device: &str) -> Result<()> {
        self.tx.execute(
            "INSERT OR IGNORE INTO peers (addr, source, device_id) VALUES (?1, ?2, ?3)",
            params![addr, source, device],
        )?;
        Ok(())
    }

    pub fn peer_seen(
        &self,
        addr: &str,
        device: &str,
        now: i64,
        synced: bool,
        error: Option<&str>,
    ) -> Result<()> {
        self.tx.execute(
            "UPDATE peers SET device_id = ?2, last_seen = ?3,
               last_synced = CASE WHEN ?4 THEN ?3 ELSE last_synced END, last_error = ?5 WHERE addr = ?1",
            params![addr, device, now, synced, error],
        )?;
        Ok(())
    }

    pub fn peer_failed(&self, addr: &str, error: &str) -> Result<()> {
        self.tx.execute(
            "UPDATE peers SET last_error = ?2 WHERE addr = ?1",
            params![addr, error],
        )?;
        Ok(())
    }

    /// Known peer addresses: (addr, device, source, last_seen, last_synced, last_error).
    #[allow(clippy::type_complexity)]
    pub fn peers(
        &self,
    ) -> Result<
        Vec<(
            String,
            Option<String>,
            String,
            Option<i64>,
            Option<i64>,
            Option<String>,
        )>,
    > {
        let mut st = self.tx.prepare_cached(
            "SELECT addr, device_id, source, last_seen, last_synced, last_error FROM peers ORDER BY addr",
        )?;
        let v = st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    pub fn has_conflicts(&self, doc_id: &str) -> Result<bool> {
        let mut st = self
            .tx
            .prepare_cached("SELECT 1 FROM conflicts WHERE doc_id = ?1 LIMIT 1")?;
        Ok(st.exists([doc_id])?)
    }

    pub fn conflicts(&self) -> Result<Vec<Conflict>> {
        self.conflicts_where("SELECT data FROM conflicts ORDER BY id", [])
    }

    /// The conflicts listed for one document.
    pub fn conflicts_of(&self, doc_id: &str) -> Result<Vec<Conflict>> {
        self.conflicts_where(
            "SELECT data FROM conflicts WHERE doc_id = ?1 ORDER BY id",
            [doc_id],
        )
    }

    fn conflicts_where<P: rusqlite::Params>(&self, sql: &str, args: P) -> Result<Vec<Conflict>> {
        let mut st = self.tx.prepare_cached(sql)?;
        let rows = st
            .query_map(args, |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|d| serde_json::from_str(&d).map_err(|e| StoreError::Damaged(format!("conflict row: {e}"))))
            .collect()
    }

    /// A record from the index, with the document it lives in.
    pub fn record(&self, id: &str) -> Result<Option<(Record, String)>> {
        let mut st = self
            .tx
            .prepare_cached("SELECT data, doc_id FROM records WHERE id = ?1")?;
        let row: Option<(String, String)> = st.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
        row.map(|(d, doc)| Ok((decode_record(d)?, doc))).transpose()
    }

    /// Ids of records of `kind` whose id starts with `prefix`.
    pub fn ids_with_prefix(&self, kind: Kind, prefix: &str) -> Result<Vec<String>> {
        let mut st = self.tx.prepare_cached(
            "SELECT id FROM records WHERE kind = ?1 AND id >= ?2 AND id < ?2 || 'g' LIMIT 3",
        )?;
        let v = st
            .query_map(params![kind.name(), prefix], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(v)
    }

    /// Records of `kind` whose natural key (tag, code, name...) equals `key`, ignoring case.
    pub fn by_key(&self, kind: Kind, key: &str) -> Result<Vec<Record>> {
        let mut st = self
            .tx
            .prepare_cached("SELECT data FROM records WHERE kind = ?1 AND key = ?2 COLLATE NOCASE")?;
        let rows = st
            .query_map(params![kind.name(), key], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(decode_record).collect()
    }

    pub fn records_in_doc(&self, doc_id: &str) -> Result<Vec<Record>> {
        let mut st = self
            .tx
            .prepare_cached("SELECT data FROM records WHERE doc_id = ?1 ORDER BY id")?;
        let rows = st
            .query_map([doc_id], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(decode_record).collect()
    }

    /// List records of a kind with filters, ordered by day then id.
    pub fn list(&self, kind: Kind, filter: &Filter) -> Result<Vec<Record>> {
        let mut sql = String::from("SELECT data FROM records WHERE kind = ?1");
        let mut args: Vec<String> = vec![kind.name().to_string()];
        let mut push = |sql: &mut String, clause: &str, v: String| {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(b) = &filter.branch {
            push(&mut sql, " AND branch = ?", b.to_ascii_uppercase());
        }
        if let Some(s) = &filter.search {
            let pattern = format!(
                "%{}%",
                s.to_lowercase()
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            push(&mut sql, " AND search LIKE ? ESCAPE '\\'", pattern);
        }
        if let Some(d) = &filter.from_day {
            push(&mut sql, " AND day >= ?", d.clone());
        }
        if let Some(d) = &filter.to_day {
            push(&mut sql, " AND day <= ?", d.clone());
        }
        sql.push_str(" ORDER BY day, key, id");
        let mut st = self.tx.prepare_cached(&sql)?;
        let rows = st
            .query_map(rusqlite::params_from_iter(args.iter()), |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut out = Vec::new();
        for d in rows {
            let r = decode_record(d)?;
            if filter.fields.iter().all(|(k, v)| field_matches(&r.fields, k, v)) {
                out.push(r);
                if filter.limit.is_some_and(|l| out.len() >= l) {
                    break;
                }
            }
        }
        Ok(out)
    }

    pub fn count(&self, kind: Kind) -> Result<i64> {
        Ok(self.tx.query_row(
            "SELECT count(*) FROM records WHERE kind = ?1",
            [kind.name()],
            |r| r.get(0),
        )?)
    }
}

fn field_matches(fields: &Fields, k: &str, v: &str) -> bool {
    match fields.get(k) {
        Some(val) => val.display().eq_ignore_ascii_case(v),
        None => v.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use branchline_core::value::fields;

    fn rec(kind: Kind, id: &str, f: Fields) -> Record {
        Record {
            kind,
            id: id.into(),
            fields: f,
            work: vec![],
        }
    }

    #[test]
    fn migrations_apply_once_and_changes_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        {
            let mut s = Store::open(&path).unwrap();
            s.write(|tx| {
                let first = tx.append_change("inventory", "h1", b"one")?;
                assert!(first.is_some());
                let other = tx.append_change("system", "h9", b"nine")?;
                assert!(other > first);
                // Already stored: no number, not the last insert's (another document's).
                assert_eq!(tx.append_change("inventory", "h1", b"one")?, None);
                assert!(tx.append_change("inventory", "h2", b"two")? > other);
                Ok::<_, StoreError>(())
            })
            .unwrap();
        }
        let mut s = Store::open(&path).unwrap();
        let d = s.read(|tx| tx.load_doc("inventory", 0)).unwrap().unwrap();
        assert_eq!(d.changes, vec![b"one".to_vec(), b"two".to_vec()]);
        let later = s.read(|tx| tx.load_doc("inventory", d.seq)).unwrap().unwrap();
        assert!(later.changes.is_empty());
        s.write(|tx| tx.compact("inventory", b"snap", d.seq)).unwrap();
        let c = s.read(|tx| tx.load_doc("inventory", 0)).unwrap().unwrap();
        assert_eq!(c.snapshot.as_deref(), Some(b"snap".as_slice()));
        assert!(c.changes.is_empty());
        // A reader that had seen only the first row gets the snapshot that folded
        // in the second; one that had seen both does not.
        let behind = s.read(|tx| tx.load_doc("inventory", d.seq - 1)).unwrap().unwrap();
        assert_eq!(behind.snapshot.as_deref(), Some(b"snap".as_slice()));
        assert_eq!(behind.seq, d.seq);
        let level = s.read(|tx| tx.load_doc("inventory", d.seq)).unwrap().unwrap();
        assert!(level.snapshot.is_none() && level.changes.is_empty());
        assert_eq!(s.integrity_check().unwrap(), "ok");
    }

    #[test]
    fn an_unsynced_commit_is_a_commit_and_the_connection_syncs_again_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let mut s = Store::open(&path).unwrap();
        let sync_mode = |s: &mut Store| -> i64 {
            s.conn
                .pragma_query_value(None, "synchronous", |r| r.get(0))
                .unwrap()
        };
        assert_eq!(sync_mode(&mut s), 2, "FULL");
        assert!(!s.has_unsynced_commits());
        s.write_unsynced(|tx| tx.append_change("inventory", "h1", b"one"))
            .unwrap();
        assert_eq!(sync_mode(&mut s), 2, "FULL again after an unsynced commit");
        assert!(s.has_unsynced_commits());
        // A failed one rolls back whole, and also leaves the connection syncing.
        let failed = s.write_unsynced(|tx| {
            tx.append_change("inventory", "h2", b"two")?;
            Err::<(), _>(StoreError::Damaged("stop".into()))
        });
        assert!(failed.is_err());
        assert_eq!(sync_mode(&mut s), 2);
        // A syncing commit takes the unsynced ones to the disk with it.
        s.write(|tx| tx.set_meta("k", "v")).unwrap();
        assert!(!s.has_unsynced_commits());
        drop(s);
        // Committed: another connection (a process after a crash) reads it.
        let mut again = Store::open(&path).unwrap();
        let d = again.read(|tx| tx.load_doc("inventory", 0)).unwrap().unwrap();
        assert_eq!(d.changes, vec![b"one".to_vec()]);
    }

    #[test]
    fn commits_leave_the_wal_to_the_checkpointer_and_the_manifest_follows_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replica.sqlite3");
        let mut s = Store::open(&path).unwrap();
        assert!(s.manifest().unwrap().1.is_empty());
        // 5 MB in 50 commits: past SQLite's default threshold (1000 pages, 4 MB).
        for i in 0..50 {
            s.write(|tx| {
                tx.append_change("system", &format!("h{i}"), &vec![i as u8; 100_000])?;
                tx.set_heads("system", &format!("h{i}"), &[i as u8; 32])
            })
            .unwrap();
        }
        // Own commits kept the cached manifest current.
        let (g1, m) = s.manifest().unwrap();
        assert_eq!(m.get("system"), Some(&vec![49u8; 32]));
        // A commit by another connection drops it; the next read sees that write.
        let other = Connection::open(&path).unwrap();
        other
            .execute(
                "UPDATE doc_heads SET digest = ?1 WHERE doc_id = 'system'",
                [vec![42u8; 32]],
            )
            .unwrap();
        assert_eq!(s.manifest_generation().unwrap(), None);
        let (g2, m) = s.manifest().unwrap();
        assert_ne!(g1, g2);
        assert_eq!(m.get("system"), Some(&vec![42u8; 32]));
        // No commit checkpointed (the WAL holds all 5 MB); the checkpointer copies
        // every frame.
        let (frames, copied) = Checkpointer::open(&path).unwrap().run().unwrap();
        assert!(frames > 1200, "{frames} frames in the WAL");
        assert_eq!(copied, frames);
    }

    #[test]
    fn the_last_commit_tells_what_it_wrote_to_the_manifest_of_just_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replica.sqlite3");
        let mut s = Store::open(&path).unwrap();
        let (g0, _) = s.manifest().unwrap();
        s.write(|tx| tx.set_heads("system", "h1", &[1; 32])).unwrap();
        let g1 = s.manifest_generation().unwrap().unwrap();
        assert_eq!(g1, g0 + 1);
        assert_eq!(
            s.manifest_written_since(g0).unwrap(),
            Some(&[("system".to_string(), vec![1u8; 32])][..])
        );
        // Two commits on: the one before is not enough to catch up from g0.
        s.write(|tx| tx.set_heads("inventory", "h2", &[2; 32])).unwrap();
        assert_eq!(s.manifest_written_since(g0).unwrap(), None);
        assert!(s.manifest_written_since(g1).unwrap().is_some());
        // A commit that wrote no heads leaves the generation and the answer as they were.
        s.write(|tx| tx.set_meta("k", "v")).unwrap();
        assert!(s.manifest_written_since(g1).unwrap().is_some());
        // Another connection's commit: nothing can be told, the manifest is read again.
        Connection::open(&path)
            .unwrap()
            .execute(
                "UPDATE doc_heads SET digest = ?1 WHERE doc_id = 'system'",
                [vec![9u8; 32]],
            )
            .unwrap();
        assert_eq!(s.manifest_written_since(g1).unwrap(), None);
    }

    #[test]
    fn failed_write_leaves_nothing() {
        let mut s = Store::open_in_memory().unwrap();
        let r: Result<()> = s.write(|tx| {
            tx.append_change("system", "h", b"x")?;
            Err(StoreError::Damaged("boom".into()))
        });
        assert!(r.is_err());
        assert!(s.read(|tx| tx.load_doc("system", 0)).unwrap().is_none());
    }

    #[test]
    fn index_lists_searches_and_filters() {
        let mut s = Store::open_in_memory().unwrap();
        let a = rec(
            Kind::Asset,
            "a1",
            fields([
                ("tag", "CEN-001".into()),
                ("name", "Dell OptiPlex".into()),
                ("branch", "CEN".into()),
            ]),
        );
        let b = rec(
            Kind::Asset,
            "a2",
            fields([
                ("tag", "NOR-001".into()),
                ("name", "HP LaserJet".into()),
                ("branch", "NOR".into()),
            ]),
        );
        s.write(|tx| {
            tx.index_put(IndexRow {
                record: &a,
                doc_id: "inventory",
            })?;
            tx.index_put(IndexRow {
                record: &b,
                doc_id: "inventory",
            })
        })
        .unwrap();
        let found = s
            .read(|tx| {
                tx.list(
                    Kind::Asset,
                    &Filter {
                        search: Some("laser".into()),
                        ..Default::default()
                    },
                )
            })
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, "a2");
        let cen = s
            .read(|tx| {
                tx.list(
                    Kind::Asset,
                    &Filter {
                        branch: Some("cen".into()),
                        ..Default::default()
                    },
                )
            })
            .unwrap();
        assert_eq!(cen.len(), 1);
        assert_eq!(s.read(|tx| tx.by_key(Kind::Asset, "cen-001")).unwrap().len(), 1);
        assert_eq!(
            s.read(|tx| tx.ids_with_prefix(Kind::Asset, "a")).unwrap().len(),
            2
        );
        // LIKE wildcards typed by staff are literal.
        let none = s
            .read(|tx| {
                tx.list(
                    Kind::Asset,
                    &Filter {
                        search: Some("%".into()),
                        ..Default::default()
                    },
                )
            })
            .unwrap();
        assert!(none.is_empty());
    }
}
