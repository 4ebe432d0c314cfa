//! The real `branchline` binary, as staff and scripts use it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

const NOW: &str = "2026-11-23T08:00"; // a Monday morning

fn bl(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_branchline"))
        .arg("--data")
        .arg(dir)
        .args(args)
        .env("BRANCHLINE_NOW", NOW)
        .env_remove("BRANCHLINE_STAFF")
        .output()
        .unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = bl(dir, args);
    assert!(
        out.status.success(),
        "branchline {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&ok(dir, &a)).unwrap()
}

fn hash(dir: &Path) -> String {
    ok(dir, &["state-hash"]).trim().to_string()
}

/// Two replicas of one library system with branches CEN and NOR and a bookable station.
fn two_replicas(tmp: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (a, b) = (tmp.join("a"), tmp.join("b"));
    ok(
        &a,
        &[
            "init",
            "--system",
            "Test Library",
            "--branch",
            "CEN",
            "--device",
            "cen-desk",
        ],
    );
    ok(&a, &["branch", "add", "--code", "NOR", "--name", "Northside"]);
    ok(
        &a,
        &[
            "asset",
            "add",
            "--tag",
            "CEN-PC-1",
            "--name",
            "Dell",
            "--category",
            "public-pc",
            "--branch",
            "CEN",
            "--bookable",
            "yes",
        ],
    );
    let bundle = tmp.join("all.blb");
    ok(&a, &["bundle", "export", bundle.to_str().unwrap()]);
    ok(
        &b,
        &[
            "init",
            "--from-bundle",
            bundle.to_str().unwrap(),
            "--branch",
            "NOR",
            "--device",
            "laptop",
        ],
    );
    (a, b)
}

/// Carry everything each side lacks to the other, by summary and bundle.
fn exchange(tmp: &Path, x: &Path, y: &Path) {
    for (from, to) in [(x, y), (y, x)] {
        let summary = tmp.join("summary.json");
        let bundle = tmp.join("delta.blb");
        ok(to, &["bundle", "summary", summary.to_str().unwrap()]);
        ok(
            from,
            &[
                "bundle",
                "export",
                bundle.to_str().unwrap(),
                "--for",
                summary.to_str().unwrap(),
            ],
        );
        ok(to, &["bundle", "import", bundle.to_str().unwrap()]);
    }
}

#[test]
fn exit_codes_and_errors_name_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("r");
    assert_eq!(bl(&d, &["status"]).status.code(), Some(1), "no replica yet");
    ok(&d, &["init", "--system", "T", "--branch", "CEN", "--device", "d"]);
    let out = bl(
        &d,
        &[
            "asset",
            "add",
            "--tag",
            "X1",
            "--name",
            "PC",
            "--category",
            "public-pc",
            "--branch",
            "ZZZ",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["code"], "invalid");
    assert_eq!(err["error"]["field"], "branch");
    assert_eq!(bl(&d, &["asset", "frobnicate"]).status.code(), Some(2));
    assert_eq!(
        bl(&d, &["asset", "add", "--no-such-flag", "x"]).status.code(),
        Some(2)
    );
    assert_eq!(bl(&d, &["--help"]).status.code(), Some(0));
    let help = String::from_utf8(bl(&d, &["booking", "add", "--help"]).stdout).unwrap();
    assert!(help.contains("Example:") && help.contains("--station"), "{help}");
    // Duplicate tag and end-before-start are refused and name their field.
    ok(
        &d,
        &[
            "asset",
            "add",
            "--tag",
            "X1",
            "--name",
            "PC",
            "--category",
            "public-pc",
            "--branch",
            "CEN",
            "--bookable",
            "yes",
        ],
    );
    let dup = bl(
        &d,
        &[
            "asset",
            "add",
            "--tag",
            "X1",
            "--name",
            "PC",
            "--category",
            "printer",
            "--branch",
            "CEN",
        ],
    );
    assert!(String::from_utf8_lossy(&dup.stderr).contains("tag"));
    let back = bl(
        &d,
        &[
            "booking",
            "add",
            "--station",
            "X1",
            "--patron",
            "123",
            "--start",
            "2026-11-23T11:00",
            "--end",
            "2026-11-23T10:00",
        ],
    );
    assert_eq!(back.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&back.stderr).contains("end"));
    let late = bl(
        &d,
        &[
            "booking",
            "add",
            "--station",
            "X1",
            "--patron",
            "123",
            "--start",
            "2026-11-23T19:30",
            "--end",
            "2026-11-23T20:30",
        ],
    );
    assert!(String::from_utf8_lossy(&late.stderr).contains("opening hours"));
}

