//! `branchline bench`: the figures the issues name, each printed beside its floor
//! measured in the same run on the same machine. A benchmark, not a test: it
//! prints numbers and judges nothing but prints the targets beside them.

use anyhow::Context;
use automerge::Automerge;
use branchline_core::schema::Kind;
use branchline_core::{Fields, Value};
use branchline_node::{demo, Clock, ListFilter, Node};
use std::path::Path;
use std::time::{Duration, Instant};

pub fn peak_rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

struct Stats {
    median: Duration,
    p99: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    let at = |q: f64| {
        v.get(((v.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Stats {
        median: at(0.5),
        p99: at(0.99),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn row(name: &str, s: &Stats, floor: Option<(&str, &Stats)>, target: &str) {
    print!("{name:<44} median {:>12}  p99 {:>12}", ms(s.median), ms(s.p99));
    if let Some((fname, f)) = floor {
        let ratio = s.median.as_secs_f64() / f.median.as_secs_f64().max(1e-9);
        print!("  | {fname} median {:>12}  ratio {ratio:.2}x", ms(f.median));
    }
    println!("  | target {target}");
}

fn time<R>(f: impl FnOnce() -> R) -> (R, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

/// A consistent copy of a replica's database (WAL included).
fn copy_replica(from: &Node, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    let dest = branchline_node::db_path(to);
    from.store()
        .connection()
        .execute("VACUUM INTO ?1", [dest.display().to_string()])
        .context("copying the replica")?;
    Ok(())
}

/// What one sync session costs each side, by part, when it runs in this thread
/// with the messages handed across: a reconnect's work without QUIC, TLS, threads
/// or waiting for the peer.
#[derive(Default)]
struct SessionParts {
    /// The receiving side: decoding frames (documents sent whole are loaded here),
    decode: Duration,
    /// handling messages (its own copies of the documents that differ are loaded,
    /// the peer's changes applied, its replies made),
    handle: Duration,
    /// and storing what arrived: index rows, SQL, the commit and its sync.
    store: Duration,
    /// The sending side, all of its work.
    sender: Duration,
}

/// Steps of an in-process session past which it has failed to settle.
const MAX_STEPS: usize = 64;

/// A sync session between `a` (the sending side) and `b` in this thread, each
/// side's messages encoded, decoded and stored in batches as the service does.
fn session_in_process(a: &mut Node, b: &mut Node) -> anyhow::Result<SessionParts> {
    use branchline_core::sync::{Prepared, Session};
    let system = a.identity().system_id.clone();
    let (ida, idb) = (a.identity().device_id.clone(), b.identity().device_id.clone());
    let mut parts = SessionParts::default();
    let mut sa = Session::new(system.clone(), ida.clone());
    let mut sb = Session::new(system, idb.clone());
    let encode = |msgs: Vec<branchline_core::sync::SyncMsg>| -> Vec<Vec<u8>> {
        msgs.iter().map(|m| m.encode()).collect()
    };
    let (to_b, t) =
        time(|| -> anyhow::Result<_> { Ok(encode(sa.start(&a.sync_source()?.for_peer(&idb), 0))) });
    let mut to_b = to_b?;
    parts.sender += t;
    let (to_a, t) =
        time(|| -> anyhow::Result<_> { Ok(encode(sb.start(&b.sync_source()?.for_peer(&ida), 0))) });
    let mut to_a = to_a?;
    parts.handle += t;
    for _ in 0..MAX_STEPS {
        if to_a.is_empty() && to_b.is_empty() {
            break;
        }
        let mut replies = Vec::new();
        let mut src = b.sync_source()?.for_peer(&ida);
        for frame in to_b.drain(..) {
            let (p, t) = time(|| Prepared::new(&frame));
            parts.decode += t;
            let (r, t) = time(|| sb.handle_prepared_into(&mut src, p?, 0, &mut |m| replies.push(m.encode())));
            r?;
            parts.handle += t;
        }
        src.sync_to_disk(sb.is_caught_up());
        let (r, t) = time(|| src.finish());
        r?;
        parts.store += t;
        let (r, t) = time(|| -> anyhow::Result<Vec<Vec<u8>>> {
            let mut out = Vec::new();
            let mut src = a.sync_source()?.for_peer(&idb);
            for frame in &to_a {
                let p = Prepared::new(frame)?;
                sa.handle_prepared_into(&mut src, p, 0, &mut |m| out.push(m.encode()))?;
            }
            src.sync_to_disk(sa.is_caught_up());
            src.finish()?;
            Ok(out)
        });
        parts.sender += t;
        to_b = r?;
        to_a = replies;
    }
    // The receiving side's session end: its sync states, synced to disk.
    let (r, t) = time(|| b.save_sync_states(&ida, &sb.take_dirty_states()));
    r?;
    parts.store += t;
    anyhow::ensure!(
        sa.is_caught_up() && sb.is_caught_up(),
        "the in-process session did not settle in {MAX_STEPS} steps"
    );
    Ok(parts)
}

/// One day of activity at every branch: bookings, daily use, tickets.
fn one_day(node: &mut Node, day: chrono::NaiveDate) -> anyhow::Result<usize> {
    node.set_clock(Clock::Fixed(day.and_hms_opt(7, 0, 0).unwrap_or_default()));
    let stations = node.list(
        Kind::Asset,
        &ListFilter {
            fields: vec![("bookable".into(), "yes".into())],
            ..Default::default()
        },
    )?;
    let mut bookings = Vec::new();
    let mut n = 0usize;
    for (i, s) in stations.iter().enumerate() {
        if s.flag("express") {
            continue;
        }
        // Two one-hour sessions per station in the afternoon (open at every branch on weekdays and Saturdays).
        for h in [13, 15] {
            let start = day.and_hms_opt(h, 0, 0).unwrap_or_default();
            bookings.push(branchline_core::value::fields([
                ("station", s.id.clone().into()),
                ("patron", format!("9{:010}", i * 2 + h as usize).into()),
                ("start", start.format("%Y-%m-%dT%H:%M").to_string().into()),
                (
                    "end",
                    (start + chrono::Duration::minutes(60))
                        .format("%Y-%m-%dT%H:%M")
                        .to_string()
                        .into(),
                ),
            ]));
        }
    }
    n += bookings.len();
    node.create_many(Kind::Booking, bookings)?;
    let branches = node.list(Kind::Branch, &ListFilter::default())?;
    let usage: Vec<Fields> = branches
        .iter()
        .map(|b| {
            branchline_core::value::fields([
                ("branch", b.str("code").unwrap_or_default().into()),
                ("date", day.format("%Y-%m-%d").to_string().into()),
                ("sessions", Value::Int(120)),
                ("minutes", Value::Int(5400)),
                ("print_bw", Value::Int(300)),
            ])
        })
        .collect();
    n += usage.len();
    node.create_many(Kind::Usage, usage)?;
    let printers = node.list(
        Kind::Asset,
        &ListFilter {
            fields: vec![("category".into(), "printer".into())],
            limit: Some(8),
            ..Default::default()
        },
    )?;
    let tickets: Vec<Fields> = printers
        .iter()
        .map(|p| {
            branchline_core::value::fields([
                ("asset", p.id.clone().into()),
                ("category", "printer".into()),
                ("summary", "Paper jam".into()),
            ])
        })
        .collect();
    n += tickets.len();
    node.create_many(Kind::Ticket, tickets)?;
    node.set_clock(Clock::System);
    Ok(n)
}

/// `only` names one group of figures (`store`, `merge`, `sync`); `None` runs all.
pub fn run(quick: bool, only: Option<&str>) -> anyhow::Result<()> {
    let want = |group: &str| only.is_none_or(|o| o == group);
    let tmp = tempfile::tempdir()?;
    let a_dir = tmp.path().join("a");
    let size = if quick {
        demo::DemoSize::SMALL
    } else {
        demo::DemoSize::FULL
    };
    let rounds = if quick { 20 } else { 200 };
    let today = chrono::Local::now().date_naive();
    println!(
        "Branchline bench: {} demo library system, {rounds} rounds where repeated",
        if quick { "small" } else { "full" }
    );
    let (a, built) = time(|| -> anyhow::Result<Node> {
        let mut n = Node::init(&a_dir, "Bench Library", "CEN", Some("Central Library"), "bench-a")?;
        demo::fill(&mut n, size, today, 7)?;
        Ok(n)
    });
    let mut a = a?;
    let db_size = std::fs::metadata(branchline_node::db_path(&a_dir))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "demo data set: built in {:.1} s, {} assets, {} bookings, {} tickets, {} documents, {:.1} MiB",
        built.as_secs_f64(),
        a.count(Kind::Asset)?,
        a.count(Kind::Booking)?,
        a.count(Kind::Ticket)?,
        a.doc_ids()?.len(),
        db_size as f64 / 1048576.0
    );
    println!();

    if want("store") {
        // Durable single write beside a plain rusqlite insert of the same row, in the
        // same file with the same pragmas. Interleaved, so both meet the same disk: fsync
        // latency on a shared machine drifts more than either costs.
        let asset = a
            .list(
                Kind::Asset,
                &ListFilter {
                    limit: Some(1),
                    ..Default::default()
                },
            )?
            .remove(0);
        let row_json = serde_json::to_string(&a.get(Kind::Asset, &asset.id)?)?;
        let conn = rusqlite::Connection::open(branchline_node::db_path(&a_dir))?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS bench_floor (id TEXT PRIMARY KEY, data TEXT NOT NULL)",
        )?;
        let mut writes = Vec::new();
        let mut floor = Vec::new();
        for i in 0..rounds {
            let f: Fields = [("notes".to_string(), Value::Str(format!("bench note {i}")))].into();
            let (r, d) = time(|| a.update(Kind::Asset, &asset.id, f));
            r?;
            writes.push(d);
            let (r, d) = time(|| {
                conn.execute(
                    "INSERT OR REPLACE INTO bench_floor (id, data) VALUES (?1, ?2)",
                    (format!("r{i}"), &row_json),
                )
            });
            r?;
            floor.push(d);
        }
        conn.execute_batch("DROP TABLE bench_floor")?;
        drop(conn);
        row(
            "durable single write (asset update)",
            &stats(writes),
            Some(("plain insert", &stats(floor))),
            "<= 3x plain insert",
        );

        // Cold open: open the database and answer a first query.
        drop(a);
        let mut opens = Vec::new();
        for _ in 0..(rounds / 10).max(5) {
            let (r, d) = time(|| -> anyhow::Result<()> {
                let mut n = Node::open(&a_dir)?;
                n.list(
                    Kind::Asset,
                    &ListFilter {
                        limit: Some(1),
                        ..Default::default()
                    },
                )?;
                Ok(())
            });
            r?;
            opens.push(d);
        }
        row("cold open of the replica", &stats(opens), None, "<= 500 ms");
        a = Node::open(&a_dir)?;

        // Queries.
        let mut search = Vec::new();
        let mut hits = 0;
        for i in 0..rounds {
            let term = ["optiplex", "cen-pu-01", "laserjet", "sn4"][i % 4];
            let (r, d) = time(|| {
                a.list(
                    Kind::Asset,
                    &ListFilter {
                        search: Some(term.into()),
                        ..Default::default()
                    },
                )
            });
            hits += r?.len();
            search.push(d);
        }
        row(
            &format!("asset search ({} hits/query avg)", hits / rounds.max(1)),
            &stats(search),
            None,
            "<= 10 ms",
        );
        let month_start = (today - chrono::Duration::days(30))
            .format("%Y-%m-01")
            .to_string();
        let month_end = format!("{}31", &month_start[..8]);
        let mut month = Vec::new();
        let mut n_month = 0;
        for _ in 0..(rounds / 10).max(5) {
            let f = ListFilter {
                from_day: Some(month_start.clone()),
                to_day: Some(month_end.clone()),
                ..Default::default()
            };
            let (r, d) = time(|| a.list(Kind::Booking, &f));
            n_month = r?.len();
            month.push(d);
        }
        row(
            &format!("a month's bookings ({n_month} rows)"),
            &stats(month),
            None,
            "-",
        );
    }

    // The next day every branch is open (not a Sunday).
    let mut tomorrow = today + chrono::Duration::days(1);
    if tomorrow.weekday_num() == 6 {
        tomorrow += chrono::Duration::days(1);
    }
    if want("merge") {
        // A day of changes at every branch, merged by bundle, beside automerge in process.
        let b_dir = tmp.path().join("b");
        let (b, clone_time) = time(|| -> anyhow::Result<Node> {
            let full = a.export_bundle(None)?;
            Ok(Node::init_from_bundle(&b_dir, &full, "NOR", "bench-b")?)
        });
        let mut b = b?;
        println!(
            "{:<44} {:.2} s",
            "full replica clone by bundle",
            clone_time.as_secs_f64()
        );
        let records = one_day(&mut a, tomorrow)?;
        let summary = b.summary()?;
        let bundle_bytes = a.export_bundle(Some(&summary))?;
        let decoded = branchline_core::bundle::decode(&bundle_bytes, None)?;
        let changes: usize = decoded.docs.iter().map(|d| d.changes.len()).sum();
        let change_bytes: usize = decoded
            .docs
            .iter()
            .map(|d| d.changes.iter().map(|c| c.raw_bytes().len()).sum::<usize>())
            .sum();
        println!(
        "one day at {} branches: {records} records, {} documents, {changes} changes, {change_bytes} bytes of changes, bundle {} bytes",
        b.list(Kind::Branch, &ListFilter::default())?.len(),
        decoded.docs.len(),
        bundle_bytes.len()
    );
        // Cold: a replica opened for the merge, as `branchline bundle import` is, beside
        // automerge loading the same documents from their saved bytes and applying the
        // changes. Warm: the documents already in memory, as in a running node (the app,
        // `serve`), beside automerge applying the changes to documents in memory.
        let ids: Vec<_> = decoded.docs.iter().map(|d| d.id.clone()).collect();
        let saved: Vec<Vec<u8>> = decoded
            .docs
            .iter()
            .map(|d| b.doc_bytes(&d.id.to_string()).unwrap_or_default())
            .collect();
        // One pass of the floors over every document: (apply only, load + apply).
        let floor_pass = || -> anyhow::Result<(Duration, Duration)> {
            let (mut apply, mut load) = (Duration::ZERO, Duration::ZERO);
            for (d, saved) in decoded.docs.iter().zip(&saved) {
                let t = Instant::now();
                let mut doc = if saved.is_empty() {
                    Automerge::new()
                } else {
                    Automerge::load(saved)?
                };
                let loaded = t.elapsed();
                let t = Instant::now();
                doc.apply_changes(d.changes.iter().cloned())?;
                apply += t.elapsed();
                load += loaded + t.elapsed();
            }
            Ok((apply, load))
        };
        // Rounds interleave ours and the floors, so that both meet the same machine:
        // on a shared host, speed drifts between runs more than these differ.
        let mut merges = Vec::new();
        let mut warm = Vec::new();
        let mut floor_apply = Vec::new();
        let mut floor_load = Vec::new();
        for i in 0..if quick { 3 } else { 7 } {
            for (hot, out) in [(false, &mut merges), (true, &mut warm)] {
                let dir = tmp.path().join(format!("b{i}-{hot}"));
                copy_replica(&b, &dir)?;
                let mut copy = Node::open(&dir)?;
                if hot {
                    copy.preload(&ids)?;
                }
                let (r, d) = time(|| copy.import_bundle(&bundle_bytes));
                r?;
                out.push(d);
                drop(copy);
                std::fs::remove_dir_all(&dir)?;
            }
            let (apply, load) = floor_pass()?;
            floor_apply.push(apply);
            floor_load.push(load);
        }
        row(
            "merge a day of 12 branches by bundle",
            &stats(merges),
            Some(("automerge load + apply", &stats(floor_load))),
            "<= 2 s, <= 2x floor",
        );
        row(
            "  into a running node (documents in memory)",
            &stats(warm),
            Some(("automerge apply", &stats(floor_apply))),
            "<= 2x floor",
        );
        drop(b);
    }

    // A different day from the merge above, on which every branch is open.
    let mut next = tomorrow + chrono::Duration::days(1);
    if next.weekday_num() == 6 {
        next += chrono::Duration::days(1);
    }
    if want("sync") {
        sync_bench(&a_dir, tmp.path(), quick, next)?;
    }

    if want("store") {
        // Peak memory of a process that opens the demo replica and reads every document.
        let exe = std::env::current_exe()?;
        let out = std::process::Command::new(exe)
            .args(["--data", &a_dir.display().to_string(), "state-hash"])
            .env("BRANCHLINE_REPORT_PEAK_MEM", "1")
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let peak = stderr
            .lines()
            .find_map(|l| l.strip_prefix("peak_rss_kb "))
            .and_then(|v| v.trim().parse::<u64>().ok());
        match peak {
            Some(kb) => println!(
                "{:<44} {:.1} MB (every document loaded: state-hash)  | target <= 200 MB",
                "peak memory of the demo replica",
                kb as f64 / 1024.0
            ),
            None => println!("peak memory: not measured ({})", stderr.trim()),
        }
    }
    Ok(())
}

trait Weekday {
    fn weekday_num(&self) -> u32;
}
impl Weekday for chrono::NaiveDate {
    fn weekday_num(&self) -> u32 {
        use chrono::Datelike;
        self.weekday().num_days_from_monday()
    }
}

/// Sync over QUIC on loopback: a full clone by join, a day offline, a no-op
/// reconnect, and live propagation, each beside its floor.
fn sync_bench(a_dir: &Path, tmp: &Path, quick: bool, day: chrono::NaiveDate) -> anyhow::Result<()> {
    use branchline_node::service::{join, sync_once, ServeOptions, Service};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        println!();
        let a = Node::open(a_dir)?;
        let mut opts = ServeOptions::new("127.0.0.1:0".parse()?);
        opts.mdns.enabled = false;
        let svc_a = Service::start(a, opts).await?;
        let addr = svc_a.local_addr()?;
        let code = svc_a
            .with_node(|n| n.create_invite("peer", 3600, vec![addr]))?
            .code;
        let b_dir = tmp.join("sync-b");
        let t = Instant::now();
        let (b, s) = join(&b_dir, &code, "bench-b", "CEN", Some(addr)).await?;
        let docs = {
            let mut b = b;
            b.doc_ids()?.len()
        };
        println!(
            "{:<44} {:.2} s, {docs} documents, {} bytes received, {} sent",
            "full replica clone by sync (join)",
            t.elapsed().as_secs_f64(),
            s.bytes_received,
            s.bytes_sent
        );
        // Let B's own first change (its device record) reach A, so both are level.
        sync_once(Node::open(&b_dir)?, addr, |_| {}).await?;

        // No-op reconnect between replicas already in sync.
        let mut noop = Vec::new();
        let mut noop_bytes = 0;
        for _ in 0..if quick { 5 } else { 20 } {
            let b = Node::open(&b_dir)?;
            let s = sync_once(b, addr, |_| {}).await?;
            // Connect, handshake, and the session until both sides agree (not the
            // QUIC close that follows).
            noop.push(Duration::from_millis(s.millis));
            noop_bytes = s.bytes_sent + s.bytes_received;
        }
        row(
            &format!("no-op reconnect ({noop_bytes} bytes of sync messages)"),
            &stats(noop),
            None,
            "< 50 ms, < 16 KiB",
        );

        // A day of changes at every branch made on A while B was offline.
        let records = svc_a.with_node(|n| one_day(n, day))?;
        let (changes, change_bytes, pairs, summary) = {
            let mut b = Node::open(&b_dir)?;
            let summary = b.summary()?;
            let bundle = svc_a.with_node(|n| n.export_bundle(Some(&summary)))?;
            let decoded = branchline_core::bundle::decode(&bundle, None)?;
            let mut changes = 0;
            let mut bytes = 0;
            for d in &decoded.docs {
                for c in &d.changes {
                    let mut c = c.clone();
                    bytes += c.bytes().len();
                    changes += 1;
                }
            }
            // The documents that differ, as each side holds them.
            let mut pairs = Vec::new();
            for d in &decoded.docs {
                let id = d.id.to_string();
                let a_bytes = svc_a.with_node(|n| n.doc_bytes(&id))?;
                pairs.push((a_bytes, b.doc_bytes(&id).ok()));
            }
            (changes, bytes, pairs, summary)
        };
        // Floor: automerge's own sync protocol between in-memory copies of the
        // documents that differ, messages passed by hand (loading them is not timed).
        // Timed apart: B loading its own copies, which a freshly opened replica (B
        // here) must do before it can sync them, and which the floor leaves out.
        let floor_pass = || -> anyhow::Result<(Duration, Duration)> {
            let mut floor = Duration::ZERO;
            let mut loading = Duration::ZERO;
            for (a_bytes, b_bytes) in &pairs {
                let mut ad = Automerge::load(a_bytes)?;
                let t = Instant::now();
                let mut bd = match b_bytes {
                    Some(x) => Automerge::load(x)?,
                    None => Automerge::new(),
                };
                loading += t.elapsed();
                use automerge::sync::{State, SyncDoc};
                let (mut sa, mut sb) = (State::new(), State::new());
                let t = Instant::now();
                loop {
                    let m1 = ad.generate_sync_message(&mut sa);
                    let m2 = bd.generate_sync_message(&mut sb);
                    if m1.is_none() && m2.is_none() {
                        break;
                    }
                    if let Some(m) = m1 {
                        bd.receive_sync_message(&mut sb, m)?;
                    }
                    if let Some(m) = m2 {
                        ad.receive_sync_message(&mut sa, m)?;
                    }
                }
                floor += t.elapsed();
            }
            Ok((floor, loading))
        };
        // Interleaved with the floor, as for the merge. Every round starts from the
        // same day offline on both sides: B from its copy, A from the sync states it
        // had saved for B then. Otherwise from the second round on A would resume
        // from states saved after a round that B's fresh copy never saw, which is a
        // peer restored from an old backup, not a day offline.
        let b_copy_src = Node::open(&b_dir)?;
        let b_device = b_copy_src.identity().device_id.clone();
        let a_states = svc_a.with_node(|n| n.sync_states(&b_device))?;
        let mut reconnects = Vec::new();
        let mut floors = Vec::new();
        let mut cold_floors = Vec::new();
        let mut by_bundle = Vec::new();
        let mut in_process: Vec<SessionParts> = Vec::new();
        let mut wire = 0;
        for i in 0..if quick { 3 } else { 7 } {
            let dir = tmp.join(format!("sync-b{i}"));
            copy_replica(&b_copy_src, &dir)?;
            let copy = Node::open(&dir)?;
            svc_a.with_node(|n| n.save_sync_states(&b_device, &a_states))?;
            let s = sync_once(copy, addr, |_| {}).await?;
            reconnects.push(Duration::from_millis(s.millis));
            wire = s.bytes_sent + s.bytes_received;
            let mut check = Node::open(&dir)?;
            let (ha, hb) = (svc_a.with_node(|n| n.state_hash())?, check.state_hash()?);
            if ha != hb {
                anyhow::bail!("reconnect did not converge: {ha} vs {hb}");
            }
            drop(check);
            std::fs::remove_dir_all(&dir)?;
            let (floor, loading) = floor_pass()?;
            floors.push(floor);
            cold_floors.push(floor + loading);
            // The same day carried by a bundle file instead (the laptop without a
            // network): A exports what B's summary lacks, B's copy imports it. The
            // summary is known beforehand, as a laptop's last visit left it.
            copy_replica(&b_copy_src, &dir)?;
            let mut copy = Node::open(&dir)?;
            let t = Instant::now();
            let bundle = svc_a.with_node(|n| n.export_bundle(Some(&summary)))?;
            copy.import_bundle(&bundle)?;
            by_bundle.push(t.elapsed());
            let (ha, hb) = (svc_a.with_node(|n| n.state_hash())?, copy.state_hash()?);
            if ha != hb {
                anyhow::bail!("the bundle merge did not converge: {ha} vs {hb}");
            }
            drop(copy);
            std::fs::remove_dir_all(&dir)?;
            // The same session again, in this thread and without the network.
            copy_replica(&b_copy_src, &dir)?;
            let mut copy = Node::open(&dir)?;
            svc_a.with_node(|n| n.save_sync_states(&b_device, &a_states))?;
            let parts = svc_a.with_node(|a| {
                // The sending side's index is built before the session, as a
                // running node holds it, and so is the receiving side's (built while
                // the handshake runs).
                a.prepare_sync()?;
                copy.prepare_sync()?;
                session_in_process(a, &mut copy)
            })?;
            let (ha, hb) = (svc_a.with_node(|n| n.state_hash())?, copy.state_hash()?);
            if ha != hb {
                anyhow::bail!("the in-process session did not converge: {ha} vs {hb}");
            }
            in_process.push(parts);
            drop(copy);
            std::fs::remove_dir_all(&dir)?;
        }
        drop(b_copy_src);
        println!("a day offline: {records} records, {changes} changes, {change_bytes} bytes encoded");
        let reconnected = stats(reconnects);
        row(
            "reconnect after a day offline (QUIC)",
            &reconnected,
            Some(("automerge in-process sync", &stats(floors))),
            "<= 2x floor",
        );
        let (ours, cold) = (reconnected.median, stats(cold_floors).median);
        println!(
            "{:<44} median {:>12}  ratio {:.2}x  | target -",
            "  floor + the behind side loading its copies",
            ms(cold),
            ours.as_secs_f64() / cold.as_secs_f64().max(1e-9),
        );
        row(
            "  the same by bundle file (export + import)",
            &stats(by_bundle),
            None,
            "-",
        );
        let part = |f: fn(&SessionParts) -> Duration| stats(in_process.iter().map(f).collect()).median;
        let whole = stats(
            in_process
                .iter()
                .map(|p| p.decode + p.handle + p.store + p.sender)
                .collect(),
        );
        println!(
            "{:<44} median {:>12}: receiving side: decode {}, handle {}, store {}; sending side {}  | target -",
            "  the same session in one thread, no QUIC",
            ms(whole.median),
            ms(part(|p| p.decode)),
            ms(part(|p| p.handle)),
            ms(part(|p| p.store)),
            ms(part(|p| p.sender)),
        );
        println!(
            "{:<44} {wire} bytes of sync messages = {:.2}x the changes' own encoded size  | target <= 1.3x",
            "  bytes on the wire",
            wire as f64 / change_bytes.max(1) as f64
        );

        // Live propagation: B serves and stays connected; a change on A shows on B.
        let b = Node::open(&b_dir)?;
        let mut opts = ServeOptions::new("127.0.0.1:0".parse()?);
        opts.mdns.enabled = false;
        let svc_b = Service::start(b, opts).await?;
        svc_b.with_node(|n| n.add_peer(&addr.to_string(), "static", None))?;
        let asset = svc_a
            .with_node(|n| {
                n.list(
                    Kind::Asset,
                    &ListFilter {
                        limit: Some(1),
                        ..Default::default()
                    },
                )
            })?
            .remove(0);
        let wait_for = |note: String| {
            let svc_b = &svc_b;
            let id = asset.id.clone();
            async move {
                let t = Instant::now();
                while t.elapsed() < Duration::from_secs(10) {
                    let seen = svc_b.with_node(|n| {
                        n.get(Kind::Asset, &id)
                            .map(|r| r.str("notes") == Some(note.as_str()))
                    });
                    if seen.unwrap_or(false) {
                        return Some(t.elapsed());
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                None
            }
        };
        // Wait for the connection, then measure.
        let first = format!("warm-up {}", now_tag());
        svc_a.with_node(|n| {
            n.update(
                Kind::Asset,
                &asset.id,
                [("notes".to_string(), Value::Str(first.clone()))].into(),
            )
        })?;
        wait_for(first)
            .await
            .ok_or_else(|| anyhow::anyhow!("B never connected to A"))?;
        let mut live = Vec::new();
        for i in 0..if quick { 10 } else { 50 } {
            let note = format!("live {i} {}", now_tag());
            let t = Instant::now();
            svc_a.with_node(|n| {
                n.update(
                    Kind::Asset,
                    &asset.id,
                    [("notes".to_string(), Value::Str(note.clone()))].into(),
                )
            })?;
            if wait_for(note).await.is_some() {
                live.push(t.elapsed());
            }
        }
        row(
            &format!("live propagation of one change ({} seen)", live.len()),
            &stats(live),
            None,
            "p99 < 250 ms",
        );
        svc_b.shutdown().await;
        svc_a.shutdown().await;
        Ok::<_, anyhow::Error>(())
    })
}

fn now_tag() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
