//! LAN discovery over mDNS (DNS-SD): every device advertises `_branchline._udp.local.` with
//! its QUIC port and TXT records, and browses for other devices of the same library system.
//!
//! TXT records (all short ASCII):
//! - `v=1` — the record layout version;
//! - `sys=<tag>` — the first 16 hex digits of SHA-256(`branchline-system:` + system id), so the
//!   LAN learns which devices belong together without the system id itself;
//! - `dev=<device id>`.
//!
//! What arrives by mDNS is a hint, never trusted: it only tells where to try a QUIC
//! connection, whose mutual-TLS handshake decides whether the peer is enrolled.
//!
//! With [`MdnsOptions::interface`] set, the daemon is told to drop every interface and use
//! only that one before anything is registered or browsed.

use std::net::{IpAddr, SocketAddr, SocketAddrV6};

use mdns_sd::{IfKind, ResolvedService, ScopedIp, ServiceDaemon, ServiceEvent, ServiceInfo};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{NetError, Result};
use crate::identity::{sha256_hex, validate_id};

/// The DNS-SD service type.
pub const SERVICE_TYPE: &str = "_branchline._udp.local.";
/// TXT key: layout version.
pub const TXT_VERSION: &str = "v";
/// TXT key: system tag (see [`system_tag`]).
pub const TXT_SYSTEM: &str = "sys";
/// TXT key: device id.
pub const TXT_DEVICE: &str = "dev";
/// The only TXT layout version understood.
pub const TXT_LAYOUT: &str = "1";
/// At most this many addresses are kept per discovered peer.
pub const MAX_ADDRS: usize = 16;
/// Discovered peers waiting to be taken; more are dropped (discovery is best effort and
/// announcements repeat).
pub const CHANNEL_CAPACITY: usize = 64;

/// Whether and where to run mDNS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MdnsOptions {
    /// Off: nothing is advertised, nothing browsed, no multicast socket opened.
    pub enabled: bool,
    /// Pin mDNS to this one interface (e.g. `eth0`); `None` uses every interface.
    pub interface: Option<String>,
}

/// What this device advertises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// The library system's id (only its tag goes on the wire).
    pub system_id: String,
    /// This device's id.
    pub device_id: String,
    /// The UDP port the QUIC endpoint listens on.
    pub port: u16,
}

/// A device of the same system seen on the LAN, and where it says it listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredPeer {
    /// The device id it advertises (to be confirmed by the TLS handshake).
    pub device_id: String,
    /// Addresses to try, IPv4 first, at most [`MAX_ADDRS`].
    pub addrs: Vec<SocketAddr>,
}

/// The tag of a system on the wire: 16 hex digits of SHA-256(`branchline-system:` + id).
pub fn system_tag(system_id: &str) -> String {
    let mut tag = sha256_hex(format!("branchline-system:{system_id}").as_bytes());
    tag.truncate(16);
    tag
}

/// The DNS-SD instance name for a device (at most 63 bytes).
pub fn instance_name(device_id: &str) -> String {
    let mut name = format!("branchline-{device_id}");
    name.truncate(63);
    name
}

/// The mDNS host name for a device: one label of letters, digits and `-`, under `.local.`.
pub fn host_name(device_id: &str) -> String {
    let label: String = format!("bl-{device_id}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    format!("{label}.local.")
}

/// The TXT records this device advertises.
pub fn txt_records(advert: &Advert) -> Vec<(String, String)> {
    vec![
        (TXT_VERSION.to_string(), TXT_LAYOUT.to_string()),
        (TXT_SYSTEM.to_string(), system_tag(&advert.system_id)),
        (TXT_DEVICE.to_string(), advert.device_id.clone()),
    ]
}

fn txt_get<'a>(txt: &'a [(String, String)], key: &str) -> Option<&'a str> {
    txt.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// Decides whether a resolved record is another device of our system and where to reach
/// it: same layout version and system tag, a valid device id that is not ours, a non-zero
/// port and at least one usable address (not unspecified, not multicast). Pure: no IO.
pub fn peer_from_record(
    own: &Advert,
    txt: &[(String, String)],
    port: u16,
    addrs: impl IntoIterator<Item = SocketAddr>,
) -> Option<DiscoveredPeer> {
    if txt_get(txt, TXT_VERSION)? != TXT_LAYOUT {
        return None;
    }
    if txt_get(txt, TXT_SYSTEM)? != system_tag(&own.system_id) {
        return None;
    }
    let device_id = txt_get(txt, TXT_DEVICE)?;
    if validate_id("device id", device_id).is_err() || device_id == own.device_id || port == 0 {
        return None;
    }
    let mut out: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| !a.ip().is_unspecified() && !a.ip().is_multicast())
        .map(|mut a| {
            a.set_port(port);
            a
        })
        .collect();
    out.sort_by_key(|a| (a.is_ipv6(), *a));
    out.dedup();
    out.truncate(MAX_ADDRS);
    if out.is_empty() {
        return None;
    }
    Some(DiscoveredPeer {
        device_id: device_id.to_string(),
        addrs: out,
    })
}

