//! The `frame_split` fuzz target's seed corpus and any crash regressions, run on every
//! `cargo test` through what the fuzz target runs (`fuzz/common/frame_split.rs`). Seeds
//! are named for how their stream ends: `clean-*`, `partial-*`, `too-large-*`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use branchline_tests::frame_harness::{self, End};
use branchline_tests::sync_seeds;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fuzz_dir(sub: &str) -> PathBuf {
    branchline_tests::fuzz_dir("frame_split", sub)
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    branchline_tests::files_in(dir)
}

fn expected(name: &str) -> Option<End> {
    [
        ("clean-", End::Clean),
        ("partial-", End::Partial),
        ("too-large-", End::TooLarge),
    ]
    .into_iter()
    .find(|(p, _)| name.starts_with(p))
    .map(|(_, e)| e)
}

fn check(name: &str, data: &[u8]) {
    let outcome = frame_harness::run(data);
    if let Some(want) = expected(name) {
        let (payloads, end) = outcome.unwrap_or_else(|| panic!("{name} is empty"));
        assert_eq!(end, want, "{name}");
        // Frames of a seed carry sync messages the way the node sends them.
        for p in payloads.iter().filter(|p| p.len() > 1) {
            assert_eq!(p[0], 1, "{name}: kind byte");
            branchline_core::sync::SyncMsg::decode(&p[1..])
                .unwrap_or_else(|e| panic!("{name}: a framed sync message: {e}"));
        }
    }
}

#[test]
fn seeds_and_crash_regressions_split_as_labelled() {
    let corpus = files(&fuzz_dir("corpus"));
    for end in [End::Clean, End::Partial, End::TooLarge] {
        assert!(corpus.keys().any(|n| expected(n) == Some(end)), "no {end:?} seed");
    }
    for (name, data) in corpus.iter().chain(&files(&fuzz_dir("regressions"))) {
        check(name, data);
    }
}

#[test]
fn generator_agrees_with_checked_in_seeds() {
    let corpus = files(&fuzz_dir("corpus"));
    let fresh = sync_seeds::frame_seeds();
    assert!(fresh.len() >= 10);
    for (name, data) in &fresh {
        assert!(
            corpus.contains_key(name),
            "{name} is generated but not checked in"
        );
        check(name, data);
    }
}
