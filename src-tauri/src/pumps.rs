//! Node → UI: document changes, peer status and the number of open conflicts, pushed
//! as Tauri events the moment they happen, so no screen needs a refresh button.

use branchline_node::service::{Changed, Service};
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tauri::{AppHandle, Emitter};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// Changes that arrive together (a peer's batch) are sent as one event; this is how
/// long to wait for the rest of a batch. A batch's changes are announced together, so
/// a few milliseconds suffice; the on-screen budget is 300 ms.
const COALESCE: Duration = Duration::from_millis(5);
const STATUS_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChangedEvent {
    pub docs: Vec<String>,
    pub kinds: Vec<String>,
    pub remote: bool,
    pub at: i64,
}

/// Fold a batch of node changes into one UI event: which documents, which kinds of
/// record they hold, whether any came from a peer, and when the first was applied.
pub fn fold(batch: &[Changed]) -> Option<ChangedEvent> {
    let first = batch.iter().map(|c| c.at).min()?;
    let docs: BTreeSet<String> = batch.iter().map(|c| c.doc.to_string()).collect();
    let kinds: BTreeSet<String> = batch
        .iter()
        .flat_map(|c| c.doc.collections().iter().map(|k| k.name().to_string()))
        .collect();
    Some(ChangedEvent {
        docs: docs.into_iter().collect(),
        kinds: kinds.into_iter().collect(),
        remote: batch.iter().any(|c| c.from.is_some()),
        at: first,
    })
}

fn every_kind() -> Vec<String> {
    branchline_core::schema::Kind::ALL
        .iter()
        .map(|k| k.name().to_string())
        .collect()
}

pub fn spawn(app: AppHandle, svc: Arc<Service>) {
    let mut rx = svc.subscribe();
    let changes_app = app.clone();
    let conflicts_svc = svc.clone();
    tauri::async_runtime::spawn(async move {
        let mut last_conflicts: Option<usize> = None;
        loop {
            let first = match rx.recv().await {
                Ok(c) => c,
                Err(RecvError::Lagged(_)) => {
                    // Too much at once to list: tell every screen to look again.
                    let ev = ChangedEvent {
                        docs: vec![],
                        kinds: every_kind(),
                        remote: true,
                        at: chrono::Utc::now().timestamp_millis(),
                    };
                    let _ = changes_app.emit("changed", ev);
                    continue;
                }
                Err(RecvError::Closed) => break,
            };
            tokio::time::sleep(COALESCE).await;
            let mut batch = vec![first];
            loop {
                match rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(TryRecvError::Lagged(_)) => continue,
                    Err(_) => break,
                }
            }
            if let Some(ev) = fold(&batch) {
                let _ = changes_app.emit("changed", ev);
            }
            let svc = conflicts_svc.clone();
            let count = tauri::async_runtime::spawn_blocking(move || {
                svc.with_node(|n| n.conflicts().map(|c| c.len()))
            })
            .await
            .ok()
            .and_then(Result::ok);
            if let Some(n) = count {
                if last_conflicts != Some(n) {
                    last_conflicts = Some(n);
                    let _ = changes_app.emit("conflicts", serde_json::json!({ "count": n }));
                }
            }
        }
    });
    tauri::async_runtime::spawn(async move {
        let mut last = String::new();
        loop {
            tokio::time::sleep(STATUS_EVERY).await;
            let peers = svc.peers();
            let now = serde_json::to_string(&peers).unwrap_or_default();
            if now != last {
                last = now;
                let _ = app.emit("sync", peers);
            }
            // The app is closing once only this task holds the service.
            if Arc::strong_count(&svc) <= 1 {
                break;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use branchline_core::docid::DocId;

    #[test]
    fn a_batch_folds_into_one_event_naming_its_kinds_and_first_arrival() {
        let batch = vec![
            Changed {
                doc: DocId::Inventory,
                from: None,
                at: 200,
            },
            Changed {
                doc: DocId::Inventory,
                from: Some("peer".into()),
                at: 150,
            },
            Changed {
                doc: DocId::System,
                from: None,
                at: 300,
            },
        ];
        let ev = fold(&batch).unwrap();
        assert_eq!(ev.docs, vec!["inventory".to_string(), "system".to_string()]);
        assert!(ev.kinds.contains(&"asset".to_string()));
        assert!(ev.kinds.contains(&"branch".to_string()));
        assert!(ev.remote);
        assert_eq!(ev.at, 150);
        assert!(fold(&[]).is_none());
    }
}
