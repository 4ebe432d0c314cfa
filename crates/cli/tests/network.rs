//! Replicas syncing over QUIC, driven through the real `branchline` binary: enrolment
//! by invite, live sync between running daemons, offline edits that converge with
//! their conflicts listed, a laptop carrying changes, a sync killed half way, and
//! devices that must get nothing (another library system, a revoked device).
//!
//! Network rules: everything runs on 127.0.0.1, every `serve` outside a test network
//! namespace has `--no-mdns`, ports are chosen by the OS (`--listen 127.0.0.1:0`, the
//! address read from `listening on ADDR`), and every process started here is stopped
//! through its own `Child` handle (a guard kills it if an assertion fails first). The
//! one mDNS test runs its daemons inside two network namespaces joined by a veth pair
//! and skips itself where namespaces cannot be made.
//!
//! The clock is pinned (`BRANCHLINE_NOW`) the same on every process: a Monday 08:00
//! at least a week in the past, so bookings at 10:00 that day are valid and the
//! certificates an authority issues at that time are already valid for TLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_branchline");
/// How long any one thing may take on a loaded 2-core machine.
const WAIT: Duration = Duration::from_secs(30);
/// How long a one-shot command (init, add, sync --once of a small replica) may take.
const CMD: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------- clock

/// A Monday 08:00 at least seven days ago (`YYYY-MM-DDTHH:MM`).
fn now() -> &'static str {
    static NOW: OnceLock<String> = OnceLock::new();
    NOW.get_or_init(|| {
        use chrono::Datelike;
        let d = chrono::Local::now().date_naive() - chrono::Duration::days(7);
        let monday = d - chrono::Duration::days(i64::from(d.weekday().num_days_from_monday()));
        format!("{}T08:00", monday.format("%Y-%m-%d"))
    })
}

/// The pinned day, for bookings.
fn today() -> &'static str {
    &now()[..10]
}

/// The pinned clock moved by `minutes`.
fn now_plus(minutes: i64) -> String {
    let t = chrono::NaiveDateTime::parse_from_str(now(), "%Y-%m-%dT%H:%M").unwrap();
    (t + chrono::Duration::minutes(minutes))
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

// ---------------------------------------------------------------- processes

/// A child process that is killed (and reaped) when dropped, so a failing assertion
/// never leaves it running.
struct Proc {
    child: Child,
    what: String,
}

impl Proc {
    fn spawn(mut cmd: Command, what: String) -> Proc {
        let child = cmd.spawn().unwrap_or_else(|e| panic!("starting {what}: {e}"));
        Proc { child, what }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Wait for the process to end on its own, at most `timeout`.
    fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(st) = self.exited() {
                return st;
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{} did not finish within {timeout:?}", self.what);
            }
            std::thread::sleep(POLL);
        }
    }

    /// SIGKILL, as a crash or a pulled plug would.
    fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM (through `kill -TERM <pid>`), then wait for a clean exit.
    fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(st) = self.exited() {
            return st;
        }
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM {} failed", self.pid());
        self.wait(timeout)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[derive(Debug)]
struct Out {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Out {
    fn ok(&self) -> bool {
        self.status.success()
    }
}

/// The binary with `--data DIR`, the pinned clock `now` and no staff from the environment.
fn command(prefix: &[&str], dir: &Path, args: &[&str], now: &str) -> Command {
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(BIN);
            c
        }
        None => Command::new(BIN),
    };
    cmd.arg("--data")
        .arg(dir)
        .args(args)
        .env("BRANCHLINE_NOW", now)
        .env_remove("BRANCHLINE_STAFF")
        .env_remove("BRANCHLINE_DATA")
        .stdin(Stdio::null());
    cmd
}

