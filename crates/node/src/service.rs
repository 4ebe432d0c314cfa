//! The running node on the network: listens, dials known and discovered peers,
//! keeps one sync session per peer, pushes local changes as they happen, and
//! answers joins on enrolment authorities.
//!
//! The sync decisions are `core::sync::Session`'s; this module moves its messages
//! over `net` connections and applies what arrives through `NodeSource`. The node
//! sits behind a mutex that is never held across an await.

use crate::enrol::{JoinRequest, JoinResponse};
use crate::{Node, NodeError, Result};
use branchline_core::schema::Kind;
use branchline_core::sync::{DocSource, Prepared, Session};
use branchline_core::DocId;
use branchline_net::endpoint::close_code;
use branchline_net::{
    read_frame, write_frame, ClientTls, Connection, DeviceKey, Endpoint, MdnsOptions, RecvStream,
    Revocations, SendStream, ServerTls,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// The port a branch desktop listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 7733;
const MAX_FRAME: usize = branchline_core::sync::MAX_FRAME + 16;
/// An idle session re-checks that both sides still agree this often.
const RECHECK_MS: i64 = 60_000;
/// Change notices buffered per session before it falls back to a full re-check.
const EVENT_BUFFER: usize = 65_536;

/// Frame kinds: the first byte of every frame on a connection.
mod kind {
    pub const SYNC: u8 = 1;
    pub const JOIN_REQUEST: u8 = 2;
    pub const JOIN_RESPONSE: u8 = 3;
    pub const REFUSED: u8 = 4;
    pub const ADDRESSES: u8 = 5;
}

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub mdns: MdnsOptions,
    /// How often to look for changes other processes wrote to the data directory.
    pub poll: Duration,
    /// How often to try peers that are not connected.
    pub dial_every: Duration,
}

impl ServeOptions {
    pub fn new(listen: SocketAddr) -> ServeOptions {
        ServeOptions {
            listen,
            mdns: MdnsOptions {
                enabled: true,
                interface: None,
            },
            poll: Duration::from_millis(100),
            dial_every: Duration::from_secs(2),
        }
    }
}

/// What one peer looks like from here.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PeerStatus {
    pub device_id: String,
    pub name: String,
    pub addr: String,
    pub connected: bool,
    pub caught_up: bool,
    pub last_synced: Option<i64>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub changes_received: u64,
    /// Chunks of changes sent to the peer.
    pub changes_sent: u64,
    /// Documents this side still has to exchange with the peer (0 when caught up).
    pub docs_waiting: u64,
    pub last_error: Option<String>,
}

/// Totals of one session, for `sync --once`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncSummary {
    pub peer: String,
    pub documents: u64,
    pub changes_received: u64,
    pub changes_sent: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub millis: u64,
}

/// A document changed here: written by this process, by another process on the same
/// data directory, or merged from a peer. A desktop shell subscribes to these.
#[derive(Debug, Clone)]
pub struct Changed {
    pub doc: DocId,
    /// The peer it came from, which need not hear it back.
    pub from: Option<String>,
    /// When this node applied it (ms since the epoch).
    pub at: i64,
}

struct Shared {
    node: Mutex<Node>,
    system_id: String,
    device_id: String,
    events: broadcast::Sender<Changed>,
    status: Mutex<BTreeMap<String, PeerStatus>>,
    /// Open session per peer device: (session number, its connection).
    connected: Mutex<HashMap<String, (u64, Connection)>>,
    next_session: std::sync::atomic::AtomicU64,
    revoked: Revocations,
    /// Highest change number already announced to sessions.
    seen: std::sync::atomic::AtomicI64,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn lock(m: &Mutex<Node>) -> std::sync::MutexGuard<'_, Node> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn net(e: branchline_net::NetError) -> NodeError {
    NodeError::Net(e.code(), e.to_string())
}

async fn send(s: &mut SendStream, kind: u8, payload: &[u8]) -> Result<()> {
    let mut f = Vec::with_capacity(payload.len() + 1);
    f.push(kind);
    f.extend_from_slice(payload);
    write_frame(s, &f).await.map_err(net)
}

async fn recv(r: &mut RecvStream) -> Result<Option<(u8, Vec<u8>)>> {
    match read_frame(r, MAX_FRAME).await.map_err(net)? {
        None => Ok(None),
        Some(f) if f.is_empty() => Err(NodeError::Net("net.protocol", "empty frame".into())),
        Some(mut f) => {
            let k = f.remove(0);
            Ok(Some((k, f)))
        }
    }
}

fn tls_of(node: &mut Node) -> Result<(ServerTls, ClientTls, Revocations)> {
    let creds = node.credentials()?.ok_or_else(|| {
        NodeError::Usage(
            "this device has no certificate: enrol it with `branchline join CODE` (a replica made from a bundle syncs by bundle)"
                .into(),
        )
    })?;
    let root = node
        .root_ca()?
        .ok_or_else(|| NodeError::Usage("no root certificate on this device".into()))?;
    let revoked = Revocations::from_ids(node.revoked_devices()?);
    let server = ServerTls::new(&creds, std::slice::from_ref(&root), revoked.clone()).map_err(net)?;
    let client = ClientTls::new(&creds, &[root], revoked.clone()).map_err(net)?;
    Ok((server, client, revoked))
}

