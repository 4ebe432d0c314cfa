//! Answers validation's questions from the query index, inside the write
//! transaction, so a check and the write it guards see the same data.

use branchline_core::doc::Record;
use branchline_core::schema::Kind;
use branchline_core::validate::Lookup;
use branchline_core::{Fields, Value};
use branchline_store::{Filter, Tx};
use std::cell::RefCell;
use std::collections::HashMap;

/// Bookings of a (branch, day), as (id, fields).
type DayBookings = HashMap<(String, String), Vec<(String, Fields)>>;

pub struct TxLookup<'a, 'b> {
    pub tx: &'a Tx<'b>,
    /// Records written earlier in the same batch, not yet visible to the caches.
    bookings: RefCell<DayBookings>,
    records: RefCell<HashMap<String, Option<Fields>>>,
}

impl<'a, 'b> TxLookup<'a, 'b> {
    pub fn new(tx: &'a Tx<'b>) -> Self {
        TxLookup {
            tx,
            bookings: RefCell::default(),
            records: RefCell::default(),
        }
    }

    /// Tell the caches about a record just written in this transaction.
    pub fn written(&self, r: &Record) {
        self.records
            .borrow_mut()
            .insert(r.id.clone(), Some(r.fields.clone()));
        if r.kind == Kind::Booking {
            let day = r
                .str("start")
                .and_then(|s| s.get(..10))
                .unwrap_or_default()
                .to_string();
            let key = (r.str("branch").unwrap_or_default().to_string(), day);
            let mut b = self.bookings.borrow_mut();
            if let Some(list) = b.get_mut(&key) {
                list.retain(|(id, _)| id != &r.id);
                list.push((r.id.clone(), r.fields.clone()));
            }
        }
    }

    /// Resolve `key` to a record id of `kind`: exact id, unique id prefix, or natural key.
    pub fn resolve_id(&self, kind: Kind, key: &str) -> Result<Option<String>, String> {
        let key = key.trim();
        if key.is_empty() {
            return Ok(None);
        }
        if let Ok(Some((r, _))) = self.tx.record(key) {
            if r.kind == kind {
                return Ok(Some(r.id));
            }
        }
        if let Some(nk) = kind.natural_key() {
            let found = self.tx.by_key(kind, key).map_err(|e| e.to_string())?;
            let _ = nk;
            match found.len() {
                0 => {}
                1 => return Ok(found.into_iter().next().map(|r| r.id)),
                _ => {
                    let active: Vec<&Record> = found.iter().filter(|r| !r.flag("retired")).collect();
                    if active.len() == 1 {
                        return Ok(Some(active[0].id.clone()));
                    }
                    return Err(format!(
                        "{} {kind} records are called '{key}'; use an id ({})",
                        found.len(),
                        found.iter().map(|r| &r.id[..8]).collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
        if key.len() >= 4 && key.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-') {
            let ids = self
                .tx
                .ids_with_prefix(kind, &key.to_ascii_lowercase())
                .map_err(|e| e.to_string())?;
            match ids.len() {
                0 => {}
                1 => return Ok(ids.into_iter().next()),
                _ => return Err(format!("id prefix '{key}' is ambiguous")),
            }
        }
        Ok(None)
    }
}

impl Lookup for TxLookup<'_, '_> {
    fn record(&self, kind: Kind, id: &str) -> Option<Fields> {
        if let Some(hit) = self.records.borrow().get(id) {
            return hit.clone();
        }
        let found = match self.tx.record(id) {
            Ok(Some((r, _))) if r.kind == kind => Some(r.fields),
            _ => None,
        };
        self.records.borrow_mut().insert(id.to_string(), found.clone());
        found
    }

    fn resolve(&self, kind: Kind, key: &str) -> Result<Option<String>, String> {
        self.resolve_id(kind, key)
    }

    fn find(&self, kind: Kind, field: &str, value: &Value) -> Vec<(String, Fields)> {
        if kind.natural_key() == Some(field) {
            if let Some(v) = value.as_str() {
                return self
                    .tx
                    .by_key(kind, v)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|r| r.fields.get(field) == Some(value))
                    .map(|r| (r.id, r.fields))
                    .collect();
            }
        }
        let filter = Filter {
            fields: vec![(field.to_string(), value.display())],
            ..Default::default()
        };
        self.tx
            .list(kind, &filter)
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r.id, r.fields))
            .collect()
    }

    fn stock_level(&self, item: &str, branch: &str) -> i64 {
        self.tx.stock_level(item, branch).unwrap_or(0)
    }

    fn bookings_on(&self, branch: &str, date: &str) -> Vec<(String, Fields)> {
        let key = (branch.to_string(), date.to_string());
        if let Some(v) = self.bookings.borrow().get(&key) {
            return v.clone();
        }
        let doc = format!("bookings/{branch}/{date}");
        let list: Vec<(String, Fields)> = self
            .tx
            .records_in_doc(&doc)
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.kind == Kind::Booking)
            .map(|r| (r.id, r.fields))
            .collect();
        self.bookings.borrow_mut().insert(key, list.clone());
        list
    }
}