/// Run to completion (bounded by `timeout`), capturing both outputs.
fn run_cmd(mut cmd: Command, what: String, timeout: Duration) -> Out {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut p = Proc::spawn(cmd, what);
    let mut so = p.child.stdout.take().unwrap();
    let mut se = p.child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let status = p.wait(timeout);
    Out {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

fn bl_at(dir: &Path, args: &[&str], now: &str) -> Out {
    run_cmd(
        command(&[], dir, args, now),
        format!("branchline {args:?} on {}", dir.display()),
        CMD,
    )
}

fn bl(dir: &Path, args: &[&str]) -> Out {
    bl_at(dir, args, now())
}

fn ok_at(dir: &Path, args: &[&str], now: &str) -> String {
    let out = bl_at(dir, args, now);
    assert!(
        out.ok(),
        "branchline {args:?} on {} failed ({}):\n{}{}",
        dir.display(),
        out.status,
        out.stdout,
        out.stderr
    );
    out.stdout
}

fn ok(dir: &Path, args: &[&str]) -> String {
    ok_at(dir, args, now())
}

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = ok(dir, &a);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"))
}

fn hash(dir: &Path) -> String {
    ok(dir, &["state-hash"]).trim().to_string()
}

fn has_vendor(dir: &Path, name: &str) -> bool {
    bl(dir, &["vendor", "show", name]).ok()
}

/// Poll `f` every 100 ms until it gives `Ok`, at most `timeout`; the last `Err` says
/// what was still missing.
fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => {
                eprintln!("  {what}: after {:.1} s", start.elapsed().as_secs_f64());
                return v;
            }
            Err(why) if start.elapsed() > timeout => {
                panic!("timed out after {timeout:?} waiting for {what}: {why}")
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

fn wait_same_state(what: &str, dirs: &[&Path]) {
    wait_until(what, WAIT, || {
        let hashes: Vec<String> = dirs.iter().map(|d| hash(d)).collect();
        if hashes.windows(2).all(|w| w[0] == w[1]) {
            Ok(())
        } else {
            Err(format!("state hashes {hashes:?}"))
        }
    })
}

fn wait_vendor(dir: &Path, name: &str) {
    wait_until(&format!("vendor '{name}' on {}", dir.display()), WAIT, || {
        if has_vendor(dir, name) {
            Ok(())
        } else {
            Err("not there yet".into())
        }
    })
}

// ---------------------------------------------------------------- daemons

/// A running `branchline serve`.
struct Serve {
    proc: Proc,
    addr: SocketAddr,
    log: PathBuf,
}

impl Serve {
    /// `serve --listen LISTEN --no-mdns` on loopback.
    fn start(dir: &Path, listen: &str) -> Serve {
        Serve::start_at(dir, listen, now())
    }

    fn start_at(dir: &Path, listen: &str, now: &str) -> Serve {
        Serve::start_with(&[], dir, &["serve", "--listen", listen, "--no-mdns"], now)
    }

    /// Start `prefix... branchline --data DIR args...` and wait for `listening on ADDR`.
    fn start_with(prefix: &[&str], dir: &Path, args: &[&str], now: &str) -> Serve {
        let log = dir.with_extension(format!("serve-{}.log", std::process::id()));
        let mut cmd = command(prefix, dir, args, now);
        cmd.stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        let what = format!("{prefix:?} branchline serve on {}", dir.display());
        let mut proc = Proc::spawn(cmd, what.clone());
        let stdout = proc.child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(a) = line.strip_prefix("listening on ") {
                    let _ = tx.send(a.trim().to_string());
                }
            }
        });
        let start = Instant::now();
        let addr = loop {
            match rx.recv_timeout(POLL) {
                Ok(a) => {
                    break a
                        .parse::<SocketAddr>()
                        .unwrap_or_else(|e| panic!("{what} printed '{a}': {e}"))
                }
                Err(_) => {
                    if let Some(st) = proc.exited() {
                        panic!(
                            "{what} exited ({st}) before listening:\n{}",
                            std::fs::read_to_string(&log).unwrap_or_default()
                        );
                    }
                    if start.elapsed() > WAIT {
                        panic!("{what} did not print `listening on` within {WAIT:?}");
                    }
                }
            }
        };
        eprintln!(
            "  {what} listening on {addr} after {:.1} s",
            start.elapsed().as_secs_f64()
        );
        Serve { proc, addr, log }
    }

    fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// SIGTERM: the daemon must stop cleanly (exit 0) within the timeout.
    fn stop(mut self) {
        let st = self.proc.terminate(WAIT);
        assert!(
            st.success(),
            "{} exited with {st} on SIGTERM:\n{}",
            self.proc.what,
            self.log_text()
        );
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

// ---------------------------------------------------------------- library systems

/// A new library system on `dir` (branches CEN and NOR, a bookable station CEN-PC-1),
/// whose device is its enrolment authority.
fn new_system(dir: &Path, name: &str) {
    ok(
        dir,
        &[
            "init",
            "--system",
            name,
            "--branch",
            "CEN",
            "--branch-name",
            "Central",
            "--device",
            "cen-desk",
        ],
    );
    ok(dir, &["branch", "add", "--code", "NOR", "--name", "Northside"]);
    ok(
        dir,
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
            "--bookable",
            "yes",
        ],
    );
}

fn invite_at(dir: &Path, addr: &str, extra: &[&str], now: &str) -> String {
    let mut args = vec!["invite", "--addr", addr, "--json"];
    args.extend_from_slice(extra);
    let out = ok_at(dir, &args, now);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["code"].as_str().unwrap().to_string()
}

fn invite(dir: &Path, addr: &str) -> String {
    invite_at(dir, addr, &[], now())
}

fn join(dir: &Path, code: &str, device: &str, branch: &str, peer: Option<&str>) -> Out {
    let mut args = vec!["join", code, "--device", device, "--branch", branch];
    if let Some(p) = peer {
        args.extend_from_slice(&["--peer", p]);
    }
    bl(dir, &args)
}

fn join_ok(dir: &Path, code: &str, device: &str, branch: &str) {
    let out = join(dir, code, device, branch, None);
    assert!(
        out.ok(),
        "join of {device} failed ({}):\n{}{}",
        out.status,
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("joined library system"), "{}", out.stdout);
}

