//! Seed inputs for the `sync_msg` fuzz target: encoded messages of every kind that
//! fit the harness's two replicas (`valid-*`, which decode) and truncated or damaged
//! frames (`bad-*`, which must be refused).

use crate::sync_harness::{
    doc_id, fixture, only_a, only_b, page, refused_by_a, shared_edited, DEV_A, DEV_B, SYSTEM,
};
use automerge::sync::{self as am, SyncDoc};
use automerge::Automerge;
use branchline_core::sync::{root_digest, tiny, Prefix, ReconItem, SyncMsg, PROTOCOL_VERSION};
use branchline_core::DocId;

fn var(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn name(out: &mut Vec<u8>, s: &[u8]) {
    var(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// A frame opened by version and type, then `body`.
fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![PROTOCOL_VERSION, tag];
    out.extend_from_slice(body);
    out
}

/// `Recon` (type 2) header: round 1, request `id`, `reply_to`, `n` items.
fn recon_head(id: u64, reply_to: u64, n: u64) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [1, id, reply_to, n] {
        var(&mut b, v);
    }
    b
}

/// The automerge sync messages of an exchange between two copies of a document,
/// starting with `from`'s first message: at most `n`.
fn am_exchange(from: &Automerge, to: &Automerge, n: usize) -> Vec<Vec<u8>> {
    let (mut x, mut y) = (from.clone(), to.clone());
    let (mut sx, mut sy) = (am::State::new(), am::State::new());
    let mut out = Vec::new();
    for i in 0..n {
        let (me, my_state, other, other_state) = if i % 2 == 0 {
            (&mut x, &mut sx, &mut y, &mut sy)
        } else {
            (&mut y, &mut sy, &mut x, &mut sx)
        };
        let Some(m) = me.generate_sync_message(my_state) else {
            break;
        };
        let bytes = m.clone().encode();
        if other.receive_sync_message(other_state, m).is_err() {
            break;
        }
        out.push(bytes);
    }
    out
}

fn deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    if z.write_all(data).is_err() {
        return Vec::new();
    }
    z.finish().unwrap_or_default()
}

/// A document's position in the reconciliation index: the first 64 bits of the
/// SHA-256 of its id.
fn position(id: &DocId) -> u64 {
    use sha2::Digest as _;
    let h = sha2::Sha256::digest(id.to_string().as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h[..8]);
    u64::from_be_bytes(first)
}

fn short8(d: &[u8; 32]) -> [u8; 8] {
    let mut s = [0u8; 8];
    s.copy_from_slice(&d[..8]);
    s
}

fn doc_sync(doc_id: DocId, data: Vec<u8>) -> SyncMsg {
    SyncMsg::DocSync {
        round: 1,
        doc_id,
        data,
    }
}

