//! `branchline-net`: the only crate of Branchline that opens sockets.
//!
//! - [`identity`] — the enrolment authority (a CA), device keys and certificates, and
//!   reading a peer's identity out of its certificate;
//! - [`tls`] — rustls configurations for mutual TLS (`branchline/1`), with a live
//!   revocation set and a CA-pinning configuration for joining devices;
//! - [`frame`] — size-bounded, length-prefixed frames over streams;
//! - [`endpoint`] — the QUIC endpoint (quinn over tokio) and its connections;
//! - [`discovery`] — mDNS advertisement and browsing on the LAN.
//!
//! Only the ring crypto provider is used. Nothing here reads the clock to make a decision
//! (certificate times are arguments); rustls checks certificate validity against the
//! system clock during handshakes.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod discovery;
pub mod endpoint;
pub mod error;
pub mod frame;
pub mod identity;
pub mod tls;

pub use discovery::{Advert, DiscoveredPeer, Discovery, MdnsOptions};
pub use endpoint::{Connection, Endpoint, Incoming, RecvStream, SendStream};
pub use error::{NetError, Result};
pub use frame::{read_frame, write_frame, DEFAULT_MAX_FRAME};
pub use identity::{peer_identity, Authority, AuthorityParts, DeviceCredentials, DeviceKey, PeerId};
pub use tls::{ClientTls, Revocations, ServerTls, ALPN};