impl Shared {
    /// Announce documents changed since the last look (by this process or another on
    /// the same data directory) to every session.
    fn announce_changes(&self) {
        use std::sync::atomic::Ordering;
        let since = self.seen.load(Ordering::SeqCst);
        let found = lock(&self.node).changes_since(since);
        let Ok((max, docs)) = found else { return };
        if self.seen.fetch_max(max, Ordering::SeqCst) >= max {
            return;
        }
        for doc in docs {
            if doc == DocId::System {
                if let Ok(ids) = lock(&self.node).revoked_devices() {
                    // A revoked device loses its open session too, not only the next one.
                    let open = self.connected.lock().unwrap_or_else(|p| p.into_inner());
                    for id in &ids {
                        if let Some((_, conn)) = open.get(id) {
                            conn.close(close_code::FORBIDDEN, "revoked");
                        }
                    }
                    drop(open);
                    self.revoked.replace_all(ids);
                }
            }
            let _ = self.events.send(Changed {
                doc,
                from: None,
                at: now_ms(),
            });
        }
    }

    fn set_status(&self, device: &str, f: impl FnOnce(&mut PeerStatus)) {
        let mut st = self.status.lock().unwrap_or_else(|p| p.into_inner());
        let e = st.entry(device.to_string()).or_insert_with(|| PeerStatus {
            device_id: device.to_string(),
            ..Default::default()
        });
        f(e);
    }

    fn status_json(&self) -> Option<String> {
        let st = self.status.lock().unwrap_or_else(|p| p.into_inner()).clone();
        serde_json::to_string(&st.values().collect::<Vec<_>>()).ok()
    }

    fn publish_status(&self) {
        if let Some(json) = self.status_json() {
            let _ = lock(&self.node).set_sync_status(&json);
        }
    }
}

/// A frame from the peer: a sync message already prepared (decoded; a whole
/// document in it loaded), or another kind with its payload.
enum Incoming {
    Sync(std::result::Result<Box<Arrived>, String>),
    Other(u8, Vec<u8>),
}

type Frame = Result<Option<Incoming>>;

/// Frames from which preparing moves off the async threads.
const PREPARE_BLOCKING: usize = 1024;
/// What one batch takes at most before it is stored: frames, and their bytes.
const BATCH_FRAMES: usize = 256;
const BATCH_BYTES: usize = 32 * 1024 * 1024;

/// Frames queued for the peer past which a session waits for them to go out.
const OUTBOX_MAX: usize = 8 * 1024 * 1024;

/// Frames to the peer, written by a task of their own: a session hands a reply
/// over without waiting (even while it holds the node), so replies go out while it
/// stores what arrived, and the first of many replies go out before the last is made.
struct Outbox {
    frames: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    queued: Arc<(std::sync::atomic::AtomicUsize, tokio::sync::Notify)>,
}

