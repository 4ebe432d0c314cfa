//! Identities: the library system's enrolment authority (a CA), device keys, device
//! certificates, and reading a peer's identity back out of its certificate.
//!
//! Everything here is deterministic given its inputs except key and serial generation:
//! certificate validity times are arguments (unix seconds), the clock is never read.
//!
//! Names carried in certificates (subject alternative names):
//! - every Branchline certificate: URI `urn:branchline:system:<system_id>`;
//! - device (end-entity) certificates: DNS `branchline` (the TLS server name every peer
//!   uses), URI `urn:branchline:device:<device_id>` and URI `urn:branchline:role:<role>`;
//! - intermediate authorities: URI `urn:branchline:device:<device_id>` of the device that
//!   holds the intermediate key, so revoking that device also stops its intermediate.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber, SubjectPublicKeyInfo,
    PKCS_ECDSA_P256_SHA256,
};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use x509_parser::extensions::GeneralName;

use crate::error::{NetError, Result};

/// The DNS name every device certificate carries and every client asks for.
pub const SERVER_NAME: &str = "branchline";
const URN_SYSTEM: &str = "urn:branchline:system:";
const URN_DEVICE: &str = "urn:branchline:device:";
const URN_ROLE: &str = "urn:branchline:role:";
const MAX_ID_LEN: usize = 128;
/// Role name that marks a device allowed to hold an intermediate authority.
pub const ROLE_AUTHORITY: &str = "authority";

/// Checks that `value` can be embedded in a certificate name: 1-128 ASCII letters, digits,
/// `-`, `_` or `.`.
pub fn validate_id(what: &'static str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= MAX_ID_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(NetError::InvalidId {
            what,
            value: value.chars().take(MAX_ID_LEN + 1).collect(),
        })
    }
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn cert_error(e: rcgen::Error) -> NetError {
    NetError::CertGenerate(e.to_string())
}

fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| NetError::CertGenerate("no secure randomness for a serial number".into()))?;
    // Positive and 16 bytes long whatever was drawn.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

fn uri(value: String) -> Result<SanType> {
    Ok(SanType::URI(value.try_into().map_err(cert_error)?))
}

fn unix_time(what: &str, secs: i64) -> Result<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|e| NetError::InvalidValidity(format!("{what} {secs}: {e}")))
}

fn validity(params: &mut CertificateParams, not_before: i64, not_after: i64) -> Result<()> {
    if not_after <= not_before {
        return Err(NetError::InvalidValidity(format!(
            "not_after ({not_after}) must be later than not_before ({not_before})"
        )));
    }
    params.not_before = unix_time("not_before", not_before)?;
    params.not_after = unix_time("not_after", not_after)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Keys

/// A device's (or an intermediate authority's) private key: ECDSA P-256.
///
/// Its identity on the network is this key; the certificate only vouches for it.
#[derive(Clone)]
pub struct DeviceKey {
    key: Arc<KeyPair>,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceKey")
            .field("spki_sha256", &self.spki_sha256())
            .finish_non_exhaustive()
    }
}

impl DeviceKey {
    /// Draws a fresh ECDSA P-256 key.
    pub fn generate() -> Result<DeviceKey> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| NetError::Key(e.to_string()))?;
        Ok(DeviceKey { key: Arc::new(key) })
    }

    /// Restores a key from its PKCS#8 DER (as written by [`DeviceKey::to_pkcs8_der`]).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<DeviceKey> {
        let pkcs8 = rustls::pki_types::PrivatePkcs8KeyDer::from(der);
        let key = KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &PKCS_ECDSA_P256_SHA256)
            .map_err(|e| NetError::Key(e.to_string()))?;
        Ok(DeviceKey { key: Arc::new(key) })
    }

    /// The private key as PKCS#8 DER: store it, it is the device's identity. Secret.
    pub fn to_pkcs8_der(&self) -> Vec<u8> {
        self.key.serialize_der()
    }

    /// The public key as X.509 SubjectPublicKeyInfo DER: what a device sends to be enrolled.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.key.subject_public_key_info()
    }

    /// SHA-256 (hex) of [`DeviceKey::public_key_der`]: equals [`PeerId::spki_sha256`] of any
    /// certificate issued for this key.
    pub fn spki_sha256(&self) -> String {
        sha256_hex(&self.public_key_der())
    }

    pub(crate) fn rustls_key(&self) -> rustls::pki_types::PrivateKeyDer<'static> {
        rustls::pki_types::PrivateKeyDer::Pkcs8(self.key.serialize_der().into())
    }
}

