//! The sync session: a pure, sans-IO state machine that brings one peer's documents
//! level with another's over any message transport.
//!
//! Nothing here touches a socket, a clock or a random source. The driver (the QUIC
//! layer in `net`/`node`, or the simulation in the tests below) feeds received frames
//! into [`Session::handle_bytes`], sends whatever it returns, and calls
//! [`Session::handle_timeout`] when [`Session::poll_timeout`] says so. Documents stay
//! with the node: the session reaches them through the [`DocSource`] trait.
//!
//! # Protocol
//!
//! 1. **Hello.** Either side (or both) sends `Hello{reply: true}` with its library
//!    system id, device id, round number, the digest of its whole manifest and its
//!    document count; the other answers with `Hello{reply: false}`. Equal digests: both
//!    sides are caught up after this one round trip.
//! 2. **Reconciliation.** Otherwise the side with the smaller device id (the *driver*)
//!    descends. Every document id is hashed (SHA-256); the first 64 bits of that hash
//!    place it in a 16-ary trie of [`Prefix`]es. A `Recon` message carries items: a
//!    `Fingerprint` (count and digest of the documents under a prefix) or a `List` of
//!    `(doc id, heads digest)` under a prefix. A side that receives a fingerprint that
//!    differs from its own answers with its 16 child fingerprints (one `Children`
//!    item), or with its list when it holds few documents there ([`LEAF`]: a `Keys`
//!    item, which names each document by its 64-bit position rather than its id); a
//!    side that receives a list knows exactly which documents differ. Equal subtrees
//!    are never expanded, so the bytes exchanged grow with the number of differing
//!    documents times the trie depth, not with the number of documents. The digests
//!    in `Children` and `Keys` are [`TINY`] bytes, salted with the round ([`tiny`]):
//!    a chance collision hides a difference for one round at most, since a round
//!    whose checks keep failing starts over.
//! 3. **Document sync.** Each differing document runs automerge's own sync protocol
//!    (`DocSync` carries one encoded `automerge::sync::Message`). A document the peer
//!    lacks is created empty on its side (`DocSource::create_empty`) and filled by the
//!    same protocol. Per-document `sync::State`s can be exported and imported, so a
//!    reconnect resumes from what both sides last shared.
//!
//!    A document one side lacks entirely travels whole instead: reconciliation shows
//!    which side holds it, and that side sends `Whole` (automerge's compressed
//!    `save()`), unasked when it learns the peer lacks it, or when the lacking side
//!    asks with `Want` (by id) or `WantKeys` (by position). Automerge sync messages
//!    over a few hundred bytes travel deflated (`DocSyncPacked`): the changes in them
//!    are raw. A saved sync state is resumed on the guess that the peer still holds
//!    the heads both last shared, so the first message carries the changes made
//!    since; the source gives saved states as the session reaches each document.
//! 4. **Check.** When the driver has no request outstanding and no document exchange
//!    in progress, it sends the root fingerprint again; an empty answer means both
//!    sides were equal and the session is caught up. Any other answer is the next
//!    level of the descent.
//! 5. **Live.** After catch-up the session stays open: [`Session::local_change`] pushes
//!    a document's new changes at once.
//!
//! # Loss
//!
//! Messages may be lost, duplicated, delayed or reordered. Request ids make duplicate
//! `Recon` messages harmless; automerge's protocol tolerates repeated `DocSync`s.
//! Whenever a session is not caught up and its peer has been silent for the timeout,
//! or one of its requests or document exchanges has waited that long for an answer,
//! it starts a new round: per-document states fall back to their persisted form (what
//! both sides share), and the Hello exchange starts over. Messages of an older round
//! are dropped.
//!
//! A session only believes it is caught up after the two manifests were seen equal;
//! whoever changes a document after that is not caught up until the peer confirms,
//! so a lost push is always retried by the side that made it.
//!
//! # Frames
//!
//! A hand-written binary encoding: a version byte, a type byte, then the fields
//! (LEB128 integers, length-prefixed strings and bytes, raw 32-byte digests).
//! [`SyncMsg::decode`] bounds the frame ([`MAX_FRAME`]), every count ([`MAX_COUNT`]
//! and the bytes left), every name ([`MAX_NAME`]), validates document ids and refuses
//! trailing bytes. It never panics.

use crate::docid::{BadDocId, DocId};
use automerge::sync::{self as am, SyncDoc};
use automerge::{Automerge, AutomergeError, ChangeHash};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A SHA-256 digest.
pub type Digest = [u8; 32];

/// What a replica holds: the digest of each document's heads ([`heads_digest`]).
pub type Manifest = BTreeMap<DocId, Digest>;

/// Where a session hands the messages it makes, one by one as it makes them.
pub type Replies<'a> = dyn FnMut(SyncMsg) + 'a;

/// Version byte that opens every frame.
pub const PROTOCOL_VERSION: u8 = 1;
/// Largest frame accepted (and the largest a peer should send).
pub const MAX_FRAME: usize = 16 * 1024 * 1024;
/// Largest count of anything (items, documents) a frame may declare.
pub const MAX_COUNT: u64 = 1_000_000;
/// Longest system id, device id or document id, in bytes.
pub const MAX_NAME: usize = 256;
/// A side holding at most this many documents under a prefix lists them instead of
/// splitting the prefix further.
pub const LEAF: u64 = 16;
/// Deepest prefix, in nibbles (64 bits of the document id's hash).
pub const MAX_DEPTH: u8 = 16;
/// Silence after which a session that is not caught up starts a new round.
pub const DEFAULT_TIMEOUT_MS: i64 = 15_000;

const TAG_HELLO: u8 = 1;
const TAG_RECON: u8 = 2;
const TAG_DOC_SYNC: u8 = 3;
const TAG_REFUSE: u8 = 4;
const TAG_WHOLE: u8 = 5;
const TAG_WANT: u8 = 6;
const TAG_DOC_SYNC_PACKED: u8 = 7;
/// A document of at most this many changes, holding at most `FEW_OPS` operations,
/// travels whole as its changes; any other as automerge's `save()`.
const FEW_CHANGES: usize = 8;
const FEW_OPS: u64 = 128;
/// Automerge sync messages and whole documents at least this long are sent
/// deflated when that saves a 32nd or more.
const PACK_FROM: usize = 256;
/// zlib's level 2 rather than its default 6: on a saved day of bookings it took
/// 39 rather than 67 µs, for one per cent more bytes (level 1 took 16 µs, but its
/// output was a fifth larger, which the wire budget cannot spare).
const PACK_LEVEL: u32 = 2;
const ITEM_FINGERPRINT: u8 = 1;
const ITEM_LIST: u8 = 2;
const ITEM_FINGERPRINT_SHORT: u8 = 5;
const ITEM_LIST_SHORT: u8 = 6;
const ITEM_CHILDREN: u8 = 7;
const ITEM_KEYS: u8 = 8;
const TAG_WANT_KEYS: u8 = 8;
/// Bytes of the salted digests in `Children` and `Keys` items.
pub const TINY: usize = 4;
/// Checks a round may fail before it starts over: with digests this short, a chance
/// collision could otherwise hide the same difference from every descent of the
/// round; a new round salts them differently.
const CHECKS_PER_ROUND: u32 = 3;
/// Bytes of a digest in the short reconciliation items.
pub const SHORT: usize = 8;

/// The first [`SHORT`] bytes of a digest.
pub type ShortDigest = [u8; SHORT];

/// A [`TINY`]-byte digest salted with the round: [`tiny`].
pub type TinyDigest = [u8; TINY];

/// `digest` cut to [`TINY`] bytes after salting it with `round`. Short enough that
/// two different digests meet by chance (one in four billion) is to be reckoned
/// with; salted, such a meeting does not repeat in the next round.
pub fn tiny(round: u64, digest: &Digest) -> TinyDigest {
    let mut h = Sha256::new();
    h.update(b"branchline-tiny-v1");
    h.update(round.to_le_bytes());
    h.update(digest);
    let full: Digest = h.finalize().into();
    let mut t = [0u8; TINY];
    t.copy_from_slice(&full[..TINY]);
    t
}

fn short(d: &Digest) -> ShortDigest {
    let mut s = [0u8; SHORT];
    s.copy_from_slice(&d[..SHORT]);
    s
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("sync frame of {0} bytes is over the limit")]
    FrameTooLarge(usize),
    #[error("sync frame is truncated")]
    Truncated,
    #[error("unsupported sync protocol version {0}")]
    Version(u8),
    #[error("unknown sync message type {0}")]
    UnknownTag(u8),
    #[error("malformed sync frame: {0}")]
    Malformed(&'static str),
    #[error("{0}")]
    BadDocId(#[from] BadDocId),
    #[error("peer belongs to library system {found:?}, not this one ({expected:?})")]
    ForeignSystem { expected: String, found: String },
    #[error("peer presented this replica's own device id")]
    SelfPeer,
    #[error("peer changed its device id mid-session ({was:?} then {now:?})")]
    PeerChanged { was: String, now: String },
    #[error("bad automerge sync message for {doc}: {reason}")]
    BadSyncMessage { doc: String, reason: String },
    #[error("bad stored sync state for {doc}: {reason}")]
    BadState { doc: String, reason: String },
    #[error("applying a peer's changes to {doc}: {source}")]
    Apply {
        doc: String,
        source: Box<AutomergeError>,
    },
}

/// SHA-256 of a document's heads, sorted: equal digests mean equal documents.
pub fn heads_digest(heads: &[ChangeHash]) -> Digest {
    let mut sorted: Vec<&ChangeHash> = heads.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    for c in sorted {
        h.update(c.0);
    }
    h.finalize().into()
}

/// [`heads_digest`] of a document's current heads.
pub fn doc_digest(doc: &Automerge) -> Digest {
    heads_digest(&doc.get_heads())
}

/// The manifest of a set of documents.
pub fn manifest_of<'a, I>(docs: I) -> Manifest
where
    I: IntoIterator<Item = (&'a DocId, &'a Automerge)>,
{
    docs.into_iter()
        .map(|(id, doc)| (id.clone(), doc_digest(doc)))
        .collect()
}

/// The digest of a whole manifest, as sent in `Hello`.
pub fn root_digest(manifest: &Manifest) -> Digest {
    Index::build(manifest, &BTreeSet::new())
        .fingerprint(Prefix::ROOT)
        .1
}

/// A node of the 16-ary trie over the first 64 bits of each document id's SHA-256:
/// the documents whose hash starts with these `depth` nibbles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Prefix {
    depth: u8,
    bits: u64,
}

fn low_mask(depth: u8) -> u64 {
    match depth {
        0 => u64::MAX,
        d if d >= MAX_DEPTH => 0,
        d => u64::MAX >> (4 * u32::from(d)),
    }
}

impl Prefix {
    /// Every document.
    pub const ROOT: Prefix = Prefix { depth: 0, bits: 0 };

    /// `depth` nibbles, left-aligned in `bits`; the rest of `bits` must be zero.
    pub fn new(depth: u8, bits: u64) -> Option<Prefix> {
        (depth <= MAX_DEPTH && bits & low_mask(depth) == 0).then_some(Prefix { depth, bits })
    }
    pub fn depth(&self) -> u8 {
        self.depth
    }
    pub fn bits(&self) -> u64 {
        self.bits
    }
    /// The sub-prefix one nibble deeper, if there is one.
    pub fn child(&self, nibble: u8) -> Option<Prefix> {
        if self.depth >= MAX_DEPTH || nibble > 15 {
            return None;
        }
        let shift = 60 - 4 * u32::from(self.depth);
        Some(Prefix {
            depth: self.depth + 1,
            bits: self.bits | (u64::from(nibble) << shift),
        })
    }
    /// Inclusive bounds of the 64-bit positions under this prefix.
    fn bounds(&self) -> (u64, u64) {
        (self.bits, self.bits | low_mask(self.depth))
    }
}

/// One document in the reconciliation index.
#[derive(Debug)]
struct Entry {
    key: Digest,
    pos: u64,
    id: DocId,
    digest: Digest,
}

/// A manifest sorted by the hash of each document id, so that every prefix is a
/// contiguous run.
#[derive(Debug)]
struct Index {
    entries: Vec<Entry>,
}

impl Index {
    fn build(manifest: &Manifest, excluded: &BTreeSet<DocId>) -> Index {
        Self::build_with(manifest, excluded, None, &mut HashMap::new())
    }

    /// `build`, remembering each document's position key in `keys`: a session
    /// builds its index on every message, and hashing a thousand ids each time cost
    /// more than the rest of the build.
    fn build_with(
        manifest: &Manifest,
        excluded: &BTreeSet<DocId>,
        known: Option<&HashMap<DocId, Digest>>,
        keys: &mut HashMap<DocId, Digest>,
    ) -> Index {
        let mut entries: Vec<Entry> = manifest
            .iter()
            .filter(|(id, _)| !excluded.contains(*id))
            .map(|(id, digest)| {
                let key = match known.and_then(|k| k.get(id)).or_else(|| keys.get(id)) {
                    Some(k) => *k,
                    None => *keys.entry(id.clone()).or_insert_with(|| position_key(id)),
                };
                Entry {
                    key,
                    pos: pos_of(&key),
                    id: id.clone(),
                    digest: *digest,
                }
            })
            .collect();
        entries.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.id.cmp(&b.id)));
        Index { entries }
    }

    /// Put every document's position key into `keys`: a session's first build
    /// after its documents changed then hashes only the new ones, where hashing a
    /// thousand ids took a millisecond or two, most of the build.
    fn seed_keys(&self, keys: &mut HashMap<DocId, Digest>) {
        keys.reserve(self.entries.len());
        for e in &self.entries {
            if !keys.contains_key(&e.id) {
                keys.insert(e.id.clone(), e.key);
            }
        }
    }

    fn range(&self, p: Prefix) -> &[Entry] {
        let (lo, hi) = p.bounds();
        let a = self.entries.partition_point(|e| e.pos < lo);
        let b = self.entries.partition_point(|e| e.pos <= hi);
        self.entries.get(a..b).unwrap_or(&[])
    }

    fn fingerprint(&self, p: Prefix) -> (u64, Digest) {
        let r = self.range(p);
        (r.len() as u64, range_digest(r))
    }
}

/// The hash that places a document in the index.
fn position_key(id: &DocId) -> Digest {
    Sha256::digest(id.to_string().as_bytes()).into()
}

/// The first 64 bits of a position key.
fn pos_of(key: &Digest) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&key[..8]);
    u64::from_be_bytes(first)
}

fn range_digest(entries: &[Entry]) -> Digest {
    let mut h = Sha256::new();
    h.update(b"branchline-range-v1");
    h.update((entries.len() as u64).to_le_bytes());
    for e in entries {
        h.update(e.key);
        h.update(e.digest);
    }
    h.finalize().into()
}

/// One unit of range reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReconItem {
    /// "Under `prefix` I hold `count` documents whose combined digest is `digest`."
    Fingerprint {
        prefix: Prefix,
        count: u64,
        digest: Digest,
    },
    /// "Under `prefix` I hold exactly these documents."
    List {
        prefix: Prefix,
        docs: Vec<(DocId, Digest)>,
    },
    /// A `Fingerprint` with its digest cut to [`SHORT`] bytes: what the descent
    /// sends (a chance collision costs at most a round; the final check compares
    /// whole digests).
    FingerprintShort {
        prefix: Prefix,
        count: u64,
        digest: ShortDigest,
    },
    /// A `List` with every digest cut to [`SHORT`] bytes.
    ListShort {
        prefix: Prefix,
        docs: Vec<(DocId, ShortDigest)>,
    },
    /// The fingerprints of all 16 children of `prefix`, in nibble order: a count
    /// and a [`tiny`] digest each. What the descent sends for a prefix that differs.
    Children {
        prefix: Prefix,
        kids: Vec<(u64, TinyDigest)>,
    },
    /// "Under `prefix` I hold exactly these documents", each by its position (the
    /// first 64 bits of the hash of its id) and a [`tiny`] heads digest: a list at
    /// a sixth of the bytes of one that names every document. The side that lacks
    /// one asks for it by position (`WantKeys`). Never sent where two documents
    /// share a position.
    Keys {
        prefix: Prefix,
        docs: Vec<(u64, TinyDigest)>,
    },
}

/// A message between two sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncMsg {
    /// Opens a round. `reply` asks the peer to answer with its own Hello.
    Hello {
        system_id: String,
        device_id: String,
        round: u64,
        root: Digest,
        doc_count: u64,
        reply: bool,
    },
    /// Range reconciliation. `id` is non-zero exactly when `items` is non-empty (the
    /// message then expects an answer); `reply_to` names the request this answers.
    Recon {
        round: u64,
        id: u64,
        reply_to: u64,
        items: Vec<ReconItem>,
    },
    /// One automerge sync message for one document.
    DocSync {
        round: u64,
        doc_id: DocId,
        data: Vec<u8>,
    },
    /// "I will not hold this document": both sides leave it out of this session.
    Refuse { round: u64, doc_id: DocId },
    /// A whole document the peer lacks, as `Automerge::load` takes it (its `save()`,
    /// or for a document of few changes those changes), deflated once more
    /// (`packed`) when that saves enough to be worth it.
    Whole {
        round: u64,
        doc_id: DocId,
        packed: bool,
        data: Vec<u8>,
    },
    /// "I hold none of these documents: send them whole."
    Want { round: u64, docs: Vec<DocId> },
    /// `Want` for documents known only by their positions (from a `Keys` item).
    WantKeys { round: u64, keys: Vec<u64> },
    /// A `DocSync` whose automerge sync message is deflated (raw DEFLATE).
    DocSyncPacked {
        round: u64,
        doc_id: DocId,
        data: Vec<u8>,
    },
}

