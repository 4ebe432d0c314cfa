//! The QUIC endpoint: one UDP socket, serving (when the device is enrolled) and connecting.
//!
//! Handshakes are mutual TLS (see [`crate::tls`]). A connection that completed its handshake
//! knows who the peer is ([`Connection::peer`]): `None` means an anonymous (joining) client,
//! which must only be offered the join protocol.
//!
//! Note on refusals: a QUIC client finishes its side of the handshake before the server has
//! checked the client's certificate. When a server refuses *our* certificate (unknown
//! authority, revoked), [`Endpoint::connect`] may still succeed and the refusal shows up as
//! [`NetError::Handshake`] on the first stream operation. The server side always sees the
//! refusal in [`Incoming::accept`]. A refused *server* certificate always fails
//! [`Endpoint::connect`].
//!
//! Lifetimes: dropping the last handle of a connection (the [`Connection`] and every stream
//! of it) closes it immediately, losing data still in flight. Use [`finish`] (finish and wait
//! for the peer's acknowledgement) or [`Connection::close`] after an application-level
//! goodbye.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{HandshakeData, QuicClientConfig, QuicServerConfig};
use quinn::{ConnectionError, IdleTimeout, TransportConfig, VarInt};
use rustls::pki_types::CertificateDer;

use crate::error::{NetError, Result};
use crate::identity::{peer_identity, PeerId};
use crate::tls::{ClientTls, ServerTls, ALPN, SERVER_NAME};

pub use quinn::{RecvStream, SendStream};

/// Finishes a send stream and waits until the peer has acknowledged all of its data.
///
/// Dropping the last handle of a connection (the [`Connection`] and all its streams) closes
/// it at once, and data still in flight is lost: finish with this before letting go.
pub async fn finish(send: &mut SendStream) -> Result<()> {
    send.finish().map_err(|e| NetError::Stream(e.to_string()))?;
    match send.stopped().await {
        Ok(None) => Ok(()),
        Ok(Some(code)) => Err(NetError::Stream(format!("stopped by peer with code {code}"))),
        Err(quinn::StoppedError::ConnectionLost(c)) => Err(map_connection_error(&c)),
        Err(e) => Err(NetError::Stream(e.to_string())),
    }
}

/// Application close codes Branchline uses (QUIC `CONNECTION_CLOSE` codes).
pub mod close_code {
    /// Orderly shutdown.
    pub const NORMAL: u32 = 0;
    /// The peer broke the protocol (bad frame, unexpected message).
    pub const PROTOCOL: u32 = 1;
    /// A frame exceeded the size limit.
    pub const FRAME_TOO_LARGE: u32 = 2;
    /// The peer is not (or no longer) allowed: revoked, not enrolled, wrong system.
    pub const FORBIDDEN: u32 = 3;
    /// The peer did not negotiate `branchline/1`.
    pub const ALPN: u32 = 4;
    /// This side is shutting down.
    pub const SHUTDOWN: u32 = 5;
}

/// Keep-alive interval: well under the idle timeout, so a quiet live connection survives
/// NAT bindings and the idle timer.
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// A peer silent this long is gone.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// At most this many bidirectional streams open at once per connection, each direction.
pub const MAX_BIDI_STREAMS: u32 = 64;

fn transport_config() -> Result<Arc<TransportConfig>> {
    let mut transport = TransportConfig::default();
    transport.keep_alive_interval(Some(KEEP_ALIVE));
    transport.max_idle_timeout(Some(
        IdleTimeout::try_from(IDLE_TIMEOUT).map_err(|e| NetError::TlsConfig(e.to_string()))?,
    ));
    transport.max_concurrent_bidi_streams(VarInt::from_u32(MAX_BIDI_STREAMS));
    transport.max_concurrent_uni_streams(VarInt::from_u32(0));
    transport.datagram_receive_buffer_size(None);
    Ok(Arc::new(transport))
}

