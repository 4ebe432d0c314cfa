//! Replicas of one library system edit concurrently and swap bundles in any order,
//! with duplicates and stale replays; once every replica has every change they must
//! agree on the state, the conflicts and every query answer, and the conflicts must
//! be exactly the real-world clashes the edits provoked.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use branchline_core::bundle;
use branchline_core::conflict::ConflictKind;
use branchline_core::schema::Kind;
use branchline_core::Value;
use branchline_node::{ListFilter, Node, NodeError};
use branchline_tests::{
    at, clock, conflict_shapes, exchange, fields, index_answers, init_system, join, send, ConflictShape,
    BRANCHES, ITEM, LOCATIONS, PAGE, PAGE_TEXT, PRINTERS, STATIONS, STATUSES, STOCK_AT_CEN, VENDOR,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use tempfile::TempDir;

const CONTESTED: [&str; 3] = ["branch", "location", "status"];

fn value_of(field: usize, value: usize) -> &'static str {
    match field {
        0 => BRANCHES[value % BRANCHES.len()],
        1 => LOCATIONS[value % LOCATIONS.len()],
        _ => STATUSES[value % STATUSES.len()],
    }
}

#[derive(Debug, Clone)]
enum Op {
    CreateAsset {
        r: usize,
    },
    UpdateAsset {
        r: usize,
        asset: usize,
        field: usize,
        value: usize,
    },
    Book {
        r: usize,
        station: usize,
        hour: u32,
        half: bool,
        long: bool,
    },
    Issue {
        r: usize,
        qty: i64,
        via_ticket: bool,
    },
    Ticket {
        r: usize,
        branch: usize,
        with_asset: bool,
    },
    Work {
        r: usize,
        ticket: usize,
        minutes: i64,
    },
    EditPage {
        r: usize,
    },
    Sync {
        from: usize,
        to: usize,
        delta: bool,
        dup: bool,
    },
    Replay {
        bundle: usize,
        to: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..4usize).prop_map(|r| Op::CreateAsset { r }),
        6 => (0..4usize, prop_oneof![3 => Just(0usize), 1 => Just(1usize)], 0..3usize, 0..3usize)
            .prop_map(|(r, asset, field, value)| Op::UpdateAsset { r, asset, field, value }),
        5 => (0..4usize, 0..2usize, 9..12u32, any::<bool>(), any::<bool>())
            .prop_map(|(r, station, hour, half, long)| Op::Book { r, station, hour, half, long }),
        3 => (0..4usize, 1..5i64, any::<bool>()).prop_map(|(r, qty, via_ticket)| Op::Issue { r, qty, via_ticket }),
        2 => (0..4usize, 0..2usize, any::<bool>())
            .prop_map(|(r, branch, with_asset)| Op::Ticket { r, branch, with_asset }),
        2 => (0..4usize, 0..8usize, 0..90i64).prop_map(|(r, ticket, minutes)| Op::Work { r, ticket, minutes }),
        2 => (0..4usize).prop_map(|r| Op::EditPage { r }),
        6 => (0..4usize, 0..4usize, any::<bool>(), any::<bool>())
            .prop_map(|(from, to, delta, dup)| Op::Sync { from, to, delta, dup }),
        1 => (0..64usize, 0..4usize).prop_map(|(bundle, to)| Op::Replay { bundle, to }),
    ]
}

/// One write of a contested asset field, and the writes it overwrote (those its
/// replica had seen): automerge's map semantics, modelled.
#[derive(Debug)]
struct FieldWrite {
    asset: usize,
    field: usize,
    value: String,
    overwrote: BTreeSet<usize>,
}

#[derive(Debug)]
struct Booked {
    id: String,
    station: usize,
    start: String,
    end: String,
}

/// Replicas plus a model of what they should end up with.
struct World {
    _dirs: Vec<TempDir>,
    nodes: Vec<Node>,
    writes: Vec<FieldWrite>,
    /// Field writes each replica has seen.
    seen: Vec<BTreeSet<usize>>,
    /// Full bundles exported so far, with the field writes they carry.
    bundles: Vec<(Vec<u8>, BTreeSet<usize>)>,
    bookings: Vec<Booked>,
    issued: i64,
    assets_created: usize,
    tickets_created: usize,
    work_done: usize,
    page_lines: Vec<String>,
    serial: usize,
}

fn expect_invalid(e: &NodeError, what: &str) {
    assert_eq!(
        e.code(),
        "invalid",
        "{what} failed with something other than a validation error: {e}"
    );
}

fn changes_in(bytes: &[u8]) -> usize {
    bundle::decode(bytes, None)
        .expect("a bundle we just exported decodes")
        .docs
        .iter()
        .map(|d| d.changes.len())
        .sum()
}

