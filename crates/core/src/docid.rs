//! Document ids and the partitioning rule: which document a record lives in.
//!
//! Documents are bounded (a month of tickets, a day of one branch's bookings) so
//! that sync and load pay only for what changed, and a day of bookings can later
//! be purged whole on every replica.

use crate::schema::Kind;
use crate::value::Fields;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DocId {
    System,
    Inventory,
    Tasks,
    /// Tickets by month opened: `tickets/2026-11`.
    Tickets(String),
    /// Bookings by branch and day: `bookings/CEN/2026-11-28`.
    Bookings(String, String),
    /// Daily use counts by branch and month: `usage/CEN/2026-11`.
    Usage(String, String),
    /// On-call, training and task runs by month: `schedule/2026-11`.
    Schedule(String),
    /// Retrieval requests by month: `retrievals/2026-11`.
    Retrievals(String),
    /// One documentation page: `pages/<uuid>`.
    Page(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a document id: {0:?}")]
pub struct BadDocId(pub String);

pub(crate) fn is_month(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[5..].iter().all(u8::is_ascii_digit)
        && matches!(
            &s[5..],
            "01" | "02" | "03" | "04" | "05" | "06" | "07" | "08" | "09" | "10" | "11" | "12"
        )
}

/// `YYYY-MM-DD` naming a real day. By hand rather than with a chrono format string:
/// every manifest read parses a thousand of these.
pub(crate) fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    match (num(0..4), num(5..7), num(8..10)) {
        (Some(y), Some(m), Some(d)) => chrono::NaiveDate::from_ymd_opt(y as i32, m, d).is_some(),
        _ => false,
    }
}

pub fn is_branch_code(s: &str) -> bool {
    (2..=8).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

impl DocId {
    /// Collections (root maps) this document's skeleton holds.
    pub fn collections(&self) -> &'static [Kind] {
        match self {
            DocId::System => &[Kind::Branch, Kind::Location, Kind::Staff, Kind::Device],
            DocId::Inventory => &[
                Kind::Vendor,
                Kind::Asset,
                Kind::Licence,
                Kind::Seat,
                Kind::StockItem,
                Kind::Movement,
                Kind::Replacement,
                Kind::Transfer,
            ],
            DocId::Tasks => &[Kind::Task],
            DocId::Tickets(_) => &[Kind::Ticket],
            DocId::Bookings(_, _) => &[Kind::Booking],
            DocId::Usage(_, _) => &[Kind::Usage],
            DocId::Schedule(_) => &[Kind::TaskRun, Kind::Oncall, Kind::Training],
            DocId::Retrievals(_) => &[Kind::Retrieval],
            DocId::Page(_) => &[Kind::Page],
        }
    }

    /// The branch a document belongs to, where it belongs to one.
    pub fn branch(&self) -> Option<&str> {
        match self {
            DocId::Bookings(b, _) | DocId::Usage(b, _) => Some(b),
            _ => None,
        }
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocId::System => f.write_str("system"),
            DocId::Inventory => f.write_str("inventory"),
            DocId::Tasks => f.write_str("tasks"),
            DocId::Tickets(m) => write!(f, "tickets/{m}"),
            DocId::Bookings(b, d) => write!(f, "bookings/{b}/{d}"),
            DocId::Usage(b, m) => write!(f, "usage/{b}/{m}"),
            DocId::Schedule(m) => write!(f, "schedule/{m}"),
            DocId::Retrievals(m) => write!(f, "retrievals/{m}"),
            DocId::Page(id) => write!(f, "pages/{id}"),
        }
    }
}

