//! Merging many documents at once: a bundle import, the end of a sync session.
//!
//! Each document's automerge work (load, apply, find the records touched) and what
//! it puts into the query index (rows, conflicts, stock levels, heads) depend on that
//! document alone. So a merge reads what it needs from the store, works out every
//! document side by side on the machine's cores, and then one transaction on the
//! writer's thread runs the SQL. The work on each document is the same as when done
//! one by one; only the order of the SQL writes is fixed by the caller.

use crate::{compact_after, heads_of, stock_levels_of, Result};
use automerge::{Automerge, ReadDoc};
use branchline_core::conflict::{self, Conflict};
use branchline_core::doc;
use branchline_core::{DocId, Kind};
use branchline_store::{IndexRow, PreparedRow, Tx};
use std::collections::BTreeSet;
use std::sync::Mutex;

/// Threads a merge uses at most: the work is a few dozen documents, and a desktop
/// keeps cores for its screen.
const MAX_THREADS: usize = 4;

/// Work, in bytes of automerge's storage (`ImportJob::cost`), past which a bundle's
/// documents are merged on more than one thread: 8 KiB of documents to load and
/// changes to apply take a millisecond or two.
pub(crate) const PARALLEL_FROM_BYTES: usize = 8 * 1024;

/// `f` over every item, on up to [`MAX_THREADS`] threads (the caller's one of them),
/// in the order of `items`. The costliest items start first, so that one big
/// document does not begin last and leave the other threads idle.
///
/// Other threads are started only when the items besides the costliest add up to
/// `parallel_from` (in `cost`'s units) or more. Starting a thread is cheap on an idle
/// machine, but joining it is not when every core is busy (a sync session shares
/// them with its connection's reader and the peer): the join then waits until the
/// scheduler has run the new thread once, some milliseconds, far longer than the
/// few small documents of a sync batch take on one thread.
pub(crate) fn par_map<T: Send, R: Send>(
    items: Vec<T>,
    cost: impl Fn(&T) -> usize,
    parallel_from: usize,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let n = items.len();
    let costs: Vec<usize> = items.iter().map(&cost).collect();
    let besides_costliest = costs.iter().sum::<usize>() - costs.iter().max().copied().unwrap_or(0);
    let threads = if besides_costliest < parallel_from {
        1
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(MAX_THREADS)
            .min(n)
    };
    if threads <= 1 {
        return items.into_iter().map(f).collect();
    }
    let mut queue: Vec<(usize, T)> = items.into_iter().enumerate().collect();
    // Popped from the end: cheapest first in the vector.
    queue.sort_by_key(|(i, _)| costs[*i]);
    let queue = Mutex::new(queue);
    let work = || {
        let mut done = Vec::new();
        loop {
            let next = match queue.lock() {
                Ok(mut q) => q.pop(),
                Err(poisoned) => poisoned.into_inner().pop(),
            };
            let Some((i, item)) = next else { break };
            done.push((i, f(item)));
        }
        done
    };
    let mut out: Vec<Option<R>> = (0..n).map(|_| None).collect();
    std::thread::scope(|s| {
        let others: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut all = work();
        for h in others {
            match h.join() {
                Ok(done) => all.extend(done),
                // A panic on a worker is a panic of the merge, as it would be on one thread.
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        for (i, r) in all {
            out[i] = Some(r);
        }
    });
    out.into_iter().flatten().collect()
}

/// What a document puts into the query index after a change: worked out from the
/// document alone, written by [`Derived::write`].
pub(crate) struct Derived {
    key: String,
    /// The document is indexed whole: its old rows go first.
    whole: bool,
    rows: Vec<PreparedRow>,
    conflicts: Vec<Conflict>,
    stock: Option<Vec<(String, String, i64)>>,
    heads: String,
    digest: [u8; 32],
}

/// Index a document: whole (`touched` is `None`: a new document, or a change to its
/// skeleton), or just the records a change touched. `before` are the document's
/// conflicts before the change, which the inventory's incremental rules keep where
/// the change cannot have moved them.
pub(crate) fn derive(
    id: &DocId,
    doc: &Automerge,
    touched: Option<&BTreeSet<(Kind, String)>>,
    before: &[Conflict],
) -> Result<Derived> {
    let key = id.to_string();
    let row = |r: &doc::Record| {
        PreparedRow::new(IndexRow {
            record: r,
            doc_id: &key,
        })
    };
    let (rows, conflicts, stock) = match touched {
        None => {
            let records = doc::read_all(doc, id);
            let rows = records
                .iter()
                .map(row)
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let conflicts = conflict::detect_among(id, doc, &records);
            let stock = (*id == DocId::Inventory).then(|| stock_levels_of(doc));
            (rows, conflicts, stock)
        }
        Some(changed) => {
            let mut rows = Vec::with_capacity(changed.len());
            for (kind, rid) in changed {
                if let Some(r) = doc::read_record(doc, *kind, rid) {
                    rows.push(row(&r)?);
                }
            }
            let conflicts = conflict::detect_changed(id, doc, changed, before);
            let stock = changed
                .iter()
                .any(|(k, _)| *k == Kind::Movement)
                .then(|| stock_levels_of(doc));
            (rows, conflicts, stock)
        }
    };
    let (text, digest) = heads_of(doc);
    Ok(Derived {
        whole: touched.is_none(),
        key,
        rows,
        conflicts,
        stock,
        heads: text,
        digest,
    })
}

impl Derived {
    pub(crate) fn write(&self, tx: &Tx<'_>) -> Result<()> {
        if self.whole {
            tx.index_clear_doc(&self.key)?;
            for r in &self.rows {
                tx.index_insert_prepared(r)?;
            }
        } else {
            for r in &self.rows {
                tx.index_put_prepared(r)?;
            }
        }
        tx.set_conflicts(&self.key, &self.conflicts)?;
        if let Some(levels) = &self.stock {
            tx.set_stock_levels(levels)?;
        }
        tx.set_heads(&self.key, &self.heads, &self.digest)?;
        Ok(())
    }

    pub(crate) fn conflicts(&self) -> usize {
        self.conflicts.len()
    }
}

/// The snapshot to fold a document's stored changes into, when it has gathered
/// enough rows since the last one (and nothing waits for missing history, which a
/// snapshot could not hold).
pub(crate) fn snapshot_due(id: &DocId, doc: &Automerge, stored: i64) -> Option<Vec<u8>> {
    (stored > compact_after(id) && doc.get_missing_deps(&[]).is_empty()).then(|| doc.save())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_map_gives_every_result_in_the_items_order() {
        // Costs out of order, so the threads take items in another order than given.
        let items: Vec<usize> = (0..200).map(|i| (i * 7919) % 200).collect();
        let out = par_map(items.clone(), |&i| i, 0, |i| (i, std::thread::current().id()));
        assert_eq!(out.iter().map(|(i, _)| *i).collect::<Vec<_>>(), items);
        assert!(par_map(Vec::<u8>::new(), |_| 0, 0, |x| x).is_empty());
        assert_eq!(par_map(vec![3], |_| 0, 0, |x| x * 2), vec![6]);
    }

    #[test]
    fn par_map_keeps_small_work_on_the_calling_thread() {
        let me = std::thread::current().id();
        // Besides the costliest (50), 10 + 20 is below 40: one thread.
        let out = par_map(vec![10, 50, 20], |&c| c, 40, |c| (c, std::thread::current().id()));
        assert_eq!(out.iter().map(|(c, _)| *c).collect::<Vec<_>>(), vec![10, 50, 20]);
        assert!(out.iter().all(|(_, t)| *t == me));
        // At the threshold the others may help (on a machine with more than one core).
        let many: Vec<usize> = vec![40; 64];
        let out = par_map(
            many,
            |&c| c,
            40,
            |c| {
                std::thread::sleep(std::time::Duration::from_millis(1));
                (c, std::thread::current().id())
            },
        );
        assert_eq!(out.len(), 64);
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        if cores > 1 {
            assert!(out.iter().any(|(_, t)| *t != me));
        }
    }

    #[test]
    fn par_map_passes_a_worker_panic_on() {
        let r = std::panic::catch_unwind(|| {
            par_map(
                (0..8).collect::<Vec<i32>>(),
                |_| 0,
                0,
                |i| {
                    assert!(i != 5, "item five");
                    i
                },
            )
        });
        assert!(r.is_err());
    }
}
