//! The bundle file: a library system's changes carried without a network.
//!
//! ```text
//! "BLBUNDL1"                     magic and format version
//! u32 len, JSON header           {"system": .., "device": .., "created_at": ..}
//! u32 document count
//!   u16 len, document id
//!   u32 change count
//!     u32 len, automerge change  (each change carries its own checksum too)
//! 32 bytes                       SHA-256 of everything before it
//! ```
//! All integers are little-endian. Decoding checks every length against what is
//! left, the digest before anything else, and every change's own encoding, so a
//! truncated, corrupt or foreign bundle is refused whole before it touches a replica.

use crate::docid::DocId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const MAGIC: &[u8; 8] = b"BLBUNDL1";
const MAX_HEADER: usize = 64 * 1024;
const MAX_CHANGE: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    #[error("not a Branchline bundle (bad magic)")]
    BadMagic,
    #[error("bundle is truncated")]
    Truncated,
    #[error("bundle is corrupt: checksum mismatch")]
    Checksum,
    #[error("bundle is corrupt: {0}")]
    Corrupt(String),
    #[error("bundle belongs to library system {found}, not this one ({expected})")]
    ForeignSystem { expected: String, found: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleHeader {
    pub system: String,
    /// Library system's name, so `init --from-bundle` can show it.
    #[serde(default)]
    pub system_name: String,
    pub device: String,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct BundleDoc {
    pub id: DocId,
    pub changes: Vec<automerge::Change>,
}

#[derive(Debug, Clone)]
pub struct Bundle {
    pub header: BundleHeader,
    pub docs: Vec<BundleDoc>,
}

/// What a replica has: the heads of each document. Given to `bundle export --for`
/// so that a bundle carries only what the peer lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub system: String,
    pub device: String,
    pub heads: BTreeMap<String, Vec<String>>,
    /// Where a document's heads are this replica's own unsent changes (which the
    /// exporter cannot know), the nearest changes under them that came from others:
    /// the exporter knows those, and sends only what lies after them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub also: BTreeMap<String, Vec<String>>,
}

pub fn encode(header: &BundleHeader, docs: &mut [BundleDoc]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    let h = serde_json::to_vec(header).unwrap_or_default();
    out.extend_from_slice(&(h.len() as u32).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(&(docs.len() as u32).to_le_bytes());
    for d in docs.iter_mut() {
        let id = d.id.to_string();
        out.extend_from_slice(&(id.len() as u16).to_le_bytes());
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&(d.changes.len() as u32).to_le_bytes());
        for c in d.changes.iter_mut() {
            let bytes = c.bytes();
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(&bytes);
        }
    }
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BundleError> {
        let end = self.pos.checked_add(n).ok_or(BundleError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(BundleError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn u16(&mut self) -> Result<usize, BundleError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]) as usize)
    }
    fn u32(&mut self) -> Result<usize, BundleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
}

/// Verify a bundle's structure, digest and header, and split it into documents
/// without parsing their changes ([`RawDoc::parse`] does). When `expect_system` is
/// given, a bundle of another library system is refused.
///
/// The structure is walked first (every length checked against what is left), so a
/// short copy is reported as truncated; then the digest; then the header.
pub fn decode_raw<'a>(bytes: &'a [u8], expect_system: Option<&str>) -> Result<RawBundle<'a>, BundleError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(if MAGIC.starts_with(bytes) {
            BundleError::Truncated
        } else {
            BundleError::BadMagic
        });
    }
    let mut r = Reader {
        buf: bytes,
        pos: MAGIC.len(),
    };
    let header_len = r.u32()?;
    if header_len > MAX_HEADER {
        return Err(BundleError::Corrupt("header too large".into()));
    }
    let header_bytes = r.take(header_len)?;
    let ndocs = r.u32()?;
    let mut raw_docs: Vec<(&[u8], Vec<&[u8]>)> = Vec::with_capacity(ndocs.min(4096));
    for _ in 0..ndocs {
        let idlen = r.u16()?;
        let id = r.take(idlen)?;
        let n = r.u32()?;
        let mut changes = Vec::with_capacity(n.min(4096));
        for _ in 0..n {
            let len = r.u32()?;
            if len > MAX_CHANGE {
                return Err(BundleError::Corrupt("change too large".into()));
            }
            changes.push(r.take(len)?);
        }
        raw_docs.push((id, changes));
    }
    let body_end = r.pos;
    let digest = r.take(32)?;
    if r.pos != bytes.len() {
        return Err(BundleError::Corrupt("trailing bytes after the checksum".into()));
    }
    if Sha256::digest(&bytes[..body_end]).as_slice() != digest {
        return Err(BundleError::Checksum);
    }
    let header: BundleHeader =
        serde_json::from_slice(header_bytes).map_err(|e| BundleError::Corrupt(format!("header: {e}")))?;
    if let Some(expected) = expect_system {
        if header.system != expected {
            return Err(BundleError::ForeignSystem {
                expected: expected.to_string(),
                found: header.system,
            });
        }
    }
    let mut docs = Vec::with_capacity(raw_docs.len());
    for (id, changes) in raw_docs {
        let id =
            std::str::from_utf8(id).map_err(|_| BundleError::Corrupt("document id is not UTF-8".into()))?;
        let id: DocId = id.parse().map_err(|e| BundleError::Corrupt(format!("{e}")))?;
        docs.push(RawDoc { id, changes });
    }
    Ok(RawBundle { header, docs })
}

