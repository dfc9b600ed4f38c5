//! A fake Kubernetes API server on loopback, for testing followers without a cluster (no
//! kube-apiserver can be installed where these tests run).
//!
//! It speaks what a watcher uses, over real HTTP/1.1: `GET` list and watch of the resources it
//! is told to serve, cluster-wide (`/api/v1/secrets`, `/apis/GROUP/VERSION/PLURAL`) and per
//! namespace (`.../namespaces/NS/PLURAL`), with
//!
//! - a `resourceVersion` per change (one counter, as etcd's revision), on objects and lists;
//! - watch streams of JSON lines (`ADDED`, `MODIFIED`, `DELETED`), resumed from the client's
//!   `resourceVersion`, and `BOOKMARK`s when `allowWatchBookmarks` is asked for;
//! - `410 Gone` (an `ERROR` event with code 410, "too old resource version") for a watch that
//!   resumes from before [`expire`](FakeApiServer::expire), which makes a watcher relist;
//! - `404 NotFound` for a resource it does not serve (a CRD not installed).
//!
//! List items are written without `apiVersion` and `kind`, as the API server does for
//! built-in kinds: a client must not rely on them.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use mtls_kube::fake::FakeApiServer;
//! let api = FakeApiServer::start().await?;
//! api.serve("v1", "ConfigMap", "configmaps");
//! api.apply(serde_json::json!({
//!     "apiVersion": "v1", "kind": "ConfigMap",
//!     "metadata": { "name": "ca", "namespace": "web" },
//!     "data": { "ca.crt": "..." }
//! }));
//! assert!(api.url().starts_with("http://127.0.0.1:"));
//! # Ok(())
//! # }
//! ```

mod answer;
mod stream;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use answer::answer;

/// A resource the server serves.
#[derive(Clone, Debug)]
struct Resource {
    api_version: String,
    kind: String,
    plural: String,
}

#[derive(Clone, Debug)]
struct Change {
    rv: u64,
    resource: usize,
    namespace: String,
    kind: &'static str,
    object: Value,
}

#[derive(Debug, Default)]
struct State {
    rv: u64,
    resources: Vec<Resource>,
    /// (resource, namespace, name) → object.
    objects: BTreeMap<(usize, String, String), Value>,
    changes: Vec<Change>,
    /// Watches resuming from a version below this get 410 Gone.
    oldest: u64,
    requests: Vec<String>,
    uid: u64,
}

impl State {
    fn resource(&self, api_version: &str, plural: &str) -> Option<usize> {
        self.resources
            .iter()
            .position(|r| r.api_version == api_version && r.plural == plural)
    }

    fn resource_of(&self, object: &Value) -> Option<usize> {
        let api_version = object.get("apiVersion")?.as_str()?;
        let kind = object.get("kind")?.as_str()?;
        self.resources
            .iter()
            .position(|r| r.api_version == api_version && r.kind == kind)
    }
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Bumped on every change: wakes the watch streams.
    changed: watch::Sender<u64>,
    /// Bumped to end every open watch stream.
    close: watch::Sender<u64>,
    bookmark_every: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The fake API server; stops when dropped.
#[derive(Debug)]
pub struct FakeApiServer {
    shared: Arc<Shared>,
    address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.task.abort();
        self.shared.close.send_modify(|g| *g += 1);
    }
}

