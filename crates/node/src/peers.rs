//! Where peers are: configured addresses, addresses found by mDNS or learned from
//! other peers, and what the running daemon last said about each.

use crate::service::PeerStatus;
use crate::{Node, NodeError, Result};
use std::net::SocketAddr;

#[derive(Debug, Clone, serde::Serialize)]
pub struct KnownPeer {
    pub addr: String,
    pub device_id: Option<String>,
    pub source: String,
    pub last_seen: Option<i64>,
    pub last_synced: Option<i64>,
    pub last_error: Option<String>,
}

impl Node {
    /// Add an address to try (`branchline peers add`, mDNS, or learned from a peer).
    pub fn add_peer(&mut self, addr: &str, source: &str, device: Option<&str>) -> Result<()> {
        let parsed: SocketAddr = addr.parse().map_err(|_| {
            crate::invalid(
                "peer",
                format!("'{addr}' is not HOST:PORT (an IP address and a port)"),
            )
        })?;
        if parsed.port() == 0 || parsed.ip().is_unspecified() || parsed.ip().is_multicast() {
            return Err(crate::invalid("peer", format!("'{addr}' cannot be dialled")));
        }
        self.store
            .write(|tx| Ok::<_, NodeError>(tx.add_peer(&parsed.to_string(), source, device)?))
    }

    pub fn known_peers(&mut self) -> Result<Vec<KnownPeer>> {
        let rows = self.store.read(|tx| Ok::<_, NodeError>(tx.peers()?))?;
        Ok(rows
            .into_iter()
            .map(
                |(addr, device_id, source, last_seen, last_synced, last_error)| KnownPeer {
                    addr,
                    device_id,
                    source,
                    last_seen,
                    last_synced,
                    last_error,
                },
            )
            .collect())
    }

    /// Addresses worth passing on to peers: ones this device reached a device at.
    pub fn known_addresses(&mut self) -> Result<Vec<(String, String)>> {
        Ok(self
            .known_peers()?
            .into_iter()
            .filter(|p| p.last_seen.is_some())
            .filter_map(|p| Some((p.device_id?, p.addr)))
            .collect())
    }

    /// Every address to try, with the device expected there; revoked devices left out.
    pub fn dial_targets(&mut self) -> Result<Vec<(SocketAddr, Option<String>)>> {
        let revoked = self.revoked_devices()?;
        Ok(self
            .known_peers()?
            .into_iter()
            .filter(|p| p.source != "incoming")
            .filter(|p| p.device_id.as_ref().is_none_or(|d| !revoked.contains(d)))
            .filter_map(|p| Some((p.addr.parse().ok()?, p.device_id)))
            .collect())
    }

    pub fn peer_seen(
        &mut self,
        addr: &str,
        device: &str,
        now: i64,
        synced: bool,
        error: Option<String>,
    ) -> Result<()> {
        self.store
            .write(|tx| Ok::<_, NodeError>(tx.peer_seen(addr, device, now, synced, error.as_deref())?))
    }

    /// What a session leaves behind, in one transaction: its sync states, where and
    /// whether the peer was seen and synced, and (if given) the published status.
    #[allow(clippy::too_many_arguments)]
    pub fn session_ended(
        &mut self,
        peer: &str,
        states: &[(branchline_core::DocId, Vec<u8>)],
        addr: &str,
        now: i64,
        synced: bool,
        error: Option<String>,
        status: Option<&str>,
    ) -> Result<()> {
        let w = |tx: &branchline_store::Tx<'_>| {
            for (d, st) in states {
                tx.set_sync_state(peer, &d.to_string(), st)?;
            }
            // Where the device was seen (for `devices`), if the address is new: an
            // incoming one may be a one-off port, so it is not dialled unless learned
            // elsewhere.
            tx.add_peer_if_new(addr, "incoming", peer)?;
            tx.peer_seen(addr, peer, now, synced, error.as_deref())?;
            if let Some(json) = status {
                tx.set_meta("sync_status", json)?;
            }
            Ok::<_, NodeError>(())
        };
        // What a session leaves behind is for the next one (sync states, where the
        // peer was seen): losing it to a power failure costs a slower resumption,
        // never data. So it waits for the disk only when it must take a catch-up's
        // unsynced batches there with it.
        if self.store.has_unsynced_commits() {
            self.store.write(w)
        } else {
            self.store.write_unsynced(w)
        }
    }

    pub fn peer_failed(&mut self, addr: &str, error: &str) -> Result<()> {
        self.store
            .write(|tx| Ok::<_, NodeError>(tx.peer_failed(addr, error)?))
    }

    /// What the daemon last published about its peers (read by `branchline status`).
    pub fn set_sync_status(&mut self, json: &str) -> Result<()> {
        self.store
            .write(|tx| Ok::<_, NodeError>(tx.set_meta("sync_status", json)?))
    }

    pub fn sync_status(&mut self) -> Result<Vec<PeerStatus>> {
        let json = self
            .store
            .read(|tx| Ok::<_, NodeError>(tx.meta("sync_status")?))?;
        Ok(json
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default())
    }
}
