//! Composite read views for a screen: a branch's day at a glance and its booking
//! grid, and validation without a write (forms check as staff type). Each is one read
//! transaction, so a desktop shell's command is one call.

use crate::lookup::TxLookup;
use crate::{Node, NodeError, Result, StockLevel};
use branchline_core::hours::{parse_closures, parse_datetime, Hours};
use branchline_core::schema::Kind;
use branchline_core::validate::{self, Ctx, Op};
use branchline_core::{doc::Record, Fields, Value};
use branchline_store::Filter;
use chrono::{Duration, NaiveDate, NaiveDateTime};
use serde::Serialize;

/// A bookable public PC and what is on it now and next.
#[derive(Debug, Clone, Serialize)]
pub struct Station {
    pub id: String,
    pub tag: String,
    pub name: String,
    pub status: String,
    pub express: bool,
    pub now: Option<Record>,
    pub next: Option<Record>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncHealth {
    pub connected: u64,
    pub known: u64,
    pub last_synced: Option<i64>,
    pub waiting: u64,
}

/// A branch's day at a glance.
#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub branch: Record,
    pub date: String,
    pub now: String,
    pub hours_today: Option<(String, String)>,
    pub stations: Vec<Station>,
    pub bookings_today: usize,
    pub open_tickets: Vec<Record>,
    pub low_stock: Vec<StockLevel>,
    pub tasks_due: Vec<Record>,
    pub oncall: Vec<Record>,
    pub conflicts: usize,
    pub sync: SyncHealth,
}

/// Everything a day grid of stations × time needs.
#[derive(Debug, Clone, Serialize)]
pub struct BookingDay {
    pub branch: Record,
    pub date: String,
    pub hours: Option<(String, String)>,
    pub stations: Vec<Record>,
    pub bookings: Vec<Record>,
}

/// How many days ahead a task counts as due on the dashboard.
const DUE_WITHIN_DAYS: i64 = 7;
const OPEN_TICKET_LIMIT: usize = 200;

fn hhmm(m: u32) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

fn is_true(r: &Record, f: &str) -> bool {
    matches!(r.get(f), Some(Value::Bool(true)))
}

fn branch_hours(branch: &Record, date: NaiveDate) -> Option<(String, String)> {
    let hours = Hours::parse(branch.str("hours").unwrap_or_default()).ok()?;
    let closures = parse_closures(branch.str("closures").unwrap_or_default()).unwrap_or_default();
    hours.on(date, &closures).map(|(o, c)| (hhmm(o), hhmm(c)))
}

fn stations_of(tx: &branchline_store::Tx<'_>, branch: &str) -> Result<Vec<Record>> {
    let filter = Filter {
        branch: Some(branch.to_string()),
        ..Default::default()
    };
    let mut out: Vec<Record> = tx
        .list(Kind::Asset, &filter)?
        .into_iter()
        .filter(|a| is_true(a, "bookable") && !matches!(a.str("status"), Some("retired" | "lost")))
        .collect();
    out.sort_by(|a, b| a.str("tag").cmp(&b.str("tag")));
    Ok(out)
}

fn bookings_on(tx: &branchline_store::Tx<'_>, branch: &str, date: NaiveDate) -> Result<Vec<Record>> {
    let day = date.to_string();
    let filter = Filter {
        branch: Some(branch.to_string()),
        from_day: Some(day.clone()),
        to_day: Some(day),
        ..Default::default()
    };
    let mut out = tx.list(Kind::Booking, &filter)?;
    out.sort_by(|a, b| (a.str("start"), a.str("station")).cmp(&(b.str("start"), b.str("station"))));
    Ok(out)
}

fn branch_record(tx: &branchline_store::Tx<'_>, code: &str) -> Result<Record> {
    let look = TxLookup::new(tx);
    let not_found = || NodeError::NotFound {
        kind: "branch".into(),
        key: code.into(),
    };
    let id = look
        .resolve_id(Kind::Branch, code)
        .ok()
        .flatten()
        .ok_or_else(not_found)?;
    tx.record(&id)?.map(|(r, _)| r).ok_or_else(not_found)
}

fn live(b: &Record) -> bool {
    matches!(b.str("status"), Some("booked" | "checked-in"))
}

