//! A writer killed with SIGKILL at arbitrary moments loses nothing it acknowledged,
//! leaves a sound database, and the replica keeps working.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use branchline_core::schema::Kind;
use branchline_node::Node;
use branchline_tests::{clock, fields, init_system, join};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs the writer on `dir` until it has acknowledged `acks` vendors (plus whatever
/// it managed before the kill landed), kills it, and returns every acknowledged name.
fn write_until_killed(
    dir: &std::path::Path,
    prefix: &str,
    acks: usize,
    extra_delay: Duration,
) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
        .arg(dir)
        .arg(prefix)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.len() < acks {
        let line = lines
            .next()
            .expect("writer stopped before it was killed")
            .unwrap();
        acked.push(line.strip_prefix("ack ").expect("ack line").to_string());
        assert!(Instant::now() < deadline, "writer too slow: {} acks", acked.len());
    }
    std::thread::sleep(extra_delay);
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the writer was killed, not finished: {status:?}"
    );
    // Acks already in the pipe were acknowledged before the kill too.
    for line in lines {
        let line = line.unwrap();
        if let Some(name) = line.strip_prefix("ack ") {
            acked.push(name.to_string());
        }
    }
    acked
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let tmp = tempfile::TempDir::new().unwrap();
    let dir = tmp.path().join("replica");
    let mut node = init_system(&dir, "crashy").unwrap();
    let vendors_before = node.count(Kind::Vendor).unwrap();
    drop(node);

    let mut all_acked: Vec<String> = Vec::new();
    // Kill at different moments, each after a different pause. By the second round
    // the inventory document passes the 256 stored changes after which a replica
    // compacts it into a snapshot, so kills also land around compaction.
    let rounds = [(200, 0), (70, 3), (150, 1)];
    for (round, (acks, delay_ms)) in rounds.into_iter().enumerate() {
        let acked = write_until_killed(&dir, &format!("r{round}"), acks, Duration::from_millis(delay_ms));
        assert!(acked.len() >= acks);
        all_acked.extend(acked);

        let mut node = Node::open(&dir).unwrap();
        node.set_clock(clock());
        assert_eq!(node.integrity_check().unwrap(), "ok", "round {round}");
        for name in &all_acked {
            let v = node
                .get(Kind::Vendor, name)
                .unwrap_or_else(|e| panic!("round {round}: acked {name} lost: {e}"));
            assert_eq!(v.str("name"), Some(name.as_str()));
        }
        // The documents hold them too, not only the index.
        let state = node.export_state().unwrap();
        let names: std::collections::BTreeSet<&str> = state["inventory"]["vendor"]
            .as_object()
            .unwrap()
            .values()
            .filter_map(|v| v["name"].as_str())
            .collect();
        for name in &all_acked {
            assert!(
                names.contains(name.as_str()),
                "round {round}: {name} missing from the documents"
            );
        }
        // At most one write was cut off unacknowledged; nothing else appeared.
        let count = node.count(Kind::Vendor).unwrap();
        let acked_total = all_acked.len() as i64 + vendors_before;
        assert!(
            (acked_total..=acked_total + round as i64 + 1).contains(&count),
            "round {round}: {count} vendors, {acked_total} acked"
        );
        // The index agrees with the documents after a crash.
        let before = node.list(Kind::Vendor, &Default::default()).unwrap();
        node.rebuild_index().unwrap();
        assert_eq!(
            node.list(Kind::Vendor, &Default::default()).unwrap(),
            before,
            "round {round}: index drifted"
        );
        // Still accepts writes, and still syncs.
        let name = format!("after-crash-{round}");
        node.create(Kind::Vendor, fields([("name", name.as_str().into())]))
            .unwrap();
        assert!(node.get(Kind::Vendor, &name).is_ok());
        all_acked.push(name);
    }

    let mut node = Node::open(&dir).unwrap();
    node.set_clock(clock());
    let peer_dir = tmp.path().join("peer");
    let mut peer = join(&mut node, &peer_dir, "peer").unwrap();
    for name in &all_acked {
        assert!(
            peer.get(Kind::Vendor, name).is_ok(),
            "{name} did not reach a new replica"
        );
    }
    let bytes = peer.export_bundle(Some(&node.summary().unwrap())).unwrap();
    node.import_bundle(&bytes).unwrap();
    assert_eq!(node.state_hash().unwrap(), peer.state_hash().unwrap());
}
