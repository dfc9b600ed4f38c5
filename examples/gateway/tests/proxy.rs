//! The reverse proxy and the admin listener over loopback sockets: an echo upstream, the
//! gateway's request stack (the `MtlsLayer` deciding with a policy whose routes carry their
//! targets, then the proxy forwarding by the route the layer matched) served by hyper-util,
//! and clients speaking HTTP/1.1 and HTTP/2.

#[allow(dead_code)]
#[path = "../src/admin.rs"]
mod admin;
#[allow(dead_code)]
#[path = "../src/proxy/mod.rs"]
mod proxy;
#[allow(dead_code)]
#[path = "../src/upstream/mod.rs"]
mod upstream;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use metrics_exporter_prometheus::PrometheusHandle;
use mtls_core::{CaBundle, CertificateChain, PeerIdentity, PrivateKey, ServerCredential};
use mtls_policy::{PeerVerification, Policy, RouteAction};
use mtls_tower::{
    ConnectionInfo, HostTls, MtlsLayer, MtlsService, SharedPolicy, TlsInfo, TlsSnapshot,
    UpstreamConnector, UpstreamTls,
};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower_layer::Layer as _;
use tower_service::Service;

use admin::{AdminState, install_metrics, serve_admin};
use proxy::{
    Backend, BackendTimeouts, ConfigError, DirectResponse, Proxy, RouteName, Target, Targets,
};
use upstream::Pool;

const CHUNK: usize = 16 * 1024;
const CHUNKS: usize = 64;

/// Runs a test body, failing it after 30 s.
async fn bounded<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), test)
        .await
        .expect("test timed out")
}

// ---------------------------------------------------------------- the upstream

type UpBody = UnsyncBoxBody<Bytes, Infallible>;

struct Upstream {
    addr: SocketAddr,
    /// Lets `/stream` send the rest of its body.
    release: Arc<Notify>,
}

