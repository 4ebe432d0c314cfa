//! The command tree. Record commands (`asset add`, `booking list`, ...) are built
//! from the schema table, so every kind and field of the domain has its flags,
//! help and examples without a line written per kind.

use crate::{bench, output};
use anyhow::{anyhow, Context};
use branchline_core::schema::{FieldType, Kind};
use branchline_core::{Fields, Value};
use branchline_node::{demo, ListFilter, Node, NodeError};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn flag(name: &str) -> String {
    name.replace('_', "-")
}

fn sample(kind: Kind, name: &str, ty: FieldType) -> String {
    match (kind, name, ty) {
        (_, _, FieldType::Branch) => "CEN".into(),
        (_, _, FieldType::Branches) => "CEN,NOR".into(),
        (_, _, FieldType::Date) => "2026-12-01".into(),
        (_, "start", _) => "2026-12-01T10:00".into(),
        (_, "end", _) => "2026-12-01T11:00".into(),
        (_, _, FieldType::DateTime) => "2026-12-01T10:00".into(),
        (_, _, FieldType::Enum(v)) => v.first().copied().unwrap_or("").into(),
        (_, _, FieldType::Int) => "2".into(),
        (_, _, FieldType::Money) => "129.99".into(),
        (_, _, FieldType::Bool) => "yes".into(),
        (_, _, FieldType::Ref(Kind::Asset)) => "CEN-PU-003".into(),
        (_, _, FieldType::Ref(Kind::StockItem)) => "'HP 89A toner'".into(),
        (_, _, FieldType::Ref(Kind::Staff)) => "'Ana Brooks'".into(),
        (_, _, FieldType::Ref(Kind::Vendor)) => "'Metro Office Supply'".into(),
        (_, _, FieldType::Ref(k)) => format!("{k}-id"),
        (Kind::Booking, "patron", _) => "21234567890".into(),
        (Kind::Asset, "tag", _) => "CEN-PC-101".into(),
        (Kind::Branch, "code", _) => "NOR".into(),
        _ => format!("'{}'", name.replace('_', " ")),
    }
}

fn kind_command(kind: Kind) -> Command {
    let add_example = {
        let mut s = format!("branchline {kind} add");
        for f in kind.fields().iter().filter(|f| f.required) {
            s.push_str(&format!(" --{} {}", flag(f.name), sample(kind, f.name, f.ty)));
        }
        s
    };
    let field_args = |required: bool| -> Vec<Arg> {
        kind.fields()
            .iter()
            .map(|f| {
                let mut help = f.help.to_string();
                if let FieldType::Enum(v) = f.ty {
                    help.push_str(&format!(" [{}]", v.join(", ")));
                }
                if let Some(d) = f.default {
                    help.push_str(&format!(" (default: {d})"));
                }
                if required && f.required {
                    help.push_str(" (required)");
                }
                Arg::new(f.name)
                    .long(flag(f.name))
                    .value_name(f.name.to_uppercase())
                    .help(help)
            })
            .collect()
    };
    let key = || {
        Arg::new("target")
            .value_name("KEY")
            .required(true)
            .help(key_help(kind))
    };
    let mut c = Command::new(kind.name())
        .about(kind.about())
        .subcommand_required(true)
        .subcommand(
            Command::new("add")
                .about(format!("Create a {kind}"))
                .args(field_args(true))
                .after_help(format!("Example:\n  {add_example}")),
        )
        .subcommand(
            Command::new("show")
                .about(format!("Show one {kind}"))
                .arg(key())
                .after_help(format!("Example:\n  branchline {kind} show {}", key_example(kind))),
        )
        .subcommand(
            Command::new("list")
                .about(format!("List {kind} records"))
                .arg(Arg::new("branch").long("branch").help("only this branch"))
                .arg(Arg::new("search").long("search").short('s').help("text anywhere in the record"))
                .arg(Arg::new("from").long("from").help("from this day (YYYY-MM-DD)"))
                .arg(Arg::new("to").long("to").help("up to this day (YYYY-MM-DD)"))
                .arg(
                    Arg::new("where")
                        .long("where")
                        .action(ArgAction::Append)
                        .value_name("FIELD=VALUE")
                        .help("only records whose field has this value (repeatable)"),
                )
                .arg(Arg::new("limit").long("limit").value_parser(clap::value_parser!(usize)))
                .after_help(format!(
                    "Examples:\n  branchline {kind} list --branch CEN\n  branchline {kind} list --search dell --json\n  branchline {kind} list --where {}=... --limit 20",
                    kind.list_columns().first().copied().unwrap_or("name")
                )),
        )
        .subcommand(
            Command::new("update")
                .about(format!("Change fields of a {kind}"))
                .arg(key())
                .args(field_args(false))
                .after_help(format!("Example:\n  branchline {kind} update {} --{} ...", key_example(kind), flag(kind.fields()[0].name))),
        );
    if kind.retire() != branchline_core::schema::Retire::Never {
        let verb = match kind.retire() {
            branchline_core::schema::Retire::Status("cancelled")
            | branchline_core::schema::Retire::Flag("cancelled") => "cancel",
            branchline_core::schema::Retire::Status("closed") => "close",
            _ => "retire",
        };
        let mut retire = Command::new("retire");
        if verb != "retire" {
            retire = retire.visible_alias(verb);
        }
        c = c.subcommand(
            retire
                .about(format!("{verb} a {kind} (kept in history, hidden from use)"))
                .arg(key())
                .after_help(format!(
                    "Example:\n  branchline {kind} {verb} {}",
                    key_example(kind)
                )),
        );
    }
    match kind {
        Kind::Ticket => c
            .subcommand(
                Command::new("log")
                    .about("Add a work entry to a ticket's log")
                    .arg(key())
                    .arg(Arg::new("minutes").long("minutes").value_parser(clap::value_parser!(i64)).default_value("0"))
                    .arg(Arg::new("text").long("text").required(true))
                    .after_help("Example:\n  branchline ticket log CEN-0042 --minutes 20 --text 'Cleared the jam, replaced roller'"),
            )
            .subcommand(
                Command::new("part")
                    .about("Record a spare part used on a ticket (issues it from the ticket's branch)")
                    .arg(key())
                    .arg(Arg::new("item").long("item").required(true))
                    .arg(Arg::new("qty").long("qty").value_parser(clap::value_parser!(i64)).default_value("1"))
                    .after_help("Example:\n  branchline ticket part CEN-0042 --item 'HP 89A toner' --qty 1"),
            ),
        Kind::Page => c.subcommand(
            Command::new("edit")
                .about("Replace a page's text (concurrent edits on other devices merge)")
                .arg(key())
                .arg(Arg::new("text").long("text").conflicts_with("text_file"))
                .arg(Arg::new("text_file").long("text-file").value_name("FILE"))
                .after_help("Example:\n  branchline page edit 'Resetting a frozen public PC' --text-file steps.md"),
        ),
        _ => c,
    }
}