fn device_id(dir: &Path) -> String {
    json(dir, &["status"])["identity"]["device_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn book(dir: &Path, patron: &str, start: &str, end: &str) -> serde_json::Value {
    let (s, e) = (format!("{}T{start}", today()), format!("{}T{end}", today()));
    json(
        dir,
        &[
            "booking",
            "add",
            "--station",
            "CEN-PC-1",
            "--patron",
            patron,
            "--start",
            &s,
            "--end",
            &e,
        ],
    )
}

fn conflicts_sorted(dir: &Path) -> Vec<serde_json::Value> {
    let mut v = json(dir, &["conflicts"]).as_array().unwrap().clone();
    v.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    v
}

/// Documents a replica has stored: how far a join has got. (Not change rows: a
/// replica folds a document's changes into one snapshot now and then.)
fn count_docs(db: &Path) -> i64 {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    rusqlite::Connection::open_with_flags(db, flags)
        .and_then(|c| c.query_row("SELECT count(*) FROM doc_heads", [], |r| r.get(0)))
        .unwrap_or(0)
}

fn db_of(dir: &Path) -> PathBuf {
    branchline_node::db_path(dir)
}

fn record_counts(dir: &Path) -> serde_json::Value {
    json(dir, &["status"])["counts"].clone()
}

// ---------------------------------------------------------------- tests

#[test]
fn join_and_live_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    new_system(&a, "Test Library");
    let sa = Serve::start(&a, "127.0.0.1:0");

    // Enrol B with a code that carries A's address.
    let code = invite(&a, &sa.addr());
    join_ok(&b, &code, "nor-desk", "NOR");
    assert!(
        bl(&b, &["asset", "show", "CEN-PC-1"]).ok(),
        "the join brought A's records"
    );
    // Documents that arrived whole were indexed as they arrived (on the connection's
    // reader); that index is the one the documents give.
    let lists = |d: &Path| ["asset", "branch", "staff"].map(|k| ok(d, &[k, "list", "--json"]));
    let as_joined = lists(&b);
    assert!(as_joined[0].contains("CEN-PC-1"), "{}", as_joined[0]);
    ok(&b, &["index", "rebuild"]);
    assert_eq!(lists(&b), as_joined);
    let b_id = device_id(&b);
    let on_a = json(&a, &["devices"]);
    let rec = on_a
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == b_id.as_str())
        .expect("A lists the new device");
    assert_eq!(rec["name"], "nor-desk");
    assert_eq!(rec["branch"], "NOR");
    assert_eq!(rec["role"], "peer");
    assert_eq!(rec["enrolled_by"].as_str().unwrap(), device_id(&a));

    // Both serving: B's own device record update (claiming its actor) reaches A.
    ok(&b, &["peers", "add", &sa.addr()]);
    let sb = Serve::start(&b, "127.0.0.1:0");
    wait_same_state("A and B equal after B's daemon synced", &[&a, &b]);
    let claimed = json(&a, &["devices"]);
    let rec = claimed
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == b_id.as_str())
        .unwrap();
    assert!(
        !rec["actor"].as_str().unwrap_or_default().is_empty(),
        "B's actor reached A: {rec}"
    );

    // Live: a write by the CLI on one side reaches the other side's replica.
    ok(&a, &["vendor", "add", "--name", "Acme Repairs"]);
    wait_vendor(&b, "Acme Repairs");
    ok(&b, &["vendor", "add", "--name", "Northside Cable Co"]);
    wait_vendor(&a, "Northside Cable Co");
    ok(&a, &["asset", "update", "CEN-PC-1", "--location", "Reading room"]);
    wait_until("the asset update on B", WAIT, || {
        let v = json(&b, &["asset", "show", "CEN-PC-1"]);
        if v["location"] == "Reading room" {
            Ok(())
        } else {
            Err(v["location"].to_string())
        }
    });
    wait_same_state("A and B equal after live edits", &[&a, &b]);
    assert_eq!(ok(&a, &["export", "--json"]), ok(&b, &["export", "--json"]));

    sb.stop();
    sa.stop();
}

