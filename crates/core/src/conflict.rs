//! Conflicts that matter to people, found after a merge by pure rules over one
//! document's state. The CRDT has already merged everything; these rules find the
//! real-world impossibilities (a station booked twice, an asset sent two ways,
//! stock issued twice) and describe both sides so staff can settle them.
//!
//! A conflict's id is a digest of what clashed, so every replica holding the same
//! changes finds the same conflicts with the same ids. Settling one is an ordinary
//! change (cancel a booking, write the asset's field, adjust or reverse stock) that
//! makes the rule stop firing everywhere it merges.

use crate::doc::{change_of_op, field_values, movement_delta, read_record, read_records, Record};
use crate::docid::DocId;
use crate::hours::parse_datetime;
use crate::schema::Kind;
use crate::validate::booking_is_active;
use crate::value::Value;
use automerge::Automerge;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictKind {
    DoubleBooking,
    AssetField,
    NegativeStock,
    /// Two tickets given the same per-branch number on replicas that were apart.
    DuplicateNumber,
}

/// One side of a conflict: a value or record, and who put it there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Side {
    /// What `--keep` takes to keep this side.
    pub key: String,
    /// The side in words: "NOR", "09:00-10:00 patron G-12", "issue 3".
    pub what: String,
    /// Staff id, where known.
    pub staff: Option<String>,
    /// Device id (record fields) or automerge actor (hex) that wrote it.
    pub device: Option<String>,
    pub actor: Option<String>,
    /// Milliseconds since the epoch, as the writing device's clock said.
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub id: String,
    pub kind: ConflictKind,
    pub doc: String,
    /// The record(s) concerned: station, asset, or stock item.
    pub record: String,
    pub field: Option<String>,
    pub summary: String,
    pub sides: Vec<Side>,
}

fn conflict_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..8])
}

fn side_of_record(r: &Record, key: String, what: String) -> Side {
    Side {
        key,
        what,
        staff: r.str("created_by").map(str::to_string),
        device: r.str("created_device").map(str::to_string),
        actor: None,
        at: r.int("created_at").unwrap_or(0),
    }
}

/// The kinds of record the rules read in a document.
fn kinds_read(id: &DocId) -> &'static [Kind] {
    match id {
        DocId::Bookings(_, _) => &[Kind::Booking],
        DocId::Tickets(_) => &[Kind::Ticket],
        DocId::Inventory => &[Kind::Asset, Kind::Movement, Kind::StockItem],
        _ => &[],
    }
}

/// Every conflict in one document, ordered by id.
pub fn detect(id: &DocId, doc: &Automerge) -> Vec<Conflict> {
    if let DocId::Tickets(_) = id {
        // A month's tickets carry their work logs: read just the numbers, and whole
        // only the tickets that share one (rare).
        let mut by_number: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (rid, number) in crate::doc::field_of_each(doc, Kind::Ticket, "number") {
            if let Some(Value::Str(n)) = number {
                by_number.entry(n).or_default().push(rid);
            }
        }
        let shared: Vec<Record> = by_number
            .into_values()
            .filter(|ids| ids.len() > 1)
            .flatten()
            .filter_map(|rid| read_record(doc, Kind::Ticket, &rid))
            .collect();
        return detect_among(id, doc, &shared);
    }
    let records: Vec<Record> = kinds_read(id)
        .iter()
        .flat_map(|k| read_records(doc, *k))
        .collect();
    detect_among(id, doc, &records)
}