impl Outbox {
    /// Start the writer; it hands the stream back when the outbox is dropped and
    /// everything in it is written (`None` if writing failed).
    fn start(mut tx: SendStream) -> (Outbox, tokio::task::JoinHandle<Option<SendStream>>) {
        let (frames, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        let queued = Arc::new((std::sync::atomic::AtomicUsize::new(0), tokio::sync::Notify::new()));
        let q = queued.clone();
        let writer = tokio::spawn(async move {
            while let Some(f) = rx.recv().await {
                let ok = write_frame(&mut tx, &f).await.is_ok();
                q.0.fetch_sub(f.len(), std::sync::atomic::Ordering::SeqCst);
                q.1.notify_waiters();
                if !ok {
                    return None;
                }
            }
            Some(tx)
        });
        (Outbox { frames, queued }, writer)
    }

    fn push(&self, kind: u8, payload: &[u8]) -> Result<()> {
        let mut f = Vec::with_capacity(payload.len() + 1);
        f.push(kind);
        f.extend_from_slice(payload);
        let len = f.len();
        self.queued.0.fetch_add(len, std::sync::atomic::Ordering::SeqCst);
        self.frames
            .send(f)
            .map_err(|_| NodeError::Net("net.closed", "the connection to the peer is gone".into()))
    }

    fn push_all(&self, msgs: impl IntoIterator<Item = branchline_core::sync::SyncMsg>) -> Result<()> {
        for m in msgs {
            self.push(kind::SYNC, &m.encode())?;
        }
        Ok(())
    }

    /// Wait while much is still queued: the peer's pace holds the session back.
    async fn drained(&self) {
        loop {
            let notified = self.queued.1.notified();
            if self.queued.0.load(std::sync::atomic::Ordering::SeqCst) <= OUTBOX_MAX {
                return;
            }
            notified.await;
        }
    }
}

/// A sync frame as the reader prepared it: decoded, a whole document loaded, and
/// that document's index rows worked out (the session's thread then only stores
/// them).
struct Arrived {
    frame: Prepared,
    indexed: Option<(DocId, crate::sync_source::Indexed)>,
}

/// Prepare a received sync frame. automerge has panicked on crafted input before;
/// a bad peer must cost its own connection, never the node.
fn prepare(frame: &[u8]) -> std::result::Result<Box<Arrived>, String> {
    let r = std::panic::catch_unwind(|| {
        let frame = Prepared::new(frame)?;
        let indexed = frame
            .whole_doc()
            .and_then(|(id, doc)| Some((id.clone(), crate::sync_source::Indexed::new(id, doc)?)));
        Ok::<_, branchline_core::sync::SyncError>(Box::new(Arrived { frame, indexed }))
    });
    match r {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("a message from the peer could not be read".into()),
    }
}

/// A frame as it comes off the stream: ready, or being prepared on a blocking
/// thread.
enum Preparing {
    Ready(Frame),
    Pending(tokio::task::JoinHandle<std::result::Result<Box<Arrived>, String>>),
}

/// Frames queued between reading and handing on: each whole document is loaded and
/// indexed on a thread of its own, so documents that arrive together are ready
/// together, rather than one after another behind a single reader. With the one
/// being handed on and the one just read (waiting for room), at most this many
/// plus two are prepared at once.
const PREPARING_AHEAD: usize = 3;

/// Read and prepare the peer's frames, and hand them on in the order they came:
/// loading the documents in some frames overlaps with handling and storing the ones
/// before.
async fn read_frames(rx: RecvStream, to: tokio::sync::mpsc::Sender<Frame>) {
    let (preparing, mut queue) = tokio::sync::mpsc::channel::<Preparing>(PREPARING_AHEAD);
    // Reading goes on while earlier frames are prepared; it ends with this task.
    let _reading = AbortOnDrop(tokio::spawn(read_and_prepare(rx, preparing)));
    while let Some(p) = queue.recv().await {
        let frame = match p {
            Preparing::Ready(f) => f,
            Preparing::Pending(job) => {
                Ok(Some(Incoming::Sync(job.await.unwrap_or_else(|_| {
                    Err("a message from the peer could not be read".into())
                }))))
            }
        };
        let end = !matches!(frame, Ok(Some(_)));
        if to.send(frame).await.is_err() || end {
            break;
        }
    }
}

async fn read_and_prepare(mut rx: RecvStream, to: tokio::sync::mpsc::Sender<Preparing>) {
    loop {
        let p = match recv(&mut rx).await {
            // A frame that may carry a document (to load and index) is prepared on a
            // blocking thread; the small messages of a reconciliation are not worth
            // the hand-over.
            Ok(Some((kind::SYNC, b))) if b.len() >= PREPARE_BLOCKING => {
                Preparing::Pending(tokio::task::spawn_blocking(move || prepare(&b)))
            }
            Ok(Some((kind::SYNC, b))) => Preparing::Ready(Ok(Some(Incoming::Sync(prepare(&b))))),
            Ok(Some((k, b))) => Preparing::Ready(Ok(Some(Incoming::Other(k, b)))),
            Ok(None) => Preparing::Ready(Ok(None)),
            Err(e) => Preparing::Ready(Err(e)),
        };
        let end = matches!(&p, Preparing::Ready(f) if !matches!(f, Ok(Some(_))));
        if to.send(p).await.is_err() || end {
            break;
        }
    }
}

/// The next frame: one set aside while batching, else the next from the reader.
async fn next_frame(stashed: &mut Option<Frame>, frames: &mut tokio::sync::mpsc::Receiver<Frame>) -> Frame {
    match stashed.take() {
        Some(f) => f,
        None => frames.recv().await.unwrap_or(Ok(None)),
    }
}

/// Run blocking work on the current thread without holding up the runtime: on a
/// multi-threaded runtime the worker's other tasks move to another thread
/// meanwhile, and tasks woken by `f` (the outbox writer) run at once rather than
/// wait in this worker's queue until `f` returns.
fn off_worker<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Aborts a task when dropped, so a session never leaves its reader behind.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One sync session over one connection, until it closes or `stop` fires.
/// `once` ends it as soon as both sides are caught up.
async fn run_session(
    sh: Arc<Shared>,
    conn: Connection,
    (tx, rx): (SendStream, RecvStream),
    mut stop: watch::Receiver<bool>,
    once: bool,
    started: std::time::Instant,
) -> Result<SyncSummary> {
    let peer = conn
        .peer()
        .map(|p| p.device_id.clone())
        .ok_or_else(|| NodeError::Net("net.forbidden", "unauthenticated peer".into()))?;
    if peer == sh.device_id {
        conn.close(close_code::PROTOCOL, "that is me");
        return Err(NodeError::Net("net.self", "connected to itself".into()));
    }
    // One session per peer: a new connection from a device replaces the old one (the
    // old may be a half-closed leftover of a quick reconnect).
    let me = sh.next_session.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let previous = sh
        .connected
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(peer.clone(), (me, conn.clone()));
    if let Some((_, old)) = previous {
        old.close(close_code::NORMAL, "replaced by a newer connection");
    }
    let addr = conn.remote_addr().to_string();
    sh.set_status(&peer, |s| {
        s.connected = true;
        s.addr = addr.clone();
        s.last_error = None;
    });
    let mut events = sh.events.subscribe();
    let mut session = Session::new(sh.system_id.clone(), sh.device_id.clone());
    let (outbox, writer) = Outbox::start(tx);
    let result = async {
        // The addresses go first: they are ready at once, and a peer that dialled
        // opens its end of the session only when the stream's first bytes arrive,
        // so both sides then prepare their Hello at the same time.
        let learned = lock(&sh.node).known_addresses()?;
        outbox.push(kind::ADDRESSES, &serde_json::to_vec(&learned).unwrap_or_default())?;
        let first = {
            let mut node = lock(&sh.node);
            // Saved sync states are read as the session reaches each document.
            let src = node.sync_source()?.for_peer(&peer);
            session.start(&src, now_ms())
        };
        outbox.push_all(first)?;
        // Frames are read by their own task: a read cancelled half-way by another
        // branch of the select below would lose bytes and desynchronise the stream.
        let (frames_tx, mut frames) = tokio::sync::mpsc::channel::<Frame>(16);
        let reader = tokio::spawn(read_frames(rx, frames_tx));
        let _reader = AbortOnDrop(reader);
        let mut stashed: Option<Frame> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut recheck = false;
        let mut last_round = now_ms();
        loop {
            if once && session.is_caught_up() {
                break;
            }
            let out = tokio::select! {
                _ = stop.changed() => break,
                frame = next_frame(&mut stashed, &mut frames) => match frame? {
                    None => break,
                    Some(Incoming::Sync(first)) => {
                        // Every sync frame already here, and those that arrive while
                        // these are handled, are applied together: one lock, one
                        // transaction for the lot.
                        // Handled off the runtime's worker (as blocking work may be):
                        // a reply handed to the outbox is then written at once by
                        // another thread, not left queued behind this batch.
                        let changed = off_worker(|| {
                            let mut node = lock(&sh.node);
                            let mut src = node.sync_source()?.for_peer(&peer);
                            let mut failed = None;
                            let mut gone = None;
                            let (mut n, mut bytes) = (0usize, 0usize);
                            let mut queue = std::collections::VecDeque::new();
                            let mut next = Some(first);
                            let mut queued_bytes = 0usize;
                            let mut more = true;
                            'batch: while let Some(p) = next.take() {
                                // What has arrived meanwhile joins the batch, and the
                                // documents its messages are about are read from the
                                // store together, not one per message.
                                queue.push_back(p);
                                while more && n + queue.len() < BATCH_FRAMES && bytes + queued_bytes < BATCH_BYTES {
                                    match frames.try_recv() {
                                        Ok(Ok(Some(Incoming::Sync(p)))) => {
                                            queued_bytes += p.as_ref().map_or(0, |a| a.frame.frame_len());
                                            queue.push_back(p);
                                        }
                                        Ok(other) => {
                                            stashed = Some(other);
                                            more = false;
                                        }
                                        Err(_) => break,
                                    }
                                }
                                let ahead: Vec<DocId> = queue
                                    .iter()
                                    .filter_map(|p| p.as_ref().ok()?.frame.doc_read().cloned())
                                    .collect();
                                if ahead.len() > 1 {
                                    src.prefetch(&ahead);
                                }
                                while let Some(p) = queue.pop_front() {
                                    let p = match p {
                                        Ok(arrived) => {
                                            let Arrived { frame, indexed } = *arrived;
                                            if let Some((id, ix)) = indexed {
                                                src.offer_indexed(id, ix);
                                            }
                                            frame
                                        }
                                        Err(e) => {
                                            failed = Some(e);
                                            break 'batch;
                                        }
                                    };
                                    n += 1;
                                    bytes += p.frame_len();
                                    queued_bytes = queued_bytes.saturating_sub(p.frame_len());
                                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                        // Each reply goes out as soon as it is made, before
                                        // what arrived is stored.
                                        session.handle_prepared_into(&mut src, p, now_ms(), &mut |m| {
                                            if gone.is_none() {
                                                gone = outbox.push(kind::SYNC, &m.encode()).err();
                                            }
                                        })
                                    }));
                                    match r {
                                        Ok(Ok(())) => {}
                                        Ok(Err(e)) => {
                                            failed = Some(e.to_string());
                                            break 'batch;
                                        }
                                        Err(_) => {
                                            drop(src);
                                            node.drop_cache();
                                            return Err(NodeError::Net("net.protocol", "a message from the peer could not be applied".into()));
                                        }
                                    }
                                    if gone.is_some() {
                                        break 'batch;
                                    }
                                }
                                if !more || n >= BATCH_FRAMES || bytes >= BATCH_BYTES {
                                    break;
                                }
                                match frames.try_recv() {
                                    Ok(Ok(Some(Incoming::Sync(p)))) => next = Some(p),
                                    Ok(other) => stashed = Some(other),
                                    Err(_) => {}
                                }
                            }
                            // What was applied is kept even when a later frame is bad.
                            // While catching up, batches are stored without waiting
                            // for the disk; the batch that ends the catch-up, or
                            // the session's end, syncs them all with one fsync.
                            src.sync_to_disk(session.is_caught_up() || failed.is_some() || gone.is_some());
                            let changed = src.finish()?;
                            if let Some(e) = failed {
                                return Err(NodeError::Net("net.protocol", e));
                            }
                            if let Some(e) = gone {
                                return Err(e);
                            }
                            Ok(changed)
                        })?;
                        for doc in changed {
                            let _ = sh.events.send(Changed {
                                doc,
                                from: Some(peer.clone()),
                                at: now_ms(),
                            });
                        }
                        Vec::new()
                    }
                    Some(Incoming::Other(kind::ADDRESSES, bytes)) => {
                        if let Ok(list) = serde_json::from_slice::<Vec<(String, String)>>(&bytes) {
                            let mut node = lock(&sh.node);
                            for (dev, a) in list.into_iter().take(256) {
                                if dev != sh.device_id && a.parse::<SocketAddr>().is_ok() {
                                    let _ = node.add_peer(&a, "learned", Some(&dev));
                                }
                            }
                        }
                        Vec::new()
                    }
                    Some(Incoming::Other(k, _)) => return Err(NodeError::Net("net.protocol", format!("unexpected frame kind {k}"))),
                },
                ev = events.recv() => match ev {
                    Ok(Changed { doc, from, .. }) if from.as_deref() != Some(peer.as_str()) => {
                        let mut node = lock(&sh.node);
                        let mut src = node.sync_source()?.for_peer(&peer);
                        let out = session.local_change(&mut src, &doc, now_ms());
                        src.finish()?;
                        out
                    }
                    Ok(_) => Vec::new(),
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Missed some change notices: reconcile again once the exchange
                        // in flight has settled (restarting now would only add rounds).
                        recheck = true;
                        Vec::new()
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = tick.tick() => {
                    let mut node = lock(&sh.node);
                    let dirty = session.take_dirty_states();
                    node.save_sync_states(&peer, &dirty)?;
                    let src = node.sync_source()?.for_peer(&peer);
                    let now = now_ms();
                    // A cheap round now and then (one round trip when nothing differs)
                    // catches anything a lost notice or a lagging peer left behind.
                    if session.is_caught_up() && (recheck || now - last_round > RECHECK_MS) {
                        recheck = false;
                        last_round = now;
                        session.start(&src, now)
                    } else {
                        session.handle_timeout(&src, now)
                    }
                }
            };
            outbox.push_all(out)?;
            outbox.drained().await;
            let stats = session.stats().clone();
            let caught_up = session.is_caught_up();
            let waiting = session.docs_in_flight() as u64;
            sh.set_status(&peer, |s| {
                s.caught_up = caught_up;
                s.bytes_sent = stats.bytes_sent;
                s.bytes_received = stats.bytes_received;
                s.changes_received = stats.changes_received;
                s.changes_sent = stats.change_chunks_sent;
                s.docs_waiting = waiting;
                if caught_up {
                    s.last_synced = Some(now_ms());
                }
            });
        }
        Ok::<_, NodeError>(())
    }
    .await;
    let stats = session.stats().clone();
    {
        let mut c = sh.connected.lock().unwrap_or_else(|p| p.into_inner());
        if c.get(&peer).is_some_and(|(n, _)| *n == me) {
            c.remove(&peer);
        }
    }
    sh.set_status(&peer, |s| {
        s.connected = false;
        if let Err(e) = &result {
            s.last_error = Some(e.to_string());
        }
    });
    {
        // The session's sync states, where the peer was seen, and the status the
        // daemon publishes: one transaction (one fsync) rather than three.
        let status = sh.status_json();
        let mut node = lock(&sh.node);
        let dirty = session.take_dirty_states();
        let _ = node.session_ended(
            &peer,
            &dirty,
            &addr,
            now_ms(),
            session.is_caught_up(),
            result.as_ref().err().map(|e| e.to_string()),
            status.as_deref(),
        );
    }
    // Both sides agree and what arrived is stored: the stream's closing handshake
    // below (which waits for the peer's acknowledgement) is not part of the sync.
    let millis = started.elapsed().as_millis() as u64;
    drop(outbox);
    // After a failure what is still queued is not waited for: the peer may have
    // stopped reading.
    let tx = if result.is_ok() {
        writer.await.ok().flatten()
    } else {
        writer.abort();
        None
    };
    if let (Ok(()), Some(mut tx)) = (&result, tx) {
        let _ = branchline_net::endpoint::finish(&mut tx).await;
        conn.close(close_code::NORMAL, "done");
    }
    result.map(|()| SyncSummary {
        peer,
        documents: stats.docs_synced,
        changes_received: stats.changes_received,
        changes_sent: stats.change_chunks_sent,
        bytes_sent: stats.bytes_sent,
        bytes_received: stats.bytes_received,
        millis,
    })
}