// ---------------------------------------------------------------------------------------------
// Peer identity

/// Who a certificate says its holder is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerId {
    /// From the `urn:branchline:device:` URI.
    pub device_id: String,
    /// From the `urn:branchline:system:` URI, when present.
    pub system_id: Option<String>,
    /// From the `urn:branchline:role:` URI, when present.
    pub role: Option<String>,
    /// SHA-256 (hex) of the certificate's SubjectPublicKeyInfo DER: the key's fingerprint.
    pub spki_sha256: String,
}

struct CertNames {
    device_id: Option<String>,
    system_id: Option<String>,
    role: Option<String>,
    spki_sha256: String,
    spki_der: Vec<u8>,
    is_ca: bool,
    path_len: Option<u32>,
}

fn set_once(slot: &mut Option<String>, what: &'static str, value: &str) -> Result<()> {
    validate_id(what, value).map_err(|e| NetError::CertParse(e.to_string()))?;
    match slot {
        Some(existing) if existing != value => Err(NetError::CertParse(format!(
            "certificate names two different {what}s"
        ))),
        _ => {
            *slot = Some(value.to_string());
            Ok(())
        }
    }
}

fn read_names(cert_der: &[u8]) -> Result<CertNames> {
    let (rest, cert) =
        x509_parser::parse_x509_certificate(cert_der).map_err(|e| NetError::CertParse(e.to_string()))?;
    if !rest.is_empty() {
        return Err(NetError::CertParse("trailing bytes after the certificate".into()));
    }
    let mut names = CertNames {
        device_id: None,
        system_id: None,
        role: None,
        spki_sha256: sha256_hex(cert.public_key().raw),
        spki_der: cert.public_key().raw.to_vec(),
        is_ca: false,
        path_len: None,
    };
    if let Some(bc) = cert
        .basic_constraints()
        .map_err(|e| NetError::CertParse(e.to_string()))?
    {
        names.is_ca = bc.value.ca;
        names.path_len = bc.value.path_len_constraint;
    }
    let san = cert
        .subject_alternative_name()
        .map_err(|e| NetError::CertParse(e.to_string()))?;
    if let Some(san) = san {
        for name in &san.value.general_names {
            if let GeneralName::URI(u) = name {
                if let Some(v) = u.strip_prefix(URN_DEVICE) {
                    set_once(&mut names.device_id, "device id", v)?;
                } else if let Some(v) = u.strip_prefix(URN_SYSTEM) {
                    set_once(&mut names.system_id, "system id", v)?;
                } else if let Some(v) = u.strip_prefix(URN_ROLE) {
                    set_once(&mut names.role, "role", v)?;
                }
            }
        }
    }
    Ok(names)
}

/// Reads the Branchline identity out of a certificate (DER). Fails when the certificate does
/// not parse or names no device (`urn:branchline:device:` URI).
///
/// This does not verify anything: call it on certificates the TLS layer already verified.
pub fn peer_identity(cert_der: &[u8]) -> Result<PeerId> {
    let names = read_names(cert_der)?;
    let device_id = names
        .device_id
        .ok_or_else(|| NetError::CertParse("certificate names no Branchline device".into()))?;
    Ok(PeerId {
        device_id,
        system_id: names.system_id,
        role: names.role,
        spki_sha256: names.spki_sha256,
    })
}

/// Device ids named by a certificate, if any (lenient: `None` for unparsable certificates).
pub(crate) fn device_id_of(cert_der: &[u8]) -> Option<String> {
    read_names(cert_der).ok().and_then(|n| n.device_id)
}

// ---------------------------------------------------------------------------------------------
// Authority