/// [`detect`] after a change that touched only the `changed` records, given the
/// document's conflicts before it. The inventory holds every asset and movement of
/// the library system, so its rules re-run only where the change can have moved
/// them: the asset rule for the assets changed, the stock rule when a movement or
/// stock item changed. The other documents are small and bounded: their rules
/// re-run whole. Gives what `detect` gives.
pub fn detect_changed(
    id: &DocId,
    doc: &Automerge,
    changed: &BTreeSet<(Kind, String)>,
    before: &[Conflict],
) -> Vec<Conflict> {
    if *id != DocId::Inventory {
        return detect(id, doc);
    }
    let assets: BTreeSet<&str> = changed
        .iter()
        .filter(|(k, _)| *k == Kind::Asset)
        .map(|(_, r)| r.as_str())
        .collect();
    let stock = changed
        .iter()
        .any(|(k, _)| matches!(k, Kind::Movement | Kind::StockItem));
    let mut out: Vec<Conflict> = before
        .iter()
        .filter(|c| match c.kind {
            ConflictKind::AssetField => !assets.contains(c.record.as_str()),
            ConflictKind::NegativeStock => !stock,
            ConflictKind::DoubleBooking | ConflictKind::DuplicateNumber => false,
        })
        .cloned()
        .collect();
    let changed_assets: Vec<Record> = assets
        .iter()
        .filter_map(|a| read_record(doc, Kind::Asset, a))
        .collect();
    out.extend(asset_fields(id, doc, changed_assets.iter()));
    if stock {
        let movements = read_records(doc, Kind::Movement);
        let items = read_records(doc, Kind::StockItem);
        out.extend(negative_stock(id, movements.iter(), items.iter()));
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// [`detect`], given the document's records already read (`doc::read_all`, or at
/// least every record of the kinds the rules look at), so a re-index reads them once.
pub fn detect_among(id: &DocId, doc: &Automerge, records: &[Record]) -> Vec<Conflict> {
    let of = |k: Kind| records.iter().filter(move |r| r.kind == k);
    let mut out = match id {
        DocId::Bookings(_, _) => double_bookings(id, of(Kind::Booking)),
        DocId::Tickets(_) => duplicate_numbers(id, of(Kind::Ticket)),
        DocId::Inventory => {
            let mut v = asset_fields(id, doc, of(Kind::Asset));
            v.extend(negative_stock(id, of(Kind::Movement), of(Kind::StockItem)));
            v
        }
        _ => Vec::new(),
    };
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

fn duplicate_numbers<'r>(id: &DocId, tickets: impl Iterator<Item = &'r Record>) -> Vec<Conflict> {
    let mut by_number: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
    for t in tickets {
        if let Some(n) = t.str("number") {
            by_number.entry(n.to_string()).or_default().push(t);
        }
    }
    by_number
        .into_iter()
        .filter(|(_, ts)| ts.len() > 1)
        .map(|(number, ts)| {
            let mut parts = vec!["duplicate-number", number.as_str()];
            parts.extend(ts.iter().map(|t| t.id.as_str()));
            Conflict {
                id: conflict_id(&parts),
                kind: ConflictKind::DuplicateNumber,
                doc: id.to_string(),
                record: number.clone(),
                field: Some("number".into()),
                summary: format!(
                    "{} tickets were numbered {number} on devices that were apart",
                    ts.len()
                ),
                sides: ts
                    .iter()
                    .map(|t| {
                        side_of_record(t, t.id.clone(), t.str("summary").unwrap_or_default().to_string())
                    })
                    .collect(),
            }
        })
        .collect()
}

fn double_bookings<'r>(id: &DocId, bookings: impl Iterator<Item = &'r Record>) -> Vec<Conflict> {
    type Booked<'r> = (&'r Record, chrono::NaiveDateTime, chrono::NaiveDateTime);
    let mut by_station: BTreeMap<String, Vec<Booked<'r>>> = BTreeMap::new();
    for r in bookings {
        if !booking_is_active(&r.fields) {
            continue;
        }
        let (Some(s), Some(e)) = (
            r.str("start").and_then(parse_datetime),
            r.str("end").and_then(parse_datetime),
        ) else {
            continue;
        };
        let station = r.str("station").unwrap_or_default().to_string();
        by_station.entry(station).or_default().push((r, s, e));
    }
    let mut out = Vec::new();
    for (station, mut list) in by_station {
        list.sort_by(|a, b| (a.1, &a.0.id).cmp(&(b.1, &b.0.id)));
        // Sweep: clusters of bookings whose times chain-overlap.
        let mut cluster: Vec<usize> = Vec::new();
        let mut cluster_end = None;
        let flush = |cluster: &mut Vec<usize>, out: &mut Vec<Conflict>| {
            if cluster.len() > 1 {
                let mut ids: Vec<&str> = cluster.iter().map(|i| list[*i].0.id.as_str()).collect();
                ids.sort();
                let mut parts = vec!["double-booking", station.as_str()];
                parts.extend(ids.iter());
                let sides = cluster
                    .iter()
                    .map(|i| {
                        let (r, s, e) = &list[*i];
                        let what = format!(
                            "{}-{} for {}",
                            s.format("%H:%M"),
                            e.format("%H:%M"),
                            r.str("patron").unwrap_or("?")
                        );
                        side_of_record(r, r.id.clone(), what)
                    })
                    .collect();
                let (_, s, _) = &list[cluster[0]];
                out.push(Conflict {
                    id: conflict_id(&parts),
                    kind: ConflictKind::DoubleBooking,
                    doc: id.to_string(),
                    record: station.clone(),
                    field: None,
                    summary: format!(
                        "station booked {} times at overlapping times on {}",
                        cluster.len(),
                        s.date()
                    ),
                    sides,
                });
            }
            cluster.clear();
        };
        for (i, (_, s, e)) in list.iter().enumerate() {
            match cluster_end {
                Some(end) if *s < end => {
                    cluster.push(i);
                    if *e > end {
                        cluster_end = Some(*e);
                    }
                }
                _ => {
                    flush(&mut cluster, &mut out);
                    cluster.push(i);
                    cluster_end = Some(*e);
                }
            }
        }
        flush(&mut cluster, &mut out);
    }
    out
}