/// Serve an anonymous connection: a device joining with an invite, or nothing.
async fn answer_join(sh: Arc<Shared>, conn: Connection) -> Result<()> {
    let (mut tx, mut rx) = tokio::time::timeout(Duration::from_secs(10), conn.accept_bi())
        .await
        .map_err(|_| NodeError::Net("net.timed_out", "no join request".into()))?
        .map_err(net)?;
    let req = match recv(&mut rx).await? {
        Some((kind::JOIN_REQUEST, bytes)) => serde_json::from_slice::<JoinRequest>(&bytes)
            .map_err(|e| NodeError::Net("net.protocol", format!("join request: {e}")))?,
        _ => {
            conn.close(close_code::FORBIDDEN, "not enrolled");
            return Err(NodeError::Net(
                "net.forbidden",
                "an unenrolled device asked for data".into(),
            ));
        }
    };
    let answer = lock(&sh.node).answer_join(&req);
    match answer {
        Ok(resp) => {
            send(
                &mut tx,
                kind::JOIN_RESPONSE,
                &serde_json::to_vec(&resp).unwrap_or_default(),
            )
            .await?;
            let _ = branchline_net::endpoint::finish(&mut tx).await;
            // The new device record is a change peers (and the joiner) should see.
            let _ = sh.events.send(Changed {
                doc: DocId::System,
                from: None,
                at: now_ms(),
            });
            Ok(())
        }
        Err(e) => {
            send(&mut tx, kind::REFUSED, e.to_string().as_bytes()).await?;
            let _ = branchline_net::endpoint::finish(&mut tx).await;
            conn.close(close_code::FORBIDDEN, "join refused");
            Err(e)
        }
    }
}

