//! What the `sync_msg` fuzz target does with one input.
//!
//! Shared, through `#[path]`, by the fuzz target (`fuzz/fuzz_targets/sync_msg.rs`)
//! and by `branchline-tests` (the seed generator and the corpus replay test), so the
//! replay runs exactly the code the fuzzer ran.
//!
//! One input is one received frame. It goes through [`SyncMsg::decode`] (a message
//! that decodes must survive `decode(encode(msg))` unchanged), then into a
//! [`Session`] of two in-memory replicas at several points of their exchange: right
//! after `start`, once both Hellos were handled, in the middle of reconciliation, and
//! after both sides caught up (then again after a timeout restarts the round). After
//! the injection the two sessions keep talking until they go quiet, a session fails
//! (the node would close the connection) or [`MAX_STEPS`] messages were delivered.
//! Errors are fine; panics are not, and neither is a session that emits a message
//! its peer would refuse to decode.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ROOT};
use branchline_core::doc::new_doc;
use branchline_core::sync::{manifest_of, DocSource, Manifest, Session, SyncError, SyncMsg};
use branchline_core::DocId;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::OnceLock;

/// The library system both replicas belong to.
pub const SYSTEM: &str = "sys-fuzz";
/// Replica A's device id; the smaller one, so A drives the reconciliation.
pub const DEV_A: &str = "dev-a";
/// Replica B's device id.
pub const DEV_B: &str = "dev-b";
/// Messages delivered per scenario at most: a fuzzed message must not make a test of
/// a few microseconds run forever.
pub const MAX_STEPS: usize = 160;
/// Pages both replicas hold identically: with more than `LEAF` (16) documents on
/// each side, the root fingerprint splits into child prefixes.
pub const SHARED_PAGES: usize = 20;

/// A replica as the fixture built it, shared by every scenario.
#[derive(Debug)]
pub struct Template {
    pub actor: ActorId,
    pub docs: BTreeMap<DocId, Automerge>,
    pub manifest: Manifest,
    /// Documents this replica will not create when the peer offers them.
    pub refuse: BTreeSet<DocId>,
}

/// A replica: its documents, by id, as the node would hold them minus the store.
/// Copy-on-write over its [`Template`], so that starting a scenario costs no
/// document copies.
#[derive(Debug, Clone)]
pub struct Replica {
    template: &'static Template,
    /// Documents handed out mutably (copied from the template first) or created.
    own: BTreeMap<DocId, Automerge>,
    /// `on_changed` calls so far.
    pub changed: u64,
}

impl Replica {
    pub fn of(template: &'static Template) -> Replica {
        Replica {
            template,
            own: BTreeMap::new(),
            changed: 0,
        }
    }
    /// A document, without copying it.
    pub fn get(&self, id: &DocId) -> Option<&Automerge> {
        self.own.get(id).or_else(|| self.template.docs.get(id))
    }
}

impl DocSource for Replica {
    fn manifest(&self) -> std::borrow::Cow<'_, Manifest> {
        let mut m = self.template.manifest.clone();
        m.extend(manifest_of(&self.own));
        std::borrow::Cow::Owned(m)
    }
    fn doc(&mut self, id: &DocId) -> Option<&mut Automerge> {
        if !self.own.contains_key(id) {
            let copy = self.template.docs.get(id)?.clone();
            self.own.insert(id.clone(), copy);
        }
        self.own.get_mut(id)
    }
    fn create_empty(&mut self, id: &DocId) -> Option<&mut Automerge> {
        if self.template.refuse.contains(id) {
            return None;
        }
        if self.get(id).is_none() {
            let doc = new_doc(id, &self.template.actor).ok()?;
            self.own.insert(id.clone(), doc);
        }
        self.doc(id)
    }
    fn on_changed(&mut self, _id: &DocId) {
        self.changed += 1;
    }
}

/// Parse a document id the fixture uses (all are well formed).
pub fn doc_id(s: &str) -> DocId {
    s.parse().unwrap_or(DocId::System)
}

/// The `i`-th page id.
pub fn page(i: usize) -> DocId {
    doc_id(&format!("pages/6f1c2b8e-0000-4000-8000-{i:012}"))
}

/// A document both replicas hold with concurrent edits.
pub fn shared_edited() -> DocId {
    doc_id("tickets/2026-11")
}
/// A document only A holds.
pub fn only_a() -> DocId {
    doc_id("inventory")
}
/// A document only B holds.
pub fn only_b() -> DocId {
    page(900)
}
/// A document only B holds and A refuses to create.
pub fn refused_by_a() -> DocId {
    doc_id("schedule/2026-11")
}

