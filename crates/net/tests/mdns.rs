//! mDNS end to end, but only where it cannot reach a real network: the test runs only when
//! the process is in a network namespace whose sole interface is `lo`. Anywhere else it
//! returns at once without opening a socket, so it never multicasts on the machine's real
//! interfaces. To run it for real (as root):
//!
//! ```text
//! unshare -n -m sh -c 'mount -t sysfs sysfs /sys && ip link set lo up multicast on &&
//!   cargo test --offline -p branchline-net --test mdns -- --nocapture'
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use branchline_net::discovery::{Advert, Discovery, MdnsOptions};

/// Interface names of this process's network namespace (`/proc/net/dev` follows the
/// namespace; `/sys/class/net` follows whichever namespace sysfs was mounted in).
fn interfaces_in_namespace() -> Vec<String> {
    let dev = std::fs::read_to_string("/proc/net/dev").unwrap_or_default();
    dev.lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_string())
        .collect()
}

/// True only when `lo` is the one network interface of this namespace, and (as seen through
/// a sysfs mounted in this namespace) it is up with multicast on.
fn isolated_loopback_only() -> bool {
    if interfaces_in_namespace() != ["lo"] {
        return false;
    }
    let Ok(entries) = std::fs::read_dir("/sys/class/net") else {
        return false;
    };
    let sys_names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if sys_names != ["lo"] {
        eprintln!("note: /sys is not this namespace's sysfs (mount one: unshare -n -m, mount -t sysfs)");
        return false;
    }
    // IFF_UP = 0x1, IFF_MULTICAST = 0x1000.
    let flags = std::fs::read_to_string("/sys/class/net/lo/flags").unwrap_or_default();
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap_or(0);
    flags & 0x1 != 0 && flags & 0x1000 != 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_of_one_system_find_each_other_on_loopback() {
    if !isolated_loopback_only() {
        eprintln!("skipped: needs a network namespace with only `lo` (up, multicast on)");
        return;
    }
    let opts = MdnsOptions {
        enabled: true,
        interface: Some("lo".into()),
    };
    let a = Advert {
        system_id: "sys-1".into(),
        device_id: "desk-a".into(),
        port: 7701,
    };
    let b = Advert {
        system_id: "sys-1".into(),
        device_id: "desk-b".into(),
        port: 7702,
    };
    let stranger = Advert {
        system_id: "sys-2".into(),
        device_id: "desk-x".into(),
        port: 7703,
    };
    let (da, mut found_by_a) = Discovery::start(&opts, &a).unwrap();
    let (db, _found_by_b) = Discovery::start(&opts, &b).unwrap();
    let (dx, _found_by_x) = Discovery::start(&opts, &stranger).unwrap();
    assert!(da.is_running() && db.is_running() && dx.is_running());

    let peer = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let peer = found_by_a.recv().await.expect("discovery channel closed");
            assert_ne!(
                peer.device_id, "desk-x",
                "a device of another system was reported"
            );
            assert_ne!(peer.device_id, "desk-a", "our own advert was reported");
            if peer.device_id == "desk-b" {
                return peer;
            }
        }
    })
    .await
    .expect("desk-b not discovered within 20 s");
    assert!(peer.addrs.iter().all(|a| a.port() == 7702), "{peer:?}");
    assert!(peer.addrs.iter().any(|a| a.ip().is_loopback()), "{peer:?}");

    da.shutdown();
    db.shutdown();
    dx.shutdown();
}
