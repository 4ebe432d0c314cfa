//! The node as the documents of a sync session (`core::sync::DocSource`).
//!
//! A session reads and changes documents in memory; `NodeSource::finish` then
//! stores what peers sent in one transaction (changes, index, conflicts, heads), the
//! same way a bundle import does. Nothing the network sent is written before the
//! session has applied it through automerge, which checks every change.

use crate::{catch_up, conflicts_before, load, loaded_from, merge, Loaded, Merged, Node, NodeError, Result};
use automerge::{Automerge, ChangeHash, ReadDoc};
use branchline_core::doc;
use branchline_core::sync::{heads_digest, DocSource, Manifest};
use branchline_core::DocId;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

pub struct NodeSource<'a> {
    node: &'a mut Node,
    manifest: Arc<Manifest>,
    /// The store's manifest generation the copy above was taken at, and how many
    /// times this source changed it since.
    generation: Option<u64>,
    edits: u64,
    /// The peer whose saved sync states the session resumes from.
    peer: Option<String>,
    changed: BTreeSet<DocId>,
    /// Documents already brought level with the store by this source: a session
    /// asks for one on every message about it, and checking the store again each
    /// time cost more than the message. What other processes store meanwhile is
    /// caught up with by `finish`.
    current: BTreeSet<DocId>,
    /// Documents the store did not hold when this source looked: a document the
    /// peer sends whole is asked for twice before it is adopted, and each miss was
    /// a read of its own. One stored meanwhile by another process is merged by
    /// `finish`, as for `current`.
    absent: HashSet<DocId>,
    /// Documents that arrived whole: the bytes they were loaded from and their
    /// heads then, stored as they came rather than re-derived change by change.
    wholes: HashMap<DocId, (Vec<u8>, Vec<ChangeHash>)>,
    /// Index rows worked out for documents that arrived whole, before the session
    /// handled them.
    indexed: HashMap<DocId, Indexed>,
    /// Whether `finish` waits for the disk (see `Store::write_unsynced`).
    synced: bool,
    failed: Option<NodeError>,
}

/// What a document that arrived whole puts into the query index, worked out where
/// it was loaded (a connection's reader, beside the session's thread). It stands
/// only if the document is stored as it arrived: new here, and nothing else
/// applied to it since.
pub(crate) struct Indexed {
    heads: Vec<ChangeHash>,
    derived: merge::Derived,
}

impl Indexed {
    pub(crate) fn new(id: &DocId, doc: &Automerge) -> Option<Indexed> {
        // A failure here is found again, and reported, when the document is stored.
        let derived = merge::derive(id, doc, None, &[]).ok()?;
        Some(Indexed {
            heads: doc.get_heads(),
            derived,
        })
    }
}

impl Node {
    /// Every document's heads digest, from the store (no document is loaded).
    pub fn manifest(&mut self) -> Result<Arc<Manifest>> {
        if let (Some(g), Some((cached, m))) = (self.store.manifest_generation()?, &self.manifest) {
            if g == *cached {
                return Ok(m.clone());
            }
        }
        // After a commit of this node's own (a sync batch), what it wrote is applied
        // to the copy held, rather than every id parsed again.
        if let Some((cached, m)) = &mut self.manifest {
            if let Some(written) = self.store.manifest_written_since(*cached)? {
                let held = Arc::make_mut(m);
                for (id, d) in written {
                    let Ok(id) = id.parse::<DocId>() else { continue };
                    match <[u8; 32]>::try_from(d.as_slice()) {
                        Ok(d) => held.insert(id, d),
                        Err(_) => held.remove(&id),
                    };
                }
                *cached += 1;
                return Ok(m.clone());
            }
        }
        let (generation, rows) = self.store.manifest()?;
        let m: Arc<Manifest> = Arc::new(
            rows.iter()
                .filter_map(|(id, d)| {
                    let id: DocId = id.parse().ok()?;
                    let d: [u8; 32] = d.as_slice().try_into().ok()?;
                    Some((id, d))
                })
                .collect(),
        );
        self.manifest = Some((generation, m.clone()));
        Ok(m)
    }

