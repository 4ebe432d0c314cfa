//! Shared fixtures for Branchline's cross-crate tests: a small library system with
//! branches, bookable stations, a vendor, stock and a documentation page, replicas
//! of it, and helpers to compare what replicas hold.

// The helpers pass `branchline_node::Result` through; its error type's size is the node's choice.
#![allow(clippy::result_large_err)]

use branchline_core::conflict::{Conflict, ConflictKind};
use branchline_core::schema::Kind;
use branchline_core::{Fields, Value};
use branchline_node::{Clock, ListFilter, Node, Result};
use std::path::Path;

/// Monday 2026-11-23, 08:00: before opening, so bookings from 09:00 are in the future.
pub const NOW: &str = "2026-11-23T08:00";
/// The day every test booking is made for.
pub const DAY: &str = "2026-11-23";

/// Branches of the test system (the first is created by `Node::init`).
pub const BRANCHES: &[&str] = &["CEN", "NOR", "SOU"];
/// Bookable public PCs, one per branch.
pub const STATIONS: &[&str] = &["CEN-PC-001", "NOR-PC-001"];
/// Printers whose branch, location and status the tests change.
pub const PRINTERS: &[&str] = &["CEN-PR-001", "NOR-PR-001"];
pub const VENDOR: &str = "Acme Supplies";
pub const ITEM: &str = "Toner 507A";
/// Toner received at CEN when the system is set up.
pub const STOCK_AT_CEN: i64 = 10;
pub const PAGE: &str = "Public PC reset";
/// Stored trimmed, as validation trims every text field.
pub const PAGE_TEXT: &str = "How to reset a public PC.";

/// The field values an asset starts with and that tests set, per contested field.
pub const LOCATIONS: &[&str] = &["Gateway Center", "Stockroom", "Staff Office"];
pub const STATUSES: &[&str] = &["deployed", "in-repair", "in-stock"];

pub fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Fields {
    branchline_core::value::fields(pairs)
}

/// The fixed clock every test replica runs on.
pub fn clock() -> Clock {
    Clock::Fixed(branchline_core::hours::parse_datetime(NOW).unwrap_or_default())
}

/// `YYYY-MM-DDTHH:MM` on the test day.
pub fn at(hour: u32, minute: u32) -> String {
    format!("{DAY}T{hour:02}:{minute:02}")
}

fn asset(tag: &str, category: &str, branch: &str) -> Fields {
    let mut f = fields([
        ("tag", tag.into()),
        ("name", format!("{category} {tag}").into()),
        ("category", category.into()),
        ("branch", branch.into()),
        ("location", LOCATIONS[0].into()),
        ("status", STATUSES[0].into()),
        ("supplier", VENDOR.into()),
    ]);
    if category == "public-pc" {
        f.insert("public_use".into(), true.into());
        f.insert("bookable".into(), true.into());
    }
    f
}

/// Start a library system in `dir`: branches, one bookable station per branch in
/// [`STATIONS`], printers, a vendor, a stock item with a receive movement at CEN and
/// a documentation page. The replica's clock is pinned to [`NOW`].
pub fn init_system(dir: &Path, device: &str) -> Result<Node> {
    let mut node = Node::init(dir, "Test", "CEN", None, device)?;
    node.set_clock(clock());
    for code in &BRANCHES[1..] {
        node.create(
            Kind::Branch,
            fields([
                ("code", (*code).into()),
                ("name", format!("{code} branch").into()),
            ]),
        )?;
    }
    node.create(
        Kind::Vendor,
        fields([("name", VENDOR.into()), ("kind", "supplier".into())]),
    )?;
    for tag in STATIONS {
        node.create(Kind::Asset, asset(tag, "public-pc", &tag[..3]))?;
    }
    for tag in PRINTERS {
        node.create(Kind::Asset, asset(tag, "printer", &tag[..3]))?;
    }
    node.create(
        Kind::StockItem,
        fields([
            ("name", ITEM.into()),
            ("kind", "toner".into()),
            ("vendor", VENDOR.into()),
        ]),
    )?;
    node.create(
        Kind::Movement,
        fields([
            ("item", ITEM.into()),
            ("branch", "CEN".into()),
            ("kind", "receive".into()),
            ("qty", Value::Int(STOCK_AT_CEN)),
        ]),
    )?;
    node.create(
        Kind::Page,
        fields([("title", PAGE.into()), ("text", PAGE_TEXT.into())]),
    )?;
    Ok(node)
}