/// Fields of an asset whose concurrent values staff must choose between.
pub const CONTESTED_ASSET_FIELDS: &[&str] = &["branch", "location", "status"];

fn asset_fields<'r>(id: &DocId, doc: &Automerge, assets: impl Iterator<Item = &'r Record>) -> Vec<Conflict> {
    let mut out = Vec::new();
    for asset in assets {
        for field in CONTESTED_ASSET_FIELDS {
            let values = field_values(doc, Kind::Asset, &asset.id, field);
            let distinct: std::collections::BTreeSet<&Value> = values.iter().map(|(v, _)| v).collect();
            if values.len() < 2 || distinct.len() < 2 {
                continue;
            }
            let mut ops: Vec<String> = values.iter().map(|(_, op)| op.to_string()).collect();
            ops.sort();
            let mut parts = vec!["asset-field", asset.id.as_str(), field];
            parts.extend(ops.iter().map(String::as_str));
            let mut sides: Vec<Side> = values
                .iter()
                .map(|(v, op)| {
                    let change = change_of_op(doc, op);
                    let msg = change.as_ref().and_then(|c| c.message.clone());
                    Side {
                        key: v.display(),
                        what: v.display(),
                        staff: msg.and_then(|m| m.staff),
                        device: None,
                        actor: change.as_ref().map(|c| c.actor.clone()),
                        at: change.map(|c| c.time).unwrap_or(0),
                    }
                })
                .collect();
            sides.sort_by(|a, b| (&a.key, &a.actor).cmp(&(&b.key, &b.actor)));
            out.push(Conflict {
                id: conflict_id(&parts),
                kind: ConflictKind::AssetField,
                doc: id.to_string(),
                record: asset.id.clone(),
                field: Some(field.to_string()),
                summary: format!(
                    "asset {} had its {field} set to different values on different devices",
                    asset.str("tag").unwrap_or(&asset.id)
                ),
                sides,
            });
        }
    }
    out
}