fn overlaps(a: (&str, &str), b: (&str, &str)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

impl World {
    fn new(replicas: usize) -> World {
        let mut dirs = vec![TempDir::new().unwrap()];
        let mut first = init_system(dirs[0].path(), "dev0").unwrap();
        let mut nodes = Vec::new();
        for i in 1..replicas {
            let dir = TempDir::new().unwrap();
            nodes.push(join(&mut first, dir.path(), &format!("dev{i}")).unwrap());
            dirs.push(dir);
        }
        nodes.insert(0, first);
        let mut writes = Vec::new();
        for (a, tag) in PRINTERS.iter().enumerate() {
            for (f, _) in CONTESTED.iter().enumerate() {
                let value = match f {
                    0 => tag[..3].to_string(),
                    1 => LOCATIONS[0].to_string(),
                    _ => STATUSES[0].to_string(),
                };
                writes.push(FieldWrite {
                    asset: a,
                    field: f,
                    value,
                    overwrote: BTreeSet::new(),
                });
            }
        }
        let all: BTreeSet<usize> = (0..writes.len()).collect();
        World {
            _dirs: dirs,
            nodes,
            writes,
            seen: vec![all; replicas],
            bundles: Vec::new(),
            bookings: Vec::new(),
            issued: 0,
            assets_created: 0,
            tickets_created: 0,
            work_done: 0,
            page_lines: Vec::new(),
            serial: 0,
        }
    }

    fn n(&self) -> usize {
        self.nodes.len()
    }

    fn apply(&mut self, op: &Op) {
        self.serial += 1;
        let serial = self.serial;
        let n = self.n();
        match *op {
            Op::CreateAsset { r } => {
                let r = r % n;
                let tag = format!("X{r}-{serial}");
                let f = fields([
                    ("tag", tag.as_str().into()),
                    ("name", "Laptop".into()),
                    ("category", "laptop".into()),
                    ("branch", BRANCHES[serial % BRANCHES.len()].into()),
                    ("supplier", VENDOR.into()),
                ]);
                self.nodes[r].create(Kind::Asset, f).unwrap();
                self.assets_created += 1;
            }
            Op::UpdateAsset {
                r,
                asset,
                field,
                value,
            } => {
                let r = r % n;
                let (tag, name, value) = (PRINTERS[asset], CONTESTED[field], value_of(field, value));
                let node = &mut self.nodes[r];
                let current = node.get(Kind::Asset, tag).unwrap().str(name).map(str::to_string);
                let before = node.summary().unwrap();
                node.update(Kind::Asset, tag, fields([(name, value.into())]))
                    .unwrap();
                if current.as_deref() == Some(value) {
                    assert_eq!(
                        node.summary().unwrap(),
                        before,
                        "setting {tag}.{name} to its value wrote a change"
                    );
                    return;
                }
                let overwrote: BTreeSet<usize> = self.seen[r]
                    .iter()
                    .copied()
                    .filter(|w| self.writes[*w].asset == asset && self.writes[*w].field == field)
                    .collect();
                self.writes.push(FieldWrite {
                    asset,
                    field,
                    value: value.to_string(),
                    overwrote,
                });
                self.seen[r].insert(self.writes.len() - 1);
            }
            Op::Book {
                r,
                station,
                hour,
                half,
                long,
            } => {
                let r = r % n;
                let minute = if half { 30 } else { 0 };
                let start = at(hour, minute);
                let end = if long {
                    at(hour + 1, minute)
                } else if half {
                    at(hour + 1, 0)
                } else {
                    at(hour, 30)
                };
                let tag = STATIONS[station];
                let f = fields([
                    ("station", tag.into()),
                    ("patron", format!("G-R{r}N{serial}").into()),
                    ("start", start.as_str().into()),
                    ("end", end.as_str().into()),
                ]);
                let node = &mut self.nodes[r];
                match node.create(Kind::Booking, f) {
                    Ok(rec) => self.bookings.push(Booked {
                        id: rec.id,
                        station,
                        start,
                        end,
                    }),
                    Err(e) => {
                        expect_invalid(&e, "booking");
                        let station_id = node.get(Kind::Asset, tag).unwrap().id;
                        let clash = node
                            .list(Kind::Booking, &ListFilter::default())
                            .unwrap()
                            .into_iter()
                            .any(|b| {
                                b.str("station") == Some(station_id.as_str())
                                    && b.str("status") == Some("booked")
                                    && overlaps(
                                        (b.str("start").unwrap(), b.str("end").unwrap()),
                                        (start.as_str(), end.as_str()),
                                    )
                            });
                        assert!(
                            clash,
                            "booking {tag} {start}-{end} refused though the replica knows no clash: {e}"
                        );
                    }
                }
            }
            Op::Issue { r, qty, via_ticket } => {
                let r = r % n;
                let node = &mut self.nodes[r];
                let level = node
                    .stock_levels(Some("CEN"))
                    .unwrap()
                    .into_iter()
                    .find(|l| l.item_name == ITEM)
                    .map(|l| l.level)
                    .unwrap_or(0);
                let ticket = node
                    .list(
                        Kind::Ticket,
                        &ListFilter {
                            branch: Some("CEN".into()),
                            ..Default::default()
                        },
                    )
                    .unwrap()
                    .into_iter()
                    .next();
                let result = match ticket {
                    Some(t) if via_ticket => node.use_part(&t.id, ITEM, qty),
                    _ => node.create(
                        Kind::Movement,
                        fields([
                            ("item", ITEM.into()),
                            ("branch", "CEN".into()),
                            ("kind", "issue".into()),
                            ("qty", Value::Int(qty)),
                        ]),
                    ),
                };
                match result {
                    Ok(_) => {
                        assert!(qty <= level, "issued {qty} with only {level} in stock");
                        self.issued += qty;
                    }
                    Err(e) => {
                        expect_invalid(&e, "stock issue");
                        assert!(qty > level, "issue of {qty} refused with {level} in stock: {e}");
                    }
                }
            }
            Op::Ticket {
                r,
                branch,
                with_asset,
            } => {
                let r = r % n;
                let mut f = fields([
                    ("branch", BRANCHES[branch].into()),
                    ("category", "hardware".into()),
                    ("summary", format!("paper jam {serial}").into()),
                ]);
                if with_asset {
                    f.insert("asset".into(), PRINTERS[branch].into());
                }
                let t = self.nodes[r].create(Kind::Ticket, f).unwrap();
                assert!(
                    t.str("number").is_some_and(|n| n.starts_with(BRANCHES[branch])),
                    "ticket number {t:?}"
                );
                self.tickets_created += 1;
            }
            Op::Work { r, ticket, minutes } => {
                let r = r % n;
                let node = &mut self.nodes[r];
                let tickets = node.list(Kind::Ticket, &ListFilter::default()).unwrap();
                if tickets.is_empty() {
                    return;
                }
                let t = &tickets[ticket % tickets.len()];
                let before = t.work.len();
                let after = node
                    .add_work(&t.id, minutes, &format!("swapped toner {serial}"))
                    .unwrap();
                assert_eq!(after.work.len(), before + 1);
                assert!(after.str("first_response_at").is_some());
                self.work_done += 1;
            }
            Op::EditPage { r } => {
                let r = r % n;
                let node = &mut self.nodes[r];
                let text = node
                    .get(Kind::Page, PAGE)
                    .unwrap()
                    .str("text")
                    .unwrap_or_default()
                    .to_string();
                let line = format!("\nstep R{r}N{serial}");
                let page = node
                    .update(
                        Kind::Page,
                        PAGE,
                        fields([("text", format!("{text}{line}").into())]),
                    )
                    .unwrap();
                assert!(page.str("text").unwrap().ends_with(&line));
                self.page_lines.push(line);
            }
            Op::Sync { from, to, delta, dup } => {
                let from = from % n;
                let to = if to % n == from { (from + 1) % n } else { to % n };
                self.sync(from, to, delta, dup);
            }
            Op::Replay { bundle, to } => {
                if self.bundles.is_empty() {
                    return;
                }
                let to = to % n;
                let (bytes, carried) = &self.bundles[bundle % self.bundles.len()];
                let report = self.nodes[to].import_bundle(bytes).unwrap();
                assert_eq!(report.changes_new + report.changes_known, changes_in(bytes));
                self.seen[to].extend(carried.iter().copied());
            }
        }
    }

    fn sync(&mut self, from: usize, to: usize, delta: bool, dup: bool) {
        let peer = if delta {
            Some(self.nodes[to].summary().unwrap())
        } else {
            None
        };
        let bytes = self.nodes[from].export_bundle(peer.as_ref()).unwrap();
        let total = changes_in(&bytes);
        let report = self.nodes[to].import_bundle(&bytes).unwrap();
        assert_eq!(report.changes_new + report.changes_known, total, "{report:?}");
        let carried = self.seen[from].clone();
        self.seen[to].extend(carried.iter().copied());
        if !delta {
            self.bundles.push((bytes.clone(), carried));
        }
        if dup {
            let node = &mut self.nodes[to];
            let (hash, conflicts, summary) = (
                node.state_hash().unwrap(),
                conflict_shapes(node).unwrap(),
                node.summary().unwrap(),
            );
            let again = node.import_bundle(&bytes).unwrap();
            assert_eq!(
                (again.changes_new, again.changes_known),
                (0, total),
                "second import of one bundle"
            );
            assert_eq!(
                node.state_hash().unwrap(),
                hash,
                "importing a bundle twice changed the state"
            );
            assert_eq!(
                conflict_shapes(node).unwrap(),
                conflicts,
                "importing a bundle twice changed the conflicts"
            );
            assert_eq!(node.summary().unwrap(), summary);
        }
    }

    /// Gather everything at replica 0 with full bundles, then hand it out with bundles
    /// cut for each peer.
    fn converge(&mut self) {
        for i in 1..self.n() {
            self.sync(i, 0, false, false);
        }
        for i in 1..self.n() {
            self.sync(0, i, true, false);
        }
    }

    /// The conflicts the model predicts, and checks of every other expectation.
    fn check_converged(&mut self) -> Vec<ConflictShape> {
        let n = self.n();
        let hashes: Vec<String> = self.nodes.iter_mut().map(|x| x.state_hash().unwrap()).collect();
        assert!(
            hashes.iter().all(|h| *h == hashes[0]),
            "state hashes differ: {hashes:?}"
        );
        let heads: Vec<_> = self
            .nodes
            .iter_mut()
            .map(|x| x.summary().unwrap().heads)
            .collect();
        assert!(heads.iter().all(|h| *h == heads[0]), "document heads differ");
        let conflicts: Vec<Vec<ConflictShape>> = self
            .nodes
            .iter_mut()
            .map(|x| conflict_shapes(x).unwrap())
            .collect();
        for (i, c) in conflicts.iter().enumerate() {
            assert_eq!(
                *c, conflicts[0],
                "replica {i} lists other conflicts than replica 0"
            );
        }
        let answers: Vec<String> = self.nodes.iter_mut().map(|x| index_answers(x).unwrap()).collect();
        for (i, a) in answers.iter().enumerate() {
            assert!(
                *a == answers[0],
                "replica {i}'s index answers differ from replica 0's"
            );
        }
        for i in 0..n {
            assert_eq!(
                self.seen[i].len(),
                self.writes.len(),
                "model: replica {i} did not see every write"
            );
        }
        let node = &mut self.nodes[0];
        let conflicts = &conflicts[0];

        // Double bookings: exactly the stations booked at overlapping times.
        let station_ids: Vec<String> = STATIONS
            .iter()
            .map(|t| node.get(Kind::Asset, t).unwrap().id)
            .collect();
        let mut clashing: BTreeSet<&str> = BTreeSet::new();
        for (i, a) in self.bookings.iter().enumerate() {
            for b in &self.bookings[i + 1..] {
                if a.station == b.station && overlaps((&a.start, &a.end), (&b.start, &b.end)) {
                    clashing.insert(&a.id);
                    clashing.insert(&b.id);
                    let together = conflicts.iter().any(|c| {
                        c.kind == ConflictKind::DoubleBooking
                            && c.record == station_ids[a.station]
                            && c.sides.contains(&a.id)
                            && c.sides.contains(&b.id)
                    });
                    assert!(
                        together,
                        "bookings {a:?} and {b:?} overlap but no conflict names both: {conflicts:#?}"
                    );
                }
            }
        }
        let in_conflicts: BTreeSet<&str> = conflicts
            .iter()
            .filter(|c| c.kind == ConflictKind::DoubleBooking)
            .flat_map(|c| c.sides.iter().map(String::as_str))
            .collect();
        assert_eq!(in_conflicts, clashing, "bookings in double-booking conflicts");
        assert_eq!(node.count(Kind::Booking).unwrap(), self.bookings.len() as i64);

        // Stock: every accepted issue counts; below zero is a conflict.
        let level = STOCK_AT_CEN - self.issued;
        let levels = node.stock_levels(Some("CEN")).unwrap();
        let item = levels
            .iter()
            .find(|l| l.item_name == ITEM)
            .expect("toner has a level at CEN");
        assert_eq!(item.level, level, "stock level at CEN");
        let negative = conflicts
            .iter()
            .filter(|c| c.kind == ConflictKind::NegativeStock)
            .count();
        assert_eq!(
            negative,
            usize::from(level < 0),
            "negative-stock conflicts with level {level}: {conflicts:#?}"
        );

        // Contested asset fields: the writes no other write overwrote.
        let mut expected_fields = BTreeMap::new();
        for (a, tag) in PRINTERS.iter().enumerate() {
            let id = node.get(Kind::Asset, tag).unwrap().id;
            for (f, name) in CONTESTED.iter().enumerate() {
                let overwritten: BTreeSet<usize> = self
                    .writes
                    .iter()
                    .flat_map(|w| w.overwrote.iter().copied())
                    .collect();
                let values: BTreeSet<String> = (0..self.writes.len())
                    .filter(|w| !overwritten.contains(w))
                    .map(|w| &self.writes[w])
                    .filter(|w| w.asset == a && w.field == f)
                    .map(|w| w.value.clone())
                    .collect();
                if values.len() > 1 {
                    expected_fields.insert((id.clone(), name.to_string()), values);
                }
            }
        }
        let actual_fields: BTreeMap<(String, String), BTreeSet<String>> = conflicts
            .iter()
            .filter(|c| c.kind == ConflictKind::AssetField)
            .map(|c| {
                (
                    (c.record.clone(), c.field.clone().unwrap_or_default()),
                    c.sides.iter().cloned().collect(),
                )
            })
            .collect();
        assert_eq!(actual_fields, expected_fields, "asset field conflicts");
        if !clashing.is_empty() || level < 0 || !expected_fields.is_empty() {
            assert!(
                !conflicts.is_empty(),
                "clashes were provoked but no conflict is listed"
            );
        }

        // Everything else written survives the merge once.
        assert_eq!(
            node.count(Kind::Asset).unwrap(),
            (STATIONS.len() + PRINTERS.len() + self.assets_created) as i64
        );
        let tickets = node.list(Kind::Ticket, &ListFilter::default()).unwrap();
        assert_eq!(tickets.len(), self.tickets_created);
        assert_eq!(
            tickets.iter().map(|t| t.work.len()).sum::<usize>(),
            self.work_done,
            "ticket work entries"
        );
        let text = node
            .get(Kind::Page, PAGE)
            .unwrap()
            .str("text")
            .unwrap_or_default()
            .to_string();
        assert!(text.starts_with(PAGE_TEXT), "page text lost its start: {text:?}");
        for line in &self.page_lines {
            assert_eq!(
                text.lines().filter(|l| *l == line.trim_start()).count(),
                1,
                "line {line:?} in merged page text {text:?}"
            );
        }
        assert_eq!(
            text.len(),
            PAGE_TEXT.len() + self.page_lines.iter().map(String::len).sum::<usize>()
        );
        assert_eq!(
            node.count(Kind::Device).unwrap(),
            n as i64,
            "every replica's device record"
        );
        conflicts.clone()
    }

    /// A rebuilt index and a reopened replica answer exactly as before.
    fn check_rebuild_and_reopen(&mut self) {
        for i in 0..self.n() {
            let node = &mut self.nodes[i];
            let (hash, conflicts, answers) = (
                node.state_hash().unwrap(),
                conflict_shapes(node).unwrap(),
                index_answers(node).unwrap(),
            );
            assert!(node.rebuild_index().unwrap() > 0);
            assert_eq!(
                conflict_shapes(node).unwrap(),
                conflicts,
                "replica {i}: conflicts after rebuild_index"
            );
            assert!(
                index_answers(node).unwrap() == answers,
                "replica {i}: list() answers changed after rebuild_index"
            );
            let dir = node.dir().to_path_buf();
            let mut reopened = Node::open(&dir).unwrap();
            reopened.set_clock(clock());
            assert_eq!(
                reopened.state_hash().unwrap(),
                hash,
                "replica {i}: state after reopening"
            );
            assert_eq!(
                conflict_shapes(&mut reopened).unwrap(),
                conflicts,
                "replica {i}: conflicts after reopening"
            );
            assert!(
                index_answers(&mut reopened).unwrap() == answers,
                "replica {i}: answers after reopening"
            );
            assert_eq!(reopened.integrity_check().unwrap(), "ok");
            self.nodes[i] = reopened;
        }
    }
}

fn run(replicas: usize, ops: &[Op]) -> Vec<ConflictShape> {
    let mut w = World::new(replicas);
    for op in ops {
        w.apply(op);
    }
    w.converge();
    let conflicts = w.check_converged();
    w.check_rebuild_and_reopen();
    // Fully merged replicas have nothing to send each other.
    let (a, rest) = w.nodes.split_at_mut(1);
    let peer = rest[0].summary().unwrap();
    let bytes = a[0].export_bundle(Some(&peer)).unwrap();
    assert_eq!(changes_in(&bytes), 0, "a converged peer was sent changes");
    conflicts
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_on_state_and_conflicts(
        replicas in 2..=4usize,
        ops in proptest::collection::vec(op(), 10..40),
    ) {
        run(replicas, &ops);
    }
}

/// One fixed schedule that provokes every kind of conflict, so the oracle is seen
/// firing on every run whatever the random cases draw.
#[test]
fn scripted_concurrent_edits_provoke_every_conflict_kind() {
    let ops = [
        Op::Ticket {
            r: 0,
            branch: 0,
            with_asset: false,
        },
        Op::Sync {
            from: 0,
            to: 1,
            delta: true,
            dup: false,
        },
        Op::Book {
            r: 0,
            station: 0,
            hour: 10,
            half: false,
            long: true,
        },
        Op::Book {
            r: 1,
            station: 0,
            hour: 10,
            half: true,
            long: false,
        },
        Op::Book {
            r: 2,
            station: 0,
            hour: 9,
            half: true,
            long: true,
        },
        Op::UpdateAsset {
            r: 0,
            asset: 0,
            field: 0,
            value: 1,
        },
        Op::UpdateAsset {
            r: 1,
            asset: 0,
            field: 0,
            value: 2,
        },
        Op::UpdateAsset {
            r: 2,
            asset: 1,
            field: 2,
            value: 1,
        },
        Op::Issue {
            r: 0,
            qty: 4,
            via_ticket: true,
        },
        Op::Issue {
            r: 1,
            qty: 4,
            via_ticket: false,
        },
        Op::Issue {
            r: 2,
            qty: 4,
            via_ticket: false,
        },
        Op::Work {
            r: 0,
            ticket: 0,
            minutes: 15,
        },
        Op::Work {
            r: 1,
            ticket: 0,
            minutes: 20,
        },
        Op::EditPage { r: 0 },
        Op::EditPage { r: 1 },
        Op::EditPage { r: 2 },
        Op::Sync {
            from: 2,
            to: 1,
            delta: false,
            dup: true,
        },
        Op::Replay { bundle: 0, to: 0 },
    ];
    let conflicts = run(3, &ops);
    let kinds: BTreeSet<ConflictKind> = conflicts.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            ConflictKind::DoubleBooking,
            ConflictKind::AssetField,
            ConflictKind::NegativeStock
        ]
        .into(),
        "{conflicts:#?}"
    );
    let double = conflicts
        .iter()
        .find(|c| c.kind == ConflictKind::DoubleBooking)
        .unwrap();
    assert_eq!(
        double.sides.len(),
        3,
        "09:30-10:30, 10:00-11:00 and 10:30-11:00 chain-overlap: {double:?}"
    );
}