trait Sink {
    fn put(&mut self, bytes: &[u8]);
}
impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}
struct Count(usize);
impl Sink for Count {
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

fn put_var(s: &mut impl Sink, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            s.put(&[byte]);
            return;
        }
        s.put(&[byte | 0x80]);
    }
}
fn put_bytes(s: &mut impl Sink, b: &[u8]) {
    put_var(s, b.len() as u64);
    s.put(b);
}
fn put_prefix(s: &mut impl Sink, p: &Prefix) {
    s.put(&[p.depth]);
    let n = usize::from(p.depth.div_ceil(2)).min(8);
    s.put(&p.bits.to_be_bytes()[..n]);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], SyncError> {
        let end = self.pos.checked_add(n).ok_or(SyncError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(SyncError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, SyncError> {
        Ok(self.take(1)?[0])
    }
    fn var(&mut self) -> Result<u64, SyncError> {
        let mut v = 0u64;
        for i in 0..10u32 {
            let b = self.u8()?;
            let part = u64::from(b & 0x7f);
            if i == 9 && part > 1 {
                return Err(SyncError::Malformed("integer overflows 64 bits"));
            }
            v |= part << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(SyncError::Malformed("integer is too long"))
    }
    /// A number of documents a message claims (not elements that follow it), bounded.
    fn doc_count(&mut self) -> Result<u64, SyncError> {
        let n = self.var()?;
        if n > MAX_COUNT {
            return Err(SyncError::Malformed("document count over the limit"));
        }
        Ok(n)
    }
    /// A count that is bounded and could fit in what is left (every element takes
    /// at least one byte).
    fn count(&mut self) -> Result<usize, SyncError> {
        let n = self.var()?;
        if n > MAX_COUNT {
            return Err(SyncError::Malformed("count over the limit"));
        }
        let n = usize::try_from(n).map_err(|_| SyncError::Malformed("count over the limit"))?;
        if n > self.remaining() {
            return Err(SyncError::Truncated);
        }
        Ok(n)
    }
    fn bytes(&mut self) -> Result<&'a [u8], SyncError> {
        let n = self.var()?;
        let n = usize::try_from(n).map_err(|_| SyncError::Truncated)?;
        if n > self.remaining() {
            return Err(SyncError::Truncated);
        }
        self.take(n)
    }
    fn name(&mut self) -> Result<&'a str, SyncError> {
        let n = self.var()?;
        if n == 0 || n > MAX_NAME as u64 {
            return Err(SyncError::Malformed("name is empty or too long"));
        }
        let b = self.take(n as usize)?;
        std::str::from_utf8(b).map_err(|_| SyncError::Malformed("name is not UTF-8"))
    }
    fn doc_id(&mut self) -> Result<DocId, SyncError> {
        Ok(self.name()?.parse::<DocId>()?)
    }
    fn digest(&mut self) -> Result<Digest, SyncError> {
        let mut d = [0u8; 32];
        d.copy_from_slice(self.take(32)?);
        Ok(d)
    }
    fn short_digest(&mut self) -> Result<ShortDigest, SyncError> {
        let mut d = [0u8; SHORT];
        d.copy_from_slice(self.take(SHORT)?);
        Ok(d)
    }
    fn tiny_digest(&mut self) -> Result<TinyDigest, SyncError> {
        let mut d = [0u8; TINY];
        d.copy_from_slice(self.take(TINY)?);
        Ok(d)
    }
    fn prefix(&mut self) -> Result<Prefix, SyncError> {
        let depth = self.u8()?;
        if depth > MAX_DEPTH {
            return Err(SyncError::Malformed("prefix too deep"));
        }
        let n = usize::from(depth.div_ceil(2));
        let mut be = [0u8; 8];
        be[..n].copy_from_slice(self.take(n)?);
        Prefix::new(depth, u64::from_be_bytes(be)).ok_or(SyncError::Malformed("prefix has stray bits"))
    }
    fn round(&mut self) -> Result<u64, SyncError> {
        self.var()
    }
}

impl SyncMsg {
    /// The frame for this message.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.write(&mut out);
        out
    }

    /// The length of [`SyncMsg::encode`]'s frame, without building it.
    pub fn encoded_len(&self) -> usize {
        let mut c = Count(0);
        self.write(&mut c);
        c.0
    }

    fn write(&self, s: &mut impl Sink) {
        s.put(&[PROTOCOL_VERSION]);
        match self {
            SyncMsg::Hello {
                system_id,
                device_id,
                round,
                root,
                doc_count,
                reply,
            } => {
                s.put(&[TAG_HELLO]);
                put_bytes(s, system_id.as_bytes());
                put_bytes(s, device_id.as_bytes());
                put_var(s, *round);
                s.put(root);
                put_var(s, *doc_count);
                s.put(&[u8::from(*reply)]);
            }
            SyncMsg::Recon {
                round,
                id,
                reply_to,
                items,
            } => {
                s.put(&[TAG_RECON]);
                put_var(s, *round);
                put_var(s, *id);
                put_var(s, *reply_to);
                put_var(s, items.len() as u64);
                for item in items {
                    match item {
                        ReconItem::Fingerprint {
                            prefix,
                            count,
                            digest,
                        } => {
                            s.put(&[ITEM_FINGERPRINT]);
                            put_prefix(s, prefix);
                            put_var(s, *count);
                            s.put(digest);
                        }
                        ReconItem::List { prefix, docs } => {
                            s.put(&[ITEM_LIST]);
                            put_prefix(s, prefix);
                            put_var(s, docs.len() as u64);
                            for (id, digest) in docs {
                                put_bytes(s, id.to_string().as_bytes());
                                s.put(digest);
                            }
                        }
                        ReconItem::FingerprintShort {
                            prefix,
                            count,
                            digest,
                        } => {
                            s.put(&[ITEM_FINGERPRINT_SHORT]);
                            put_prefix(s, prefix);
                            put_var(s, *count);
                            s.put(digest);
                        }
                        ReconItem::ListShort { prefix, docs } => {
                            s.put(&[ITEM_LIST_SHORT]);
                            put_prefix(s, prefix);
                            put_var(s, docs.len() as u64);
                            for (id, digest) in docs {
                                put_bytes(s, id.to_string().as_bytes());
                                s.put(digest);
                            }
                        }
                        ReconItem::Children { prefix, kids } => {
                            s.put(&[ITEM_CHILDREN]);
                            put_prefix(s, prefix);
                            for (count, digest) in kids {
                                put_var(s, *count);
                                s.put(digest);
                            }
                        }
                        ReconItem::Keys { prefix, docs } => {
                            s.put(&[ITEM_KEYS]);
                            put_prefix(s, prefix);
                            put_var(s, docs.len() as u64);
                            // The leading bytes every position under the prefix shares
                            // go without saying.
                            let skip = usize::from(prefix.depth() / 2);
                            for (pos, digest) in docs {
                                s.put(&pos.to_be_bytes()[skip..]);
                                s.put(digest);
                            }
                        }
                    }
                }
            }
            SyncMsg::DocSync { round, doc_id, data } => {
                s.put(&[TAG_DOC_SYNC]);
                put_var(s, *round);
                put_bytes(s, doc_id.to_string().as_bytes());
                put_bytes(s, data);
            }
            SyncMsg::Refuse { round, doc_id } => {
                s.put(&[TAG_REFUSE]);
                put_var(s, *round);
                put_bytes(s, doc_id.to_string().as_bytes());
            }
            SyncMsg::Whole {
                round,
                doc_id,
                packed,
                data,
            } => {
                s.put(&[TAG_WHOLE]);
                put_var(s, *round);
                put_bytes(s, doc_id.to_string().as_bytes());
                s.put(&[u8::from(*packed)]);
                put_bytes(s, data);
            }
            SyncMsg::Want { round, docs } => {
                s.put(&[TAG_WANT]);
                put_var(s, *round);
                put_var(s, docs.len() as u64);
                for id in docs {
                    put_bytes(s, id.to_string().as_bytes());
                }
            }
            SyncMsg::WantKeys { round, keys } => {
                s.put(&[TAG_WANT_KEYS]);
                put_var(s, *round);
                put_var(s, keys.len() as u64);
                for k in keys {
                    s.put(&k.to_be_bytes());
                }
            }
            SyncMsg::DocSyncPacked { round, doc_id, data } => {
                s.put(&[TAG_DOC_SYNC_PACKED]);
                put_var(s, *round);
                put_bytes(s, doc_id.to_string().as_bytes());
                put_bytes(s, data);
            }
        }
    }

    /// Decode and validate one frame. Never panics; refuses anything malformed,
    /// oversized, truncated or followed by trailing bytes.
    pub fn decode(frame: &[u8]) -> Result<SyncMsg, SyncError> {
        if frame.len() > MAX_FRAME {
            return Err(SyncError::FrameTooLarge(frame.len()));
        }
        let mut r = Reader { buf: frame, pos: 0 };
        let version = r.u8()?;
        if version != PROTOCOL_VERSION {
            return Err(SyncError::Version(version));
        }
        let msg = match r.u8()? {
            TAG_HELLO => {
                let system_id = r.name()?.to_string();
                let device_id = r.name()?.to_string();
                let round = r.round()?;
                let root = r.digest()?;
                let doc_count = r.doc_count()?;
                let reply = match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(SyncError::Malformed("bad reply flag")),
                };
                SyncMsg::Hello {
                    system_id,
                    device_id,
                    round,
                    root,
                    doc_count,
                    reply,
                }
            }
            TAG_RECON => {
                let round = r.round()?;
                let id = r.var()?;
                let reply_to = r.var()?;
                let n = r.count()?;
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let kind = r.u8()?;
                    let prefix = r.prefix()?;
                    items.push(match kind {
                        ITEM_FINGERPRINT => {
                            let count = r.doc_count()?;
                            ReconItem::Fingerprint {
                                prefix,
                                count,
                                digest: r.digest()?,
                            }
                        }
                        ITEM_LIST => {
                            let k = r.count()?;
                            let mut docs = Vec::with_capacity(k.min(1024));
                            for _ in 0..k {
                                let id = r.doc_id()?;
                                docs.push((id, r.digest()?));
                            }
                            ReconItem::List { prefix, docs }
                        }
                        ITEM_FINGERPRINT_SHORT => {
                            let count = r.doc_count()?;
                            ReconItem::FingerprintShort {
                                prefix,
                                count,
                                digest: r.short_digest()?,
                            }
                        }
                        ITEM_LIST_SHORT => {
                            let k = r.count()?;
                            let mut docs = Vec::with_capacity(k.min(1024));
                            for _ in 0..k {
                                let id = r.doc_id()?;
                                docs.push((id, r.short_digest()?));
                            }
                            ReconItem::ListShort { prefix, docs }
                        }
                        ITEM_CHILDREN => {
                            if prefix.depth() >= MAX_DEPTH {
                                return Err(SyncError::Malformed("children below the deepest prefix"));
                            }
                            let mut kids = Vec::with_capacity(16);
                            for _ in 0..16 {
                                let count = r.doc_count()?;
                                kids.push((count, r.tiny_digest()?));
                            }
                            ReconItem::Children { prefix, kids }
                        }
                        ITEM_KEYS => {
                            let k = r.count()?;
                            let skip = usize::from(prefix.depth() / 2);
                            let (lo, hi) = prefix.bounds();
                            let mut docs = Vec::with_capacity(k.min(1024));
                            for _ in 0..k {
                                let mut be = lo.to_be_bytes();
                                be[skip..].copy_from_slice(r.take(8 - skip)?);
                                let pos = u64::from_be_bytes(be);
                                if pos < lo || pos > hi {
                                    return Err(SyncError::Malformed("a position outside its prefix"));
                                }
                                docs.push((pos, r.tiny_digest()?));
                            }
                            ReconItem::Keys { prefix, docs }
                        }
                        _ => return Err(SyncError::Malformed("unknown reconciliation item")),
                    });
                }
                if items.is_empty() != (id == 0) {
                    return Err(SyncError::Malformed("request id and items disagree"));
                }
                SyncMsg::Recon {
                    round,
                    id,
                    reply_to,
                    items,
                }
            }
            TAG_DOC_SYNC => {
                let round = r.round()?;
                let doc_id = r.doc_id()?;
                let data = r.bytes()?;
                if data.is_empty() {
                    return Err(SyncError::Malformed("empty document sync message"));
                }
                SyncMsg::DocSync {
                    round,
                    doc_id,
                    data: data.to_vec(),
                }
            }
            TAG_REFUSE => {
                let round = r.round()?;
                SyncMsg::Refuse {
                    round,
                    doc_id: r.doc_id()?,
                }
            }
            TAG_WHOLE => {
                let round = r.round()?;
                let doc_id = r.doc_id()?;
                let packed = match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(SyncError::Malformed("bad packed flag")),
                };
                let data = r.bytes()?.to_vec();
                if data.is_empty() {
                    return Err(SyncError::Malformed("empty document data"));
                }
                SyncMsg::Whole {
                    round,
                    doc_id,
                    packed,
                    data,
                }
            }
            TAG_DOC_SYNC_PACKED => {
                let round = r.round()?;
                let doc_id = r.doc_id()?;
                let data = r.bytes()?.to_vec();
                if data.is_empty() {
                    return Err(SyncError::Malformed("empty document data"));
                }
                SyncMsg::DocSyncPacked { round, doc_id, data }
            }
            TAG_WANT => {
                let round = r.round()?;
                let n = r.count()?;
                if n == 0 {
                    return Err(SyncError::Malformed("want names no document"));
                }
                let mut docs = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    docs.push(r.doc_id()?);
                }
                SyncMsg::Want { round, docs }
            }
            TAG_WANT_KEYS => {
                let round = r.round()?;
                let n = r.count()?;
                if n == 0 {
                    return Err(SyncError::Malformed("want names no document"));
                }
                let mut keys = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let mut be = [0u8; 8];
                    be.copy_from_slice(r.take(8)?);
                    keys.push(u64::from_be_bytes(be));
                }
                SyncMsg::WantKeys { round, keys }
            }
            tag => return Err(SyncError::UnknownTag(tag)),
        };
        if r.remaining() != 0 {
            return Err(SyncError::Malformed("trailing bytes"));
        }
        Ok(msg)
    }
}

/// An index of a manifest kept between sessions ([`DocSource::index_cache`]).
#[derive(Debug, Default)]
pub struct IndexCache(
    std::sync::Mutex<Option<(u64, std::sync::Arc<Index>)>>,
    /// Position keys hashed by `prepare`, which sessions look up before hashing.
    std::sync::Mutex<Option<std::sync::Arc<HashMap<DocId, Digest>>>>,
);

impl IndexCache {
    fn get(&self, generation: u64) -> Option<std::sync::Arc<Index>> {
        let held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        held.as_ref()
            .filter(|(g, _)| *g == generation)
            .map(|(_, i)| i.clone())
    }

    /// The index held, whatever its generation.
    fn latest(&self) -> Option<std::sync::Arc<Index>> {
        let held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        held.as_ref().map(|(_, i)| i.clone())
    }