    /// After a sync batch's commit: make `edited` (the source's copy of the
    /// manifest it was handed at `from`, with its own edits to `changed`) the
    /// node's manifest, put right where the commit wrote otherwise. The store's
    /// manifest moved on by that commit alone, so the value is the one the
    /// session indexed, and it keeps its index ([`DocSource::manifest_shared`]).
    fn keep_manifest(&mut self, from: Option<u64>, mut edited: Arc<Manifest>, changed: &[DocId]) {
        let (Some(g), Some((held_g, held))) = (from, &self.manifest) else {
            return;
        };
        if *held_g != g {
            return;
        }
        let held = held.clone();
        let Ok(Some(written)) = self.store.manifest_written_since(g) else {
            return;
        };
        let mut wrote: HashMap<DocId, Option<[u8; 32]>> = HashMap::with_capacity(written.len());
        for (id, d) in written {
            let Ok(id) = id.parse::<DocId>() else {
                // Not a document id this build knows: leave the manifest to be read again.
                return;
            };
            wrote.insert(id, <[u8; 32]>::try_from(d.as_slice()).ok());
        }
        let expect = |id: &DocId| match wrote.get(id) {
            Some(d) => *d,
            None => held.get(id).copied(),
        };
        for id in changed.iter().chain(wrote.keys()) {
            let want = expect(id);
            if edited.get(id).copied() != want {
                let m = Arc::make_mut(&mut edited);
                match want {
                    Some(d) => m.insert(id.clone(), d),
                    None => m.remove(id),
                };
            }
        }
        self.manifest = Some((g.wrapping_add(1), edited));
    }

    /// The documents as a sync session sees them. Call `finish` when the session has
    /// handled what arrived, to store it.
    pub fn sync_source(&mut self) -> Result<NodeSource<'_>> {
        let manifest = self.manifest()?;
        let generation = self.manifest.as_ref().map(|(g, _)| *g);
        Ok(NodeSource {
            node: self,
            manifest,
            generation,
            edits: 0,
            peer: None,
            changed: BTreeSet::new(),
            current: BTreeSet::new(),
            absent: HashSet::new(),
            wholes: HashMap::new(),
            indexed: HashMap::new(),
            synced: true,
            failed: None,
        })
    }

    /// Read the manifest and build its sync index ahead of a session, as a dialling
    /// node does while the handshake runs; the session then finds both ready.
    pub fn prepare_sync(&mut self) -> Result<()> {
        let src = self.sync_source()?;
        branchline_core::sync::IndexCache::prepare(&src);
        Ok(())
    }

    /// Sync states saved for a peer device, so a reconnect resumes.
    pub fn sync_states(&mut self, peer: &str) -> Result<Vec<(DocId, Vec<u8>)>> {
        let rows = self.store.read(|tx| Ok::<_, NodeError>(tx.sync_states(peer)?))?;
        Ok(rows
            .into_iter()
            .filter_map(|(d, s)| Some((d.parse().ok()?, s)))
            .collect())
    }

    pub fn save_sync_states(&mut self, peer: &str, states: &[(DocId, Vec<u8>)]) -> Result<()> {
        if states.is_empty() {
            return Ok(());
        }
        self.store.write(|tx| {
            for (d, s) in states {
                tx.set_sync_state(peer, &d.to_string(), s)?;
            }
            Ok::<_, NodeError>(())
        })
    }

    /// Highest stored change number, and the documents changed after `since` (by
    /// this process or any other on the same data directory).
    pub fn changes_since(&mut self, since: i64) -> Result<(i64, Vec<DocId>)> {
        self.store.read(|tx| {
            let max = tx.max_change_seq()?;
            if max <= since {
                return Ok((max, Vec::new()));
            }
            let docs = tx
                .docs_changed_since(since)?
                .into_iter()
                .filter_map(|d| d.parse().ok())
                .collect();
            Ok::<_, NodeError>((max, docs))
        })
    }
}

