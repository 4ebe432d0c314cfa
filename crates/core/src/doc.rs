//! The document schema over automerge: skeletons, writing and reading records.
//!
//! Layout of every document: the root map holds `_doc` (its id) and one map per
//! collection (`asset`, `booking`, ...); each collection maps record UUIDs to
//! record maps of scalar fields. Tickets carry a `work` list (append-only work log);
//! pages keep `text` as automerge text so concurrent edits both survive.

use crate::docid::DocId;
use crate::schema::Kind;
use crate::value::{Fields, Value};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ObjId, ObjType, ReadDoc, ScalarValue, ROOT};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("document {0} has no collection for {1}")]
    NoCollection(String, Kind),
    #[error("no {0} with id {1} in this document")]
    NoRecord(Kind, String),
    #[error("automerge: {0}")]
    Automerge(Box<automerge::AutomergeError>),
}

impl From<automerge::AutomergeError> for DocError {
    fn from(e: automerge::AutomergeError) -> Self {
        DocError::Automerge(Box::new(e))
    }
}

/// The actor that writes every document skeleton. Skeletons are byte-identical on
/// every replica (same actor, time 0, same ops), so their change hashes coincide and
/// no two replicas ever create the same collection map concurrently.
pub const SKELETON_ACTOR: [u8; 16] = *b"branchline:skel0";

/// A new document holding just its skeleton change, writing as `actor` from now on.
pub fn new_doc(id: &DocId, actor: &ActorId) -> Result<Automerge, DocError> {
    let mut doc = Automerge::new().with_actor(ActorId::from(SKELETON_ACTOR.as_slice()));
    let mut tx = doc.transaction();
    tx.put(ROOT, "_doc", id.to_string())?;
    for kind in id.collections() {
        tx.put_object(ROOT, kind.collection(), ObjType::Map)?;
    }
    tx.commit_with(
        CommitOptions::default()
            .with_time(0)
            .with_message(format!("skeleton {id}")),
    );
    doc.set_actor(actor.clone());
    Ok(doc)
}

/// Parse one change from outside, checking its own checksum. automerge's parser
/// does not compare the checksum in the chunk header with the hash of the contents,
/// so a damaged change would otherwise be accepted here and dropped on the next
/// load, leaving the replica quietly different from its peers.
pub fn verified_change(raw: &[u8]) -> Result<automerge::Change, String> {
    let change = automerge::Change::try_from(raw).map_err(|e| e.to_string())?;
    let claimed = raw.get(4..8).ok_or("change too short")?;
    if claimed != &change.hash().0[..4] {
        return Err("change checksum does not match its contents".into());
    }
    Ok(change)
}

/// The id a document says it has (checked when documents arrive from outside).
pub fn doc_self_id(doc: &Automerge) -> Option<String> {
    match doc.get(ROOT, "_doc") {
        Ok(Some((v, _))) => v.as_str().map(str::to_string),
        _ => None,
    }
}

fn collection(doc: &impl ReadDoc, kind: Kind) -> Option<ObjId> {
    match doc.get(ROOT, kind.collection()) {
        Ok(Some((automerge::Value::Object(ObjType::Map), id))) => Some(id),
        _ => None,
    }
}

fn record_obj(doc: &impl ReadDoc, kind: Kind, id: &str) -> Option<ObjId> {
    let coll = collection(doc, kind)?;
    match doc.get(&coll, id) {
        Ok(Some((automerge::Value::Object(ObjType::Map), obj))) => Some(obj),
        _ => None,
    }
}

fn to_scalar(v: &Value) -> ScalarValue {
    match v {
        Value::Null => ScalarValue::Null,
        Value::Bool(b) => ScalarValue::Boolean(*b),
        Value::Int(i) => ScalarValue::Int(*i),
        Value::Str(s) => ScalarValue::Str(s.as_str().into()),
    }
}

pub fn from_scalar(v: &automerge::Value<'_>) -> Value {
    match v {
        automerge::Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Boolean(b) => Value::Bool(*b),
            ScalarValue::Int(i) => Value::Int(*i),
            ScalarValue::Uint(u) => Value::Int(i64::try_from(*u).unwrap_or(i64::MAX)),
            ScalarValue::Counter(c) => Value::Int(i64::from(c)),
            ScalarValue::Timestamp(t) => Value::Int(*t),
            ScalarValue::F64(f) => Value::Int(*f as i64),
            ScalarValue::Str(s) => Value::Str(s.to_string()),
            _ => Value::Null,
        },
        automerge::Value::Object(_) => Value::Null,
    }
}