#[test]
fn offline_edits_converge_with_conflicts() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    new_system(&a, "Test Library");
    let sa = Serve::start(&a, "127.0.0.1:0");
    let a_listen = sa.addr();
    join_ok(&b, &invite(&a, &sa.addr()), "nor-desk", "NOR");
    let sb = Serve::start(&b, "127.0.0.1:0");
    wait_same_state("A and B synced before going offline", &[&a, &b]);
    sb.stop();
    sa.stop();

    // Offline: the same station booked twice, the same asset moved to two places, and
    // edits that do not clash.
    let kept = book(&a, "1111", "10:00", "11:00");
    let other = book(&b, "G-22", "10:30", "11:30");
    ok(
        &a,
        &["asset", "update", "CEN-PC-1", "--location", "Gateway Center"],
    );
    ok(&b, &["asset", "update", "CEN-PC-1", "--location", "Children's"]);
    ok(&a, &["vendor", "add", "--name", "Acme Repairs"]);
    ok(&b, &["vendor", "add", "--name", "Northside Cable Co"]);
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
    ok(
        &a,
        &[
            "ticket",
            "add",
            "--asset",
            "CEN-PC-1",
            "--category",
            "printer",
            "--summary",
            "Paper jam",
        ],
    );
    assert_ne!(hash(&a), hash(&b));

    // Back online: A on the address B knows, B dials it.
    let sa = Serve::start(&a, &a_listen);
    let sb = Serve::start(&b, "127.0.0.1:0");
    wait_same_state("A and B converge after offline edits", &[&a, &b]);
    assert_eq!(ok(&a, &["export", "--json"]), ok(&b, &["export", "--json"]));

    let (ca, cb) = (conflicts_sorted(&a), conflicts_sorted(&b));
    let ids = |v: &[serde_json::Value]| -> Vec<(String, String)> {
        v.iter()
            .map(|c| {
                (
                    c["id"].as_str().unwrap().to_string(),
                    c["kind"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(ids(&ca), ids(&cb), "both replicas list the same conflicts");
    assert_eq!(ca, cb, "and describe them the same way");
    assert_eq!(ca.len(), 2, "{ca:#?}");
    let double = ca
        .iter()
        .find(|c| c["kind"] == "double-booking")
        .expect("a double booking");
    let sides: Vec<&str> = double["sides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert!(
        sides.contains(&kept["id"].as_str().unwrap()) && sides.contains(&other["id"].as_str().unwrap()),
        "{double:#}"
    );
    let field = ca
        .iter()
        .find(|c| c["kind"] == "asset-field")
        .expect("an asset-field conflict");
    assert_eq!(field["field"], "location", "{field:#}");
    for d in [&a, &b] {
        assert!(has_vendor(d, "Acme Repairs") && has_vendor(d, "Northside Cable Co"));
        assert!(bl(d, &["asset", "show", "NOR-PC-1"]).ok());
        assert_eq!(json(d, &["ticket", "list"]).as_array().unwrap().len(), 1);
        assert_eq!(json(d, &["booking", "list"]).as_array().unwrap().len(), 2);
    }
    sb.stop();
    sa.stop();
}

#[test]
fn laptop_carries_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, l, b) = (
        tmp.path().join("a"),
        tmp.path().join("laptop"),
        tmp.path().join("b"),
    );
    new_system(&a, "Test Library");
    let sa = Serve::start(&a, "127.0.0.1:0");
    let a_listen = sa.addr();
    // The laptop can enrol devices itself, so B never has to reach A.
    let code = invite_at(&a, &sa.addr(), &["--role", "authority"], now());
    join_ok(&l, &code, "tech-laptop", "CEN");

    // At A: changes made while the laptop is away; the laptop picks them up.
    ok(&a, &["vendor", "add", "--name", "Acme Repairs"]);
    ok(&a, &["asset", "update", "CEN-PC-1", "--location", "Reading room"]);
    ok(&l, &["sync", "--peer", &sa.addr(), "--once"]);
    assert_eq!(hash(&l), hash(&a), "laptop and A equal after their sync");
    sa.stop();

    // At B (A is off): B enrols through the laptop and gets A's changes from it.
    let sl = Serve::start(&l, "127.0.0.1:0");
    join_ok(&b, &invite(&l, &sl.addr()), "nor-desk", "NOR");
    assert!(
        has_vendor(&b, "Acme Repairs"),
        "A's vendor reached B through the laptop"
    );
    assert_eq!(
        json(&b, &["asset", "show", "CEN-PC-1"])["location"],
        "Reading room"
    );
    let b_id = device_id(&b);
    let on_b = json(&b, &["devices"]);
    let rec = on_b
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == b_id.as_str())
        .unwrap();
    assert_eq!(rec["enrolled_by"].as_str().unwrap(), device_id(&l));

    // B edits and syncs with the laptop.
    ok(&b, &["vendor", "add", "--name", "Northside Cable Co"]);
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
    ok(&b, &["sync", "--peer", &sl.addr(), "--once"]);
    wait_same_state("laptop and B equal", &[&l, &b]);
    sl.stop();

    // Back at A: the laptop brings B's changes.
    let sa = Serve::start(&a, &a_listen);
    ok(&l, &["sync", "--peer", &sa.addr(), "--once"]);
    wait_same_state("A, laptop and B equal", &[&a, &l, &b]);
    assert!(
        has_vendor(&a, "Northside Cable Co"),
        "B's vendor reached A through the laptop"
    );
    assert_eq!(json(&a, &["asset", "show", "NOR-PC-1"])["branch"], "NOR");
    let devices = json(&a, &["devices"]);
    assert!(
        devices
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == b_id.as_str()),
        "A knows B's device record"
    );
    // A and B never met: neither has seen the other at any address.
    let a_id = device_id(&a);
    for (dir, other) in [(&a, &b_id), (&b, &a_id)] {
        for p in json(dir, &["peers"]).as_array().unwrap() {
            assert!(
                p["device_id"] != other.as_str() || p["last_seen"].is_null(),
                "{} met {other}: {p}",
                dir.display()
            );
        }
    }
    sa.stop();
}

/// A library system of a few thousand records over a hundred-odd documents (a
/// middle-sized demo, made in-process: the `demo` command's full size takes too long).
fn big_system(a: &Path) -> i64 {
    let t = Instant::now();
    let mut node = branchline_node::Node::init(
        a,
        "Big County Library",
        "CEN",
        Some("Central Library"),
        "central-desk",
    )
    .unwrap();
    let size = branchline_node::demo::DemoSize {
        branches: 6,
        days: 21,
        central_pcs: 40,
    };
    let report = branchline_node::demo::fill(&mut node, size, chrono::Local::now().date_naive(), 7).unwrap();
    let total: i64 = report.counts.iter().map(|(_, n)| n).sum();
    eprintln!(
        "  A holds {total} records ({:.1} s to make)",
        t.elapsed().as_secs_f64()
    );
    assert!(total >= 2000, "{:?}", report.counts);
    total
}

