//! The one error type of `branchline-net`, with stable codes for the UI.

/// Everything that can go wrong in the networking layer.
///
/// [`NetError::code`] is a stable, machine-readable string (`net.*`): front ends match on it,
/// never on the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// An id (system, device, role) that cannot be put into a certificate.
    #[error("invalid {what} {value:?}: use 1-128 ASCII letters, digits, '-', '_' or '.'")]
    InvalidId {
        /// Which id: "system id", "device id", "role".
        what: &'static str,
        /// The rejected value.
        value: String,
    },
    /// A validity window whose end is not after its start, or out of range.
    #[error("invalid validity window: {0}")]
    InvalidValidity(String),
    /// Key generation or parsing failed.
    #[error("invalid key: {0}")]
    Key(String),
    /// Certificate generation failed.
    #[error("certificate generation failed: {0}")]
    CertGenerate(String),
    /// A certificate could not be parsed, or lacks what Branchline needs in it.
    #[error("bad certificate: {0}")]
    CertParse(String),
    /// An authority that may not issue further authorities was asked to.
    #[error("this authority cannot delegate: only the root authority issues intermediates")]
    CannotDelegate,
    /// Stored identity text that cannot be decoded.
    #[error("stored identity is malformed: {0}")]
    Stored(String),
    /// A CA fingerprint that is not 64 hex digits.
    #[error("invalid CA fingerprint {0:?}: expected 64 hex digits (SHA-256)")]
    Fingerprint(String),
    /// Building a TLS configuration failed.
    #[error("TLS configuration failed: {0}")]
    TlsConfig(String),
    /// No tokio runtime is running on this thread.
    #[error("no tokio runtime: {0}")]
    NoRuntime(String),
    /// Socket-level IO failed.
    #[error("network IO failed: {0}")]
    Io(#[from] std::io::Error),
    /// A connection could not even be started (bad address, endpoint stopping, ...).
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The TLS/QUIC handshake failed: the peer's certificate was refused (unknown authority,
    /// revoked device, wrong pinned CA), or the peer refused ours.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// The peer does not speak `branchline/1`.
    #[error("peer did not negotiate the branchline/1 protocol")]
    Alpn,
    /// The connection was closed by the application on either side.
    #[error("connection closed (code {code}): {reason}")]
    Closed {
        /// The application close code (see [`crate::endpoint::close_code`]).
        code: u64,
        /// The reason text the closing side gave.
        reason: String,
    },
    /// The peer stopped answering (idle timeout).
    #[error("connection timed out")]
    TimedOut,
    /// Any other connection-level failure.
    #[error("connection failed: {0}")]
    Connection(String),
    /// A stream-level failure (reset, stopped, connection lost while writing).
    #[error("stream failed: {0}")]
    Stream(String),
    /// A frame announced (or a caller tried to send) more bytes than allowed.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// The announced or attempted length.
        len: u64,
        /// The limit in force.
        max: u64,
    },
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame: expected {expected} bytes, got {got}")]
    FrameTruncated {
        /// Bytes the header (or the header itself) promised.
        expected: u64,
        /// Bytes actually received.
        got: u64,
    },
    /// mDNS discovery failed.
    #[error("discovery failed: {0}")]
    Discovery(String),
}

impl NetError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            NetError::InvalidId { .. } => "net.invalid_id",
            NetError::InvalidValidity(_) => "net.invalid_validity",
            NetError::Key(_) => "net.key",
            NetError::CertGenerate(_) => "net.cert_generate",
            NetError::CertParse(_) => "net.cert_parse",
            NetError::CannotDelegate => "net.cannot_delegate",
            NetError::Stored(_) => "net.stored_identity",
            NetError::Fingerprint(_) => "net.fingerprint",
            NetError::TlsConfig(_) => "net.tls_config",
            NetError::NoRuntime(_) => "net.no_runtime",
            NetError::Io(_) => "net.io",
            NetError::Connect(_) => "net.connect",
            NetError::Handshake(_) => "net.handshake",
            NetError::Alpn => "net.alpn",
            NetError::Closed { .. } => "net.closed",
            NetError::TimedOut => "net.timed_out",
            NetError::Connection(_) => "net.connection",
            NetError::Stream(_) => "net.stream",
            NetError::FrameTooLarge { .. } => "net.frame_too_large",
            NetError::FrameTruncated { .. } => "net.frame_truncated",
            NetError::Discovery(_) => "net.discovery",
        }
    }
}

/// Result with [`NetError`].
pub type Result<T, E = NetError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_namespaced_and_distinct() {
        let all = [
            NetError::InvalidId {
                what: "device id",
                value: String::new(),
            },
            NetError::InvalidValidity(String::new()),
            NetError::Key(String::new()),
            NetError::CertGenerate(String::new()),
            NetError::CertParse(String::new()),
            NetError::CannotDelegate,
            NetError::Stored(String::new()),
            NetError::Fingerprint(String::new()),
            NetError::TlsConfig(String::new()),
            NetError::NoRuntime(String::new()),
            NetError::Io(std::io::Error::other("x")),
            NetError::Connect(String::new()),
            NetError::Handshake(String::new()),
            NetError::Alpn,
            NetError::Closed {
                code: 0,
                reason: String::new(),
            },
            NetError::TimedOut,
            NetError::Connection(String::new()),
            NetError::Stream(String::new()),
            NetError::FrameTooLarge { len: 0, max: 0 },
            NetError::FrameTruncated { expected: 0, got: 0 },
            NetError::Discovery(String::new()),
        ];
        let mut codes: Vec<&str> = all.iter().map(NetError::code).collect();
        assert!(codes.iter().all(|c| c.starts_with("net.")));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }
}
