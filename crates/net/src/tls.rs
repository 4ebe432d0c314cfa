//! rustls configurations for mutual TLS between the devices of one library system.
//!
//! - Trust is the system's root CA certificate(s): a peer is enrolled when its certificate
//!   chains to one of them (directly or through an intermediate authority).
//! - Revocation is data (the `system` document); the node keeps a shared [`Revocations`]
//!   set up to date and both verifiers consult it in every handshake: a revoked device id
//!   (on the leaf or on an intermediate authority of the chain) is refused.
//! - The server also accepts clients *without* a certificate, because a joining device has
//!   none yet. Such a connection has `peer() == None`; the application must only serve the
//!   join protocol on it.
//! - A joining client has no certificate and pins the system's root by the SHA-256
//!   fingerprint from the invite code ([`ClientTls::for_join`]).
//!
//! Only TLS 1.3 (QUIC requires it), only the ring provider, ALPN `branchline/1`, no session
//! resumption (a resumed session would skip the certificate and revocation checks).
//!
//! Revocation is checked at every handshake; connections already open when a device is
//! revoked stay open until the node closes them (compare [`crate::Connection::peer`] with
//! the set after it changes).

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::error::{NetError, Result};
use crate::identity::{device_id_of, peer_identity, DeviceCredentials};

pub use crate::identity::SERVER_NAME;

/// The one application protocol: Branchline sync, version 1.
pub const ALPN: &[u8] = b"branchline/1";

/// The crypto provider used everywhere: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_err(e: impl fmt::Display) -> NetError {
    NetError::TlsConfig(e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Revocations

/// The set of revoked device ids, shared between the node (which updates it from the
/// `system` document) and every verifier built from it. Cloning shares the set.
#[derive(Clone, Default)]
pub struct Revocations {
    inner: Arc<RwLock<HashSet<String>>>,
}

impl fmt::Debug for Revocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocations").field("count", &self.len()).finish()
    }
}

impl Revocations {
    /// An empty set.
    pub fn new() -> Revocations {
        Revocations::default()
    }

    /// A set holding `ids`.
    pub fn from_ids<I: IntoIterator<Item = S>, S: Into<String>>(ids: I) -> Revocations {
        let r = Revocations::new();
        r.replace_all(ids);
        r
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashSet<String>> {
        // A panic while holding the lock cannot leave a HashSet half-updated in a way that
        // matters here: keep serving the data rather than failing every handshake.
        self.inner.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashSet<String>> {
        self.inner
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Marks `device_id` revoked. Returns whether it was new.
    pub fn revoke(&self, device_id: &str) -> bool {
        self.write().insert(device_id.to_string())
    }

    /// Lifts a revocation. Returns whether it was there.
    pub fn unrevoke(&self, device_id: &str) -> bool {
        self.write().remove(device_id)
    }

    /// Replaces the whole set (e.g. after merging the `system` document).
    pub fn replace_all<I: IntoIterator<Item = S>, S: Into<String>>(&self, ids: I) {
        let fresh: HashSet<String> = ids.into_iter().map(Into::into).collect();
        *self.write() = fresh;
    }

    /// Whether `device_id` is revoked.
    pub fn is_revoked(&self, device_id: &str) -> bool {
        self.read().contains(device_id)
    }

    /// Number of revoked ids.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Refuses a chain whose leaf or any presented intermediate names a revoked device; the
    /// leaf must name a device at all.
    fn check_chain(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), rustls::Error> {
        let leaf = peer_identity(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
        })?;
        if self.is_revoked(&leaf.device_id) {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Revoked));
        }
        for cert in intermediates {
            if let Some(id) = device_id_of(cert) {
                if self.is_revoked(&id) {
                    return Err(rustls::Error::InvalidCertificate(CertificateError::Revoked));
                }
            }
        }
        Ok(())
    }
}

fn root_store(roots: &[Vec<u8>]) -> Result<Arc<RootCertStore>> {
    if roots.is_empty() {
        return Err(NetError::TlsConfig("no trusted root certificate".into()));
    }
    let mut store = RootCertStore::empty();
    for der in roots {
        store.add(CertificateDer::from(der.clone())).map_err(tls_err)?;
    }
    Ok(Arc::new(store))
}

fn chain_of(creds: &DeviceCredentials) -> Vec<CertificateDer<'static>> {
    creds
        .chain()
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Verifiers

/// WebPki client verification (anonymous clients allowed) plus the revocation set.
#[derive(Debug)]
struct RevocationClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    revoked: Revocations,
}