fn key_help(kind: Kind) -> String {
    match kind.natural_key() {
        Some(k) => format!("the {kind}'s id, an id prefix, or its {k}"),
        None => format!("the {kind}'s id or an id prefix"),
    }
}

fn key_example(kind: Kind) -> &'static str {
    match kind {
        Kind::Asset => "CEN-PU-003",
        Kind::Branch => "CEN",
        Kind::Ticket => "CEN-0042",
        Kind::Staff => "'Ana Brooks'",
        _ => "3f2a9c1e",
    }
}

pub fn build() -> Command {
    let mut cmd = Command::new("branchline")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Branchline: a library system's equipment, schedules and logs on every branch, offline-first")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .arg(
            Arg::new("data")
                .long("data")
                .global(true)
                .env("BRANCHLINE_DATA")
                .value_name("DIR")
                .help("data directory of the replica (default: the platform's data directory)"),
        )
        .arg(Arg::new("json").long("json").global(true).action(ArgAction::SetTrue).help("print JSON"))
        .arg(
            Arg::new("staff")
                .long("as")
                .global(true)
                .env("BRANCHLINE_STAFF")
                .value_name("STAFF")
                .help("record changes as this staff member (name, email or id)"),
        )
        .after_help(
            "Examples:\n  branchline demo                      # a realistic library system to explore\n  branchline asset list --branch CEN --search optiplex\n  branchline booking add --station CEN-PU-005 --patron 21234567890 --start 2026-12-01T10:00 --end 2026-12-01T11:00\n  branchline conflicts\n  branchline bundle export today.blb",
        )
        .subcommand(
            Command::new("init")
                .about("Start a new library system on this device, or a replica of one from a bundle")
                .arg(Arg::new("system").long("system").help("name of the new library system"))
                .arg(Arg::new("from_bundle").long("from-bundle").value_name("FILE").conflicts_with("system"))
                .arg(Arg::new("branch").long("branch").required(true).help("branch code of this device, e.g. CEN"))
                .arg(Arg::new("branch_name").long("branch-name").help("name of that branch (new system only)"))
                .arg(Arg::new("device").long("device").required(true).help("a name for this device"))
                .after_help(
                    "Examples:\n  branchline init --system 'Danbury Library' --branch CEN --branch-name 'Central Library' --device desk-1\n  branchline init --from-bundle system.blb --branch NOR --device northside-desk",
                ),
        )
        .subcommand(
            Command::new("demo")
                .about("Fill an empty data directory with a realistic mid-size library system")
                .arg(Arg::new("small").long("small").action(ArgAction::SetTrue).help("3 branches, a few days"))
                .arg(Arg::new("seed").long("seed").value_parser(clap::value_parser!(u64)).default_value("7"))
                .after_help("Example:\n  branchline --data /tmp/demo demo && branchline --data /tmp/demo status"),
        )
        .subcommand(
            Command::new("status")
                .about("This device, its library system, and a first look at the data")
                .after_help("Example:\n  branchline status --json"),
        )
        .subcommand(
            Command::new("stock")
                .about("Stock levels per branch")
                .subcommand_required(true)
                .subcommand(
                    Command::new("levels")
                        .about("Current levels (the sum of every movement)")
                        .arg(Arg::new("branch").long("branch"))
                        .arg(Arg::new("below").long("below-reorder").action(ArgAction::SetTrue))
                        .after_help("Example:\n  branchline stock levels --branch CEN --below-reorder"),
                ),
        )
        .subcommand(
            Command::new("conflicts")
                .about("What clashed while branches were apart, both sides, and how to settle it")
                .subcommand(
                    Command::new("resolve")
                        .about("Settle a conflict by keeping one side")
                        .arg(Arg::new("id").required(true))
                        .arg(Arg::new("keep").long("keep").required(true).help(
                            "the side to keep: a booking id, an asset field value, a movement id, or count=N for stock",
                        ))
                        .after_help(
                            "Examples:\n  branchline conflicts resolve 3f2a --keep 8c1d2e4f        # keep this booking\n  branchline conflicts resolve 77b0 --keep NOR             # the asset is at NOR\n  branchline conflicts resolve 1a9e --keep count=4         # we counted 4",
                        ),
                )
                .after_help("Examples:\n  branchline conflicts\n  branchline conflicts --json"),
        )
        .subcommand(
            Command::new("history")
                .about("Who changed a record, what, when and on which device")
                .arg(Arg::new("record").required(true).help("id, id prefix, or natural key (asset tag, ticket number...)"))
                .after_help("Example:\n  branchline history CEN-PU-003"),
        )
        .subcommand(
            Command::new("export")
                .about("The library system's whole state as canonical JSON")
                .after_help("Example:\n  branchline export --json > state.json"),
        )
        .subcommand(
            Command::new("state-hash")
                .about("Digest of the canonical state: equal on replicas that hold the same changes")
                .after_help("Example:\n  branchline state-hash"),
        )
        .subcommand(
            Command::new("doc")
                .about("Automerge documents")
                .subcommand_required(true)
                .subcommand(Command::new("list").about("List documents").after_help("Example:\n  branchline doc list --json"))
                .subcommand(
                    Command::new("export")
                        .about("Write a document's raw automerge bytes")
                        .arg(Arg::new("doc").required(true))
                        .arg(Arg::new("file").required(true))
                        .after_help("Example:\n  branchline doc export inventory inventory.automerge"),
                ),
        )
        .subcommand(
            Command::new("index")
                .about("The query index")
                .subcommand_required(true)
                .subcommand(
                    Command::new("rebuild")
                        .about("Recreate the index from the documents")
                        .after_help("Example:\n  branchline index rebuild"),
                ),
        )
        .subcommand(
            Command::new("bundle")
                .about("Carry changes between replicas on a file")
                .subcommand_required(true)
                .subcommand(
                    Command::new("export")
                        .about("Write this replica's changes (all, or what a peer lacks)")
                        .arg(Arg::new("file").required(true))
                        .arg(Arg::new("for").long("for").value_name("SUMMARY").help("the peer's summary file"))
                        .after_help("Examples:\n  branchline bundle export all.blb\n  branchline bundle export for-nor.blb --for nor-summary.json"),
                )
                .subcommand(
                    Command::new("import")
                        .about("Merge a bundle's changes")
                        .arg(Arg::new("file").required(true))
                        .after_help("Example:\n  branchline bundle import from-cen.blb"),
                )
                .subcommand(
                    Command::new("summary")
                        .about("Write what this replica has, for a peer's `bundle export --for`")
                        .arg(Arg::new("file").required(true))
                        .after_help("Example:\n  branchline bundle summary nor-summary.json"),
                ),
        )
        .subcommand(
            Command::new("bench")
                .about("Measure this build on the demo data set and print medians beside their floors")
                .arg(Arg::new("quick").long("quick").action(ArgAction::SetTrue).help("small data set, few rounds"))
                .arg(
                    Arg::new("only")
                        .long("only")
                        .value_name("GROUP")
                        .value_parser(["store", "merge", "sync"])
                        .help("run one group of figures: store (writes, open, queries, memory), merge (bundle) or sync (QUIC)"),
                )
                .after_help("Examples:\n  branchline bench\n  branchline bench --only sync"),
        );
    for kind in Kind::ALL {
        if *kind != Kind::Device {
            cmd = cmd.subcommand(kind_command(*kind));
        }
    }
    cmd.subcommand(
        Command::new("devices")
            .about("Devices enrolled in the library system")
            .subcommand(
                Command::new("revoke")
                    .about("Revoke a device (a stolen laptop): peers refuse it once they hear of it")
                    .arg(Arg::new("device").required(true).help("device id, id prefix or name"))
                    .after_help("Example:\n  branchline devices revoke tech-laptop"),
            )
            .after_help("Examples:\n  branchline devices --json\n  branchline devices revoke 3f2a9c1e"),
    )
    .subcommand(
        Command::new("serve")
            .about("Run this node: sync with every peer it can reach until SIGINT/SIGTERM")
            .arg(
                Arg::new("listen")
                    .long("listen")
                    .value_name("HOST:PORT")
                    .default_value("0.0.0.0:7733")
                    .help("address to listen on (UDP; QUIC)"),
            )
            .arg(Arg::new("mdns_interface").long("mdns-interface").value_name("NAME").help("advertise and browse on this interface only"))
            .arg(Arg::new("no_mdns").long("no-mdns").action(ArgAction::SetTrue).conflicts_with("mdns_interface").help("no LAN discovery"))
            .after_help("Examples:\n  branchline serve\n  branchline serve --listen 0.0.0.0:7733 --mdns-interface eth0\n  branchline serve --listen 127.0.0.1:7801 --no-mdns"),
    )
    .subcommand(
        Command::new("sync")
            .about("Sync once with one peer and print what moved")
            .arg(Arg::new("peer").long("peer").required(true).value_name("HOST:PORT"))
            .arg(Arg::new("once").long("once").action(ArgAction::SetTrue).help("exit when caught up (the default)"))
            .after_help("Example:\n  branchline sync --peer 10.1.2.3:7733 --once"),
    )
    .subcommand(
        Command::new("invite")
            .about("Make a one-time code that enrols a new device (run on an enrolment authority)")
            .arg(Arg::new("role").long("role").default_value("peer").help("peer, or authority (can enrol others)"))
            .arg(Arg::new("expires").long("expires").default_value("24h").help("how long the code works: 30m, 24h, 7d"))
            .arg(
                Arg::new("addr")
                    .long("addr")
                    .action(ArgAction::Append)
                    .value_name("HOST:PORT")
                    .help("where the new device reaches this one (default: this machine's addresses, port 7733)"),
            )
            .after_help("Examples:\n  branchline invite\n  branchline invite --role authority --expires 1h --json"),
    )
    .subcommand(
        Command::new("join")
            .about("Enrol this device into a library system with an invite code")
            .arg(Arg::new("code").required(true))
            .arg(Arg::new("device").long("device").required(true).help("a name for this device"))
            .arg(Arg::new("branch").long("branch").required(true).help("branch code of this device"))
            .arg(Arg::new("peer").long("peer").value_name("HOST:PORT").help("reach the inviter here instead of the code's addresses"))
            .after_help("Example:\n  branchline join 0K3M2-AB7QX-... --device nor-desk --branch NOR"),
    )
    .subcommand(
        Command::new("peers")
            .about("Addresses of peers: configured, discovered on the LAN, learned from other peers")
            .subcommand(
                Command::new("add")
                    .about("Add a peer reachable over the WAN")
                    .arg(Arg::new("addr").required(true).value_name("HOST:PORT"))
                    .after_help("Example:\n  branchline peers add 203.0.113.7:7733"),
            )
            .after_help("Examples:\n  branchline peers\n  branchline peers add 203.0.113.7:7733"),
    )
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn parse_duration(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n
        .parse()
        .map_err(|_| NodeError::Usage(format!("'{s}' is not a duration like 30m, 24h or 7d")))?;
    Ok(match unit {
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return Err(NodeError::Usage(format!("'{s}' is not a duration like 30m, 24h or 7d")).into()),
    })
}