impl NodeSource<'_> {
    /// Resume from the sync states saved with `peer` (read as the session needs them).
    pub fn for_peer(mut self, peer: &str) -> Self {
        self.peer = Some(peer.to_string());
        self
    }

    /// Index rows worked out beforehand for a document that is about to arrive whole.
    pub(crate) fn offer_indexed(&mut self, id: DocId, ix: Indexed) {
        self.indexed.insert(id, ix);
    }

    /// Keep a document this source made (from nothing, or as the peer sent it):
    /// level with the store by construction.
    fn keep_new(&mut self, id: &DocId, doc: Automerge) {
        self.node.docs.insert(
            id.clone(),
            Loaded {
                doc,
                seq: 0,
                stored: 0,
                dv: None,
            },
        );
        self.absent.remove(id);
        self.current.insert(id.clone());
        self.changed.insert(id.clone());
    }

    /// Whether `finish` waits for the disk: not while a catch-up goes on, whose
    /// end syncs once for every batch before it.
    pub fn sync_to_disk(&mut self, synced: bool) {
        self.synced = synced;
    }

    /// Store every document the session changed. Returns their ids.
    pub fn finish(self) -> Result<Vec<DocId>> {
        if let Some(e) = self.failed {
            self.node.docs.clear();
            return Err(e);
        }
        let changed: Vec<DocId> = self.changed.into_iter().collect();
        if changed.is_empty() {
            return Ok(changed);
        }
        let docs = &mut self.node.docs;
        let mut wholes = self.wholes;
        let mut indexed = self.indexed;
        let synced = self.synced;
        let store = &mut self.node.store;
        let work = |tx: &branchline_store::Tx<'_>| {
            // What the store holds of each document: changes another process wrote are
            // loaded first, so every stored head is known to the document.
            let mut jobs = Vec::with_capacity(changed.len());
            for id in &changed {
                let key = id.to_string();
                let Some(l) = docs.remove(id) else { continue };
                let stored_heads: Vec<ChangeHash> = tx
                    .heads(&key)?
                    .map(|h| h.split(',').filter_map(|x| x.parse().ok()).collect())
                    .unwrap_or_default();
                let newer = tx.load_doc(&key, l.seq)?;
                let before = conflicts_before(tx, id)?;
                jobs.push(FinishJob {
                    id,
                    key,
                    loaded: l,
                    newer,
                    stored_heads,
                    before,
                    whole: wholes.remove(id),
                    indexed: indexed.remove(id),
                });
            }
            // The index rows of every document side by side, then written in order.
            for m in merge::par_map(jobs, FinishJob::cost, PARALLEL_FROM_OPS, FinishJob::run) {
                m?.write(tx, docs)?;
            }
            Ok::<_, NodeError>(())
        };
        let result = if synced {
            store.write(work)
        } else {
            store.write_unsynced(work)
        };
        if result.is_err() {
            self.node.docs.clear();
            return result.map(|()| changed);
        }
        self.node.keep_manifest(self.generation, self.manifest, &changed);
        Ok(changed)
    }
}

/// What indexing the records touched by a few new changes costs, in operations.
const FEW_OPS_TOUCHED: usize = 64;

/// Work, in operations, past which the documents of one stored batch are worked out
/// on more than one thread: about 8,000 operations take a few milliseconds, which is
/// what waiting for a second thread can cost when the cores are busy.
const PARALLEL_FROM_OPS: usize = 8192;

/// Stored bytes, besides the largest document's, past which the documents a
/// session is about to ask for are loaded on more than one thread: 64 KiB take
/// automerge a couple of milliseconds, about what starting and joining a second
/// thread can cost when the cores are busy.
const PARALLEL_FROM_BYTES: usize = 64 * 1024;

/// A document a session changed, to store off the writer's thread.
struct FinishJob<'a> {
    id: &'a DocId,
    key: String,
    loaded: Loaded,
    newer: Option<branchline_store::StoredDoc>,
    stored_heads: Vec<ChangeHash>,
    before: Vec<branchline_core::conflict::Conflict>,
    whole: Option<(Vec<u8>, Vec<ChangeHash>)>,
    indexed: Option<Indexed>,
}