/// A running node. Dropping it does not stop it: call `shutdown`.
pub struct Service {
    shared: Arc<Shared>,
    endpoint: Endpoint,
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
    discovery: Option<branchline_net::Discovery>,
}

impl Service {
    /// Start serving: listen, dial, discover, watch the data directory.
    pub async fn start(mut node: Node, opts: ServeOptions) -> Result<Service> {
        let (server, client, revoked) = tls_of(&mut node)?;
        // A join cut short leaves the device record without this device's actor.
        node.claim_device_record()?;
        let endpoint = Endpoint::bind(opts.listen, Some(&server), &client).map_err(net)?;
        let ident = node.identity().clone();
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let shared = Arc::new(Shared {
            node: Mutex::new(node),
            system_id: ident.system_id.clone(),
            device_id: ident.device_id.clone(),
            events,
            status: Mutex::new(BTreeMap::new()),
            connected: Mutex::new(HashMap::new()),
            next_session: std::sync::atomic::AtomicU64::new(0),
            revoked,
            seen: std::sync::atomic::AtomicI64::new(0),
        });
        let start_seq = lock(&shared.node)
            .changes_since(i64::MAX)
            .map(|(s, _)| s)
            .unwrap_or(0);
        shared.seen.store(start_seq, std::sync::atomic::Ordering::SeqCst);
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();

        // Accept.
        {
            let (sh, ep, stop_rx) = (shared.clone(), endpoint.clone(), stop_rx.clone());
            tasks.spawn(async move {
                while let Some(incoming) = ep.accept().await {
                    let (sh, stop_rx) = (sh.clone(), stop_rx.clone());
                    tokio::spawn(async move {
                        let Ok(conn) = incoming.accept().await else { return };
                        if conn.peer().is_none() {
                            let _ = answer_join(sh, conn).await;
                            return;
                        }
                        if let Ok(streams) = conn.accept_bi().await {
                            let _ = run_session(sh, conn, streams, stop_rx, false, std::time::Instant::now())
                                .await;
                        }
                    });
                }
            });
        }

        // Watch the data directory: changes written by this process's API or by any
        // other process (a CLI at the same desk) are pushed to every peer.
        {
            let (sh, mut stop_rx, poll) = (shared.clone(), stop_rx.clone(), opts.poll);
            tasks.spawn(async move {
                let mut tick = tokio::time::interval(poll);
                let mut publish = 0u32;
                loop {
                    tokio::select! {
                        _ = stop_rx.changed() => break,
                        _ = tick.tick() => {}
                    }
                    sh.announce_changes();
                    publish += 1;
                    if publish.is_multiple_of(10) {
                        sh.publish_status();
                    }
                }
            });
        }

        // Checkpoint the WAL from a connection of its own twice a second, so that no
        // commit (a write at the desk, a batch from a peer) pays for one.
        {
            let path = crate::db_path(lock(&shared.node).dir());
            let mut stop_rx = stop_rx.clone();
            tasks.spawn(async move {
                let Ok(cp) = branchline_store::Checkpointer::open(&path) else {
                    return;
                };
                let cp = Arc::new(Mutex::new(cp));
                let mut tick = tokio::time::interval(Duration::from_millis(500));
                loop {
                    tokio::select! {
                        _ = stop_rx.changed() => break,
                        _ = tick.tick() => {}
                    }
                    let cp = cp.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        cp.lock().unwrap_or_else(|p| p.into_inner()).run()
                    })
                    .await;
                }
            });
        }

        // mDNS: advertise, and treat what is found like any other address.
        let (discovery, mut found) = if opts.mdns.enabled {
            let port = endpoint.local_addr().map_err(net)?.port();
            let advert = branchline_net::Advert {
                system_id: ident.system_id.clone(),
                device_id: ident.device_id.clone(),
                port,
            };
            let (d, rx) = branchline_net::Discovery::start(&opts.mdns, &advert).map_err(net)?;
            (Some(d), Some(rx))
        } else {
            (None, None)
        };
        if let Some(mut rx) = found.take() {
            let sh = shared.clone();
            tasks.spawn(async move {
                while let Some(p) = rx.recv().await {
                    let mut node = lock(&sh.node);
                    for a in p.addrs {
                        let _ = node.add_peer(&a.to_string(), "mdns", Some(&p.device_id));
                    }
                }
            });
        }

        // Dial every known address of a device not connected yet.
        {
            let (sh, ep, stop_rx, every) =
                (shared.clone(), endpoint.clone(), stop_rx.clone(), opts.dial_every);
            let own = endpoint.local_addr().map_err(net)?;
            tasks.spawn(async move {
                let mut stop_watch = stop_rx.clone();
                let mut tick = tokio::time::interval(every);
                loop {
                    tokio::select! {
                        _ = stop_watch.changed() => break,
                        _ = tick.tick() => {}
                    }
                    let targets = lock(&sh.node).dial_targets().unwrap_or_default();
                    for (addr, dev) in targets {
                        let connected: Vec<String> = sh
                            .connected
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .keys()
                            .cloned()
                            .collect();
                        if dev
                            .as_ref()
                            .is_some_and(|d| connected.contains(d) || *d == sh.device_id)
                            || addr == own
                        {
                            continue;
                        }
                        let (sh, ep, stop_rx) = (sh.clone(), ep.clone(), stop_rx.clone());
                        tokio::spawn(async move {
                            match dial(&ep, addr).await {
                                Ok((conn, streams)) => {
                                    let _ = run_session(
                                        sh,
                                        conn,
                                        streams,
                                        stop_rx,
                                        false,
                                        std::time::Instant::now(),
                                    )
                                    .await;
                                }
                                Err(e) => {
                                    let mut node = lock(&sh.node);
                                    let _ = node.peer_failed(&addr.to_string(), &e.to_string());
                                }
                            }
                        });
                    }
                }
            });
        }
        Ok(Service {
            shared,
            endpoint,
            stop,
            tasks,
            discovery,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.endpoint.local_addr().map_err(net)
    }

    /// Every document change from now on, local or remote.
    pub fn subscribe(&self) -> broadcast::Receiver<Changed> {
        self.shared.events.subscribe()
    }

    pub fn peers(&self) -> Vec<PeerStatus> {
        let mut peers: Vec<PeerStatus> = self
            .shared
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        // Staff know devices by name: take it from the device records.
        if peers.iter().any(|p| p.name.is_empty()) {
            let devices = lock(&self.shared.node)
                .list(Kind::Device, &Default::default())
                .unwrap_or_default();
            for p in peers.iter_mut().filter(|p| p.name.is_empty()) {
                if let Some(d) = devices.iter().find(|d| d.id == p.device_id) {
                    p.name = d.str("name").unwrap_or_default().to_string();
                }
            }
        }
        peers
    }

    /// Run something against the node (the API a desktop shell calls); what it
    /// changed goes to every connected peer at once.
    pub fn with_node<R>(&self, f: impl FnOnce(&mut Node) -> R) -> R {
        let r = f(&mut lock(&self.shared.node));
        self.shared.announce_changes();
        r
    }

    /// Stop: close sessions (saving their sync states), stop discovery, close the endpoint.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.tasks.abort_all();
        if let Some(d) = self.discovery.take() {
            d.shutdown();
        }
        self.shared.publish_status();
        self.endpoint.close(close_code::SHUTDOWN, "shutting down");
        tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle())
            .await
            .ok();
    }
}

