//! Length-prefixed frames come from the network: splitting a byte stream into them
//! must never panic, never hand out more than the limit, and must agree with
//! `decode_header` and `encode_frame`. Build with `--features frame`.
//! The harness is shared with the replay test in `tests/tests/fuzz_corpus_frame.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../common/frame_split.rs"]
#[allow(dead_code)]
mod harness;

fuzz_target!(|data: &[u8]| {
    let _ = harness::run(data);
});
