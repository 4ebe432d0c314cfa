//! Writes the seed corpus of the `bundle_decode` fuzz target:
//! `cargo run -p branchline-tests --bin gen_bundle_seeds -- fuzz/corpus/bundle_decode`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: gen_bundle_seeds <corpus dir>"),
    );
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in branchline_tests::seeds::generate().unwrap() {
        std::fs::write(dir.join(&name), &bytes).unwrap();
        println!("{name}: {} bytes", bytes.len());
    }
}
