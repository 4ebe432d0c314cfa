//! Where the app keeps its replica and how its node listens, from the command line
//! and environment. Tests pin these (loopback, no mDNS); a branch desktop takes the
//! defaults (the platform data directory, every address on the fixed port, mDNS on
//! every LAN interface).

use branchline_node::service::DEFAULT_PORT;
use branchline_node::Clock;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Config {
    pub data: PathBuf,
    pub listen: SocketAddr,
    /// None: mDNS off. Some(None): every interface. Some(Some(name)): that one.
    pub mdns: Option<Option<String>>,
    pub clock: Clock,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no platform data directory: set BRANCHLINE_DATA or pass --data DIR")]
    NoDataDir,
    #[error("{name}='{value}': {why}")]
    Bad {
        name: &'static str,
        value: String,
        why: &'static str,
    },
}

impl Config {
    /// `--data DIR` beats `BRANCHLINE_DATA`; `BRANCHLINE_LISTEN`, `BRANCHLINE_MDNS`
    /// (`off` or an interface name) and `BRANCHLINE_NOW` (YYYY-MM-DDTHH:MM) as for
    /// the CLI.
    pub fn from_env(args: &[String]) -> Result<Config, ConfigError> {
        let arg_data = args
            .windows(2)
            .find(|w| w[0] == "--data")
            .map(|w| PathBuf::from(&w[1]));
        let data = match arg_data.or_else(|| std::env::var_os("BRANCHLINE_DATA").map(PathBuf::from)) {
            Some(d) => d,
            None => dirs::data_dir().ok_or(ConfigError::NoDataDir)?.join("branchline"),
        };
        let listen = match std::env::var("BRANCHLINE_LISTEN") {
            Ok(v) => v.parse().map_err(|_| ConfigError::Bad {
                name: "BRANCHLINE_LISTEN",
                value: v,
                why: "expected HOST:PORT",
            })?,
            Err(_) => SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)),
        };
        let mdns = match std::env::var("BRANCHLINE_MDNS") {
            Ok(v) if v == "off" => None,
            Ok(v) if !v.is_empty() => Some(Some(v)),
            _ => Some(None),
        };
        let clock = match std::env::var("BRANCHLINE_NOW") {
            Ok(v) => match branchline_core::hours::parse_datetime(&v) {
                Some(t) => Clock::Fixed(t),
                None => {
                    return Err(ConfigError::Bad {
                        name: "BRANCHLINE_NOW",
                        value: v,
                        why: "expected YYYY-MM-DDTHH:MM",
                    })
                }
            },
            Err(_) => Clock::System,
        };
        Ok(Config {
            data,
            listen,
            mdns,
            clock,
        })
    }
}