fn socket_addr(ip: &ScopedIp, port: u16) -> SocketAddr {
    match ip {
        ScopedIp::V6(v6) => {
            // A scope only means something (and is needed) for link-local addresses.
            let link_local = (v6.addr().segments()[0] & 0xffc0) == 0xfe80;
            let scope = if link_local { v6.scope_id().index } else { 0 };
            SocketAddr::V6(SocketAddrV6::new(*v6.addr(), port, 0, scope))
        }
        other => SocketAddr::new(other.to_ip_addr(), port),
    }
}

fn peer_from_resolved(own: &Advert, svc: &ResolvedService) -> Option<DiscoveredPeer> {
    let txt: Vec<(String, String)> = svc
        .txt_properties
        .iter()
        .take(32)
        .map(|p| (p.key().to_string(), p.val_str().to_string()))
        .collect();
    let addrs: Vec<SocketAddr> = svc
        .addresses
        .iter()
        .take(4 * MAX_ADDRS)
        .map(|ip| socket_addr(ip, svc.port))
        .collect();
    peer_from_record(own, &txt, svc.port, addrs)
}

fn mdns_err(e: mdns_sd::Error) -> NetError {
    NetError::Discovery(e.to_string())
}

/// A running mDNS advertiser and browser. Stops when shut down or dropped.
pub struct Discovery {
    daemon: Option<ServiceDaemon>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("running", &self.is_running())
            .finish()
    }
}

impl Discovery {
    /// Starts advertising `advert` and browsing for other devices of its system; discovered
    /// peers arrive on the returned channel (repeatedly: announcements repeat, and
    /// addresses change). With `opts.enabled == false` nothing starts and the channel is
    /// already closed. Must be called inside a tokio runtime.
    pub fn start(opts: &MdnsOptions, advert: &Advert) -> Result<(Discovery, mpsc::Receiver<DiscoveredPeer>)> {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        if !opts.enabled {
            return Ok((
                Discovery {
                    daemon: None,
                    task: None,
                },
                rx,
            ));
        }
        validate_id("system id", &advert.system_id)?;
        validate_id("device id", &advert.device_id)?;
        if advert.port == 0 {
            return Err(NetError::Discovery("cannot advertise port 0".into()));
        }
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|e| NetError::NoRuntime(e.to_string()))?;

        let daemon = ServiceDaemon::new().map_err(mdns_err)?;
        let started = Self::configure(&daemon, opts, advert);
        let receiver = match started {
            Ok(receiver) => receiver,
            Err(e) => {
                let _ = daemon.shutdown();
                return Err(e);
            }
        };
        let own = advert.clone();
        let task = runtime.spawn(async move {
            while let Ok(event) = receiver.recv_async().await {
                if let ServiceEvent::ServiceResolved(svc) = event {
                    if let Some(peer) = peer_from_resolved(&own, &svc) {
                        match tx.try_send(peer) {
                            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                            Err(mpsc::error::TrySendError::Closed(_)) => break,
                        }
                    }
                }
            }
        });
        Ok((
            Discovery {
                daemon: Some(daemon),
                task: Some(task),
            },
            rx,
        ))
    }

    /// Interface selection first (commands run in order), then register, then browse.
    fn configure(
        daemon: &ServiceDaemon,
        opts: &MdnsOptions,
        advert: &Advert,
    ) -> Result<mdns_sd::Receiver<ServiceEvent>> {
        if let Some(name) = &opts.interface {
            if name.is_empty() {
                return Err(NetError::Discovery("empty interface name".into()));
            }
            daemon.disable_interface(IfKind::All).map_err(mdns_err)?;
            daemon
                .enable_interface(IfKind::Name(name.clone()))
                .map_err(mdns_err)?;
        }
        let properties: Vec<(String, String)> = txt_records(advert);
        let properties: Vec<(&str, &str)> =
            properties.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let info = ServiceInfo::new(
            SERVICE_TYPE,
            &instance_name(&advert.device_id),
            &host_name(&advert.device_id),
            (),
            advert.port,
            &properties[..],
        )
        .map_err(mdns_err)?
        .enable_addr_auto();
        daemon.register(info).map_err(mdns_err)?;
        daemon.browse(SERVICE_TYPE).map_err(mdns_err)
    }

    /// Whether mDNS is running.
    pub fn is_running(&self) -> bool {
        self.daemon.is_some()
    }

    /// Stops advertising and browsing.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(daemon) = self.daemon.take() {
            // Shutdown unregisters (sends goodbyes) and ends the daemon thread; a daemon that
            // already stopped has nothing left to do.
            let _ = daemon.shutdown();
        }
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether an address is worth advertising to peers learned by other means (not loopback,
/// unspecified or multicast). Exposed for the node's address book.
pub fn is_shareable(ip: IpAddr) -> bool {
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast())
}