fn three_replicas() -> (Vec<TempDir>, Vec<Node>) {
    let dirs: Vec<TempDir> = (0..3).map(|_| TempDir::new().unwrap()).collect();
    let mut a = init_system(dirs[0].path(), "dev0").unwrap();
    let b = join(&mut a, dirs[1].path(), "dev1").unwrap();
    let c = join(&mut a, dirs[2].path(), "dev2").unwrap();
    (dirs, vec![a, b, c])
}

fn sync_all(nodes: &mut [Node]) {
    for _ in 0..2 {
        for i in 0..nodes.len() {
            for j in 0..nodes.len() {
                if i != j {
                    let (x, y) = if i < j {
                        let (l, r) = nodes.split_at_mut(j);
                        (&mut l[i], &mut r[0])
                    } else {
                        let (l, r) = nodes.split_at_mut(i);
                        (&mut r[0], &mut l[j])
                    };
                    send(x, y).unwrap();
                }
            }
        }
    }
}

fn hashes(nodes: &mut [Node]) -> Vec<String> {
    nodes.iter_mut().map(|n| n.state_hash().unwrap()).collect()
}

fn all_equal<T: PartialEq + std::fmt::Debug>(v: &[T]) {
    assert!(v.iter().all(|x| *x == v[0]), "replicas differ: {v:#?}");
}