/// The valid seeds: messages of every kind, as B (or, for Hellos, A) would send
/// them in round 1.
fn valid() -> Vec<(String, SyncMsg)> {
    let (a, b) = fixture();
    let (ma, mb) = (&a.manifest, &b.manifest);
    let hello = |device: &str, root, doc_count: usize, reply| SyncMsg::Hello {
        system_id: SYSTEM.into(),
        device_id: device.into(),
        round: 1,
        root,
        doc_count: doc_count as u64,
        reply,
    };
    let mut v = vec![
        ("hello-b".into(), hello(DEV_B, root_digest(mb), mb.len(), true)),
        (
            "hello-b-answer".into(),
            hello(DEV_B, root_digest(mb), mb.len(), false),
        ),
        (
            "hello-b-equal".into(),
            hello(DEV_B, root_digest(ma), ma.len(), false),
        ),
        ("hello-b-empty".into(), hello(DEV_B, [0; 32], 0, true)),
        ("hello-a".into(), hello(DEV_A, root_digest(ma), ma.len(), true)),
    ];
    let recon = |id, reply_to, items| SyncMsg::Recon {
        round: 1,
        id,
        reply_to,
        items,
    };
    let fp = |prefix, count, digest| ReconItem::Fingerprint {
        prefix,
        count,
        digest,
    };
    v.push((
        "recon-fingerprint-root".into(),
        recon(1, 0, vec![fp(Prefix::ROOT, mb.len() as u64, root_digest(mb))]),
    ));
    let children: Vec<ReconItem> = (0..16u8)
        .filter_map(|n| Prefix::ROOT.child(n))
        .map(|p| fp(p, 2, [p.bits().to_be_bytes()[0]; 32]))
        .collect();
    v.push(("recon-fingerprint-children".into(), recon(2, 1, children)));
    let list: Vec<(DocId, [u8; 32])> = mb.iter().map(|(id, d)| (id.clone(), *d)).collect();
    v.push((
        "recon-list-root".into(),
        recon(
            1,
            0,
            vec![ReconItem::List {
                prefix: Prefix::ROOT,
                docs: list.clone(),
            }],
        ),
    ));
    let mut deep = Prefix::ROOT;
    while let Some(c) = deep.child(0xa) {
        deep = c;
    }
    let odd = Prefix::new(3, 0x5a70_0000_0000_0000).unwrap_or(Prefix::ROOT);
    v.push((
        "recon-mixed".into(),
        recon(
            3,
            1,
            vec![
                fp(deep, 1, [7; 32]),
                ReconItem::List {
                    prefix: odd,
                    docs: list.into_iter().take(3).collect(),
                },
                ReconItem::List {
                    prefix: Prefix::ROOT,
                    docs: Vec::new(),
                },
            ],
        ),
    ));
    v.push(("recon-empty-answer".into(), recon(0, 1, Vec::new())));

    let shared = shared_edited();
    if let (Some(x), Some(y)) = (b.docs.get(&shared), a.docs.get(&shared)) {
        let msgs = am_exchange(x, y, 3);
        for (i, m) in msgs.into_iter().enumerate() {
            v.push((format!("docsync-shared-{i}"), doc_sync(shared.clone(), m)));
        }
    }
    // B offers documents A lacks: a page A creates, a schedule A refuses.
    for (label, id) in [("only-b", only_b()), ("refused", refused_by_a())] {
        if let Some(x) = b.docs.get(&id) {
            let empty = Automerge::new();
            if let Some(m) = am_exchange(x, &empty, 3).pop() {
                v.push((format!("docsync-{label}"), doc_sync(id, m)));
            }
        }
    }
    v.push((
        "docsync-garbage".into(),
        doc_sync(doc_id("system"), vec![0x42, 1, 2, 3]),
    ));
    // Whole documents, asked for and sent: B's page A lacks (as its changes, and as a
    // saved document deflated), the schedule A refuses, and A asking for them.
    if let Some(x) = b.docs.get(&only_b()) {
        let changes: Vec<u8> = x
            .get_changes(&[])
            .into_iter()
            .flat_map(|mut c| c.bytes().into_owned())
            .collect();
        v.push((
            "whole-only-b".into(),
            SyncMsg::Whole {
                round: 1,
                doc_id: only_b(),
                packed: false,
                data: changes,
            },
        ));
        v.push((
            "whole-only-b-packed".into(),
            SyncMsg::Whole {
                round: 1,
                doc_id: only_b(),
                packed: true,
                data: deflate(&x.save()),
            },
        ));
    }
    if let Some(x) = b.docs.get(&refused_by_a()) {
        v.push((
            "whole-refused".into(),
            SyncMsg::Whole {
                round: 1,
                doc_id: refused_by_a(),
                packed: false,
                data: x.save(),
            },
        ));
    }
    v.push((
        "whole-garbage".into(),
        SyncMsg::Whole {
            round: 1,
            doc_id: only_b(),
            packed: true,
            data: vec![0x42, 1, 2, 3],
        },
    ));
    v.push((
        "want".into(),
        SyncMsg::Want {
            round: 1,
            docs: vec![only_b(), refused_by_a(), page(3)],
        },
    ));
    // A deflated DocSync of the shared document.
    if let (Some(x), Some(y)) = (b.docs.get(&shared), a.docs.get(&shared)) {
        if let Some(m) = am_exchange(x, y, 2).pop() {
            v.push((
                "docsync-packed-shared".into(),
                SyncMsg::DocSyncPacked {
                    round: 1,
                    doc_id: shared.clone(),
                    data: deflate(&m),
                },
            ));
        }
    }
    v.push((
        "recon-short".into(),
        recon(
            4,
            0,
            vec![
                ReconItem::FingerprintShort {
                    prefix: Prefix::ROOT.child(3).unwrap_or(Prefix::ROOT),
                    count: 2,
                    digest: [6; 8],
                },
                ReconItem::ListShort {
                    prefix: Prefix::ROOT,
                    docs: mb.iter().map(|(id, d)| (id.clone(), short8(d))).collect(),
                },
            ],
        ),
    ));
    // The compact descent: B's 16 children of the root, and its documents listed
    // by position, with digests salted for round 1; A asking for some by position.
    let keyed: Vec<(u64, [u8; 4])> = mb
        .iter()
        .map(|(id, d)| (position(id), tiny(1, d)))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .collect();
    v.push((
        "recon-children-keys".into(),
        recon(
            5,
            0,
            vec![
                ReconItem::Children {
                    prefix: Prefix::ROOT,
                    kids: (0..16u64).map(|n| (n % 3, [n as u8; 4])).collect(),
                },
                ReconItem::Keys {
                    prefix: Prefix::ROOT,
                    docs: keyed.clone(),
                },
            ],
        ),
    ));
    v.push((
        "want-keys".into(),
        SyncMsg::WantKeys {
            round: 1,
            keys: keyed.iter().map(|(p, _)| *p).take(2).chain([7]).collect(),
        },
    ));
    v.push((
        "refuse".into(),
        SyncMsg::Refuse {
            round: 1,
            doc_id: only_a(),
        },
    ));
    v.push((
        "refuse-page".into(),
        SyncMsg::Refuse {
            round: 1,
            doc_id: page(3),
        },
    ));
    v.into_iter()
        .map(|(n, m)| (format!("valid-{n}.msg"), m))
        .collect()
}