impl ClientCertVerifier for RevocationClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self.inner.verify_client_cert(end_entity, intermediates, now)?;
        self.revoked.check_chain(end_entity, intermediates)?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// WebPki server verification plus the revocation set.
#[derive(Debug)]
struct RevocationServerVerifier {
    inner: Arc<WebPkiServerVerifier>,
    revoked: Revocations,
}

impl ServerCertVerifier for RevocationServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified =
            self.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        self.revoked.check_chain(end_entity, intermediates)?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

/// For a joining device: accepts a server only if one of the certificates it presents is the
/// CA whose SHA-256 is pinned, and the chain verifies with that CA as the only trust anchor.
#[derive(Debug)]
struct PinnedCaVerifier {
    /// The whole SHA-256, or a prefix of at least 10 bytes (an invite code carries a
    /// prefix so it stays short enough to read aloud).
    fingerprint: Vec<u8>,
    provider: Arc<CryptoProvider>,
}

impl PinnedCaVerifier {
    fn anchor<'a>(&self, intermediates: &'a [CertificateDer<'a>]) -> Option<&'a CertificateDer<'a>> {
        intermediates.iter().find(|c| {
            Sha256::digest(c.as_ref())
                .as_slice()
                .starts_with(&self.fingerprint)
        })
    }
}

impl ServerCertVerifier for PinnedCaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let anchor = self
            .anchor(intermediates)
            .ok_or(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer))?;
        let mut roots = RootCertStore::empty();
        roots.add(anchor.clone().into_owned())?;
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        let verified =
            verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        // The server must be an enrolled device: its leaf names one.
        peer_identity(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
        })?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Parses a fingerprint prefix: 20 to 64 hex digits (10 to 32 bytes) of a SHA-256.
pub fn parse_fingerprint_prefix(hex_text: &str) -> Result<Vec<u8>> {
    let cleaned: String = hex_text.trim().chars().filter(|c| *c != ':').collect();
    let bad = || NetError::Fingerprint(hex_text.chars().take(100).collect());
    if cleaned.len() < 20 || cleaned.len() > 64 {
        return Err(bad());
    }
    hex::decode(&cleaned).map_err(|_| bad())
}

/// Parses a 64-hex-digit SHA-256 fingerprint (case-insensitive; `:` separators allowed).
pub fn parse_fingerprint(hex_text: &str) -> Result<[u8; 32]> {
    let cleaned: String = hex_text.trim().chars().filter(|c| *c != ':').collect();
    let mut out = [0u8; 32];
    hex::decode_to_slice(&cleaned, &mut out)
        .map_err(|_| NetError::Fingerprint(hex_text.chars().take(100).collect()))?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Configurations

/// The server side of a device: presents its chain, verifies clients against the system's
/// roots and the revocation set, and lets anonymous (joining) clients in.
#[derive(Clone, Debug)]
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
}

impl ServerTls {
    /// `creds`: this device's key and chain (ending with the root, so joiners can pin it);
    /// `roots`: the trusted root CA certificates (DER); `revoked`: the shared revocation set.
    pub fn new(creds: &DeviceCredentials, roots: &[Vec<u8>], revoked: Revocations) -> Result<ServerTls> {
        let provider = provider();
        let inner = WebPkiClientVerifier::builder_with_provider(root_store(roots)?, provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(tls_err)?;
        let verifier = Arc::new(RevocationClientVerifier { inner, revoked });
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_err)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain_of(creds), creds.key().rustls_key())
            .map_err(tls_err)?;
        config.alpn_protocols = vec![ALPN.to_vec()];
        config.max_early_data_size = 0;
        Ok(ServerTls {
            config: Arc::new(config),
        })
    }

    /// The rustls configuration.
    pub fn rustls_config(&self) -> Arc<rustls::ServerConfig> {
        self.config.clone()
    }
}

/// How a [`ClientTls`] authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    /// Enrolled device: presents its certificate, verifies the server against the roots.
    Enrolled,
    /// Joining device: no certificate, server pinned by CA fingerprint.
    Join,
}

/// The client side of a device.
#[derive(Clone, Debug)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
    kind: ClientKind,
}