/// A new replica of `from`'s library system in `dir`, started from a full bundle.
pub fn join(from: &mut Node, dir: &Path, device: &str) -> Result<Node> {
    let bytes = from.export_bundle(None)?;
    let mut node = Node::init_from_bundle(dir, &bytes, "CEN", device)?;
    node.set_clock(clock());
    Ok(node)
}

/// Send what `to` lacks from `from` (a bundle cut for `to`'s summary).
pub fn send(from: &mut Node, to: &mut Node) -> Result<()> {
    let summary = to.summary()?;
    let bytes = from.export_bundle(Some(&summary))?;
    to.import_bundle(&bytes)?;
    Ok(())
}

/// Exchange bundles both ways.
pub fn exchange(a: &mut Node, b: &mut Node) -> Result<()> {
    send(a, b)?;
    send(b, a)
}

/// A conflict as replicas must agree on it: id, kind, record, field and sorted side keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConflictShape {
    pub id: String,
    pub kind: ConflictKind,
    pub record: String,
    pub field: Option<String>,
    pub sides: Vec<String>,
}

impl From<&Conflict> for ConflictShape {
    fn from(c: &Conflict) -> Self {
        let mut sides: Vec<String> = c.sides.iter().map(|s| s.key.clone()).collect();
        sides.sort();
        ConflictShape {
            id: c.id.clone(),
            kind: c.kind,
            record: c.record.clone(),
            field: c.field.clone(),
            sides,
        }
    }
}

pub fn conflict_shapes(node: &mut Node) -> Result<Vec<ConflictShape>> {
    let mut v: Vec<ConflictShape> = node.conflicts()?.iter().map(ConflictShape::from).collect();
    v.sort();
    Ok(v)
}

/// Every query answer the index gives without filters: all records of every kind,
/// and stock levels.
pub fn index_answers(node: &mut Node) -> Result<String> {
    let mut out = String::new();
    for kind in Kind::ALL {
        for r in node.list(*kind, &ListFilter::default())? {
            out.push_str(&format!("{kind} {} {}\n", r.id, r.to_json()));
        }
    }
    for l in node.stock_levels(None)? {
        out.push_str(&format!("stock {} {} {}\n", l.item, l.branch, l.level));
    }
    Ok(out)
}

/// Replace a bundle's trailing SHA-256 with the digest of what precedes it, so that
/// a damaged body gets past the checksum and reaches the parser behind it.
pub fn reseal(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let body = &bytes[..bytes.len().saturating_sub(32)];
    let mut out = body.to_vec();
    out.extend_from_slice(&sha2::Sha256::digest(body));
    out
}

/// Seed inputs for the `bundle_decode` fuzz target: real bundles (`valid-*`, which
/// decode) and damaged ones (`bad-*`, which must be refused).
pub mod seeds {
    use super::*;
    use branchline_node::NodeError;