/// [`from_scalar`] from a borrowed value, as documents are read: one allocation for
/// a string rather than two.
fn from_scalar_ref(v: &automerge::ScalarValueRef<'_>) -> Value {
    use automerge::ScalarValueRef as S;
    match v {
        S::Boolean(b) => Value::Bool(*b),
        S::Int(i) => Value::Int(*i),
        S::Uint(u) => Value::Int(i64::try_from(*u).unwrap_or(i64::MAX)),
        S::Counter(c) => Value::Int(*c),
        S::Timestamp(t) => Value::Int(*t),
        S::F64(f) => Value::Int(*f as i64),
        S::Str(s) => Value::Str(s.to_string()),
        _ => Value::Null,
    }
}

/// Fields that are automerge text objects rather than strings.
fn is_text_field(kind: Kind, name: &str) -> bool {
    kind == Kind::Page && name == "text"
}

/// Who last wrote a record: on an update these are written only when they change
/// (the same device writing again would otherwise add two operations to every
/// change for nothing).
const WRITTEN_ONLY_WHEN_CHANGED: &[&str] = &["updated_by", "updated_device"];

/// Write a record's fields. On create the record map is made by this replica alone
/// (its key is a fresh UUID), so nested objects inside it never collide.
pub fn put_record<T: Transactable>(
    tx: &mut T,
    kind: Kind,
    id: &str,
    fields: &Fields,
    create: bool,
) -> Result<(), DocError> {
    let coll = collection(tx, kind).ok_or_else(|| DocError::NoCollection(String::new(), kind))?;
    let rec = if create {
        let rec = tx.put_object(&coll, id, ObjType::Map)?;
        if kind == Kind::Ticket {
            tx.put_object(&rec, "work", ObjType::List)?;
        }
        rec
    } else {
        record_obj(tx, kind, id).ok_or_else(|| DocError::NoRecord(kind, id.to_string()))?
    };
    for (name, value) in fields {
        if is_text_field(kind, name) {
            let text = match tx.get(&rec, name.as_str())? {
                Some((automerge::Value::Object(ObjType::Text), t)) => t,
                _ => tx.put_object(&rec, name.as_str(), ObjType::Text)?,
            };
            tx.update_text(&text, value.as_str().unwrap_or_default())?;
        } else if value.is_null() {
            if tx.get(&rec, name.as_str())?.is_some() {
                tx.delete(&rec, name.as_str())?;
            }
        } else if !create && WRITTEN_ONLY_WHEN_CHANGED.contains(&name.as_str()) && {
            let now = tx.get_all(&rec, name.as_str())?;
            now.len() == 1 && now.first().is_some_and(|(v, _)| from_scalar(v) == *value)
        } {
            continue;
        } else {
            tx.put(&rec, name.as_str(), to_scalar(value))?;
        }
    }
    Ok(())
}

/// Append one entry to a ticket's work log.
pub fn append_work<T: Transactable>(tx: &mut T, ticket: &str, entry: &Fields) -> Result<(), DocError> {
    let rec = record_obj(tx, Kind::Ticket, ticket)
        .ok_or_else(|| DocError::NoRecord(Kind::Ticket, ticket.to_string()))?;
    let list = match tx.get(&rec, "work")? {
        Some((automerge::Value::Object(ObjType::List), l)) => l,
        _ => return Err(DocError::NoRecord(Kind::Ticket, ticket.to_string())),
    };
    let at = tx.length(&list);
    let obj = tx.insert_object(&list, at, ObjType::Map)?;
    for (k, v) in entry {
        tx.put(&obj, k.as_str(), to_scalar(v))?;
    }
    Ok(())
}

/// A record as read back from a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub kind: Kind,
    pub id: String,
    pub fields: Fields,
    /// A ticket's work log, in list order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub work: Vec<Fields>,
}

impl Record {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }
    pub fn str(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }
    pub fn int(&self, name: &str) -> Option<i64> {
        self.fields.get(name).and_then(Value::as_int)
    }
    pub fn flag(&self, name: &str) -> bool {
        self.fields.get(name).and_then(Value::as_bool).unwrap_or(false)
    }
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (k, v) in &self.fields {
            m.insert(k.clone(), v.to_json());
        }
        if !self.work.is_empty() {
            let work = self
                .work
                .iter()
                .map(|e| serde_json::Value::Object(e.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()))
                .collect();
            m.insert("work".into(), serde_json::Value::Array(work));
        }
        serde_json::Value::Object(m)
    }
}