impl FinishJob<'_> {
    /// Rough work, in operations: indexing a new document reads all of its
    /// records, one indexed where it arrived needs next to nothing, and one changed
    /// in place only the few records its new changes touch; folding a document into a
    /// snapshot saves all of it.
    fn cost(&self) -> usize {
        let ops = self.loaded.doc.stats().num_ops as usize;
        let index = match (&self.indexed, self.stored_heads.is_empty()) {
            (Some(_), true) => 0,
            (None, true) => ops,
            (_, false) => FEW_OPS_TOUCHED,
        };
        let fold = if self.loaded.stored >= crate::compact_after(self.id) {
            ops
        } else {
            0
        };
        index + fold
    }

    fn run(self) -> Result<Merged> {
        let mut l = self.loaded;
        if let Some(stored) = &self.newer {
            catch_up(&mut l.doc, stored)?;
            l.seq = stored.seq;
        }
        if doc::doc_self_id(&l.doc).is_some_and(|s| s != self.key) {
            return Err(NodeError::Usage(format!(
                "a peer sent document {} with another document's contents",
                self.key
            )));
        }
        let mut rows = Vec::new();
        let stored_as_arrived = self.stored_heads.is_empty() && self.newer.is_none();
        let since = match self.whole {
            // Arrived whole, and the store holds none of it: its bytes are stored as
            // they came (`load_incremental` takes a saved document as readily as
            // changes), which spares re-deriving every change from automerge's
            // columns, and only what came after them is added change by change.
            Some((bytes, heads)) if stored_as_arrived => {
                rows.push((whole_row_hash(&heads), bytes));
                heads
            }
            _ => self.stored_heads.clone(),
        };
        let fresh = l.doc.get_changes(&since);
        let derived = match self.indexed {
            Some(ix) if stored_as_arrived && self.before.is_empty() && ix.heads == l.doc.get_heads() => {
                ix.derived
            }
            _ => {
                let touched = if self.stored_heads.is_empty() {
                    None
                } else {
                    doc::records_touched(&l.doc, &fresh)
                };
                merge::derive(self.id, &l.doc, touched.as_ref(), &self.before)?
            }
        };
        rows.extend(
            fresh
                .iter()
                .map(|c| (c.hash().to_string(), c.raw_bytes().to_vec())),
        );
        let snapshot = merge::snapshot_due(self.id, &l.doc, l.stored + rows.len() as i64);
        Ok(Merged {
            id: self.id.clone(),
            key: self.key,
            fresh: rows,
            loaded: l,
            known: 0,
            derived: Some(derived),
            snapshot,
        })
    }
}

/// The `hash` of a change row that holds a whole document: unique per document and
/// heads, and never a change hash (those are 64 hex digits).
fn whole_row_hash(heads: &[ChangeHash]) -> String {
    format!("whole-{}", hex::encode(heads_digest(heads)))
}