    fn keys(&self) -> Option<std::sync::Arc<HashMap<DocId, Digest>>> {
        self.1.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn put(&self, generation: u64, idx: std::sync::Arc<Index>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((generation, idx));
    }

    /// Build the index of `src`'s manifest now, if it is not held yet: a driver
    /// that is about to connect does it while the handshake is under way, rather
    /// than when the peer's first question arrives.
    pub fn prepare<S: DocSource + ?Sized>(src: &S) {
        let (Some(generation), Some(cache)) = (src.manifest_generation(), src.index_cache()) else {
            return;
        };
        if cache.get(generation).is_none() {
            let mut keys = match cache.keys() {
                Some(k) => HashMap::clone(&k),
                None => HashMap::new(),
            };
            if let Some(prev) = cache.latest() {
                prev.seed_keys(&mut keys);
            }
            let idx = Index::build_with(&src.manifest(), &BTreeSet::new(), None, &mut keys);
            cache.put(generation, std::sync::Arc::new(idx));
            *cache.1.lock().unwrap_or_else(|p| p.into_inner()) = Some(std::sync::Arc::new(keys));
        }
    }
}

/// The replica's documents, as a session sees them. The node implements this over
/// its store; the session never keeps a document.
pub trait DocSource {
    /// Every document this replica holds, with its heads digest.
    fn manifest(&self) -> std::borrow::Cow<'_, Manifest>;
    /// A number that changes whenever `manifest` may answer differently, or `None`
    /// when the source cannot tell (the session then rebuilds its index on every
    /// message). A session consults the manifest on every message; with a generation
    /// it sorts and hashes a thousand entries once, not each time.
    fn manifest_generation(&self) -> Option<u64> {
        None
    }
    /// Where sessions over this source share the index they build of its manifest,
    /// if it keeps one: a node that syncs with several peers, or reconnects, then
    /// builds it once per manifest generation rather than once per session. Only
    /// while `manifest_generation` names the manifest alone (no edits of its own).
    fn index_cache(&self) -> Option<&IndexCache> {
        None
    }
    /// `manifest` as a shared value, if the source keeps it so. A session whose
    /// index was built from this very value (the same allocation, which it holds
    /// on to) reuses that index whatever `manifest_generation` says since.
    fn manifest_shared(&self) -> Option<std::sync::Arc<Manifest>> {
        None
    }
    /// The sync state saved with this peer for `id` ([`Session::take_dirty_states`]),
    /// if any. Asked the first time the session needs a document's state, so a
    /// reconnect reads the states of the documents that differ, not of all of them.
    fn saved_state(&mut self, _id: &DocId) -> Option<Vec<u8>> {
        None
    }
    /// A document, if this replica holds it.
    fn doc(&mut self, id: &DocId) -> Option<&mut Automerge>;

    /// Create a document the peer has and this replica lacks: its skeleton
    /// (`crate::doc::new_doc` with the local actor). `None` refuses it (a purged
    /// document, or one this replica may not hold); the session then leaves it out.
    fn create_empty(&mut self, id: &DocId) -> Option<&mut Automerge>;
    /// Take a whole document the peer sent, which this replica lacks (loaded and
    /// checked by automerge from `bytes`, which `Automerge::load` takes and a store
    /// may keep as they are; `deflated` is the same bytes as raw DEFLATE, as they
    /// came, if they came so). `None` refuses it, as `create_empty` does. The
    /// default merges it into `create_empty`'s skeleton.
    fn adopt(
        &mut self,
        id: &DocId,
        mut doc: Automerge,
        _bytes: &[u8],
        _deflated: Option<&[u8]>,
    ) -> Option<&mut Automerge> {
        let mine = self.create_empty(id)?;
        mine.merge(&mut doc).ok()?;
        Some(mine)
    }
    /// A document was created or changed by what the peer sent (persist it, update
    /// the index, push it to other peers).
    fn on_changed(&mut self, id: &DocId);
    /// The session is about to ask for each of these documents, one after another.
    /// A source that reads them from disk may load them ahead, side by side. Only a
    /// hint: what `doc` returns afterwards is what counts.
    fn prefetch(&mut self, _ids: &[DocId]) {}
}

/// A received frame, decoded, with the costly part of handling it done: a whole
/// document inflated and loaded by automerge. That part needs no session, so a
/// driver holding many frames prepares them side by side and then hands them to
/// [`Session::handle_prepared`] in order.
pub struct Prepared {
    msg: Ready,
    len: usize,
}

enum Ready {
    Msg(SyncMsg),
    Whole {
        round: u64,
        doc_id: DocId,
        /// The bytes `Automerge::load` took, and the document. A failure is the
        /// peer's fault, reported only if the message belongs to the current round.
        loaded: Box<Result<Whole, SyncError>>,
    },
}

impl Prepared {
    /// The length of the frame it was prepared from.
    pub fn frame_len(&self) -> usize {
        self.len
    }

    /// The document the frame carries whole, if it does and it loaded: so that
    /// the caller can work out more from it (its index rows) before the session
    /// handles it.
    pub fn whole_doc(&self) -> Option<(&DocId, &Automerge)> {
        match &self.msg {
            Ready::Whole { doc_id, loaded, .. } => match &**loaded {
                Ok(w) => Some((doc_id, &w.doc)),
                Err(_) => None,
            },
            Ready::Msg(_) => None,
        }
    }

    /// The document whose own copy handling this frame reads (an automerge sync
    /// message about it): a driver holding several frames can have the source load
    /// them together ([`DocSource::prefetch`]) rather than one per message.
    pub fn doc_read(&self) -> Option<&DocId> {
        match &self.msg {
            Ready::Msg(SyncMsg::DocSync { doc_id, .. } | SyncMsg::DocSyncPacked { doc_id, .. }) => {
                Some(doc_id)
            }
            _ => None,
        }
    }

    /// Decode `frame`; load the document it carries whole, if it does.
    pub fn new(frame: &[u8]) -> Result<Prepared, SyncError> {
        let msg = match SyncMsg::decode(frame)? {
            SyncMsg::Whole {
                round,
                doc_id,
                packed,
                data,
            } => {
                let loaded = Box::new(load_whole(&doc_id, packed, data));
                Ready::Whole {
                    round,
                    doc_id,
                    loaded,
                }
            }
            other => Ready::Msg(other),
        };
        Ok(Prepared {
            msg,
            len: frame.len(),
        })
    }
}

/// A document a `Whole` message carried.
struct Whole {
    /// What `Automerge::load` took.
    bytes: Vec<u8>,
    /// The same, deflated (raw DEFLATE), as it came, if it came so.
    deflated: Option<Vec<u8>>,
    doc: Automerge,
}

/// The document a `Whole` message carries, with the bytes it was loaded from.
fn load_whole(id: &DocId, packed: bool, data: Vec<u8>) -> Result<Whole, SyncError> {
    let (bytes, deflated) = if packed {
        let bytes = inflate(&data).ok_or_else(|| SyncError::BadSyncMessage {
            doc: id.to_string(),
            reason: "the deflated document does not inflate within the frame limit".into(),
        })?;
        (bytes, Some(data))
    } else {
        (data, None)
    };
    let doc = Automerge::load(&bytes).map_err(|e| SyncError::BadSyncMessage {
        doc: id.to_string(),
        reason: e.to_string(),
    })?;
    Ok(Whole { bytes, deflated, doc })
}

/// Counters of one session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStats {
    pub messages_sent: u64,
    pub messages_received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Document exchanges that ended with both sides at the same heads.
    pub docs_synced: u64,
    /// Times a received message changed (or created) a local document.
    pub docs_updated: u64,
    /// Changes applied from the peer.
    pub changes_received: u64,
    /// Change chunks sent (one per change; a whole-document chunk counts as one).
    pub change_chunks_sent: u64,
    /// Rounds this side opened (start and restarts).
    pub rounds: u64,
    /// Rounds opened because the peer fell silent.
    pub timeouts: u64,
    /// Messages ignored as stale (older round) or duplicate.
    pub dropped: u64,
}

/// Sync with one peer over one connection.
#[derive(Debug)]
pub struct Session {
    system_id: String,
    device_id: String,
    peer: Option<String>,
    round: u64,
    started: bool,
    /// A Hello of the current round came from the peer.
    hello_done: bool,
    caught_up: bool,
    timeout_ms: i64,
    /// When the peer was last heard from (or the round opened).
    last_activity: i64,
    /// The time of the call being handled.
    now: i64,
    next_id: u64,
    /// Our Recon requests not yet answered, with when they were sent.
    outstanding: BTreeMap<u64, i64>,
    /// The peer's Recon requests already handled this round.
    seen: BTreeSet<u64>,
    /// The pending check: request id and the root digest it carried.
    check: Option<(u64, Digest)>,
    states: BTreeMap<DocId, am::State>,
    dirty: BTreeSet<DocId>,
    /// Documents whose exchange is in progress (the peer's heads differ from ours),
    /// with when we last sent or heard about each.
    active: BTreeMap<DocId, i64>,
    /// Documents refused by either side: left out of this session.
    excluded: BTreeSet<DocId>,
    /// Positions of documents asked for with `WantKeys`, with when.
    wanted: BTreeMap<u64, i64>,
    /// Checks of this round answered with a difference.
    checks_failed: u32,
    /// [`LEAF`], lowered by tests to make prefixes split with few documents.
    leaf: u64,
    /// Documents' position keys in the index, computed once per session.
    keys: std::cell::RefCell<HashMap<DocId, Digest>>,
    /// The index last built, and what it was built for.
    index_cache: std::cell::RefCell<Option<HeldIndex>>,
    stats: SyncStats,
}

/// A session's index, with the manifest generation, the number of excluded
/// documents, and the manifest value (if the source shares it) it was built from.
#[derive(Debug)]
struct HeldIndex {
    generation: u64,
    excluded: usize,
    index: std::sync::Arc<Index>,
    manifest: Option<std::sync::Arc<Manifest>>,
}

/// What a sync state keeps across connections (the heads both sides share).
fn persisted(state: &am::State) -> am::State {
    am::State::decode(&state.encode()).unwrap_or_default()
}

/// A saved sync state, resumed on the guess that the peer still holds the heads both
/// sides last shared: the first message then carries every change made since,
/// rather than only heads and a filter, which would cost a round trip before any
/// change moved. A wrong guess costs nothing but that round trip: changes whose
/// history the peer lacks wait in its queue, and its answer says what it needs.
fn resumed(state: &am::State) -> am::State {
    let mut st = persisted(state);
    if st.shared_heads.is_empty() {
        return st;
    }
    let heads = st.shared_heads.clone();
    st.their_heads = Some(heads.clone());
    st.their_need = Some(Vec::new());
    st.their_have = Some(vec![am::Have {
        last_sync: heads,
        ..Default::default()
    }]);
    st
}

/// automerge trusts a peer's Bloom filter parameters: zero bits per entry divides
/// by zero, and a huge probe count allocates gigabytes per change. Refuse both
/// before automerge sees them (it itself writes 10 bits and 7 probes).
fn bloom_problem(bytes: &[u8]) -> Option<&'static str> {
    fn leb(b: &[u8], pos: &mut usize) -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*pos)?;
            *pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    if bytes.is_empty() {
        return None;
    }
    let mut pos = 0;
    let (Some(entries), Some(bits), Some(probes)) =
        (leb(bytes, &mut pos), leb(bytes, &mut pos), leb(bytes, &mut pos))
    else {
        return Some("unreadable Bloom filter");
    };
    if entries > 0 && !(1..=64).contains(&bits) {
        return Some("Bloom filter with an impossible number of bits per entry");
    }
    if entries > 0 && !(1..=32).contains(&probes) {
        return Some("Bloom filter with an impossible number of probes");
    }
    None
}