/// Join `b` through the daemon at `addr` and kill -9 the join once documents have
/// started to arrive; resume with `sync --once`, killed too if still going; then one
/// `sync --once` that must complete.
fn join_with_kills(tmp: &Path, a: &Path, b: &Path, addr: &str, code: &str) {
    let a_docs = count_docs(&db_of(a));
    let log = tmp.join("b.log");
    let spawn = |args: &[&str]| {
        let mut cmd = command(&[], b, args, now());
        cmd.stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        Proc::spawn(cmd, format!("branchline {args:?} on b"))
    };
    // Kill `p` once B holds more than `above` documents; -1 when it finished first.
    let interrupt = |p: &mut Proc, above: i64| -> i64 {
        let got = wait_until("B receiving changes", Duration::from_secs(90), || {
            let n = count_docs(&db_of(b));
            if let Some(st) = p.exited() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                assert!(
                    st.success(),
                    "{} failed by itself ({st}) before it was killed:\n{text}",
                    p.what
                );
                return Ok(None);
            }
            if n > above {
                Ok(Some(n))
            } else {
                Err(format!("{n} changes"))
            }
        });
        match got {
            Some(n) => {
                p.kill9();
                let after = count_docs(&db_of(b));
                eprintln!(
                    "  killed {} with {n}..{after} of {a_docs} documents stored",
                    p.what
                );
                after
            }
            None => -1,
        }
    };
    let mut joining = spawn(&["join", code, "--device", "nor-desk", "--branch", "NOR"]);
    let stored = interrupt(&mut joining, 0);
    assert!(
        stored >= 0,
        "the join finished before it could be interrupted: make A's data set larger"
    );
    assert!(
        stored < a_docs,
        "the join was killed mid-way ({stored} of {a_docs} documents)"
    );

    let mut resumed = spawn(&["sync", "--peer", addr, "--once"]);
    let _ = interrupt(&mut resumed, stored);
    let t = Instant::now();
    let out = run_cmd(
        command(&[], b, &["sync", "--peer", addr, "--once"], now()),
        "final sync --once on b".into(),
        Duration::from_secs(120),
    );
    assert!(
        out.ok(),
        "the resumed sync failed ({}):\n{}{}",
        out.status,
        out.stdout,
        out.stderr
    );
    eprintln!(
        "  final sync: {:.1} s: {}",
        t.elapsed().as_secs_f64(),
        out.stdout.trim()
    );
}

#[test]
fn kill_during_sync_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    big_system(&a);
    let sa = Serve::start(&a, "127.0.0.1:0");
    join_with_kills(tmp.path(), &a, &b, &sa.addr(), &invite(&a, &sa.addr()));

    wait_same_state("A and B converge after the interrupted join", &[&a, &b]);
    assert_eq!(record_counts(&a), record_counts(&b));
    let export = ok(&a, &["export", "--json"]);
    assert_eq!(export, ok(&b, &["export", "--json"]));
    sa.stop();

    // B's database is sound and its index derives from its documents.
    let conn = rusqlite::Connection::open(db_of(&b)).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    ok(&b, &["index", "rebuild"]);
    assert_eq!(ok(&b, &["export", "--json"]), export);
    assert_eq!(record_counts(&a), record_counts(&b));
    assert_eq!(conflicts_sorted(&a), conflicts_sorted(&b));
}

/// A join cut short still ends with the device's record naming the actor it writes
/// with, so history on every replica says which device made a change.
#[test]
fn interrupted_join_still_names_the_device() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    big_system(&a);
    let sa = Serve::start(&a, "127.0.0.1:0");
    join_with_kills(tmp.path(), &a, &b, &sa.addr(), &invite(&a, &sa.addr()));
    ok(&b, &["vendor", "add", "--name", "Northside Cable Co"]);
    ok(&b, &["sync", "--peer", &sa.addr(), "--once"]);
    wait_same_state("A and B equal", &[&a, &b]);
    sa.stop();
    let b_actor = json(&b, &["status"])["identity"]["actor"]
        .as_str()
        .unwrap()
        .to_string();
    let b_id = device_id(&b);
    for dir in [&a, &b] {
        let devices = json(dir, &["devices"]);
        let rec = devices
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == b_id.as_str())
            .unwrap();
        assert_eq!(
            rec["actor"].as_str(),
            Some(b_actor.as_str()),
            "B's device record on {}: {rec}",
            dir.display()
        );
        let h = json(dir, &["history", "Northside Cable Co"]);
        let device = h["history"][0]["device"].as_str().unwrap_or_default().to_string();
        assert!(
            device.contains("nor-desk"),
            "history on {} names the device as '{device}'",
            dir.display()
        );
    }
}

#[test]
fn unenrolled_and_revoked_get_no_data() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, x) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("x"));
    new_system(&a, "Test Library");
    ok(&a, &["vendor", "add", "--name", "Acme Repairs"]);
    let sa = Serve::start(&a, "127.0.0.1:0");

    // (a) A device of another library system has credentials, but not from A's root.
    new_system(&x, "Other Library");
    let (hx, ha) = (hash(&x), hash(&a));
    let out = bl(&x, &["sync", "--peer", &sa.addr(), "--once"]);
    assert!(
        !out.ok(),
        "a stranger's sync must fail:\n{}{}",
        out.stdout,
        out.stderr
    );
    eprintln!("  stranger refused: {}", out.stderr.trim());
    assert_eq!(hash(&x), hx, "the stranger's replica is unchanged");
    assert!(!has_vendor(&x, "Acme Repairs"));
    assert_eq!(hash(&a), ha, "A is unchanged");

    // (b) B enrolled, synced, then revoked.
    join_ok(&b, &invite(&a, &sa.addr()), "nor-desk", "NOR");
    assert!(has_vendor(&b, "Acme Repairs"));
    ok(&b, &["sync", "--peer", &sa.addr(), "--once"]);
    ok(&a, &["devices", "revoke", "nor-desk"]);
    let revoked = json(&a, &["devices"]);
    assert!(revoked
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["name"] == "nor-desk" && d["revoked"] == true));
    // The running daemon reads the revocation from its replica; until it has, a sync
    // can still pass (it brings B nothing new but the revocation itself).
    let mut passed = 0;
    let refusal = wait_until("A's daemon refusing the revoked device", WAIT, || {
        let out = bl(&b, &["sync", "--peer", &sa.addr(), "--once"]);
        if out.ok() {
            passed += 1;
            Err("sync still accepted".into())
        } else {
            Ok(out.stderr)
        }
    });
    eprintln!(
        "  revoked device refused after {passed} accepted syncs: {}",
        refusal.trim()
    );
    assert!(
        passed <= 2,
        "A's daemon took {passed} syncs to notice the revocation"
    );

    let hb = hash(&b);
    ok(&a, &["vendor", "add", "--name", "After Revocation"]);
    ok(&a, &["asset", "update", "CEN-PC-1", "--location", "Store room"]);
    ok(&b, &["vendor", "add", "--name", "From The Revoked"]);
    let hb_own = hash(&b);
    assert_ne!(hb, hb_own);
    let out = bl(&b, &["sync", "--peer", &sa.addr(), "--once"]);
    assert!(
        !out.ok(),
        "a revoked device's sync must fail:\n{}{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(hash(&b), hb_own, "B received nothing");
    assert!(!has_vendor(&b, "After Revocation"));
    assert!(
        !has_vendor(&a, "From The Revoked"),
        "A took nothing from the revoked device"
    );
    sa.stop();
}