/// A conflict settled on one replica is settled on all of them once the settling
/// change travels, for each kind of conflict.
#[test]
fn resolved_conflict_disappears_on_every_replica() {
    let (_dirs, mut nodes) = three_replicas();
    let booking = |r: usize, start: String, end: String| {
        fields([
            ("station", STATIONS[0].into()),
            ("patron", format!("G-P{r}").into()),
            ("start", start.into()),
            ("end", end.into()),
        ])
    };
    let b0 = nodes[0]
        .create(Kind::Booking, booking(0, at(14, 0), at(15, 0)))
        .unwrap();
    let b1 = nodes[1]
        .create(Kind::Booking, booking(1, at(14, 30), at(15, 0)))
        .unwrap();
    nodes[0]
        .update(
            Kind::Asset,
            PRINTERS[0],
            fields([("location", LOCATIONS[1].into())]),
        )
        .unwrap();
    nodes[2]
        .update(
            Kind::Asset,
            PRINTERS[0],
            fields([("location", LOCATIONS[2].into())]),
        )
        .unwrap();
    let issue = fields([
        ("item", ITEM.into()),
        ("branch", "CEN".into()),
        ("kind", "issue".into()),
        ("qty", Value::Int(6)),
    ]);
    let m1 = nodes[1].create(Kind::Movement, issue.clone()).unwrap();
    let m2 = nodes[2].create(Kind::Movement, issue).unwrap();
    sync_all(&mut nodes);
    all_equal(&hashes(&mut nodes));
    let shapes: Vec<Vec<ConflictShape>> = nodes.iter_mut().map(|n| conflict_shapes(n).unwrap()).collect();
    all_equal(&shapes);
    let kinds: Vec<ConflictKind> = shapes[0].iter().map(|c| c.kind).collect();
    assert_eq!(kinds.len(), 3, "{:#?}", shapes[0]);
    let id_of = |k: ConflictKind| shapes[0].iter().find(|c| c.kind == k).unwrap().id.clone();
    let (double, field, stock) = (
        id_of(ConflictKind::DoubleBooking),
        id_of(ConflictKind::AssetField),
        id_of(ConflictKind::NegativeStock),
    );
    let mut sides = vec![b0.id.clone(), b1.id.clone()];
    sides.sort();
    assert_eq!(shapes[0].iter().find(|c| c.id == double).unwrap().sides, sides);
    let mut sides = vec![m1.id.clone(), m2.id.clone()];
    sides.sort();
    assert_eq!(shapes[0].iter().find(|c| c.id == stock).unwrap().sides, sides);

    // Each replica settles one conflict, by a prefix of its id as staff would type it.
    nodes[1].resolve(&double[..8], &b1.id).unwrap();
    nodes[2].resolve(&field[..8], LOCATIONS[1]).unwrap();
    nodes[0].resolve(&stock, &m1.id).unwrap();
    assert!(conflict_shapes(&mut nodes[1])
        .unwrap()
        .iter()
        .all(|c| c.id != double));
    assert!(conflict_shapes(&mut nodes[2])
        .unwrap()
        .iter()
        .all(|c| c.id != field));
    assert!(conflict_shapes(&mut nodes[0])
        .unwrap()
        .iter()
        .all(|c| c.id != stock));
    sync_all(&mut nodes);
    all_equal(&hashes(&mut nodes));
    for (i, n) in nodes.iter_mut().enumerate() {
        assert_eq!(
            n.conflicts().unwrap(),
            vec![],
            "replica {i} still lists conflicts"
        );
        assert_eq!(
            n.get(Kind::Booking, &b0.id).unwrap().str("status"),
            Some("cancelled")
        );
        assert_eq!(
            n.get(Kind::Booking, &b1.id).unwrap().str("status"),
            Some("booked")
        );
        assert_eq!(
            n.get(Kind::Asset, PRINTERS[0]).unwrap().str("location"),
            Some(LOCATIONS[1])
        );
        assert!(n.get(Kind::Movement, &m2.id).unwrap().flag("cancelled"));
        let level = n.stock_levels(Some("CEN")).unwrap()[0].level;
        assert_eq!(level, STOCK_AT_CEN - 6);
        n.rebuild_index().unwrap();
        assert_eq!(
            n.conflicts().unwrap(),
            vec![],
            "replica {i} lists conflicts after rebuild_index"
        );
    }
}