async fn dial(ep: &Endpoint, addr: SocketAddr) -> Result<(Connection, (SendStream, RecvStream))> {
    let conn = tokio::time::timeout(Duration::from_secs(10), ep.connect(addr))
        .await
        .map_err(|_| NodeError::Net("net.timed_out", format!("{addr} did not answer")))?
        .map_err(net)?;
    let streams = conn.open_bi().await.map_err(net)?;
    Ok((conn, streams))
}

/// Sync once with one peer and return what moved (`branchline sync --once`).
pub async fn sync_once(
    node: Node,
    peer: SocketAddr,
    progress: impl Fn(&str) + Send + 'static,
) -> Result<SyncSummary> {
    let mut node = node;
    let (_, client, revoked) = tls_of(&mut node)?;
    node.claim_device_record()?;
    let bind: SocketAddr = if peer.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" }
        .parse()
        .map_err(|_| NodeError::Usage("address".into()))?;
    let ep = Endpoint::bind(bind, None, &client).map_err(net)?;
    let ident = node.identity().clone();
    let (events, _) = broadcast::channel(EVENT_BUFFER);
    let sh = Arc::new(Shared {
        node: Mutex::new(node),
        system_id: ident.system_id,
        device_id: ident.device_id,
        events,
        status: Mutex::new(BTreeMap::new()),
        connected: Mutex::new(HashMap::new()),
        next_session: std::sync::atomic::AtomicU64::new(0),
        revoked,
        seen: std::sync::atomic::AtomicI64::new(i64::MAX),
    });
    lock(&sh.node).add_peer(&peer.to_string(), "static", None)?;
    let started = std::time::Instant::now();
    // The manifest and its index are ready by the time the peer asks about them.
    let warm = {
        let sh = sh.clone();
        tokio::task::spawn_blocking(move || lock(&sh.node).prepare_sync())
    };
    let (conn, streams) = dial(&ep, peer).await?;
    if let Ok(Err(e)) = warm.await {
        return Err(e);
    }
    let (_stop, stop_rx) = watch::channel(false);
    let sh2 = sh.clone();
    let reporter = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            for p in sh2.status.lock().unwrap_or_else(|p| p.into_inner()).values() {
                progress(&format!(
                    "syncing with {}: {} changes in, {} bytes in, {} bytes out",
                    p.addr, p.changes_received, p.bytes_received, p.bytes_sent
                ));
            }
        }
    });
    // Timed from the first packet (handshake included) to both sides agreeing.
    let out = run_session(sh, conn, streams, stop_rx, true, started).await;
    reporter.abort();
    ep.close(close_code::NORMAL, "done");
    tokio::time::timeout(Duration::from_secs(2), ep.wait_idle())
        .await
        .ok();
    out
}