/// A device revoked while its daemon is connected must be cut off, not only refused
/// at its next handshake.
#[test]
fn revoked_device_loses_its_live_session() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
    new_system(&a, "Test Library");
    let sa = Serve::start(&a, "127.0.0.1:0");
    join_ok(&b, &invite(&a, &sa.addr()), "nor-desk", "NOR");
    join_ok(&c, &invite(&a, &sa.addr()), "cen-desk-2", "CEN");
    let sb = Serve::start(&b, "127.0.0.1:0");
    let sc = Serve::start(&c, "127.0.0.1:0");
    wait_same_state("A, B and C live", &[&a, &b, &c]);

    ok(&a, &["devices", "revoke", "nor-desk"]);
    // C, a witness connected the same way, hears of the revocation...
    wait_until("C seeing B revoked", WAIT, || {
        let d = json(&c, &["devices"]);
        if d.as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"] == "nor-desk" && d["revoked"] == true)
        {
            Ok(())
        } else {
            Err("not yet".into())
        }
    });
    // ...and of what A writes next, which the revoked B must not get.
    ok(&b, &["vendor", "add", "--name", "From The Revoked"]);
    ok(&a, &["vendor", "add", "--name", "After Revocation"]);
    wait_vendor(&c, "After Revocation");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        assert!(
            !has_vendor(&b, "After Revocation"),
            "the revoked device still receives A's changes over its open session"
        );
        std::thread::sleep(POLL);
    }
    assert!(
        !has_vendor(&a, "From The Revoked"),
        "A still takes changes from the revoked device's open session"
    );
    assert!(!has_vendor(&c, "From The Revoked"));
    sc.stop();
    sb.stop();
    sa.stop();
}

#[test]
fn reused_and_expired_invites_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |n: &str| tmp.path().join(n);
    let a = dir("a");
    new_system(&a, "Test Library");
    let sa = Serve::start(&a, "127.0.0.1:0");
    let a_listen = sa.addr();

    // Once only.
    let code = invite(&a, &sa.addr());
    join_ok(&dir("b"), &code, "nor-desk", "NOR");
    let again = join(&dir("c"), &code, "second-desk", "NOR", None);
    assert!(!again.ok(), "a used code must be refused:\n{}", again.stdout);
    assert!(again.stderr.contains("already been used"), "{}", again.stderr);
    assert!(!db_of(&dir("c")).exists(), "a refused join leaves no replica");

    // Expired: a one-minute code made at 08:00, tried at 10:00 (A's daemon clock).
    let short = invite_at(&a, &sa.addr(), &["--expires", "1m"], now());
    sa.stop();
    let later = now_plus(120);
    let sa = Serve::start_at(&a, &a_listen, &later);
    let late = join(&dir("d"), &short, "late-desk", "NOR", None);
    assert!(!late.ok(), "an expired code must be refused:\n{}", late.stdout);
    assert!(late.stderr.contains("expired"), "{}", late.stderr);
    assert!(!db_of(&dir("d")).exists());
    // A one-minute code made at 10:00 works at 10:00.
    let fresh = invite_at(&a, &sa.addr(), &["--expires", "1m"], &later);
    join_ok(&dir("e"), &fresh, "fresh-desk", "NOR");
    let names: Vec<String> = json(&a, &["devices"])
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names.contains(&"fresh-desk".to_string()) && names.contains(&"nor-desk".to_string()),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n == "second-desk" || n == "late-desk"),
        "{names:?}"
    );
    sa.stop();
}

/// A join the authority turns down for a mistyped branch enrols nothing, so it must
/// not use up the code either.
#[test]
fn refused_join_does_not_use_up_the_invite() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    new_system(&a, "Test Library");
    let sa = Serve::start(&a, "127.0.0.1:0");
    let code = invite(&a, &sa.addr());
    let typo = join(&b, &code, "nor-desk", "NRO", None);
    assert!(!typo.ok());
    assert!(typo.stderr.contains("branch"), "{}", typo.stderr);
    assert!(!db_of(&b).exists());
    let retry = join(&b, &code, "nor-desk", "NOR", None);
    assert!(
        retry.ok(),
        "the code was used up by a join that enrolled nothing:\n{}",
        retry.stderr
    );
    sa.stop();
}

// ---------------------------------------------------------------- mDNS in namespaces

/// Two network namespaces joined by a veth pair; deleted on drop.
struct Netns {
    names: Vec<String>,
    links: Vec<(String, String)>,
}