/// Stock settled by a count: the recount lands the level where staff counted it.
#[test]
fn negative_stock_settled_by_a_count_converges() {
    let (_dirs, mut nodes) = three_replicas();
    let issue = fields([
        ("item", ITEM.into()),
        ("branch", "CEN".into()),
        ("kind", "issue".into()),
        ("qty", Value::Int(7)),
    ]);
    nodes[0].create(Kind::Movement, issue.clone()).unwrap();
    nodes[1].create(Kind::Movement, issue).unwrap();
    sync_all(&mut nodes);
    let c = nodes[2].conflicts().unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(
        nodes[2].stock_levels(Some("CEN")).unwrap()[0].level,
        STOCK_AT_CEN - 14
    );
    assert!(
        nodes[2].resolve(&c[0].id, "count=-1").is_err(),
        "a negative count is refused"
    );
    nodes[2].resolve(&c[0].id, "count=2").unwrap();
    sync_all(&mut nodes);
    all_equal(&hashes(&mut nodes));
    for n in nodes.iter_mut() {
        assert_eq!(n.conflicts().unwrap(), vec![]);
        assert_eq!(n.stock_levels(Some("CEN")).unwrap()[0].level, 2);
    }
}

fn refuses(node: &mut Node, bytes: &[u8], code: &str, what: &str) {
    let (hash, summary, conflicts) = (
        node.state_hash().unwrap(),
        node.summary().unwrap(),
        conflict_shapes(node).unwrap(),
    );
    match node.import_bundle(bytes) {
        Ok(r) => panic!("{what} was accepted: {r:?}"),
        Err(e) => assert_eq!(e.code(), code, "{what}: {e}"),
    }
    assert_eq!(node.state_hash().unwrap(), hash, "{what} changed the state");
    assert_eq!(node.summary().unwrap(), summary, "{what} changed the heads");
    assert_eq!(
        conflict_shapes(node).unwrap(),
        conflicts,
        "{what} changed the conflicts"
    );
}