#[test]
fn crud_list_filters_history_and_index_rebuild() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("r");
    ok(
        &d,
        &["init", "--system", "T", "--branch", "CEN", "--device", "desk-1"],
    );
    ok(
        &d,
        &["staff", "add", "--name", "Ana Brooks", "--role", "technician"],
    );
    ok(
        &d,
        &[
            "asset",
            "add",
            "--tag",
            "CEN-PR-1",
            "--name",
            "HP LaserJet",
            "--category",
            "printer",
            "--branch",
            "CEN",
            "--purchase-cost",
            "499.90",
        ],
    );
    ok(
        &d,
        &[
            "asset",
            "add",
            "--tag",
            "CEN-PC-1",
            "--name",
            "Dell OptiPlex",
            "--category",
            "public-pc",
            "--branch",
            "CEN",
        ],
    );
    let found = json(&d, &["asset", "list", "--search", "laser"]);
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["purchase_cost"], 49990);
    ok(
        &d,
        &[
            "--as",
            "Ana Brooks",
            "asset",
            "update",
            "CEN-PR-1",
            "--status",
            "in-repair",
        ],
    );
    let shown = json(&d, &["asset", "show", "CEN-PR-1"]);
    assert_eq!(shown["status"], "in-repair");
    let t = json(
        &d,
        &[
            "ticket",
            "add",
            "--asset",
            "CEN-PR-1",
            "--category",
            "printer",
            "--summary",
            "Jam",
        ],
    );
    assert_eq!(t["number"], "CEN-0001");
    assert_eq!(t["branch"], "CEN");
    let logged = json(
        &d,
        &[
            "ticket",
            "log",
            "CEN-0001",
            "--minutes",
            "15",
            "--text",
            "cleared",
        ],
    );
    assert_eq!(logged["work"].as_array().unwrap().len(), 1);
    let history = json(&d, &["history", "CEN-PR-1"]);
    let entries = history["history"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["staff"], "Ana Brooks");
    assert!(entries[1]["device"].as_str().unwrap().contains("desk-1"));
    assert_eq!(entries[1]["fields"]["status"], "in-repair");
    let retired = json(&d, &["asset", "retire", "CEN-PC-1"]);
    assert_eq!(retired["status"], "retired");

    let before = ok(&d, &["asset", "list", "--json"]);
    let tickets = ok(&d, &["ticket", "list", "--json"]);
    ok(&d, &["index", "rebuild"]);
    assert_eq!(ok(&d, &["asset", "list", "--json"]), before);
    assert_eq!(ok(&d, &["ticket", "list", "--json"]), tickets);

    // doc export writes bytes automerge loads, holding the same records.
    let file = tmp.path().join("inv.automerge");
    ok(&d, &["doc", "export", "inventory", file.to_str().unwrap()]);
    let doc = automerge::Automerge::load(&std::fs::read(&file).unwrap()).unwrap();
    let assets = branchline_core::doc::read_records(&doc, branchline_core::Kind::Asset);
    assert_eq!(assets.len(), 2);
    let docs = json(&d, &["doc", "list"]);
    assert!(docs.as_array().unwrap().iter().any(|x| x["id"] == "inventory"));
}