/// Decode and verify a bundle, every change included. When `expect_system` is given,
/// a bundle of another library system is refused.
pub fn decode(bytes: &[u8], expect_system: Option<&str>) -> Result<Bundle, BundleError> {
    let raw = decode_raw(bytes, expect_system)?;
    let docs = raw
        .docs
        .iter()
        .map(RawDoc::parse)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Bundle {
        header: raw.header,
        docs,
    })
}

/// A bundle whose structure, digest, header and document ids are verified, its
/// changes not yet parsed: each document's can then be parsed where it is merged
/// (side by side with the others').
#[derive(Debug)]
pub struct RawBundle<'a> {
    pub header: BundleHeader,
    pub docs: Vec<RawDoc<'a>>,
}

#[derive(Debug)]
pub struct RawDoc<'a> {
    pub id: DocId,
    pub changes: Vec<&'a [u8]>,
}

impl RawDoc<'_> {
    /// Parse the document's changes, each checked against its own checksum.
    pub fn parse(&self) -> Result<BundleDoc, BundleError> {
        let mut changes = Vec::with_capacity(self.changes.len());
        for c in &self.changes {
            let change = crate::doc::verified_change(c)
                .map_err(|e| BundleError::Corrupt(format!("change in {}: {e}", self.id)))?;
            changes.push(change);
        }
        Ok(BundleDoc {
            id: self.id.clone(),
            changes,
        })
    }

    /// Bytes of its changes, as carried.
    pub fn len_bytes(&self) -> usize {
        self.changes.iter().map(|c| c.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{new_doc, put_record};
    use crate::schema::Kind;
    use crate::value::fields;
    use automerge::ActorId;

    fn sample() -> Vec<u8> {
        let mut doc = new_doc(&DocId::Inventory, &ActorId::from([1u8; 16].as_slice())).unwrap();
        let mut tx = doc.transaction();
        put_record(
            &mut tx,
            Kind::Vendor,
            "v",
            &fields([("name", "Acme".into())]),
            true,
        )
        .unwrap();
        tx.commit();
        let header = BundleHeader {
            system: "sys".into(),
            system_name: "Test".into(),
            device: "d".into(),
            created_at: 5,
        };
        encode(
            &header,
            &mut [BundleDoc {
                id: DocId::Inventory,
                changes: doc.get_changes(&[]),
            }],
        )
    }

    #[test]
    fn round_trips() {
        let b = decode(&sample(), Some("sys")).unwrap();
        assert_eq!(b.header.device, "d");
        assert_eq!(b.docs.len(), 1);
        assert_eq!(b.docs[0].changes.len(), 2);
    }

    #[test]
    fn refuses_foreign_truncated_and_corrupt() {
        let good = sample();
        assert!(matches!(
            decode(&good, Some("other")),
            Err(BundleError::ForeignSystem { .. })
        ));
        for cut in [0, 3, 8, 20, good.len() / 2, good.len() - 1] {
            assert_eq!(
                decode(&good[..cut], None).err(),
                Some(BundleError::Truncated),
                "cut at {cut}"
            );
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(matches!(decode(&longer, None), Err(BundleError::Corrupt(_))));
        let mut bad = good.clone();
        let at = bad.len() - 40; // inside the last change, not a length field
        bad[at] ^= 0x55;
        assert_eq!(decode(&bad, None).err(), Some(BundleError::Checksum));
        assert_eq!(
            decode(b"PK\x03\x04 a zip file", None).err(),
            Some(BundleError::BadMagic)
        );
    }

    #[test]
    fn a_damaged_change_is_refused_even_with_a_fresh_digest() {
        let good = sample();
        let body = good.len() - 32;
        let last_len = {
            let b = decode(&good, None).unwrap();
            let mut c = b.docs[0].changes.last().unwrap().clone();
            c.bytes().len()
        };
        // Damage the checksum in the last change's header, then reseal the bundle as
        // an attacker (or a buggy tool) could.
        let mut bad = good[..body].to_vec();
        bad[body - last_len + 5] ^= 0x01;
        let digest = Sha256::digest(&bad);
        bad.extend_from_slice(&digest);
        assert!(
            matches!(decode(&bad, None), Err(BundleError::Corrupt(_))),
            "{:?}",
            decode(&bad, None).err()
        );
    }
}