/// A record field's value as stored at `obj`: text as a string, a scalar as
/// itself; `None` for a nested object, which is not a field.
fn field_value(doc: &impl ReadDoc, obj: ObjId, value: &automerge::ValueRef<'_>) -> Option<Value> {
    match value {
        automerge::ValueRef::Object(ObjType::Text) => Some(Value::Str(doc.text(obj).unwrap_or_default())),
        automerge::ValueRef::Object(_) => None,
        automerge::ValueRef::Scalar(v) => Some(from_scalar_ref(v)),
    }
}

fn read_map(doc: &impl ReadDoc, obj: &ObjId) -> Fields {
    let mut fields = Fields::new();
    for item in doc.map_range(obj, ..) {
        if let Some(v) = field_value(doc, item.id(), &item.value) {
            fields.insert(item.key.to_string(), v);
        }
    }
    fields
}

/// One field of every record of a kind, by record id: far cheaper than reading the
/// records whole when a rule needs just that field.
pub fn field_of_each(doc: &impl ReadDoc, kind: Kind, field: &str) -> Vec<(String, Option<Value>)> {
    let Some(coll) = collection(doc, kind) else {
        return Vec::new();
    };
    doc.map_range(&coll, ..)
        .filter_map(|item| match item.value {
            automerge::ValueRef::Object(ObjType::Map) => {
                let v = match doc.get(item.id(), field) {
                    Ok(Some((automerge::Value::Object(ObjType::Text), t))) => {
                        doc.text(&t).ok().map(Value::Str)
                    }
                    Ok(Some((v @ automerge::Value::Scalar(_), _))) => Some(from_scalar(&v)),
                    _ => None,
                };
                Some((item.key.to_string(), v))
            }
            _ => None,
        })
        .collect()
}

fn read_work(doc: &impl ReadDoc, rec: &ObjId) -> Vec<Fields> {
    let Ok(Some((automerge::Value::Object(ObjType::List), list))) = doc.get(rec, "work") else {
        return Vec::new();
    };
    doc.list_range(&list, ..)
        .filter_map(|item| match item.value {
            automerge::ValueRef::Object(ObjType::Map) => Some(read_map(doc, &item.id())),
            _ => None,
        })
        .collect()
}

pub fn read_record(doc: &impl ReadDoc, kind: Kind, id: &str) -> Option<Record> {
    let obj = record_obj(doc, kind, id)?;
    Some(Record {
        kind,
        id: id.to_string(),
        fields: read_map(doc, &obj),
        work: if kind == Kind::Ticket {
            read_work(doc, &obj)
        } else {
            Vec::new()
        },
    })
}

/// Every record of one kind in a document, ordered by id.
pub fn read_records(doc: &impl ReadDoc, kind: Kind) -> Vec<Record> {
    let Some(coll) = collection(doc, kind) else {
        return Vec::new();
    };
    doc.map_range(&coll, ..)
        .filter_map(|item| match item.value {
            automerge::ValueRef::Object(ObjType::Map) => {
                let obj = item.id();
                Some(Record {
                    kind,
                    id: item.key.to_string(),
                    fields: read_map(doc, &obj),
                    work: if kind == Kind::Ticket {
                        read_work(doc, &obj)
                    } else {
                        Vec::new()
                    },
                })
            }
            _ => None,
        })
        .collect()
}

