//! Crash-test helper: opens the replica in argv[1] and creates vendors named
//! `<argv[2]>-v-<n>` forever, printing `ack <name>` once each create has returned.
//! The test kills it with SIGKILL and checks every acknowledged vendor survived.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use branchline_core::schema::Kind;
use branchline_node::Node;
use std::io::Write;
use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("usage: crash_writer <data dir> <prefix>"));
    let prefix = args.next().unwrap_or_else(|| "w".to_string());
    let mut node = Node::open(&dir).expect("open the replica");
    node.set_clock(branchline_tests::clock());
    let mut out = std::io::stdout().lock();
    for n in 0u64.. {
        let name = format!("{prefix}-v-{n}");
        let fields = branchline_tests::fields([
            ("name", name.as_str().into()),
            ("account", format!("ACC-{n}").into()),
        ]);
        node.create(Kind::Vendor, fields).expect("create a vendor");
        writeln!(out, "ack {name}").expect("write the ack");
        out.flush().expect("flush the ack");
    }
}
