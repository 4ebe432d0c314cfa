//! `branchline`: every function of a Branchline replica from the command line.
//! A thin shell over `branchline_node::Node`: parse, call, print.

mod bench;
mod cmd;
mod output;

use clap::ArgMatches;
use std::process::ExitCode;

fn main() -> ExitCode {
    // `branchline ... | head` closes the pipe early: end quietly, as Unix tools do,
    // instead of reporting a panic.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
    let matches = match cmd::build().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(2),
            };
        }
    };
    let json = matches.get_flag("json");
    let code = match run(&matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let (code, exit) = match e.downcast_ref::<branchline_node::NodeError>() {
                Some(n @ branchline_node::NodeError::Usage(_)) => (n.code(), 2),
                Some(n) => (n.code(), 1),
                None => ("error", 1),
            };
            if json {
                let field = e
                    .downcast_ref::<branchline_node::NodeError>()
                    .and_then(|n| n.field());
                eprintln!(
                    "{}",
                    serde_json::json!({"error": {"code": code, "message": format!("{e:#}"), "field": field}})
                );
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::from(exit)
        }
    };
    if std::env::var_os("BRANCHLINE_REPORT_PEAK_MEM").is_some() {
        if let Some(kb) = bench::peak_rss_kb() {
            eprintln!("peak_rss_kb {kb}");
        }
    }
    code
}

fn run(m: &ArgMatches) -> anyhow::Result<()> {
    cmd::dispatch(m)
}