impl FromStr for DocId {
    type Err = BadDocId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadDocId(s.chars().take(80).collect());
        let parts: Vec<&str> = s.split('/').collect();
        let id = match parts.as_slice() {
            ["system"] => DocId::System,
            ["inventory"] => DocId::Inventory,
            ["tasks"] => DocId::Tasks,
            ["tickets", m] if is_month(m) => DocId::Tickets(m.to_string()),
            ["bookings", b, d] if is_branch_code(b) && is_date(d) => {
                DocId::Bookings(b.to_string(), d.to_string())
            }
            ["usage", b, m] if is_branch_code(b) && is_month(m) => DocId::Usage(b.to_string(), m.to_string()),
            ["schedule", m] if is_month(m) => DocId::Schedule(m.to_string()),
            ["retrievals", m] if is_month(m) => DocId::Retrievals(m.to_string()),
            ["pages", id] if uuid::Uuid::parse_str(id).is_ok() && id.len() == 36 => {
                DocId::Page(id.to_string())
            }
            _ => return Err(bad()),
        };
        Ok(id)
    }
}

impl TryFrom<String> for DocId {
    type Error = BadDocId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}
impl From<DocId> for String {
    fn from(d: DocId) -> String {
        d.to_string()
    }
}

fn month_of(s: &str) -> Option<String> {
    let m = s.get(..7)?;
    is_month(m).then(|| m.to_string())
}
fn date_of(s: &str) -> Option<String> {
    let d = s.get(..10)?;
    is_date(d).then(|| d.to_string())
}

/// Which document a record of `kind` with these (validated, complete) fields lives in.
/// Returns the name of the field that decides it when that field is unusable.
pub fn doc_for(kind: Kind, id: &uuid::Uuid, fields: &Fields) -> Result<DocId, &'static str> {
    let get = |name: &'static str| fields.get(name).and_then(|v| v.as_str()).ok_or(name);
    Ok(match kind {
        Kind::Branch | Kind::Location | Kind::Staff | Kind::Device => DocId::System,
        Kind::Vendor
        | Kind::Asset
        | Kind::Licence
        | Kind::Seat
        | Kind::StockItem
        | Kind::Movement
        | Kind::Replacement
        | Kind::Transfer => DocId::Inventory,
        Kind::Task => DocId::Tasks,
        Kind::Ticket => DocId::Tickets(month_of(get("opened_at")?).ok_or("opened_at")?),
        Kind::TaskRun => DocId::Schedule(month_of(get("date")?).ok_or("date")?),
        Kind::Oncall | Kind::Training => DocId::Schedule(month_of(get("start")?).ok_or("start")?),
        Kind::Booking => DocId::Bookings(get("branch")?.to_string(), date_of(get("start")?).ok_or("start")?),
        Kind::Usage => DocId::Usage(get("branch")?.to_string(), month_of(get("date")?).ok_or("date")?),
        Kind::Retrieval => DocId::Retrievals(month_of(get("requested_at")?).ok_or("requested_at")?),
        Kind::Page => DocId::Page(id.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_ids_round_trip() {
        for s in [
            "system",
            "inventory",
            "tasks",
            "tickets/2026-11",
            "bookings/CEN/2026-11-28",
            "bookings/CEN/2024-02-29",
            "usage/NOR2/2026-02",
            "schedule/2026-01",
            "retrievals/2026-12",
            "pages/6f1c2b8e-0000-4000-8000-000000000001",
        ] {
            let d: DocId = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(d.to_string(), s);
        }
    }

    #[test]
    fn bad_doc_ids_are_refused() {
        for s in [
            "",
            "systems",
            "tickets/2026-13",
            "tickets/2026-1",
            "bookings/cen/2026-11-28",
            "bookings/CEN/2026-02-30",
            "bookings/CEN/2025-02-29",
            "bookings/CEN/2026-1-128",
            "bookings/CEN/2026+11-28",
            "bookings/CEN/+026-11-28",
            "bookings/CEN/2026-11-28 ",
            "usage/CEN",
            "pages/not-a-uuid",
            "system/extra",
        ] {
            assert!(s.parse::<DocId>().is_err(), "{s} should be refused");
        }
    }

    #[test]
    fn bookings_are_partitioned_by_branch_and_day() {
        let f = crate::value::fields([("branch", "CEN".into()), ("start", "2026-11-28T10:00".into())]);
        let d = doc_for(Kind::Booking, &uuid::Uuid::nil(), &f);
        assert_eq!(d, Ok(DocId::Bookings("CEN".into(), "2026-11-28".into())));
    }
}
