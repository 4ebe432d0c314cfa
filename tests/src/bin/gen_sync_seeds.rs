//! Writes the seed corpora of the `sync_msg` and `frame_split` fuzz targets:
//! `cargo run -p branchline-tests --bin gen_sync_seeds -- fuzz/corpus/sync_msg fuzz/corpus/frame_split`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

fn write(dir: &str, seeds: Vec<(String, Vec<u8>)>) {
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in seeds {
        std::fs::write(dir.join(&name), &bytes).unwrap();
        println!("{}: {} bytes", dir.join(&name).display(), bytes.len());
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let sync = args
        .next()
        .expect("usage: gen_sync_seeds <sync_msg corpus dir> [<frame_split corpus dir>]");
    write(&sync, branchline_tests::sync_seeds::generate());
    if let Some(frames) = args.next() {
        write(&frames, branchline_tests::sync_seeds::frame_seeds());
    }
}