impl DocSource for NodeSource<'_> {
    fn manifest(&self) -> std::borrow::Cow<'_, Manifest> {
        std::borrow::Cow::Borrowed(&self.manifest)
    }

    fn manifest_generation(&self) -> Option<u64> {
        // Own edits are counted in the low bits; the store's generation moves on
        // with the commit that stores them.
        self.generation
            .map(|g| g.wrapping_shl(24).wrapping_add(self.edits))
    }

    fn manifest_shared(&self) -> Option<Arc<Manifest>> {
        Some(self.manifest.clone())
    }

    fn index_cache(&self) -> Option<&branchline_core::sync::IndexCache> {
        // Built from the store's manifest as it is: not once this source changed it.
        (self.edits == 0).then_some(&self.node.index_cache)
    }

    fn saved_state(&mut self, id: &DocId) -> Option<Vec<u8>> {
        let peer = self.peer.as_deref()?;
        let key = id.to_string();
        // An unreadable state costs a resumption, not the session.
        self.node
            .store
            .read(|tx| tx.sync_state(peer, &key))
            .unwrap_or_default()
    }

    fn doc(&mut self, id: &DocId) -> Option<&mut Automerge> {
        if self.current.contains(id) && self.node.docs.contains_key(id) {
            return self.node.docs.get_mut(id).map(|l| &mut l.doc);
        }
        if self.absent.contains(id) {
            return None;
        }
        let actor = self.node.actor.clone();
        let docs = &mut self.node.docs;
        let found = self
            .node
            .store
            .read(|tx| Ok::<_, NodeError>(load(docs, tx, id, &actor)?.is_some()));
        match found {
            Ok(true) => {
                self.current.insert(id.clone());
                self.node.docs.get_mut(id).map(|l| &mut l.doc)
            }
            Ok(false) => {
                self.absent.insert(id.clone());
                None
            }
            Err(e) => {
                self.failed.get_or_insert(e);
                None
            }
        }
    }

    fn create_empty(&mut self, id: &DocId) -> Option<&mut Automerge> {
        if self.doc(id).is_none() {
            let doc = match doc::new_doc(id, &self.node.actor) {
                Ok(d) => d,
                Err(e) => {
                    self.failed.get_or_insert(e.into());
                    return None;
                }
            };
            self.keep_new(id, doc);
        }
        self.node.docs.get_mut(id).map(|l| &mut l.doc)
    }

    fn adopt(
        &mut self,
        id: &DocId,
        mut doc: Automerge,
        bytes: &[u8],
        deflated: Option<&[u8]>,
    ) -> Option<&mut Automerge> {
        if self.doc(id).is_some() {
            // Stored meanwhile (by another process): merge rather than replace.
            let mine = self.node.docs.get_mut(id).map(|l| &mut l.doc)?;
            if let Err(e) = mine.merge(&mut doc) {
                self.failed.get_or_insert(e.into());
                return None;
            }
        } else {
            doc.set_actor(self.node.actor.clone());
            // Kept deflated as it came when it came so: automerge's own column
            // compression was skipped for speed, and a saved document of a few
            // kilobytes shrinks about fivefold.
            let row = match deflated {
                Some(z) => crate::stored_row::deflated(z),
                None => bytes.to_vec(),
            };
            self.wholes.insert(id.clone(), (row, doc.get_heads()));
            self.keep_new(id, doc);
        }
        self.changed.insert(id.clone());
        self.node.docs.get_mut(id).map(|l| &mut l.doc)
    }

    fn prefetch(&mut self, ids: &[DocId]) {
        let (docs, absent) = (&self.node.docs, &self.absent);
        let missing: Vec<&DocId> = ids
            .iter()
            .filter(|id| !docs.contains_key(*id) && !absent.contains(*id))
            .collect();
        if missing.len() < 2 {
            return;
        }
        // Read in one transaction, loaded side by side. A document that fails here
        // is left for `doc`, which loads it again and reports what went wrong.
        let read = self.node.store.read(|tx| {
            let dv = tx.data_version()?;
            let mut found = Vec::with_capacity(missing.len());
            let mut lacking = Vec::new();
            for id in missing {
                match tx.load_doc(&id.to_string(), 0)? {
                    Some(stored) => found.push((id.clone(), stored)),
                    None => lacking.push(id.clone()),
                }
            }
            Ok::<_, NodeError>((dv, found, lacking))
        });
        let Ok((dv, found, lacking)) = read else { return };
        self.absent.extend(lacking);
        let actor = &self.node.actor;
        let loaded = merge::par_map(
            found,
            |(_, s)| s.len_bytes(),
            PARALLEL_FROM_BYTES,
            |(id, s)| (id, loaded_from(&s, actor, dv)),
        );
        for (id, l) in loaded {
            if let Ok(l) = l {
                self.node.docs.insert(id.clone(), l);
                self.current.insert(id);
            }
        }
    }

    fn on_changed(&mut self, id: &DocId) {
        self.changed.insert(id.clone());
        if let Some(l) = self.node.docs.get(id) {
            let mut heads = l.doc.get_heads();
            heads.sort();
            Arc::make_mut(&mut self.manifest).insert(id.clone(), heads_digest(&heads));
            self.edits += 1;
        }
    }
}