#[test]
fn bundles_merge_in_any_order_and_bad_bundles_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = two_replicas(tmp.path());
    // The new device's enrolment is a change of its own: the states differ until exchanged.
    assert_ne!(hash(&a), hash(&b));
    ok(&a, &["vendor", "add", "--name", "Acme"]);
    ok(&b, &["vendor", "add", "--name", "Metro Office Supply"]);
    ok(
        &b,
        &[
            "asset",
            "add",
            "--tag",
            "NOR-PC-1",
            "--name",
            "Lenovo",
            "--category",
            "staff-pc",
            "--branch",
            "NOR",
        ],
    );
    let full_a = tmp.path().join("a.blb");
    ok(&a, &["bundle", "export", full_a.to_str().unwrap()]);
    let full_b = tmp.path().join("b.blb");
    ok(&b, &["bundle", "export", full_b.to_str().unwrap()]);
    ok(&a, &["bundle", "import", full_b.to_str().unwrap()]);
    ok(&a, &["bundle", "import", full_b.to_str().unwrap()]);
    ok(&b, &["bundle", "import", full_a.to_str().unwrap()]);
    assert_eq!(hash(&a), hash(&b));
    assert_eq!(ok(&a, &["export", "--json"]), ok(&b, &["export", "--json"]));

    let good = std::fs::read(&full_a).unwrap();
    let before = hash(&b);
    let truncated = tmp.path().join("t.blb");
    std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
    let mut flipped = good.clone();
    let at = flipped.len() - 40; // inside the last change, not a length field
    flipped[at] ^= 0x40;
    let corrupt = tmp.path().join("c.blb");
    std::fs::write(&corrupt, &flipped).unwrap();
    let other = tmp.path().join("o");
    ok(
        &other,
        &[
            "init",
            "--system",
            "Other Library",
            "--branch",
            "CEN",
            "--device",
            "x",
        ],
    );
    let foreign = tmp.path().join("f.blb");
    ok(&other, &["bundle", "export", foreign.to_str().unwrap()]);
    for (file, word) in [
        (&truncated, "truncated"),
        (&corrupt, "corrupt"),
        (&foreign, "library system"),
    ] {
        let out = bl(&b, &["bundle", "import", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{file:?} must be refused");
        let msg = String::from_utf8_lossy(&out.stderr);
        assert!(msg.contains(word), "message for {file:?}: {msg}");
        assert_eq!(hash(&b), before, "a refused bundle changes nothing");
    }
}

#[test]
fn double_booking_made_offline_is_listed_on_both_and_settled_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = two_replicas(tmp.path());
    let book = |d: &Path, patron: &str| {
        json(
            d,
            &[
                "booking",
                "add",
                "--station",
                "CEN-PC-1",
                "--patron",
                patron,
                "--start",
                "2026-11-23T10:00",
                "--end",
                "2026-11-23T11:00",
            ],
        )
    };
    let kept = book(&a, "1111");
    book(&b, "G-22");
    // The same station cannot be booked twice on one replica.
    assert_eq!(
        bl(
            &a,
            &[
                "booking",
                "add",
                "--station",
                "CEN-PC-1",
                "--patron",
                "3",
                "--start",
                "2026-11-23T10:30",
                "--end",
                "2026-11-23T11:00"
            ]
        )
        .status
        .code(),
        Some(1)
    );
    ok(
        &a,
        &["asset", "update", "CEN-PC-1", "--location", "Gateway Center"],
    );
    ok(&b, &["asset", "update", "CEN-PC-1", "--location", "Children's"]);
    exchange(tmp.path(), &a, &b);
    let (ca, cb) = (json(&a, &["conflicts"]), json(&b, &["conflicts"]));
    assert_eq!(ca, cb, "both replicas list the same conflicts");
    let list = ca.as_array().unwrap();
    assert_eq!(list.len(), 2, "{ca:#}");
    let booking = list.iter().find(|c| c["kind"] == "double-booking").unwrap();
    assert_eq!(booking["sides"].as_array().unwrap().len(), 2);
    let location = list.iter().find(|c| c["kind"] == "asset-field").unwrap();
    let human = ok(&b, &["conflicts"]);
    assert!(
        human.contains("cen-desk") && human.contains("laptop"),
        "sides name their devices: {human}"
    );

    ok(
        &a,
        &[
            "conflicts",
            "resolve",
            booking["id"].as_str().unwrap(),
            "--keep",
            kept["id"].as_str().unwrap(),
        ],
    );
    ok(
        &b,
        &[
            "conflicts",
            "resolve",
            &location["id"].as_str().unwrap()[..8],
            "--keep",
            "Children's",
        ],
    );
    exchange(tmp.path(), &a, &b);
    assert_eq!(json(&a, &["conflicts"]).as_array().unwrap().len(), 0);
    assert_eq!(json(&b, &["conflicts"]).as_array().unwrap().len(), 0);
    assert_eq!(hash(&a), hash(&b));
    let station = json(&a, &["asset", "show", "CEN-PC-1"]);
    assert_eq!(station["location"], "Children's");
    let bookings = json(&b, &["booking", "list", "--where", "status=booked"]);
    assert_eq!(bookings.as_array().unwrap().len(), 1);
    assert_eq!(bookings[0]["id"], kept["id"]);
}