/// Truncated, bit-flipped and foreign bundles are refused whole.
#[test]
fn damaged_or_foreign_bundles_are_refused_and_change_nothing() {
    let (_dirs, mut nodes) = three_replicas();
    let (a, rest) = nodes.split_at_mut(1);
    let (a, b) = (&mut a[0], &mut rest[0]);
    // B has changes A lacks, so a good bundle of them would change A.
    b.create(Kind::Vendor, fields([("name", "Northwind".into())]))
        .unwrap();
    b.create(
        Kind::Booking,
        fields([
            ("station", STATIONS[1].into()),
            ("patron", "G-NW1".into()),
            ("start", at(12, 0).into()),
            ("end", at(13, 0).into()),
        ]),
    )
    .unwrap();
    let good = b.export_bundle(Some(&a.summary().unwrap())).unwrap();
    assert!(bundle::decode(&good, None).unwrap().docs.len() >= 2);

    for cut in [
        0,
        5,
        8,
        12,
        40,
        good.len() / 3,
        good.len() / 2,
        good.len() - 33,
        good.len() - 1,
    ] {
        refuses(
            a,
            &good[..cut],
            "bundle_corrupt",
            &format!("bundle cut to {cut} bytes"),
        );
    }
    let mut step = good.len() / 23;
    step = step.max(1);
    for pos in (0..good.len()).step_by(step).chain([good.len() - 1]) {
        for bit in [0u8, 5] {
            let mut bad = good.clone();
            bad[pos] ^= 1 << bit;
            refuses(
                a,
                &bad,
                "bundle_corrupt",
                &format!("bundle with bit {bit} of byte {pos} flipped"),
            );
        }
    }
    let mut extended = good.clone();
    extended.extend_from_slice(b"more");
    refuses(a, &extended, "bundle_corrupt", "bundle with bytes appended");

    let other_dir = TempDir::new().unwrap();
    let mut other = init_system(other_dir.path(), "elsewhere").unwrap();
    let foreign = other.export_bundle(None).unwrap();
    refuses(
        a,
        &foreign,
        "bundle_foreign",
        "full bundle of another library system",
    );
    assert!(
        a.export_bundle(Some(&other.summary().unwrap())).is_err(),
        "export for a foreign peer"
    );
    assert!(Node::init_from_bundle(
        TempDir::new().unwrap().path(),
        &good[..good.len() - 1],
        "CEN",
        "x"
    )
    .is_err());

    // The replica still takes the good bundle afterwards, and only once.
    let before = a.state_hash().unwrap();
    let report = a.import_bundle(&good).unwrap();
    assert!(report.changes_new > 0);
    assert_ne!(a.state_hash().unwrap(), before);
    assert_eq!(
        a.get(Kind::Vendor, "Northwind").unwrap().str("name"),
        Some("Northwind")
    );
    send(a, b).unwrap();
    assert_eq!(a.state_hash().unwrap(), b.state_hash().unwrap());
}

