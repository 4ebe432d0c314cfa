//! Branchline's pure core: the domain model, the document schema over automerge,
//! validation, conflict rules, the bundle format and canonical export.
//!
//! This crate does no IO: no files, sockets, SQL, clock or randomness. Time and ids
//! are passed in, so every decision here is a function of its inputs.

pub mod bundle;
pub mod conflict;
pub mod doc;
pub mod docid;
pub mod hours;
pub mod schema;
pub mod sync;
pub mod validate;
pub mod value;

pub use docid::DocId;
pub use schema::Kind;
pub use value::{Fields, Value};

/// SHA-256 of canonical JSON, hex: the `state-hash` two converged replicas share.
pub fn state_hash(canonical: &serde_json::Value) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(
        serde_json::to_vec(canonical).unwrap_or_default(),
    ))
}
