//! The `bundle_decode` fuzz target's seed corpus and any crash regressions, run
//! through `bundle::decode` on every `cargo test`: real bundles decode, damaged ones
//! are refused, nothing panics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use branchline_core::bundle::{decode, BundleError};
use branchline_tests::{reseal, seeds};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fuzz_dir(sub: &str) -> PathBuf {
    branchline_tests::fuzz_dir("bundle_decode", sub)
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    branchline_tests::files_in(dir)
}

/// What the fuzz target does with one input; returns the plain decode's outcome.
fn run_target(data: &[u8]) -> Result<usize, BundleError> {
    let plain = decode(data, None).map(|b| b.docs.len());
    let _ = decode(data, Some("x"));
    let _ = decode(&reseal(data), None);
    plain
}

fn check(name: &str, data: &[u8]) {
    let outcome = run_target(data);
    if name.starts_with("valid-") {
        let b = decode(data, None).unwrap_or_else(|e| panic!("{name} should decode: {e}"));
        assert!(
            matches!(decode(data, Some("x")), Err(BundleError::ForeignSystem { .. })),
            "{name} is not of system x"
        );
        assert!(
            decode(data, Some(&b.header.system)).is_ok(),
            "{name} with its own system"
        );
        assert_eq!(reseal(data), data, "{name} carries a correct digest");
    } else if name.starts_with("bad-") {
        assert!(outcome.is_err(), "{name} should be refused, decoded {outcome:?}");
        assert!(
            decode(data, Some("x")).is_err(),
            "{name} should be refused for system x"
        );
    }
}

#[test]
fn seeds_and_crash_regressions_decode_as_labelled() {
    let corpus = files(&fuzz_dir("corpus"));
    let valid: Vec<usize> = corpus
        .iter()
        .filter(|(n, _)| n.starts_with("valid-"))
        .map(|(n, d)| {
            decode(d, None)
                .map(|b| b.docs.len())
                .unwrap_or_else(|e| panic!("{n}: {e}"))
        })
        .collect();
    let bad = corpus.keys().filter(|n| n.starts_with("bad-")).count();
    assert!(
        valid.contains(&0) && valid.contains(&1) && valid.iter().any(|n| *n > 1),
        "doc counts {valid:?}"
    );
    assert!(bad >= 10, "only {bad} damaged seeds");
    for (name, data) in &corpus {
        check(name, data);
    }
    // Crashers the fuzzer found, once copied here, must stay fixed.
    for (name, data) in &files(&fuzz_dir("regressions")) {
        check(name, data);
    }
}

#[test]
fn resealed_seeds_reach_the_parser_and_are_refused_there() {
    let corpus = files(&fuzz_dir("corpus"));
    let mut reasons = BTreeMap::new();
    for (name, data) in corpus.iter().filter(|(n, _)| n.starts_with("bad-resealed-")) {
        let e = decode(data, None).expect_err(name);
        assert_ne!(e, BundleError::Checksum, "{name} should pass the digest check");
        reasons.insert(name.clone(), e);
    }
    assert!(reasons.len() >= 6, "{reasons:?}");
    assert!(
        reasons
            .values()
            .any(|e| matches!(e, BundleError::Corrupt(m) if m.contains("change in"))),
        "{reasons:?}"
    );
    assert!(
        reasons.values().any(|e| *e == BundleError::Truncated),
        "{reasons:?}"
    );
}

/// The generator still produces what is checked in: same names, same verdicts.
#[test]
fn generator_agrees_with_checked_in_seeds() {
    let corpus = files(&fuzz_dir("corpus"));
    let fresh = seeds::generate().unwrap();
    assert!(fresh.len() >= 13);
    for (name, data) in &fresh {
        assert!(
            corpus.contains_key(name),
            "{name} is generated but not checked in"
        );
        check(name, data);
        // Accepted with the same documents, or refused: which check refuses a damaged
        // seed may differ between runs (a flipped bit in freshly compressed data fails
        // decompression or the checksum, depending on the random content).
        let checked_in = decode(&corpus[name], None).map(|b| b.docs.len()).ok();
        assert_eq!(
            decode(data, None).map(|b| b.docs.len()).ok(),
            checked_in,
            "{name}"
        );
    }
}