impl FakeApiServer {
    /// Binds 127.0.0.1 on a free port and serves (on the current tokio runtime); no resource is
    /// served until [`serve`](Self::serve) names it.
    pub async fn start() -> std::io::Result<Self> {
        let socket = TcpListener::bind("127.0.0.1:0").await?;
        let address = socket.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: watch::channel(0).0,
            close: watch::channel(0).0,
            bookmark_every: Duration::from_millis(300),
        });
        let serving = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = socket.accept().await {
                let shared = Arc::clone(&serving);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = Arc::clone(&shared);
                        async move { Ok::<_, Infallible>(answer(&shared, &req)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            shared,
            address,
            task,
        })
    }

    /// The base URL (`http://127.0.0.1:PORT`), for `kube::Config::new`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Serves a resource from now on: `("v1", "Secret", "secrets")`,
    /// `("security.istio.io/v1", "PeerAuthentication", "peerauthentications")`.
    pub fn serve(&self, api_version: &str, kind: &str, plural: &str) {
        let mut state = self.shared.lock();
        if state.resource(api_version, plural).is_none() {
            state.resources.push(Resource {
                api_version: api_version.into(),
                kind: kind.into(),
                plural: plural.into(),
            });
        }
    }

    /// Creates or replaces an object (by `apiVersion`, `kind`, namespace and name), stamping
    /// its `resourceVersion` (and `uid` and `creationTimestamp` when new); returns the new
    /// resource version.
    ///
    /// # Panics
    ///
    /// When the object is not of a served resource, or has no `metadata.name`: a test bug.
    pub fn apply(&self, mut object: Value) -> u64 {
        let rv = {
            let mut state = self.shared.lock();
            let Some(resource) = state.resource_of(&object) else {
                panic!("fake API server: not a served resource: {object}");
            };
            let meta = &object["metadata"];
            let name = meta["name"].as_str().expect("metadata.name").to_string();
            let namespace = meta["namespace"].as_str().unwrap_or_default().to_string();
            let key = (resource, namespace.clone(), name);
            state.rv += 1;
            let rv = state.rv;
            let previous = state.objects.get(&key).map(|o| o["metadata"].clone());
            let meta = &mut object["metadata"];
            meta["resourceVersion"] = json!(rv.to_string());
            match previous {
                Some(p) => {
                    meta["uid"] = p["uid"].clone();
                    meta["creationTimestamp"] = p["creationTimestamp"].clone();
                }
                None => {
                    state.uid += 1;
                    meta["uid"] = json!(format!("00000000-0000-0000-0000-{:012}", state.uid));
                    meta["creationTimestamp"] = json!(timestamp(state.uid));
                }
            }
            let kind = if state.objects.contains_key(&key) {
                "MODIFIED"
            } else {
                "ADDED"
            };
            state.objects.insert(key, object.clone());
            state.changes.push(Change {
                rv,
                resource,
                namespace,
                kind,
                object,
            });
            rv
        };
        self.shared.changed.send_replace(rv);
        rv
    }

    /// Deletes an object; returns whether it existed.
    pub fn delete(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> bool {
        let rv = {
            let mut state = self.shared.lock();
            let Some(resource) = state
                .resources
                .iter()
                .position(|r| r.api_version == api_version && r.kind == kind)
            else {
                return false;
            };
            let key = (resource, namespace.to_string(), name.to_string());
            let Some(mut object) = state.objects.remove(&key) else {
                return false;
            };
            state.rv += 1;
            let rv = state.rv;
            object["metadata"]["resourceVersion"] = json!(rv.to_string());
            state.changes.push(Change {
                rv,
                resource,
                namespace: namespace.into(),
                kind: "DELETED",
                object,
            });
            rv
        };
        self.shared.changed.send_replace(rv);
        true
    }

    /// Forgets the change history (as etcd compaction does) and ends every open watch stream:
    /// each client's next watch resumes from a version that is now too old, gets `410 Gone`,
    /// and must list again.
    pub fn expire(&self) {
        {
            let mut state = self.shared.lock();
            // Lists from now on report a version at or past the compaction.
            state.rv += 1;
            state.oldest = state.rv;
            state.changes.clear();
        }
        self.close_watches();
    }

    /// Ends every open watch stream (as an API server restart or a load balancer would); the
    /// clients watch again from their last `resourceVersion`.
    pub fn close_watches(&self) {
        self.shared.close.send_modify(|g| *g += 1);
    }

    /// The requests served so far (`GET /api/v1/secrets?watch=true&...`), oldest first.
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().requests.clone()
    }
}

/// An RFC 3339 time, one second per object created (the order is what matters: Istio
/// applies the oldest policy).
fn timestamp(n: u64) -> String {
    let (h, m, s) = ((n / 3600) % 24, (n / 60) % 60, n % 60);
    format!("2025-01-01T{h:02}:{m:02}:{s:02}Z")
}