fn same_heads(a: &[ChangeHash], b: &[ChangeHash]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

impl Session {
    /// A session of this replica (`local_system_id`, `local_device`) with a peer not
    /// yet known: the peer is whoever sends the first Hello.
    pub fn new(local_system_id: impl Into<String>, local_device: impl Into<String>) -> Session {
        Session {
            system_id: local_system_id.into(),
            device_id: local_device.into(),
            peer: None,
            round: 0,
            started: false,
            hello_done: false,
            caught_up: false,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            last_activity: 0,
            now: 0,
            next_id: 0,
            outstanding: BTreeMap::new(),
            seen: BTreeSet::new(),
            check: None,
            states: BTreeMap::new(),
            dirty: BTreeSet::new(),
            active: BTreeMap::new(),
            excluded: BTreeSet::new(),
            wanted: BTreeMap::new(),
            checks_failed: 0,
            leaf: LEAF,
            keys: Default::default(),
            index_cache: Default::default(),
            stats: SyncStats::default(),
        }
    }

    /// Silence (in ms) after which a session that is not caught up starts over.
    pub fn with_timeout(mut self, timeout_ms: i64) -> Session {
        self.timeout_ms = timeout_ms.max(1);
        self
    }

    #[cfg(test)]
    fn with_leaf(mut self, leaf: u64) -> Session {
        self.leaf = leaf;
        self
    }

    /// The peer's device id, once its Hello has arrived.
    pub fn peer_device(&self) -> Option<&str> {
        self.peer.as_deref()
    }

    /// Both sides held the same documents when last compared, and nothing has been
    /// sent or received since that needs confirming.
    pub fn is_caught_up(&self) -> bool {
        self.caught_up
    }

    /// Documents whose exchange with the peer is under way (what is still waiting).
    pub fn docs_in_flight(&self) -> usize {
        self.active.len() + self.wanted.len()
    }

    pub fn stats(&self) -> &SyncStats {
        &self.stats
    }

    /// The current round (0 before the first Hello).
    pub fn round(&self) -> u64 {
        self.round
    }

    /// Resume a document's sync state with this peer, as saved by
    /// [`Session::export_states`] or [`Session::take_dirty_states`].
    pub fn import_state(&mut self, id: DocId, bytes: &[u8]) -> Result<(), SyncError> {
        let state = am::State::decode(bytes).map_err(|e| SyncError::BadState {
            doc: id.to_string(),
            reason: e.to_string(),
        })?;
        self.states.insert(id, state);
        Ok(())
    }

    /// Every document's sync state with this peer, encoded for storage.
    pub fn export_states(&self) -> BTreeMap<DocId, Vec<u8>> {
        self.states
            .iter()
            .map(|(id, st)| (id.clone(), st.encode()))
            .collect()
    }

    /// The sync states that changed since the last call, encoded for storage.
    pub fn take_dirty_states(&mut self) -> Vec<(DocId, Vec<u8>)> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty
            .into_iter()
            .filter_map(|id| self.states.get(&id).map(|st| (id.clone(), st.encode())))
            .collect()
    }

    /// Open a round: the first Hello. Call on connect (either side or both).
    pub fn start<S: DocSource + ?Sized>(&mut self, src: &S, now_ms: i64) -> Vec<SyncMsg> {
        self.now = now_ms;
        self.round = self.round.saturating_add(1);
        self.reset_transient();
        self.started = true;
        self.last_activity = now_ms;
        self.stats.rounds += 1;
        let (doc_count, root) = self.index(src).fingerprint(Prefix::ROOT);
        let mut out = Vec::new();
        let hello = self.hello(root, doc_count, true);
        self.emit(&mut |m| out.push(m), hello);
        out
    }

    /// When [`Session::handle_timeout`] wants to be called, if at all.
    ///
    /// A session that is not caught up times out when the peer has been silent for
    /// the timeout, or when a request or a document exchange has waited that long
    /// for its answer even though other messages kept arriving.
    pub fn poll_timeout(&self) -> Option<i64> {
        if !self.started || self.caught_up {
            return None;
        }
        let oldest = self
            .outstanding
            .values()
            .chain(self.active.values())
            .chain(self.wanted.values())
            .fold(self.last_activity, |a, &b| a.min(b));
        Some(oldest.saturating_add(self.timeout_ms))
    }

    /// Start a new round if the peer has been silent too long.
    pub fn handle_timeout<S: DocSource + ?Sized>(&mut self, src: &S, now_ms: i64) -> Vec<SyncMsg> {
        match self.poll_timeout() {
            Some(deadline) if now_ms >= deadline => {
                self.stats.timeouts += 1;
                self.start(src, now_ms)
            }
            _ => Vec::new(),
        }
    }

    /// Decode a received frame and handle it.
    pub fn handle_bytes<S: DocSource + ?Sized>(
        &mut self,
        src: &mut S,
        frame: &[u8],
        now_ms: i64,
    ) -> Result<Vec<SyncMsg>, SyncError> {
        let p = Prepared::new(frame)?;
        self.handle_prepared(src, p, now_ms)
    }

    /// Handle a frame [`Prepared`] beforehand (perhaps on another thread).
    pub fn handle_prepared<S: DocSource + ?Sized>(
        &mut self,
        src: &mut S,
        p: Prepared,
        now_ms: i64,
    ) -> Result<Vec<SyncMsg>, SyncError> {
        let mut out = Vec::new();
        self.handle_prepared_into(src, p, now_ms, &mut |m| out.push(m))?;
        Ok(out)
    }

    /// Handle a prepared frame, handing each reply to `out` as soon as it is made:
    /// a frame that asks for many documents gets the first on its way while the
    /// rest are still being made. On an error, what `out` was given stands.
    pub fn handle_prepared_into<S: DocSource + ?Sized>(
        &mut self,
        src: &mut S,
        p: Prepared,
        now_ms: i64,
        out: &mut Replies<'_>,
    ) -> Result<(), SyncError> {
        match p.msg {
            Ready::Msg(msg) => self.handle_inner(src, msg, p.len, now_ms, out),
            Ready::Whole {
                round,
                doc_id,
                loaded,
            } => {
                self.now = now_ms;
                self.stats.messages_received += 1;
                self.stats.bytes_received += p.len as u64;
                if self.accept(round, now_ms) {
                    self.on_whole(src, doc_id, *loaded, out)?;
                }
                self.maybe_check(src, out);
                Ok(())
            }
        }
    }

    /// Handle a received message; returns the messages to send back. An error means
    /// the peer broke the protocol (or belongs to another library system): close
    /// the connection.
    pub fn handle<S: DocSource + ?Sized>(
        &mut self,
        src: &mut S,
        msg: SyncMsg,
        now_ms: i64,
    ) -> Result<Vec<SyncMsg>, SyncError> {
        let len = msg.encoded_len();
        let mut out = Vec::new();
        self.handle_inner(src, msg, len, now_ms, &mut |m| out.push(m))?;
        Ok(out)
    }

    /// A local write changed `id`: push its new changes to the peer (live sync).
    pub fn local_change<S: DocSource + ?Sized>(
        &mut self,
        src: &mut S,
        id: &DocId,
        now_ms: i64,
    ) -> Vec<SyncMsg> {
        self.now = now_ms;
        let mut v = Vec::new();
        let out: &mut Replies<'_> = &mut |m| v.push(m);
        if !self.hello_done || self.excluded.contains(id) {
            return v;
        }
        self.ensure_state(src, id);
        let Some(doc) = src.doc(id) else {
            return v;
        };
        let state = self.states.entry(id.clone()).or_default();
        let msg = doc.generate_sync_message(state);
        if let Some(m) = msg {
            if self.caught_up {
                self.last_activity = now_ms;
            }
            self.caught_up = false;
            self.active.insert(id.clone(), now_ms);
            self.emit_doc(out, id.clone(), m);
        }
        self.maybe_check(src, out);
        v
    }

    fn handle_inner<S: DocSource + ?Sized>(
        &mut self,
        src: &mut S,
        msg: SyncMsg,
        len: usize,
        now_ms: i64,
        out: &mut Replies<'_>,
    ) -> Result<(), SyncError> {
        self.now = now_ms;
        self.stats.messages_received += 1;
        self.stats.bytes_received += len as u64;
        match msg {
            SyncMsg::Hello {
                system_id,
                device_id,
                round,
                root,
                doc_count,
                reply,
            } => {
                self.on_hello(
                    src,
                    Hello {
                        system_id,
                        device_id,
                        round,
                        root,
                        doc_count,
                        reply,
                    },
                    now_ms,
                    out,
                )?;
            }
            SyncMsg::Recon {
                round,
                id,
                reply_to,
                items,
            } => {
                if self.accept(round, now_ms) {
                    self.on_recon(src, id, reply_to, items, out);
                }
            }
            SyncMsg::DocSync { round, doc_id, data } => {
                if self.accept(round, now_ms) {
                    self.on_doc_sync(src, doc_id, &data, out)?;
                }
            }
            SyncMsg::Refuse { round, doc_id } => {
                if self.accept(round, now_ms) {
                    self.active.remove(&doc_id);
                    self.wanted.remove(&self.position(&doc_id));
                    self.excluded.insert(doc_id);
                    self.caught_up = false;
                }
            }
            SyncMsg::DocSyncPacked { round, doc_id, data } => {
                if self.accept(round, now_ms) {
                    let data = inflate(&data).ok_or_else(|| SyncError::BadSyncMessage {
                        doc: doc_id.to_string(),
                        reason: "the deflated message does not inflate within the frame limit".into(),
                    })?;
                    self.on_doc_sync(src, doc_id, &data, out)?;
                }
            }
            SyncMsg::Whole {
                round,
                doc_id,
                packed,
                data,
            } => {
                if self.accept(round, now_ms) {
                    let loaded = load_whole(&doc_id, packed, data);
                    self.on_whole(src, doc_id, loaded, out)?;
                }
            }
            SyncMsg::WantKeys { round, keys } => {
                if self.accept(round, now_ms) {
                    let keys: BTreeSet<u64> = keys.into_iter().collect();
                    // Every document held, refused ones too (the peer hears so).
                    let ids: Vec<DocId> = src
                        .manifest()
                        .keys()
                        .filter(|id| keys.contains(&self.position(id)))
                        .cloned()
                        .collect();
                    for id in ids {
                        if self.excluded.contains(&id) {
                            self.refuse(id, out);
                        } else {
                            self.give_whole(src, id, out);
                        }
                    }
                }
            }
            SyncMsg::Want { round, docs } => {
                if self.accept(round, now_ms) {
                    if docs.len() > 1 {
                        src.prefetch(&docs);
                    }
                    for id in docs {
                        if self.excluded.contains(&id) || src.doc(&id).is_none() {
                            self.refuse(id, out);
                        } else {
                            self.give_whole(src, id, out);
                        }
                    }
                }
            }
        }
        self.maybe_check(src, out);
        Ok(())
    }

    /// Whether a non-Hello message belongs to the current round.
    fn accept(&mut self, round: u64, now_ms: i64) -> bool {
        if self.peer.is_none() || round == 0 || round != self.round {
            self.stats.dropped += 1;
            return false;
        }
        self.last_activity = now_ms;
        true
    }

    fn on_hello<S: DocSource + ?Sized>(
        &mut self,
        src: &mut S,
        h: Hello,
        now_ms: i64,
        out: &mut Replies<'_>,
    ) -> Result<(), SyncError> {
        if h.system_id != self.system_id {
            return Err(SyncError::ForeignSystem {
                expected: self.system_id.clone(),
                found: h.system_id,
            });
        }
        if h.device_id == self.device_id {
            return Err(SyncError::SelfPeer);
        }
        if let Some(was) = &self.peer {
            if *was != h.device_id {
                return Err(SyncError::PeerChanged {
                    was: was.clone(),
                    now: h.device_id,
                });
            }
        }
        if h.round == 0 || h.round < self.round {
            self.stats.dropped += 1;
            return Ok(());
        }
        if h.round > self.round {
            self.round = h.round;
            self.reset_transient();
        }
        self.peer = Some(h.device_id);
        self.started = true;
        self.hello_done = true;
        self.last_activity = now_ms;
        let idx = self.index(src);
        let (count, root) = idx.fingerprint(Prefix::ROOT);
        if h.reply {
            let hello = self.hello(root, count, false);
            self.emit(out, hello);
        }
        if root == h.root && count == h.doc_count {
            self.mark_caught_up();
            return Ok(());
        }
        self.caught_up = false;
        if self.is_driver() && self.outstanding.is_empty() {
            let mut items = Vec::new();
            let mut to_sync = Diff::default();
            let theirs = (h.doc_count, Their::Short(&h.root[..]));
            let descent = Descent::new(&idx, self);
            descent.answer(Prefix::ROOT, theirs, &mut items, &mut to_sync);
            self.begin_docs(src, to_sync, out);
            if !items.is_empty() {
                let id = self.next_request();
                let msg = SyncMsg::Recon {
                    round: self.round,
                    id,
                    reply_to: 0,
                    items,
                };
                self.emit(out, msg);
            }
        }
        Ok(())
    }

    fn on_recon<S: DocSource + ?Sized>(
        &mut self,
        src: &mut S,
        id: u64,
        reply_to: u64,
        items: Vec<ReconItem>,
        out: &mut Replies<'_>,
    ) {
        if id != 0 && !self.seen.insert(id) {
            self.stats.dropped += 1;
            return;
        }
        if reply_to != 0 {
            let known = self.outstanding.remove(&reply_to).is_some();
            if !known && id == 0 {
                self.stats.dropped += 1;
                return;
            }
            if let Some((check_id, sent_root)) = self.check {
                if known && check_id == reply_to {
                    self.check = None;
                    if items.is_empty() && self.index(src).fingerprint(Prefix::ROOT).1 == sent_root {
                        self.mark_caught_up();
                    } else if !items.is_empty() {
                        self.checks_failed += 1;
                        if self.checks_failed >= CHECKS_PER_ROUND {
                            let now = self.now;
                            for m in self.start(&*src, now) {
                                out(m);
                            }
                            return;
                        }
                    }
                }
            }
        }
        if items.is_empty() {
            return;
        }
        let idx = self.index(src);
        let mut resp = Vec::new();
        let mut to_sync = Diff::default();
        let descent = Descent::new(&idx, self);
        let mut root_equal = false;
        let mut done: BTreeSet<(u8, Prefix)> = BTreeSet::new();
        for item in items {
            match item {
                ReconItem::Fingerprint {
                    prefix,
                    count,
                    digest,
                } => {
                    if !done.insert((ITEM_FINGERPRINT, prefix)) {
                        continue;
                    }
                    if prefix == Prefix::ROOT && idx.fingerprint(prefix) == (count, digest) {
                        root_equal = true;
                        continue;
                    }
                    let theirs = (count, Their::Short(&digest[..]));
                    descent.answer(prefix, theirs, &mut resp, &mut to_sync);
                }
                ReconItem::FingerprintShort {
                    prefix,
                    count,
                    digest,
                } => {
                    if !done.insert((ITEM_FINGERPRINT, prefix)) {
                        continue;
                    }
                    let theirs = (count, Their::Short(&digest[..]));
                    descent.answer(prefix, theirs, &mut resp, &mut to_sync);
                }
                ReconItem::Children { prefix, kids } => {
                    for (nibble, (count, digest)) in (0u8..16).zip(&kids) {
                        let Some(child) = prefix.child(nibble) else {
                            continue;
                        };
                        if !done.insert((ITEM_FINGERPRINT, child)) {
                            continue;
                        }
                        let theirs = (*count, Their::Tiny(digest));
                        descent.answer(child, theirs, &mut resp, &mut to_sync);
                    }
                }
                ReconItem::Keys { prefix, docs } => {
                    if !done.insert((ITEM_LIST, prefix)) {
                        continue;
                    }
                    self.diff_keys(&idx, prefix, &docs, &mut to_sync);
                }
                ReconItem::List { prefix, docs } => {
                    if !done.insert((ITEM_LIST, prefix)) {
                        continue;
                    }
                    let docs: Vec<(DocId, &[u8])> = docs.iter().map(|(id, d)| (id.clone(), &d[..])).collect();
                    self.diff_list(&idx, prefix, &docs, &mut to_sync);
                }
                ReconItem::ListShort { prefix, docs } => {
                    if !done.insert((ITEM_LIST, prefix)) {
                        continue;
                    }
                    let docs: Vec<(DocId, &[u8])> = docs.iter().map(|(id, d)| (id.clone(), &d[..])).collect();
                    self.diff_list(&idx, prefix, &docs, &mut to_sync);
                }
            }
        }
        if root_equal && resp.is_empty() && to_sync.is_empty() {
            self.mark_caught_up();
        } else {
            self.caught_up = false;
        }
        self.begin_docs(src, to_sync, out);
        let rid = if resp.is_empty() { 0 } else { self.next_request() };
        let msg = SyncMsg::Recon {
            round: self.round,
            id: rid,
            reply_to: id,
            items: resp,
        };
        self.emit(out, msg);
    }

    /// The documents that differ under `prefix`, given the peer's list there.
    fn diff_list(&self, idx: &Index, prefix: Prefix, theirs: &[(DocId, &[u8])], to_sync: &mut Diff) {
        let ours: BTreeMap<&DocId, &Digest> = idx.range(prefix).iter().map(|e| (&e.id, &e.digest)).collect();
        let theirs_map: BTreeMap<&DocId, &[u8]> = theirs
            .iter()
            .filter(|(id, _)| !self.excluded.contains(id))
            .map(|(id, d)| (id, *d))
            .collect();
        for (id, digest) in &ours {
            match theirs_map.get(id) {
                None => {
                    to_sync.give.insert((*id).clone());
                }
                Some(d) if !digest.starts_with(d) => {
                    to_sync.sync.insert((*id).clone());
                }
                Some(_) => {}
            }
        }
        for id in theirs_map.keys() {
            if !ours.contains_key(id) {
                to_sync.want.insert((*id).clone());
            }
        }
    }

    /// The documents that differ under `prefix`, given the peer's positions there.
    fn diff_keys(&self, idx: &Index, prefix: Prefix, theirs: &[(u64, TinyDigest)], to_sync: &mut Diff) {
        let ours = idx.range(prefix);
        let theirs: BTreeMap<u64, &TinyDigest> = theirs.iter().map(|(p, d)| (*p, d)).collect();
        for e in ours {
            match theirs.get(&e.pos) {
                None => {
                    to_sync.give.insert(e.id.clone());
                }
                Some(d) if tiny(self.round, &e.digest) != **d => {
                    to_sync.sync.insert(e.id.clone());
                }
                Some(_) => {}
            }
        }
        let held: BTreeSet<u64> = ours.iter().map(|e| e.pos).collect();
        to_sync
            .want_keys
            .extend(theirs.keys().filter(|p| !held.contains(p)));
    }

    /// A document's position in the index: the first 64 bits of its id's hash.
    fn position(&self, id: &DocId) -> u64 {
        let key = *self
            .keys
            .borrow_mut()
            .entry(id.clone())
            .or_insert_with(|| position_key(id));
        pos_of(&key)
    }

    fn begin_docs<S: DocSource + ?Sized>(&mut self, src: &mut S, diff: Diff, out: &mut Replies<'_>) {
        // What this side lacks is asked for first: the peer's answer (documents whole,
        // which the peer saves and this side loads) takes longest to arrive and to
        // handle, and it comes while this side loads and syncs the documents both hold.
        let want: Vec<DocId> = diff
            .want
            .into_iter()
            .filter(|id| !self.excluded.contains(id) && !self.active.contains_key(id))
            .collect();
        if !want.is_empty() {
            for id in &want {
                self.active.insert(id.clone(), self.now);
            }
            self.caught_up = false;
            let msg = SyncMsg::Want {
                round: self.round,
                docs: want,
            };
            self.emit(out, msg);
        }
        let keys: Vec<u64> = diff
            .want_keys
            .into_iter()
            .filter(|k| !self.wanted.contains_key(k))
            .collect();
        if !keys.is_empty() {
            for k in &keys {
                self.wanted.insert(*k, self.now);
            }
            self.caught_up = false;
            let msg = SyncMsg::WantKeys {
                round: self.round,
                keys,
            };
            self.emit(out, msg);
        }
        let ahead: Vec<DocId> = diff
            .sync
            .iter()
            .chain(&diff.give)
            .filter(|id| !self.excluded.contains(*id) && !self.active.contains_key(*id))
            .cloned()
            .collect();
        if ahead.len() > 1 {
            src.prefetch(&ahead);
        }
        for id in diff.sync {
            self.begin_doc(src, id, out);
        }
        for id in diff.give {
            self.give_whole(src, id, out);
        }
    }

    /// The peer lacks `id`: send it whole (or, if it is too large for one frame,
    /// through automerge's protocol).
    fn give_whole<S: DocSource + ?Sized>(&mut self, src: &mut S, id: DocId, out: &mut Replies<'_>) {
        if self.excluded.contains(&id) || self.active.contains_key(&id) {
            return;
        }
        let Some(doc) = src.doc(&id) else {
            return;
        };
        // What `Automerge::load` takes: a document of a few small changes as those
        // changes (each compressed by automerge), which is smaller than a saved
        // document's header and columns; a longer or larger one as automerge's
        // `save()`, which is also several times faster to produce than its changes,
        // and to load: automerge rebuilds a saved document's operations in bulk, but
        // applies changes one operation at a time. The save is not deflated column
        // by column (automerge sets up a new compressor for each, which cost more
        // than the rest of the save): the frame is deflated whole below.
        let meta = doc.get_changes_meta(&[]);
        let ops: u64 = meta
            .iter()
            .map(|m| (m.max_op + 1).saturating_sub(m.start_op))
            .sum();
        let saved = if meta.len() <= FEW_CHANGES && ops <= FEW_OPS {
            doc.get_changes(&[])
                .into_iter()
                .flat_map(|mut c| c.bytes().into_owned())
                .collect()
        } else {
            doc.save_nocompress()
        };
        let (packed, data) = match pack(&saved) {
            Some(z) => (true, z),
            None => (false, saved),
        };
        if data.len() + 2 * MAX_NAME + 32 > MAX_FRAME {
            self.begin_doc(src, id, out);
            return;
        }
        self.caught_up = false;
        self.stats.change_chunks_sent += 1;
        let heads = doc.get_heads();
        self.settle(&id, heads);
        let msg = SyncMsg::Whole {
            round: self.round,
            doc_id: id,
            packed,
            data,
        };
        self.emit(out, msg);
    }

    /// A whole document from the peer: adopt it, or merge it into ours.
    fn on_whole<S: DocSource + ?Sized>(
        &mut self,
        src: &mut S,
        id: DocId,
        loaded: Result<Whole, SyncError>,
        out: &mut Replies<'_>,
    ) -> Result<(), SyncError> {
        if self.excluded.contains(&id) {
            self.refuse(id, out);
            return Ok(());
        }
        let Whole {
            bytes,
            deflated,
            doc: mut incoming,
        } = loaded?;
        let theirs = incoming.get_heads();
        let new_changes = if let Some(doc) = src.doc(&id) {
            let before = doc.get_heads();
            doc.merge(&mut incoming).map_err(|e| SyncError::Apply {
                doc: id.to_string(),
                source: Box::new(e),
            })?;
            doc.get_changes_meta(&before).len() as u64
        } else {
            // The skeleton is the same on every replica: not counted as received.
            let skeleton = automerge::ActorId::from(crate::doc::SKELETON_ACTOR.as_slice());
            let n = incoming
                .get_changes_meta(&[])
                .iter()
                .filter(|m| *m.actor != skeleton)
                .count() as u64;
            if src.adopt(&id, incoming, &bytes, deflated.as_deref()).is_none() {
                self.refuse(id, out);
                return Ok(());
            }
            n
        };
        src.on_changed(&id);
        self.stats.docs_updated += 1;
        self.stats.changes_received += new_changes;
        self.caught_up = false;
        self.wanted.remove(&self.position(&id));
        self.settle(&id, theirs);
        if self.active.remove(&id).is_some() {
            self.stats.docs_synced += 1;
        }
        Ok(())
    }

    /// A whole document went across: both sides now hold `heads`. The sync state says
    /// so, as if automerge's own exchange had ended there, so that a later change is
    /// pushed at once rather than after a round trip of heads.
    fn settle(&mut self, id: &DocId, heads: Vec<ChangeHash>) {
        let mut st = am::State::new();
        st.shared_heads = heads.clone();
        st.last_sent_heads = heads.clone();
        st.their_heads = Some(heads.clone());
        st.their_need = Some(Vec::new());
        st.their_have = Some(vec![am::Have {
            last_sync: heads,
            ..Default::default()
        }]);
        st.have_responded = true;
        self.states.insert(id.clone(), st);
        self.dirty.insert(id.clone());
    }

    /// Reconciliation found `id` different: open (or reopen) its exchange.
    fn begin_doc<S: DocSource + ?Sized>(&mut self, src: &mut S, id: DocId, out: &mut Replies<'_>) {
        if self.excluded.contains(&id) || self.active.contains_key(&id) {
            return;
        }
        self.ensure_state(src, &id);
        let have = src.doc(&id).is_some();
        let doc = if have { src.doc(&id) } else { src.create_empty(&id) };
        let Some(doc) = doc else {
            self.refuse(id, out);
            return;
        };
        let state = self.states.entry(id.clone()).or_default();
        *state = resumed(state);
        let msg = doc.generate_sync_message(state);
        if !have {
            src.on_changed(&id);
            self.stats.docs_updated += 1;
        }
        self.caught_up = false;
        self.active.insert(id.clone(), self.now);
        if let Some(m) = msg {
            self.emit_doc(out, id, m);
        }
    }

    fn on_doc_sync<S: DocSource + ?Sized>(
        &mut self,
        src: &mut S,
        id: DocId,
        data: &[u8],
        out: &mut Replies<'_>,
    ) -> Result<(), SyncError> {
        if self.excluded.contains(&id) {
            self.refuse(id, out);
            return Ok(());
        }
        let msg = am::Message::decode(data).map_err(|e| SyncError::BadSyncMessage {
            doc: id.to_string(),
            reason: e.to_string(),
        })?;
        if let Some(reason) = msg.have.iter().find_map(|h| bloom_problem(&h.bloom.to_bytes())) {
            return Err(SyncError::BadSyncMessage {
                doc: id.to_string(),
                reason: reason.into(),
            });
        }
        self.ensure_state(src, &id);
        let have = src.doc(&id).is_some();
        let doc = if have { src.doc(&id) } else { src.create_empty(&id) };
        let Some(doc) = doc else {
            self.refuse(id, out);
            return Ok(());
        };
        // A peer resuming from a sync state newer than this replica (restored from an
        // older copy of it) claims to share changes this replica lacks. automerge would
        // answer with a reset, after which the peer sends the whole document; ignoring
        // the claim instead, this side answers with what it has and the peer sends
        // just what it lacks.
        let mut msg = msg;
        msg.have.retain(|h| {
            h.last_sync
                .iter()
                .all(|c| doc.get_change_meta_by_hash(c).is_some())
        });
        let state = self.states.entry(id.clone()).or_default();
        let before = doc.get_heads();
        let received = doc.receive_sync_message(state, msg);
        let after = doc.get_heads();
        let changed = !same_heads(&before, &after);
        let new_changes = if changed {
            doc.get_changes_meta(&before).len() as u64
        } else {
            0
        };
        let reply = if received.is_ok() {
            doc.generate_sync_message(state)
        } else {
            None
        };
        let in_sync = state
            .their_heads
            .as_deref()
            .is_some_and(|h| same_heads(h, &after));
        if changed || !have {
            src.on_changed(&id);
            self.stats.docs_updated += 1;
            self.stats.changes_received += new_changes;
        }
        self.dirty.insert(id.clone());
        received.map_err(|e| SyncError::Apply {
            doc: id.to_string(),
            source: Box::new(e),
        })?;
        if changed || reply.is_some() {
            self.caught_up = false;
        }
        if in_sync {
            if self.active.remove(&id).is_some() {
                self.stats.docs_synced += 1;
            }
        } else {
            self.active.insert(id.clone(), self.now);
        }
        if let Some(m) = reply {
            self.emit_doc(out, id, m);
        }
        Ok(())
    }

    fn refuse(&mut self, id: DocId, out: &mut Replies<'_>) {
        self.active.remove(&id);
        self.wanted.remove(&self.position(&id));
        self.excluded.insert(id.clone());
        self.caught_up = false;
        let msg = SyncMsg::Refuse {
            round: self.round,
            doc_id: id,
        };
        self.emit(out, msg);
    }

    /// The driver, when nothing is in flight, asks whether both sides are now equal.
    fn maybe_check<S: DocSource + ?Sized>(&mut self, src: &S, out: &mut Replies<'_>) {
        if !self.is_driver()
            || self.caught_up
            || !self.hello_done
            || !self.outstanding.is_empty()
            || !self.active.is_empty()
            || !self.wanted.is_empty()
        {
            return;
        }
        let (count, digest) = self.index(src).fingerprint(Prefix::ROOT);
        let id = self.next_request();
        self.check = Some((id, digest));
        let items = vec![ReconItem::Fingerprint {
            prefix: Prefix::ROOT,
            count,
            digest,
        }];
        let msg = SyncMsg::Recon {
            round: self.round,
            id,
            reply_to: 0,
            items,
        };
        self.emit(out, msg);
    }

    fn mark_caught_up(&mut self) {
        self.caught_up = true;
        self.active.clear();
        self.wanted.clear();
        self.outstanding.clear();
        self.check = None;
    }

    /// Forget everything tied to the messages of an earlier round.
    fn reset_transient(&mut self) {
        for state in self.states.values_mut() {
            *state = persisted(state);
        }
        self.outstanding.clear();
        self.seen.clear();
        self.active.clear();
        self.wanted.clear();
        self.checks_failed = 0;
        self.check = None;
        self.caught_up = false;
        self.hello_done = false;
    }

    fn is_driver(&self) -> bool {
        self.peer.as_deref().is_some_and(|p| self.device_id.as_str() < p)
    }

    fn index<S: DocSource + ?Sized>(&self, src: &S) -> std::sync::Arc<Index> {
        let generation = src.manifest_generation();
        let value = src.manifest_shared();
        if let (Some(g), Some(held)) = (generation, &mut *self.index_cache.borrow_mut()) {
            // Built from this very manifest value: a batch this session stored moves
            // the generation on without changing a digest, and rebuilding then cost
            // a millisecond at the end of every catch-up.
            let same_value =
                matches!((&value, &held.manifest), (Some(a), Some(b)) if std::sync::Arc::ptr_eq(a, b));
            if (g == held.generation || same_value) && self.excluded.len() == held.excluded {
                held.generation = g;
                return held.index.clone();
            }
        }
        // The shared index holds every document: usable only while none is excluded.
        let shared = generation
            .zip(src.index_cache())
            .filter(|_| self.excluded.is_empty());
        let idx = match shared.and_then(|(g, c)| c.get(g)) {
            Some(idx) => idx,
            None => {
                let prev = self
                    .index_cache
                    .borrow()
                    .as_ref()
                    .map(|h| h.index.clone())
                    .or_else(|| src.index_cache().and_then(IndexCache::latest));
                // Seeded even when the session already hashed a few ids of its own
                // (the documents a reconciliation named): otherwise the first build
                // hashed the thousand others.
                let known = src.index_cache().and_then(IndexCache::keys);
                if let (Some(prev), None) = (prev, &known) {
                    if self.keys.borrow().len() < prev.entries.len() {
                        prev.seed_keys(&mut self.keys.borrow_mut());
                    }
                }
                let known = known.as_deref();
                let manifest = match &value {
                    Some(m) => std::borrow::Cow::Borrowed(&**m),
                    None => src.manifest(),
                };
                let idx = std::sync::Arc::new(Index::build_with(
                    &manifest,
                    &self.excluded,
                    known,
                    &mut self.keys.borrow_mut(),
                ));
                if let Some((g, c)) = shared {
                    c.put(g, idx.clone());
                }
                idx
            }
        };
        *self.index_cache.borrow_mut() = generation.map(|g| HeldIndex {
            generation: g,
            excluded: self.excluded.len(),
            index: idx.clone(),
            manifest: value,
        });
        idx
    }

    /// Have the sync state of `id` with this peer in memory: the one the source
    /// saved last time, or else a fresh one.
    fn ensure_state<S: DocSource + ?Sized>(&mut self, src: &mut S, id: &DocId) {
        if !self.states.contains_key(id) {
            let st = src
                .saved_state(id)
                .and_then(|b| am::State::decode(&b).ok())
                .unwrap_or_default();
            self.states.insert(id.clone(), st);
        }
    }

    fn next_request(&mut self) -> u64 {
        self.next_id += 1;
        self.outstanding.insert(self.next_id, self.now);
        self.next_id
    }

    fn hello(&self, root: Digest, doc_count: u64, reply: bool) -> SyncMsg {
        SyncMsg::Hello {
            system_id: self.system_id.clone(),
            device_id: self.device_id.clone(),
            round: self.round,
            root,
            doc_count,
            reply,
        }
    }

    fn emit(&mut self, out: &mut Replies<'_>, msg: SyncMsg) {
        self.stats.messages_sent += 1;
        self.stats.bytes_sent += msg.encoded_len() as u64;
        out(msg);
    }

    fn emit_doc(&mut self, out: &mut Replies<'_>, id: DocId, m: am::Message) {
        self.stats.change_chunks_sent += m.changes.len() as u64;
        let data = m.encode();
        let msg = match pack(&data) {
            Some(z) => SyncMsg::DocSyncPacked {
                round: self.round,
                doc_id: id,
                data: z,
            },
            None => SyncMsg::DocSync {
                round: self.round,
                doc_id: id,
                data,
            },
        };
        self.emit(out, msg);
    }
}

