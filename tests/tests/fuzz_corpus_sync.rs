//! The `sync_msg` fuzz target's seed corpus and any crash regressions, run on every
//! `cargo test` through exactly what the fuzz target runs (`fuzz/common/sync_session.rs`):
//! `SyncMsg::decode` with a round trip through `encode`, then a `Session` of two
//! in-memory replicas at several points of their exchange. Seeds named `valid-*`
//! decode, `bad-*` are refused, nothing panics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use branchline_core::sync::{ReconItem, SyncError, SyncMsg};
use branchline_tests::sync_harness::{self, At, Pair, SCENARIOS};
use branchline_tests::sync_seeds;
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fuzz_dir(sub: &str) -> PathBuf {
    branchline_tests::fuzz_dir("sync_msg", sub)
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    branchline_tests::files_in(dir)
}

/// Crashers in `regressions/sync_msg/` whose bug is still open, with a part of the
/// panic message they must still produce. They are reproduced on every run; once
/// the bug is fixed this test fails on them, and the entry is to be removed (the
/// file stays, as a regression that must not panic again).
const OPEN_CRASHERS: &[(&str, &str)] = &[
    // Empty: `crash-bloom-zero-bits-per-entry.msg` (a Bloom filter with entries and
    // zero bits per entry, which made automerge 0.12 divide by zero) is refused by
    // `core::sync` since it was found, and now replays as an ordinary regression.
];

/// The fuzz target on one input, with the verdict its name promises.
fn check(name: &str, data: &[u8]) {
    let decoded = sync_harness::run(data);
    if name.starts_with("valid-") {
        let msg = decoded.unwrap_or_else(|e| panic!("{name} should decode: {e}"));
        assert_eq!(msg.encode(), data, "{name} is in canonical form");
    } else if name.starts_with("bad-") {
        assert!(decoded.is_err(), "{name} should be refused, decoded {decoded:?}");
    }
}

fn kind(m: &SyncMsg) -> &'static str {
    match m {
        SyncMsg::Hello { .. } => "hello",
        SyncMsg::Recon { items, .. } if items.is_empty() => "recon-empty",
        SyncMsg::Recon { .. } => "recon",
        SyncMsg::DocSync { .. } => "docsync",
        SyncMsg::DocSyncPacked { .. } => "docsync-packed",
        SyncMsg::Refuse { .. } => "refuse",
        SyncMsg::Whole { .. } => "whole",
        SyncMsg::Want { .. } => "want",
        SyncMsg::WantKeys { .. } => "want-keys",
    }
}

