//! How a change row holds its bytes. Most rows are automerge chunks as they are;
//! a document that arrived whole and deflated is kept deflated, behind a marker
//! that no automerge chunk starts with (those open with their magic bytes).

use crate::{NodeError, Result};
use branchline_store::StoreError;
use std::borrow::Cow;

/// Opens a row whose rest is a raw DEFLATE stream of automerge bytes.
const DEFLATED: &[u8; 4] = b"BLZ1";

/// The row for automerge bytes that are already deflated (`z`).
pub(crate) fn deflated(z: &[u8]) -> Vec<u8> {
    let mut row = Vec::with_capacity(DEFLATED.len() + z.len());
    row.extend_from_slice(DEFLATED);
    row.extend_from_slice(z);
    row
}

/// The automerge bytes a row holds.
pub(crate) fn bytes(row: &[u8]) -> Result<Cow<'_, [u8]>> {
    let Some(z) = row.strip_prefix(DEFLATED.as_slice()) else {
        return Ok(Cow::Borrowed(row));
    };
    // Bounded as the frame it came in was: damage at rest cannot fill memory.
    let out = branchline_core::sync::inflate(z).ok_or_else(|| {
        NodeError::Store(StoreError::Damaged(
            "a stored document does not inflate within the frame limit".into(),
        ))
    })?;
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deflated_rows_come_back_as_they_went_and_plain_rows_pass_through() {
        let mut doc = automerge::AutoCommit::new();
        automerge::transaction::Transactable::put(&mut doc, automerge::ROOT, "k", "v").unwrap();
        let saved = doc.save_nocompress();
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut z, &saved).unwrap();
        let z = z.finish().unwrap();
        let row = deflated(&z);
        assert_ne!(row, saved);
        assert_eq!(bytes(&row).unwrap().as_ref(), saved.as_slice());
        assert!(matches!(bytes(&saved).unwrap(), Cow::Borrowed(b) if b == saved.as_slice()));
        // A damaged deflated row is an error, not a panic or a document.
        assert!(bytes(b"BLZ1\xff\xff\xff").is_err());
    }
}
