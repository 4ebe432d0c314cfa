//! Identity and enrolment: this device's key and certificate, the enrolment
//! authority (a CA) on authority devices, invite codes, and answering a join.
//!
//! Keys and certificates are local-only (the `meta` table); what the library system
//! shares is the device record in the `system` document (name, branch, role,
//! enrolled by, revoked), which every peer consults at each handshake.

use crate::{invalid, Node, NodeError, Result};
use branchline_core::schema::Kind;
use branchline_core::{Fields, Value};
use branchline_net::{Authority, DeviceCredentials, DeviceKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CODE_VERSION: u8 = 1;
const SECRET_LEN: usize = 10;
const FP_LEN: usize = 10;
/// Certificates are valid for ten years; revocation, not expiry, retires a device.
const CERT_YEARS: i64 = 10;

/// What an invite code carries: a one-time secret, the prefix of the system's root
/// CA fingerprint (so the joiner knows it talks to the right library system), and
/// where the inviter listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteCode {
    pub secret: [u8; SECRET_LEN],
    pub ca_prefix: [u8; FP_LEN],
    pub addrs: Vec<SocketAddr>,
}

fn base32(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in bytes {
        acc = (acc << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(CROCKFORD[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(CROCKFORD[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn unbase32(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.chars().filter(|c| !matches!(c, '-' | ' ')) {
        let c = match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        let v = CROCKFORD.iter().position(|x| *x as char == c)? as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

impl InviteCode {
    pub fn encode(&self) -> String {
        let mut b = vec![CODE_VERSION];
        b.extend_from_slice(&self.secret);
        b.extend_from_slice(&self.ca_prefix);
        let addrs: Vec<&SocketAddr> = self.addrs.iter().take(4).collect();
        b.push(addrs.len() as u8);
        for a in addrs {
            match a.ip() {
                IpAddr::V4(ip) => {
                    b.push(4);
                    b.extend_from_slice(&ip.octets());
                }
                IpAddr::V6(ip) => {
                    b.push(6);
                    b.extend_from_slice(&ip.octets());
                }
            }
            b.extend_from_slice(&a.port().to_be_bytes());
        }
        let text = base32(&b);
        text.as_bytes()
            .chunks(5)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }

    pub fn decode(code: &str) -> std::result::Result<InviteCode, String> {
        let bad = |why: &str| format!("not a Branchline invite code ({why}): check it letter by letter");
        let b = unbase32(code).ok_or_else(|| bad("unexpected character"))?;
        let mut r = b.as_slice();
        let mut take = |n: usize| -> std::result::Result<&[u8], String> {
            if r.len() < n {
                return Err(bad("too short"));
            }
            let (h, t) = r.split_at(n);
            r = t;
            Ok(h)
        };
        if take(1)? != [CODE_VERSION] {
            return Err(bad("unknown version"));
        }
        let mut secret = [0u8; SECRET_LEN];
        secret.copy_from_slice(take(SECRET_LEN)?);
        let mut ca_prefix = [0u8; FP_LEN];
        ca_prefix.copy_from_slice(take(FP_LEN)?);
        let n = take(1)?[0];
        if n > 4 {
            return Err(bad("too many addresses"));
        }
        let mut addrs = Vec::new();
        for _ in 0..n {
            let ip: IpAddr = match take(1)?[0] {
                4 => {
                    let o: [u8; 4] = take(4)?.try_into().map_err(|_| bad("address"))?;
                    IpAddr::from(o)
                }
                6 => {
                    let o: [u8; 16] = take(16)?.try_into().map_err(|_| bad("address"))?;
                    IpAddr::from(o)
                }
                _ => return Err(bad("address family")),
            };
            let p = take(2)?;
            addrs.push(SocketAddr::new(ip, u16::from_be_bytes([p[0], p[1]])));
        }
        Ok(InviteCode {
            secret,
            ca_prefix,
            addrs,
        })
    }
}

/// A joining device's request, sent on an anonymous connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRequest {
    pub secret: String,
    pub device_id: String,
    pub device_name: String,
    pub branch: String,
    pub public_key: String,
    /// A second public key when the invite makes this device an enrolment authority.
    #[serde(default)]
    pub authority_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinResponse {
    pub system_id: String,
    pub system_name: String,
    pub role: String,
    /// Device certificate chain (hex DER), leaf first, root last.
    pub chain: Vec<String>,
    /// For a new authority: its CA certificate chain (hex DER).
    #[serde(default)]
    pub authority_chain: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Invite {
    pub code: String,
    pub expires: String,
    pub role: String,
}

fn hexes(v: &[Vec<u8>]) -> Vec<String> {
    v.iter().map(hex::encode).collect()
}
fn unhexes(v: &[String]) -> Result<Vec<Vec<u8>>> {
    v.iter()
        .map(|h| hex::decode(h).map_err(|_| NodeError::Usage("bad certificate encoding".into())))
        .collect()
}

fn net(e: branchline_net::NetError) -> NodeError {
    NodeError::Net(e.code(), e.to_string())
}

impl Node {
    fn meta_get(&mut self, key: &str) -> Result<Option<String>> {
        self.store.read(|tx| Ok::<_, NodeError>(tx.meta(key)?))
    }

    fn meta_set(&mut self, pairs: &[(&str, &str)]) -> Result<()> {
        self.store.write(|tx| {
            for (k, v) in pairs {
                tx.set_meta(k, v)?;
            }
            Ok::<_, NodeError>(())
        })
    }

    /// Make this (new) device the enrolment authority of its library system.
    pub(crate) fn create_authority(&mut self) -> Result<()> {
        let auth = Authority::generate(&self.ident.system_id, &self.ident.system_name).map_err(net)?;
        let key = DeviceKey::generate().map_err(net)?;
        let (now, _) = self.clock.now();
        let secs = now / 1000;
        let leaf = auth
            .issue_device_cert(
                &key.public_key_der(),
                &self.ident.device_id,
                "authority",
                secs - 3600,
                secs + CERT_YEARS * 365 * 86400,
            )
            .map_err(net)?;
        let creds = DeviceCredentials::new(key, auth.chain_for(&leaf)).map_err(net)?;
        let (a, c, r) = (auth.to_text(), creds.to_text(), hex::encode(auth.root_cert_der()));
        self.meta_set(&[("authority", &a), ("credentials", &c), ("root_ca", &r)])
    }

    /// This device's key and certificate chain, once enrolled.
    pub fn credentials(&mut self) -> Result<Option<DeviceCredentials>> {
        match self.meta_get("credentials")? {
            Some(t) => Ok(Some(DeviceCredentials::from_text(&t).map_err(net)?)),
            None => Ok(None),
        }
    }

    pub fn authority(&mut self) -> Result<Option<Authority>> {
        match self.meta_get("authority")? {
            Some(t) => Ok(Some(Authority::from_text(&t).map_err(net)?)),
            None => Ok(None),
        }
    }

    /// The library system's root CA certificate (DER): what peers' chains must end in.
    pub fn root_ca(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(self.meta_get("root_ca")?.and_then(|h| hex::decode(h).ok()))
    }

    /// Ids of revoked devices, from the system document.
    pub fn revoked_devices(&mut self) -> Result<Vec<String>> {
        Ok(self
            .list(Kind::Device, &Default::default())?
            .into_iter()
            .filter(|d| d.flag("revoked"))
            .map(|d| d.id)
            .collect())
    }

    /// Issue a one-time invite code. `addrs` are where this device can be reached.
    pub fn create_invite(&mut self, role: &str, valid_secs: i64, addrs: Vec<SocketAddr>) -> Result<Invite> {
        if !matches!(role, "peer" | "authority") {
            return Err(invalid("role", "is peer or authority"));
        }
        if !(60..=30 * 86400).contains(&valid_secs) {
            return Err(invalid("expires", "must be between 1 minute and 30 days"));
        }
        let auth = self.authority()?.ok_or_else(|| {
            NodeError::Usage("this device is not an enrolment authority: run `invite` on one that is".into())
        })?;
        let root_fp =
            hex::decode(auth.root_fingerprint()).map_err(|_| NodeError::Usage("bad fingerprint".into()))?;
        let mut secret = [0u8; SECRET_LEN];
        getrandom_fill(&mut secret);
        let mut ca_prefix = [0u8; FP_LEN];
        ca_prefix.copy_from_slice(&root_fp[..FP_LEN]);
        let code = InviteCode {
            secret,
            ca_prefix,
            addrs,
        }
        .encode();
        let (now, _) = self.clock.now();
        let expires_at = now + valid_secs * 1000;
        let hash = hex::encode(Sha256::digest(secret));
        self.store
            .write(|tx| Ok::<_, NodeError>(tx.add_invite(&hash, role, expires_at, now)?))?;
        let expires = chrono::DateTime::from_timestamp_millis(expires_at)
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%Y-%m-%dT%H:%M:%S%:z")
                    .to_string()
            })
            .unwrap_or_default();
        Ok(Invite {
            code,
            expires,
            role: role.to_string(),
        })
    }

    /// Answer a join request: check the invite (once, unexpired), issue the device's
    /// certificate and record the device in the system document.
    pub fn answer_join(&mut self, req: &JoinRequest) -> Result<JoinResponse> {
        let auth = self
            .authority()?
            .ok_or_else(|| NodeError::Usage("not an enrolment authority".into()))?;
        let secret = hex::decode(&req.secret).map_err(|_| invalid("invite", "malformed"))?;
        let hash = hex::encode(Sha256::digest(&secret));
        let (now, _) = self.clock.now();
        branchline_net::identity::validate_id("device id", &req.device_id)
            .map_err(|e| invalid("device", e.to_string()))?;
        // Everything that can refuse the request is checked before the invite is
        // used up, so a mistyped branch does not cost the code.
        if req.device_name.trim().is_empty() {
            return Err(invalid("device", "give the device a name"));
        }
        self.get(Kind::Branch, &req.branch)
            .map_err(|_| invalid("branch", format!("unknown branch '{}'", req.branch)))?;
        let pk_check = hex::decode(&req.public_key).map_err(|_| invalid("public_key", "malformed"))?;
        if pk_check.is_empty() {
            return Err(invalid("public_key", "missing"));
        }
        let role = self.store.write(|tx| {
            let role = tx.take_invite(&hash, &req.device_id, now)?;
            Ok::<_, NodeError>(role)
        })?;
        let role = match role {
            Ok(r) => r,
            Err(why) => return Err(invalid("invite", why)),
        };
        let pk = hex::decode(&req.public_key).map_err(|_| invalid("public_key", "malformed"))?;
        let secs = now / 1000;
        let until = secs + CERT_YEARS * 365 * 86400;
        let leaf = auth
            .issue_device_cert(&pk, &req.device_id, &role, secs - 3600, until)
            .map_err(net)?;
        let chain = auth.chain_for(&leaf);
        let authority_chain = match (&role[..], &req.authority_key) {
            ("authority", Some(k)) => {
                let k = hex::decode(k).map_err(|_| invalid("authority_key", "malformed"))?;
                let ca = auth
                    .issue_intermediate(&k, &req.device_id, &req.device_name, secs - 3600, until)
                    .map_err(net)?;
                let mut c = vec![ca];
                c.extend(auth.chain());
                Some(hexes(&c))
            }
            ("authority", None) => {
                return Err(invalid("authority_key", "an authority invite needs a CA key"))
            }
            _ => None,
        };
        let f: Fields = [
            ("name".to_string(), Value::Str(req.device_name.clone())),
            ("branch".to_string(), Value::Str(req.branch.clone())),
            (
                "role".to_string(),
                Value::Str(if role == "authority" {
                    "authority".into()
                } else {
                    "peer".into()
                }),
            ),
            ("actor".to_string(), Value::Str(String::new())),
            (
                "enrolled_by".to_string(),
                Value::Str(self.ident.device_id.clone()),
            ),
        ]
        .into();
        self.enrol_device(&req.device_id, f)?;
        Ok(JoinResponse {
            system_id: self.ident.system_id.clone(),
            system_name: self.ident.system_name.clone(),
            role,
            chain: hexes(&chain),
            authority_chain,
        })
    }

    /// Create a replica for a device that joined: identity and credentials, no
    /// documents yet (the first sync brings them).
    pub fn create_joined(
        dir: &std::path::Path,
        resp: &JoinResponse,
        device_id: &str,
        device_name: &str,
        branch: &str,
        key: DeviceKey,
        authority_key: Option<DeviceKey>,
    ) -> Result<Node> {
        let chain = unhexes(&resp.chain)?;
        let creds = DeviceCredentials::new(key, chain.clone()).map_err(net)?;
        if creds.peer_id().device_id != device_id {
            return Err(NodeError::Usage("the certificate names another device".into()));
        }
        let root = chain
            .last()
            .cloned()
            .ok_or_else(|| NodeError::Usage("empty certificate chain".into()))?;
        let mut node = Node::create_replica_with(
            dir,
            resp.system_id.clone(),
            resp.system_name.clone(),
            branch,
            device_name,
            Some(device_id.to_string()),
        )?;
        let mut pairs = vec![
            ("credentials".to_string(), creds.to_text()),
            ("root_ca".to_string(), hex::encode(&root)),
        ];
        if let (Some(ak), Some(ac)) = (authority_key, &resp.authority_chain) {
            let ac = unhexes(ac)?;
            let (cert, issuers) = ac
                .split_first()
                .ok_or_else(|| NodeError::Usage("empty authority chain".into()))?;
            let auth = Authority::from_parts(ak, cert.clone(), issuers.to_vec()).map_err(net)?;
            pairs.push(("authority".to_string(), auth.to_text()));
        }
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        node.meta_set(&refs)?;
        Ok(node)
    }

    /// After the first sync: record the actor this device writes with in its device record.
    pub fn claim_device_record(&mut self) -> Result<()> {
        let id = self.ident.device_id.clone();
        let actor = self.ident.actor.clone();
        match self.get(Kind::Device, &id) {
            Ok(d) if d.str("actor") == Some(actor.as_str()) => Ok(()),
            Ok(_) => {
                self.update(
                    Kind::Device,
                    &id,
                    [("actor".to_string(), Value::Str(actor))].into(),
                )?;
                Ok(())
            }
            Err(NodeError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Revoke a device (a stolen laptop): once this reaches a peer, it refuses the device.
    pub fn revoke_device(&mut self, key: &str) -> Result<branchline_core::doc::Record> {
        let d = self.get(Kind::Device, key)?;
        if d.id == self.ident.device_id {
            return Err(invalid("device", "a device cannot revoke itself"));
        }
        self.update(
            Kind::Device,
            &d.id,
            [("revoked".to_string(), Value::Bool(true))].into(),
        )
    }
}

fn getrandom_fill(buf: &mut [u8]) {
    use rand::RngCore;
    rand::rngs::OsRng.fill_bytes(buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invite_codes_round_trip_and_are_short() {
        let code = InviteCode {
            secret: [7; SECRET_LEN],
            ca_prefix: [0xab; FP_LEN],
            addrs: vec![
                "192.0.2.10:7733".parse().unwrap(),
                "[2001:db8::1]:7733".parse().unwrap(),
            ],
        };
        let text = code.encode();
        assert!(text.len() < 100, "{text}");
        assert_eq!(InviteCode::decode(&text).unwrap(), code);
        assert_eq!(
            InviteCode::decode(&text.to_lowercase()).unwrap(),
            code,
            "case does not matter"
        );
        let one = InviteCode {
            addrs: vec!["192.0.2.10:7733".parse().unwrap()],
            ..code.clone()
        };
        assert!(one.encode().len() <= 59, "{}", one.encode());
    }

    #[test]
    fn damaged_codes_are_refused() {
        let code = InviteCode {
            secret: [1; SECRET_LEN],
            ca_prefix: [2; FP_LEN],
            addrs: vec![],
        }
        .encode();
        assert!(InviteCode::decode(&code[..code.len() - 6]).is_err());
        assert!(InviteCode::decode("hello world!").is_err());
        assert!(InviteCode::decode("").is_err());
    }
}