/// Join a library system with an invite code: get this device's certificate from the
/// inviter, create the replica, and fetch every document with a first sync.
pub async fn join(
    dir: &std::path::Path,
    code: &str,
    device_name: &str,
    branch: &str,
    peer: Option<SocketAddr>,
) -> Result<(Node, SyncSummary)> {
    let invite = crate::enrol::InviteCode::decode(code).map_err(|m| crate::invalid("code", m))?;
    let addrs: Vec<SocketAddr> = match peer {
        Some(p) => vec![p],
        None => invite.addrs.clone(),
    };
    if addrs.is_empty() {
        return Err(crate::invalid(
            "peer",
            "the code names no address: give --peer HOST:PORT",
        ));
    }
    if crate::db_path(dir).exists() {
        return Err(NodeError::AlreadyInitialised(dir.display().to_string()));
    }
    let key = DeviceKey::generate().map_err(net)?;
    let authority_key = DeviceKey::generate().map_err(net)?;
    let device_id = uuid::Uuid::new_v4().to_string();
    let tls = ClientTls::for_join(&hex::encode(invite.ca_prefix)).map_err(net)?;
    let bind: SocketAddr = "0.0.0.0:0"
        .parse()
        .map_err(|_| NodeError::Usage("address".into()))?;
    let ep = Endpoint::bind(bind, None, &tls).map_err(net)?;
    let mut last_err = None;
    let mut answer = None;
    for addr in &addrs {
        let attempt = async {
            let conn = tokio::time::timeout(Duration::from_secs(10), ep.connect(*addr))
                .await
                .map_err(|_| NodeError::Net("net.timed_out", format!("{addr} did not answer")))?
                .map_err(net)?;
            let (mut tx, mut rx) = conn.open_bi().await.map_err(net)?;
            let req = JoinRequest {
                secret: hex::encode(invite.secret),
                device_id: device_id.clone(),
                device_name: device_name.to_string(),
                branch: branch.trim().to_ascii_uppercase(),
                public_key: hex::encode(key.public_key_der()),
                authority_key: Some(hex::encode(authority_key.public_key_der())),
            };
            send(
                &mut tx,
                kind::JOIN_REQUEST,
                &serde_json::to_vec(&req).unwrap_or_default(),
            )
            .await?;
            let _ = tx.finish();
            match recv(&mut rx).await? {
                Some((kind::JOIN_RESPONSE, b)) => serde_json::from_slice::<JoinResponse>(&b)
                    .map_err(|e| NodeError::Net("net.protocol", format!("join response: {e}"))),
                Some((kind::REFUSED, b)) => Err(NodeError::Net(
                    "join_refused",
                    String::from_utf8_lossy(&b).into_owned(),
                )),
                _ => Err(NodeError::Net(
                    "net.protocol",
                    "no answer to the join request".into(),
                )),
            }
        };
        match attempt.await {
            Ok(r) => {
                answer = Some((r, *addr));
                break;
            }
            Err(e @ NodeError::Net("join_refused", _)) => return Err(e),
            Err(e) => last_err = Some(e),
        }
    }
    ep.close(close_code::NORMAL, "joined");
    let Some((resp, addr)) = answer else {
        return Err(last_err.unwrap_or_else(|| NodeError::Net("net.connect", "no address answered".into())));
    };
    let ak = (resp.role == "authority").then_some(authority_key);
    let node = Node::create_joined(dir, &resp, &device_id, device_name, branch, key, ak)?;
    let summary = sync_once(node, addr, |_| {}).await?;
    let mut node = Node::open(dir)?;
    node.claim_device_record()?;
    Ok((node, summary))
}
