//! The running replica: one facade over the store and the pure core that the CLI,
//! the daemon and the desktop app all call. Every command, query and merge goes
//! through [`Node`], so every front end can do everything.

pub mod demo;
pub mod enrol;
mod error;
mod lookup;
mod merge;
mod peers;
pub mod service;
mod stored_row;
mod sync_source;
pub mod views;

pub use error::{NodeError, Result};
pub use peers::KnownPeer;
pub use sync_source::NodeSource;

use automerge::transaction::CommitOptions;
use automerge::{ActorId, Automerge, ChangeHash, ReadDoc};
use branchline_core::bundle::{self, BundleDoc, BundleHeader, Summary};
use branchline_core::conflict::{self, Conflict, ConflictKind};
use branchline_core::doc::{self, ChangeMessage, Record};
use branchline_core::docid::{doc_for, DocId};
use branchline_core::schema::{Kind, Retire};
use branchline_core::validate::{self, Ctx, Op, ValidationError};
use branchline_core::{Fields, Value};
use branchline_store::{Filter, IndexRow, Store, Tx};
use chrono::NaiveDateTime;
use lookup::TxLookup;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

pub use branchline_store::Filter as ListFilter;

/// Past how many appended changes a document's changes are folded into a snapshot.
/// Loading a snapshot is several times faster than replaying the changes, and saving
/// one costs in proportion to the document: the large, long-lived documents fold
/// rarely, the small bounded ones (a day of bookings, a month of use) soon, so the
/// documents a merge touches load fast.
fn compact_after(id: &DocId) -> i64 {
    match id {
        DocId::Inventory | DocId::System => 64,
        _ => 16,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    pub system_id: String,
    pub system_name: String,
    pub device_id: String,
    pub device_name: String,
    pub branch: String,
    /// Hex automerge actor id this replica writes with.
    pub actor: String,
}

/// Where "now" comes from. The node is the IO edge, so it reads the clock; tests and
/// the demo pin it.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    Fixed(NaiveDateTime),
}

impl Clock {
    fn now(&self) -> (i64, NaiveDateTime) {
        match self {
            Clock::System => {
                let now = chrono::Local::now();
                (now.timestamp_millis(), now.naive_local())
            }
            Clock::Fixed(t) => (t.and_utc().timestamp_millis(), *t),
        }
    }
}

struct Loaded {
    doc: Automerge,
    /// Highest change sequence number of the store already applied.
    seq: i64,
    /// Change rows stored after the snapshot: past `compact_after` they are folded in.
    stored: i64,
    /// SQLite's `data_version` when the copy was last brought up to date with the
    /// store: while it reads the same, no other connection has committed since, and
    /// the copy needs no look at the store.
    dv: Option<i64>,
}

pub struct Node {
    dir: PathBuf,
    store: Store,
    docs: HashMap<DocId, Loaded>,
    ident: Identity,
    actor: ActorId,
    clock: Clock,
    staff: Option<String>,
    /// The sync manifest parsed, with the store's manifest generation it came from.
    manifest: Option<(u64, std::sync::Arc<branchline_core::sync::Manifest>)>,
    /// The sync sessions' index of that manifest, shared between them.
    index_cache: branchline_core::sync::IndexCache,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub from_device: String,
    pub documents: usize,
    pub changes_new: usize,
    pub changes_known: usize,
    pub conflicts: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocInfo {
    pub id: String,
    pub changes: usize,
    pub records: usize,
    pub heads: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub time: i64,
    pub device: String,
    pub staff: Option<String>,
    pub op: String,
    pub fields: Fields,
    pub change: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StockLevel {
    pub item: String,
    pub item_name: String,
    pub branch: String,
    pub level: i64,
    pub reorder_level: i64,
    pub below_reorder: bool,
}

pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("branchline.db")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> NodeError + '_ {
    move |source| NodeError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn invalid(field: &str, message: impl Into<String>) -> NodeError {
    NodeError::Invalid(ValidationError {
        field: field.to_string(),
        message: message.into(),
    })
}

/// Apply stored change chunks to a document in one batch: automerge sorts and
/// applies them together, much faster than one `load_incremental` call each.
pub(crate) fn load_changes(doc: &mut Automerge, changes: &[Vec<u8>]) -> Result<()> {
    match changes {
        [] => {}
        [one] => {
            doc.load_incremental(&stored_row::bytes(one)?)?;
        }
        many => {
            let rows = many
                .iter()
                .map(|r| stored_row::bytes(r))
                .collect::<Result<Vec<_>>>()?;
            doc.load_incremental(&rows.concat())?;
        }
    }
    Ok(())
}

/// Bring a document held in memory up to date with what the store has after it:
/// changes appended since, and a snapshot another process took meanwhile (which may
/// have folded in changes whose rows are gone).
pub(crate) fn catch_up(doc: &mut Automerge, stored: &branchline_store::StoredDoc) -> Result<()> {
    if let Some(s) = &stored.snapshot {
        doc.load_incremental(s)?;
    }
    load_changes(doc, &stored.changes)
}

/// Load a document into the cache (or bring the cached copy up to date with
/// changes other processes appended). `None` when the store has no such document.
fn load<'d>(
    docs: &'d mut HashMap<DocId, Loaded>,
    tx: &Tx<'_>,
    id: &DocId,
    actor: &ActorId,
) -> Result<Option<&'d mut Automerge>> {
    let key = id.to_string();
    if let Some(l) = docs.get_mut(id) {
        let dv = tx.data_version()?;
        if l.dv != Some(dv) {
            if let Some(stored) = tx.load_doc(&key, l.seq)? {
                catch_up(&mut l.doc, &stored)?;
                l.seq = stored.seq;
                l.stored += stored.changes.len() as i64;
            }
            l.dv = Some(dv);
        }
        return Ok(docs.get_mut(id).map(|l| &mut l.doc));
    }
    let dv = tx.data_version()?;
    let Some(stored) = tx.load_doc(&key, 0)? else {
        return Ok(None);
    };
    docs.insert(id.clone(), loaded_from(&stored, actor, dv)?);
    Ok(docs.get_mut(id).map(|l| &mut l.doc))
}

/// A document as the store holds it, read at data version `dv`, loaded for the cache.
fn loaded_from(stored: &branchline_store::StoredDoc, actor: &ActorId, dv: i64) -> Result<Loaded> {
    let mut doc = match &stored.snapshot {
        Some(s) => Automerge::load(s)?,
        None => Automerge::new(),
    };
    load_changes(&mut doc, &stored.changes)?;
    doc.set_actor(actor.clone());
    Ok(Loaded {
        doc,
        seq: stored.seq,
        stored: stored.changes.len() as i64,
        dv: Some(dv),
    })
}

/// A new record's id: a UUID v7, whose time prefix makes the ids made in one day
/// sort together. The query index's primary key then takes a day's new records on a
/// handful of B-tree pages instead of one page each, which was most of what a merge
/// wrote to the WAL.
fn new_record_id(now_ms: i64) -> uuid::Uuid {
    let ms = u64::try_from(now_ms).unwrap_or(0);
    uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        ms / 1000,
        (ms % 1000) as u32 * 1_000_000,
    ))
}

/// Keep the document's heads in the store, where the sync manifest reads them.
fn record_heads(tx: &Tx<'_>, id: &DocId, doc: &Automerge) -> Result<()> {
    let (text, digest) = heads_of(doc);
    tx.set_heads(&id.to_string(), &text, &digest)?;
    Ok(())
}

/// A document's heads as the store keeps them: sorted, comma-joined, and their digest.
fn heads_of(doc: &Automerge) -> (String, branchline_core::sync::Digest) {
    let mut heads = doc.get_heads();
    heads.sort();
    let text = heads.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(",");
    let digest = branchline_core::sync::heads_digest(&heads);
    (text, digest)
}

/// Index every record of a document, its conflicts, (inventory) stock levels and
/// heads. Returns how many conflicts it has.
fn reindex_doc(tx: &Tx<'_>, id: &DocId, doc: &Automerge) -> Result<usize> {
    let d = merge::derive(id, doc, None, &[])?;
    d.write(tx)?;
    Ok(d.conflicts())
}

/// The conflicts a document had, for rules that re-run only where a change can have
/// moved them (the inventory's; the other documents' rules re-run whole).
fn conflicts_before(tx: &Tx<'_>, id: &DocId) -> Result<Vec<branchline_core::conflict::Conflict>> {
    Ok(if *id == DocId::Inventory {
        tx.conflicts_of(&id.to_string())?
    } else {
        Vec::new()
    })
}

pub(crate) fn stock_levels_of(doc: &Automerge) -> Vec<(String, String, i64)> {
    let mut levels: BTreeMap<(String, String), i64> = BTreeMap::new();
    for m in doc::read_records(doc, Kind::Movement) {
        let k = (
            m.str("item").unwrap_or_default().to_string(),
            m.str("branch").unwrap_or_default().to_string(),
        );
        *levels.entry(k).or_default() += doc::movement_delta(&m.fields);
    }
    levels.into_iter().map(|((i, b), l)| (i, b, l)).collect()
}