fn sock(s: &str) -> anyhow::Result<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    s.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| NodeError::Usage(format!("'{s}' is not HOST:PORT")).into())
}

fn network(m: &ArgMatches, name: &str, sub: &ArgMatches, json: bool) -> anyhow::Result<()> {
    match name {
        "serve" => {
            let node = open(m)?;
            let listen = sock(
                sub.get_one::<String>("listen")
                    .map(String::as_str)
                    .unwrap_or("0.0.0.0:7733"),
            )?;
            let mut opts = branchline_node::service::ServeOptions::new(listen);
            opts.mdns.enabled = !sub.get_flag("no_mdns");
            opts.mdns.interface = sub.get_one::<String>("mdns_interface").cloned();
            runtime()?.block_on(async move {
                let svc = branchline_node::service::Service::start(node, opts).await?;
                let addr = svc.local_addr()?;
                if json {
                    println!("{}", serde_json::json!({"listening": addr.to_string()}));
                } else {
                    println!("listening on {addr}");
                }
                use std::io::Write;
                let _ = std::io::stdout().flush();
                let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                eprintln!("shutting down");
                svc.shutdown().await;
                Ok::<_, anyhow::Error>(())
            })
        }
        "sync" => {
            let node = open(m)?;
            let peer = sock(
                sub.get_one::<String>("peer")
                    .map(String::as_str)
                    .unwrap_or_default(),
            )?;
            let summary = runtime()?.block_on(branchline_node::service::sync_once(node, peer, |p| {
                eprintln!("{p}")
            }))?;
            if json {
                return output::json(&summary);
            }
            println!(
                "synced with {} in {} ms: {} documents, {} changes in, {} changes out, {} bytes in, {} bytes out",
                summary.peer, summary.millis, summary.documents, summary.changes_received, summary.changes_sent,
                summary.bytes_received, summary.bytes_sent
            );
            Ok(())
        }
        "invite" => {
            let mut node = open(m)?;
            let role = sub
                .get_one::<String>("role")
                .map(String::as_str)
                .unwrap_or("peer");
            let secs = parse_duration(
                sub.get_one::<String>("expires")
                    .map(String::as_str)
                    .unwrap_or("24h"),
            )?;
            let addrs = match sub.get_many::<String>("addr") {
                Some(list) => list.map(|a| sock(a)).collect::<anyhow::Result<Vec<_>>>()?,
                None => branchline_net::discovery::local_addresses()
                    .into_iter()
                    .map(|ip| std::net::SocketAddr::new(ip, branchline_node::service::DEFAULT_PORT))
                    .collect(),
            };
            let invite = node.create_invite(role, secs, addrs)?;
            if json {
                return output::json(&invite);
            }
            println!("{}", invite.code);
            println!("one use, {} role, expires {}", invite.role, invite.expires);
            println!(
                "on the new device: branchline join {} --device NAME --branch CODE",
                invite.code
            );
            Ok(())
        }
        "join" => {
            let dir = data_dir(m)?;
            let code = sub
                .get_one::<String>("code")
                .map(String::as_str)
                .unwrap_or_default();
            let device = sub
                .get_one::<String>("device")
                .map(String::as_str)
                .unwrap_or_default();
            let branch = sub
                .get_one::<String>("branch")
                .map(String::as_str)
                .unwrap_or_default();
            let peer = sub.get_one::<String>("peer").map(|p| sock(p)).transpose()?;
            let (mut node, summary) =
                runtime()?.block_on(branchline_node::service::join(&dir, code, device, branch, peer))?;
            let id = node.identity().clone();
            if json {
                return output::json(&serde_json::json!({"identity": id, "sync": summary}));
            }
            println!(
                "{} joined library system '{}' as device '{}' at {}; {} documents and {} changes arrived",
                dir.display(),
                id.system_name,
                id.device_name,
                id.branch,
                summary.documents,
                summary.changes_received
            );
            println!("state hash {}", node.state_hash()?);
            Ok(())
        }
        "peers" => {
            let mut node = open(m)?;
            if let Some(("add", s)) = sub.subcommand() {
                let a = sock(
                    s.get_one::<String>("addr")
                        .map(String::as_str)
                        .unwrap_or_default(),
                )?;
                node.add_peer(&a.to_string(), "static", None)?;
                println!("added {a}; a running `branchline serve` dials it within seconds");
                return Ok(());
            }
            let peers = node.known_peers()?;
            if json {
                return output::json(&peers);
            }
            let rows: Vec<Vec<String>> = peers
                .iter()
                .map(|p| {
                    vec![
                        p.addr.clone(),
                        p.source.clone(),
                        p.device_id
                            .clone()
                            .map(|d| d.chars().take(8).collect())
                            .unwrap_or_default(),
                        p.last_synced.map(output::time_ms).unwrap_or_default(),
                        p.last_error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            output::table(
                &["address", "source", "device", "last synced", "last error"],
                &rows,
            );
            Ok(())
        }
        _ => Err(NodeError::Usage(format!("unknown command {name}")).into()),
    }
}

fn data_dir(m: &ArgMatches) -> anyhow::Result<PathBuf> {
    if let Some(d) = m.get_one::<String>("data") {
        return Ok(PathBuf::from(d));
    }
    dirs::data_dir()
        .map(|d| d.join("branchline"))
        .ok_or_else(|| anyhow!("no platform data directory: give --data DIR"))
}

/// `BRANCHLINE_NOW=YYYY-MM-DDTHH:MM` pins the clock: for tests and for replaying
/// a day's paper log with the right times.
fn pinned_clock() -> anyhow::Result<Option<branchline_node::Clock>> {
    match std::env::var("BRANCHLINE_NOW") {
        Ok(s) => {
            let t = branchline_core::hours::parse_datetime(&s)
                .ok_or_else(|| NodeError::Usage(format!("BRANCHLINE_NOW='{s}' is not YYYY-MM-DDTHH:MM")))?;
            Ok(Some(branchline_node::Clock::Fixed(t)))
        }
        Err(_) => Ok(None),
    }
}

fn open(m: &ArgMatches) -> anyhow::Result<Node> {
    let mut node = Node::open(&data_dir(m)?)?;
    if let Some(c) = pinned_clock()? {
        node.set_clock(c);
    }
    if let Some(s) = m.get_one::<String>("staff") {
        node.set_staff(Some(s))?;
    }
    Ok(node)
}

fn fields_from(kind: Kind, m: &ArgMatches) -> Fields {
    kind.fields()
        .iter()
        .filter_map(|f| {
            m.get_one::<String>(f.name)
                .map(|v| (f.name.to_string(), Value::Str(v.clone())))
        })
        .collect()
}

fn names(node: &mut Node) -> anyhow::Result<HashMap<String, String>> {
    let mut n = HashMap::new();
    for kind in [
        Kind::Staff,
        Kind::Vendor,
        Kind::Asset,
        Kind::StockItem,
        Kind::Licence,
        Kind::Task,
        Kind::Ticket,
    ] {
        for r in node.list(kind, &ListFilter::default())? {
            if let Some(v) = kind.natural_key().and_then(|k| r.str(k)) {
                n.insert(r.id.clone(), v.to_string());
            }
        }
    }
    Ok(n)
}

fn names_for(
    node: &mut Node,
    recs: &[branchline_core::doc::Record],
) -> anyhow::Result<HashMap<String, String>> {
    let refs = recs.iter().any(|r| {
        r.kind
            .fields()
            .iter()
            .any(|f| matches!(f.ty, FieldType::Ref(_)) && r.get(f.name).is_some())
    });
    if refs || recs.iter().any(|r| !r.work.is_empty()) {
        names(node)
    } else {
        Ok(HashMap::new())
    }
}

pub fn dispatch(m: &ArgMatches) -> anyhow::Result<()> {
    let json = m.get_flag("json");
    let Some((name, sub)) = m.subcommand() else {
        return Err(NodeError::Usage("no command given".into()).into());
    };
    match name {
        "init" => init(m, sub, json),
        "demo" => demo_cmd(m, sub, json),
        "status" => status(m, json),
        "stock" => {
            let mut node = open(m)?;
            let Some(("levels", s)) = sub.subcommand() else {
                return Err(NodeError::Usage("stock levels".into()).into());
            };
            let mut levels = node.stock_levels(s.get_one::<String>("branch").map(String::as_str))?;
            if s.get_flag("below") {
                levels.retain(|l| l.below_reorder);
            }
            if json {
                return output::json(&levels);
            }
            let rows: Vec<Vec<String>> = levels
                .iter()
                .map(|l| {
                    vec![
                        l.branch.clone(),
                        l.item_name.clone(),
                        l.level.to_string(),
                        l.reorder_level.to_string(),
                        if l.below_reorder {
                            "REORDER".into()
                        } else {
                            String::new()
                        },
                    ]
                })
                .collect();
            output::table(&["branch", "item", "level", "reorder at", ""], &rows);
            Ok(())
        }
        "conflicts" => conflicts(m, sub, json),
        "history" => {
            let mut node = open(m)?;
            let key = sub
                .get_one::<String>("record")
                .map(String::as_str)
                .unwrap_or_default();
            let (rec, entries) = node.history(key)?;
            if json {
                return output::json(
                    &serde_json::json!({"record": rec.id, "kind": rec.kind, "history": entries}),
                );
            }
            println!("history of {} {}", rec.kind, rec.id);
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| {
                    let what = e
                        .fields
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v.display()))
                        .collect::<Vec<_>>()
                        .join(" ");
                    vec![
                        output::time_ms(e.time),
                        e.device.clone(),
                        e.staff.clone().unwrap_or_default(),
                        e.op.clone(),
                        what,
                    ]
                })
                .collect();
            output::table(&["when", "device", "staff", "op", "what"], &rows);
            Ok(())
        }
        "export" => {
            let mut node = open(m)?;
            println!("{}", serde_json::to_string(&node.export_state()?)?);
            Ok(())
        }
        "state-hash" => {
            let mut node = open(m)?;
            let h = node.state_hash()?;
            if json {
                output::json(&serde_json::json!({"state_hash": h}))
            } else {
                println!("{h}");
                Ok(())
            }
        }
        "doc" => {
            let mut node = open(m)?;
            match sub.subcommand() {
                Some(("list", _)) => {
                    let docs = node.doc_list()?;
                    if json {
                        return output::json(&docs);
                    }
                    let rows: Vec<Vec<String>> = docs
                        .iter()
                        .map(|d| vec![d.id.clone(), d.records.to_string(), d.changes.to_string()])
                        .collect();
                    output::table(&["document", "records", "changes"], &rows);
                    Ok(())
                }
                Some(("export", s)) => {
                    let id = s.get_one::<String>("doc").map(String::as_str).unwrap_or_default();
                    let file = s
                        .get_one::<String>("file")
                        .map(String::as_str)
                        .unwrap_or_default();
                    let bytes = node.doc_bytes(id)?;
                    write_file(Path::new(file), &bytes)?;
                    println!("wrote {id} ({} bytes) to {file}", bytes.len());
                    Ok(())
                }
                _ => Err(NodeError::Usage("doc list | doc export".into()).into()),
            }
        }
        "index" => {
            let mut node = open(m)?;
            let t = std::time::Instant::now();
            let n = node.rebuild_index()?;
            println!(
                "rebuilt the index from {n} documents in {:.2} s",
                t.elapsed().as_secs_f64()
            );
            Ok(())
        }
        "bundle" => bundle(m, sub, json),
        "bench" => bench::run(
            sub.get_flag("quick"),
            sub.get_one::<String>("only").map(String::as_str),
        ),
        "devices" => devices(m, sub, json),
        "serve" | "sync" | "invite" | "join" | "peers" => network(m, name, sub, json),
        other => {
            let kind =
                Kind::parse(other).ok_or_else(|| NodeError::Usage(format!("unknown command {other}")))?;
            record_cmd(m, kind, sub, json)
        }
    }
}