impl Netns {
    fn run(program: &str, args: &[&str]) -> Result<(), String> {
        let out = Command::new(program)
            .args(args)
            .output()
            .map_err(|e| format!("{program}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    fn ip(args: &[&str]) -> Result<(), String> {
        Netns::run("ip", args)
    }

    /// `ns1` with `veth1` at 10.77.0.1/24, `ns2` with `veth2` at 10.77.0.2/24.
    fn pair(ns1: &str, veth1: &str, ns2: &str, veth2: &str) -> Result<Netns, String> {
        Netns::ip(&["netns", "add", ns1])?;
        let mut guard = Netns {
            names: vec![ns1.to_string()],
            links: Vec::new(),
        };
        Netns::ip(&["netns", "add", ns2])?;
        guard.names.push(ns2.to_string());
        Netns::ip(&[
            "-n", ns1, "link", "add", veth1, "type", "veth", "peer", "name", veth2, "netns", ns2,
        ])?;
        for (ns, veth, addr) in [(ns1, veth1, "10.77.0.1/24"), (ns2, veth2, "10.77.0.2/24")] {
            Netns::ip(&["-n", ns, "link", "set", "lo", "up"])?;
            Netns::ip(&["-n", ns, "addr", "add", addr, "dev", veth])?;
            Netns::ip(&["-n", ns, "link", "set", veth, "multicast", "on", "up"])?;
            guard.links.push((ns.to_string(), veth.to_string()));
        }
        Ok(guard)
    }

    /// Make the veth pair a slow link: `rate` each way (token bucket).
    fn limit_rate(&self, rate: &str) -> Result<(), String> {
        for (ns, veth) in &self.links {
            Netns::run(
                "tc",
                &[
                    "-n", ns, "qdisc", "add", "dev", veth, "root", "tbf", "rate", rate, "burst", "16kbit",
                    "latency", "400ms",
                ],
            )?;
        }
        Ok(())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Netns::ip(&["netns", "del", n]);
        }
    }
}

fn can_make_namespaces() -> Result<(), String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("id -u: {e}"))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("not root".into());
    }
    let probe = format!("blprobe{}", std::process::id());
    Netns::ip(&["netns", "add", &probe])?;
    Netns::ip(&["netns", "del", &probe])
}

#[test]
fn mdns_finds_peers_between_namespaces() {
    if let Err(why) = can_make_namespaces() {
        eprintln!("skipped: cannot create network namespaces ({why})");
        return;
    }
    let pid = std::process::id();
    let (ns1, ns2) = (format!("bla{pid}"), format!("blb{pid}"));
    let (veth1, veth2) = (format!("vbla{pid}"), format!("vblb{pid}"));
    let _net = Netns::pair(&ns1, &veth1, &ns2, &veth2).unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    new_system(&a, "Test Library");
    // Enrol B on the host's loopback (no mDNS): the address it keeps for A,
    // 127.0.0.1:PORT, leads nowhere inside B's namespace, so only mDNS can bring
    // them together there.
    let host = Serve::start(&a, "127.0.0.1:0");
    join_ok(&b, &invite(&a, &host.addr()), "nor-desk", "NOR");
    host.stop();
    let a_id = device_id(&a);
    assert!(json(&b, &["peers"])
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["source"] != "mdns"));

    let in_ns1 = ["ip", "netns", "exec", ns1.as_str()];
    let in_ns2 = ["ip", "netns", "exec", ns2.as_str()];
    let sa = Serve::start_with(
        &in_ns1,
        &a,
        &["serve", "--listen", "0.0.0.0:7733", "--mdns-interface", &veth1],
        now(),
    );
    let sb = Serve::start_with(
        &in_ns2,
        &b,
        &["serve", "--listen", "0.0.0.0:7733", "--mdns-interface", &veth2],
        now(),
    );
    let found = wait_until("B finding A by mDNS", WAIT, || {
        let peers = json(&b, &["peers"]);
        peers
            .as_array()
            .unwrap()
            .iter()
            .find(|p| {
                p["source"] == "mdns"
                    && p["device_id"] == a_id.as_str()
                    && p["addr"].as_str().is_some_and(|a| a.starts_with("10.77.0.1:"))
            })
            .cloned()
            .ok_or_else(|| format!("{peers}"))
    });
    eprintln!("  found by mDNS: {found}");
    wait_same_state("A and B converge in their namespaces", &[&a, &b]);
    ok(&a, &["vendor", "add", "--name", "Acme Repairs"]);
    wait_vendor(&b, "Acme Repairs");
    ok(&b, &["vendor", "add", "--name", "Northside Cable Co"]);
    wait_vendor(&a, "Northside Cable Co");
    wait_same_state("A and B equal", &[&a, &b]);
    sb.stop();
    sa.stop();
}