fn within(b: &Record, t: NaiveDateTime) -> bool {
    let (Some(s), Some(e)) = (
        b.str("start").and_then(parse_datetime),
        b.str("end").and_then(parse_datetime),
    ) else {
        return false;
    };
    s <= t && t < e
}

/// The pure part of the dashboard: what is on each station now and next.
pub fn stations_now(stations: &[Record], bookings: &[Record], now: NaiveDateTime) -> Vec<Station> {
    let now_s = now.format("%Y-%m-%dT%H:%M").to_string();
    stations
        .iter()
        .map(|s| {
            let mine = bookings
                .iter()
                .filter(|b| b.str("station") == Some(s.id.as_str()) && live(b));
            let mut current = None;
            let mut next: Option<&Record> = None;
            for b in mine {
                if within(b, now) {
                    current = Some(b.clone());
                } else if b.str("start").is_some_and(|st| st > now_s.as_str())
                    && next.is_none_or(|n| b.str("start") < n.str("start"))
                {
                    next = Some(b);
                }
            }
            Station {
                id: s.id.clone(),
                tag: s.str("tag").unwrap_or_default().to_string(),
                name: s.str("name").unwrap_or_default().to_string(),
                status: s.str("status").unwrap_or_default().to_string(),
                express: is_true(s, "express"),
                now: current,
                next: next.cloned(),
            }
        })
        .collect()
}

impl Node {
    /// A branch's day: stations free or in use, bookings, open tickets, low stock,
    /// tasks due, who is on call, conflicts and (as last recorded) sync health.
    pub fn dashboard(&mut self, branch: &str, date: Option<NaiveDate>) -> Result<Dashboard> {
        let (_, now) = self.now();
        let date = date.unwrap_or(now.date());
        let levels = self.stock_levels(Some(branch))?;
        let conflicts = self.conflicts()?.len();
        let peers = self.sync_status()?;
        let known = self.known_peers()?.len() as u64;
        let sync = SyncHealth {
            connected: peers.iter().filter(|p| p.connected).count() as u64,
            known: known.max(peers.len() as u64),
            last_synced: peers.iter().filter_map(|p| p.last_synced).max(),
            waiting: peers.iter().map(|p| p.docs_waiting).sum(),
        };
        self.store.read(|tx| {
            let branch_rec = branch_record(tx, branch)?;
            let code = branch_rec.str("code").unwrap_or(branch).to_string();
            let stations = stations_of(tx, &code)?;
            let bookings = bookings_on(tx, &code, date)?;
            let bookings_today = bookings
                .iter()
                .filter(|b| b.str("status") != Some("cancelled"))
                .count();
            let by_branch = Filter {
                branch: Some(code.clone()),
                ..Default::default()
            };
            let mut open_tickets: Vec<Record> = tx
                .list(Kind::Ticket, &by_branch)?
                .into_iter()
                .filter(|t| !matches!(t.str("status"), Some("solved" | "closed")))
                .collect();
            let urgency = |t: &Record| match t.str("urgency") {
                Some("critical") => 0,
                Some("high") => 1,
                Some("normal") => 2,
                _ => 3,
            };
            open_tickets
                .sort_by(|a, b| (urgency(a), a.str("opened_at")).cmp(&(urgency(b), b.str("opened_at"))));
            open_tickets.truncate(OPEN_TICKET_LIMIT);
            let horizon = (date + Duration::days(DUE_WITHIN_DAYS)).to_string();
            let mut tasks_due: Vec<Record> = tx
                .list(Kind::Task, &Filter::default())?
                .into_iter()
                .filter(|t| {
                    !is_true(t, "retired")
                        && t.str("branch").is_none_or(|b| b == code)
                        && t.str("next_due").is_some_and(|d| d <= horizon.as_str())
                })
                .collect();
            tasks_due.sort_by(|a, b| a.str("next_due").cmp(&b.str("next_due")));
            // Shifts are at most a few days long; a fortnight back finds every one
            // that could cover now.
            let shifts = Filter {
                from_day: Some((now.date() - Duration::days(14)).to_string()),
                to_day: Some(now.date().to_string()),
                ..Default::default()
            };
            let oncall: Vec<Record> = tx
                .list(Kind::Oncall, &shifts)?
                .into_iter()
                .filter(|s| {
                    !is_true(s, "cancelled")
                        && within(s, now)
                        && s.str("branches")
                            .is_some_and(|bs| bs.split(',').any(|b| b.trim().eq_ignore_ascii_case(&code)))
                })
                .collect();
            Ok(Dashboard {
                hours_today: branch_hours(&branch_rec, date),
                stations: stations_now(&stations, &bookings, now),
                branch: branch_rec,
                date: date.to_string(),
                now: now.format("%Y-%m-%dT%H:%M").to_string(),
                bookings_today,
                open_tickets,
                low_stock: levels.into_iter().filter(|l| l.below_reorder).collect(),
                tasks_due,
                oncall,
                conflicts,
                sync,
            })
        })
    }