fn negative_stock<'r>(
    id: &DocId,
    movements: impl Iterator<Item = &'r Record>,
    items: impl Iterator<Item = &'r Record> + Clone,
) -> Vec<Conflict> {
    let mut by_level: BTreeMap<(String, String), Vec<&Record>> = BTreeMap::new();
    for m in movements {
        let key = (
            m.str("item").unwrap_or_default().to_string(),
            m.str("branch").unwrap_or_default().to_string(),
        );
        by_level.entry(key).or_default().push(m);
    }
    let mut out = Vec::new();
    for ((item, branch), mut moves) in by_level {
        let level: i64 = moves.iter().map(|m| movement_delta(&m.fields)).sum();
        if level >= 0 {
            continue;
        }
        // The outgoing movements are the sides: reversing one, or recounting, settles it.
        moves.sort_by(|a, b| (a.int("created_at"), &a.id).cmp(&(b.int("created_at"), &b.id)));
        let outgoing: Vec<&Record> = moves
            .iter()
            .copied()
            .filter(|m| movement_delta(&m.fields) < 0)
            .collect();
        let mut ids: Vec<&str> = moves.iter().map(|m| m.id.as_str()).collect();
        ids.sort();
        let mut parts = vec!["negative-stock", item.as_str(), branch.as_str()];
        parts.extend(ids.iter());
        let item_name = items
            .clone()
            .find(|r| r.id == item)
            .and_then(|r| r.str("name").map(str::to_string))
            .unwrap_or_else(|| item.clone());
        out.push(Conflict {
            id: conflict_id(&parts),
            kind: ConflictKind::NegativeStock,
            doc: id.to_string(),
            record: item.clone(),
            field: Some(branch.clone()),
            summary: format!("{item_name} at {branch} went to {level}: more was issued than the branch had"),
            sides: outgoing
                .into_iter()
                .map(|m| {
                    let what = format!("{} {}", m.str("kind").unwrap_or("?"), m.int("qty").unwrap_or(0));
                    side_of_record(m, m.id.clone(), what)
                })
                .collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{new_doc, put_record};
    use crate::value::{fields, Fields};
    use automerge::ActorId;

    fn actor(n: u8) -> ActorId {
        ActorId::from([n; 16].as_slice())
    }
    fn put(doc: &mut Automerge, kind: Kind, id: &str, f: Fields, create: bool) {
        let mut tx = doc.transaction();
        put_record(&mut tx, kind, id, &f, create).unwrap();
        tx.commit();
    }
    fn booking(station: &str, s: &str, e: &str) -> Fields {
        fields([
            ("station", station.into()),
            ("start", s.into()),
            ("end", e.into()),
            ("status", "booked".into()),
            ("patron", "G-1".into()),
        ])
    }

    #[test]
    fn overlapping_bookings_of_one_station_conflict() {
        let id = DocId::Bookings("CEN".into(), "2026-11-28".into());
        let mut a = new_doc(&id, &actor(1)).unwrap();
        let mut b = new_doc(&id, &actor(2)).unwrap();
        put(
            &mut a,
            Kind::Booking,
            "b1",
            booking("s1", "2026-11-28T10:00", "2026-11-28T11:00"),
            true,
        );
        put(
            &mut b,
            Kind::Booking,
            "b2",
            booking("s1", "2026-11-28T10:30", "2026-11-28T11:30"),
            true,
        );
        put(
            &mut b,
            Kind::Booking,
            "b3",
            booking("s2", "2026-11-28T10:30", "2026-11-28T11:30"),
            true,
        );
        put(
            &mut b,
            Kind::Booking,
            "b4",
            booking("s1", "2026-11-28T11:30", "2026-11-28T12:00"),
            true,
        );
        assert!(detect(&id, &a).is_empty());
        a.merge(&mut b).unwrap();
        let c = detect(&id, &a);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].kind, ConflictKind::DoubleBooking);
        let keys: Vec<&str> = c[0].sides.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, vec!["b1", "b2"]);
        // Cancelling one side settles it.
        put(
            &mut a,
            Kind::Booking,
            "b2",
            fields([("status", "cancelled".into())]),
            false,
        );
        assert!(detect(&id, &a).is_empty());
    }

    #[test]
    fn tickets_numbered_alike_apart_conflict() {
        let id = DocId::Tickets("2026-11".into());
        let mut a = new_doc(&id, &actor(1)).unwrap();
        let mut b = new_doc(&id, &actor(2)).unwrap();
        let t = |s: &str| fields([("number", "CEN-0007".into()), ("summary", s.into())]);
        put(&mut a, Kind::Ticket, "t1", t("jam"), true);
        put(&mut b, Kind::Ticket, "t2", t("no network"), true);
        // Three tickets share another number; others have their own or none.
        let u = |n: &str| fields([("number", n.into()), ("summary", "toner".into())]);
        put(&mut a, Kind::Ticket, "t3", u("EAS-0002"), true);
        put(&mut b, Kind::Ticket, "t4", u("EAS-0002"), true);
        put(&mut b, Kind::Ticket, "t5", u("EAS-0002"), true);
        put(&mut a, Kind::Ticket, "t6", u("EAS-0003"), true);
        put(
            &mut a,
            Kind::Ticket,
            "t7",
            fields([("summary", "unnumbered".into())]),
            true,
        );
        a.merge(&mut b).unwrap();
        let c = detect(&id, &a);
        // Reading only the numbers finds what the rule over every ticket finds.
        let all: Vec<Record> = read_records(&a, Kind::Ticket);
        assert_eq!(c, detect_among(&id, &a, &all));
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|c| c.kind == ConflictKind::DuplicateNumber));
        let sides: Vec<usize> = c.iter().map(|c| c.sides.len()).collect();
        assert!(sides.contains(&2) && sides.contains(&3));
        for rid in ["t4", "t5"] {
            put(
                &mut a,
                Kind::Ticket,
                rid,
                fields([("number", format!("EAS-01{rid}").into())]),
                false,
            );
        }
        let c = detect(&id, &a);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].kind, ConflictKind::DuplicateNumber);
        put(
            &mut a,
            Kind::Ticket,
            "t2",
            fields([("number", "CEN-0008".into())]),
            false,
        );
        assert!(detect(&id, &a).is_empty());
    }

    #[test]
    fn back_to_back_bookings_do_not_conflict() {
        let id = DocId::Bookings("CEN".into(), "2026-11-28".into());
        let mut a = new_doc(&id, &actor(1)).unwrap();
        put(
            &mut a,
            Kind::Booking,
            "b1",
            booking("s1", "2026-11-28T10:00", "2026-11-28T11:00"),
            true,
        );
        put(
            &mut a,
            Kind::Booking,
            "b2",
            booking("s1", "2026-11-28T11:00", "2026-11-28T12:00"),
            true,
        );
        assert!(detect(&id, &a).is_empty());
    }

    #[test]
    fn asset_moved_to_two_branches_conflicts_until_settled() {
        let id = DocId::Inventory;
        let mut a = new_doc(&id, &actor(1)).unwrap();
        put(
            &mut a,
            Kind::Asset,
            "x",
            fields([("tag", "A1".into()), ("branch", "CEN".into())]),
            true,
        );
        let mut b = a.fork().with_actor(actor(2));
        put(
            &mut a,
            Kind::Asset,
            "x",
            fields([("branch", "NOR".into())]),
            false,
        );
        put(
            &mut b,
            Kind::Asset,
            "x",
            fields([("branch", "SOU".into())]),
            false,
        );
        a.merge(&mut b).unwrap();
        b.merge(&mut a).unwrap();
        let (ca, cb) = (detect(&id, &a), detect(&id, &b));
        assert_eq!(ca.len(), 1);
        assert_eq!(ca, cb, "both replicas list the same conflict");
        assert_eq!(ca[0].field.as_deref(), Some("branch"));
        let keys: Vec<&str> = ca[0].sides.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, vec!["NOR", "SOU"]);
        put(
            &mut a,
            Kind::Asset,
            "x",
            fields([("branch", "SOU".into())]),
            false,
        );
        assert!(detect(&id, &a).is_empty());
    }

    #[test]
    fn concurrent_equal_values_are_not_a_conflict() {
        let id = DocId::Inventory;
        let mut a = new_doc(&id, &actor(1)).unwrap();
        put(
            &mut a,
            Kind::Asset,
            "x",
            fields([("status", "deployed".into())]),
            true,
        );
        let mut b = a.fork().with_actor(actor(2));
        put(
            &mut a,
            Kind::Asset,
            "x",
            fields([("status", "in-repair".into())]),
            false,
        );
        put(
            &mut b,
            Kind::Asset,
            "x",
            fields([("status", "in-repair".into())]),
            false,
        );
        a.merge(&mut b).unwrap();
        assert!(detect(&id, &a).is_empty());
    }

    #[test]
    fn concurrent_issues_below_zero_conflict() {
        let id = DocId::Inventory;
        let mut a = new_doc(&id, &actor(1)).unwrap();
        let mv = |k: &str, q: i64| {
            fields([
                ("item", "toner".into()),
                ("branch", "CEN".into()),
                ("kind", k.into()),
                ("qty", q.into()),
            ])
        };
        put(&mut a, Kind::Movement, "m0", mv("receive", 3), true);
        let mut b = a.fork().with_actor(actor(2));
        put(&mut a, Kind::Movement, "m1", mv("issue", 2), true);
        put(&mut b, Kind::Movement, "m2", mv("issue", 2), true);
        assert!(detect(&id, &a).is_empty());
        a.merge(&mut b).unwrap();
        let c = detect(&id, &a);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].kind, ConflictKind::NegativeStock);
        assert_eq!(c[0].sides.len(), 2);
        put(
            &mut a,
            Kind::Movement,
            "m2",
            fields([("cancelled", true.into())]),
            false,
        );
        assert!(detect(&id, &a).is_empty());
    }

    /// Merges into an inventory with standing conflicts: re-running the rules only
    /// where a merge changed records lists exactly what a whole re-run lists.
    #[test]
    fn rules_rerun_on_changed_records_agree_with_a_whole_rerun() {
        let id = DocId::Inventory;
        let mut base = new_doc(&id, &actor(1)).unwrap();
        for n in 0..6 {
            put(
                &mut base,
                Kind::Asset,
                &format!("x{n}"),
                fields([("tag", format!("A{n}").into()), ("branch", "CEN".into())]),
                true,
            );
        }
        let mv = |k: &str, q: i64| {
            fields([
                ("item", "toner".into()),
                ("branch", "CEN".into()),
                ("kind", k.into()),
                ("qty", q.into()),
            ])
        };
        put(&mut base, Kind::Movement, "m0", mv("receive", 3), true);
        let mut a = base.fork().with_actor(actor(2));
        let mut b = base.fork().with_actor(actor(3));
        let mut c = base.fork().with_actor(actor(4));
        // Two standing conflicts (x0's branch, the toner) from a and b...
        put(
            &mut a,
            Kind::Asset,
            "x0",
            fields([("branch", "NOR".into())]),
            false,
        );
        put(
            &mut b,
            Kind::Asset,
            "x0",
            fields([("branch", "SOU".into())]),
            false,
        );
        put(&mut a, Kind::Movement, "m1", mv("issue", 2), true);
        put(&mut b, Kind::Movement, "m2", mv("issue", 2), true);
        // ...then c, apart: a new clash on x1, a settlement of x0, an unrelated edit.
        put(
            &mut c,
            Kind::Asset,
            "x1",
            fields([("status", "retired".into())]),
            false,
        );
        put(
            &mut a,
            Kind::Asset,
            "x1",
            fields([("status", "in-repair".into())]),
            false,
        );
        put(
            &mut c,
            Kind::Asset,
            "x3",
            fields([("notes", "dusty".into())]),
            false,
        );
        let mut steps: Vec<Automerge> = vec![a.clone(), b.clone(), c.clone()];
        let mut doc = base.clone();
        let mut standing = detect(&id, &doc);
        for other in &mut steps {
            let before = doc.get_heads();
            doc.merge(other).unwrap();
            let changed = crate::doc::changed_records(&doc, &before, &doc.get_heads()).unwrap();
            let incremental = detect_changed(&id, &doc, &changed, &standing);
            assert_eq!(incremental, detect(&id, &doc));
            standing = incremental;
        }
        assert_eq!(standing.len(), 3, "x0 branch, x1 status, toner: {standing:?}");
        // A local settlement of x0 and of the toner, as changes go: rules agree again.
        let before = doc.get_heads();
        put(
            &mut doc,
            Kind::Asset,
            "x0",
            fields([("branch", "SOU".into())]),
            false,
        );
        put(
            &mut doc,
            Kind::Movement,
            "m2",
            fields([("cancelled", true.into())]),
            false,
        );
        let changed = crate::doc::changed_records(&doc, &before, &doc.get_heads()).unwrap();
        let incremental = detect_changed(&id, &doc, &changed, &standing);
        assert_eq!(incremental, detect(&id, &doc));
        assert_eq!(incremental.len(), 1);
    }
}