/// An upstream (HTTP/1.1 and h2c): `.../slow` answers after 3 s; `.../stream` sends one
/// 16 KiB chunk, waits for `release`, then 63 more; `.../hop` answers with hop-by-hop
/// headers; anything else echoes the request: `method=`, `path=`, `query=`, `version=`,
/// `authority=` (HTTP/2's `:authority`) and `peer=` (the proxy's side of the upstream
/// connection) lines, the headers as `name: value` lines, an empty line, then the body.
async fn start_upstream() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let release = Arc::new(Notify::new());
    let notify = Arc::clone(&release);
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let notify = Arc::clone(&notify);
            let service = service_fn(move |req| upstream(req, peer, Arc::clone(&notify)));
            tokio::spawn(async move {
                let builder = auto::Builder::new(TokioExecutor::new());
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Upstream { addr, release }
}

fn chunk(i: usize) -> Bytes {
    Bytes::from(vec![b'a' + (i % 26) as u8; CHUNK])
}

async fn upstream(
    req: Request<Incoming>,
    peer: SocketAddr,
    release: Arc<Notify>,
) -> Result<Response<UpBody>, Infallible> {
    let path = req.uri().path().to_owned();
    if path.ends_with("/slow") {
        tokio::time::sleep(Duration::from_secs(3)).await;
        return Ok(Response::new(Full::new(Bytes::from("slow")).boxed_unsync()));
    }
    if path.ends_with("/stream") {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        tokio::spawn(async move {
            let _ = tx.send(chunk(0)).await;
            let _ = tokio::time::timeout(Duration::from_secs(10), release.notified()).await;
            for i in 1..CHUNKS {
                if tx.send(chunk(i)).await.is_err() {
                    return;
                }
            }
        });
        return Ok(Response::new(ChannelBody(rx).boxed_unsync()));
    }
    if path.ends_with("/hop") {
        let response = Response::builder()
            .header("connection", "x-up-custom")
            .header("x-up-custom", "1")
            .header("keep-alive", "timeout=5")
            .header("proxy-authenticate", "Basic realm=\"up\"")
            .header("proxy-connection", "keep-alive")
            .header("trailer", "x-t")
            .header("x-up-plain", "1")
            .body(Full::new(Bytes::from("hop")).boxed_unsync())
            .unwrap();
        return Ok(response);
    }
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let mut head = format!(
        "method={}\npath={}\nquery={}\nversion={:?}\nauthority={}\npeer={peer}\n",
        parts.method,
        parts.uri.path(),
        parts.uri.query().unwrap_or(""),
        parts.version,
        parts.uri.authority().map_or("", |a| a.as_str()),
    );
    for (name, value) in &parts.headers {
        head.push_str(&format!(
            "{name}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    head.push('\n');
    let mut out = BytesMut::from(head.as_bytes());
    out.extend_from_slice(&body);
    Ok(Response::new(Full::new(out.freeze()).boxed_unsync()))
}

/// A response body fed by a channel, one data frame per message.
struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

/// An echo answer, parsed.
struct Echo {
    head: String,
    body: Bytes,
}

impl Echo {
    fn parse(bytes: &Bytes) -> Self {
        let split = bytes
            .windows(2)
            .position(|w| w == b"\n\n")
            .expect("echo head");
        let head = String::from_utf8(bytes[..split + 1].to_vec()).unwrap();
        Self {
            head,
            body: bytes.slice(split + 2..),
        }
    }

    fn line(&self, key: &str) -> &str {
        let prefix = format!("{key}=");
        self.head
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or("")
    }

    /// The values of request header `name` as the upstream got them.
    fn header(&self, name: &str) -> Vec<&str> {
        let prefix = format!("{name}: ");
        self.head
            .lines()
            .filter_map(|l| l.strip_prefix(prefix.as_str()))
            .collect()
    }
}

// ---------------------------------------------------------------- the gateway's stack

/// The port the test listener decides on (`MtlsLayer::port`): every policy below has its one
/// listener there.
const PORT: u16 = 8443;

fn backend(name: &str, base: String, timeouts: BackendTimeouts) -> Arc<Backend> {
    let base: Uri = base.parse().unwrap();
    Arc::new(Backend::new(name, base, UpstreamConnector::plain(), timeouts, false).unwrap())
}

/// A loopback address nothing listens on (a listener bound, then dropped).
async fn closed_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A backend speaking HTTP/2 with prior knowledge (h2c) to `up`.
fn h2c_backend(name: &str, up: SocketAddr) -> Arc<Backend> {
    let base: Uri = format!("http://{up}").parse().unwrap();
    Arc::new(Backend::new(name, base, UpstreamConnector::plain(), quick(), true).unwrap())
}

fn quick() -> BackendTimeouts {
    BackendTimeouts {
        request: Duration::from_secs(10),
    }
}

/// The YAML of a configuration with one PERMISSIVE listener (plaintext served) on `PORT`
/// whose `hosts` are `hosts` (YAML, indented as a top-level list), and a backend entry for
/// each of `backends` (names only: what serves is the test's `Backend`).
fn yaml(hosts: &str, backends: &[&str]) -> String {
    let mut text =
        format!("listeners:\n  - name: test\n    port: {PORT}\n    peer_mode: permissive\n");
    text.push_str("    hosts:\n");
    for line in hosts.trim_matches('\n').lines() {
        text.push_str(&format!("      {line}\n"));
    }
    if !backends.is_empty() {
        text.push_str("backends:\n");
        for name in backends {
            text.push_str(&format!("  {name}: {{ url: \"http://127.0.0.1:9\" }}\n"));
        }
    }
    text
}

/// The policy of `yaml(hosts, ...)` as the gateway serves it: each route's target attached
/// (the one of `backends` it names, or its fixed answer, named `respond:<route name>`).
fn policy(hosts: &str, backends: &[Arc<Backend>]) -> Policy {
    let names: Vec<&str> = backends.iter().map(|b| b.name()).collect();
    let text = yaml(hosts, &names);
    let mut policy = Policy::from_yaml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let targets = policy
        .routes()
        .iter()
        .map(|route| match route.action() {
            RouteAction::Backend(name) => {
                let backend = backends.iter().find(|b| b.name() == name).unwrap();
                Target::Backend(Arc::clone(backend))
            }
            RouteAction::Respond(respond) => Target::Respond(DirectResponse::new(
                format!("respond:{}", route.name()),
                StatusCode::from_u16(respond.status).unwrap(),
                Bytes::from(respond.body.clone()),
                respond
                    .content_type()
                    .map(|t| HeaderValue::from_str(t).unwrap()),
            )),
            other => panic!("the gateway has no target for {other:?}"),
        })
        .collect();
    policy.attach(Arc::new(Targets::new(targets)));
    policy
}

/// What the gateway serves on a listener: the `MtlsLayer` deciding with `policy`, then the
/// proxy.
fn stack(policy: &SharedPolicy) -> MtlsService<Proxy> {
    MtlsLayer::new(policy.clone()).port(PORT).layer(Proxy)
}

/// Serves `stack(policy)` on loopback (HTTP/1.1 and h2c), each request carrying a plaintext
/// `ConnectionInfo` as the mtls-tower acceptor would put there.
async fn start_proxy(policy: SharedPolicy) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = stack(&policy);
    tokio::spawn(async move {
        while let Ok((stream, remote)) = listener.accept().await {
            let info = ConnectionInfo::plaintext(Some(remote), Some(addr));
            let service = service.clone();
            let service = service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(info.clone());
                let mut service = service.clone();
                async move { service.call(req).await }
            });
            tokio::spawn(async move {
                let builder = auto::Builder::new(TokioExecutor::new());
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// An upstream, and the gateway's stack in front of it with `hosts` and the backends
/// `backends(upstream address)` makes; the policy slot, to swap the policy.
async fn setup(
    hosts: &str,
    backends: impl FnOnce(SocketAddr) -> Vec<Arc<Backend>>,
) -> (Upstream, SocketAddr, SharedPolicy) {
    let upstream = start_upstream().await;
    let slot = SharedPolicy::new(policy(hosts, &backends(upstream.addr)));
    let addr = start_proxy(slot.clone()).await;
    (upstream, addr, slot)
}

/// Every path to one backend.
const ONE_ROUTE: &str = "- routes: [{ backend: echo }]";

/// An upstream and the gateway's stack forwarding every request to `backend(upstream)`
/// (which must be named `echo`).
async fn setup_one(
    backend: impl FnOnce(SocketAddr) -> Arc<Backend>,
) -> (Upstream, SocketAddr, SharedPolicy) {
    setup(ONE_ROUTE, |up| vec![backend(up)]).await
}

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A GET of `path` through the proxy at `addr` with `Host: host`: status and body.
async fn get_as(addr: SocketAddr, path: &str, host: &str) -> (StatusCode, Bytes) {
    let req = Request::get(format!("http://{addr}{path}"))
        .header("host", host)
        .body(Full::default())
        .unwrap();
    let response = client().request(req).await.unwrap();
    let status = response.status();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

/// A GET of `path` through the proxy at `addr` with `Host: host`, answered by the echo
/// upstream with 200; the echo.
async fn echo_as(addr: SocketAddr, path: &str, host: &str) -> Echo {
    let (status, body) = get_as(addr, path, host).await;
    assert_eq!(status, StatusCode::OK, "{host} {path}: {body:?}");
    Echo::parse(&body)
}

/// Asserts the echoes came through one upstream connection (the upstream saw one peer).
fn one_upstream_connection(echoes: &[Echo]) {
    let peers: Vec<&str> = echoes.iter().map(|e| e.line("peer")).collect();
    assert!(
        peers.iter().all(|p| *p == peers[0]),
        "one pooled upstream connection expected, got {peers:?}"
    );
}

async fn get(addr: SocketAddr, path: &str) -> (StatusCode, Bytes) {
    let uri: Uri = format!("http://{addr}{path}").parse().unwrap();
    let response = client().get(uri).await.unwrap();
    let status = response.status();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

/// `request` through `stack(policy)` called directly (no hyper server in between: headers
/// a server would act on reach the stack), on `conn`.
async fn call_direct(
    policy: &SharedPolicy,
    conn: ConnectionInfo,
    mut request: Request<Full<Bytes>>,
) -> (http::response::Parts, Bytes) {
    request.extensions_mut().insert(conn);
    let response = stack(policy).call(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (parts, body.collect().await.unwrap().to_bytes())
}

// ---------------------------------------------------------------- routing

/// Four hosts on one listener, each with its own routes; the backends forward to the echo
/// upstream under `/<their name>`, so the echoed path tells which one answered and what path
/// it was sent.
const PRECEDENCE: &str = r#"
- hostnames: [Example.COM]
  routes:
    - { path_prefix: /api, backend: host-api }
- hostnames: ["*.wild.test"]
  routes:
    - { path_prefix: /, backend: wild }
- hostnames: [a.wild.test]
  routes:
    - { path_exact: /x, backend: a-wild-x }
- routes:
    - { path_prefix: /, backend: default }
    - { path_prefix: /api, backend: api }
    - { path_exact: /api/exact, backend: api-exact }
    - { path_prefix: /api/v2/, backend: api-v2 }
"#;

#[tokio::test]
async fn routing_precedence() {
    bounded(async {
        let (_up, addr, _) = setup(PRECEDENCE, |up| {
            [
                "default",
                "api",
                "api-exact",
                "api-v2",
                "host-api",
                "wild",
                "a-wild-x",
            ]
            .map(|name| backend(name, format!("http://{up}/{name}"), quick()))
            .into()
        })
        .await;
        let here = addr.to_string();
        // (Host, path sent, the backend that answers, the path it gets)
        let cases: &[(&str, &str, &str, &str)] = &[
            // The default host: an exact path beats any prefix, then the longest prefix, on
            // segment boundaries.
            (&here, "/", "default", "/"),
            (&here, "/anything", "default", "/anything"),
            (&here, "/api", "api", "/api"),
            (&here, "/api/", "api", "/api/"),
            (&here, "/api/x", "api", "/api/x"),
            (&here, "/apix", "default", "/apix"),
            (&here, "/api/exact", "api-exact", "/api/exact"),
            (&here, "/api/exact/", "api", "/api/exact/"),
            (&here, "/api/exact/more", "api", "/api/exact/more"),
            (&here, "/api/v2", "api-v2", "/api/v2"),
            (&here, "/api/v2/z", "api-v2", "/api/v2/z"),
            (&here, "/api/v22", "api", "/api/v22"),
            // The path is matched, and forwarded, in normal form.
            (&here, "/api/x/../exact", "api-exact", "/api/exact"),
            (&here, "//api//v2/./z", "api-v2", "/api/v2/z"),
            (&here, "/%61pi/%7Ex", "api", "/api/~x"),
            (&here, "/api/../apix", "default", "/apix"),
            (&here, "/../../api", "api", "/api"),
            // The host by name (case, port and one trailing dot do not matter), then its
            // routes alone.
            ("example.com", "/api/x", "host-api", "/api/x"),
            ("EXAMPLE.com:8443", "/api", "host-api", "/api"),
            ("example.com.", "/api", "host-api", "/api"),
            ("example.com", "/api/exact", "host-api", "/api/exact"),
            // A wildcard covers one label; an exact name beats it.
            ("b.wild.test", "/q", "wild", "/q"),
            ("a.b.wild.test", "/q", "default", "/q"),
            ("wild.test", "/q", "default", "/q"),
            ("a.wild.test", "/x", "a-wild-x", "/x"),
            // Any other name: the default host.
            ("other.com", "/api", "api", "/api"),
            ("[::1]:8080", "/api", "api", "/api"),
        ];
        for &(host, path, want, forwarded) in cases {
            let echo = echo_as(addr, path, host).await;
            assert_eq!(
                echo.line("path"),
                format!("/{want}{forwarded}"),
                "host {host:?} path {path:?}"
            );
        }

        // A host's routes are its own: a path none of them matches is 404, not another
        // host's route.
        for (host, path) in [
            ("example.com", "/other"),
            ("a.wild.test", "/x/y"),
            ("a.wild.test:80", "/y"),
        ] {
            let (status, body) = get_as(addr, path, host).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{host} {path}");
            assert_eq!(
                body,
                format!("no route for host {host:?} path {path:?}\n"),
                "{host} {path}"
            );
        }

        // Ambiguous paths and malformed names are refused with the reason, before any
        // route is looked at.
        for (host, path, reason) in [
            (
                here.as_str(),
                "/api%2F..%2Fadmin",
                "the path \"/api%2F..%2Fadmin\" has an encoded slash or backslash",
            ),
            (
                &here,
                "/api%5c..%5cadmin",
                "the path \"/api%5c..%5cadmin\" has an encoded slash or backslash",
            ),
            (
                &here,
                "/a%zz",
                "the path \"/a%zz\" has a malformed percent-encoding",
            ),
            (
                "example.com..",
                "/api",
                "Host header: host name \"example.com..\" has an empty label",
            ),
        ] {
            let (status, body) = get_as(addr, path, host).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{host} {path}: {body:?}");
            let body = String::from_utf8(body.to_vec()).unwrap();
            assert!(body.contains(reason), "{host} {path}: {body}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_listener_without_a_default_host_serves_its_names_only() {
    bounded(async {
        let hosts = "- hostnames: [only.test]\n  routes: [{ backend: echo }]";
        let (_up, addr, _) = setup(hosts, |up| {
            vec![backend("echo", format!("http://{up}"), quick())]
        })
        .await;
        assert_eq!(echo_as(addr, "/a", "only.test").await.line("path"), "/a");
        // Another name, or none the listener knows: 421 (misdirected), naming it.
        for (host, name) in [
            ("other.test", "other.test"),
            (&addr.to_string(), "127.0.0.1"),
        ] {
            let (status, body) = get_as(addr, "/a", host).await;
            assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{host}");
            assert_eq!(
                body,
                format!("no host of the listener on port {PORT} serves {name:?}\n"),
                "{host}"
            );
        }
        // An asterisk-form target has no path to route: 400.
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        tcp.write_all(b"OPTIONS * HTTP/1.1\r\nHost: only.test\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
        assert!(answer.contains("does not start with `/`"), "{answer}");
    })
    .await;
}

#[tokio::test]
async fn bad_routes_and_backends_are_refused() {
    let refused = |hosts: &str| match Policy::from_yaml(&yaml(hosts, &["b"])) {
        Ok(_) => panic!("accepted: {hosts}"),
        Err(e) => e.to_string(),
    };
    assert_eq!(
        refused("- routes: [{ path_prefix: api, backend: b }]"),
        "listeners[0].hosts[0].routes[0].path_prefix: the path \"api\" does not start with `/`"
    );
    assert_eq!(
        refused(
            "- routes: [{ path_prefix: /api, backend: b }, { path_prefix: /api/, backend: b }]"
        ),
        "listeners[0].hosts[0].routes[1]: conflicting settings: another route of this host \
         matches prefix /api"
    );
    assert_eq!(
        refused("- routes: [{ path_prefix: /api, backend: nope }]"),
        "listeners[0].hosts[0].routes[0].backend: no backend named \"nope\" (see `backends`)"
    );
    let character = "has a character other than letters, digits, `-`, `_` and `.`";
    for (host, cause) in [
        ("a.*.b", format!("host name \"a.*.b\" {character}")),
        ("*", format!("host name \"*\" {character}")),
        ("*.", "empty host name".into()),
        ("", "empty host name".into()),
        ("a b", format!("host name \"a b\" {character}")),
    ] {
        let err = refused(&format!("- hostnames: [\"{host}\"]"));
        assert_eq!(
            err,
            format!(
                "listeners[0].hosts[0].hostnames: {host:?} is not a host name or a `*.parent` \
                 wildcard: {cause}"
            ),
            "{host:?}"
        );
    }
    for base in ["ftp://x/", "/relative", "http://x/?q=1"] {
        let base: Uri = base.parse().unwrap();
        let err = Backend::new(
            "b",
            base.clone(),
            UpstreamConnector::plain(),
            BackendTimeouts::default(),
            false,
        )
        .unwrap_err();
        assert!(
            matches!(err, ConfigError::BackendUri { .. }),
            "{base}: {err}"
        );
        assert!(err.to_string().starts_with("backend \"b\": "), "{err}");
    }
}

#[tokio::test]
async fn no_route_is_404_with_a_reason() {
    bounded(async {
        let hosts = "- routes: [{ path_prefix: /api, backend: api }]";
        let (_up, addr, _) = setup(hosts, |up| {
            vec![backend("api", format!("http://{up}"), quick())]
        })
        .await;
        let (status, body) = get(addr, "/apix?q=1").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body,
            format!("no route for host \"{addr}\" path \"/apix\"\n")
        );
        // The path in the reason is the one decided on: in normal form.
        let (status, body) = get(addr, "/api/../apix").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body,
            format!("no route for host \"{addr}\" path \"/apix\"\n")
        );
    })
    .await;
}

/// Turns the access log (target `access`) on for this thread while the guard lives: the proxy
/// names the route's target in the responses' extensions only then.
fn access_log_on() -> tracing::subscriber::DefaultGuard {
    tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_test_writer()
            .finish(),
    )
}

// ---------------------------------------------------------------- direct responses

/// A maintenance host answering everything itself; the default host proxying to `echo`
/// except `/ping` and `/gone`, answered by the gateway.
const RESPONDING: &str = r#"
- hostnames: [maint.test]
  routes:
    - respond: { status: 503, body: "maintenance\n", content_type: "text/plain; charset=utf-8" }
- routes:
    - { path_prefix: /, backend: echo }
    - { path_exact: /ping, respond: { body: "ok\n", content_type: text/plain } }
    - { name: gone, path_prefix: /gone, respond: { status: 503 } }
"#;

#[tokio::test]
async fn direct_responses_answer_without_an_upstream() {
    bounded(async {
        let (_up, addr, slot) = setup(RESPONDING, |up| {
            vec![backend("echo", format!("http://{up}"), quick())]
        })
        .await;
        let send = |method: Method, path: &str, host: Option<&str>| {
            let mut req = Request::builder()
                .method(method)
                .uri(format!("http://{addr}{path}"));
            if let Some(host) = host {
                req = req.header("host", host);
            }
            let req = req.body(Full::default()).unwrap();
            async move {
                let response = client().request(req).await.unwrap();
                let (parts, body) = response.into_parts();
                (parts, body.collect().await.unwrap().to_bytes())
            }
        };
        let header = |parts: &http::response::Parts, name: &str| {
            parts
                .headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };

        // The fixed answer, with its Content-Type and an exact Content-Length.
        let (parts, body) = send(Method::GET, "/ping", None).await;
        assert_eq!((parts.status, &body[..]), (StatusCode::OK, &b"ok\n"[..]));
        assert_eq!(
            header(&parts, "content-type").as_deref(),
            Some("text/plain")
        );
        assert_eq!(header(&parts, "content-length").as_deref(), Some("3"));
        // Many times: the same bytes every time (the body is shared, not consumed).
        for _ in 0..3 {
            assert_eq!(
                get(addr, "/ping?x=1").await,
                (StatusCode::OK, Bytes::from("ok\n"))
            );
        }
        // HEAD: the headers without the body.
        let (parts, body) = send(Method::HEAD, "/ping", None).await;
        assert_eq!(parts.status, StatusCode::OK);
        assert_eq!(header(&parts, "content-length").as_deref(), Some("3"));
        assert!(body.is_empty());
        // No body, no Content-Type.
        let (parts, body) = send(Method::POST, "/gone/x", None).await;
        assert_eq!(parts.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.is_empty());
        assert_eq!(header(&parts, "content-type"), None);
        assert_eq!(header(&parts, "content-length").as_deref(), Some("0"));

        // Precedence is the routes', whatever the target: an exact path only matches
        // itself (the rest goes to the backend), and a host's routes are its own.
        let (parts, body) = send(Method::GET, "/ping/more", None).await;
        assert_eq!(parts.status, StatusCode::OK);
        assert_eq!(Echo::parse(&body).line("path"), "/ping/more");
        let (parts, body) = send(Method::GET, "/ping", Some("maint.test")).await;
        assert_eq!(
            (parts.status, &body[..]),
            (StatusCode::SERVICE_UNAVAILABLE, &b"maintenance\n"[..])
        );

        // The access log's route name rides in the response's extensions, when the access
        // log is on (and only then: it costs allocations): `respond:<route name>`, the name
        // defaulting to the path as written (`/` for a route without one), or the backend.
        let request = |path: &str, host: &str| {
            Request::get(path)
                .header("host", host)
                .body(Full::<Bytes>::default())
                .unwrap()
        };
        let conn = || ConnectionInfo::plaintext(None, None);
        let (parts, _) = call_direct(&slot, conn(), request("/ping", "a.test")).await;
        assert_eq!(parts.status, StatusCode::OK);
        assert_eq!(parts.extensions.get::<RouteName>(), None);
        let _log = access_log_on();
        for (path, host, name) in [
            ("/ping", "a.test", "respond:/ping"),
            ("/gone", "a.test", "respond:gone"),
            ("/gone", "maint.test", "respond:/"),
            ("/x", "other.test", "echo"),
        ] {
            let (parts, _) = call_direct(&slot, conn(), request(path, host)).await;
            assert_eq!(
                parts.extensions.get::<RouteName>(),
                Some(&RouteName(name.into())),
                "{host} {path}"
            );
        }
        // A request no route matches, or that the layer refuses, names none.
        let (parts, _) = call_direct(&slot, conn(), request("/x", "maint..test")).await;
        assert_eq!(parts.status, StatusCode::BAD_REQUEST);
        assert_eq!(parts.extensions.get::<RouteName>(), None);
    })
    .await;
}

// ---------------------------------------------------------------- forwarding

#[tokio::test]
async fn query_method_prefix_and_forwarded_headers() {
    bounded(async {
        let hosts = "- routes: [{ backend: echo }]\n- { hostnames: [rewrite.test], routes: [{ backend: rw }] }";
        let (_up, addr, _) = setup(hosts, |up| {
            let rw = Backend::new(
                "rw",
                format!("http://{up}").parse().unwrap(),
                UpstreamConnector::plain(),
                quick(),
                false,
            );
            vec![
                backend("echo", format!("http://{up}/base/"), quick()),
                Arc::new(rw.unwrap().rewrite_host(true)),
            ]
        })
        .await;
        let req = Request::builder()
            .method(Method::PUT)
            .uri(format!("http://{addr}/echo/q?a=1&b=two%20x"))
            .header("host", "app.test:8443")
            .header("x-forwarded-for", "10.0.0.1")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "spoofed.test")
            .header("x-forwarded-client-cert", "By=spiffe://gw;Hash=ab")
            .header("connection", "x-custom")
            .header("x-custom", "1")
            .body(Full::new(Bytes::from("put body")))
            .unwrap();
        let response = client().request(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.extensions().get::<RouteName>(),
            None,
            "not visible to the client"
        );
        let echo = Echo::parse(&response.into_body().collect().await.unwrap().to_bytes());
        assert_eq!(echo.line("method"), "PUT");
        assert_eq!(echo.line("path"), "/base/echo/q");
        assert_eq!(echo.line("query"), "a=1&b=two%20x");
        assert_eq!(echo.header("host"), ["app.test:8443"]);
        assert_eq!(echo.header("x-forwarded-for"), ["10.0.0.1, 127.0.0.1"]);
        assert_eq!(echo.header("x-forwarded-proto"), ["http"]);
        assert_eq!(echo.header("x-forwarded-host"), ["app.test:8443"]);
        // An identity header from the client never goes upstream (the layer removes it; this
        // plaintext client has no identity to put in its place).
        assert!(
            echo.header("x-forwarded-client-cert").is_empty(),
            "{}",
            echo.head
        );
        assert!(echo.header("x-custom").is_empty(), "{}", echo.head);
        assert!(echo.header("connection").is_empty(), "{}", echo.head);
        assert_eq!(&echo.body[..], b"put body");

        let req = Request::builder()
            .uri(format!("http://{addr}/r"))
            .header("host", "rewrite.test")
            .body(Full::default())
            .unwrap();
        let response = client().request(req).await.unwrap();
        let echo = Echo::parse(&response.into_body().collect().await.unwrap().to_bytes());
        assert_eq!(echo.header("host"), [_up.addr.to_string().as_str()]);
        assert_eq!(echo.header("x-forwarded-host"), ["rewrite.test"]);
    })
    .await;
}

#[tokio::test]
async fn http1_upstream_connections_are_pooled_per_backend_whatever_the_host() {
    bounded(async {
        let (_up, addr, _) = setup_one(|up| backend("echo", format!("http://{up}"), quick())).await;
        // One client connection, one request at a time: the proxy needs one upstream
        // connection, and a new Host value must not open another.
        let mut echoes = Vec::new();
        for host in ["a.test", "b.test:8443", "C.Test", "10.1.2.3", "[::1]:9"] {
            let echo = echo_as(addr, "/echo", host).await;
            assert_eq!(
                echo.header("host"),
                [host],
                "the client's Host goes upstream"
            );
            assert_eq!(echo.header("x-forwarded-host"), [host]);
            echoes.push(echo);
        }
        one_upstream_connection(&echoes);
    })
    .await;
}

#[tokio::test]
async fn an_http2_upstream_connection_is_shared_whatever_the_authority() {
    bounded(async {
        let mut h2 = None;
        let (_up, addr, _) = setup_one(|up| {
            let backend = h2c_backend("echo", up);
            h2 = Some(Arc::clone(&backend));
            backend
        })
        .await;
        // Before, the client's authority went in the URI and chose the connection: one h2c
        // connection per Host value.
        let mut echoes = Vec::new();
        for host in ["a.test", "b.test:8443", "c.test", "10.1.2.3"] {
            let echo = echo_as(addr, "/echo", host).await;
            assert_eq!(echo.line("version"), "HTTP/2.0");
            assert_eq!(
                echo.line("authority"),
                host,
                "the client's authority upstream"
            );
            assert!(echo.header("host").is_empty(), "{}", echo.head);
            echoes.push(echo);
        }
        one_upstream_connection(&echoes);
        assert_eq!(h2.unwrap().pool().idle(), (0, true));
    })
    .await;
}

fn empty() -> proxy::ProxyBody {
    Full::new(Bytes::new())
        .map_err(|e| match e {})
        .boxed_unsync()
}

fn pool_request(method: Method, path: &str) -> Request<proxy::ProxyBody> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "pool.test")
        .body(empty())
        .unwrap()
}

/// One request through `pool`, sent as it is; the response.
async fn pool_send(pool: &Pool, method: Method, path: &str) -> Response<upstream::PooledBody> {
    let shape = |request, http2: bool| {
        assert!(
            !http2,
            "a plaintext pool without http2_only speaks HTTP/1.1"
        );
        request
    };
    pool.send(pool_request(method, path), shape).await.unwrap()
}

#[tokio::test]
async fn http1_connections_go_back_at_the_body_end_and_close_when_idle() {
    bounded(async {
        let up = start_upstream().await;
        let target: Uri = format!("http://{}/", up.addr).parse().unwrap();
        let idle_timeout = Duration::from_millis(300);
        let pool = Pool::with_idle_timeout(UpstreamConnector::plain(), target, false, idle_timeout);

        // In use until its body is read to the end, then idle.
        let response = pool_send(&pool, Method::GET, "/echo").await;
        assert_eq!(pool.idle(), (0, false), "in use while its body is unread");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let first = Echo::parse(&body).line("peer").to_owned();
        assert_eq!(pool.idle(), (1, false), "back once read to the end");

        // A response without a body (HEAD): back at once, body untouched.
        let head = pool_send(&pool, Method::HEAD, "/echo").await;
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(
            pool.idle(),
            (1, false),
            "HEAD: back before its body is polled"
        );
        drop(head);
        let again = pool_send(&pool, Method::GET, "/echo").await;
        let body = again.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            Echo::parse(&body).line("peer"),
            first,
            "the same connection, reused"
        );

        // A body dropped before its end: HTTP/1 cannot reuse that connection.
        let mut streaming = pool_send(&pool, Method::GET, "/stream").await;
        let frame = streaming.body_mut().frame().await.unwrap().unwrap();
        assert!(frame.into_data().is_ok_and(|data| !data.is_empty()));
        assert_eq!(pool.idle(), (0, false));
        drop(streaming);
        assert_eq!(pool.idle(), (0, false), "an unfinished body is not reused");
        let after = pool_send(&pool, Method::GET, "/echo").await;
        let body = after.into_body().collect().await.unwrap().to_bytes();
        assert_ne!(Echo::parse(&body).line("peer"), first, "a new connection");
        assert_eq!(pool.idle(), (1, false));

        // Idle past the timeout: closed (checked every timeout, so gone within two).
        tokio::time::sleep(idle_timeout * 3).await;
        assert_eq!(pool.idle(), (0, false), "closed after the idle timeout");
    })
    .await;
}

/// An upstream on 127.0.0.1 that serves each connection it accepts with `serve` and counts
/// them: its address, and the count.
async fn counting_upstream<F, Fut>(serve: F) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>)
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(stream));
        }
    });
    (addr, accepted)
}

/// Two GETs through the proxy at `addr`, `pause` apart, both answered `200 ok` by an upstream
/// that counts its connections in `accepted` and closed the first: the second went over a new
/// one.
async fn ok_twice_over_two_connections(
    addr: SocketAddr,
    accepted: &std::sync::atomic::AtomicUsize,
    pause: Duration,
) {
    for _ in 0..2 {
        let (status, body) = get(addr, "/x").await;
        assert_eq!(status, StatusCode::OK, "{body:?}");
        assert_eq!(&body[..], b"ok");
        tokio::time::sleep(pause).await;
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "a new connection for the second"
    );
}

#[tokio::test]
async fn an_idle_connection_the_upstream_closed_is_not_a_502() {
    bounded(async {
        // An upstream that answers one request per connection with keep-alive, then closes
        // the connection 50 ms later without saying so (as an upstream's idle timeout does).
        let (up, accepted) = counting_upstream(|mut stream| async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
            let _ = stream.write_all(answer).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        })
        .await;
        let (_echo, addr, _) =
            setup_one(|_| backend("echo", format!("http://{up}"), quick())).await;
        ok_twice_over_two_connections(addr, &accepted, Duration::from_millis(200)).await;
    })
    .await;
}

#[tokio::test]
async fn an_http2_upstream_that_went_away_is_replaced_not_a_502() {
    bounded(async {
        // An h2c upstream that shuts each connection down (GOAWAY, then close) 50 ms after its
        // first answer, as an upstream's HTTP/2 idle timeout does.
        let (up, accepted) = counting_upstream(|stream| async move {
            let answered = Arc::new(Notify::new());
            let signal = Arc::clone(&answered);
            let service = service_fn(move |_req: Request<Incoming>| {
                signal.notify_one();
                async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok")))) }
            });
            let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                () = answered.notified() => {}
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        })
        .await;
        let (_echo, addr, _) = setup_one(|_| h2c_backend("echo", up)).await;
        ok_twice_over_two_connections(addr, &accepted, Duration::from_millis(300)).await;
    })
    .await;
}

#[tokio::test]
async fn a_burst_of_first_requests_opens_one_http2_connection() {
    bounded(async {
        let (_up, addr, _) = setup_one(|up| h2c_backend("echo", up)).await;
        // Eight clients at once, before any upstream connection exists: they wait for the
        // first one's connection instead of each making one.
        let hosts: Vec<String> = (0..8).map(|i| format!("h{i}.test")).collect();
        let requests = hosts.iter().map(|host| echo_as(addr, "/echo", host));
        let echoes = futures_util::future::join_all(requests).await;
        for echo in &echoes {
            assert_eq!(echo.line("version"), "HTTP/2.0");
        }
        one_upstream_connection(&echoes);
    })
    .await;
}

#[tokio::test]
async fn requests_waiting_for_an_http2_connection_share_its_failure() {
    bounded(async {
        let closed = closed_addr().await;
        let hosts = "- routes: [{ backend: h2-down }]";
        let (_up, addr, _) = setup(hosts, |_| vec![h2c_backend("h2-down", closed)]).await;
        let answers = futures_util::future::join_all((0..8).map(|_| get(addr, "/x"))).await;
        for (status, body) in answers {
            assert_eq!(status, StatusCode::BAD_GATEWAY);
            let body = String::from_utf8(body.to_vec()).unwrap();
            assert!(
                body.starts_with(&format!(
                    "upstream \"h2-down\" unreachable: connecting to http://{closed}/: "
                )),
                "{body}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_both_ways() {
    bounded(async {
        let up = start_upstream().await;
        let echo = backend("echo", format!("http://{}", up.addr), quick());
        // A client with a verified certificate: the layer sets its XFCC upstream.
        let hosts = r#"
- client_validation:
    mode: optional
    trust: [{ name: clients, ca: [{ file: ca.pem }] }]
  routes: [{ backend: echo }]
"#;
        let slot = SharedPolicy::new(policy(hosts, &[echo]));
        let client = mtls_testkit::Pki::shared()
            .client()
            .uri("spiffe://example.org/ns/default/sa/web")
            .issue();
        let conn = ConnectionInfo::tls(
            None,
            None,
            TlsInfo::new(None, "TLSv1.3", "TLS13_AES_128_GCM_SHA256"),
            client.chain_der(),
            Some(PeerIdentity::from_der(client.cert_der()).unwrap()),
            PeerVerification::verified("clients"),
        );

        // Called directly, so that headers a hyper server would act on reach the stack.
        let req = Request::builder()
            .uri("/echo")
            .header("host", "app.test")
            .header(
                "connection",
                "x-custom, keep-alive, x-forwarded-client-cert, host",
            )
            .header("x-custom", "1")
            .header("keep-alive", "timeout=5")
            .header("proxy-connection", "keep-alive")
            .header("te", "trailers, deflate;q=0.5")
            .header("trailer", "x-t")
            .header("transfer-encoding", "chunked")
            .header("upgrade", "websocket")
            .header("proxy-authorization", "Basic Zm9vOmJhcg==")
            .header("x-forwarded-client-cert", "By=spiffe://gw;Hash=ab")
            .header("x-keep", "yes")
            .body(Full::new(Bytes::from("hi")))
            .unwrap();
        let _log = access_log_on();
        let (parts, body) = call_direct(&slot, conn.clone(), req).await;
        assert_eq!(
            parts.extensions.get::<RouteName>(),
            Some(&RouteName("echo".into()))
        );
        let echo = Echo::parse(&body);
        for gone in [
            "connection",
            "x-custom",
            "keep-alive",
            "proxy-connection",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "proxy-authorization",
        ] {
            assert!(
                echo.header(gone).is_empty(),
                "{gone} forwarded:\n{}",
                echo.head
            );
        }
        assert_eq!(echo.header("te"), ["trailers"]);
        // `Connection` cannot remove `Host` or the identity header the layer set (the
        // client's own copy is gone: the layer replaced it).
        assert_eq!(echo.header("host"), ["app.test"]);
        let xfcc = echo.header("x-forwarded-client-cert");
        assert_eq!(xfcc.len(), 1, "{}", echo.head);
        assert!(
            xfcc[0].contains("URI=spiffe://example.org/ns/default/sa/web")
                && !xfcc[0].contains("By=spiffe://gw"),
            "{xfcc:?}"
        );
        assert_eq!(echo.header("x-keep"), ["yes"]);
        assert_eq!(echo.header("x-forwarded-proto"), ["https"]);
        assert!(
            echo.header("x-forwarded-for").is_empty(),
            "no client address known"
        );
        assert_eq!(&echo.body[..], b"hi");

        let req = Request::builder()
            .uri("/hop")
            .body(Full::<Bytes>::default())
            .unwrap();
        let (parts, _) = call_direct(&slot, conn, req).await;
        let headers = &parts.headers;
        for gone in [
            "connection",
            "x-up-custom",
            "keep-alive",
            "proxy-authenticate",
            "proxy-connection",
            "trailer",
        ] {
            assert!(!headers.contains_key(gone), "{gone} returned: {headers:?}");
        }
        assert_eq!(headers["x-up-plain"], "1");
    })
    .await;
}

#[tokio::test]
async fn bodies_stream_both_ways() {
    bounded(async {
        let (up, addr, _) = setup_one(|up| backend("echo", format!("http://{up}"), quick())).await;

        // 1 MiB up and back.
        let sent: Bytes = (0..1024 * 1024)
            .map(|i: u32| (i % 251) as u8)
            .collect::<Vec<_>>()
            .into();
        let req = Request::post(format!("http://{addr}/upload"))
            .body(Full::new(sent.clone()))
            .unwrap();
        let response = client().request(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let echo = Echo::parse(&response.into_body().collect().await.unwrap().to_bytes());
        assert_eq!(echo.line("method"), "POST");
        assert_eq!(echo.header("content-length"), ["1048576"]);
        assert!(echo.body == sent, "body changed in transit");

        // The first chunk arrives while the upstream still holds back the rest.
        let uri: Uri = format!("http://{addr}/stream").parse().unwrap();
        let mut body = client().get(uri).await.unwrap().into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert!(!first.is_empty() && first.iter().all(|&b| b == b'a'));
        up.release.notify_one();
        let rest = body.collect().await.unwrap().to_bytes();
        assert_eq!(first.len() + rest.len(), CHUNK * CHUNKS);
        let last = rest.last().copied();
        assert_eq!(last, Some(b'a' + ((CHUNKS - 1) % 26) as u8));
    })
    .await;
}

#[tokio::test]
async fn http2_prior_knowledge_client_and_h2c_upstream() {
    bounded(async {
        let hosts = "- routes: [{ backend: h1 }, { path_prefix: /h2up, backend: h2 }]";
        let (_up, addr, _) = setup(hosts, |up| {
            vec![
                backend("h1", format!("http://{up}"), quick()),
                h2c_backend("h2", up),
            ]
        })
        .await;
        let h2_client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build_http();
        let req = Request::post(format!("http://{addr}/echo?x=1"))
            .header("te", "trailers")
            .body(Full::new(Bytes::from("over h2")))
            .unwrap();
        let response = h2_client.request(req).await.unwrap();
        assert_eq!(response.version(), http::Version::HTTP_2);
        assert_eq!(response.status(), StatusCode::OK);
        let echo = Echo::parse(&response.into_body().collect().await.unwrap().to_bytes());
        assert_eq!(echo.line("version"), "HTTP/1.1");
        assert_eq!(echo.line("query"), "x=1");
        assert_eq!(
            echo.header("host"),
            [addr.to_string().as_str()],
            "from :authority"
        );
        assert_eq!(echo.header("x-forwarded-host"), [addr.to_string().as_str()]);
        assert_eq!(&echo.body[..], b"over h2");

        let (status, body) = get(addr, "/h2up/x").await;
        assert_eq!(status, StatusCode::OK);
        let echo = Echo::parse(&body);
        assert_eq!(echo.line("version"), "HTTP/2.0");
        assert_eq!(echo.line("path"), "/h2up/x");
        // Over HTTP/2 the client's authority is `:authority`, and no `Host` contradicts it.
        assert_eq!(echo.line("authority"), addr.to_string());
        assert!(echo.header("host").is_empty(), "{}", echo.head);
    })
    .await;
}

#[tokio::test]
async fn unreachable_upstream_is_502_with_the_reason() {
    bounded(async {
        let closed = closed_addr().await;
        let hosts = "- routes: [{ backend: down }]";
        let (_up, addr, _) = setup(hosts, |_| {
            vec![backend("down", format!("http://{closed}"), quick())]
        })
        .await;
        let (status, body) = get(addr, "/x").await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            body.starts_with(&format!(
                "upstream \"down\" unreachable: connecting to http://{closed}/: "
            )),
            "{body}"
        );
        assert!(body.contains("Connection refused"), "{body}");
    })
    .await;
}

#[tokio::test]
async fn upstream_not_accepting_connections_is_504() {
    bounded(async {
        // A listener that never accepts, its backlog filled: further SYNs go unanswered.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(1).unwrap();
        let full = listener.local_addr().unwrap();
        let mut held = Vec::new();
        let mut saturated = false;
        for _ in 0..16 {
            let attempt = tokio::net::TcpStream::connect(full);
            match tokio::time::timeout(Duration::from_millis(200), attempt).await {
                Ok(Ok(stream)) => held.push(stream),
                Ok(Err(e)) => panic!("connect to the full listener: {e}"),
                Err(_) => {
                    saturated = true;
                    break;
                }
            }
        }
        if !saturated {
            eprintln!("this system answers every connect (syncookies?); skipping");
            return;
        }
        let base: Uri = format!("http://{full}").parse().unwrap();
        let connector = UpstreamConnector::plain().connect_timeout(Duration::from_millis(300));
        let stuck = Backend::new("stuck", base, connector, quick(), false).unwrap();
        let hosts = "- routes: [{ backend: stuck }]";
        let slot = SharedPolicy::new(policy(hosts, &[Arc::new(stuck)]));
        let addr = start_proxy(slot).await;
        let (status, body) = get(addr, "/x").await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            body.starts_with("upstream \"stuck\" connect timed out: "),
            "{body}"
        );
        drop((held, listener));
    })
    .await;
}

#[tokio::test]
async fn slow_upstream_is_504() {
    bounded(async {
        let hosts = "- routes: [{ backend: slow }]";
        let (_up, addr, _) = setup(hosts, |up| {
            let timeouts = BackendTimeouts {
                request: Duration::from_millis(300),
            };
            vec![backend("slow", format!("http://{up}"), timeouts)]
        })
        .await;
        let started = std::time::Instant::now();
        let (status, body) = get(addr, "/slow").await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(body, "upstream \"slow\" did not answer within 300ms\n");
        assert!(started.elapsed() < Duration::from_secs(2));
    })
    .await;
}

/// A reload swaps the policy and the targets of its routes together: the next request is
/// decided and forwarded by the new one.
#[tokio::test]
async fn policy_hot_swap() {
    bounded(async {
        let (up, addr, slot) = setup("- routes: [{ backend: a }]", |up| {
            vec![backend("a", format!("http://{up}/a"), quick())]
        })
        .await;
        let (_, body) = get(addr, "/x").await;
        assert_eq!(Echo::parse(&body).line("path"), "/a/x");

        let b = backend("b", format!("http://{}/b", up.addr), quick());
        slot.store(policy("- routes: [{ backend: b }]", &[b]));
        let (_, body) = get(addr, "/x").await;
        assert_eq!(Echo::parse(&body).line("path"), "/b/x");

        slot.store(policy("- routes: []", &[]));
        let (status, _) = get(addr, "/x").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    })
    .await;
}

/// The echo upstream as a tower service, for `mtls_tower::serve`.
#[derive(Clone)]
struct EchoService;

impl Service<Request<Incoming>> for EchoService {
    type Response = Response<UpBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<UpBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let peer = req
            .extensions()
            .get::<ConnectionInfo>()
            .and_then(ConnectionInfo::remote_addr)
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        Box::pin(upstream(req, peer, Arc::new(Notify::new())))
    }
}

#[tokio::test]
async fn tls_upstream_speaks_h2_by_alpn_and_a_wrong_name_is_502() {
    bounded(async {
        let pki = mtls_testkit::Pki::shared();
        let provider = mtls_verify::crypto::default_provider();
        let leaf = pki.server_for(&["backend.test"]).issue();
        let chain = CertificateChain::from_bytes(leaf.chain_pem().as_bytes(), "chain").unwrap();
        let key = PrivateKey::from_bytes(leaf.key_pem().as_bytes(), "key").unwrap();
        let credential = ServerCredential::new(chain, key).unwrap();
        let key = mtls_verify::crypto::certified_key(&credential, &provider).unwrap();
        let snapshot = TlsSnapshot::builder(Arc::clone(&provider))
            .host(HostTls::new(["backend.test"], key))
            .build()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = listener.local_addr().unwrap();
        let acceptor = mtls_tower::Acceptor::new(snapshot);
        tokio::spawn(mtls_tower::serve(listener, acceptor, EchoService, std::future::pending()));

        let ca = CaBundle::from_bytes(pki.root().cert_pem().as_bytes(), "ca").unwrap();
        let connector = |name: &str| {
            let tls = UpstreamTls::builder(Arc::clone(&provider), &ca).expected_name(name);
            UpstreamConnector::new(tls.build().unwrap())
        };
        let base: Uri = format!("https://{up}").parse().unwrap();
        let secure = Backend::new("secure", base.clone(), connector("backend.test"), quick(), false);
        let wrong = Backend::new("wrong", base.clone(), connector("other.test"), quick(), false);
        // ALPN offering HTTP/1.1 only (the gateway's default for https backends).
        let h1_only = {
            let tls = UpstreamTls::builder(Arc::clone(&provider), &ca)
                .expected_name("backend.test")
                .alpn(vec![b"http/1.1".to_vec()]);
            UpstreamConnector::new(tls.build().unwrap())
        };
        let h1 = Backend::new("h1", base, h1_only, quick(), false);
        let hosts = r#"
- routes:
    - { path_prefix: /good, backend: secure }
    - { path_prefix: /bad, backend: wrong }
    - { path_prefix: /h1, backend: h1 }
"#;
        let backends = [secure, wrong, h1].map(|b| Arc::new(b.unwrap()));
        let addr = start_proxy(SharedPolicy::new(policy(hosts, &backends))).await;

        let (status, body) = get(addr, "/good/x?y=1").await;
        assert_eq!(status, StatusCode::OK);
        let echo = Echo::parse(&body);
        assert_eq!(echo.line("version"), "HTTP/2.0", "ALPN chose h2");
        assert_eq!(echo.line("query"), "y=1");
        assert_eq!(echo.header("x-forwarded-proto"), ["http"]);

        // HTTP/1.1 over TLS: the client's host in Host, one pooled connection whatever it is.
        let mut echoes = Vec::new();
        for host in ["a.test", "b.test:8443", "c.test"] {
            let echo = echo_as(addr, "/h1/x", host).await;
            assert_eq!(echo.line("version"), "HTTP/1.1");
            assert_eq!(echo.header("host"), [host]);
            echoes.push(echo);
        }
        one_upstream_connection(&echoes);

        let (status, body) = get(addr, "/bad/x").await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        let body = String::from_utf8(body.to_vec()).unwrap();
        let want = format!(
            "upstream \"wrong\" unreachable: TLS handshake with https://{up}/: invalid peer certificate: "
        );
        assert!(body.starts_with(&want), "{body}");
        assert!(body.contains("other.test"), "{body}");
    })
    .await;
}

// ---------------------------------------------------------------- admin

fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| install_metrics().unwrap()).clone()
}

#[tokio::test]
async fn admin_endpoints() {
    bounded(async {
        let handle = metrics_handle();
        let state = AdminState::new(Some(handle));
        let ready = Arc::clone(&state.ready);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_admin(listener, state.clone(), async {
            let _ = stopped.await;
        }));

        assert_eq!(
            get(admin, "/healthz").await,
            (StatusCode::OK, Bytes::from("ok\n"))
        );
        let not_ready = (
            StatusCode::SERVICE_UNAVAILABLE,
            Bytes::from("not ready: starting\n"),
        );
        assert_eq!(get(admin, "/readyz").await, not_ready);
        ready.store(true, Ordering::Release);
        assert_eq!(
            get(admin, "/readyz").await,
            (StatusCode::OK, Bytes::from("ready\n"))
        );
        state.set_not_ready("config /etc/gw.yaml: listeners[0].port: invalid");
        let (status, body) = get(admin, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            "not ready: config /etc/gw.yaml: listeners[0].port: invalid\n"
        );
        state.set_ready();
        assert_eq!(get(admin, "/readyz").await.0, StatusCode::OK);
        assert_eq!(get(admin, "/nope").await.0, StatusCode::NOT_FOUND);
        let post = Request::post(format!("http://{admin}/healthz"))
            .body(Full::default())
            .unwrap();
        assert_eq!(
            client().request(post).await.unwrap().status(),
            StatusCode::METHOD_NOT_ALLOWED
        );

        // A proxied request shows up in /metrics, and so does an upstream failure.
        let hosts =
            "- routes: [{ backend: metered }, { path_prefix: /down, backend: metered-down }]";
        let (_up, addr, _) = setup(hosts, |up| {
            let closed = "127.0.0.1:1";
            vec![
                backend("metered", format!("http://{up}"), quick()),
                backend("metered-down", format!("http://{closed}"), quick()),
            ]
        })
        .await;
        assert_eq!(get(addr, "/x").await.0, StatusCode::OK);
        assert_eq!(get(addr, "/down").await.0, StatusCode::BAD_GATEWAY);
        let (status, body) = get(admin, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            text.contains(
                r#"mtls_gateway_upstream_requests_total{backend="metered",status_class="2xx"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"mtls_gateway_upstream_errors_total{backend="metered-down",kind="connect"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains("# TYPE mtls_gateway_upstream_requests_total counter"),
            "{text}"
        );

        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .unwrap()
            .unwrap();
    })
    .await;
}