#[test]
fn concurrent_stock_issues_are_kept_and_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = two_replicas(tmp.path());
    ok(
        &a,
        &[
            "stock-item",
            "add",
            "--name",
            "HP 89A toner",
            "--reorder-level",
            "2",
        ],
    );
    ok(
        &a,
        &[
            "movement",
            "add",
            "--item",
            "HP 89A toner",
            "--branch",
            "CEN",
            "--kind",
            "receive",
            "--qty",
            "3",
        ],
    );
    exchange(tmp.path(), &a, &b);
    ok(
        &a,
        &[
            "movement",
            "add",
            "--item",
            "HP 89A toner",
            "--branch",
            "CEN",
            "--kind",
            "issue",
            "--qty",
            "2",
        ],
    );
    ok(
        &b,
        &[
            "movement",
            "add",
            "--item",
            "HP 89A toner",
            "--branch",
            "CEN",
            "--kind",
            "issue",
            "--qty",
            "2",
        ],
    );
    let refused = bl(
        &a,
        &[
            "movement",
            "add",
            "--item",
            "HP 89A toner",
            "--branch",
            "CEN",
            "--kind",
            "issue",
            "--qty",
            "5",
        ],
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("qty"));
    exchange(tmp.path(), &a, &b);
    let levels = json(&b, &["stock", "levels", "--branch", "CEN"]);
    assert_eq!(levels[0]["level"], -1, "both issues survive the merge");
    let c = json(&a, &["conflicts"]);
    assert_eq!(c[0]["kind"], "negative-stock");
    ok(
        &b,
        &[
            "conflicts",
            "resolve",
            c[0]["id"].as_str().unwrap(),
            "--keep",
            "count=0",
        ],
    );
    exchange(tmp.path(), &a, &b);
    assert_eq!(json(&a, &["stock", "levels", "--branch", "CEN"])[0]["level"], 0);
    assert!(json(&a, &["conflicts"]).as_array().unwrap().is_empty());
}

#[test]
fn exported_documents_load_in_javascript_automerge() {
    // scripts/test.sh installs tests/js (npm ci) before the tests run.
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/js");
    assert!(
        js.join("node_modules/@automerge/automerge").exists(),
        "run `npm ci --prefix tests/js` first (scripts/test.sh does)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let (a, _b) = two_replicas(tmp.path());
    ok(
        &a,
        &[
            "page",
            "add",
            "--title",
            "Printers",
            "--text",
            "Reset the spooler.\n  Then power-cycle.",
        ],
    );
    let docs = json(&a, &["doc", "list"]);
    for d in docs.as_array().unwrap() {
        let id = d["id"].as_str().unwrap();
        let file = tmp.path().join("doc.automerge");
        ok(&a, &["doc", "export", id, file.to_str().unwrap()]);
        let out = Command::new("node")
            .arg(js.join("load.mjs"))
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "node could not load {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let loaded: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(loaded["doc"], id, "the document says which it is");
        assert_eq!(
            loaded["heads"], d["heads"],
            "{id}: same heads in JavaScript as in Rust"
        );
        let state = json(&a, &["export"]);
        for (collection, records) in state[id].as_object().unwrap() {
            let mut ids: Vec<&String> = records.as_object().unwrap().keys().collect();
            ids.sort();
            let js_ids: Vec<&str> = loaded["collections"][collection]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(js_ids, ids, "{id}/{collection}: same records");
        }
    }
}