/// A bundle cut for one peer, carried to another that lacks its history, must not
/// wedge that replica: once the history arrives, everything converges, also after
/// reopening in between.
#[test]
fn misdelivered_delta_bundle_is_held_until_its_history_arrives() {
    let (_dirs, mut nodes) = three_replicas();
    // A and B share a new page; then A edits it and cuts a bundle for B.
    let page = nodes[0]
        .create(
            Kind::Page,
            fields([("title", "Printer jams".into()), ("text", "Open tray 2.".into())]),
        )
        .unwrap();
    nodes[0]
        .create(Kind::Vendor, fields([("name", "Contoso".into())]))
        .unwrap();
    {
        let (a, rest) = nodes.split_at_mut(1);
        send(&mut a[0], &mut rest[0]).unwrap();
    }
    nodes[0]
        .update(
            Kind::Page,
            &page.id,
            fields([("text", "Open tray 2.\nPull gently.".into())]),
        )
        .unwrap();
    nodes[0]
        .update(Kind::Asset, PRINTERS[1], fields([("status", "in-repair".into())]))
        .unwrap();
    let for_b = {
        let summary = nodes[1].summary().unwrap();
        nodes[0].export_bundle(Some(&summary)).unwrap()
    };
    // ... but it reaches C, which has neither the page nor the vendor.
    let c_before = nodes[2].state_hash().unwrap();
    let misdelivered = nodes[2].import_bundle(&for_b);
    if let Err(e) = &misdelivered {
        assert_ne!(e.code(), "store", "a misdelivered bundle broke the store: {e}");
        assert_eq!(nodes[2].state_hash().unwrap(), c_before);
    }
    // C keeps working, and is reopened before the history arrives.
    nodes[2]
        .create(Kind::Vendor, fields([("name", "Fabrikam".into())]))
        .unwrap();
    let dir = nodes[2].dir().to_path_buf();
    nodes[2] = Node::open(&dir).unwrap();
    nodes[2].set_clock(clock());
    sync_all(&mut nodes);
    all_equal(&hashes(&mut nodes));
    for n in nodes.iter_mut() {
        assert_eq!(
            n.get(Kind::Page, &page.id).unwrap().str("text"),
            Some("Open tray 2.\nPull gently.")
        );
        assert_eq!(
            n.get(Kind::Asset, PRINTERS[1]).unwrap().str("status"),
            Some("in-repair")
        );
        assert!(n.get(Kind::Vendor, "Fabrikam").is_ok() && n.get(Kind::Vendor, "Contoso").is_ok());
        assert_eq!(n.conflicts().unwrap(), vec![]);
    }
    let answers: Vec<String> = nodes.iter_mut().map(|n| index_answers(n).unwrap()).collect();
    all_equal(&answers);
}