fn quinn_server_config(tls: &ServerTls, transport: Arc<TransportConfig>) -> Result<quinn::ServerConfig> {
    let crypto =
        QuicServerConfig::try_from(tls.rustls_config()).map_err(|e| NetError::TlsConfig(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(transport);
    Ok(config)
}

fn quinn_client_config(tls: &ClientTls, transport: Arc<TransportConfig>) -> Result<quinn::ClientConfig> {
    let crypto =
        QuicClientConfig::try_from(tls.rustls_config()).map_err(|e| NetError::TlsConfig(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(transport);
    Ok(config)
}

/// Turns a quinn connection error into a [`NetError`]: TLS failures (ours or the peer's,
/// QUIC crypto error codes 0x100-0x1ff) become [`NetError::Handshake`].
pub fn map_connection_error(e: &ConnectionError) -> NetError {
    fn is_crypto(code: u64) -> bool {
        (0x100..0x200).contains(&code)
    }
    match e {
        ConnectionError::TransportError(t) if is_crypto(u64::from(t.code)) => {
            NetError::Handshake(t.to_string())
        }
        ConnectionError::ConnectionClosed(c) if is_crypto(u64::from(c.error_code)) => {
            NetError::Handshake(format!("refused by peer: {c}"))
        }
        ConnectionError::ApplicationClosed(a) => NetError::Closed {
            code: a.error_code.into_inner(),
            reason: String::from_utf8_lossy(&a.reason).chars().take(200).collect(),
        },
        ConnectionError::TimedOut => NetError::TimedOut,
        ConnectionError::LocallyClosed => NetError::Closed {
            code: 0,
            reason: "closed locally".into(),
        },
        other => NetError::Connection(other.to_string()),
    }
}

/// A bound QUIC endpoint. Cheap to clone; all clones share the socket.
#[derive(Clone, Debug)]
pub struct Endpoint {
    inner: quinn::Endpoint,
    client: quinn::ClientConfig,
    transport: Arc<TransportConfig>,
}

impl Endpoint {
    /// Binds a UDP socket on `listen` (e.g. `0.0.0.0:7700`, or `127.0.0.1:0` in tests).
    /// With `server`, it accepts connections; `client` is used by [`Endpoint::connect`].
    /// Must be called inside a tokio runtime.
    pub fn bind(listen: SocketAddr, server: Option<&ServerTls>, client: &ClientTls) -> Result<Endpoint> {
        tokio::runtime::Handle::try_current().map_err(|e| NetError::NoRuntime(e.to_string()))?;
        let transport = transport_config()?;
        let server_config = server
            .map(|s| quinn_server_config(s, transport.clone()))
            .transpose()?;
        let client = quinn_client_config(client, transport.clone())?;
        let socket = std::net::UdpSocket::bind(listen)?;
        let inner = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            server_config,
            socket,
            Arc::new(quinn::TokioRuntime),
        )?;
        Ok(Endpoint {
            inner,
            client,
            transport,
        })
    }

    /// The address the socket is bound to (the real port when bound to port 0).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.inner.local_addr()?)
    }

    /// Replaces (or removes) the server configuration: new handshakes use it, existing
    /// connections are untouched. (Revocations need no new configuration: the set is live.)
    pub fn set_server_tls(&self, server: Option<&ServerTls>) -> Result<()> {
        let config = server
            .map(|s| quinn_server_config(s, self.transport.clone()))
            .transpose()?;
        self.inner.set_server_config(config);
        Ok(())
    }

    /// The next incoming connection attempt, `None` once the endpoint is closed. Finish the
    /// handshake with [`Incoming::accept`] — in its own task, so that one slow peer does not
    /// hold up the others.
    pub async fn accept(&self) -> Option<Incoming> {
        self.inner.accept().await.map(|inner| Incoming { inner })
    }

    /// Connects to `addr` with the endpoint's client configuration.
    pub async fn connect(&self, addr: SocketAddr) -> Result<Connection> {
        self.connect_inner(addr, self.client.clone()).await
    }

    /// Connects to `addr` with another client configuration (e.g. [`ClientTls::for_join`]).
    pub async fn connect_with(&self, addr: SocketAddr, tls: &ClientTls) -> Result<Connection> {
        let config = quinn_client_config(tls, self.transport.clone())?;
        self.connect_inner(addr, config).await
    }

    async fn connect_inner(&self, addr: SocketAddr, config: quinn::ClientConfig) -> Result<Connection> {
        let connecting = self
            .inner
            .connect_with(config, addr, SERVER_NAME)
            .map_err(|e| NetError::Connect(e.to_string()))?;
        let conn = connecting.await.map_err(|e| handshake_error(&e))?;
        Connection::established(conn)
    }

    /// Closes every connection with `code` and `reason` and stops accepting.
    pub fn close(&self, code: u32, reason: &str) {
        self.inner.close(VarInt::from_u32(code), reason.as_bytes());
    }

    /// Waits until every connection has been closed and its close acknowledged or timed out:
    /// call after [`Endpoint::close`] before the process exits.
    pub async fn wait_idle(&self) {
        self.inner.wait_idle().await;
    }

    /// Number of open connections.
    pub fn open_connections(&self) -> usize {
        self.inner.open_connections()
    }
}

/// Errors before the handshake completed are handshake errors unless they say otherwise.
fn handshake_error(e: &ConnectionError) -> NetError {
    match map_connection_error(e) {
        NetError::Connection(msg) => NetError::Handshake(msg),
        other => other,
    }
}

/// A connection attempt that has not completed its handshake yet.
#[derive(Debug)]
pub struct Incoming {
    inner: quinn::Incoming,
}

impl Incoming {
    /// The address the attempt comes from (not yet validated).
    pub fn remote_addr(&self) -> SocketAddr {
        self.inner.remote_address()
    }

    /// Completes the handshake. Fails with [`NetError::Handshake`] when the client's
    /// certificate is refused (unknown authority, revoked device).
    pub async fn accept(self) -> Result<Connection> {
        let connecting = self.inner.accept().map_err(|e| handshake_error(&e))?;
        let conn = connecting.await.map_err(|e| handshake_error(&e))?;
        Connection::established(conn)
    }

    /// Refuses the attempt politely (e.g. when overloaded).
    pub fn refuse(self) {
        self.inner.refuse();
    }

    /// Drops the attempt without answering.
    pub fn ignore(self) {
        self.inner.ignore();
    }
}

/// An established connection. Cheap to clone; clones share the connection.
#[derive(Clone, Debug)]
pub struct Connection {
    inner: quinn::Connection,
    peer: Option<PeerId>,
}

impl Connection {
    fn established(conn: quinn::Connection) -> Result<Connection> {
        let alpn = conn
            .handshake_data()
            .and_then(|d| d.downcast::<HandshakeData>().ok())
            .and_then(|d| d.protocol);
        if alpn.as_deref() != Some(ALPN) {
            conn.close(VarInt::from_u32(close_code::ALPN), b"branchline/1 required");
            return Err(NetError::Alpn);
        }
        let certs = conn
            .peer_identity()
            .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok());
        let peer = match certs.as_deref().and_then(|c| c.first()) {
            None => None,
            Some(leaf) => match peer_identity(leaf) {
                Ok(peer) => Some(peer),
                Err(e) => {
                    // The verifiers already require a device name; never serve a nameless peer.
                    conn.close(
                        VarInt::from_u32(close_code::FORBIDDEN),
                        b"certificate names no device",
                    );
                    return Err(NetError::Handshake(e.to_string()));
                }
            },
        };
        Ok(Connection { inner: conn, peer })
    }

    /// The verified identity of the peer; `None` for an anonymous (joining) client.
    pub fn peer(&self) -> Option<&PeerId> {
        self.peer.as_ref()
    }

    /// Whether the peer presented a verified certificate.
    pub fn is_authenticated(&self) -> bool {
        self.peer.is_some()
    }

    /// The peer's current address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.inner.remote_address()
    }

    /// Opens a bidirectional stream. The peer learns of it when the first bytes arrive.
    pub async fn open_bi(&self) -> Result<(SendStream, RecvStream)> {
        self.inner.open_bi().await.map_err(|e| map_connection_error(&e))
    }

    /// Waits for the peer to open a bidirectional stream.
    pub async fn accept_bi(&self) -> Result<(SendStream, RecvStream)> {
        self.inner.accept_bi().await.map_err(|e| map_connection_error(&e))
    }

    /// Closes the connection at once with an application `code` (see [`close_code`]).
    pub fn close(&self, code: u32, reason: &str) {
        self.inner.close(VarInt::from_u32(code), reason.as_bytes());
    }

    /// Waits until the connection is closed, and says why.
    pub async fn closed(&self) -> NetError {
        map_connection_error(&self.inner.closed().await)
    }

    /// Why the connection closed, if it has.
    pub fn close_reason(&self) -> Option<NetError> {
        self.inner.close_reason().map(|e| map_connection_error(&e))
    }

    /// Smoothed round-trip time.
    pub fn rtt(&self) -> Duration {
        self.inner.rtt()
    }

    /// The underlying quinn connection, for what this wrapper does not offer.
    pub fn quinn(&self) -> &quinn::Connection {
        &self.inner
    }
}