    /// The booking grid of one branch and day.
    pub fn booking_day(&mut self, branch: &str, date: NaiveDate) -> Result<BookingDay> {
        self.store.read(|tx| {
            let branch_rec = branch_record(tx, branch)?;
            let code = branch_rec.str("code").unwrap_or(branch).to_string();
            Ok(BookingDay {
                hours: branch_hours(&branch_rec, date),
                stations: stations_of(tx, &code)?,
                bookings: bookings_on(tx, &code, date)?,
                branch: branch_rec,
                date: date.to_string(),
            })
        })
    }

    /// Validate a create (`key` None) or an update without writing anything: the
    /// same rules a write applies, so a form can show the problem as staff type.
    pub fn check(&mut self, kind: Kind, key: Option<&str>, input: Fields) -> Result<()> {
        let (_, now) = self.now();
        let ctx = Ctx {
            now,
            system_id: self.ident.system_id.clone(),
        };
        self.store.read(|tx| {
            let look = TxLookup::new(tx);
            match key {
                None => {
                    validate::validate(kind, Op::Create, input, &ctx, &look)?;
                }
                Some(key) => {
                    let not_found = || NodeError::NotFound {
                        kind: kind.to_string(),
                        key: key.to_string(),
                    };
                    let id = look.resolve_id(kind, key).ok().flatten().ok_or_else(not_found)?;
                    let (existing, _) = tx.record(&id)?.ok_or_else(not_found)?;
                    let op = Op::Update {
                        id: &existing.id,
                        existing: &existing.fields,
                    };
                    validate::validate(kind, op, input, &ctx, &look)?;
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(kind: Kind, id: &str, f: &[(&str, Value)]) -> Record {
        Record {
            kind,
            id: id.into(),
            fields: f.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            work: vec![],
        }
    }

    fn booking(id: &str, station: &str, start: &str, end: &str, status: &str) -> Record {
        rec(
            Kind::Booking,
            id,
            &[
                ("station", station.into()),
                ("start", start.into()),
                ("end", end.into()),
                ("status", status.into()),
            ],
        )
    }

    #[test]
    fn a_station_shows_the_booking_in_progress_and_the_next_one() {
        let st = vec![
            rec(
                Kind::Asset,
                "s1",
                &[("tag", "PC-1".into()), ("express", Value::Bool(true))],
            ),
            rec(Kind::Asset, "s2", &[("tag", "PC-2".into())]),
        ];
        let b = vec![
            booking("b1", "s1", "2026-11-28T10:00", "2026-11-28T11:00", "checked-in"),
            booking("b2", "s1", "2026-11-28T13:00", "2026-11-28T14:00", "booked"),
            booking("b3", "s1", "2026-11-28T12:00", "2026-11-28T13:00", "booked"),
            booking("b4", "s2", "2026-11-28T10:00", "2026-11-28T11:00", "cancelled"),
            booking("b5", "s2", "2026-11-28T09:00", "2026-11-28T10:30", "no-show"),
        ];
        let now = parse_datetime("2026-11-28T10:30").unwrap();
        let out = stations_now(&st, &b, now);
        assert_eq!(out[0].now.as_ref().map(|r| r.id.as_str()), Some("b1"));
        assert_eq!(out[0].next.as_ref().map(|r| r.id.as_str()), Some("b3"));
        assert!(out[0].express);
        // Cancelled and no-show bookings leave a station free.
        assert!(out[1].now.is_none());
        assert!(out[1].next.is_none());
        // A booking ends at its end minute: at 11:00 the station is free again.
        let later = stations_now(&st, &b, parse_datetime("2026-11-28T11:00").unwrap());
        assert!(later[0].now.is_none());
    }

    #[test]
    fn hours_come_from_the_branch_and_closures_close_the_day() {
        let b = rec(
            Kind::Branch,
            "b",
            &[
                ("hours", "Mon-Fri 09:00-20:00; Sat 10:00-17:00; Sun closed".into()),
                ("closures", "2026-12-25".into()),
            ],
        );
        let sat = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        assert_eq!(branch_hours(&b, sat), Some(("10:00".into(), "17:00".into())));
        let sun = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        assert_eq!(branch_hours(&b, sun), None);
        let xmas = NaiveDate::from_ymd_opt(2026, 12, 25).unwrap();
        assert_eq!(branch_hours(&b, xmas), None);
    }

    fn demo_node(dir: &std::path::Path, now: NaiveDateTime) -> Node {
        let mut node = Node::init(dir, "Views", "CEN", Some("Central"), "desk").unwrap();
        node.set_clock(crate::Clock::Fixed(now));
        crate::demo::fill(&mut node, crate::demo::DemoSize::SMALL, now.date(), 3).unwrap();
        // The demo moves the clock through its history; bring it back to "now".
        node.set_clock(crate::Clock::Fixed(now));
        node
    }

    #[test]
    fn the_dashboard_and_the_grid_agree_on_a_demo_branch() {
        let dir = tempfile::tempdir().unwrap();
        // A Tuesday morning: the demo's branches are open.
        let now = parse_datetime("2026-11-24T10:15").unwrap();
        let mut node = demo_node(dir.path(), now);
        let d = node.dashboard("CEN", None).unwrap();
        assert_eq!(d.date, "2026-11-24");
        assert!(d.hours_today.is_some());
        assert!(!d.stations.is_empty());
        let grid = node.booking_day("cen", now.date()).unwrap();
        assert_eq!(grid.stations.len(), d.stations.len());
        let live = grid
            .bookings
            .iter()
            .filter(|b| b.str("status") != Some("cancelled"))
            .count();
        assert_eq!(d.bookings_today, live);
        // Every station shown busy has a booking in the grid covering now.
        for s in d.stations.iter().filter(|s| s.now.is_some()) {
            assert!(grid
                .bookings
                .iter()
                .any(|b| b.str("station") == Some(s.id.as_str()) && within(b, now)));
        }
        assert!(d
            .open_tickets
            .iter()
            .all(|t| !matches!(t.str("status"), Some("solved" | "closed"))));
        assert!(matches!(
            node.dashboard("NOPE", None),
            Err(NodeError::NotFound { .. })
        ));
    }

    #[test]
    fn check_names_the_field_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let now = parse_datetime("2026-11-24T10:15").unwrap();
        let mut node = demo_node(dir.path(), now);
        let grid = node.booking_day("CEN", now.date()).unwrap();
        let station = grid
            .stations
            .iter()
            .find(|s| !is_true(s, "express"))
            .unwrap()
            .id
            .clone();
        let before = node.count(Kind::Booking).unwrap();
        let bad: Fields = [
            ("station".to_string(), Value::from(station.as_str())),
            ("patron".to_string(), Value::from("G-1")),
            ("start".to_string(), Value::from("2026-11-25T15:00")),
            ("end".to_string(), Value::from("2026-11-25T14:00")),
        ]
        .into();
        match node.check(Kind::Booking, None, bad) {
            Err(NodeError::Invalid(v)) => assert_eq!(v.field, "end"),
            other => panic!("expected an invalid end, got {other:?}"),
        }
        let good: Fields = [
            ("station".to_string(), Value::from(station.as_str())),
            ("patron".to_string(), Value::from("G-1")),
            ("start".to_string(), Value::from("2026-11-25T19:00")),
            ("end".to_string(), Value::from("2026-11-25T19:30")),
        ]
        .into();
        node.check(Kind::Booking, None, good).unwrap();
        assert_eq!(node.count(Kind::Booking).unwrap(), before);
        // An update is checked against the record as it stands.
        let asset = node.list(Kind::Asset, &Filter::default()).unwrap()[0].id.clone();
        let e = node
            .check(
                Kind::Asset,
                Some(&asset),
                [("branch".to_string(), Value::from("ZZZ"))].into(),
            )
            .unwrap_err();
        assert_eq!(e.field(), Some("branch"));
    }
}