/// An enrolment authority: the library system's root CA, or an intermediate CA the root
/// issued to a second device so that it too can enrol others.
///
/// Peers trust anything that chains to the root (see [`Authority::root_cert_der`]).
pub struct Authority {
    key: Arc<KeyPair>,
    cert_der: Vec<u8>,
    /// Certificates above this one, nearest first, ending with the root. Empty for the root.
    issuers: Vec<Vec<u8>>,
    system_id: String,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("system_id", &self.system_id)
            .field("fingerprint", &self.fingerprint())
            .field("is_root", &self.is_root())
            .finish_non_exhaustive()
    }
}

/// The raw parts of an [`Authority`], for storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityParts {
    /// The authority's private key, PKCS#8 DER. Secret.
    pub key_pkcs8_der: Vec<u8>,
    /// The authority's own CA certificate, DER.
    pub cert_der: Vec<u8>,
    /// Certificates above it, nearest first, ending with the root; empty for the root.
    pub issuers_der: Vec<Vec<u8>>,
}

const AUTHORITY_MAGIC: &str = "branchline-authority 1";
const CREDENTIALS_MAGIC: &str = "branchline-device 1";

fn encode_text(magic: &str, key: &[u8], certs: &[(&str, &[u8])]) -> String {
    let mut out = String::new();
    out.push_str(magic);
    out.push('\n');
    out.push_str("key ");
    out.push_str(&hex::encode(key));
    out.push('\n');
    for (label, der) in certs {
        out.push_str(label);
        out.push(' ');
        out.push_str(&hex::encode(der));
        out.push('\n');
    }
    out
}

/// Parses `magic` then `label hex` lines: returns (label, bytes) in order.
fn decode_text(magic: &str, text: &str) -> Result<Vec<(String, Vec<u8>)>> {
    const MAX_TEXT: usize = 1 << 20;
    if text.len() > MAX_TEXT {
        return Err(NetError::Stored("stored identity is larger than 1 MiB".into()));
    }
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next() != Some(magic) {
        return Err(NetError::Stored(format!("expected first line {magic:?}")));
    }
    let mut out = Vec::new();
    for line in lines {
        let (label, value) = line
            .split_once(' ')
            .ok_or_else(|| NetError::Stored(format!("line without a value: {line:.40}")))?;
        let bytes = hex::decode(value.trim()).map_err(|e| NetError::Stored(format!("{label}: {e}")))?;
        out.push((label.to_string(), bytes));
    }
    Ok(out)
}