/// The state of one write transaction: the SQL transaction, validation's view of
/// the index, and the documents it touches.
struct W<'x, 'tx> {
    tx: &'x Tx<'tx>,
    look: TxLookup<'x, 'tx>,
    docs: &'x mut HashMap<DocId, Loaded>,
    ident: &'x Identity,
    actor: &'x ActorId,
    now_ms: i64,
    ctx: Ctx,
    staff: Option<String>,
    touched: BTreeSet<DocId>,
    movements: bool,
}

impl W<'_, '_> {
    fn doc(&mut self, id: &DocId) -> Result<&mut Automerge> {
        if load(self.docs, self.tx, id, self.actor)?.is_none() {
            let doc = doc::new_doc(id, self.actor)?;
            let key = id.to_string();
            let mut seq = 0;
            for c in doc.get_changes(&[]) {
                if let Some(s) = self
                    .tx
                    .append_change(&key, &c.hash().to_string(), c.raw_bytes())?
                {
                    seq = s;
                }
            }
            self.docs.insert(
                id.clone(),
                Loaded {
                    doc,
                    seq,
                    stored: 1,
                    dv: None,
                },
            );
        } else if let Some(l) = self.docs.get_mut(id) {
            if let Some(saved) = merge::snapshot_due(id, &l.doc, l.stored) {
                self.tx.compact(&id.to_string(), &saved, l.seq)?;
                // Rebuilt from its snapshot, the document is laid out compactly again;
                // one that has taken many transactions in memory writes more slowly.
                if let Ok(fresh) = Automerge::load(&saved) {
                    l.doc = fresh.with_actor(self.actor.clone());
                }
                l.stored = 0;
            }
        }
        self.docs
            .get_mut(id)
            .map(|l| &mut l.doc)
            .ok_or_else(|| NodeError::Usage(format!("document {id} vanished from the cache")))
    }

    fn meta(&self, create: bool) -> Fields {
        let mut m = Fields::new();
        let staff = self.staff.clone().map(Value::Str).unwrap_or(Value::Null);
        let device = Value::Str(self.ident.device_id.clone());
        if create {
            m.insert("created_at".into(), Value::Int(self.now_ms));
            m.insert("created_by".into(), staff.clone());
            m.insert("created_device".into(), device.clone());
        }
        m.insert("updated_at".into(), Value::Int(self.now_ms));
        m.insert("updated_by".into(), staff);
        m.insert("updated_device".into(), device);
        m
    }

    /// Write records into one document as one automerge change, persist it and index them.
    fn put(
        &mut self,
        doc_id: &DocId,
        op: &str,
        writes: Vec<(Kind, String, Fields, bool)>,
    ) -> Result<Vec<Record>> {
        self.put_over(doc_id, op, writes, None)
    }

