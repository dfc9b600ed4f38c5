//! One watch stream of the fake API server: the changes of its resource after its
//! `resourceVersion` as JSON lines, `BOOKMARK`s when asked for, `410 Gone` for a version
//! older than the history kept; it ends on the client's timeout, on
//! [`close_watches`](super::FakeApiServer::close_watches) or when the client leaves.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::Shared;

pub(super) struct WatchStream {
    pub(super) shared: Arc<Shared>,
    pub(super) resource: usize,
    pub(super) namespace: Option<String>,
    pub(super) cursor: u64,
    pub(super) bookmarks: bool,
    pub(super) timeout: Duration,
    pub(super) tx: mpsc::Sender<Bytes>,
}

impl WatchStream {
    async fn send(&self, event: &Value) -> bool {
        let mut line = event.to_string();
        line.push('\n');
        self.tx.send(Bytes::from(line)).await.is_ok()
    }

    pub(super) async fn run(mut self, gone: bool, initial: Vec<Value>) {
        if gone {
            let error = json!({"type": "ERROR", "object": {
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "too old resource version", "reason": "Expired", "code": 410
            }});
            let _ = self.send(&error).await;
            return;
        }
        for event in &initial {
            if !self.send(event).await {
                return;
            }
        }
        let mut changed = self.shared.changed.subscribe();
        let mut close = self.shared.close.subscribe();
        let deadline = tokio::time::sleep(self.timeout);
        tokio::pin!(deadline);
        loop {
            let (batch, now, kind) = {
                let state = self.shared.lock();
                let batch: Vec<Value> = state
                    .changes
                    .iter()
                    .filter(|c| {
                        c.rv > self.cursor
                            && c.resource == self.resource
                            && self.namespace.as_ref().is_none_or(|n| *n == c.namespace)
                    })
                    .map(|c| json!({"type": c.kind, "object": c.object}))
                    .collect();
                (batch, state.rv, state.resources[self.resource].clone())
            };
            self.cursor = now;
            for event in &batch {
                if !self.send(event).await {
                    return;
                }
            }
            tokio::select! {
                r = changed.changed() => if r.is_err() { return },
                _ = close.changed() => return,
                () = &mut deadline => return,
                () = self.tx.closed() => return,
                () = tokio::time::sleep(self.shared.bookmark_every), if self.bookmarks => {
                    let bookmark = json!({"type": "BOOKMARK", "object": {
                        "kind": kind.kind, "apiVersion": kind.api_version,
                        "metadata": { "resourceVersion": self.cursor.to_string() }
                    }});
                    if !self.send(&bookmark).await {
                        return;
                    }
                }
            }
        }
    }
}