/// Frames that must be refused, built by hand around the one field each gets wrong.
fn damaged() -> Vec<(&'static str, Vec<u8>)> {
    let hello = |sys: &[u8], dev: &[u8], doc_count: u64, reply: u8| {
        let mut b = Vec::new();
        name(&mut b, sys);
        name(&mut b, dev);
        var(&mut b, 1);
        b.extend_from_slice(&[9; 32]);
        var(&mut b, doc_count);
        b.push(reply);
        frame(1, &b)
    };
    let good_hello = hello(SYSTEM.as_bytes(), DEV_B.as_bytes(), 3, 1);
    let mut out = vec![
        ("empty", Vec::new()),
        ("version-only", vec![PROTOCOL_VERSION]),
        ("reply-flag", hello(SYSTEM.as_bytes(), DEV_B.as_bytes(), 3, 2)),
        ("name-empty", hello(b"", DEV_B.as_bytes(), 3, 1)),
        ("name-too-long", hello(&[b's'; 257], DEV_B.as_bytes(), 3, 1)),
        ("name-not-utf8", hello(SYSTEM.as_bytes(), b"dev-\xff", 3, 1)),
        (
            "doc-count-over-limit",
            hello(SYSTEM.as_bytes(), DEV_B.as_bytes(), 1_000_001, 1),
        ),
    ];
    let mut v = good_hello.clone();
    v[0] = 2;
    out.push(("version", v));
    let mut v = good_hello.clone();
    v[1] = 9;
    out.push(("unknown-tag", v));
    let mut v = good_hello.clone();
    v.push(0);
    out.push(("trailing-byte", v));

    // Integers: eleven continuation bytes, and a tenth byte past 64 bits.
    let mut b = Vec::new();
    b.extend_from_slice(&[0xff; 10]);
    b.push(0x01);
    out.push(("varint-too-long", frame(4, &b)));
    let mut b = vec![0xff; 9];
    b.push(0x02);
    out.push(("varint-overflow", frame(4, &b)));

    // Recon: id and items must agree; counts bounded; prefixes well formed.
    out.push(("recon-id-without-items", frame(2, &recon_head(1, 0, 0))));
    let fingerprint = |depth: u8, bits: &[u8]| {
        let mut b = vec![1, depth];
        b.extend_from_slice(bits);
        var(&mut b, 1);
        b.extend_from_slice(&[3; 32]);
        b
    };
    let mut b = recon_head(0, 0, 1);
    b.extend(fingerprint(0, &[]));
    out.push(("recon-items-without-id", frame(2, &b)));
    let mut b = recon_head(1, 0, 1);
    b.extend(fingerprint(17, &[0; 9]));
    out.push(("recon-prefix-too-deep", frame(2, &b)));
    let mut b = recon_head(1, 0, 1);
    b.extend(fingerprint(1, &[0x18]));
    out.push(("recon-prefix-stray-bits", frame(2, &b)));
    let mut b = recon_head(1, 0, 1);
    b.extend([3, 0]);
    out.push(("recon-unknown-item", frame(2, &b)));
    let mut b = recon_head(1, 0, 0);
    b.pop();
    var(&mut b, 1_000_001);
    out.push(("recon-count-over-limit", frame(2, &b)));
    let mut b = recon_head(1, 0, 0);
    b.pop();
    var(&mut b, 500);
    b.extend(fingerprint(0, &[]));
    out.push(("recon-count-past-end", frame(2, &b)));
    let mut b = recon_head(1, 0, 1);
    b.extend([2, 0]);
    var(&mut b, 1);
    name(&mut b, b"systex");
    b.extend_from_slice(&[4; 32]);
    out.push(("recon-list-bad-doc-id", frame(2, &b)));
    let mut c = recon_head(1, 0, 1);
    c.extend([1, 0]);
    var(&mut c, 1_000_001);
    c.extend_from_slice(&[3; 32]);
    out.push(("recon-fingerprint-count-over-limit", frame(2, &c)));

    // Children: sixteen of them, or the frame ends early; below the deepest prefix
    // there are none. Keys: each position within its prefix.
    let mut b = recon_head(1, 0, 1);
    b.extend([7, 0]);
    for _ in 0..15 {
        var(&mut b, 1);
        b.extend_from_slice(&[5; 4]);
    }
    out.push(("recon-children-fifteen", frame(2, &b)));
    let mut b = recon_head(1, 0, 1);
    b.extend([7, 16]);
    b.extend_from_slice(&[0; 8]);
    for _ in 0..16 {
        var(&mut b, 1);
        b.extend_from_slice(&[5; 4]);
    }
    out.push(("recon-children-too-deep", frame(2, &b)));
    let mut b = recon_head(1, 0, 1);
    b.extend([8, 1, 0x10]);
    var(&mut b, 1);
    // Under a depth-1 prefix (first nibble 1) every position is sent whole: this
    // one starts with nibble 3.
    b.extend_from_slice(&[0x3f, 0, 0, 0, 0, 0, 0, 0]);
    b.extend_from_slice(&[5; 4]);
    out.push(("recon-keys-outside-prefix", frame(2, &b)));
    let mut b = Vec::new();
    var(&mut b, 1);
    var(&mut b, 0);
    out.push(("want-keys-empty", frame(8, &b)));
    let mut b = Vec::new();
    var(&mut b, 1);
    var(&mut b, 2);
    b.extend_from_slice(&[1; 12]);
    out.push(("want-keys-past-end", frame(8, &b)));

    // DocSync and Refuse: the document id must parse, the data must not be empty
    // and must fit in the frame.
    let mut b = Vec::new();
    var(&mut b, 1);
    name(&mut b, b"system");
    var(&mut b, 0);
    out.push(("docsync-empty-data", frame(3, &b)));
    out.push(("docsync-packed-empty-data", frame(7, &b)));
    // Whole: a packed flag that is neither 0 nor 1, and no data.
    let mut b = Vec::new();
    var(&mut b, 1);
    name(&mut b, b"system");
    b.push(2);
    var(&mut b, 3);
    b.extend_from_slice(&[1, 2, 3]);
    out.push(("whole-packed-flag", frame(5, &b)));
    let mut b = Vec::new();
    var(&mut b, 1);
    name(&mut b, b"system");
    b.push(0);
    var(&mut b, 0);
    out.push(("whole-empty-data", frame(5, &b)));
    // Want: no document, a bad document id, a count past the end.
    let mut b = Vec::new();
    var(&mut b, 1);
    var(&mut b, 0);
    out.push(("want-empty", frame(6, &b)));
    let mut b = Vec::new();
    var(&mut b, 1);
    var(&mut b, 1);
    name(&mut b, b"tickets/2026-13");
    out.push(("want-bad-doc-id", frame(6, &b)));
    let mut b = Vec::new();
    var(&mut b, 1);
    var(&mut b, 50);
    name(&mut b, b"system");
    out.push(("want-count-past-end", frame(6, &b)));
    // Short reconciliation items cut short.
    let mut b = recon_head(1, 0, 1);
    b.extend([5, 0]);
    var(&mut b, 1);
    b.extend_from_slice(&[3; 4]);
    out.push(("recon-short-fingerprint-truncated", frame(2, &b)));
    let mut b = Vec::new();
    var(&mut b, 1);
    name(&mut b, b"system");
    var(&mut b, 100);
    b.extend_from_slice(&[0x42; 10]);
    out.push(("docsync-data-past-end", frame(3, &b)));
    let mut b = Vec::new();
    var(&mut b, 1);
    name(&mut b, b"tickets/2026-13");
    out.push(("refuse-bad-doc-id", frame(4, &b)));
    out
}