/// Every record in a document, by kind then id.
///
/// One pass over the document's operations (automerge's `iter`), rather than a
/// lookup of every record's map (`read_records`): setting up the range of each
/// record cost more than reading its fields, and a new day's bookings are read
/// whole on every replica they reach. Reads what `read_records` reads.
pub fn read_all(doc: &Automerge, id: &DocId) -> Vec<Record> {
    use automerge::iter::DocItem;
    use std::collections::HashMap;
    /// What an object seen in the pass is to the records.
    #[derive(Clone, Copy)]
    enum Slot {
        Collection(Kind),
        /// A record's map: fields of record `n`.
        Record(usize),
        /// A ticket's work list, of record `n`.
        Work(usize),
        /// Entry `e` of record `n`'s work list.
        Entry(usize, usize),
    }
    let kinds = id.collections();
    let mut slots: HashMap<ObjId, Slot> = HashMap::new();
    for kind in kinds {
        if let Some(coll) = collection(doc, *kind) {
            slots.insert(coll, Slot::Collection(*kind));
        }
    }
    let mut out: Vec<Record> = Vec::new();
    for item in doc.iter() {
        let DocItem::Map(m) = &item.item else {
            if let (DocItem::List(l), Some(Slot::Work(n))) = (&item.item, slots.get(&*item.obj).copied()) {
                if let automerge::ValueRef::Object(ObjType::Map) = l.value {
                    if let Some(r) = out.get_mut(n) {
                        r.work.push(Fields::new());
                        let e = r.work.len() - 1;
                        slots.insert(l.id(), Slot::Entry(n, e));
                    }
                }
            }
            continue;
        };
        match slots.get(&*item.obj).copied() {
            Some(Slot::Collection(kind)) => {
                if let automerge::ValueRef::Object(ObjType::Map) = m.value {
                    slots.insert(m.id(), Slot::Record(out.len()));
                    out.push(Record {
                        kind,
                        id: m.key.to_string(),
                        fields: Fields::new(),
                        work: Vec::new(),
                    });
                }
            }
            Some(Slot::Record(n)) => {
                let Some(r) = out.get_mut(n) else { continue };
                if r.kind == Kind::Ticket
                    && m.key == "work"
                    && matches!(m.value, automerge::ValueRef::Object(ObjType::List))
                {
                    slots.insert(m.id(), Slot::Work(n));
                    continue;
                }
                if let Some(v) = field_value(doc, m.id(), &m.value) {
                    r.fields.insert(m.key.to_string(), v);
                }
            }
            Some(Slot::Entry(n, e)) => {
                let Some(v) = field_value(doc, m.id(), &m.value) else {
                    continue;
                };
                if let Some(entry) = out.get_mut(n).and_then(|r| r.work.get_mut(e)) {
                    entry.insert(m.key.to_string(), v);
                }
            }
            Some(Slot::Work(_)) | None => {}
        }
    }
    // Collections are visited in the order they were made, each in key order.
    let rank = |k: Kind| kinds.iter().position(|x| *x == k).unwrap_or(usize::MAX);
    out.sort_by(|a, b| rank(a.kind).cmp(&rank(b.kind)).then_with(|| a.id.cmp(&b.id)));
    out
}

/// [`read_all`] record by record: what it must agree with.
#[cfg(test)]
fn read_all_by_record(doc: &impl ReadDoc, id: &DocId) -> Vec<Record> {
    id.collections()
        .iter()
        .flat_map(|k| read_records(doc, *k))
        .collect()
}

/// All values currently held at one field of a record: more than one means replicas
/// set it concurrently and nobody has settled it since.
pub fn field_values(doc: &impl ReadDoc, kind: Kind, id: &str, field: &str) -> Vec<(Value, ObjId)> {
    let Some(obj) = record_obj(doc, kind, id) else {
        return Vec::new();
    };
    doc.get_all(&obj, field)
        .unwrap_or_default()
        .into_iter()
        .map(|(v, op)| (from_scalar(&v), op))
        .collect()
}

/// Who and when a change was made, as read from automerge's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeInfo {
    pub hash: String,
    pub actor: String,
    pub time: i64,
    pub message: Option<ChangeMessage>,
}

/// The message every local change carries: what it did, to which record, by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ChangeMessage {
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff: Option<String>,
    #[serde(default, skip_serializing_if = "Fields::is_empty")]
    pub fields: Fields,
}

