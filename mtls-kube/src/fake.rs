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

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

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

/// A response body fed through a channel (a list in one chunk, a watch line by line).
#[derive(Debug)]
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

fn respond(status: StatusCode, body: &Value) -> Response<ChannelBody> {
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.try_send(Bytes::from(body.to_string()));
    let mut response = Response::new(ChannelBody(rx));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response<ChannelBody> {
    respond(
        code,
        &json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code.as_u16()
        }),
    )
}

/// The resource path of a request: (apiVersion, namespace, plural).
fn route(path: &str) -> Option<(String, Option<String>, String)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (api_version, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => ((*v).to_string(), rest),
        ["apis", g, v, rest @ ..] => (format!("{g}/{v}"), rest),
        _ => return None,
    };
    match rest {
        [plural] => Some((api_version, None, (*plural).to_string())),
        ["namespaces", ns, plural] => {
            Some((api_version, Some((*ns).to_string()), (*plural).to_string()))
        }
        _ => None,
    }
}

fn query(uri: &http::Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn answer(shared: &Arc<Shared>, req: &Request<Incoming>) -> Response<ChannelBody> {
    let line = format!(
        "{} {}",
        req.method(),
        req.uri().path_and_query().map_or("", |p| p.as_str())
    );
    shared.lock().requests.push(line);
    if req.method() != Method::GET {
        return status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the fake API server serves GET only",
        );
    }
    let Some((api_version, namespace, plural)) = route(req.uri().path()) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let q = query(req.uri());
    let state = shared.lock();
    let Some(resource) = state.resource(&api_version, &plural) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let watching = matches!(q.get("watch").map(String::as_str), Some("true" | "1"));
    if !watching {
        let items: Vec<Value> = state
            .objects
            .iter()
            .filter(|((r, ns, _), _)| *r == resource && namespace.as_ref().is_none_or(|n| n == ns))
            .map(|(_, o)| without_type(o))
            .collect();
        return respond(
            StatusCode::OK,
            &json!({
                "kind": format!("{}List", state.resources[resource].kind),
                "apiVersion": api_version,
                "metadata": { "resourceVersion": state.rv.to_string() },
                "items": items,
            }),
        );
    }
    let from = q
        .get("resourceVersion")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v > 0);
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|v| v == "true");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_secs(3600), Duration::from_secs);
    let (tx, rx) = mpsc::channel(64);
    let mut response = Response::new(ChannelBody(rx));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let gone = from.is_some_and(|rv| rv < state.oldest);
    // A watch from "now" (no version): the current objects first, as ADDED.
    let (initial, cursor) = match from {
        Some(rv) => (Vec::new(), rv),
        None => {
            let current = state
                .objects
                .iter()
                .filter(|((r, ns, _), _)| {
                    *r == resource && namespace.as_ref().is_none_or(|n| n == ns)
                })
                .map(|(_, o)| json!({"type": "ADDED", "object": o}))
                .collect();
            (current, state.rv)
        }
    };
    let stream = WatchStream {
        shared: Arc::clone(shared),
        resource,
        namespace,
        cursor,
        bookmarks,
        timeout,
        tx,
    };
    drop(state);
    tokio::spawn(stream.run(gone, initial));
    response
}

fn without_type(object: &Value) -> Value {
    let mut o = object.clone();
    if let Some(map) = o.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
    }
    o
}

struct WatchStream {
    shared: Arc<Shared>,
    resource: usize,
    namespace: Option<String>,
    cursor: u64,
    bookmarks: bool,
    timeout: Duration,
    tx: mpsc::Sender<Bytes>,
}

impl WatchStream {
    async fn send(&self, event: &Value) -> bool {
        let mut line = event.to_string();
        line.push('\n');
        self.tx.send(Bytes::from(line)).await.is_ok()
    }

    async fn run(mut self, gone: bool, initial: Vec<Value>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route("/api/v1/secrets"),
            Some(("v1".into(), None, "secrets".into()))
        );
        assert_eq!(
            route("/apis/security.istio.io/v1/namespaces/web/peerauthentications"),
            Some((
                "security.istio.io/v1".into(),
                Some("web".into()),
                "peerauthentications".into()
            ))
        );
        assert_eq!(route("/version"), None);
        assert_eq!(timestamp(61), "2025-01-01T00:01:01Z");
    }
}