/// What reconciliation found under some prefixes.
#[derive(Debug, Default)]
struct Diff {
    /// Held by both, at different heads: automerge's sync protocol.
    sync: BTreeSet<DocId>,
    /// Held here only: sent whole.
    give: BTreeSet<DocId>,
    /// Held by the peer only: asked for whole.
    want: BTreeSet<DocId>,
    /// Held by the peer only, known by position: asked for whole.
    want_keys: BTreeSet<u64>,
}

impl Diff {
    fn is_empty(&self) -> bool {
        self.sync.is_empty() && self.give.is_empty() && self.want.is_empty() && self.want_keys.is_empty()
    }
}

/// `data` deflated, if it is long enough and that saves at least a 32nd of it.
fn pack(data: &[u8]) -> Option<Vec<u8>> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    thread_local! {
        // Setting up a compressor clears its large window: one per thread, reset
        // for every message, costs less than the messages themselves.
        static DEFLATE: std::cell::RefCell<Compress> =
            std::cell::RefCell::new(Compress::new(Compression::new(PACK_LEVEL), false));
    }
    if data.len() < PACK_FROM {
        return None;
    }
    let z = DEFLATE.with(|z| {
        let mut z = z.borrow_mut();
        z.reset();
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        loop {
            let done = usize::try_from(z.total_in()).ok()?;
            match z.compress_vec(data.get(done..)?, &mut out, FlushCompress::Finish) {
                Ok(Status::StreamEnd) => return Some(out),
                Ok(_) => out.reserve(out.capacity().max(1024)),
                Err(_) => return None,
            }
        }
    })?;
    (z.len() + data.len() / 32 < data.len()).then_some(z)
}

/// Inflate a peer's deflated message (or a document kept as it came), refusing
/// one that would grow past a frame.
pub fn inflate(data: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(data)
        .take(MAX_FRAME as u64 + 1)
        .read_to_end(&mut out)
        .ok()?;
    (out.len() <= MAX_FRAME && !out.is_empty()).then_some(out)
}

/// A received Hello's fields.
struct Hello {
    system_id: String,
    device_id: String,
    round: u64,
    root: Digest,
    doc_count: u64,
    reply: bool,
}

/// Answer the peer's fingerprint of `prefix` (its digest whole or short): nothing
/// when equal; our documents to send whole when the peer has none there; our list
/// when we hold few; our own fingerprint back when the peer holds few (so that it
/// lists); else our 16 child fingerprints. Answers carry short digests.
fn answer_fingerprint(
    &Descent { idx, leaf, round }: &Descent<'_>,
    prefix: Prefix,
    (their_count, theirs): (u64, Their<'_>),
    items: &mut Vec<ReconItem>,
    to_sync: &mut Diff,
) {
    let range = idx.range(prefix);
    let our_count = range.len() as u64;
    let ours = range_digest(range);
    let same = match theirs {
        Their::Short(d) => ours.starts_with(d),
        Their::Tiny(t) => tiny(round, &ours) == *t,
    };
    if our_count == their_count && same {
        return;
    }
    if their_count == 0 {
        to_sync.give.extend(range.iter().map(|e| e.id.clone()));
        return;
    }
    if our_count <= leaf || prefix.depth() >= MAX_DEPTH {
        items.push(list_of(range, prefix, round));
        return;
    }
    if their_count <= leaf {
        items.push(ReconItem::FingerprintShort {
            prefix,
            count: our_count,
            digest: short(&ours),
        });
        return;
    }
    let kids = (0..16u8)
        .filter_map(|nibble| prefix.child(nibble))
        .map(|child| {
            let (count, digest) = idx.fingerprint(child);
            (count, tiny(round, &digest))
        })
        .collect();
    items.push(ReconItem::Children { prefix, kids });
}

/// What answering the peer's fingerprints needs: our index, where lists begin, and
/// the round that salts the short digests.
struct Descent<'a> {
    idx: &'a Index,
    leaf: u64,
    round: u64,
}