#[test]
fn seeds_decode_as_labelled_and_never_panic_a_session() {
    let corpus = files(&fuzz_dir("corpus"));
    let valid: Vec<SyncMsg> = corpus
        .iter()
        .filter(|(n, _)| n.starts_with("valid-"))
        .map(|(n, d)| SyncMsg::decode(d).unwrap_or_else(|e| panic!("{n}: {e}")))
        .collect();
    let kinds: BTreeSet<&str> = valid.iter().map(kind).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "docsync",
            "docsync-packed",
            "hello",
            "recon",
            "recon-empty",
            "refuse",
            "want",
            "want-keys",
            "whole"
        ]),
        "every message kind is seeded"
    );
    let items: Vec<&ReconItem> = valid
        .iter()
        .filter_map(|m| match m {
            SyncMsg::Recon { items, .. } => Some(items),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(items.iter().any(|i| matches!(i, ReconItem::Fingerprint { .. })));
    assert!(items.iter().any(|i| matches!(i, ReconItem::List { .. })));
    assert!(items
        .iter()
        .any(|i| matches!(i, ReconItem::FingerprintShort { .. })));
    assert!(items.iter().any(|i| matches!(i, ReconItem::ListShort { .. })));
    assert!(items.iter().any(|i| matches!(i, ReconItem::Children { .. })));
    assert!(items.iter().any(|i| matches!(i, ReconItem::Keys { .. })));
    // At least one DocSync carries a real automerge sync message with changes.
    assert!(valid.iter().any(|m| matches!(m,
        SyncMsg::DocSync { data, .. }
            if automerge::sync::Message::decode(data).is_ok_and(|am| !am.changes.is_empty()))));
    let bad = corpus.keys().filter(|n| n.starts_with("bad-")).count();
    assert!(bad >= 30, "only {bad} damaged seeds");
    for (name, data) in &corpus {
        check(name, data);
    }
}

#[test]
fn crash_regressions_stay_fixed() {
    let regressions = files(&fuzz_dir("regressions"));
    let mut still_open = Vec::new();
    for (name, data) in &regressions {
        let open = OPEN_CRASHERS.iter().find(|(n, _)| n == name);
        match open {
            None => check(name, data),
            Some((_, message)) => {
                let caught = catch_unwind(AssertUnwindSafe(|| sync_harness::run(data)));
                let Err(payload) = caught else {
                    panic!("{name} no longer panics: the bug is fixed, drop it from OPEN_CRASHERS");
                };
                let text = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                assert!(text.contains(message), "{name} panics differently now: {text:?}");
                still_open.push(name.clone());
            }
        }
    }
    for (name, _) in OPEN_CRASHERS {
        assert!(
            regressions.contains_key(*name),
            "{name} is listed as open but missing"
        );
    }
    if !still_open.is_empty() {
        eprintln!("open sync crashers, reproduced: {still_open:?}");
    }
}

/// The seeds fit the harness's replicas: a Hello from B, a reconciliation item, a
/// document's changes each get taken by A at some point of the exchange, rather than
/// all being refused up front.
#[test]
fn seeds_reach_the_session() {
    let corpus = files(&fuzz_dir("corpus"));
    for (name, data) in corpus.iter().filter(|(n, _)| n.starts_with("valid-")) {
        let taken: Vec<(bool, At)> = SCENARIOS
            .iter()
            .copied()
            .filter(|&(into_a, at)| sync_harness::scenario(data, into_a, at))
            .collect();
        if name.contains("garbage") {
            assert!(taken.len() < SCENARIOS.len(), "{name} refused somewhere");
        } else {
            assert!(!taken.is_empty(), "{name} is refused in every scenario");
        }
    }
    // A DocSync of the shared document, handed to A once the Hellos are through,
    // changes A's copy.
    let changes = corpus
        .iter()
        .filter(|(n, _)| n.starts_with("valid-docsync-shared-"))
        .find(|(_, d)| {
            let mut p = Pair::new();
            while p.delivered < 2 && p.step() {}
            let before = p.a.changed;
            p.receive(true, d) && p.a.changed > before
        });
    assert!(changes.is_some(), "no seed brings A new changes");
}

/// Without interference the two replicas of the harness converge: the scenarios
/// start from a working exchange, not one that is already broken.
#[test]
fn harness_replicas_converge_unharmed() {
    let mut p = Pair::new();
    p.run();
    assert!(
        p.closed.is_none(),
        "{:?}",
        p.closed.as_ref().map(SyncError::to_string)
    );
    assert!(p.queue.is_empty(), "still talking after {} frames", p.delivered);
    assert!(p.sa.is_caught_up() && p.sb.is_caught_up());
    assert_eq!(
        branchline_core::sync::DocSource::manifest(&p.a).into_owned(),
        branchline_core::sync::DocSource::manifest(&p.b)
            .into_owned()
            .into_iter()
            .filter(|(id, _)| *id != sync_harness::refused_by_a())
            .collect::<branchline_core::sync::Manifest>()
    );
    assert!(p.delivered > 5, "only {} frames", p.delivered);
}

/// The generator still produces what is checked in: same names, same verdicts, same
/// kinds of message.
#[test]
fn generator_agrees_with_checked_in_seeds() {
    let corpus = files(&fuzz_dir("corpus"));
    let fresh = sync_seeds::generate();
    assert!(fresh.len() >= 60, "{} seeds", fresh.len());
    for (name, data) in &fresh {
        assert!(
            corpus.contains_key(name),
            "{name} is generated but not checked in"
        );
        let checked_in = SyncMsg::decode(&corpus[name]).map(|m| kind(&m));
        let now = SyncMsg::decode(data).map(|m| kind(&m));
        assert_eq!(
            now.as_ref().ok(),
            checked_in.as_ref().ok(),
            "{name}: {now:?} vs {checked_in:?}"
        );
    }
}