impl Authority {
    /// Creates the root authority of a library system: a fresh ECDSA P-256 key and a
    /// self-signed CA certificate, CN `Branchline <system_name>`, SAN URI
    /// `urn:branchline:system:<system_id>`, valid from 1975 to 4096 (the root never expires;
    /// a compromised root means a new system).
    pub fn generate(system_id: &str, system_name: &str) -> Result<Authority> {
        validate_id("system id", system_id)?;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| NetError::Key(e.to_string()))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(
            DnType::CommonName,
            format!("Branchline {}", clean_name(system_name)),
        );
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Branchline");
        params.subject_alt_names = vec![uri(format!("{URN_SYSTEM}{system_id}"))?];
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(random_serial()?);
        let cert = params.self_signed(&key).map_err(cert_error)?;
        Ok(Authority {
            key: Arc::new(key),
            cert_der: cert.der().to_vec(),
            issuers: Vec::new(),
            system_id: system_id.to_string(),
        })
    }

    /// Rebuilds an authority from a key and the CA certificate issued for it (plus the
    /// certificates above it, nearest first, ending with the root; empty for a root).
    ///
    /// Checks that the certificate is a CA certificate for exactly this key and names a system.
    pub fn from_parts(key: DeviceKey, cert_der: Vec<u8>, issuers_der: Vec<Vec<u8>>) -> Result<Authority> {
        let names = read_names(&cert_der)?;
        if !names.is_ca {
            return Err(NetError::CertParse("not a CA certificate".into()));
        }
        if names.spki_der != key.public_key_der() {
            return Err(NetError::CertParse(
                "the CA certificate is not for this key".into(),
            ));
        }
        let system_id = names
            .system_id
            .ok_or_else(|| NetError::CertParse("the CA certificate names no system".into()))?;
        for issuer in &issuers_der {
            let n = read_names(issuer)?;
            if !n.is_ca {
                return Err(NetError::CertParse(
                    "an issuer certificate is not a CA certificate".into(),
                ));
            }
            if n.system_id.as_deref().is_some_and(|s| s != system_id) {
                return Err(NetError::CertParse(
                    "an issuer certificate belongs to another system".into(),
                ));
            }
        }
        Ok(Authority {
            key: key.key,
            cert_der,
            issuers: issuers_der,
            system_id,
        })
    }

    /// Restores from [`Authority::to_parts`].
    pub fn from_der_parts(parts: &AuthorityParts) -> Result<Authority> {
        let key = DeviceKey::from_pkcs8_der(&parts.key_pkcs8_der)?;
        Authority::from_parts(key, parts.cert_der.clone(), parts.issuers_der.clone())
    }

    /// The raw DER parts, for storage.
    pub fn to_parts(&self) -> AuthorityParts {
        AuthorityParts {
            key_pkcs8_der: self.key.serialize_der(),
            cert_der: self.cert_der.clone(),
            issuers_der: self.issuers.clone(),
        }
    }

    /// A self-describing text form for a meta table (`branchline-authority 1` then hex lines).
    /// Contains the private key: store it like one.
    pub fn to_text(&self) -> String {
        let key = self.key.serialize_der();
        let mut certs: Vec<(&str, &[u8])> = vec![("cert", &self.cert_der)];
        certs.extend(self.issuers.iter().map(|c| ("issuer", c.as_slice())));
        encode_text(AUTHORITY_MAGIC, &key, &certs)
    }

    /// Parses [`Authority::to_text`].
    pub fn from_text(text: &str) -> Result<Authority> {
        let mut key = None;
        let mut cert = None;
        let mut issuers = Vec::new();
        for (label, bytes) in decode_text(AUTHORITY_MAGIC, text)? {
            match label.as_str() {
                "key" if key.is_none() => key = Some(bytes),
                "cert" if cert.is_none() => cert = Some(bytes),
                "issuer" => issuers.push(bytes),
                other => return Err(NetError::Stored(format!("unexpected or repeated line {other:?}"))),
            }
        }
        let key = key.ok_or_else(|| NetError::Stored("no key line".into()))?;
        let cert = cert.ok_or_else(|| NetError::Stored("no cert line".into()))?;
        Authority::from_parts(DeviceKey::from_pkcs8_der(&key)?, cert, issuers)
    }

    /// The library system this authority enrols devices into.
    pub fn system_id(&self) -> &str {
        &self.system_id
    }

    /// Whether this is the system's root authority.
    pub fn is_root(&self) -> bool {
        self.issuers.is_empty()
    }

    /// This authority's own CA certificate (DER).
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The root CA certificate (DER): the trust anchor every peer of the system uses.
    pub fn root_cert_der(&self) -> &[u8] {
        self.issuers.last().unwrap_or(&self.cert_der)
    }

    /// SHA-256 (hex) of this authority's CA certificate DER.
    pub fn fingerprint(&self) -> String {
        sha256_hex(&self.cert_der)
    }

    /// SHA-256 (hex) of the root CA certificate DER: what an invite code carries, so that a
    /// joining device can pin the system's root (see [`crate::tls::ClientTls::for_join`]).
    pub fn root_fingerprint(&self) -> String {
        sha256_hex(self.root_cert_der())
    }

    /// This authority's certificate and those above it, ending with the root.
    pub fn chain(&self) -> Vec<Vec<u8>> {
        let mut chain = Vec::with_capacity(self.issuers.len() + 1);
        chain.push(self.cert_der.clone());
        chain.extend(self.issuers.iter().cloned());
        chain
    }

    /// The full chain to present for a certificate this authority issued: the leaf, this
    /// authority's certificate, the ones above it, ending with the root.
    pub fn chain_for(&self, leaf_der: &[u8]) -> Vec<Vec<u8>> {
        let mut chain = Vec::with_capacity(self.issuers.len() + 2);
        chain.push(leaf_der.to_vec());
        chain.extend(self.chain());
        chain
    }

    fn issuer(&self) -> Result<Issuer<'static, &KeyPair>> {
        Issuer::from_ca_cert_der(&CertificateDer::from(self.cert_der.as_slice()), &*self.key)
            .map_err(cert_error)
    }

    /// Issues a device certificate for `device_public_key_der` (SubjectPublicKeyInfo DER, see
    /// [`DeviceKey::public_key_der`]): SAN DNS `branchline`, URIs for the system, the device and
    /// its role; usable for TLS client and server authentication; valid from `not_before` to
    /// `not_after` (unix seconds). Returns the certificate DER; present it with
    /// [`Authority::chain_for`].
    pub fn issue_device_cert(
        &self,
        device_public_key_der: &[u8],
        device_id: &str,
        role: &str,
        not_before: i64,
        not_after: i64,
    ) -> Result<Vec<u8>> {
        validate_id("device id", device_id)?;
        validate_id("role", role)?;
        let public_key = SubjectPublicKeyInfo::from_der(device_public_key_der)
            .map_err(|e| NetError::Key(e.to_string()))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("Branchline device {device_id}"));
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Branchline");
        params.subject_alt_names = vec![
            SanType::DnsName(SERVER_NAME.try_into().map_err(cert_error)?),
            uri(format!("{URN_SYSTEM}{}", self.system_id))?,
            uri(format!("{URN_DEVICE}{device_id}"))?,
            uri(format!("{URN_ROLE}{role}"))?,
        ];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        self.sign(params, &public_key, not_before, not_after)
    }

    /// Serial, validity and issuer signature: what every certificate this authority
    /// issues has in common.
    fn sign(
        &self,
        mut params: CertificateParams,
        public_key: &SubjectPublicKeyInfo,
        not_before: i64,
        not_after: i64,
    ) -> Result<Vec<u8>> {
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial()?);
        validity(&mut params, not_before, not_after)?;
        let cert = params
            .signed_by(public_key, &self.issuer()?)
            .map_err(cert_error)?;
        Ok(cert.der().to_vec())
    }

    /// Issues an intermediate CA certificate for a second authority: `authority_public_key_der`
    /// is the SubjectPublicKeyInfo of a key held by device `device_id` (use a key dedicated to
    /// signing, not the device's TLS key). The holder rebuilds it with
    /// `Authority::from_parts(key, cert, root.chain())` and can then enrol devices; peers
    /// trust those because they chain to the root. Only the root may do this, and
    /// intermediates cannot delegate further (path length 0).
    pub fn issue_intermediate(
        &self,
        authority_public_key_der: &[u8],
        device_id: &str,
        authority_name: &str,
        not_before: i64,
        not_after: i64,
    ) -> Result<Vec<u8>> {
        if !self.is_root() {
            return Err(NetError::CannotDelegate);
        }
        validate_id("device id", device_id)?;
        let public_key = SubjectPublicKeyInfo::from_der(authority_public_key_der)
            .map_err(|e| NetError::Key(e.to_string()))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(
            DnType::CommonName,
            format!(
                "Branchline authority {} ({device_id})",
                clean_name(authority_name)
            ),
        );
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Branchline");
        params.subject_alt_names = vec![
            uri(format!("{URN_SYSTEM}{}", self.system_id))?,
            uri(format!("{URN_DEVICE}{device_id}"))?,
        ];
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        self.sign(params, &public_key, not_before, not_after)
    }
}