/// This machine's addresses worth giving to another device (an invite code): not
/// loopback, not link-local.
pub fn local_addresses() -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .filter(|ip| is_shareable(*ip) && !ip.is_loopback())
        .collect();
    v.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> Advert {
        Advert {
            system_id: "sys-1".into(),
            device_id: "desk-1".into(),
            port: 7700,
        }
    }

    fn record_of(advert: &Advert) -> Vec<(String, String)> {
        txt_records(advert)
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn tags_hide_the_system_id_and_are_stable() {
        let tag = system_tag("sys-1");
        assert_eq!(tag.len(), 16);
        assert_eq!(tag, system_tag("sys-1"));
        assert_ne!(tag, system_tag("sys-2"));
        assert!(!tag.contains("sys"));
    }

    #[test]
    fn names_fit_dns_limits() {
        let long = "x".repeat(128);
        assert!(instance_name(&long).len() <= 63);
        let host = host_name("Desk_1.A");
        assert_eq!(host, "bl-desk-1-a.local.");
        assert!(host_name(&long).trim_end_matches(".local.").len() <= 63);
    }

    #[test]
    fn a_peer_of_the_same_system_is_found() {
        let other = Advert {
            device_id: "laptop-2".into(),
            ..own()
        };
        let peer = peer_from_record(
            &own(),
            &record_of(&other),
            7711,
            [
                addr("[fe80::1]:1"),
                addr("192.168.1.20:5353"),
                addr("10.0.0.5:1"),
                addr("10.0.0.5:1"),
            ],
        )
        .unwrap();
        assert_eq!(peer.device_id, "laptop-2");
        assert_eq!(
            peer.addrs,
            vec![
                addr("10.0.0.5:7711"),
                addr("192.168.1.20:7711"),
                addr("[fe80::1]:7711")
            ]
        );
    }

    #[test]
    fn others_are_filtered_out() {
        let addrs = [addr("192.168.1.20:1")];
        // Ourselves.
        assert!(peer_from_record(&own(), &record_of(&own()), 7700, addrs).is_none());
        // Another system.
        let foreign = Advert {
            system_id: "sys-2".into(),
            device_id: "x".into(),
            port: 1,
        };
        assert!(peer_from_record(&own(), &record_of(&foreign), 7700, addrs).is_none());
        // Missing or wrong fields.
        let other = Advert {
            device_id: "d2".into(),
            ..own()
        };
        let mut txt = record_of(&other);
        txt.retain(|(k, _)| k != TXT_DEVICE);
        assert!(peer_from_record(&own(), &txt, 7700, addrs).is_none());
        let mut txt = record_of(&other);
        txt[0].1 = "2".into();
        assert!(peer_from_record(&own(), &txt, 7700, addrs).is_none());
        let mut txt = record_of(&other);
        txt[2].1 = "bad id/../".into();
        assert!(peer_from_record(&own(), &txt, 7700, addrs).is_none());
        // No port, no usable address.
        assert!(peer_from_record(&own(), &record_of(&other), 0, addrs).is_none());
        assert!(peer_from_record(
            &own(),
            &record_of(&other),
            7700,
            [addr("0.0.0.0:1"), addr("224.0.0.251:1")]
        )
        .is_none());
    }

    #[test]
    fn keys_match_case_insensitively_and_addresses_are_capped() {
        let other = Advert {
            device_id: "d2".into(),
            ..own()
        };
        let txt: Vec<(String, String)> = record_of(&other)
            .into_iter()
            .map(|(k, v)| (k.to_ascii_uppercase(), v))
            .collect();
        let many = (1..=40).map(|i| SocketAddr::from(([10, 0, 0, i], 1)));
        let peer = peer_from_record(&own(), &txt, 9, many).unwrap();
        assert_eq!(peer.addrs.len(), MAX_ADDRS);
    }

    #[tokio::test]
    async fn disabled_discovery_opens_nothing() {
        let (d, mut rx) = Discovery::start(&MdnsOptions::default(), &own()).unwrap();
        assert!(!d.is_running());
        assert!(rx.recv().await.is_none());
        d.shutdown();
    }

    #[tokio::test]
    async fn bad_adverts_are_refused_before_any_socket() {
        let opts = MdnsOptions {
            enabled: true,
            interface: Some("lo".into()),
        };
        let bad = Advert {
            device_id: "a b".into(),
            ..own()
        };
        assert_eq!(
            Discovery::start(&opts, &bad).unwrap_err().code(),
            "net.invalid_id"
        );
        let zero = Advert { port: 0, ..own() };
        assert_eq!(
            Discovery::start(&opts, &zero).unwrap_err().code(),
            "net.discovery"
        );
    }

    #[test]
    fn shareable_addresses() {
        assert!(!is_shareable("127.0.0.1".parse().unwrap()));
        assert!(is_shareable("192.168.1.2".parse().unwrap()));
    }
}