/// One local write (deterministic: commit time 0).
pub fn edit(doc: &mut Automerge, key: &str, value: &str) {
    let mut tx = doc.transaction();
    if tx.put(ROOT, key, value).is_ok() {
        tx.commit_with(CommitOptions::default().with_time(0));
    }
}

fn new_in(docs: &mut BTreeMap<DocId, Automerge>, actor: &ActorId, id: &DocId) {
    if let Ok(doc) = new_doc(id, actor) {
        docs.insert(id.clone(), doc);
    }
}

/// The two replicas every scenario starts from: 20 identical pages and `system`
/// (shared history, then a write on each side), a ticket document both created and
/// wrote to on their own, `inventory` only on A, a page and `schedule/2026-11` only
/// on B (A refuses the latter).
pub fn fixture() -> &'static (Template, Template) {
    static FIXTURE: OnceLock<(Template, Template)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let actors = [
            ActorId::from([0xa1; 16].as_slice()),
            ActorId::from([0xb2; 16].as_slice()),
        ];
        let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
        let system = doc_id("system");
        let mut shared: Vec<DocId> = (0..SHARED_PAGES).map(page).collect();
        shared.push(system.clone());
        for id in &shared {
            new_in(&mut a, &actors[0], id);
            if let Some(doc) = a.get_mut(id) {
                edit(doc, "title", "shared");
                let fork = doc.fork().with_actor(actors[1].clone());
                b.insert(id.clone(), fork);
            }
        }
        for (docs, actor, side) in [(&mut a, &actors[0], "a"), (&mut b, &actors[1], "b")] {
            if let Some(doc) = docs.get_mut(&system) {
                edit(doc, side, "was here");
            }
            let t = shared_edited();
            new_in(docs, actor, &t);
            if let Some(doc) = docs.get_mut(&t) {
                edit(doc, "r1", side);
                edit(doc, "r2", side);
            }
        }
        for (on_a, id) in [(true, only_a()), (false, only_b()), (false, refused_by_a())] {
            let (docs, actor) = if on_a {
                (&mut a, &actors[0])
            } else {
                (&mut b, &actors[1])
            };
            new_in(docs, actor, &id);
            if let Some(doc) = docs.get_mut(&id) {
                edit(doc, "note", "mine");
            }
        }
        let [actor_a, actor_b] = actors;
        (
            Template {
                actor: actor_a,
                manifest: manifest_of(&a),
                docs: a,
                refuse: BTreeSet::from([refused_by_a()]),
            },
            Template {
                actor: actor_b,
                manifest: manifest_of(&b),
                docs: b,
                refuse: BTreeSet::new(),
            },
        )
    })
}

/// Where in the exchange a scenario injects the fuzzed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// After this many frames were delivered (0: right after both `start`s).
    Step(usize),
    /// Once both sides went quiet.
    Quiet,
    /// Once quiet, after a timeout restarted the round on A.
    Restarted,
}

/// The scenarios each input runs: (into A?, when).
pub const SCENARIOS: &[(bool, At)] = &[
    (true, At::Step(0)),
    (true, At::Step(2)),
    (false, At::Step(2)),
    (true, At::Step(5)),
    (false, At::Quiet),
    (true, At::Restarted),
];

/// Two replicas, their sessions and the frames in flight.
pub struct Pair {
    pub a: Replica,
    pub b: Replica,
    pub sa: Session,
    pub sb: Session,
    /// (for B?, frame)
    pub queue: VecDeque<(bool, Vec<u8>)>,
    pub delivered: usize,
    /// A session failed: the connection is closed, nothing more is delivered.
    pub closed: Option<SyncError>,
    pub now: i64,
}

/// Every message a session emits must encode to a frame its peer decodes as the same
/// message.
fn frames(out: Vec<SyncMsg>, for_b: bool) -> impl Iterator<Item = (bool, Vec<u8>)> {
    out.into_iter().map(move |m| {
        let frame = m.encode();
        assert_eq!(frame.len(), m.encoded_len(), "encoded_len of emitted {m:?}");
        match SyncMsg::decode(&frame) {
            Ok(back) => assert_eq!(back, m, "emitted message changed in transit"),
            Err(e) => panic!("a session emitted a message its peer refuses ({e}): {m:?}"),
        }
        (for_b, frame)
    })
}

impl Pair {
    /// Both replicas from the fixture, both sessions started (A's Hello first).
    pub fn new() -> Pair {
        let (ta, tb) = fixture();
        let mut p = Pair {
            a: Replica::of(ta),
            b: Replica::of(tb),
            sa: Session::new(SYSTEM, DEV_A),
            sb: Session::new(SYSTEM, DEV_B),
            queue: VecDeque::new(),
            delivered: 0,
            closed: None,
            now: 0,
        };
        let to_b = p.sa.start(&p.a, 0);
        let to_a = p.sb.start(&p.b, 0);
        p.queue.extend(frames(to_b, true));
        p.queue.extend(frames(to_a, false));
        p
    }