    /// Byte offset of the first change's bytes in a bundle with at least one change.
    fn first_change_at(b: &[u8]) -> Option<usize> {
        let u32_at = |p: usize| -> Option<usize> {
            Some(u32::from_le_bytes(b.get(p..p + 4)?.try_into().ok()?) as usize)
        };
        let header_len = u32_at(8)?;
        let docs_at = 12 + header_len;
        let id_len = u16::from_le_bytes(b.get(docs_at + 4..docs_at + 6)?.try_into().ok()?) as usize;
        let changes_at = docs_at + 6 + id_len;
        Some(changes_at + 4 + 4)
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("branchline-seeds-{}-{name}", std::process::id()))
    }

    fn bad(what: &str) -> NodeError {
        NodeError::Usage(format!("seed generation: {what}"))
    }

    /// Every seed as (file name, bytes).
    pub fn generate() -> Result<Vec<(String, Vec<u8>)>> {
        let (da, db) = (scratch("a"), scratch("b"));
        let result = generate_in(&da, &db);
        let _ = std::fs::remove_dir_all(&da);
        let _ = std::fs::remove_dir_all(&db);
        result
    }

    fn generate_in(da: &Path, db: &Path) -> Result<Vec<(String, Vec<u8>)>> {
        let _ = std::fs::remove_dir_all(da);
        let _ = std::fs::remove_dir_all(db);
        let mut a = init_system(da, "seed-a")?;
        let mut b = join(&mut a, db, "seed-b")?;
        exchange(&mut a, &mut b)?;
        let own = a.summary()?;
        let empty = a.export_bundle(Some(&own))?;
        a.create(Kind::Vendor, fields([("name", "Seed Vendor".into())]))?;
        let one = a.export_bundle(Some(&b.summary()?))?;
        let several = a.export_bundle(None)?;

        let mut out = vec![
            ("valid-empty.bundle".to_string(), empty.clone()),
            ("valid-one-doc.bundle".to_string(), one.clone()),
            ("valid-several-docs.bundle".to_string(), several.clone()),
        ];
        let n = one.len();
        out.push(("bad-truncated-magic.bundle".into(), one[..5].to_vec()));
        out.push(("bad-truncated-header.bundle".into(), one[..20].to_vec()));
        out.push(("bad-truncated-half.bundle".into(), one[..n / 2].to_vec()));
        out.push(("bad-truncated-last-byte.bundle".into(), one[..n - 1].to_vec()));
        out.push(("bad-truncated-no-digest.bundle".into(), one[..n - 32].to_vec()));
        let flip = |bytes: &[u8], at: usize| {
            let mut v = bytes.to_vec();
            v[at] ^= 0x10;
            v
        };
        out.push(("bad-flipped-magic.bundle".into(), flip(&one, 2)));
        out.push(("bad-flipped-body.bundle".into(), flip(&one, n / 2)));
        out.push(("bad-flipped-digest.bundle".into(), flip(&one, n - 3)));
        out.push(("bad-flipped-empty.bundle".into(), flip(&empty, empty.len() - 40)));

        // Damaged bodies with a correct digest, for the parser behind the checksum.
        let change = first_change_at(&one).ok_or_else(|| bad("no change in the one-doc bundle"))?;
        out.push((
            "bad-resealed-change.bundle".into(),
            reseal(&flip(&one, change + 12)),
        ));
        out.push((
            "bad-resealed-change-magic.bundle".into(),
            reseal(&flip(&one, change + 1)),
        ));
        let header_len = u32::from_le_bytes([one[8], one[9], one[10], one[11]]) as usize;
        out.push((
            "bad-resealed-header-json.bundle".into(),
            reseal(&flip(&one, 12 + header_len / 2)),
        ));
        let mut more_docs = one.clone();
        more_docs[12 + header_len] = more_docs[12 + header_len].wrapping_add(1);
        out.push(("bad-resealed-doc-count.bundle".into(), reseal(&more_docs)));
        let mut doc_id = one.clone();
        doc_id[12 + header_len + 4 + 2] = b'X';
        out.push(("bad-resealed-doc-id.bundle".into(), reseal(&doc_id)));
        let mut huge = one.clone();
        huge[change - 4..change].copy_from_slice(&u32::MAX.to_le_bytes());
        out.push(("bad-resealed-change-length.bundle".into(), reseal(&huge)));
        let mut trailing = one[..n - 32].to_vec();
        trailing.push(0);
        trailing.extend_from_slice(&[0; 32]);
        out.push(("bad-resealed-trailing.bundle".into(), reseal(&trailing)));
        let mut cut_change = one[..change + 7].to_vec();
        cut_change.extend_from_slice(&[0; 32]);
        out.push(("bad-resealed-cut-change.bundle".into(), reseal(&cut_change)));
        Ok(out)
    }
}

/// The `sync_msg` fuzz target's harness, compiled here too so that the replay test and
/// the seed generator run exactly what the fuzzer runs.
#[path = "../../fuzz/common/sync_session.rs"]
pub mod sync_harness;

pub mod sync_seeds;

/// The `frame_split` fuzz target's harness, likewise.
#[path = "../../fuzz/common/frame_split.rs"]
pub mod frame_harness;

/// A fuzz target's seed corpus (`sub` = "corpus") or crash regressions ("regressions").
pub fn fuzz_dir(target: &str, sub: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(sub)
        .join(target)
}

/// Every file in a directory by name (none when the directory does not exist).
pub fn files_in(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Default::default();
    };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter_map(|p| {
            Some((
                p.file_name()?.to_string_lossy().into_owned(),
                std::fs::read(&p).ok()?,
            ))
        })
        .collect()
}