/// Exchanging in both directions repeatedly reaches a fixed point: nothing new moves.
#[test]
fn converged_replicas_exchange_nothing() {
    let (_dirs, mut nodes) = three_replicas();
    nodes[1]
        .create(Kind::Vendor, fields([("name", "Litware".into())]))
        .unwrap();
    sync_all(&mut nodes);
    let (a, rest) = nodes.split_at_mut(1);
    let before = (a[0].state_hash().unwrap(), rest[0].state_hash().unwrap());
    exchange(&mut a[0], &mut rest[0]).unwrap();
    let full = a[0].export_bundle(None).unwrap();
    let report = rest[0].import_bundle(&full).unwrap();
    assert_eq!(report.changes_new, 0);
    assert_eq!(report.changes_known, changes_in(&full));
    assert_eq!(
        (a[0].state_hash().unwrap(), rest[0].state_hash().unwrap()),
        before
    );
    assert_eq!(before.0, before.1);
}

/// Two nodes on one data directory (a daemon and a CLI at the same desk): each
/// sees every change the other wrote, however often the other folded a document's
/// changes into a snapshot in between.
#[test]
fn a_node_keeps_up_with_compactions_by_another_on_its_directory() {
    let dir = TempDir::new().unwrap();
    let mut a = init_system(dir.path(), "dev0").unwrap();
    let first = a.state_hash().unwrap(); // every document now in a's memory
    let mut b = Node::open(dir.path()).unwrap();
    b.set_clock(clock());
    for i in 0..150 {
        b.update(
            Kind::Asset,
            PRINTERS[0],
            fields([("notes", format!("note {i} from b").into())]),
        )
        .unwrap();
    }
    let fresh = Node::open(dir.path()).unwrap().state_hash().unwrap();
    assert_ne!(fresh, first);
    assert_eq!(
        a.state_hash().unwrap(),
        fresh,
        "a missed changes b compacted away"
    );
    // a writes on top of what it has seen; a fresh reader sees both.
    a.update(Kind::Asset, PRINTERS[1], fields([("notes", "from a".into())]))
        .unwrap();
    let mut reader = Node::open(dir.path()).unwrap();
    assert_eq!(reader.state_hash().unwrap(), a.state_hash().unwrap());
    assert_eq!(
        reader.get(Kind::Asset, PRINTERS[0]).unwrap().str("notes"),
        Some("note 149 from b")
    );
}

/// Two nodes on one data directory taking turns at one record: each builds on the
/// other's last write (a node re-reads a document it holds only when another
/// connection has committed, which SQLite's data version tells), so the history
/// stays one line and the last write wins, as if one node had made them all.
#[test]
fn nodes_taking_turns_on_one_directory_build_on_each_others_writes() {
    let dir = TempDir::new().unwrap();
    let mut a = init_system(dir.path(), "dev0").unwrap();
    let mut b = Node::open(dir.path()).unwrap();
    b.set_clock(clock());
    for i in 0..40 {
        let (n, who) = if i % 3 == 0 { (&mut a, "a") } else { (&mut b, "b") };
        n.update(
            Kind::Asset,
            PRINTERS[0],
            fields([("notes", format!("turn {i} by {who}").into())]),
        )
        .unwrap();
    }
    let mut reader = Node::open(dir.path()).unwrap();
    let inventory = reader
        .doc_list()
        .unwrap()
        .into_iter()
        .find(|d| d.id == "inventory")
        .unwrap();
    assert_eq!(inventory.heads.len(), 1, "a write did not see the one before it");
    for n in [&mut a, &mut b, &mut reader] {
        assert_eq!(
            n.get(Kind::Asset, PRINTERS[0]).unwrap().str("notes"),
            Some("turn 39 by a")
        );
    }
    let h = reader.state_hash().unwrap();
    assert_eq!(a.state_hash().unwrap(), h);
    assert_eq!(b.state_hash().unwrap(), h);
}

/// A merge that folds a document's changes into a snapshot still shows that
/// document as changed to a node watching the same data directory (the daemon
/// pushes what a CLI imported).
#[test]
fn a_compacting_merge_is_seen_by_a_node_watching_the_directory() {
    let (_dirs, mut nodes) = three_replicas();
    for i in 0..80 {
        nodes[0]
            .update(
                Kind::Asset,
                PRINTERS[0],
                fields([("notes", format!("note {i}").into())]),
            )
            .unwrap();
    }
    let bundle = {
        let summary = nodes[1].summary().unwrap();
        nodes[0].export_bundle(Some(&summary)).unwrap()
    };
    let dir = nodes[1].dir().to_path_buf();
    let (since, _) = nodes[1].changes_since(i64::MAX).unwrap();
    let mut cli = Node::open(&dir).unwrap();
    let report = cli.import_bundle(&bundle).unwrap();
    assert!(report.changes_new >= 80);
    let (_, changed) = nodes[1].changes_since(since).unwrap();
    assert!(
        changed.contains(&branchline_core::DocId::Inventory),
        "the watcher missed the merge: {changed:?}"
    );
    assert_eq!(
        nodes[1].state_hash().unwrap(),
        Node::open(&dir).unwrap().state_hash().unwrap()
    );
}