    /// Hand one frame to A (`into_a`) or B; queue what it answers. False when the
    /// session failed (that closes the connection) or the connection was closed.
    pub fn receive(&mut self, into_a: bool, frame: &[u8]) -> bool {
        if self.closed.is_some() {
            return false;
        }
        self.now += 10;
        let r = if into_a {
            self.sa.handle_bytes(&mut self.a, frame, self.now)
        } else {
            self.sb.handle_bytes(&mut self.b, frame, self.now)
        };
        match r {
            Ok(out) => {
                self.queue.extend(frames(out, into_a));
                true
            }
            Err(e) => {
                self.closed = Some(e);
                self.queue.clear();
                false
            }
        }
    }

    /// Deliver the next frame in flight; false once quiet, closed or out of steps.
    pub fn step(&mut self) -> bool {
        if self.delivered >= MAX_STEPS || self.closed.is_some() {
            return false;
        }
        let Some((for_b, frame)) = self.queue.pop_front() else {
            return false;
        };
        self.delivered += 1;
        self.receive(!for_b, &frame);
        true
    }

    /// Deliver until quiet (or closed, or out of steps).
    pub fn run(&mut self) {
        while self.step() {}
    }

    /// Let A's timeout fire (the exchange went quiet without catching up, or we
    /// pretend it did): a new round.
    pub fn restart_a(&mut self) {
        self.now += 1_000_000;
        let out = self.sa.start(&self.a, self.now);
        self.queue.extend(frames(out, true));
    }
}

impl Default for Pair {
    fn default() -> Self {
        Pair::new()
    }
}

/// Decode `data`; a message that decodes must encode to a frame of `encoded_len`
/// bytes that decodes back to the same message.
pub fn decode_round_trip(data: &[u8]) -> Result<SyncMsg, SyncError> {
    let msg = SyncMsg::decode(data)?;
    let again = msg.encode();
    assert_eq!(again.len(), msg.encoded_len(), "encoded_len of {msg:?}");
    match SyncMsg::decode(&again) {
        Ok(back) => assert_eq!(back, msg, "decode(encode(msg)) != msg"),
        Err(e) => panic!("re-encoded message does not decode ({e}): {msg:?}"),
    }
    Ok(msg)
}

/// One scenario: run the exchange to the injection point, hand `data` to one side,
/// keep the exchange going. Returns whether that side took the frame (false: it
/// failed, and the node would close the connection).
pub fn scenario(data: &[u8], into_a: bool, at: At) -> bool {
    let mut p = Pair::new();
    match at {
        At::Step(n) => while p.delivered < n && p.step() {},
        At::Quiet => p.run(),
        At::Restarted => {
            p.run();
            p.restart_a();
        }
    }
    let decodes = SyncMsg::decode(data).is_ok();
    let stats = |p: &Pair| {
        if into_a {
            p.sa.stats().dropped
        } else {
            p.sb.stats().dropped
        }
    };
    let (dropped, queued) = (stats(&p), p.queue.len());
    let taken = p.receive(into_a, data);
    if !decodes {
        assert!(!taken, "handle_bytes took a frame decode refuses");
    }
    // A frame dropped as stale or duplicate, with nothing sent in answer, leaves the
    // exchange as it was: the rest of it is what a clean run does, so skip it.
    let ignored = taken && stats(&p) > dropped && p.queue.len() == queued;
    if !ignored {
        p.run();
    }
    let now = p.now + 1_000_000;
    // Whatever state the fuzzed frame left behind, timers must still work.
    for (on_a, deadline) in [(true, p.sa.poll_timeout()), (false, p.sb.poll_timeout())] {
        if deadline.is_some_and(|t| now >= t) {
            let out = if on_a {
                p.sa.handle_timeout(&p.a, now)
            } else {
                p.sb.handle_timeout(&p.b, now)
            };
            assert!(!out.is_empty(), "a timeout that fired sent no Hello");
            let _ = frames(out, on_a).count();
        }
    }
    taken
}

/// Everything the fuzz target does with one input; returns the plain decode.
///
/// A frame that does not decode is refused by `handle_bytes` before the session
/// looks at it, so one scenario checks that and the others are skipped.
pub fn run(data: &[u8]) -> Result<SyncMsg, SyncError> {
    let decoded = decode_round_trip(data);
    let scenarios = if decoded.is_ok() {
        SCENARIOS
    } else {
        &SCENARIOS[..1]
    };
    for &(into_a, at) in scenarios {
        scenario(data, into_a, at);
    }
    decoded
}