impl ChangeMessage {
    pub fn parse(s: &str) -> Option<ChangeMessage> {
        serde_json::from_str(s).ok()
    }
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

pub fn change_of_op(doc: &Automerge, op: &ObjId) -> Option<ChangeInfo> {
    let hash = doc.hash_for_opid(op)?;
    let meta = doc.get_change_meta_by_hash(&hash)?;
    Some(ChangeInfo {
        hash: hash.to_string(),
        actor: meta.actor.to_hex_string(),
        time: meta.timestamp,
        message: meta.message.as_deref().and_then(ChangeMessage::parse),
    })
}

/// Every change of a document, oldest first (causal order), with its decoded message.
pub fn history(doc: &Automerge) -> Vec<ChangeInfo> {
    doc.get_changes_meta(&[])
        .into_iter()
        .map(|m| ChangeInfo {
            hash: m.hash.to_string(),
            actor: m.actor.to_hex_string(),
            time: m.timestamp,
            message: m.message.as_deref().and_then(ChangeMessage::parse),
        })
        .collect()
}

/// A document's state as canonical JSON: collections, then records by id, then
/// fields by name (serde_json's map is ordered). Skeleton-only collections are kept
/// so that every replica agrees on the shape too.
pub fn export_json(doc: &impl ReadDoc, id: &DocId) -> serde_json::Value {
    let mut root = serde_json::Map::new();
    for kind in id.collections() {
        let recs: serde_json::Map<String, serde_json::Value> = read_records(doc, *kind)
            .into_iter()
            .map(|r| (r.id.clone(), r.to_json()))
            .collect();
        root.insert(kind.name().to_string(), serde_json::Value::Object(recs));
    }
    serde_json::Value::Object(root)
}

/// The records some changes (already applied to `doc`) touched, from the changes'
/// own operations: each operation's object, traced up to its collection. Much
/// cheaper than [`changed_records`]: automerge's diff walks the whole document
/// (4 ms on the demo's inventory for a one-field change), this reads only the
/// changes. `None` when a change works on the document's root (its skeleton) or an
/// object `doc` cannot place, which calls for indexing it all.
pub fn records_touched(
    doc: &Automerge,
    changes: &[automerge::Change],
) -> Option<std::collections::BTreeSet<(Kind, String)>> {
    use automerge::legacy::{Key, ObjectId};
    use automerge::Prop;
    let mut objects = std::collections::BTreeSet::new();
    // Operations on a collection map itself: the key is the record's id.
    let mut direct = Vec::new();
    for c in changes {
        for op in c.decode().operations {
            match op.obj {
                ObjectId::Root => return None,
                ObjectId::Id(id) => {
                    let obj = format!("{}@{}", id.0, id.1);
                    if let Key::Map(k) = &op.key {
                        direct.push((obj.clone(), k.to_string()));
                    }
                    objects.insert(obj);
                }
            }
        }
    }
    let mut out = std::collections::BTreeSet::new();
    let mut collections = std::collections::BTreeMap::new();
    for obj in &objects {
        let (ex, _) = doc.import(obj).ok()?;
        let path = doc.parents(&ex).ok()?.path();
        let kind = match path.first() {
            Some((_, Prop::Map(c))) => Kind::parse(c)?,
            _ => return None,
        };
        match path.get(1) {
            Some((_, Prop::Map(rid))) => {
                out.insert((kind, rid.clone()));
            }
            Some(_) => return None,
            None => {
                collections.insert(obj.clone(), kind);
            }
        }
    }
    for (obj, key) in direct {
        if let Some(kind) = collections.get(&obj) {
            out.insert((*kind, key));
        }
    }
    Some(out)
}

/// The records a span of history touched, from automerge's diff between two sets of
/// heads: lets a merge re-index only what changed. `None` when something outside
/// the records changed (a new document), which calls for indexing it all.
pub fn changed_records(
    doc: &Automerge,
    before: &[automerge::ChangeHash],
    after: &[automerge::ChangeHash],
) -> Option<std::collections::BTreeSet<(Kind, String)>> {
    use automerge::{PatchAction, Prop};
    if before.is_empty() {
        return None;
    }
    let mut out = std::collections::BTreeSet::new();
    for p in doc.diff(before, after) {
        let coll = match p.path.first() {
            Some((_, Prop::Map(c))) => c.clone(),
            _ => return None,
        };
        let kind = Kind::parse(&coll)?;
        let id = match (p.path.get(1), &p.action) {
            (Some((_, Prop::Map(id))), _) => id.clone(),
            (None, PatchAction::PutMap { key, .. }) | (None, PatchAction::DeleteMap { key }) => key.clone(),
            _ => return None,
        };
        out.insert((kind, id));
    }
    Some(out)
}

/// Stock movement's effect on its branch's level.
pub fn movement_delta(m: &Fields) -> i64 {
    if m.get("cancelled").and_then(Value::as_bool).unwrap_or(false) {
        return 0;
    }
    let qty = m.get("qty").and_then(Value::as_int).unwrap_or(0);
    match m.get("kind").and_then(Value::as_str) {
        Some("receive") | Some("transfer-in") | Some("adjust") => qty,
        Some("issue") | Some("transfer-out") => -qty,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::fields;

    /// Documents of every shape the one-pass reader must read as record by record
    /// does: several collections, tickets with work logs made on two replicas, a
    /// page's text, deleted fields and records, a field set concurrently.
    fn documents_of_every_shape() -> Vec<(DocId, Automerge)> {
        let mut out = Vec::new();
        // Inventory: assets, vendors and movements, some changed and deleted.
        let id = DocId::Inventory;
        let mut a = new_doc(&id, &actor(1)).unwrap();
        let mut tx = a.transaction();
        for i in 0..30 {
            let f = fields([
                ("tag", format!("T{i:03}").into()),
                ("notes", if i % 3 == 0 { Value::Null } else { "n".into() }),
                ("count", Value::Int(i)),
                ("bookable", Value::Bool(i % 2 == 0)),
            ]);
            put_record(&mut tx, Kind::Asset, &format!("a{:02}", (i * 7) % 30), &f, true).unwrap();
            put_record(
                &mut tx,
                Kind::Vendor,
                &format!("v{i}"),
                &fields([("name", "V".into())]),
                true,
            )
            .unwrap();
        }
        tx.commit();
        let mut b = a.fork().with_actor(actor(2));
        for (doc, note) in [(&mut a, "from a"), (&mut b, "from b")] {
            let mut tx = doc.transaction();
            put_record(
                &mut tx,
                Kind::Asset,
                "a05",
                &fields([("notes", note.into())]),
                false,
            )
            .unwrap();
            put_record(
                &mut tx,
                Kind::Asset,
                "a06",
                &fields([("tag", Value::Null)]),
                false,
            )
            .unwrap();
            tx.commit();
        }
        a.merge(&mut b).unwrap();
        let coll = collection(&a, Kind::Vendor).unwrap();
        let mut tx = a.transaction();
        tx.delete(&coll, "v3").unwrap();
        tx.commit();
        out.push((id, a));
        // Tickets with work logs, appended on two replicas.
        let id = DocId::Tickets("2026-11".into());
        let mut a = new_doc(&id, &actor(1)).unwrap();
        let mut tx = a.transaction();
        for t in ["t1", "t2", "t3"] {
            put_record(
                &mut tx,
                Kind::Ticket,
                t,
                &fields([("summary", "Paper jam".into())]),
                true,
            )
            .unwrap();
        }
        append_work(
            &mut tx,
            "t1",
            &fields([("note", "looked".into()), ("minutes", Value::Int(5))]),
        )
        .unwrap();
        tx.commit();
        let mut b = a.fork().with_actor(actor(2));
        for (doc, note) in [(&mut a, "a fixed"), (&mut b, "b fixed")] {
            let mut tx = doc.transaction();
            append_work(&mut tx, "t1", &fields([("note", note.into())])).unwrap();
            append_work(&mut tx, "t3", &fields([("note", note.into())])).unwrap();
            tx.commit();
        }
        a.merge(&mut b).unwrap();
        out.push((id, a));
        // A page: its text is automerge text.
        let id = DocId::Page("p".into());
        let mut a = new_doc(&id, &actor(1)).unwrap();
        let mut tx = a.transaction();
        put_record(
            &mut tx,
            Kind::Page,
            "p",
            &fields([("title", "T".into()), ("text", "Reset it.".into())]),
            true,
        )
        .unwrap();
        tx.commit();
        out.push((id, a));
        // A day of bookings, and an empty document.
        let id = DocId::Bookings("CEN".into(), "2026-11-28".into());
        let mut a = new_doc(&id, &actor(1)).unwrap();
        let mut tx = a.transaction();
        for i in 0..40 {
            let f = fields([
                ("station", format!("s{}", i % 7).into()),
                ("start", "2026-11-28T13:00".into()),
                ("end", "2026-11-28T14:00".into()),
            ]);
            put_record(
                &mut tx,
                Kind::Booking,
                &format!("{:08x}", i * 2654435761u64 % 1000003),
                &f,
                true,
            )
            .unwrap();
        }
        tx.commit();
        out.push((id, a));
        let id = DocId::Schedule("2026-11".into());
        out.push((id.clone(), new_doc(&id, &actor(1)).unwrap()));
        out
    }

    #[test]
    fn one_pass_reads_every_record_as_record_by_record_does() {
        for (id, doc) in documents_of_every_shape() {
            let by_record = read_all_by_record(&doc, &id);
            assert_eq!(read_all(&doc, &id), by_record, "{id}");
            if id == DocId::Inventory {
                assert_eq!(by_record.len(), 30 + 29);
            }
            if let DocId::Tickets(_) = id {
                let works: Vec<usize> = by_record.iter().map(|r| r.work.len()).collect();
                assert_eq!(works, vec![3, 0, 2]);
            }
            // And as it loads elsewhere, from its saved bytes.
            let loaded = Automerge::load(&doc.save()).unwrap();
            assert_eq!(read_all(&loaded, &id), by_record, "{id} loaded");
        }
    }

    fn actor(n: u8) -> ActorId {
        ActorId::from([n; 16].as_slice())
    }

    #[test]
    fn skeletons_are_identical_on_every_replica() {
        let mut a = new_doc(&DocId::Inventory, &actor(1)).unwrap();
        let mut b = new_doc(&DocId::Inventory, &actor(2)).unwrap();
        assert_eq!(a.get_heads(), b.get_heads());
        // Both add an asset concurrently; merging keeps both because the
        // collection map is the same object on both sides.
        for (doc, id) in [(&mut a, "a1"), (&mut b, "b1")] {
            let mut tx = doc.transaction();
            put_record(&mut tx, Kind::Asset, id, &fields([("tag", "T".into())]), true).unwrap();
            tx.commit();
        }
        a.merge(&mut b).unwrap();
        assert_eq!(read_records(&a, Kind::Asset).len(), 2);
    }

    #[test]
    fn concurrent_page_edits_both_survive() {
        let mut a = new_doc(&DocId::Page("p".into()), &actor(1)).unwrap();
        let f = fields([
            ("title", "Printers".into()),
            ("text", "Reset the spooler.".into()),
        ]);
        let mut tx = a.transaction();
        put_record(&mut tx, Kind::Page, "p", &f, true).unwrap();
        tx.commit();
        let mut b = a.fork().with_actor(actor(2));
        for (doc, text) in [
            (&mut a, "Reset the spooler. Then power-cycle."),
            (&mut b, "First: Reset the spooler."),
        ] {
            let mut tx = doc.transaction();
            put_record(&mut tx, Kind::Page, "p", &fields([("text", text.into())]), false).unwrap();
            tx.commit();
        }
        a.merge(&mut b).unwrap();
        let text = read_record(&a, Kind::Page, "p").unwrap().fields["text"].display();
        assert_eq!(text, "First: Reset the spooler. Then power-cycle.");
    }

    #[test]
    fn concurrent_field_writes_are_visible_as_conflicts() {
        let mut a = new_doc(&DocId::Inventory, &actor(1)).unwrap();
        let mut tx = a.transaction();
        put_record(
            &mut tx,
            Kind::Asset,
            "x",
            &fields([("branch", "CEN".into())]),
            true,
        )
        .unwrap();
        tx.commit();
        let mut b = a.fork().with_actor(actor(2));
        for (doc, br) in [(&mut a, "NOR"), (&mut b, "SOU")] {
            let mut tx = doc.transaction();
            put_record(&mut tx, Kind::Asset, "x", &fields([("branch", br.into())]), false).unwrap();
            tx.commit();
        }
        a.merge(&mut b).unwrap();
        let vals: Vec<Value> = field_values(&a, Kind::Asset, "x", "branch")
            .into_iter()
            .map(|(v, _)| v)
            .collect();
        assert_eq!(vals.len(), 2);
        assert!(vals.contains(&"NOR".into()) && vals.contains(&"SOU".into()));
    }

    #[test]
    fn work_log_appends_from_two_replicas_both_survive() {
        let mut a = new_doc(&DocId::Tickets("2026-11".into()), &actor(1)).unwrap();
        let mut tx = a.transaction();
        put_record(
            &mut tx,
            Kind::Ticket,
            "t",
            &fields([("summary", "jam".into())]),
            true,
        )
        .unwrap();
        tx.commit();
        let mut b = a.fork().with_actor(actor(2));
        for (doc, what) in [(&mut a, "cleared"), (&mut b, "ordered part")] {
            let mut tx = doc.transaction();
            append_work(&mut tx, "t", &fields([("text", what.into())])).unwrap();
            tx.commit();
        }
        a.merge(&mut b).unwrap();
        assert_eq!(read_record(&a, Kind::Ticket, "t").unwrap().work.len(), 2);
    }

    #[test]
    fn changed_records_names_what_a_merge_touched() {
        let mut a = new_doc(&DocId::Inventory, &actor(1)).unwrap();
        let mut tx = a.transaction();
        put_record(&mut tx, Kind::Asset, "x", &fields([("tag", "A".into())]), true).unwrap();
        put_record(&mut tx, Kind::Asset, "y", &fields([("tag", "B".into())]), true).unwrap();
        tx.commit();
        let before = a.get_heads();
        let mut tx = a.transaction();
        put_record(
            &mut tx,
            Kind::Asset,
            "y",
            &fields([("status", "lost".into())]),
            false,
        )
        .unwrap();
        put_record(
            &mut tx,
            Kind::Vendor,
            "v",
            &fields([("name", "Acme".into())]),
            true,
        )
        .unwrap();
        tx.commit();
        let after = a.get_heads();
        let changed = changed_records(&a, &before, &after).unwrap();
        let want: std::collections::BTreeSet<(Kind, String)> =
            [(Kind::Asset, "y".to_string()), (Kind::Vendor, "v".to_string())].into();
        assert_eq!(changed, want);
        assert!(changed_records(&a, &[], &after).is_none());
    }

    /// Records named from the changes' operations are those automerge's diff names,
    /// for new records, field edits, work-log entries, concurrent edits and text.
    #[test]
    fn records_touched_agrees_with_the_diff() {
        let mut a = new_doc(&DocId::Inventory, &actor(1)).unwrap();
        let mut tx = a.transaction();
        put_record(&mut tx, Kind::Asset, "x", &fields([("tag", "A".into())]), true).unwrap();
        put_record(&mut tx, Kind::Asset, "y", &fields([("tag", "B".into())]), true).unwrap();
        tx.commit();
        let mut b = a.fork().with_actor(actor(2));
        let before = a.get_heads();
        let mut tx = a.transaction();
        put_record(
            &mut tx,
            Kind::Asset,
            "y",
            &fields([("status", "lost".into())]),
            false,
        )
        .unwrap();
        put_record(
            &mut tx,
            Kind::Vendor,
            "v",
            &fields([("name", "Acme".into())]),
            true,
        )
        .unwrap();
        tx.commit();
        let mut tx = b.transaction();
        put_record(
            &mut tx,
            Kind::Asset,
            "x",
            &fields([("status", "in-repair".into())]),
            false,
        )
        .unwrap();
        put_record(
            &mut tx,
            Kind::Asset,
            "y",
            &fields([("status", "deployed".into())]),
            false,
        )
        .unwrap();
        tx.commit();
        let b_changes = b.get_changes(&before);
        a.apply_changes(b_changes.clone()).unwrap();
        let after = a.get_heads();
        let mut all = a.get_changes(&before);
        all.sort_by_key(|c| c.hash());
        let from_diff = changed_records(&a, &before, &after).unwrap();
        assert_eq!(records_touched(&a, &all), Some(from_diff.clone()));
        assert_eq!(from_diff.len(), 3, "{from_diff:?}");
        // Only b's change: x and y.
        let want: std::collections::BTreeSet<(Kind, String)> =
            [(Kind::Asset, "x".to_string()), (Kind::Asset, "y".to_string())].into();
        assert_eq!(records_touched(&a, &b_changes), Some(want));

        // A ticket's work log and a page's text live below the record.
        let mut t = new_doc(&DocId::Tickets("2026-11".into()), &actor(1)).unwrap();
        let mut tx = t.transaction();
        put_record(
            &mut tx,
            Kind::Ticket,
            "t",
            &fields([("summary", "jam".into())]),
            true,
        )
        .unwrap();
        tx.commit();
        let before = t.get_heads();
        let mut tx = t.transaction();
        append_work(&mut tx, "t", &fields([("text", "cleared".into())])).unwrap();
        tx.commit();
        let changes = t.get_changes(&before);
        let want = changed_records(&t, &before, &t.get_heads()).unwrap();
        assert_eq!(records_touched(&t, &changes), Some(want));

        let page_id = "6f1c2b8e-0000-4000-8000-000000000001";
        let mut p = new_doc(&DocId::Page(page_id.into()), &actor(1)).unwrap();
        let mut tx = p.transaction();
        put_record(
            &mut tx,
            Kind::Page,
            page_id,
            &fields([("text", "Printers: restart".into())]),
            true,
        )
        .unwrap();
        tx.commit();
        let before = p.get_heads();
        let mut tx = p.transaction();
        put_record(
            &mut tx,
            Kind::Page,
            page_id,
            &fields([("text", "Printers: restart first".into())]),
            false,
        )
        .unwrap();
        tx.commit();
        let changes = p.get_changes(&before);
        let want = changed_records(&p, &before, &p.get_heads()).unwrap();
        assert_eq!(want.len(), 1);
        assert_eq!(records_touched(&p, &changes), Some(want));

        // The skeleton works on the root: index the whole document.
        let fresh = new_doc(&DocId::Inventory, &actor(3)).unwrap();
        assert_eq!(records_touched(&fresh, &fresh.get_changes(&[])), None);
    }

    #[test]
    fn movement_deltas() {
        let m = |k: &str, q: i64| fields([("kind", k.into()), ("qty", q.into())]);
        assert_eq!(movement_delta(&m("receive", 5)), 5);
        assert_eq!(movement_delta(&m("issue", 2)), -2);
        assert_eq!(movement_delta(&m("transfer-out", 1)), -1);
        assert_eq!(movement_delta(&m("adjust", -3)), -3);
        let mut c = m("issue", 2);
        c.insert("cancelled".into(), true.into());
        assert_eq!(movement_delta(&c), 0);
    }
}