/// A branch on a slow WAN link: sync messages of a hundred kilobytes and more take
/// seconds to arrive, far longer than the session's 250 ms tick, and must arrive
/// whole. Runs between two network namespaces joined by a rate-limited veth pair.
#[test]
fn sync_over_a_slow_link_completes() {
    if let Err(why) = can_make_namespaces() {
        eprintln!("skipped: cannot create network namespaces ({why})");
        return;
    }
    let pid = std::process::id();
    let (ns1, ns2) = (format!("blc{pid}"), format!("bld{pid}"));
    let (veth1, veth2) = (format!("vblc{pid}"), format!("vbld{pid}"));
    let net = Netns::pair(&ns1, &veth1, &ns2, &veth2).unwrap();
    if let Err(why) = net.limit_rate("512kbit") {
        eprintln!("skipped: cannot shape the link ({why})");
        return;
    }

    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    {
        // Thousands of records written at once: one large change in one document.
        use branchline_core::Value;
        let mut node =
            branchline_node::Node::init(&a, "Test Library", "CEN", Some("Central"), "cen-desk").unwrap();
        let vendors: Vec<branchline_core::Fields> = (0..3000)
            .map(|i| {
                branchline_core::value::fields([
                    ("name", Value::Str(format!("Vendor {i:05}"))),
                    (
                        "phone",
                        Value::Str(format!("+1 555 {:07}", i * 7919 % 10_000_000)),
                    ),
                ])
            })
            .collect();
        node.create_many(branchline_core::Kind::Vendor, vendors).unwrap();
    }
    let in_ns1 = ["ip", "netns", "exec", ns1.as_str()];
    let in_ns2 = ["ip", "netns", "exec", ns2.as_str()];
    let a_addr = "10.77.0.1:7733";
    let sa = Serve::start_with(&in_ns1, &a, &["serve", "--listen", a_addr, "--no-mdns"], now());
    let code = invite(&a, a_addr);
    let t = Instant::now();
    let joined = run_cmd(
        command(
            &in_ns2,
            &b,
            &["join", &code, "--device", "nor-desk", "--branch", "CEN", "--json"],
            now(),
        ),
        "join over the slow link".into(),
        Duration::from_secs(120),
    );
    assert!(
        joined.ok(),
        "the join over a slow link failed ({}):\n{}",
        joined.status,
        joined.stderr
    );
    let summary: serde_json::Value = serde_json::from_str(&joined.stdout).unwrap();
    eprintln!(
        "  joined in {:.1} s: {}",
        t.elapsed().as_secs_f64(),
        summary["sync"]
    );
    assert!(has_vendor(&b, "Vendor 02999"));

    ok(&a, &["vendor", "add", "--name", "Acme Repairs"]);
    let synced = run_cmd(
        command(&in_ns2, &b, &["sync", "--peer", a_addr, "--once"], now()),
        "sync over the slow link".into(),
        Duration::from_secs(120),
    );
    assert!(
        synced.ok(),
        "the sync over a slow link failed ({}):\n{}",
        synced.stderr,
        synced.status
    );
    assert!(has_vendor(&b, "Acme Repairs"));
    wait_same_state("A and B equal over the slow link", &[&a, &b]);
    sa.stop();
}

/// The number printed in `line` between `marker` and `end`.
fn figure_in(line: &str, marker: &str, end: &str) -> f64 {
    line.split(marker)
        .nth(1)
        .and_then(|r| r.split(end).next())
        .and_then(|r| r.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {marker:?} figure in {line:?}"))
}

/// `branchline bench --quick` runs every group to the end on loopback (no mDNS),
/// and each figure it prints was checked: a reconnect and the bundle merge of the
/// same day that did not reach the serving replica's state-hash stop the bench.
#[test]
fn bench_quick_runs_every_group_to_converged_replicas() {
    // As staff run it: the real clock (the bench makes its own replicas in a
    // temporary directory).
    let mut cmd = Command::new(BIN);
    cmd.args(["bench", "--quick"])
        .env_remove("BRANCHLINE_NOW")
        .env_remove("BRANCHLINE_STAFF")
        .env_remove("BRANCHLINE_DATA")
        .stdin(Stdio::null());
    let out = run_cmd(cmd, "branchline bench --quick".into(), Duration::from_secs(300));
    assert!(
        out.ok(),
        "the bench failed ({}):\n{}\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
    for row in [
        "durable",
        "merge a day of 12 branches by bundle",
        "no-op reconnect",
        "reconnect after a day offline (QUIC)",
        "floor + the behind side loading its copies",
        "the same by bundle file (export + import)",
        "the same session in one thread, no QUIC",
        "bytes on the wire",
        "live propagation of one change",
    ] {
        assert!(out.stdout.contains(row), "no {row:?} row in:\n{}", out.stdout);
    }
    // The reconnect is printed beside its floor: two measured medians, and their ratio.
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("reconnect after a day offline"))
        .unwrap();
    let ours = figure_in(line, " median ", " ms");
    let floor = figure_in(line, "automerge in-process sync median ", " ms");
    let ratio = figure_in(line, "ratio ", "x");
    assert!(ours > 0.0 && floor > 0.0, "{line}");
    assert!(
        (ours / floor - ratio).abs() < 0.01,
        "the ratio is not ours / floor: {line}"
    );
    // The second floor, with the behind replica's loads, is printed with ours over it.
    let second = out
        .stdout
        .lines()
        .find(|l| l.contains("floor + the behind side loading its copies"))
        .unwrap();
    let (cold, cold_ratio) = (
        figure_in(second, " median ", " ms"),
        figure_in(second, "ratio ", "x"),
    );
    assert!(
        cold >= floor,
        "loading more cannot make the floor cheaper: {second}"
    );
    assert!(
        (ours / cold - cold_ratio).abs() < 0.01,
        "the second ratio is not ours / its floor: {second}"
    );
    // The same session in one thread is split into its parts, each measured.
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("the same session in one thread"))
        .unwrap();
    for part in ["median ", "decode ", "handle ", "store ", "sending side "] {
        let figure = figure_in(line, part, " ms");
        assert!(figure > 0.0, "{part:?} is not measured: {line}");
    }
}