    /// `put`, given for an update of one record what that record was (as the index
    /// holds it, which mirrors the document): the record after the write is then
    /// worked out from it and what was written, rather than read back from automerge.
    fn put_over(
        &mut self,
        doc_id: &DocId,
        op: &str,
        writes: Vec<(Kind, String, Fields, bool)>,
        before: Option<&Record>,
    ) -> Result<Vec<Record>> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let msg = ChangeMessage {
            op: op.to_string(),
            kind: writes.first().map(|w| w.0),
            ids: writes.iter().map(|w| w.1.clone()).take(16).collect(),
            staff: self.staff.clone(),
            fields: if writes.len() == 1 {
                writes[0].2.clone()
            } else {
                Fields::new()
            },
        };
        let with_meta: Vec<(Kind, String, Fields, bool)> = writes
            .into_iter()
            .map(|(k, id, mut f, create)| {
                f.extend(self.meta(create));
                (k, id, f, create)
            })
            .collect();
        let time = self.now_ms;
        let doc = self.doc(doc_id)?;
        let heads = doc.get_heads();
        doc.transact_with(
            |_| {
                CommitOptions::default()
                    .with_message(msg.encode())
                    .with_time(time)
            },
            |tx| {
                for (kind, id, fields, create) in &with_meta {
                    doc::put_record(tx, *kind, id, fields, *create)?;
                }
                Ok::<_, doc::DocError>(())
            },
        )
        .map_err(|f| f.error)?;
        let mut records = Vec::with_capacity(with_meta.len());
        match (before, with_meta.as_slice()) {
            (Some(b), [(kind, id, fields, false)]) if b.kind == *kind && b.id == *id => {
                // What `doc::put_record` leaves: every field written wins (a null
                // removes it), every other field is as it was.
                let mut r = b.clone();
                for (name, value) in fields {
                    if value.is_null() {
                        r.fields.remove(name);
                    } else {
                        r.fields.insert(name.clone(), value.clone());
                    }
                }
                records.push(r);
            }
            _ => {
                for (kind, id, _, _) in &with_meta {
                    if let Some(r) = doc::read_record(doc, *kind, id) {
                        records.push(r);
                    }
                }
            }
        }
        self.persist(doc_id, &heads)?;
        let key = doc_id.to_string();
        for r in &records {
            self.tx.index_put(IndexRow {
                record: r,
                doc_id: &key,
            })?;
            self.look.written(r);
            if r.kind == Kind::Movement {
                self.movements = true;
            }
        }
        self.touched.insert(doc_id.clone());
        Ok(records)
    }

    /// Store the change just committed locally to a document.
    fn persist(&mut self, doc_id: &DocId, before: &[ChangeHash]) -> Result<()> {
        let key = doc_id.to_string();
        let Some(l) = self.docs.get_mut(doc_id) else {
            return Ok(());
        };
        if l.doc.get_heads() == before {
            return Ok(());
        }
        // The last local change is the one just made: cheaper than asking automerge
        // for everything since `before`, which walks the history.
        if let Some(c) = l.doc.get_last_local_change() {
            if let Some(s) = self
                .tx
                .append_change(&key, &c.hash().to_string(), c.raw_bytes())?
            {
                l.seq = l.seq.max(s);
                l.stored += 1;
            }
        }
        record_heads(self.tx, doc_id, &l.doc)?;
        Ok(())
    }

    fn resolve(&self, kind: Kind, key: &str) -> Result<String> {
        match self.look.resolve_id(kind, key) {
            Ok(Some(id)) => Ok(id),
            Ok(None) => Err(NodeError::NotFound {
                kind: kind.to_string(),
                key: key.to_string(),
            }),
            Err(hint) => Err(NodeError::Ambiguous {
                kind: kind.to_string(),
                key: key.to_string(),
                hint,
            }),
        }
    }

    fn existing(&self, kind: Kind, key: &str) -> Result<(Record, DocId)> {
        if let Some((r, doc)) = self.tx.record(key)?.filter(|(r, _)| r.kind == kind) {
            let doc: DocId = doc.parse().map_err(|e| NodeError::Usage(format!("{e}")))?;
            return Ok((r, doc));
        }
        let id = self.resolve(kind, key)?;
        let (r, doc) = self.tx.record(&id)?.ok_or_else(|| NodeError::NotFound {
            kind: kind.to_string(),
            key: key.to_string(),
        })?;
        let doc: DocId = doc.parse().map_err(|e| NodeError::Usage(format!("{e}")))?;
        Ok((r, doc))
    }

    fn next_ticket_number(&self, branch: &str) -> Result<String> {
        let filter = Filter {
            branch: Some(branch.to_string()),
            ..Default::default()
        };
        let max = self
            .tx
            .list(Kind::Ticket, &filter)?
            .iter()
            .filter_map(|t| {
                t.str("number")
                    .and_then(|n| n.rsplit('-').next())
                    .and_then(|n| n.parse::<u32>().ok())
            })
            .max()
            .unwrap_or(0);
        Ok(format!("{branch}-{:04}", max + 1))
    }

    fn create(&mut self, kind: Kind, input: Fields) -> Result<Record> {
        if kind == Kind::Device {
            return Err(NodeError::Usage(
                "devices join with an invite; they are not created by hand".into(),
            ));
        }
        self.create_unchecked_kind(kind, input)
    }

    fn create_unchecked_kind(&mut self, kind: Kind, input: Fields) -> Result<Record> {
        let uuid = new_record_id(self.now_ms);
        let id = uuid.to_string();
        let mut fields = validate::validate(kind, Op::Create, input, &self.ctx, &self.look)?;
        if kind == Kind::Ticket && !fields.contains_key("number") {
            let branch = fields.get("branch").map(Value::display).unwrap_or_default();
            fields.insert("number".into(), Value::Str(self.next_ticket_number(&branch)?));
        }
        let doc_id = doc_for(kind, &uuid, &fields).map_err(|f| invalid(f, "is required"))?;
        let rec = self
            .put(&doc_id, "create", vec![(kind, id, fields, true)])?
            .pop()
            .ok_or_else(|| NodeError::Usage("record was not written".into()))?;
        self.after_create(&rec)?;
        Ok(rec)
    }

    /// Consequences a record has in the real world: a run advances its task, a
    /// transfer takes the asset or stock out of its branch.
    fn after_create(&mut self, rec: &Record) -> Result<()> {
        match rec.kind {
            Kind::TaskRun => {
                let (task, date) = (
                    rec.str("task").unwrap_or_default().to_string(),
                    rec.str("date").unwrap_or_default().to_string(),
                );
                self.advance_task(&task, &date)?;
            }
            Kind::Transfer => {
                if let Some(asset) = rec.str("asset") {
                    self.update(
                        Kind::Asset,
                        asset,
                        [("status".to_string(), Value::from("in-transit"))].into(),
                    )?;
                }
                if let Some(item) = rec.str("item") {
                    let f: Fields = [
                        ("item".to_string(), Value::from(item)),
                        (
                            "branch".to_string(),
                            rec.get("from_branch").cloned().unwrap_or(Value::Null),
                        ),
                        ("kind".to_string(), Value::from("transfer-out")),
                        ("qty".to_string(), rec.get("qty").cloned().unwrap_or(Value::Null)),
                        ("transfer".to_string(), Value::Str(rec.id.clone())),
                    ]
                    .into();
                    self.create(Kind::Movement, f)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A run on `date` moves the task's next due date on by its rule (never back).
    fn advance_task(&mut self, task_id: &str, date: &str) -> Result<()> {
        let (task, _) = self.existing(Kind::Task, task_id)?;
        let run_date = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok();
        let rule = task.str("rule").and_then(validate::parse_rule);
        if let (Some(date), Some(rule)) = (run_date, rule) {
            if let Some(next) = validate::next_due(rule, date) {
                let next = next.format("%Y-%m-%d").to_string();
                if task.str("next_due").is_none_or(|d| d < next.as_str()) {
                    self.update(
                        Kind::Task,
                        task_id,
                        [("next_due".to_string(), Value::Str(next))].into(),
                    )?;
                }
            }
        }
        Ok(())
    }

    fn update(&mut self, kind: Kind, key: &str, input: Fields) -> Result<Record> {
        self.update_with(kind, key, input, false)
    }

    /// `force` writes the given fields even when they equal the current value, which
    /// is how a concurrent-value conflict is settled (the new write supersedes both).
    fn update_with(&mut self, kind: Kind, key: &str, input: Fields, force: bool) -> Result<Record> {
        let (existing, doc_id) = self.existing(kind, key)?;
        let keys: Vec<String> = input.keys().cloned().collect();
        let mut changes = validate::validate(
            kind,
            Op::Update {
                id: &existing.id,
                existing: &existing.fields,
            },
            input,
            &self.ctx,
            &self.look,
        )?;
        if force {
            for k in keys {
                if let Some(v) = existing.fields.get(&k) {
                    changes.entry(k).or_insert_with(|| v.clone());
                }
            }
        }
        if changes.is_empty() {
            return Ok(existing);
        }
        let mut merged = existing.fields.clone();
        merged.extend(changes.clone());
        let uuid = uuid::Uuid::parse_str(&existing.id).unwrap_or_default();
        if doc_for(kind, &uuid, &merged).ok().as_ref() != Some(&doc_id) {
            let field = changes.keys().next().cloned().unwrap_or_default();
            return Err(invalid(
                &field,
                "would move the record to another day or branch: cancel it and create a new one",
            ));
        }
        let rec = self
            .put_over(
                &doc_id,
                "update",
                vec![(kind, existing.id.clone(), changes.clone(), false)],
                Some(&existing),
            )?
            .pop()
            .ok_or_else(|| NodeError::Usage("record was not written".into()))?;
        if kind == Kind::Transfer {
            self.after_transfer_update(&existing, &rec)?;
        }
        Ok(rec)
    }

    fn after_transfer_update(&mut self, before: &Record, after: &Record) -> Result<()> {
        let status = after.str("status").unwrap_or_default();
        if before.str("status") == Some(status) || !matches!(status, "received" | "cancelled") {
            return Ok(());
        }
        let dest = if status == "received" {
            "to_branch"
        } else {
            "from_branch"
        };
        let branch = after.get(dest).cloned().unwrap_or(Value::Null);
        if let Some(asset) = after.str("asset") {
            let f: Fields = [
                ("branch".to_string(), branch.clone()),
                ("status".to_string(), Value::from("in-stock")),
            ]
            .into();
            self.update(Kind::Asset, asset, f)?;
        }
        if let Some(item) = after.str("item") {
            let f: Fields = [
                ("item".to_string(), Value::from(item)),
                ("branch".to_string(), branch),
                ("kind".to_string(), Value::from("transfer-in")),
                (
                    "qty".to_string(),
                    after.get("qty").cloned().unwrap_or(Value::Null),
                ),
                ("transfer".to_string(), Value::Str(after.id.clone())),
            ]
            .into();
            self.create(Kind::Movement, f)?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let touched: Vec<DocId> = self.touched.iter().cloned().collect();
        for id in touched {
            let key = id.to_string();
            let has = self.tx.has_conflicts(&key)?;
            let Some(l) = self.docs.get(&id) else { continue };
            if has {
                self.tx.set_conflicts(&key, &conflict::detect(&id, &l.doc))?;
            }
            if id == DocId::Inventory && self.movements {
                self.tx.set_stock_levels(&stock_levels_of(&l.doc))?;
            }
        }
        Ok(())
    }
}

impl Node {
    /// Start a new library system on this device, which becomes its first device.
    pub fn init(
        dir: &Path,
        system_name: &str,
        branch: &str,
        branch_name: Option<&str>,
        device_name: &str,
    ) -> Result<Node> {
        let mut node = Self::create_replica(
            dir,
            uuid::Uuid::new_v4().to_string(),
            system_name.to_string(),
            branch,
            device_name,
        )?;
        let code = branch.trim().to_ascii_uppercase();
        let name = branch_name.unwrap_or(&code).to_string();
        node.create(
            Kind::Branch,
            [
                ("code".to_string(), Value::Str(code)),
                ("name".to_string(), Value::Str(name)),
            ]
            .into(),
        )?;
        node.register_device("authority")?;
        node.create_authority()?;
        Ok(node)
    }

    /// Start a replica of an existing library system from a bundle file.
    pub fn init_from_bundle(
        dir: &Path,
        bundle_bytes: &[u8],
        branch: &str,
        device_name: &str,
    ) -> Result<Node> {
        let b = bundle::decode(bundle_bytes, None)?;
        if !b.docs.iter().any(|d| d.id == DocId::System) {
            return Err(NodeError::Usage(
                "the bundle has no system document: export it with `bundle export` on a full replica".into(),
            ));
        }
        let mut node = Self::create_replica(
            dir,
            b.header.system.clone(),
            b.header.system_name.clone(),
            branch,
            device_name,
        )?;
        node.import_bundle(bundle_bytes)?;
        let code = branch.trim().to_ascii_uppercase();
        let known = node.store.read(|tx| {
            TxLookup::new(tx)
                .resolve_id(Kind::Branch, &code)
                .map_err(NodeError::Usage)
        })?;
        if known.is_none() {
            return Err(invalid(
                "branch",
                format!(
                    "unknown branch '{code}' in library system {}",
                    b.header.system_name
                ),
            ));
        }
        node.register_device("peer")?;
        Ok(node)
    }

    fn create_replica(
        dir: &Path,
        system_id: String,
        system_name: String,
        branch: &str,
        device_name: &str,
    ) -> Result<Node> {
        Self::create_replica_with(dir, system_id, system_name, branch, device_name, None)
    }

    pub(crate) fn create_replica_with(
        dir: &Path,
        system_id: String,
        system_name: String,
        branch: &str,
        device_name: &str,
        device_id: Option<String>,
    ) -> Result<Node> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = db_path(dir);
        let mut store = Store::open(&path)?;
        if store.read(|tx| tx.meta("system_id"))?.is_some() {
            return Err(NodeError::AlreadyInitialised(dir.display().to_string()));
        }
        // A fresh actor for every replica: reusing one (a restored or cloned replica)
        // would fork its sequence numbers and corrupt merges.
        let actor = ActorId::random();
        let ident = Identity {
            system_id,
            system_name,
            device_id: device_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            device_name: device_name.to_string(),
            branch: branch.trim().to_ascii_uppercase(),
            actor: actor.to_hex_string(),
        };
        store.write(|tx| {
            tx.set_meta("system_id", &ident.system_id)?;
            tx.set_meta("system_name", &ident.system_name)?;
            tx.set_meta("device_id", &ident.device_id)?;
            tx.set_meta("device_name", &ident.device_name)?;
            tx.set_meta("branch", &ident.branch)?;
            tx.set_meta("actor", &ident.actor)?;
            Ok::<_, NodeError>(())
        })?;
        Ok(Node {
            dir: dir.to_path_buf(),
            store,
            docs: HashMap::new(),
            ident,
            actor,
            clock: Clock::System,
            staff: None,
            manifest: None,
            index_cache: Default::default(),
        })
    }

    fn register_device(&mut self, role: &str) -> Result<()> {
        let f: Fields = [
            ("name".to_string(), Value::Str(self.ident.device_name.clone())),
            ("branch".to_string(), Value::Str(self.ident.branch.clone())),
            ("role".to_string(), Value::from(role)),
            ("actor".to_string(), Value::Str(self.ident.actor.clone())),
        ]
        .into();
        let id = self.ident.device_id.clone();
        self.write(|w| {
            let fields = validate::validate(Kind::Device, Op::Create, f, &w.ctx, &w.look)?;
            w.put(&DocId::System, "enrol", vec![(Kind::Device, id, fields, true)])
        })?;
        Ok(())
    }

    /// Record another device in the system document (an authority answering a join).
    pub(crate) fn enrol_device(&mut self, device_id: &str, f: Fields) -> Result<()> {
        let id = device_id.to_string();
        self.write(|w| {
            if w.tx.record(&id)?.is_some() {
                return Err(invalid("device", "this device id is already enrolled"));
            }
            let fields = validate::validate(Kind::Device, Op::Create, f, &w.ctx, &w.look)?;
            w.put(&DocId::System, "enrol", vec![(Kind::Device, id, fields, true)])
        })?;
        Ok(())
    }

    /// Open an existing replica.
    pub fn open(dir: &Path) -> Result<Node> {
        let path = db_path(dir);
        if !path.exists() {
            return Err(NodeError::NotInitialised(dir.display().to_string()));
        }
        let mut store = Store::open(&path)?;
        let ident = store.read(|tx| {
            let get = |k: &str| -> Result<String> {
                tx.meta(k)?
                    .ok_or_else(|| NodeError::NotInitialised(dir.display().to_string()))
            };
            Ok::<_, NodeError>(Identity {
                system_id: get("system_id")?,
                system_name: get("system_name")?,
                device_id: get("device_id")?,
                device_name: get("device_name")?,
                branch: get("branch")?,
                actor: get("actor")?,
            })
        })?;
        let actor = ActorId::from(
            (0..ident.actor.len() / 2)
                .filter_map(|i| u8::from_str_radix(ident.actor.get(2 * i..2 * i + 2)?, 16).ok())
                .collect::<Vec<u8>>()
                .as_slice(),
        );
        Ok(Node {
            dir: dir.to_path_buf(),
            store,
            docs: HashMap::new(),
            ident,
            actor,
            clock: Clock::System,
            staff: None,
            manifest: None,
            index_cache: Default::default(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn identity(&self) -> &Identity {
        &self.ident
    }
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }
    pub fn now(&self) -> (i64, NaiveDateTime) {
        self.clock.now()
    }

    /// Act as a staff member (name, email or id): their id is recorded on every change.
    pub fn set_staff(&mut self, key: Option<&str>) -> Result<()> {
        self.staff = match key {
            None => None,
            Some(k) => Some(
                self.store
                    .read(|tx| match TxLookup::new(tx).resolve_id(Kind::Staff, k) {
                        Ok(Some(id)) => Ok(id),
                        Ok(None) => Err(NodeError::NotFound {
                            kind: "staff".into(),
                            key: k.into(),
                        }),
                        Err(hint) => Err(NodeError::Ambiguous {
                            kind: "staff".into(),
                            key: k.into(),
                            hint,
                        }),
                    })?,
            ),
        };
        Ok(())
    }

    fn write<R>(&mut self, f: impl FnOnce(&mut W<'_, '_>) -> Result<R>) -> Result<R> {
        let (now_ms, now) = self.clock.now();
        let ctx = Ctx {
            now,
            system_id: self.ident.system_id.clone(),
        };
        let (ident, actor, staff, docs) = (&self.ident, &self.actor, self.staff.clone(), &mut self.docs);
        let result = self.store.write(|tx| {
            let mut w = W {
                tx,
                look: TxLookup::new(tx),
                docs,
                ident,
                actor,
                now_ms,
                ctx,
                staff,
                touched: BTreeSet::new(),
                movements: false,
            };
            let r = f(&mut w)?;
            w.finish()?;
            Ok(r)
        });
        if result.is_err() {
            // In-memory documents may hold changes that did not commit: reload from disk.
            self.docs.clear();
        }
        result
    }

    pub fn create(&mut self, kind: Kind, input: Fields) -> Result<Record> {
        self.write(|w| w.create(kind, input))
    }

    /// Create many records in one transaction (one automerge change per document).
    /// Used by the demo and imports; every record is validated like a single create.
    pub fn create_many(&mut self, kind: Kind, inputs: Vec<Fields>) -> Result<usize> {
        if matches!(kind, Kind::Movement | Kind::Transfer | Kind::Device) {
            // Their checks and side effects depend on the records before them.
            return Err(NodeError::Usage(format!(
                "{kind} records are created one at a time"
            )));
        }
        self.write(|w| {
            let mut runs: BTreeMap<String, String> = BTreeMap::new();
            let mut numbers: HashMap<String, u32> = HashMap::new();
            let mut by_doc: BTreeMap<DocId, Vec<(Kind, String, Fields, bool)>> = BTreeMap::new();
            let n = inputs.len();
            for input in inputs {
                let uuid = new_record_id(w.now_ms);
                let mut fields = validate::validate(kind, Op::Create, input, &w.ctx, &w.look)?;
                if kind == Kind::Ticket && !fields.contains_key("number") {
                    let branch = fields.get("branch").map(Value::display).unwrap_or_default();
                    let n = match numbers.get(&branch) {
                        Some(n) => n + 1,
                        None => w
                            .next_ticket_number(&branch)?
                            .rsplit('-')
                            .next()
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(1),
                    };
                    numbers.insert(branch.clone(), n);
                    fields.insert("number".into(), Value::Str(format!("{branch}-{n:04}")));
                }
                let doc_id = doc_for(kind, &uuid, &fields).map_err(|f| invalid(f, "is required"))?;
                let rec = Record {
                    kind,
                    id: uuid.to_string(),
                    fields: fields.clone(),
                    work: vec![],
                };
                w.look.written(&rec);
                if kind == Kind::TaskRun {
                    let (t, d) = (
                        rec.str("task").unwrap_or_default(),
                        rec.str("date").unwrap_or_default(),
                    );
                    let e = runs.entry(t.to_string()).or_default();
                    if d > e.as_str() {
                        *e = d.to_string();
                    }
                }
                by_doc
                    .entry(doc_id)
                    .or_default()
                    .push((kind, uuid.to_string(), fields, true));
            }
            for (doc_id, writes) in by_doc {
                w.put(&doc_id, "create", writes)?;
            }
            for (task, date) in runs {
                w.advance_task(&task, &date)?;
            }
            Ok(n)
        })
    }

    pub fn update(&mut self, kind: Kind, key: &str, input: Fields) -> Result<Record> {
        self.write(|w| w.update(kind, key, input))
    }

    /// Put a record away the way its kind is put away (retired, cancelled, closed).
    pub fn retire(&mut self, kind: Kind, key: &str) -> Result<Record> {
        let f: Fields = match kind.retire() {
            Retire::Flag(name) => [(name.to_string(), Value::Bool(true))].into(),
            Retire::Status(s) => [("status".to_string(), Value::from(s))].into(),
            Retire::Never => return Err(NodeError::Usage(format!("a {kind} cannot be retired"))),
        };
        self.update(kind, key, f)
    }

    /// Append to a ticket's work log; the first entry also marks the first response.
    pub fn add_work(&mut self, ticket: &str, minutes: i64, text: &str) -> Result<Record> {
        if minutes < 0 {
            return Err(invalid("minutes", "cannot be negative"));
        }
        if text.trim().is_empty() {
            return Err(invalid("text", "is required"));
        }
        self.write(|w| {
            let (t, doc_id) = w.existing(Kind::Ticket, ticket)?;
            let local = w.ctx.now.format("%Y-%m-%dT%H:%M").to_string();
            let mut entry: Fields = [
                ("at".to_string(), Value::Str(local.clone())),
                ("minutes".to_string(), Value::Int(minutes)),
                ("text".to_string(), Value::from(text.trim())),
                ("device".to_string(), Value::Str(w.ident.device_id.clone())),
            ]
            .into();
            if let Some(s) = &w.staff {
                entry.insert("staff".into(), Value::Str(s.clone()));
            }
            let msg = ChangeMessage {
                op: "work".into(),
                kind: Some(Kind::Ticket),
                ids: vec![t.id.clone()],
                staff: w.staff.clone(),
                fields: entry.clone(),
            };
            let time = w.now_ms;
            let doc = w.doc(&doc_id)?;
            let heads = doc.get_heads();
            let id = t.id.clone();
            doc.transact_with(
                |_| {
                    CommitOptions::default()
                        .with_message(msg.encode())
                        .with_time(time)
                },
                |tx| doc::append_work(tx, &id, &entry),
            )
            .map_err(|f| f.error)?;
            w.persist(&doc_id, &heads)?;
            if t.str("first_response_at").is_none() {
                w.update(
                    Kind::Ticket,
                    &t.id,
                    [("first_response_at".to_string(), Value::Str(local))].into(),
                )?;
            }
            let doc = w.doc(&doc_id)?;
            let rec = doc::read_record(doc, Kind::Ticket, &t.id).ok_or_else(|| NodeError::NotFound {
                kind: "ticket".into(),
                key: ticket.into(),
            })?;
            w.tx.index_put(IndexRow {
                record: &rec,
                doc_id: &doc_id.to_string(),
            })?;
            w.touched.insert(doc_id);
            Ok(rec)
        })
    }

    /// Record parts used on a ticket: a stock issue at the ticket's branch.
    pub fn use_part(&mut self, ticket: &str, item: &str, qty: i64) -> Result<Record> {
        self.write(|w| {
            let (t, _) = w.existing(Kind::Ticket, ticket)?;
            let mut f: Fields = [
                ("item".to_string(), Value::from(item)),
                (
                    "branch".to_string(),
                    t.get("branch").cloned().unwrap_or(Value::Null),
                ),
                ("kind".to_string(), Value::from("issue")),
                ("qty".to_string(), Value::Int(qty)),
                ("ticket".to_string(), Value::Str(t.id.clone())),
            ]
            .into();
            if let Some(a) = t.str("asset") {
                f.insert("asset".into(), Value::from(a));
            }
            w.create(Kind::Movement, f)
        })
    }

    pub fn get(&mut self, kind: Kind, key: &str) -> Result<Record> {
        self.store.read(|tx| {
            let look = TxLookup::new(tx);
            let id = match look.resolve_id(kind, key) {
                Ok(Some(id)) => id,
                Ok(None) => {
                    return Err(NodeError::NotFound {
                        kind: kind.to_string(),
                        key: key.to_string(),
                    })
                }
                Err(hint) => {
                    return Err(NodeError::Ambiguous {
                        kind: kind.to_string(),
                        key: key.to_string(),
                        hint,
                    })
                }
            };
            tx.record(&id)?
                .map(|(r, _)| r)
                .ok_or_else(|| NodeError::NotFound {
                    kind: kind.to_string(),
                    key: key.to_string(),
                })
        })
    }

    pub fn list(&mut self, kind: Kind, filter: &Filter) -> Result<Vec<Record>> {
        self.store.read(|tx| Ok(tx.list(kind, filter)?))
    }

    pub fn count(&mut self, kind: Kind) -> Result<i64> {
        self.store.read(|tx| Ok(tx.count(kind)?))
    }

    pub fn stock_levels(&mut self, branch: Option<&str>) -> Result<Vec<StockLevel>> {
        self.store.read(|tx| {
            let items: HashMap<String, Record> = tx
                .list(Kind::StockItem, &Filter::default())?
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect();
            let mut out = Vec::new();
            for (item, b, level) in tx.stock_levels()? {
                if branch.is_some_and(|x| !x.eq_ignore_ascii_case(&b)) {
                    continue;
                }
                let rec = items.get(&item);
                let reorder = rec.and_then(|r| r.int("reorder_level")).unwrap_or(0);
                out.push(StockLevel {
                    item_name: rec.and_then(|r| r.str("name")).unwrap_or(&item).to_string(),
                    item,
                    branch: b,
                    level,
                    reorder_level: reorder,
                    below_reorder: level < reorder,
                });
            }
            Ok(out)
        })
    }

    /// Names for ids (devices by id and by actor, staff by id), for showing people.
    fn names(&mut self) -> Result<HashMap<String, String>> {
        self.store.read(|tx| {
            let mut m = HashMap::new();
            for d in tx.list(Kind::Device, &Filter::default())? {
                let name = d.str("name").unwrap_or_default().to_string();
                let label = format!("{name} ({})", d.str("branch").unwrap_or_default());
                if let Some(a) = d.str("actor") {
                    m.insert(a.to_string(), label.clone());
                }
                m.insert(d.id.clone(), label);
            }
            for s in tx.list(Kind::Staff, &Filter::default())? {
                m.insert(s.id.clone(), s.str("name").unwrap_or_default().to_string());
            }
            Ok(m)
        })
    }

    /// Conflicts staff must settle, with devices and staff named.
    pub fn conflicts(&mut self) -> Result<Vec<Conflict>> {
        let names = self.names()?;
        let mut list = self.store.read(|tx| Ok::<_, NodeError>(tx.conflicts()?))?;
        for c in &mut list {
            for s in &mut c.sides {
                let dev = s
                    .device
                    .as_ref()
                    .or(s.actor.as_ref())
                    .and_then(|d| names.get(d))
                    .cloned();
                if dev.is_some() {
                    s.device = dev;
                }
                if let Some(st) = s.staff.as_ref().and_then(|x| names.get(x)) {
                    s.staff = Some(st.clone());
                }
            }
        }
        Ok(list)
    }

    /// Settle a conflict by keeping one side (or, for stock, a counted level: `count=N`).
    pub fn resolve(&mut self, conflict_key: &str, keep: &str) -> Result<String> {
        let all = self.store.read(|tx| Ok::<_, NodeError>(tx.conflicts()?))?;
        let matches: Vec<&Conflict> = all.iter().filter(|c| c.id.starts_with(conflict_key)).collect();
        let c = match matches.as_slice() {
            [c] => (*c).clone(),
            [] => {
                return Err(NodeError::NotFound {
                    kind: "conflict".into(),
                    key: conflict_key.into(),
                })
            }
            _ => {
                return Err(NodeError::Ambiguous {
                    kind: "conflict".into(),
                    key: conflict_key.into(),
                    hint: "give more of the id".into(),
                })
            }
        };
        let side = |keep: &str| -> Result<String> {
            let hits: Vec<&str> = c
                .sides
                .iter()
                .map(|s| s.key.as_str())
                .filter(|k| k.starts_with(keep) || k.eq_ignore_ascii_case(keep))
                .collect();
            match hits.as_slice() {
                [k] => Ok(k.to_string()),
                _ => Err(invalid(
                    "keep",
                    format!(
                        "'{keep}' is not one side of this conflict; sides: {}",
                        c.sides
                            .iter()
                            .map(|s| s.key.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
            }
        };
        match c.kind {
            ConflictKind::DoubleBooking => {
                let kept = side(keep)?;
                self.write(|w| {
                    for s in c.sides.iter().filter(|s| s.key != kept) {
                        w.update(
                            Kind::Booking,
                            &s.key,
                            [("status".to_string(), Value::from("cancelled"))].into(),
                        )?;
                    }
                    Ok(())
                })?;
                Ok(format!(
                    "kept booking {kept}; cancelled {} other(s)",
                    c.sides.len() - 1
                ))
            }
            ConflictKind::AssetField => {
                let field = c.field.clone().unwrap_or_default();
                let value = c
                    .sides
                    .iter()
                    .find(|s| s.key.eq_ignore_ascii_case(keep))
                    .map(|s| s.key.clone())
                    .unwrap_or_else(|| keep.to_string());
                self.write(|w| {
                    w.update_with(
                        Kind::Asset,
                        &c.record,
                        [(field.clone(), Value::Str(value.clone()))].into(),
                        true,
                    )
                })?;
                Ok(format!("set {field} to {value}"))
            }
            ConflictKind::DuplicateNumber => {
                let kept = side(keep)?;
                let renumbered = self.write(|w| {
                    let mut out = Vec::new();
                    for s in c.sides.iter().filter(|s| s.key != kept) {
                        let (t, _) = w.existing(Kind::Ticket, &s.key)?;
                        let branch = t.str("branch").unwrap_or_default().to_string();
                        let next = w.next_ticket_number(&branch)?;
                        w.update(
                            Kind::Ticket,
                            &s.key,
                            [("number".to_string(), Value::Str(next.clone()))].into(),
                        )?;
                        out.push(next);
                    }
                    Ok(out)
                })?;
                Ok(format!(
                    "kept ticket {kept} as {}; renumbered the other(s) {}",
                    c.record,
                    renumbered.join(", ")
                ))
            }
            ConflictKind::NegativeStock => {
                let branch = c.field.clone().unwrap_or_default();
                if let Some(n) = keep.strip_prefix("count=") {
                    let counted: i64 = n
                        .trim()
                        .parse()
                        .map_err(|_| invalid("keep", "count=N takes a whole number"))?;
                    if counted < 0 {
                        return Err(invalid("keep", "a count cannot be negative"));
                    }
                    self.write(|w| {
                        let level = w.tx.stock_level(&c.record, &branch)?;
                        let f: Fields = [
                            ("item".to_string(), Value::Str(c.record.clone())),
                            ("branch".to_string(), Value::Str(branch.clone())),
                            ("kind".to_string(), Value::from("adjust")),
                            ("qty".to_string(), Value::Int(counted - level)),
                            (
                                "note".to_string(),
                                Value::Str(format!("recount settles conflict {}", c.id)),
                            ),
                        ]
                        .into();
                        w.create(Kind::Movement, f)
                    })?;
                    Ok(format!("recorded a count of {counted} at {branch}"))
                } else {
                    let kept = side(keep)?;
                    self.write(|w| {
                        for s in c.sides.iter().filter(|s| s.key != kept) {
                            w.update(
                                Kind::Movement,
                                &s.key,
                                [("cancelled".to_string(), Value::Bool(true))].into(),
                            )?;
                        }
                        Ok(())
                    })?;
                    Ok(format!(
                        "kept movement {kept}; reversed {} other(s)",
                        c.sides.len() - 1
                    ))
                }
            }
        }
    }

    /// Find a record of any kind by id, id prefix or natural key.
    pub fn find_any(&mut self, key: &str) -> Result<Record> {
        self.store.read(|tx| {
            let look = TxLookup::new(tx);
            let mut hits = Vec::new();
            let mut ambiguous = None;
            for kind in Kind::ALL {
                match look.resolve_id(*kind, key) {
                    Ok(Some(id)) => {
                        if let Some((r, _)) = tx.record(&id)? {
                            hits.push(r);
                        }
                    }
                    Ok(None) => {}
                    Err(hint) => ambiguous = Some((*kind, hint)),
                }
            }
            if let (true, Some((kind, hint))) = (hits.is_empty(), ambiguous) {
                return Err(NodeError::Ambiguous {
                    kind: kind.to_string(),
                    key: key.into(),
                    hint,
                });
            }
            match hits.len() {
                1 => Ok(hits.remove(0)),
                0 => Err(NodeError::NotFound {
                    kind: "record".into(),
                    key: key.into(),
                }),
                _ => Err(NodeError::Ambiguous {
                    kind: "record".into(),
                    key: key.into(),
                    hint: hits
                        .iter()
                        .map(|r| format!("{} {}", r.kind, &r.id[..8]))
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            }
        })
    }

    /// Who changed a record, what, when and on which device, from automerge's history.
    pub fn history(&mut self, key: &str) -> Result<(Record, Vec<HistoryEntry>)> {
        let rec = self.find_any(key)?;
        let names = self.names()?;
        let doc_id: DocId = self
            .store
            .read(|tx| Ok::<_, NodeError>(tx.record(&rec.id)?.map(|(_, d)| d)))?
            .unwrap_or_default()
            .parse()
            .map_err(|e| NodeError::Usage(format!("{e}")))?;
        let actor = self.actor.clone();
        let entries = self.store.read(|tx| {
            let doc = load(&mut self.docs, tx, &doc_id, &actor)?.ok_or_else(|| NodeError::NotFound {
                kind: "document".into(),
                key: doc_id.to_string(),
            })?;
            Ok::<_, NodeError>(
                doc::history(doc)
                    .into_iter()
                    .filter_map(|c| {
                        let m = c.message?;
                        if !m.ids.contains(&rec.id) {
                            return None;
                        }
                        Some(HistoryEntry {
                            time: c.time,
                            device: names
                                .get(&c.actor)
                                .cloned()
                                .unwrap_or_else(|| c.actor[..8.min(c.actor.len())].to_string()),
                            staff: m
                                .staff
                                .as_ref()
                                .map(|s| names.get(s).cloned().unwrap_or_else(|| s.clone())),
                            op: m.op,
                            fields: m
                                .fields
                                .into_iter()
                                .filter(|(k, _)| !branchline_core::schema::META_FIELDS.contains(&k.as_str()))
                                .collect(),
                            change: c.hash,
                        })
                    })
                    .collect(),
            )
        })?;
        Ok((rec, entries))
    }

    pub fn doc_ids(&mut self) -> Result<Vec<DocId>> {
        let ids = self.store.read(|tx| Ok::<_, NodeError>(tx.doc_ids()?))?;
        Ok(ids.into_iter().filter_map(|s| s.parse().ok()).collect())
    }

    fn with_doc<R>(&mut self, id: &DocId, f: impl FnOnce(&mut Automerge) -> R) -> Result<Option<R>> {
        let actor = self.actor.clone();
        let docs = &mut self.docs;
        self.store.read(|tx| Ok(load(docs, tx, id, &actor)?.map(f)))
    }

    /// Bring these documents into memory, as a long-running node has the ones it
    /// works with. Returns how many were found.
    pub fn preload(&mut self, ids: &[DocId]) -> Result<usize> {
        let mut found = 0;
        for id in ids {
            if self.with_doc(id, |_| ())?.is_some() {
                found += 1;
            }
        }
        Ok(found)
    }

    pub fn doc_list(&mut self) -> Result<Vec<DocInfo>> {
        let mut out = Vec::new();
        for id in self.doc_ids()? {
            let info = self.with_doc(&id, |d| DocInfo {
                id: id.to_string(),
                changes: d.get_changes(&[]).len(),
                records: doc::read_all(d, &id).len(),
                heads: d.get_heads().iter().map(|h| h.to_string()).collect(),
            })?;
            out.extend(info);
        }
        Ok(out)
    }

    /// A document's raw automerge bytes (loadable by any automerge implementation).
    pub fn doc_bytes(&mut self, id: &str) -> Result<Vec<u8>> {
        let doc_id: DocId = id.parse().map_err(|e| NodeError::Usage(format!("{e}")))?;
        self.with_doc(&doc_id, |d| d.save())?
            .ok_or_else(|| NodeError::NotFound {
                kind: "document".into(),
                key: id.into(),
            })
    }

    /// The library system's whole state as canonical JSON: documents by id, records
    /// by id, fields by name. Local-only data (this device's identity, the index,
    /// sync state) is not part of it.
    pub fn export_state(&mut self) -> Result<serde_json::Value> {
        let mut root = serde_json::Map::new();
        for id in self.doc_ids()? {
            if let Some(v) = self.with_doc(&id, |d| doc::export_json(d, &id))? {
                let empty = v
                    .as_object()
                    .is_some_and(|o| o.values().all(|c| c.as_object().is_some_and(|m| m.is_empty())));
                if !empty {
                    root.insert(id.to_string(), v);
                }
            }
        }
        Ok(serde_json::Value::Object(root))
    }

    pub fn state_hash(&mut self) -> Result<String> {
        Ok(branchline_core::state_hash(&self.export_state()?))
    }

    /// Recreate the query index, conflicts and stock levels from the documents.
    pub fn rebuild_index(&mut self) -> Result<usize> {
        let ids = self.doc_ids()?;
        let actor = self.actor.clone();
        let docs = &mut self.docs;
        self.store.write(|tx| {
            tx.index_clear_all()?;
            let mut n = 0;
            for id in &ids {
                if let Some(doc) = load(docs, tx, id, &actor)? {
                    reindex_doc(tx, id, doc)?;
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    pub fn summary(&mut self) -> Result<Summary> {
        let mut heads = BTreeMap::new();
        let mut also = BTreeMap::new();
        let own = self.actor.clone();
        for id in self.doc_ids()? {
            let found = self.with_doc(&id, |d| {
                let h = d.get_heads();
                // Walk down this replica's own changes to the first ones from others.
                let mut below = BTreeSet::new();
                let mut stack = h.clone();
                let mut seen = std::collections::HashSet::new();
                while let Some(c) = stack.pop() {
                    if !seen.insert(c) || seen.len() > 10_000 {
                        continue;
                    }
                    let Some(meta) = d.get_change_meta_by_hash(&c) else {
                        continue;
                    };
                    if *meta.actor == own {
                        stack.extend(meta.deps.iter().copied());
                    } else if !h.contains(&c) {
                        below.insert(c.to_string());
                    }
                }
                (h.iter().map(|x| x.to_string()).collect::<Vec<_>>(), below)
            })?;
            if let Some((h, below)) = found {
                if !below.is_empty() {
                    also.insert(id.to_string(), below.into_iter().collect());
                }
                heads.insert(id.to_string(), h);
            }
        }
        Ok(Summary {
            system: self.ident.system_id.clone(),
            device: self.ident.device_id.clone(),
            heads,
            also,
        })
    }

    /// This replica's changes as a bundle: all of them, or only those a peer with
    /// `peer` (its summary) lacks.
    pub fn export_bundle(&mut self, peer: Option<&Summary>) -> Result<Vec<u8>> {
        if let Some(p) = peer {
            if p.system != self.ident.system_id {
                return Err(NodeError::Bundle(bundle::BundleError::ForeignSystem {
                    expected: self.ident.system_id.clone(),
                    found: p.system.clone(),
                }));
            }
        }
        let mut docs = Vec::new();
        for id in self.doc_ids()? {
            let key = id.to_string();
            let have: Vec<ChangeHash> = peer
                .and_then(|p| p.heads.get(&key))
                .map(|hs| hs.iter().filter_map(|h| h.parse().ok()).collect())
                .unwrap_or_default();
            let below: Vec<ChangeHash> = peer
                .and_then(|p| p.also.get(&key))
                .map(|hs| hs.iter().filter_map(|h| h.parse().ok()).collect())
                .unwrap_or_default();
            let changes = self.with_doc(&id, |d| {
                let mut ours = d.get_heads();
                ours.sort();
                let mut theirs = have.clone();
                theirs.sort();
                if !theirs.is_empty() && ours == theirs {
                    return Vec::new();
                }
                let known: Vec<ChangeHash> = have
                    .iter()
                    .chain(below.iter())
                    .filter(|h| d.get_change_by_hash(h).is_some())
                    .copied()
                    .collect();
                d.get_changes(&known)
            })?;
            if let Some(changes) = changes.filter(|c| !c.is_empty()) {
                docs.push(BundleDoc { id, changes });
            }
        }
        let header = BundleHeader {
            system: self.ident.system_id.clone(),
            system_name: self.ident.system_name.clone(),
            device: self.ident.device_id.clone(),
            created_at: self.clock.now().0,
        };
        Ok(bundle::encode(&header, &mut docs))
    }

    /// Merge a bundle. All or nothing: a bundle that fails to decode or apply leaves
    /// the replica as it was.
    pub fn import_bundle(&mut self, bytes: &[u8]) -> Result<ImportReport> {
        // Changes are parsed (and checked) with the rest of each document's merge.
        let b = bundle::decode_raw(bytes, Some(&self.ident.system_id))?;
        let actor = self.actor.clone();
        let docs = &mut self.docs;
        let result = self.store.write(|tx| {
            // What the store holds of each document, read on this thread...
            let mut jobs = Vec::with_capacity(b.docs.len());
            for bd in &b.docs {
                let key = bd.id.to_string();
                let base = match docs.remove(&bd.id) {
                    Some(l) => {
                        let newer = tx.load_doc(&key, l.seq)?;
                        Base::Cached(Box::new(l), newer)
                    }
                    None => Base::Stored(tx.load_doc(&key, 0)?),
                };
                let before = conflicts_before(tx, &bd.id)?;
                jobs.push(ImportJob {
                    bd,
                    key,
                    base,
                    before,
                });
            }
            // ...the automerge work and the index rows, side by side...
            let merged = merge::par_map(jobs, ImportJob::cost, merge::PARALLEL_FROM_BYTES, |j| {
                j.run(&actor)
            });
            // ...and written in one transaction, in the bundle's order.
            let mut report = ImportReport {
                from_device: b.header.device.clone(),
                documents: 0,
                changes_new: 0,
                changes_known: 0,
                conflicts: 0,
            };
            for m in merged {
                let m = m?;
                report.changes_known += m.known;
                let (new, stored_already) = m.write(tx, docs)?;
                report.changes_known += stored_already;
                if new > 0 {
                    report.changes_new += new;
                    report.documents += 1;
                }
            }
            report.conflicts = tx.conflicts()?.len();
            Ok::<_, NodeError>(report)
        });
        if result.is_err() {
            self.docs.clear();
        }
        result
    }

    /// Forget the in-memory documents; they are reloaded from the store on next use.
    /// For after something went wrong half-way through changing one.
    pub fn drop_cache(&mut self) {
        self.docs.clear();
    }

    pub fn integrity_check(&self) -> Result<String> {
        Ok(self.store.integrity_check()?)
    }

    /// The store, for benchmarks that compare against raw SQLite.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// Where a merged document starts from: the copy in memory (with what the store
/// gained since it was read), or the store's rows (`None`: a new document).
enum Base {
    Cached(Box<Loaded>, Option<branchline_store::StoredDoc>),
    Stored(Option<branchline_store::StoredDoc>),
}

/// One document of a bundle, to merge off the writer's thread.
struct ImportJob<'b> {
    bd: &'b bundle::RawDoc<'b>,
    key: String,
    base: Base,
    before: Vec<branchline_core::conflict::Conflict>,
}

/// One document merged: what to write.
struct Merged {
    id: DocId,
    key: String,
    loaded: Loaded,
    /// Changes automerge had not seen: (hash, bytes as stored).
    fresh: Vec<(String, Vec<u8>)>,
    known: usize,
    derived: Option<merge::Derived>,
    snapshot: Option<Vec<u8>>,
}

impl Merged {
    /// Store the merged document: its new changes, index rows, conflicts, heads, and
    /// a snapshot when one is due; then keep it in memory. Returns how many changes
    /// were new to the store, and how many it had already (waiting for their history).
    fn write(mut self, tx: &Tx<'_>, docs: &mut HashMap<DocId, Loaded>) -> Result<(usize, usize)> {
        let (mut new, mut stored_already) = (0, 0);
        for (hash, bytes) in &self.fresh {
            match tx.append_change(&self.key, hash, bytes)? {
                Some(seq) => {
                    self.loaded.seq = self.loaded.seq.max(seq);
                    new += 1;
                }
                None => stored_already += 1,
            }
        }
        self.loaded.stored += new as i64;
        if let Some(d) = &self.derived {
            d.write(tx)?;
        }
        if let Some(snapshot) = &self.snapshot {
            // Folds in all but the last row just written: that one stays (the snapshot
            // holds it too), so a node watching this data directory sees the document
            // change.
            tx.compact(&self.key, snapshot, self.loaded.seq - 1)?;
            self.loaded.stored = 1;
        }
        docs.insert(self.id, self.loaded);
        Ok((new, stored_already))
    }
}

impl ImportJob<'_> {
    /// Rough work of a merge, in bytes of automerge's storage: what it loads, the
    /// document held in memory (its records are read again to index them), and the
    /// changes to apply. Only the order matters: the costliest documents start first.
    fn cost(&self) -> usize {
        let stored = |s: &branchline_store::StoredDoc| s.len_bytes();
        let base = match &self.base {
            // About eight bytes per operation, as a saved document holds them.
            Base::Cached(l, s) => l.doc.stats().num_ops as usize * 8 + s.as_ref().map_or(0, stored),
            Base::Stored(s) => s.as_ref().map_or(0, stored),
        };
        base + self.bd.len_bytes()
    }

    fn run(self, actor: &ActorId) -> Result<Merged> {
        let l = match self.base {
            Base::Cached(mut l, newer) => {
                if let Some(stored) = newer {
                    catch_up(&mut l.doc, &stored)?;
                    l.seq = stored.seq;
                    l.stored += stored.changes.len() as i64;
                }
                *l
            }
            Base::Stored(Some(stored)) => {
                let mut doc = match &stored.snapshot {
                    Some(s) => Automerge::load(s)?,
                    None => Automerge::new(),
                };
                load_changes(&mut doc, &stored.changes)?;
                doc.set_actor(actor.clone());
                Loaded {
                    doc,
                    seq: stored.seq,
                    stored: stored.changes.len() as i64,
                    dv: None,
                }
            }
            Base::Stored(None) => Loaded {
                doc: Automerge::new().with_actor(actor.clone()),
                seq: 0,
                stored: 0,
                dv: None,
            },
        };
        let bd = self.bd.parse()?;
        let mut fresh = Vec::new();
        let mut known = 0;
        for c in &bd.changes {
            if l.doc.get_change_by_hash(&c.hash()).is_some() {
                known += 1;
            } else {
                fresh.push(c.clone());
            }
        }
        let mut m = Merged {
            id: self.bd.id.clone(),
            key: self.key,
            loaded: l,
            fresh: Vec::new(),
            known,
            derived: None,
            snapshot: None,
        };
        if fresh.is_empty() {
            return Ok(m);
        }
        let doc = &mut m.loaded.doc;
        let before = doc.get_heads();
        doc.apply_changes(fresh.iter().cloned())?;
        if doc::doc_self_id(doc).is_some_and(|s| s != m.key) {
            return Err(NodeError::Bundle(bundle::BundleError::Corrupt(format!(
                "document {} holds the contents of another document",
                m.key
            ))));
        }
        // As the bundle carried them: compressed when automerge compresses them, a
        // fraction of the raw bytes to write.
        m.fresh = fresh
            .iter_mut()
            .map(|c| (c.hash().to_string(), c.bytes().into_owned()))
            .collect();
        // A new document is indexed whole; otherwise just the records touched by the
        // changes now applied: not those of the bundle, some of which may wait for
        // their history, while earlier ones that waited may have just been applied.
        let touched = if before.is_empty() {
            None
        } else {
            doc::records_touched(doc, &doc.get_changes(&before))
        };
        m.derived = Some(merge::derive(&m.id, doc, touched.as_ref(), &self.before)?);
        m.snapshot = merge::snapshot_due(&m.id, doc, m.loaded.stored + m.fresh.len() as i64);
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use branchline_core::value::fields;

    #[test]
    fn the_manifest_kept_across_own_writes_is_the_one_read_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let mut n = Node::init(dir.path(), "Man", "CEN", Some("Central"), "desk").unwrap();
        let first = n.manifest().unwrap();
        let mut kept = first.clone();
        for i in 0..3 {
            let asset = fields([
                ("tag", format!("CEN-PU-{i:03}").into()),
                ("name", "Public PC".into()),
                ("category", "public-pc".into()),
                ("branch", "CEN".into()),
            ]);
            let ticket = fields([
                ("summary", "Paper jam".into()),
                ("branch", "CEN".into()),
                ("category", "printer".into()),
            ]);
            for (kind, f) in [(Kind::Asset, asset), (Kind::Ticket, ticket)] {
                n.create(kind, f).unwrap();
                // Read after each commit: brought up to date from what it wrote.
                kept = n.manifest().unwrap();
                let fresh = Node::open(dir.path()).unwrap().manifest().unwrap();
                assert_eq!(*kept, *fresh, "after a {kind:?} in round {i}");
            }
        }
        assert_ne!(*kept, *first, "the writes moved the heads");
    }

    #[test]
    fn the_manifest_kept_across_sync_batches_is_the_one_read_afresh() {
        use branchline_core::sync::{Session, SyncMsg};
        let ticket = |s: &str| {
            fields([
                ("summary", s.into()),
                ("branch", "CEN".into()),
                ("category", "printer".into()),
            ])
        };
        let asset = |tag: &str| {
            fields([
                ("tag", tag.into()),
                ("name", "Public PC".into()),
                ("category", "public-pc".into()),
                ("branch", "CEN".into()),
            ])
        };
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut a = Node::init(dir_a.path(), "Kept", "CEN", Some("Central"), "desk").unwrap();
        a.create(Kind::Ticket, ticket("Paper jam")).unwrap();
        a.create(Kind::Asset, asset("CEN-PU-001")).unwrap();
        let copy = db_path(dir_b.path()).display().to_string();
        a.store().connection().execute("VACUUM INTO ?1", [copy]).unwrap();
        let mut b = Node::open(dir_b.path()).unwrap();
        // Offline on both sides: a document each changed, one both changed, and a
        // month's tickets only one side holds.
        a.create(Kind::Asset, asset("CEN-PU-002")).unwrap();
        b.create(Kind::Ticket, ticket("No toner")).unwrap();
        a.set_clock(Clock::Fixed(
            NaiveDateTime::parse_from_str("2026-01-10T09:00:00", "%Y-%m-%dT%H:%M:%S").unwrap(),
        ));
        a.create(Kind::Ticket, ticket("Screen flickers")).unwrap();

        let system = a.identity().system_id.clone();
        let mut sa = Session::new(system.clone(), "device-a");
        let mut sb = Session::new(system, "device-b");
        let mut to_b = sa.start(&a.sync_source().unwrap(), 0);
        let mut to_a = sb.start(&b.sync_source().unwrap(), 0);
        let step = |n: &mut Node, s: &mut Session, inbox: Vec<SyncMsg>, dir: &std::path::Path| {
            let mut src = n.sync_source().unwrap();
            let mut out = Vec::new();
            for m in inbox {
                out.extend(s.handle(&mut src, m, 0).unwrap());
            }
            src.finish().unwrap();
            // What the node keeps after each stored batch is what a fresh read finds.
            let fresh = Node::open(dir).unwrap().manifest().unwrap();
            assert_eq!(*n.manifest().unwrap(), *fresh);
            out
        };
        for _ in 0..100 {
            if to_a.is_empty() && to_b.is_empty() {
                break;
            }
            let next_a = step(&mut b, &mut sb, std::mem::take(&mut to_b), dir_b.path());
            let next_b = step(&mut a, &mut sa, std::mem::take(&mut to_a), dir_a.path());
            (to_a, to_b) = (next_a, next_b);
        }
        assert!(sa.is_caught_up() && sb.is_caught_up());
        assert_eq!(a.state_hash().unwrap(), b.state_hash().unwrap());
        assert_eq!(*a.manifest().unwrap(), *b.manifest().unwrap());
    }

    #[test]
    fn documents_loaded_ahead_are_the_ones_the_store_holds() {
        use branchline_core::sync::DocSource;
        let dir = tempfile::tempdir().unwrap();
        let mut n = Node::init(dir.path(), "Pre", "CEN", Some("Central"), "desk").unwrap();
        for i in 0..4 {
            n.create(
                Kind::Ticket,
                fields([
                    ("summary", format!("Paper jam {i}").into()),
                    ("branch", "CEN".into()),
                    ("category", "printer".into()),
                ]),
            )
            .unwrap();
            n.create(
                Kind::Asset,
                fields([
                    ("tag", format!("CEN-PU-{i:03}").into()),
                    ("name", "Public PC".into()),
                    ("category", "public-pc".into()),
                    ("branch", "CEN".into()),
                ]),
            )
            .unwrap();
        }
        let mut ids = n.doc_ids().unwrap();
        assert!(ids.len() >= 3, "{ids:?}");
        let absent: DocId = "bookings/CEN/2020-01-01".parse().unwrap();
        ids.push(absent.clone());
        let expected: Vec<(DocId, Vec<u8>)> = ids[..ids.len() - 1]
            .iter()
            .map(|id| (id.clone(), n.doc_bytes(&id.to_string()).unwrap()))
            .collect();

        let mut fresh = Node::open(dir.path()).unwrap();
        assert!(fresh.docs.is_empty());
        let mut src = fresh.sync_source().unwrap();
        src.prefetch(&ids);
        for (id, bytes) in &expected {
            let want = Automerge::load(bytes).unwrap();
            let got = src.doc(id).unwrap_or_else(|| panic!("{id} not loaded"));
            assert_eq!(got.get_heads(), want.get_heads(), "{id}");
            assert_eq!(doc::export_json(got, id), doc::export_json(&want, id), "{id}");
        }
        assert!(
            src.doc(&absent).is_none(),
            "a document the store lacks stays absent"
        );
        drop(src);
        assert_eq!(
            fresh.docs.len(),
            expected.len(),
            "each loaded once, into the cache"
        );
    }

    #[test]
    fn a_document_stored_by_another_process_after_a_miss_is_merged_not_lost() {
        use branchline_core::sync::DocSource;
        let dir = tempfile::tempdir().unwrap();
        let t0 = NaiveDateTime::parse_from_str("2026-11-24T09:00:00", "%Y-%m-%dT%H:%M:%S").unwrap();
        let mut n = Node::init(dir.path(), "Miss", "CEN", Some("Central"), "desk").unwrap();
        n.set_clock(Clock::Fixed(t0));
        let mut other = Node::open(dir.path()).unwrap();
        other.set_clock(Clock::Fixed(t0));
        let id: DocId = "tickets/2026-11".parse().unwrap();

        let mut src = n.sync_source().unwrap();
        assert!(src.doc(&id).is_none(), "not stored yet");
        // The CLI at the same desk opens a ticket meanwhile: its month's document
        // is stored after this source saw the store without it.
        let ticket = other
            .create(
                Kind::Ticket,
                fields([
                    ("summary", "Paper jam".into()),
                    ("branch", "CEN".into()),
                    ("category", "printer".into()),
                ]),
            )
            .unwrap();
        assert!(src.doc(&id).is_none(), "the miss is remembered, not read again");
        // The peer's side of the same document arrives: made here from the skeleton.
        let doc = src.create_empty(&id).unwrap();
        assert!(doc.get_heads().len() <= 1);
        assert!(src.doc(&id).is_some(), "what the source made it then finds");
        let changed = src.finish().unwrap();
        assert_eq!(changed, vec![id.clone()]);

        let stored = Automerge::load(&other.doc_bytes(&id.to_string()).unwrap()).unwrap();
        let mut fresh = Node::open(dir.path()).unwrap();
        let after = Automerge::load(&fresh.doc_bytes(&id.to_string()).unwrap()).unwrap();
        for h in stored.get_heads() {
            assert!(
                after.get_change_by_hash(&h).is_some(),
                "the other process's change kept"
            );
        }
        assert_eq!(fresh.get(Kind::Ticket, &ticket.id).unwrap(), ticket);
        assert_eq!(n.get(Kind::Ticket, &ticket.id).unwrap(), ticket);
    }

    #[test]
    fn an_update_indexes_the_record_the_document_holds() {
        let dir = tempfile::tempdir().unwrap();
        let mut n = Node::init(dir.path(), "Upd", "CEN", Some("Central"), "desk").unwrap();
        let ana = n
            .create(
                Kind::Staff,
                fields([("name", "Ana Brooks".into()), ("role", "technician".into())]),
            )
            .unwrap();
        let a = n
            .create(
                Kind::Asset,
                fields([
                    ("tag", "CEN-PU-001".into()),
                    ("name", "Public PC 1".into()),
                    ("category", "public-pc".into()),
                    ("branch", "CEN".into()),
                    ("serial", "SN1".into()),
                ]),
            )
            .unwrap();
        // Each step: a field written, one cleared, the writer changed, nothing changed.
        let steps: Vec<(Option<&str>, Fields)> = vec![
            (None, fields([("notes", "new fan".into())])),
            (
                None,
                fields([("serial", Value::Null), ("location", "Stockroom".into())]),
            ),
            (Some(ana.id.as_str()), fields([("status", "in-repair".into())])),
            (
                None,
                fields([("status", "deployed".into()), ("notes", Value::Null)]),
            ),
        ];
        for (i, (staff, f)) in steps.into_iter().enumerate() {
            n.set_staff(staff).unwrap();
            let written = n.update(Kind::Asset, &a.id, f).unwrap();
            let indexed = n.get(Kind::Asset, &a.id).unwrap();
            let held = n
                .with_doc(&DocId::Inventory, |d| doc::read_record(d, Kind::Asset, &a.id))
                .unwrap()
                .flatten()
                .unwrap();
            assert_eq!(written, held, "step {i}: what update returns");
            assert_eq!(indexed, held, "step {i}: what the index holds");
        }
        let before = n.list(Kind::Asset, &ListFilter::default()).unwrap();
        n.rebuild_index().unwrap();
        assert_eq!(n.list(Kind::Asset, &ListFilter::default()).unwrap(), before);
    }

    #[test]
    fn record_ids_carry_the_time_they_were_made_and_sort_by_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut n = Node::init(dir.path(), "Ids", "CEN", Some("Central"), "desk").unwrap();
        let t0 = NaiveDateTime::parse_from_str("2026-11-24T09:00:00", "%Y-%m-%dT%H:%M:%S").unwrap();
        let mut ids = Vec::new();
        for day in 0..3 {
            n.set_clock(Clock::Fixed(t0 + chrono::Duration::days(day)));
            for v in 0..3 {
                let name = format!("Vendor {day}-{v}");
                let r = n
                    .create(Kind::Vendor, fields([("name", name.as_str().into())]))
                    .unwrap();
                ids.push((day, uuid::Uuid::parse_str(&r.id).unwrap()));
            }
        }
        for (day, id) in &ids {
            assert_eq!(id.get_version_num(), 7);
            let (secs, _) = id.get_timestamp().unwrap().to_unix();
            let made = t0 + chrono::Duration::days(*day);
            assert_eq!(secs as i64, made.and_utc().timestamp());
        }
        // A later day's ids sort after an earlier day's, whatever their random part.
        for w in ids.windows(2) {
            if w[0].0 < w[1].0 {
                assert!(w[0].1.to_string() < w[1].1.to_string());
            }
        }
    }
}