impl<'a> Descent<'a> {
    fn new(idx: &'a Index, session: &Session) -> Descent<'a> {
        Descent {
            idx,
            leaf: session.leaf,
            round: session.round,
        }
    }

    /// [`answer_fingerprint`] under this descent.
    fn answer(
        &self,
        prefix: Prefix,
        theirs: (u64, Their<'_>),
        items: &mut Vec<ReconItem>,
        to_sync: &mut Diff,
    ) {
        answer_fingerprint(self, prefix, theirs, items, to_sync);
    }
}

/// The peer's digest of a range, as it came.
#[derive(Clone, Copy)]
enum Their<'a> {
    /// Cut to its first bytes (or whole).
    Short(&'a [u8]),
    /// [`tiny`], salted with the round.
    Tiny(&'a TinyDigest),
}

/// Our documents under `prefix`, for the peer to compare: by position, unless two
/// of them share one (then by id).
fn list_of(range: &[Entry], prefix: Prefix, round: u64) -> ReconItem {
    if range.windows(2).any(|w| w[0].pos == w[1].pos) {
        let docs = range.iter().map(|e| (e.id.clone(), short(&e.digest))).collect();
        return ReconItem::ListShort { prefix, docs };
    }
    let docs = range.iter().map(|e| (e.pos, tiny(round, &e.digest))).collect();
    ReconItem::Keys { prefix, docs }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_bloom_parameters_are_refused() {
        // entries, bits per entry, probes, then the bits.
        assert_eq!(bloom_problem(&[]), None, "an empty filter is fine");
        assert_eq!(
            bloom_problem(&[3, 10, 7, 0, 0, 0, 0]),
            None,
            "what automerge writes"
        );
        assert!(
            bloom_problem(&[3, 0, 7, 0]).is_some(),
            "zero bits per entry divides by zero"
        );
        assert!(
            bloom_problem(&[3, 10, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_some(),
            "billions of probes"
        );
        assert!(bloom_problem(&[3, 0x80]).is_some(), "cut short");
    }
    use crate::doc::{append_work, export_json, new_doc, put_record, read_record};
    use crate::schema::Kind;
    use crate::value::fields;
    use automerge::ActorId;
    use std::cmp::Reverse;
    use std::collections::{BinaryHeap, VecDeque};

    const SYSTEM: &str = "sys-5b0e9d";

    /// xorshift64*: the simulation's only source of chance, seeded.
    struct Rng(u64);

    impl Rng {
        fn new(seed: u64) -> Rng {
            Rng((seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
        }
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
        fn pct(&mut self, p: u64) -> bool {
            self.below(100) < p
        }
    }

    /// A replica as the node would hold it, minus the store.
    struct Replica {
        actor: ActorId,
        docs: BTreeMap<DocId, Automerge>,
        changed: Vec<DocId>,
        refuse: BTreeSet<DocId>,
        /// Sync states saved with the peer, given as the session asks.
        saved: BTreeMap<DocId, Vec<u8>>,
        asked: Vec<DocId>,
        /// What happened, in order, where a test watches (documents read, replies).
        log: Option<std::rc::Rc<std::cell::RefCell<Vec<String>>>>,
        shared_index: Option<IndexCache>,
        manifest_reads: std::cell::Cell<usize>,
    }

    impl Replica {
        fn new(n: u64) -> Replica {
            let mut a = [0xA5u8; 16];
            a[..8].copy_from_slice(&n.to_be_bytes());
            Replica {
                actor: ActorId::from(a.as_slice()),
                docs: BTreeMap::new(),
                changed: Vec::new(),
                refuse: BTreeSet::new(),
                saved: BTreeMap::new(),
                asked: Vec::new(),
                log: None,
                shared_index: None,
                manifest_reads: Default::default(),
            }
        }
    }

    impl DocSource for Replica {
        fn manifest(&self) -> std::borrow::Cow<'_, Manifest> {
            self.manifest_reads.set(self.manifest_reads.get() + 1);
            std::borrow::Cow::Owned(manifest_of(&self.docs))
        }
        fn index_cache(&self) -> Option<&IndexCache> {
            self.shared_index.as_ref()
        }
        fn manifest_generation(&self) -> Option<u64> {
            // Changes with the manifest (what a real source counts cheaply), so the
            // simulations run with the session's index cache on.
            let root = root_digest(&manifest_of(&self.docs));
            Some(u64::from_le_bytes(root[..8].try_into().ok()?))
        }
        fn saved_state(&mut self, id: &DocId) -> Option<Vec<u8>> {
            self.asked.push(id.clone());
            self.saved.get(id).cloned()
        }
        fn doc(&mut self, id: &DocId) -> Option<&mut Automerge> {
            if let Some(log) = &self.log {
                log.borrow_mut().push(format!("read {id}"));
            }
            self.docs.get_mut(id)
        }
        fn create_empty(&mut self, id: &DocId) -> Option<&mut Automerge> {
            if self.refuse.contains(id) {
                return None;
            }
            let doc = new_doc(id, &self.actor).ok()?;
            Some(self.docs.entry(id.clone()).or_insert(doc))
        }
        fn on_changed(&mut self, id: &DocId) {
            self.changed.push(id.clone());
        }
        fn prefetch(&mut self, ids: &[DocId]) {
            if let Some(log) = &self.log {
                let ids: Vec<String> = ids.iter().map(DocId::to_string).collect();
                log.borrow_mut().push(format!("prefetch {}", ids.join(" ")));
            }
        }
    }

    fn pool() -> Vec<DocId> {
        [
            "system",
            "inventory",
            "tickets/2026-11",
            "bookings/CEN/2026-11-28",
            "schedule/2026-11",
            "pages/6f1c2b8e-0000-4000-8000-000000000001",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect()
    }

    fn page(i: usize) -> DocId {
        format!("pages/6f1c2b8e-0000-4000-8000-{i:012}").parse().unwrap()
    }

    /// One local write to `id` (creating the document if needed).
    fn edit(rep: &mut Replica, id: &DocId, rng: &mut Rng) {
        let actor = rep.actor.clone();
        let doc = rep
            .docs
            .entry(id.clone())
            .or_insert_with(|| new_doc(id, &actor).unwrap());
        let kinds = id.collections();
        let kind = kinds[rng.below(kinds.len() as u64) as usize];
        let rec = format!("r{}", rng.below(5));
        let exists = read_record(&*doc, kind, &rec).is_some();
        let n = rng.below(1000) as i64;
        let mut tx = doc.transaction();
        if kind == Kind::Ticket && exists && rng.pct(50) {
            append_work(&mut tx, &rec, &fields([("text", format!("step {n}").into())])).unwrap();
        } else if kind == Kind::Page {
            let text = format!("Reset the spooler ({n}). Then power-cycle.");
            put_record(
                &mut tx,
                kind,
                &rec,
                &fields([("title", "Printers".into()), ("text", text.into())]),
                !exists,
            )
            .unwrap();
        } else {
            let f = fields([("name", format!("n{n}").into()), ("qty", n.into())]);
            put_record(&mut tx, kind, &rec, &f, !exists).unwrap();
        }
        tx.commit();
        rep.changed.push(id.clone());
    }

    fn sorted_heads(doc: &Automerge) -> Vec<ChangeHash> {
        let mut h = doc.get_heads();
        h.sort();
        h
    }

    fn assert_converged(reps: &[Replica], what: &str) {
        let first = &reps[0];
        for (i, r) in reps.iter().enumerate().skip(1) {
            assert_eq!(
                r.docs.keys().collect::<Vec<_>>(),
                first.docs.keys().collect::<Vec<_>>(),
                "{what}: replica {i} holds other documents than replica 0"
            );
            for (id, doc) in &first.docs {
                let other = &r.docs[id];
                assert_eq!(
                    sorted_heads(doc),
                    sorted_heads(other),
                    "{what}: heads of {id} on replica {i}"
                );
                assert_eq!(
                    export_json(doc, id),
                    export_json(other, id),
                    "{what}: state of {id} on replica {i}"
                );
            }
        }
    }

    /// Deliver every message in order, both ways, until none is left; returns how
    /// many were delivered.
    fn run_pair(
        a: &mut Replica,
        sa: &mut Session,
        b: &mut Replica,
        sb: &mut Session,
        to_b: Vec<SyncMsg>,
        to_a: Vec<SyncMsg>,
    ) -> usize {
        let mut q: VecDeque<(bool, Vec<u8>)> = VecDeque::new();
        q.extend(to_b.iter().map(|m| (true, m.encode())));
        q.extend(to_a.iter().map(|m| (false, m.encode())));
        let mut n = 0;
        while let Some((for_b, frame)) = q.pop_front() {
            n += 1;
            assert!(n < 100_000, "the sessions never went quiet");
            let out = if for_b {
                sb.handle_bytes(b, &frame, 0)
            } else {
                sa.handle_bytes(a, &frame, 0)
            };
            q.extend(out.unwrap().iter().map(|m| (!for_b, m.encode())));
        }
        a.changed.clear();
        b.changed.clear();
        n
    }

    fn pair() -> (Replica, Session, Replica, Session) {
        (
            Replica::new(1),
            Session::new(SYSTEM, "dev-a"),
            Replica::new(2),
            Session::new(SYSTEM, "dev-b"),
        )
    }

    #[test]
    fn two_replicas_converge_after_concurrent_edits() {
        let (mut a, mut sa, mut b, mut sb) = pair();
        let ids = pool();
        let mut rng = Rng::new(7);
        // Shared history first, then both sides edit the same and different documents.
        for id in &ids[..3] {
            edit(&mut a, id, &mut rng);
        }
        for (id, doc) in &a.docs {
            b.docs.insert(id.clone(), doc.fork().with_actor(b.actor.clone()));
        }
        for _ in 0..12 {
            let id = &ids[rng.below(ids.len() as u64) as usize];
            edit(&mut a, id, &mut rng);
            let id = &ids[rng.below(ids.len() as u64) as usize];
            edit(&mut b, id, &mut rng);
        }
        // The same field of the same record, concurrently.
        for (rep, v) in [(&mut a, "left"), (&mut b, "right")] {
            let doc = rep.docs.get_mut(&ids[1]).unwrap();
            let exists = read_record(&*doc, Kind::Vendor, "v1").is_some();
            let mut tx = doc.transaction();
            put_record(
                &mut tx,
                Kind::Vendor,
                "v1",
                &fields([("name", v.into())]),
                !exists,
            )
            .unwrap();
            tx.commit();
        }
        assert_ne!(root_digest(&a.manifest()), root_digest(&b.manifest()));

        let (ha, hb) = (sa.start(&a, 0), sb.start(&b, 0));
        let delivered = run_pair(&mut a, &mut sa, &mut b, &mut sb, ha, hb);
        assert!(sa.is_caught_up() && sb.is_caught_up());
        assert_converged(&[a, b], "two replicas");
        assert!(sa.stats().docs_synced + sb.stats().docs_synced > 0);
        assert!(sa.stats().changes_received > 0 && sb.stats().changes_received > 0);
        eprintln!(
            "two replicas: {delivered} messages; a {:?}; b {:?}",
            sa.stats(),
            sb.stats()
        );
    }

    #[test]
    fn live_changes_are_pushed_after_catch_up() {
        let (mut a, mut sa, mut b, mut sb) = pair();
        let ids = pool();
        let mut rng = Rng::new(11);
        edit(&mut a, &ids[0], &mut rng);
        edit(&mut b, &ids[1], &mut rng);
        let h = sa.start(&a, 0);
        run_pair(&mut a, &mut sa, &mut b, &mut sb, h, Vec::new());
        assert!(sa.is_caught_up() && sb.is_caught_up());

        // A write on either side goes out at once and both end caught up again,
        // whichever side drives the reconciliation.
        for round in 0..6 {
            let id = &ids[rng.below(ids.len() as u64) as usize];
            let (out_a, out_b) = if round % 2 == 0 {
                edit(&mut a, id, &mut rng);
                (sa.local_change(&mut a, id, 0), Vec::new())
            } else {
                edit(&mut b, id, &mut rng);
                (Vec::new(), sb.local_change(&mut b, id, 0))
            };
            assert!(out_a
                .iter()
                .chain(&out_b)
                .any(|m| matches!(m, SyncMsg::DocSync { .. } | SyncMsg::DocSyncPacked { .. })));
            assert!(!sa.is_caught_up() || !sb.is_caught_up());
            run_pair(&mut a, &mut sa, &mut b, &mut sb, out_a, out_b);
            assert!(sa.is_caught_up() && sb.is_caught_up(), "live round {round}");
            assert_eq!(a.manifest(), b.manifest());
        }
        assert_converged(&[a, b], "live");
    }

    #[test]
    fn a_change_made_while_the_check_is_in_flight_is_not_forgotten() {
        let (mut a, mut sa, mut b, mut sb) = pair();
        let ids = pool();
        let mut rng = Rng::new(13);
        edit(&mut a, &ids[0], &mut rng);
        edit(&mut a, &ids[1], &mut rng);
        let h = sa.start(&a, 0);
        run_pair(&mut a, &mut sa, &mut b, &mut sb, h, Vec::new());
        assert!(sa.is_caught_up() && sb.is_caught_up());

        // b writes; its push reaches a (the driver), which answers and checks.
        edit(&mut b, &ids[0], &mut rng);
        let mut to_b = Vec::new();
        for m in sb.local_change(&mut b, &ids[0], 10) {
            to_b.extend(sa.handle(&mut a, m, 20).unwrap());
        }
        assert!(
            to_b.iter().any(|m| matches!(m, SyncMsg::Recon { .. })),
            "a checks once quiet"
        );
        let mut to_a = Vec::new();
        for m in to_b {
            to_a.extend(sb.handle(&mut b, m, 30).unwrap());
        }
        assert!(sb.is_caught_up());

        // a writes before the check's answer is back, and that push is lost.
        edit(&mut a, &ids[1], &mut rng);
        assert!(!sa.local_change(&mut a, &ids[1], 40).is_empty());
        let mut rest = Vec::new();
        for m in to_a {
            rest.extend(sa.handle(&mut a, m, 50).unwrap());
        }
        assert!(!sa.is_caught_up(), "a must not believe b has its last change");
        let deadline = sa.poll_timeout().unwrap();
        assert!(sa.handle_timeout(&a, deadline - 1).is_empty());
        rest.extend(sa.handle_timeout(&a, deadline));
        run_pair(&mut a, &mut sa, &mut b, &mut sb, rest, Vec::new());
        assert!(sa.is_caught_up() && sb.is_caught_up());
        assert_eq!(sa.stats().timeouts, 1);
        assert_converged(&[a, b], "check race");
    }

    #[test]
    fn a_lost_request_times_out_even_while_live_traffic_flows() {
        let (mut a, sa, mut b, sb) = pair();
        let (mut sa, mut sb) = (sa.with_timeout(1_000), sb.with_timeout(1_000));
        let ids = pool();
        let mut rng = Rng::new(21);
        edit(&mut a, &ids[0], &mut rng);
        let h = sa.start(&a, 0);
        run_pair(&mut a, &mut sa, &mut b, &mut sb, h, Vec::new());
        assert!(sa.is_caught_up() && sb.is_caught_up());

        // b pushes a change; a answers and checks, but the check is lost.
        edit(&mut b, &ids[0], &mut rng);
        let mut to_b = Vec::new();
        for m in sb.local_change(&mut b, &ids[0], 100) {
            to_b.extend(sa.handle(&mut a, m, 100).unwrap());
        }
        let before = to_b.len();
        to_b.retain(|m| !matches!(m, SyncMsg::Recon { .. }));
        assert_eq!(before, to_b.len() + 1, "a sent its check");
        run_pair(&mut a, &mut sa, &mut b, &mut sb, to_b, Vec::new());

        // b keeps writing every 300 ms: a hears from b all the time, yet gives up on
        // the lost check one timeout after sending it.
        let mut now = 100;
        let mut restarted = false;
        while now < 3_000 && !restarted {
            now += 300;
            let out = sa.handle_timeout(&a, now);
            if !out.is_empty() {
                restarted = true;
                assert!(now <= 1_100 + 300, "timed out at {now}");
                run_pair(&mut a, &mut sa, &mut b, &mut sb, out, Vec::new());
                break;
            }
            edit(&mut b, &ids[0], &mut rng);
            let mut to_b = Vec::new();
            for m in sb.local_change(&mut b, &ids[0], now) {
                to_b.extend(sa.handle(&mut a, m, now).unwrap());
            }
            let mut q: VecDeque<(bool, SyncMsg)> = to_b.into_iter().map(|m| (true, m)).collect();
            while let Some((for_b, m)) = q.pop_front() {
                let out = if for_b {
                    sb.handle(&mut b, m, now)
                } else {
                    sa.handle(&mut a, m, now)
                };
                q.extend(out.unwrap().into_iter().map(|m| (!for_b, m)));
            }
        }
        assert!(restarted, "the lost check never timed out");
        assert!(sa.is_caught_up() && sb.is_caught_up());
        assert_converged(&[a, b], "lost request");
    }

    fn library(n: usize) -> (Replica, Replica) {
        let (mut a, mut b) = (Replica::new(1), Replica::new(2));
        for i in 0..n {
            let id = page(i);
            let mut doc = new_doc(&id, &a.actor).unwrap();
            let mut tx = doc.transaction();
            put_record(
                &mut tx,
                Kind::Page,
                "p",
                &fields([("title", format!("Page {i}").into())]),
                true,
            )
            .unwrap();
            tx.commit();
            b.docs.insert(id.clone(), doc.fork().with_actor(b.actor.clone()));
            a.docs.insert(id, doc);
        }
        (a, b)
    }

    #[test]
    fn noop_session_with_500_docs_is_one_round_trip() {
        let (mut a, mut b) = library(500);
        let (mut sa, mut sb) = (Session::new(SYSTEM, "dev-a"), Session::new(SYSTEM, "dev-b"));
        let h = sa.start(&a, 0);
        let delivered = run_pair(&mut a, &mut sa, &mut b, &mut sb, h, Vec::new());
        assert_eq!(delivered, 2, "Hello and its answer");
        assert!(sa.is_caught_up() && sb.is_caught_up());
        let bytes = sa.stats().bytes_sent + sb.stats().bytes_sent;
        assert!(bytes < 16 * 1024, "{bytes} bytes");
        assert_eq!(sa.stats().bytes_sent, sb.stats().bytes_received);
        eprintln!("no-op over 500 documents: {delivered} messages, {bytes} bytes");
    }

    #[test]
    fn one_difference_among_500_docs_costs_little() {
        let (mut a, mut b) = library(500);
        let mut rng = Rng::new(3);
        edit(&mut b, &page(123), &mut rng);
        // A document only one side has, too.
        edit(&mut a, &pool()[2], &mut rng);
        let (mut sa, mut sb) = (Session::new(SYSTEM, "dev-a"), Session::new(SYSTEM, "dev-b"));
        let h = sb.start(&b, 0);
        let delivered = run_pair(&mut a, &mut sa, &mut b, &mut sb, Vec::new(), h);
        assert!(sa.is_caught_up() && sb.is_caught_up());
        assert_converged(&[a, b], "one difference");
        let bytes = sa.stats().bytes_sent + sb.stats().bytes_sent;
        assert!(bytes < 16 * 1024, "{bytes} bytes");
        assert!(delivered < 40, "{delivered} messages");
        eprintln!("two differences among 500 documents: {delivered} messages, {bytes} bytes");
    }

    #[test]
    fn an_empty_replica_gets_every_document_without_a_descent() {
        let (mut a, _) = library(200);
        let mut b = Replica::new(2);
        let (mut sa, mut sb) = (Session::new(SYSTEM, "dev-a"), Session::new(SYSTEM, "dev-b"));
        let h = sb.start(&b, 0);
        run_pair(&mut a, &mut sa, &mut b, &mut sb, Vec::new(), h);
        assert!(sa.is_caught_up() && sb.is_caught_up());
        assert_converged(&[a, b], "empty replica");
        assert_eq!(sb.stats().changes_received, 200, "the skeletons are not sent");
        // Hellos, then the exchanges straight away (automerge's two round trips per
        // document, all in parallel), then one check: no descent through prefixes.
        let total = sa.stats().messages_sent + sb.stats().messages_sent;
        assert!(total <= 2 + 4 * 200 + 2, "{total} messages");
    }

    #[test]
    fn refused_documents_are_left_out() {
        let (mut a, mut sa, mut b, mut sb) = pair();
        let ids = pool();
        let mut rng = Rng::new(5);
        for id in &ids {
            edit(&mut a, id, &mut rng);
        }
        b.refuse.insert(ids[3].clone());
        let (ha, hb) = (sa.start(&a, 0), sb.start(&b, 0));
        run_pair(&mut a, &mut sa, &mut b, &mut sb, ha, hb);
        assert!(sa.is_caught_up() && sb.is_caught_up());
        assert!(!b.docs.contains_key(&ids[3]));
        a.docs.remove(&ids[3]);
        assert_converged(&[a, b], "refused");
    }

    #[test]
    fn sync_state_survives_reconnect() {
        let (mut a, mut sa, mut b, mut sb) = pair();
        let ids = pool();
        let mut rng = Rng::new(9);
        for _ in 0..10 {
            edit(&mut a, &ids[1], &mut rng);
        }
        let h = sa.start(&a, 0);
        run_pair(&mut a, &mut sa, &mut b, &mut sb, h, Vec::new());
        let dirty = sb.take_dirty_states();
        assert!(dirty.iter().any(|(id, _)| *id == ids[1]));
        assert!(sb.take_dirty_states().is_empty());
        let (saved_a, saved_b) = (sa.export_states(), sb.export_states());

        edit(&mut a, &ids[1], &mut rng);
        let (mut sa2, mut sb2) = (Session::new(SYSTEM, "dev-a"), Session::new(SYSTEM, "dev-b"));
        for (id, s) in saved_a {
            sa2.import_state(id, &s).unwrap();
        }
        for (id, s) in saved_b {
            sb2.import_state(id, &s).unwrap();
        }
        let h = sb2.start(&b, 0);
        run_pair(&mut a, &mut sa2, &mut b, &mut sb2, Vec::new(), h);
        assert!(sa2.is_caught_up() && sb2.is_caught_up());
        assert_eq!(sb2.stats().changes_received, 1, "only the new change travels");
        assert_converged(&[a, b], "reconnect");
        assert!(sa2.import_state(ids[0].clone(), b"garbage").is_err());
    }

    #[test]
    fn a_reconnect_reads_saved_states_only_where_documents_differ() {
        let (mut a, mut sa, mut b, mut sb) = pair();
        let ids = pool();
        let mut rng = Rng::new(11);
        for id in &ids[..4] {
            edit(&mut a, id, &mut rng);
        }
        let h = sa.start(&a, 0);
        run_pair(&mut a, &mut sa, &mut b, &mut sb, h, Vec::new());
        a.saved = sa.export_states();
        b.saved = sb.export_states();
        assert!(a.saved.len() >= 4 && b.saved.len() >= 4);

        // A day offline: one document changes on b.
        edit(&mut b, &ids[2], &mut rng);
        edit(&mut b, &ids[2], &mut rng);
        let (mut sa2, mut sb2) = (Session::new(SYSTEM, "dev-a"), Session::new(SYSTEM, "dev-b"));
        let mut q: VecDeque<(bool, SyncMsg)> = sb2.start(&b, 0).into_iter().map(|m| (false, m)).collect();
        let mut about_it = 0;
        while let Some((for_b, m)) = q.pop_front() {
            if matches!(&m, SyncMsg::DocSync { doc_id, .. } | SyncMsg::DocSyncPacked { doc_id, .. } if *doc_id == ids[2])
            {
                about_it += 1;
            }
            let out = if for_b {
                sb2.handle_bytes(&mut b, &m.encode(), 0)
            } else {
                sa2.handle_bytes(&mut a, &m.encode(), 0)
            };
            q.extend(out.unwrap().into_iter().map(|m| (!for_b, m)));
            assert!(about_it < 100, "the sessions never went quiet");
        }
        assert!(sa2.is_caught_up() && sb2.is_caught_up());
        assert_eq!(a.asked, vec![ids[2].clone()], "a read one saved state");
        assert_eq!(b.asked, vec![ids[2].clone()], "b read one saved state");
        assert_eq!(sa2.stats().changes_received, 2, "just the two new changes travel");
        // b learns of the difference from the list a (the driver) sends, and resumes
        // on the guess that a still holds what both shared: its first message about
        // the document carries the changes, and a's answer closes the exchange.
        assert_eq!(about_it, 2, "one message each way");
        assert_converged(&[a, b], "resumed from saved states");
    }

    #[test]
    fn what_is_lacking_is_asked_for_before_shared_documents_are_read() {
        let (mut a, mut sa, _, _) = pair();
        let ids = pool();
        let mut rng = Rng::new(11);
        let give = [page(1), page(2)];
        for id in ids[..3].iter().chain(&give) {
            edit(&mut a, id, &mut rng);
        }
        let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        a.log = Some(log.clone());
        let diff = Diff {
            sync: ids[..3].iter().cloned().collect(),
            give: give.iter().cloned().collect(),
            want: [page(3)].into_iter().collect(),
            want_keys: [42].into_iter().collect(),
        };
        let mut out = Vec::new();
        sa.begin_docs(&mut a, diff, &mut |m| out.push(m));
        let kinds: Vec<&str> = out
            .iter()
            .map(|m| match m {
                SyncMsg::Want { .. } => "want",
                SyncMsg::WantKeys { .. } => "want-keys",
                SyncMsg::DocSync { .. } | SyncMsg::DocSyncPacked { .. } => "sync",
                SyncMsg::Whole { .. } => "whole",
                _ => "other",
            })
            .collect();
        // The answers that take longest (documents whole, saved there and loaded
        // here) are asked for before anything held here is read.
        assert_eq!(
            kinds,
            ["want", "want-keys", "sync", "sync", "sync", "whole", "whole"],
            "{out:?}"
        );
        let events = log.borrow().clone();
        let expected: Vec<String> = ids[..3].iter().chain(&give).map(DocId::to_string).collect();
        assert_eq!(
            events.first(),
            Some(&format!("prefetch {}", expected.join(" "))),
            "{events:?}"
        );
        assert!(events[1..].iter().all(|e| e.starts_with("read ")), "{events:?}");
    }

    #[test]
    fn documents_asked_for_whole_leave_one_by_one_as_each_is_made() {
        let (mut a, mut sa, mut b, mut sb) = pair();
        let mut rng = Rng::new(5);
        for i in 0..6 {
            edit(&mut a, &page(i), &mut rng);
        }
        let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        a.log = Some(log.clone());
        let mut q: VecDeque<(bool, Vec<u8>)> = sb.start(&b, 0).iter().map(|m| (false, m.encode())).collect();
        let mut wholes_in_one = 0;
        while let Some((for_b, frame)) = q.pop_front() {
            let mut out = Vec::new();
            if for_b {
                out = sb.handle_bytes(&mut b, &frame, 0).unwrap();
            } else {
                log.borrow_mut().clear();
                let p = Prepared::new(&frame).unwrap();
                let l = log.clone();
                sa.handle_prepared_into(&mut a, p, 0, &mut |m| {
                    l.borrow_mut().push(match &m {
                        SyncMsg::Whole { doc_id, .. } => format!("sent {doc_id}"),
                        _ => "sent other".into(),
                    });
                    out.push(m);
                })
                .unwrap();
                let events = log.borrow().clone();
                let sent: Vec<usize> = (0..events.len())
                    .filter(|&i| events[i].starts_with("sent pages"))
                    .collect();
                if sent.len() > 1 {
                    wholes_in_one = sent.len();
                    // Each document went out before the next one was read.
                    let last_read = events.iter().rposition(|e| e.starts_with("read pages"));
                    assert!(
                        Some(sent[0]) < last_read,
                        "the first left before the last was read: {events:?}"
                    );
                }
            }
            q.extend(out.iter().map(|m| (!for_b, m.encode())));
            assert!(q.len() < 1000);
        }
        assert!(wholes_in_one >= 2, "a asked for several documents whole at once");
        a.log = None;
        assert_converged(&[a, b], "streamed replies");
    }

    #[test]
    fn sessions_over_one_source_build_its_index_once_per_manifest() {
        let mut a = Replica::new(1);
        let mut rng = Rng::new(9);
        for id in &pool()[..4] {
            edit(&mut a, id, &mut rng);
        }
        a.shared_index = Some(IndexCache::default());
        let first = Session::new(SYSTEM, "dev-a").start(&a, 0);
        let reads = a.manifest_reads.get();
        assert!(reads >= 1);
        // Another peer's session over the same manifest: no rebuild, same Hello.
        let again = Session::new(SYSTEM, "dev-a").start(&a, 0);
        assert_eq!(a.manifest_reads.get(), reads, "the second session built no index");
        assert_eq!(again.len(), first.len());
        assert_eq!(
            again.iter().map(SyncMsg::encode).collect::<Vec<_>>(),
            first.iter().map(SyncMsg::encode).collect::<Vec<_>>()
        );
        // The manifest moves on: the next session builds anew, and sees the change.
        edit(&mut a, &pool()[4], &mut rng);
        let after = Session::new(SYSTEM, "dev-a").start(&a, 0);
        assert!(a.manifest_reads.get() > reads);
        assert_ne!(
            after.iter().map(SyncMsg::encode).collect::<Vec<_>>(),
            first.iter().map(SyncMsg::encode).collect::<Vec<_>>()
        );
    }

    #[test]
    fn short_digests_are_salted_by_round_and_lists_fall_back_to_ids_on_a_shared_position() {
        let d = [7u8; 32];
        assert_eq!(tiny(3, &d), tiny(3, &d));
        assert_ne!(tiny(3, &d), tiny(4, &d), "a new round salts differently");
        let entry = |id: DocId, pos: u64| Entry {
            key: [0; 32],
            pos,
            id,
            digest: [1; 32],
        };
        let ids = pool();
        let apart = [entry(ids[0].clone(), 5), entry(ids[1].clone(), 9)];
        assert!(
            matches!(list_of(&apart, Prefix::ROOT, 1), ReconItem::Keys { ref docs, .. } if docs.len() == 2)
        );
        let shared = [entry(ids[0].clone(), 5), entry(ids[1].clone(), 5)];
        assert!(matches!(
            list_of(&shared, Prefix::ROOT, 1),
            ReconItem::ListShort { ref docs, .. } if docs.len() == 2
        ));
        // A position outside the prefix it is listed under is refused.
        let deep = Prefix::new(1, 0x1000_0000_0000_0000).unwrap();
        let bad = SyncMsg::Recon {
            round: 1,
            id: 1,
            reply_to: 0,
            items: vec![ReconItem::Keys {
                prefix: deep,
                docs: vec![(0x1fff_ffff_ffff_ffff, [0; TINY])],
            }],
        };
        let mut frame = bad.encode();
        assert!(SyncMsg::decode(&frame).is_ok());
        // The first byte of a depth-1 position goes with the prefix; change the
        // prefix's bits so that the listed position falls outside it.
        let at = frame.len() - (8 + TINY) - 1 - 1;
        assert_eq!(frame[at], 0x10);
        frame[at] = 0x20;
        assert!(matches!(SyncMsg::decode(&frame), Err(SyncError::Malformed(_))));
    }

    #[test]
    fn foreign_system_and_self_are_refused() {
        let (a, mut sa, mut b, _) = pair();
        let mut other = Session::new("another-system", "dev-b");
        let hello = sa.start(&a, 0).remove(0);
        assert!(matches!(
            other.handle(&mut b, hello.clone(), 0),
            Err(SyncError::ForeignSystem { .. })
        ));
        let mut me = Session::new(SYSTEM, "dev-a");
        assert!(matches!(
            me.handle(&mut b, hello.clone(), 0),
            Err(SyncError::SelfPeer)
        ));
        let mut sb = Session::new(SYSTEM, "dev-b");
        assert!(sb.handle(&mut b, hello, 0).is_ok());
        let impostor = SyncMsg::Hello {
            system_id: SYSTEM.into(),
            device_id: "dev-c".into(),
            round: 5,
            root: [0; 32],
            doc_count: 0,
            reply: true,
        };
        assert!(matches!(
            sb.handle(&mut b, impostor, 0),
            Err(SyncError::PeerChanged { .. })
        ));
    }

    #[test]
    fn a_bad_automerge_message_is_an_error_not_a_panic() {
        let (a, mut sa, mut b, mut sb) = pair();
        let hello = sa.start(&a, 0).remove(0);
        sb.handle(&mut b, hello, 0).unwrap();
        let mut rng = Rng::new(1);
        let mut refused = 0;
        for len in 1..200usize {
            let mut data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            data[0] = if len % 2 == 0 { 0x42 } else { 0x43 };
            let msg = SyncMsg::DocSync {
                round: 1,
                doc_id: pool()[0].clone(),
                data,
            };
            refused += usize::from(sb.handle(&mut b, msg, 0).is_err());
        }
        assert!(refused > 150, "only {refused} of 199 garbage messages refused");
        // A peer may push the round number to its limit; nothing overflows.
        let last = SyncMsg::Hello {
            system_id: SYSTEM.into(),
            device_id: "dev-a".into(),
            round: u64::MAX,
            root: [0; 32],
            doc_count: 3,
            reply: true,
        };
        assert!(!sb.handle(&mut b, last, 0).unwrap().is_empty());
        assert!(!sb.handle_timeout(&b, i64::MAX).is_empty());
        assert_eq!(sb.round(), u64::MAX);
    }

    /// One of every kind of message, with real contents.
    fn samples() -> Vec<SyncMsg> {
        let mut rep = Replica::new(4);
        edit(&mut rep, &pool()[1], &mut Rng::new(2));
        let doc = &rep.docs[&pool()[1]];
        let data = doc.generate_sync_message(&mut am::State::new()).unwrap().encode();
        let deep = Prefix::new(3, 0xABC0_0000_0000_0000).unwrap();
        vec![
            SyncMsg::Hello {
                system_id: SYSTEM.into(),
                device_id: "dev-a".into(),
                round: 3,
                root: [7; 32],
                doc_count: 1234,
                reply: true,
            },
            SyncMsg::Recon {
                round: 3,
                id: 9,
                reply_to: 300,
                items: vec![
                    ReconItem::Fingerprint {
                        prefix: Prefix::ROOT,
                        count: 500,
                        digest: [1; 32],
                    },
                    ReconItem::Fingerprint {
                        prefix: deep,
                        count: 3,
                        digest: [2; 32],
                    },
                    ReconItem::List {
                        prefix: deep.child(7).unwrap(),
                        docs: vec![(pool()[5].clone(), [3; 32])],
                    },
                    ReconItem::List {
                        prefix: deep,
                        docs: Vec::new(),
                    },
                ],
            },
            SyncMsg::Recon {
                round: u64::MAX,
                id: 0,
                reply_to: 1,
                items: Vec::new(),
            },
            SyncMsg::DocSync {
                round: 1,
                doc_id: pool()[1].clone(),
                data,
            },
            SyncMsg::Refuse {
                round: 2,
                doc_id: pool()[3].clone(),
            },
            SyncMsg::Recon {
                round: 4,
                id: 10,
                reply_to: 9,
                items: vec![
                    ReconItem::FingerprintShort {
                        prefix: deep,
                        count: 3,
                        digest: [4; SHORT],
                    },
                    ReconItem::ListShort {
                        prefix: deep.child(1).unwrap(),
                        docs: vec![(pool()[2].clone(), [5; SHORT])],
                    },
                    ReconItem::Children {
                        prefix: deep,
                        kids: (0..16).map(|i| (i * 3, [i as u8; TINY])).collect(),
                    },
                    ReconItem::Keys {
                        prefix: deep,
                        docs: vec![
                            (deep.bits() | 0x0000_0012_3456_789a, [6; TINY]),
                            (deep.bits() | 0x0000_00ff_ffff_ffff, [7; TINY]),
                        ],
                    },
                    ReconItem::Keys {
                        prefix: Prefix::ROOT,
                        docs: vec![(u64::MAX, [8; TINY])],
                    },
                ],
            },
            SyncMsg::WantKeys {
                round: 4,
                keys: vec![1, u64::MAX],
            },
            SyncMsg::Whole {
                round: 4,
                doc_id: pool()[1].clone(),
                packed: false,
                data: rep.docs[&pool()[1]].save(),
            },
            SyncMsg::Want {
                round: 4,
                docs: vec![pool()[0].clone(), pool()[4].clone()],
            },
            SyncMsg::DocSyncPacked {
                round: 5,
                doc_id: pool()[1].clone(),
                data: pack(&[7; 4096]).unwrap(),
            },
        ]
    }

    #[test]
    fn documents_a_peer_lacks_travel_whole_and_bulky_messages_deflated() {
        let (mut a, _) = library(40);
        let mut b = Replica::new(2);
        // b holds a few of a's documents, one of them behind, and one a lacks.
        for (id, doc) in a.docs.iter().take(5) {
            b.docs.insert(id.clone(), doc.fork().with_actor(b.actor.clone()));
        }
        let behind = a.docs.keys().next().cloned().unwrap();
        let mut rng = Rng::new(5);
        for _ in 0..20 {
            edit(&mut a, &behind, &mut rng);
        }
        edit(&mut b, &page(900), &mut rng);
        let (mut sa, mut sb) = (Session::new(SYSTEM, "dev-a"), Session::new(SYSTEM, "dev-b"));
        let h = sb.start(&b, 0);
        let mut kinds = std::collections::HashSet::new();
        let (mut to_a, mut to_b) = (h, Vec::new());
        for _ in 0..40 {
            if to_a.is_empty() && to_b.is_empty() {
                break;
            }
            for m in std::mem::take(&mut to_a) {
                kinds.insert(std::mem::discriminant(&m));
                to_b.extend(sa.handle_bytes(&mut a, &m.encode(), 1).unwrap());
            }
            for m in std::mem::take(&mut to_b) {
                kinds.insert(std::mem::discriminant(&m));
                to_a.extend(sb.handle_bytes(&mut b, &m.encode(), 1).unwrap());
            }
        }
        assert!(sa.is_caught_up() && sb.is_caught_up());
        let whole = std::mem::discriminant(&SyncMsg::Whole {
            round: 0,
            doc_id: page(0),
            packed: false,
            data: Vec::new(),
        });
        // b lacks most of a's documents; it learns of them by position and asks.
        let want = std::mem::discriminant(&SyncMsg::WantKeys {
            round: 0,
            keys: Vec::new(),
        });
        assert!(kinds.contains(&whole) && kinds.contains(&want), "{kinds:?}");
        assert_eq!(
            sb.stats().changes_received,
            35 + 20,
            "35 documents whole, then 20 changes"
        );
        assert_converged(&[a, b], "whole documents");
        // What inflates past a frame is refused, not allocated.
        assert!(inflate(&pack(&vec![0u8; MAX_FRAME + 1]).unwrap()).is_none());
        assert!(inflate(b"not deflate").is_none());
    }

    #[test]
    fn frames_round_trip() {
        for m in samples() {
            let frame = m.encode();
            assert_eq!(frame.len(), m.encoded_len());
            assert_eq!(SyncMsg::decode(&frame).unwrap(), m);
        }
    }

    #[test]
    fn decoding_damaged_frames_never_panics() {
        let mut rng = Rng::new(42);
        for m in samples() {
            let good = m.encode();
            for cut in 0..good.len() {
                assert!(SyncMsg::decode(&good[..cut]).is_err(), "{m:?} cut at {cut}");
            }
            let mut long = good.clone();
            long.push(0);
            assert!(SyncMsg::decode(&long).is_err(), "trailing byte");
            for _ in 0..2000 {
                let mut bad = good.clone();
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(bad.len() as u64) as usize;
                    match rng.below(4) {
                        0 => bad[i] ^= 1 << rng.below(8),
                        1 => bad[i] = rng.next() as u8,
                        2 => {
                            bad.remove(i);
                        }
                        _ => bad.insert(i, rng.next() as u8),
                    }
                    if bad.is_empty() {
                        break;
                    }
                }
                let _ = SyncMsg::decode(&bad);
            }
        }
        for len in 0..512usize {
            let mut junk: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if len >= 2 && rng.pct(70) {
                junk[0] = PROTOCOL_VERSION;
                junk[1] = 1 + rng.below(4) as u8;
            }
            let _ = SyncMsg::decode(&junk);
        }
        // Declared counts and lengths far beyond the frame are refused before any
        // allocation; so are oversized frames and foreign versions.
        let mut huge = vec![PROTOCOL_VERSION, TAG_RECON, 1, 1, 0];
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(SyncMsg::decode(&huge).is_err());
        let mut overflow = vec![PROTOCOL_VERSION, TAG_REFUSE];
        overflow.extend_from_slice(&[0xff; 11]);
        assert!(SyncMsg::decode(&overflow).is_err());
        assert!(matches!(
            SyncMsg::decode(&vec![0u8; MAX_FRAME + 1]),
            Err(SyncError::FrameTooLarge(_))
        ));
        assert!(matches!(
            SyncMsg::decode(&[9, TAG_HELLO]),
            Err(SyncError::Version(9))
        ));
        assert!(matches!(
            SyncMsg::decode(&[PROTOCOL_VERSION, 77]),
            Err(SyncError::UnknownTag(77))
        ));
        let bad_id = SyncMsg::Refuse {
            round: 1,
            doc_id: DocId::System,
        }
        .encode();
        let mut bad_id = String::from_utf8_lossy(&bad_id)
            .replace("system", "systex")
            .into_bytes();
        bad_id.truncate(bad_id.len());
        assert!(matches!(SyncMsg::decode(&bad_id), Err(SyncError::BadDocId(_))));
    }

    #[test]
    fn prefixes_partition_the_documents() {
        let m: Manifest = (0..300).map(|i| (page(i), [i as u8; 32])).collect();
        let idx = Index::build(&m, &BTreeSet::new());
        assert_eq!(idx.range(Prefix::ROOT).len(), 300);
        let mut total = 0;
        for a in 0..16 {
            let pa = Prefix::ROOT.child(a).unwrap();
            let under: usize = (0..16).map(|b| idx.range(pa.child(b).unwrap()).len()).sum();
            assert_eq!(under, idx.range(pa).len());
            total += under;
        }
        assert_eq!(total, 300);
        let mut deepest = Prefix::ROOT;
        while let Some(c) = deepest.child(15) {
            deepest = c;
        }
        assert_eq!(deepest.depth(), MAX_DEPTH);
        assert_eq!(deepest.bits(), u64::MAX);
        assert!(Prefix::new(1, 0x0100_0000_0000_0000).is_none());
    }

    // ---- the deterministic simulation ------------------------------------------

    const CHAOS_MS: i64 = 2_500;
    const LIMIT_MS: i64 = CHAOS_MS + 600_000;
    const SIM_TIMEOUT_MS: i64 = 700;
    const SIM_LEAF: u64 = 3;

    type Flight = Reverse<(i64, u64, usize, usize, Vec<u8>)>;

    struct Sim {
        rng: Rng,
        now: i64,
        peers: Vec<Replica>,
        adj: Vec<Vec<usize>>,
        sessions: BTreeMap<(usize, usize), Session>,
        queue: BinaryHeap<Flight>,
        seq: u64,
        cut: BTreeSet<(usize, usize)>,
        drop_pct: u64,
        dup_pct: u64,
        max_delay: u64,
        delivered: u64,
        splits: u64,
    }

    #[derive(Debug, Default)]
    struct SimSummary {
        peers: usize,
        links: usize,
        delivered: u64,
        quiet_at: i64,
        timeouts: u64,
        dropped: u64,
        splits: u64,
        bytes: u64,
    }

    impl Sim {
        /// Put messages on the wire: cut links and unlucky messages vanish, some
        /// arrive twice, every one takes its own time (so they reorder).
        fn send(&mut self, from: usize, to: usize, msgs: Vec<SyncMsg>) {
            for m in msgs {
                if let SyncMsg::Recon { items, .. } = &m {
                    self.splits += items
                        .iter()
                        .filter(|i| {
                            matches!(i, ReconItem::Fingerprint { prefix, .. } | ReconItem::FingerprintShort { prefix, .. }
                                if prefix.depth() > 0)
                        })
                        .count() as u64;
                }
                let frame = m.encode();
                if self.cut.contains(&(from.min(to), from.max(to))) || self.rng.pct(self.drop_pct) {
                    continue;
                }
                let copies = if self.rng.pct(self.dup_pct) { 2 } else { 1 };
                for _ in 0..copies {
                    let at = self.now + 1 + self.rng.below(self.max_delay) as i64;
                    self.seq += 1;
                    self.queue.push(Reverse((at, self.seq, from, to, frame.clone())));
                }
            }
        }

        /// What the node does after a document changed: push it to every other peer.
        fn propagate(&mut self, p: usize, except: Option<usize>) {
            let changed: BTreeSet<DocId> = self.peers[p].changed.drain(..).collect();
            for id in &changed {
                for k in self.adj[p].clone() {
                    if Some(k) == except {
                        continue;
                    }
                    let s = self.sessions.get_mut(&(p, k)).unwrap();
                    let out = s.local_change(&mut self.peers[p], id, self.now);
                    self.send(p, k, out);
                }
            }
        }

        fn toggle_partition(&mut self) {
            let n = self.peers.len();
            if self.rng.pct(50) {
                let p = self.rng.below(n as u64) as usize;
                let k = self.adj[p][self.rng.below(self.adj[p].len() as u64) as usize];
                let key = (p.min(k), p.max(k));
                if !self.cut.remove(&key) {
                    self.cut.insert(key);
                }
            } else {
                let p = self.rng.below(n as u64) as usize;
                let keys: Vec<_> = self.adj[p].iter().map(|&k| (p.min(k), p.max(k))).collect();
                if keys.iter().all(|k| self.cut.contains(k)) {
                    for k in keys {
                        self.cut.remove(&k);
                    }
                } else {
                    self.cut.extend(keys);
                }
            }
        }
    }

    fn run_sim(seed: u64) -> SimSummary {
        let mut rng = Rng::new(seed);
        let n = 3 + rng.below(6) as usize;
        // Six busy documents and twelve quiet pages. Most pages are never written
        // during the run, so only reconciliation (not live pushes) can spread them;
        // a small leaf makes the reconciliation split prefixes even so.
        let mut ids = pool();
        let hot = ids.len() as u64;
        ids.extend((100..112).map(page));
        let mut peers: Vec<Replica> = (0..n).map(|i| Replica::new(seed * 16 + i as u64 + 1)).collect();
        for p in peers.iter_mut() {
            for id in &ids {
                if rng.pct(35) {
                    for _ in 0..1 + rng.below(2) {
                        edit(p, id, &mut rng);
                    }
                }
            }
            p.changed.clear();
        }
        // A ring, so every peer is reachable, plus random chords; most pairs never
        // meet and rely on others to carry their changes.
        let mut links = BTreeSet::new();
        for i in 0..n {
            let j = (i + 1) % n;
            links.insert((i.min(j), i.max(j)));
            for k in i + 1..n {
                if rng.pct(25) {
                    links.insert((i, k));
                }
            }
        }
        let mut adj = vec![Vec::new(); n];
        let mut sessions = BTreeMap::new();
        for &(i, j) in &links {
            adj[i].push(j);
            adj[j].push(i);
            sessions.insert(
                (i, j),
                Session::new(SYSTEM, format!("dev-{i}"))
                    .with_timeout(SIM_TIMEOUT_MS)
                    .with_leaf(SIM_LEAF),
            );
            sessions.insert(
                (j, i),
                Session::new(SYSTEM, format!("dev-{j}"))
                    .with_timeout(SIM_TIMEOUT_MS)
                    .with_leaf(SIM_LEAF),
            );
        }
        let mut sim = Sim {
            rng,
            now: 0,
            peers,
            adj,
            sessions,
            queue: BinaryHeap::new(),
            seq: 0,
            cut: BTreeSet::new(),
            drop_pct: 10,
            dup_pct: 5,
            max_delay: 60,
            delivered: 0,
            splits: 0,
        };
        for &(i, j) in &links {
            let out = sim.sessions.get_mut(&(i, j)).unwrap().start(&sim.peers[i], 0);
            sim.send(i, j, out);
            if sim.rng.pct(50) {
                let out = sim.sessions.get_mut(&(j, i)).unwrap().start(&sim.peers[j], 0);
                sim.send(j, i, out);
            }
        }

        let mut next_edit = sim.rng.below(100) as i64;
        let mut next_cut = 200 + sim.rng.below(800) as i64;
        let mut healed = false;
        loop {
            let t_msg = sim.queue.peek().map(|Reverse(f)| f.0);
            let timer = sim
                .sessions
                .iter()
                .filter_map(|(k, s)| s.poll_timeout().map(|t| (t, *k)))
                .min();
            let mut next: Vec<(i64, u8)> = Vec::new();
            next.extend(t_msg.map(|t| (t, 0)));
            next.extend(timer.map(|(t, _)| (t, 1)));
            if !healed {
                next.extend([(next_edit, 2), (next_cut, 3), (CHAOS_MS, 4)]);
            }
            let Some(&(t, kind)) = next.iter().min() else {
                break;
            };
            sim.now = sim.now.max(t);
            assert!(
                sim.now < LIMIT_MS,
                "seed {seed}: still busy after {} ms of virtual time",
                sim.now
            );
            match kind {
                0 => {
                    let Reverse((_, _, from, to, frame)) = sim.queue.pop().unwrap();
                    sim.delivered += 1;
                    let s = sim.sessions.get_mut(&(to, from)).unwrap();
                    let out = s
                        .handle_bytes(&mut sim.peers[to], &frame, sim.now)
                        .unwrap_or_else(|e| panic!("seed {seed}: peer {to} from {from}: {e}"));
                    sim.send(to, from, out);
                    sim.propagate(to, Some(from));
                }
                1 => {
                    let (_, (i, j)) = timer.unwrap();
                    let s = sim.sessions.get_mut(&(i, j)).unwrap();
                    let out = s.handle_timeout(&sim.peers[i], sim.now);
                    assert!(
                        s.poll_timeout().is_none_or(|t| t > sim.now),
                        "seed {seed}: timer did not move"
                    );
                    sim.send(i, j, out);
                }
                2 => {
                    let p = sim.rng.below(n as u64) as usize;
                    let pick = if sim.rng.pct(70) { hot } else { ids.len() as u64 };
                    let id = &ids[sim.rng.below(pick) as usize];
                    edit(&mut sim.peers[p], id, &mut sim.rng);
                    sim.propagate(p, None);
                    next_edit += 60 + sim.rng.below(240) as i64;
                }
                3 => {
                    sim.toggle_partition();
                    next_cut += 300 + sim.rng.below(1200) as i64;
                }
                _ => {
                    // The partitions heal and the weather calms, but links still lose,
                    // repeat and reorder the odd message.
                    sim.cut.clear();
                    sim.drop_pct = 3;
                    sim.dup_pct = 3;
                    healed = true;
                }
            }
        }

        for ((i, j), s) in &sim.sessions {
            assert!(s.is_caught_up(), "seed {seed}: session {i}->{j} never caught up");
        }
        assert_converged(&sim.peers, &format!("seed {seed}"));
        SimSummary {
            peers: n,
            links: links.len(),
            delivered: sim.delivered,
            quiet_at: sim.now,
            timeouts: sim.sessions.values().map(|s| s.stats().timeouts).sum(),
            dropped: sim.sessions.values().map(|s| s.stats().dropped).sum(),
            splits: sim.splits,
            bytes: sim.sessions.values().map(|s| s.stats().bytes_sent).sum(),
        }
    }

    #[test]
    fn simulated_lossy_network_converges() {
        // `BRANCHLINE_SIM_SEEDS=5000 cargo test --release -p branchline-core sim` soaks.
        let seeds: u64 = std::env::var("BRANCHLINE_SIM_SEEDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(50);
        let mut worst = SimSummary::default();
        let (mut total, mut timeouts, mut dropped, mut splits) = (0, 0, 0, 0);
        for seed in 0..seeds {
            let s = run_sim(seed);
            total += s.delivered;
            timeouts += s.timeouts;
            dropped += s.dropped;
            splits += s.splits;
            if s.quiet_at > worst.quiet_at {
                worst = s;
            }
        }
        assert!(timeouts > 0 && dropped > 0, "the network was not hostile enough");
        assert!(splits > 0, "reconciliation never had to split a prefix");
        eprintln!(
            "{seeds} seeds: {total} messages delivered, {timeouts} timeouts, {dropped} stale or duplicate \
             messages ignored, {splits} sub-prefix fingerprints sent; slowest to go quiet: {} peers, {} links, {} messages, quiet at {} ms, \
             {} timeouts, {} bytes",
            worst.peers, worst.links, worst.delivered, worst.quiet_at, worst.timeouts, worst.bytes
        );
    }

    #[test]
    fn simulation_is_deterministic() {
        let (a, b) = (run_sim(17), run_sim(17));
        assert_eq!(
            (a.delivered, a.quiet_at, a.bytes),
            (b.delivered, b.quiet_at, b.bytes)
        );
    }
}