trait WithId {
    fn to_json_with_id(&self) -> serde_json::Value;
}
impl WithId for branchline_core::doc::Record {
    fn to_json_with_id(&self) -> serde_json::Value {
        let mut v = self.to_json();
        if let Some(o) = v.as_object_mut() {
            o.insert("id".into(), self.id.clone().into());
            o.insert("kind".into(), self.kind.name().into());
        }
        v
    }
}

fn devices(m: &ArgMatches, sub: &ArgMatches, json: bool) -> anyhow::Result<()> {
    let mut node = open(m)?;
    if let Some(("revoke", s)) = sub.subcommand() {
        let key = s
            .get_one::<String>("device")
            .map(String::as_str)
            .unwrap_or_default();
        let d = node.revoke_device(key)?;
        if json {
            return output::json(&d.to_json_with_id());
        }
        println!(
            "revoked {} ({}); peers refuse it as soon as they hear of it",
            d.str("name").unwrap_or_default(),
            d.id
        );
        return Ok(());
    }
    let list = node.list(Kind::Device, &ListFilter::default())?;
    let seen: HashMap<String, i64> = node
        .known_peers()?
        .into_iter()
        .filter_map(|p| Some((p.device_id?, p.last_seen?)))
        .fold(HashMap::new(), |mut m, (d, t)| {
            let e = m.entry(d).or_insert(t);
            *e = (*e).max(t);
            m
        });
    let names: HashMap<String, String> = list
        .iter()
        .map(|d| (d.id.clone(), d.str("name").unwrap_or_default().to_string()))
        .collect();
    let me = node.identity().device_id.clone();
    if json {
        let v: Vec<serde_json::Value> = list
            .iter()
            .map(|d| {
                let mut j = d.to_json_with_id();
                if let Some(o) = j.as_object_mut() {
                    o.insert("last_seen".into(), seen.get(&d.id).copied().into());
                    o.insert("this_device".into(), (d.id == me).into());
                }
                j
            })
            .collect();
        return output::json(&v);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|d| {
            vec![
                d.id.chars().take(8).collect(),
                format!(
                    "{}{}",
                    d.str("name").unwrap_or_default(),
                    if d.id == me { " (this device)" } else { "" }
                ),
                d.str("branch").unwrap_or_default().to_string(),
                d.str("role").unwrap_or_default().to_string(),
                d.str("enrolled_by")
                    .and_then(|e| names.get(e))
                    .cloned()
                    .unwrap_or_default(),
                d.int("created_at").map(output::time_ms).unwrap_or_default(),
                seen.get(&d.id).copied().map(output::time_ms).unwrap_or_default(),
                if d.flag("revoked") {
                    "REVOKED".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    output::table(
        &[
            "id",
            "name",
            "branch",
            "role",
            "enrolled by",
            "enrolled",
            "last seen",
            "",
        ],
        &rows,
    );
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    // Write beside, then rename: a full disk or a crash never leaves half a file
    // where a good one was.
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

fn read_file(path: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {path}"))
}

fn record_cmd(m: &ArgMatches, kind: Kind, sub: &ArgMatches, json: bool) -> anyhow::Result<()> {
    let mut node = open(m)?;
    let key = || {
        sub.subcommand()
            .and_then(|(_, s)| s.try_get_one::<String>("target").ok().flatten())
            .map(String::as_str)
            .unwrap_or_default()
    };
    let print = |node: &mut Node, r: &branchline_core::doc::Record, verb: &str| -> anyhow::Result<()> {
        if json {
            return output::json(&r.to_json_with_id());
        }
        if !verb.is_empty() {
            println!("{verb} {} {}", r.kind, r.id);
        }
        let names = names_for(node, std::slice::from_ref(r))?;
        output::record(r, &names);
        Ok(())
    };
    match sub.subcommand() {
        Some(("add", s)) => {
            let r = node.create(kind, fields_from(kind, s))?;
            print(&mut node, &r, "created")
        }
        Some(("show", _)) => {
            let r = node.get(kind, key())?;
            print(&mut node, &r, "")
        }
        Some(("update", s)) => {
            let f = fields_from(kind, s);
            if f.is_empty() {
                return Err(NodeError::Usage("give at least one field to change".into()).into());
            }
            let r = node.update(kind, key(), f)?;
            print(&mut node, &r, "updated")
        }
        Some(("retire", _)) => {
            let r = node.retire(kind, key())?;
            print(&mut node, &r, "retired")
        }
        Some(("log", s)) => {
            let minutes = s.get_one::<i64>("minutes").copied().unwrap_or(0);
            let text = s
                .get_one::<String>("text")
                .map(String::as_str)
                .unwrap_or_default();
            let r = node.add_work(key(), minutes, text)?;
            print(&mut node, &r, "logged work on")
        }
        Some(("part", s)) => {
            let item = s
                .get_one::<String>("item")
                .map(String::as_str)
                .unwrap_or_default();
            let qty = s.get_one::<i64>("qty").copied().unwrap_or(1);
            let r = node.use_part(key(), item, qty)?;
            print(&mut node, &r, "issued")
        }
        Some(("edit", s)) => {
            let text = match (s.get_one::<String>("text"), s.get_one::<String>("text_file")) {
                (Some(t), _) => t.clone(),
                (None, Some(f)) => String::from_utf8(read_file(f)?).context("the text file is not UTF-8")?,
                (None, None) => return Err(NodeError::Usage("give --text or --text-file".into()).into()),
            };
            let r = node.update(kind, key(), [("text".to_string(), Value::Str(text))].into())?;
            print(&mut node, &r, "edited")
        }
        Some(("list", s)) => {
            let mut filter = ListFilter {
                branch: s.get_one::<String>("branch").cloned(),
                search: s.get_one::<String>("search").cloned(),
                from_day: s.get_one::<String>("from").cloned(),
                to_day: s.get_one::<String>("to").cloned(),
                limit: s.get_one::<usize>("limit").copied(),
                ..Default::default()
            };
            for w in s.get_many::<String>("where").into_iter().flatten() {
                let (k, v) = w
                    .split_once('=')
                    .ok_or_else(|| NodeError::Usage(format!("--where takes FIELD=VALUE, not '{w}'")))?;
                let k = k.trim().replace('-', "_");
                if kind.field(&k).is_none() {
                    return Err(NodeError::Usage(format!("{kind} has no field '{k}'")).into());
                }
                filter.fields.push((k, v.trim().to_string()));
            }
            let list = node.list(kind, &filter)?;
            if json {
                return output::json(&list.iter().map(|r| r.to_json_with_id()).collect::<Vec<_>>());
            }
            let names = names_for(&mut node, &list)?;
            output::records(kind, &list, &names);
            Ok(())
        }
        _ => Err(NodeError::Usage(format!("branchline {kind} add|show|list|update|retire")).into()),
    }
}

fn init(m: &ArgMatches, s: &ArgMatches, json: bool) -> anyhow::Result<()> {
    let dir = data_dir(m)?;
    let branch = s
        .get_one::<String>("branch")
        .map(String::as_str)
        .unwrap_or_default();
    let device = s
        .get_one::<String>("device")
        .map(String::as_str)
        .unwrap_or_default();
    let mut node = match (s.get_one::<String>("system"), s.get_one::<String>("from_bundle")) {
        (Some(system), None) => Node::init(
            &dir,
            system,
            branch,
            s.get_one::<String>("branch_name").map(String::as_str),
            device,
        )?,
        (None, Some(file)) => Node::init_from_bundle(&dir, &read_file(file)?, branch, device)?,
        _ => {
            return Err(NodeError::Usage(
                "give --system NAME for a new library system, or --from-bundle FILE".into(),
            )
            .into())
        }
    };
    let id = node.identity().clone();
    if json {
        return output::json(&id);
    }
    println!(
        "{} is now device '{}' at {} of library system '{}'",
        dir.display(),
        id.device_name,
        id.branch,
        id.system_name
    );
    println!("state hash {}", node.state_hash()?);
    Ok(())
}

fn demo_cmd(m: &ArgMatches, s: &ArgMatches, json: bool) -> anyhow::Result<()> {
    let dir = data_dir(m)?;
    if branchline_node::db_path(&dir).exists() {
        return Err(NodeError::AlreadyInitialised(format!(
            "{} (the demo fills an empty data directory)",
            dir.display()
        ))
        .into());
    }
    let size = if s.get_flag("small") {
        demo::DemoSize::SMALL
    } else {
        demo::DemoSize::FULL
    };
    let seed = s.get_one::<u64>("seed").copied().unwrap_or(7);
    let t = std::time::Instant::now();
    let mut node = Node::init(
        &dir,
        "Demo County Public Library",
        "CEN",
        Some("Central Library"),
        "central-desk",
    )?;
    let today = chrono::Local::now().date_naive();
    let report = demo::fill(&mut node, size, today, seed)?;
    if json {
        return output::json(
            &serde_json::json!({"data": dir, "seconds": t.elapsed().as_secs_f64(), "counts": report.counts}),
        );
    }
    println!(
        "Demo library system ready in {:.1} s at {}",
        t.elapsed().as_secs_f64(),
        dir.display()
    );
    let rows: Vec<Vec<String>> = report
        .counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| vec![k.clone(), n.to_string()])
        .collect();
    output::table(&["records", "count"], &rows);
    Ok(())
}

fn status(m: &ArgMatches, json: bool) -> anyhow::Result<()> {
    let mut node = open(m)?;
    let id = node.identity().clone();
    let today = node.now().1.date().format("%Y-%m-%d").to_string();
    let mut counts = Vec::new();
    for k in Kind::ALL {
        counts.push((k.name(), node.count(*k)?));
    }
    let open_tickets = node
        .list(Kind::Ticket, &ListFilter::default())?
        .into_iter()
        .filter(|t| !matches!(t.str("status"), Some("solved") | Some("closed")))
        .count();
    let todays = node.list(
        Kind::Booking,
        &ListFilter {
            branch: Some(id.branch.clone()),
            from_day: Some(today.clone()),
            to_day: Some(today.clone()),
            ..Default::default()
        },
    )?;
    let low = node
        .stock_levels(Some(&id.branch))?
        .into_iter()
        .filter(|l| l.below_reorder)
        .count();
    let due = node
        .list(Kind::Task, &ListFilter::default())?
        .into_iter()
        .filter(|t| t.str("next_due").is_some_and(|d| d <= today.as_str()) && !t.flag("retired"))
        .count();
    let conflicts = node.conflicts()?.len();
    let peers = node.sync_status()?;
    let known = node.known_peers()?;
    let enrolled = node.credentials()?.is_some();
    if json {
        return output::json(&serde_json::json!({
            "identity": id, "counts": counts.iter().map(|(k, n)| (k.to_string(), n)).collect::<std::collections::BTreeMap<_, _>>(),
            "open_tickets": open_tickets, "bookings_today_here": todays.len(), "stock_below_reorder_here": low,
            "tasks_due": due, "conflicts": conflicts, "enrolled": enrolled, "peers": peers, "known_peers": known,
        }));
    }
    println!("Library system  {} ({})", id.system_name, id.system_id);
    println!(
        "This device     {} at {} ({})",
        id.device_name, id.branch, id.device_id
    );
    println!("Data            {}", node.dir().display());
    println!();
    println!(
        "Today at {}: {} bookings, {} items below reorder level",
        id.branch,
        todays.len(),
        low
    );
    println!("Across the system: {open_tickets} open tickets, {due} maintenance/backup tasks due, {conflicts} conflicts to settle");
    println!();
    if !enrolled {
        println!("Sync: this device has no certificate (made from a bundle): it syncs by bundle file only.");
    } else if peers.is_empty() && known.is_empty() {
        println!("Sync: no peers known yet. Run `branchline serve` (LAN peers are found by mDNS) or `branchline peers add HOST:PORT`.");
    } else {
        let rows: Vec<Vec<String>> = peers
            .iter()
            .map(|p| {
                vec![
                    p.device_id.chars().take(8).collect(),
                    p.addr.clone(),
                    if p.connected {
                        if p.caught_up {
                            "in sync".into()
                        } else {
                            "syncing".into()
                        }
                    } else {
                        "not connected".into()
                    },
                    p.last_synced.map(output::time_ms).unwrap_or_default(),
                    p.docs_waiting.to_string(),
                    p.bytes_received.to_string(),
                    p.bytes_sent.to_string(),
                    p.last_error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        println!("Peers (as the running `serve` last reported):");
        output::table(
            &[
                "device",
                "address",
                "state",
                "last synced",
                "docs waiting",
                "bytes in",
                "bytes out",
                "last error",
            ],
            &rows,
        );
        println!("{} addresses known (`branchline peers`)", known.len());
    }
    println!();
    let rows: Vec<Vec<String>> = counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| vec![k.to_string(), n.to_string()])
        .collect();
    output::table(&["records", "count"], &rows);
    Ok(())
}

fn conflicts(m: &ArgMatches, sub: &ArgMatches, json: bool) -> anyhow::Result<()> {
    let mut node = open(m)?;
    if let Some(("resolve", s)) = sub.subcommand() {
        let id = s.get_one::<String>("id").map(String::as_str).unwrap_or_default();
        let keep = s
            .get_one::<String>("keep")
            .map(String::as_str)
            .unwrap_or_default();
        let what = node.resolve(id, keep)?;
        if json {
            return output::json(&serde_json::json!({"resolved": id, "result": what}));
        }
        println!("settled {id}: {what}");
        return Ok(());
    }
    let list = node.conflicts()?;
    if json {
        return output::json(&list);
    }
    if list.is_empty() {
        println!("No conflicts: every branch agrees.");
        return Ok(());
    }
    for c in &list {
        println!("{}  {}", &c.id, c.summary);
        for s in &c.sides {
            println!(
                "    keep {:<38} {}  by {} on {} at {}",
                s.key,
                s.what,
                s.staff.clone().unwrap_or_else(|| "?".into()),
                s.device.clone().unwrap_or_else(|| "?".into()),
                output::time_ms(s.at)
            );
        }
        println!(
            "    settle: branchline conflicts resolve {} --keep <one of the above>",
            &c.id[..8]
        );
    }
    Ok(())
}

fn bundle(m: &ArgMatches, sub: &ArgMatches, json: bool) -> anyhow::Result<()> {
    let mut node = open(m)?;
    match sub.subcommand() {
        Some(("export", s)) => {
            let file = s
                .get_one::<String>("file")
                .map(String::as_str)
                .unwrap_or_default();
            let peer = match s.get_one::<String>("for") {
                Some(f) => Some(
                    serde_json::from_slice::<branchline_core::bundle::Summary>(&read_file(f)?)
                        .with_context(|| format!("{f} is not a Branchline summary file"))?,
                ),
                None => None,
            };
            let bytes = node.export_bundle(peer.as_ref())?;
            write_file(Path::new(file), &bytes)?;
            if json {
                return output::json(&serde_json::json!({"file": file, "bytes": bytes.len()}));
            }
            println!("wrote {} bytes to {file}", bytes.len());
            Ok(())
        }
        Some(("import", s)) => {
            let file = s
                .get_one::<String>("file")
                .map(String::as_str)
                .unwrap_or_default();
            let report = node
                .import_bundle(&read_file(file)?)
                .with_context(|| format!("{file} was not imported; nothing changed"))?;
            if json {
                return output::json(&report);
            }
            println!(
                "merged {} new changes into {} documents ({} already here); {} conflicts to settle",
                report.changes_new, report.documents, report.changes_known, report.conflicts
            );
            Ok(())
        }
        Some(("summary", s)) => {
            let file = s
                .get_one::<String>("file")
                .map(String::as_str)
                .unwrap_or_default();
            let summary = node.summary()?;
            write_file(Path::new(file), &serde_json::to_vec_pretty(&summary)?)?;
            println!("wrote the summary of {} documents to {file}", summary.heads.len());
            Ok(())
        }
        _ => Err(NodeError::Usage("bundle export|import|summary".into()).into()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_tree_is_consistent() {
        super::build().debug_assert();
    }
}