/// Every seed as (file name, bytes).
pub fn generate() -> Vec<(String, Vec<u8>)> {
    let valid = valid();
    let mut out: Vec<(String, Vec<u8>)> = valid.iter().map(|(n, m)| (n.clone(), m.encode())).collect();
    // Every valid message cut short: one byte short, and in half.
    for (n, m) in &valid {
        let bytes = m.encode();
        let stem = n
            .trim_start_matches("valid-")
            .trim_end_matches(".msg")
            .to_string();
        out.push((
            format!("bad-truncated-last-byte-{stem}.msg"),
            bytes[..bytes.len() - 1].to_vec(),
        ));
        out.push((
            format!("bad-truncated-half-{stem}.msg"),
            bytes[..bytes.len() / 2].to_vec(),
        ));
    }
    for (n, bytes) in damaged() {
        out.push((format!("bad-{n}.msg"), bytes));
    }
    out.sort();
    out
}

/// Seeds for the `frame_split` fuzz target: a limit byte, then a stream of frames as
/// the node sends them (a kind byte, then a sync message). Named for how the stream
/// ends: `clean-*`, `partial-*`, `too-large-*`.
pub fn frame_seeds() -> Vec<(String, Vec<u8>)> {
    use branchline_net::frame::encode_frame;
    // Limit bytes: 2 picks the default 16 MiB, 1 picks 64 KiB, 3 no limit, 4 four bytes.
    const DEFAULT: u8 = 2;
    let sync = |m: &SyncMsg| {
        let mut payload = vec![1u8];
        payload.extend(m.encode());
        encode_frame(&payload).unwrap_or_default()
    };
    let msgs: Vec<SyncMsg> = valid().into_iter().map(|(_, m)| m).collect();
    let stream = |pick: u8, frames: &[Vec<u8>]| {
        let mut out = vec![pick];
        for f in frames {
            out.extend_from_slice(f);
        }
        out
    };
    let first = msgs.first().map(sync).unwrap_or_default();
    let several: Vec<Vec<u8>> = msgs.iter().step_by(4).map(sync).collect();
    let mut partial_payload = stream(DEFAULT, std::slice::from_ref(&first));
    partial_payload.pop();
    let mut after_two = stream(1, &several[..2.min(several.len())]);
    after_two.extend_from_slice(&65_537u32.to_le_bytes());
    after_two.extend_from_slice(&[0; 8]);
    let mut out = vec![
        (
            "clean-one-sync-frame",
            stream(DEFAULT, std::slice::from_ref(&first)),
        ),
        ("clean-several-sync-frames", stream(1, &several)),
        ("clean-empty-frame", stream(DEFAULT, &[vec![0; 4]])),
        ("clean-empty-stream", vec![DEFAULT]),
        ("clean-no-limit", stream(3, &[first.clone(), vec![0; 4]])),
        ("partial-header", vec![DEFAULT, 5, 0]),
        ("partial-payload", partial_payload),
        ("too-large-u32-max", vec![DEFAULT, 0xff, 0xff, 0xff, 0xff, 1]),
        (
            "too-large-small-limit",
            stream(4, &[encode_frame(b"12345").unwrap_or_default()]),
        ),
        ("too-large-after-two", after_two),
    ];
    out.sort();
    out.into_iter().map(|(n, b)| (format!("{n}.bin"), b)).collect()
}
