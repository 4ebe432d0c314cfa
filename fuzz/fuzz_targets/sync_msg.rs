//! Sync frames come from the network: decoding must refuse, never panic; a message
//! that decodes must survive a round trip through `encode`; and no frame, handed to a
//! session at any point of an exchange between two replicas, may make it panic.
//! The harness is shared with the replay test in `tests/tests/fuzz_corpus_sync.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../common/sync_session.rs"]
#[allow(dead_code)]
mod harness;

fuzz_target!(|data: &[u8]| {
    let _ = harness::run(data);
});