/// A human name for a certificate's CN: printable, at most 64 characters.
fn clean_name(name: &str) -> String {
    let cleaned: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    if cleaned.trim().is_empty() {
        "library system".to_string()
    } else {
        cleaned.trim().to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Device credentials

/// What a device presents in TLS: its key and its certificate chain (leaf first, then the
/// authorities above it, ending with the root CA certificate).
#[derive(Debug, Clone)]
pub struct DeviceCredentials {
    key: DeviceKey,
    chain: Vec<Vec<u8>>,
    peer: PeerId,
}

impl DeviceCredentials {
    /// Checks that the chain is non-empty, its leaf names a device and is for this key.
    pub fn new(key: DeviceKey, chain: Vec<Vec<u8>>) -> Result<DeviceCredentials> {
        let leaf = chain
            .first()
            .ok_or_else(|| NetError::CertParse("empty certificate chain".into()))?;
        let names = read_names(leaf)?;
        if names.is_ca {
            return Err(NetError::CertParse(
                "the leaf certificate is a CA certificate".into(),
            ));
        }
        if names.spki_der != key.public_key_der() {
            return Err(NetError::CertParse(
                "the leaf certificate is not for this key".into(),
            ));
        }
        let peer = peer_identity(leaf)?;
        Ok(DeviceCredentials { key, chain, peer })
    }

    /// This device's identity as peers will see it.
    pub fn peer_id(&self) -> &PeerId {
        &self.peer
    }

    /// The key.
    pub fn key(&self) -> &DeviceKey {
        &self.key
    }

    /// The chain, leaf first.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The last certificate of the chain (the root CA, when the chain is complete).
    pub fn root_cert_der(&self) -> Option<&[u8]> {
        self.chain
            .last()
            .map(Vec::as_slice)
            .filter(|_| self.chain.len() > 1)
    }

    /// A self-describing text form (`branchline-device 1`, hex lines). Contains the
    /// private key.
    pub fn to_text(&self) -> String {
        let key = self.key.to_pkcs8_der();
        let certs: Vec<(&str, &[u8])> = self.chain.iter().map(|c| ("cert", c.as_slice())).collect();
        encode_text(CREDENTIALS_MAGIC, &key, &certs)
    }

    /// Parses [`DeviceCredentials::to_text`].
    pub fn from_text(text: &str) -> Result<DeviceCredentials> {
        let mut key = None;
        let mut chain = Vec::new();
        for (label, bytes) in decode_text(CREDENTIALS_MAGIC, text)? {
            match label.as_str() {
                "key" if key.is_none() => key = Some(bytes),
                "cert" => chain.push(bytes),
                other => return Err(NetError::Stored(format!("unexpected or repeated line {other:?}"))),
            }
        }
        let key = key.ok_or_else(|| NetError::Stored("no key line".into()))?;
        DeviceCredentials::new(DeviceKey::from_pkcs8_der(&key)?, chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NB: i64 = 1_700_000_000;
    const NA: i64 = 1_900_000_000;

    #[test]
    fn root_names_its_system_and_round_trips() {
        let root = Authority::generate("sys-1", "Riverside Libraries").unwrap();
        assert!(root.is_root());
        assert_eq!(root.system_id(), "sys-1");
        assert_eq!(root.fingerprint(), root.root_fingerprint());
        assert_eq!(root.fingerprint().len(), 64);
        let (_, cert) = x509_parser::parse_x509_certificate(root.cert_der()).unwrap();
        assert!(cert.is_ca());
        let cn = cert
            .subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(cn, "Branchline Riverside Libraries");

        let again = Authority::from_text(&root.to_text()).unwrap();
        assert_eq!(again.cert_der(), root.cert_der());
        assert_eq!(again.system_id(), "sys-1");
        let again = Authority::from_der_parts(&root.to_parts()).unwrap();
        assert_eq!(again.fingerprint(), root.fingerprint());
    }

    #[test]
    fn device_cert_carries_names() {
        let root = Authority::generate("sys-1", "Riverside").unwrap();
        let key = DeviceKey::generate().unwrap();
        let der = root
            .issue_device_cert(&key.public_key_der(), "desk-7", "staff", NB, NA)
            .unwrap();
        let peer = peer_identity(&der).unwrap();
        assert_eq!(peer.device_id, "desk-7");
        assert_eq!(peer.system_id.as_deref(), Some("sys-1"));
        assert_eq!(peer.role.as_deref(), Some("staff"));
        assert_eq!(peer.spki_sha256, key.spki_sha256());

        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(cert.validity().not_before.timestamp(), NB);
        assert_eq!(cert.validity().not_after.timestamp(), NA);
        let san = cert.subject_alternative_name().unwrap().unwrap();
        assert!(san
            .value
            .general_names
            .iter()
            .any(|n| matches!(n, GeneralName::DNSName("branchline"))));

        let creds = DeviceCredentials::new(key.clone(), root.chain_for(&der)).unwrap();
        assert_eq!(creds.chain().len(), 2);
        assert_eq!(creds.root_cert_der(), Some(root.cert_der()));
        let back = DeviceCredentials::from_text(&creds.to_text()).unwrap();
        assert_eq!(back.peer_id(), creds.peer_id());
        assert_eq!(back.key().to_pkcs8_der(), key.to_pkcs8_der());
    }

    #[test]
    fn credentials_refuse_a_foreign_key() {
        let root = Authority::generate("sys-1", "R").unwrap();
        let key = DeviceKey::generate().unwrap();
        let other = DeviceKey::generate().unwrap();
        let der = root
            .issue_device_cert(&key.public_key_der(), "d1", "staff", NB, NA)
            .unwrap();
        let err = DeviceCredentials::new(other, root.chain_for(&der)).unwrap_err();
        assert_eq!(err.code(), "net.cert_parse");
    }

    #[test]
    fn ids_are_checked() {
        let root = Authority::generate("sys-1", "R").unwrap();
        let key = DeviceKey::generate().unwrap();
        for bad in ["", "a b", "x/y", "é", &"a".repeat(129)] {
            let err = root
                .issue_device_cert(&key.public_key_der(), bad, "staff", NB, NA)
                .unwrap_err();
            assert_eq!(err.code(), "net.invalid_id", "{bad:?}");
        }
        assert!(Authority::generate("sys 1", "R").is_err());
        let err = root
            .issue_device_cert(&key.public_key_der(), "d", "staff", NA, NB)
            .unwrap_err();
        assert_eq!(err.code(), "net.invalid_validity");
        let err = root
            .issue_device_cert(b"not a key", "d", "staff", NB, NA)
            .unwrap_err();
        assert_eq!(err.code(), "net.key");
    }

    #[test]
    fn intermediate_is_a_ca_and_cannot_delegate() {
        let root = Authority::generate("sys-1", "R").unwrap();
        let key = DeviceKey::generate().unwrap();
        let der = root
            .issue_intermediate(&key.public_key_der(), "laptop-1", "Tech laptop", NB, NA)
            .unwrap();
        let second = Authority::from_parts(key, der, root.chain()).unwrap();
        assert!(!second.is_root());
        assert_eq!(second.system_id(), "sys-1");
        assert_eq!(second.root_fingerprint(), root.fingerprint());
        assert_ne!(second.fingerprint(), root.fingerprint());
        assert_eq!(second.chain().len(), 2);
        let third = DeviceKey::generate().unwrap();
        let err = second
            .issue_intermediate(&third.public_key_der(), "x", "x", NB, NA)
            .unwrap_err();
        assert_eq!(err.code(), "net.cannot_delegate");
        let back = Authority::from_text(&second.to_text()).unwrap();
        assert!(!back.is_root());
        assert_eq!(back.root_cert_der(), root.cert_der());
    }

    #[test]
    fn from_parts_refuses_a_leaf_or_the_wrong_key() {
        let root = Authority::generate("sys-1", "R").unwrap();
        let key = DeviceKey::generate().unwrap();
        let leaf = root
            .issue_device_cert(&key.public_key_der(), "d1", "staff", NB, NA)
            .unwrap();
        assert!(Authority::from_parts(key.clone(), leaf, root.chain()).is_err());
        let inter = root
            .issue_intermediate(&key.public_key_der(), "d1", "x", NB, NA)
            .unwrap();
        assert!(Authority::from_parts(DeviceKey::generate().unwrap(), inter, root.chain()).is_err());
    }

    #[test]
    fn stored_text_is_checked() {
        assert_eq!(
            Authority::from_text("").unwrap_err().code(),
            "net.stored_identity"
        );
        assert_eq!(
            Authority::from_text("branchline-authority 1\nkey zz\n")
                .unwrap_err()
                .code(),
            "net.stored_identity"
        );
        assert_eq!(
            Authority::from_text("branchline-authority 1\ncert 00\n")
                .unwrap_err()
                .code(),
            "net.stored_identity"
        );
        assert!(DeviceCredentials::from_text("branchline-device 1\nkey 00\n").is_err());
        assert!(peer_identity(b"garbage").is_err());
    }

    #[test]
    fn key_round_trips() {
        let key = DeviceKey::generate().unwrap();
        let back = DeviceKey::from_pkcs8_der(&key.to_pkcs8_der()).unwrap();
        assert_eq!(back.public_key_der(), key.public_key_der());
        assert!(DeviceKey::from_pkcs8_der(b"nope").is_err());
    }
}