impl ClientTls {
    /// An enrolled device: presents `creds`, accepts servers that chain to `roots` and are not
    /// revoked.
    pub fn new(creds: &DeviceCredentials, roots: &[Vec<u8>], revoked: Revocations) -> Result<ClientTls> {
        let provider = provider();
        let inner = WebPkiServerVerifier::builder_with_provider(root_store(roots)?, provider.clone())
            .build()
            .map_err(tls_err)?;
        let verifier = Arc::new(RevocationServerVerifier { inner, revoked });
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_err)?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(chain_of(creds), creds.key().rustls_key())
            .map_err(tls_err)?;
        config.alpn_protocols = vec![ALPN.to_vec()];
        // Every handshake verifies the server afresh (and the revocation set with it).
        config.resumption = rustls::client::Resumption::disabled();
        Ok(ClientTls {
            config: Arc::new(config),
            kind: ClientKind::Enrolled,
        })
    }

    /// A joining device (no certificate yet): accepts a server only if its presented chain
    /// contains the CA certificate whose SHA-256 is `ca_fingerprint_hex` (from the invite
    /// code) and verifies up to it.
    pub fn for_join(ca_fingerprint_hex: &str) -> Result<ClientTls> {
        let fingerprint = parse_fingerprint_prefix(ca_fingerprint_hex)?;
        let provider = provider();
        let verifier = Arc::new(PinnedCaVerifier {
            fingerprint,
            provider: provider.clone(),
        });
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_err)?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.alpn_protocols = vec![ALPN.to_vec()];
        config.resumption = rustls::client::Resumption::disabled();
        Ok(ClientTls {
            config: Arc::new(config),
            kind: ClientKind::Join,
        })
    }

    /// Whether this configuration presents a certificate.
    pub fn kind(&self) -> ClientKind {
        self.kind
    }

    /// The rustls configuration.
    pub fn rustls_config(&self) -> Arc<rustls::ClientConfig> {
        self.config.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_prefixes_parse() {
        assert_eq!(
            parse_fingerprint_prefix(&"ab".repeat(10)).unwrap(),
            vec![0xab; 10]
        );
        assert!(
            parse_fingerprint_prefix(&"ab".repeat(9)).is_err(),
            "too short to pin"
        );
        assert!(parse_fingerprint_prefix(&"ab".repeat(33)).is_err());
        assert!(parse_fingerprint_prefix("zz".repeat(12).as_str()).is_err());
    }

    #[test]
    fn fingerprints_parse() {
        let fp = "AB".repeat(32);
        assert_eq!(parse_fingerprint(&fp).unwrap(), [0xab; 32]);
        let colons: Vec<String> = (0..32).map(|_| "0f".to_string()).collect();
        assert_eq!(parse_fingerprint(&colons.join(":")).unwrap(), [0x0f; 32]);
        for bad in ["", "abc", &"zz".repeat(32), &"ab".repeat(33)] {
            assert_eq!(parse_fingerprint(bad).unwrap_err().code(), "net.fingerprint");
        }
    }

    #[test]
    fn revocations_are_shared() {
        let r = Revocations::from_ids(["a"]);
        let shared = r.clone();
        assert!(shared.is_revoked("a"));
        assert!(r.revoke("b"));
        assert!(!r.revoke("b"));
        assert!(shared.is_revoked("b"));
        r.replace_all(Vec::<String>::new());
        assert!(shared.is_empty());
        assert!(!shared.unrevoke("a"));
    }

    #[test]
    fn configs_need_roots() {
        let root = crate::identity::Authority::generate("s", "S").unwrap();
        let key = crate::identity::DeviceKey::generate().unwrap();
        let leaf = root
            .issue_device_cert(&key.public_key_der(), "d", "staff", 0, 4_000_000_000)
            .unwrap();
        let creds = DeviceCredentials::new(key, root.chain_for(&leaf)).unwrap();
        assert_eq!(
            ServerTls::new(&creds, &[], Revocations::new())
                .unwrap_err()
                .code(),
            "net.tls_config"
        );
        assert_eq!(
            ClientTls::new(&creds, &[], Revocations::new())
                .unwrap_err()
                .code(),
            "net.tls_config"
        );
        let roots = vec![root.cert_der().to_vec()];
        let s = ServerTls::new(&creds, &roots, Revocations::new()).unwrap();
        assert_eq!(s.rustls_config().alpn_protocols, vec![ALPN.to_vec()]);
        assert_eq!(
            ClientTls::new(&creds, &roots, Revocations::new()).unwrap().kind(),
            ClientKind::Enrolled
        );
        assert_eq!(
            ClientTls::for_join(&root.fingerprint()).unwrap().kind(),
            ClientKind::Join
        );
    }
}
