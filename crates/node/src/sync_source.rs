//! The node as the documents of a sync session (`core::sync::DocSource`).
//!
//! A session reads and changes documents in memory; `NodeSource::finish` then
//! stores what peers sent in one transaction (changes, index, conflicts, heads), the
//! same way a bundle import does. Nothing the network sent is written before the
//! session has applied it through automerge, which checks every change.

use crate::{
    catch_up, compact_after, load, record_heads, reindex_doc, reindex_records, Loaded, Node, NodeError,
    Result,
};
use automerge::{Automerge, ChangeHash, ReadDoc};
use branchline_core::doc;
use branchline_core::sync::{heads_digest, DocSource, Manifest};
use branchline_core::DocId;
use std::collections::BTreeSet;

pub struct NodeSource<'a> {
    node: &'a mut Node,
    manifest: Manifest,
    changed: BTreeSet<DocId>,
    failed: Option<NodeError>,
}

impl Node {
    /// Every document's heads digest, from the store (no document is loaded).
    pub fn manifest(&mut self) -> Result<Manifest> {
        if let (Some(g), Some((cached, m))) = (self.store.manifest_generation()?, &self.manifest) {
            if g == *cached {
                return Ok(m.clone());
            }
        }
        let (generation, rows) = self.store.manifest()?;
        let m: Manifest = rows
            .iter()
            .filter_map(|(id, d)| {
                let id: DocId = id.parse().ok()?;
                let d: [u8; 32] = d.as_slice().try_into().ok()?;
                Some((id, d))
            })
            .collect();
        self.manifest = Some((generation, m.clone()));
        Ok(m)
    }

    /// The documents as a sync session sees them. Call `finish` when the session has
    /// handled what arrived, to store it.
    pub fn sync_source(&mut self) -> Result<NodeSource<'_>> {
        let manifest = self.manifest()?;
        Ok(NodeSource {
            node: self,
            manifest,
            changed: BTreeSet::new(),
            failed: None,
        })
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
        let result = self.node.store.write(|tx| {
            for id in &changed {
                let key = id.to_string();
                // What the store already holds: changes another process wrote are
                // loaded first, so every stored head is known to the document.
                let in_memory = docs.remove(id);
                let stored_heads: Vec<ChangeHash> = tx
                    .heads(&key)?
                    .map(|h| h.split(',').filter_map(|x| x.parse().ok()).collect())
                    .unwrap_or_default();
                let Some(mut l) = in_memory else { continue };
                if let Some(stored) = tx.load_doc(&key, l.seq)? {
                    catch_up(&mut l.doc, &stored)?;
                    l.seq = stored.seq;
                }
                let fresh = l.doc.get_changes(&stored_heads);
                for c in &fresh {
                    l.seq = l
                        .seq
                        .max(tx.append_change(&key, &c.hash().to_string(), c.raw_bytes())?);
                }
                l.stored += fresh.len() as i64;
                if doc::doc_self_id(&l.doc).is_some_and(|s| s != key) {
                    return Err(NodeError::Usage(format!(
                        "a peer sent document {key} with another document's contents"
                    )));
                }
                let touched = if stored_heads.is_empty() {
                    None
                } else {
                    doc::records_touched(&l.doc, &fresh)
                };
                match touched {
                    Some(recs) => {
                        reindex_records(tx, id, &l.doc, &recs)?;
                        record_heads(tx, id, &l.doc)?;
                    }
                    None => {
                        reindex_doc(tx, id, &l.doc)?;
                    }
                }
                if l.stored > compact_after(id) && l.doc.get_missing_deps(&[]).is_empty() {
                    // Folded in all but the last row just written: that one stays (the
                    // snapshot holds it too), so a node watching this data directory sees
                    // the document change.
                    tx.compact(&key, &l.doc.save(), l.seq - 1)?;
                    l.stored = 1;
                }
                docs.insert(id.clone(), l);
            }
            Ok::<_, NodeError>(())
        });
        if result.is_err() {
            self.node.docs.clear();
        }
        result.map(|()| changed)
    }
}

impl DocSource for NodeSource<'_> {
    fn manifest(&self) -> std::borrow::Cow<'_, Manifest> {
        std::borrow::Cow::Borrowed(&self.manifest)
    }

    fn doc(&mut self, id: &DocId) -> Option<&mut Automerge> {
        let actor = self.node.actor.clone();
        let docs = &mut self.node.docs;
        let found = self
            .node
            .store
            .read(|tx| Ok::<_, NodeError>(load(docs, tx, id, &actor)?.is_some()));
        match found {
            Ok(true) => self.node.docs.get_mut(id).map(|l| &mut l.doc),
            Ok(false) => None,
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
            self.node.docs.insert(
                id.clone(),
                Loaded {
                    doc,
                    seq: 0,
                    stored: 0,
                },
            );
            self.changed.insert(id.clone());
        }
        self.node.docs.get_mut(id).map(|l| &mut l.doc)
    }

    fn adopt(&mut self, id: &DocId, mut doc: Automerge) -> Option<&mut Automerge> {
        if self.doc(id).is_some() {
            // Stored meanwhile (by another process): merge rather than replace.
            let mine = self.node.docs.get_mut(id).map(|l| &mut l.doc)?;
            if let Err(e) = mine.merge(&mut doc) {
                self.failed.get_or_insert(e.into());
                return None;
            }
        } else {
            doc.set_actor(self.node.actor.clone());
            self.node.docs.insert(
                id.clone(),
                Loaded {
                    doc,
                    seq: 0,
                    stored: 0,
                },
            );
        }
        self.changed.insert(id.clone());
        self.node.docs.get_mut(id).map(|l| &mut l.doc)
    }

    fn on_changed(&mut self, id: &DocId) {
        self.changed.insert(id.clone());
        if let Some(l) = self.node.docs.get(id) {
            let mut heads = l.doc.get_heads();
            heads.sort();
            self.manifest.insert(id.clone(), heads_digest(&heads));
        }
    }
}
