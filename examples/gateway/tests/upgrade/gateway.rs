//! The gateway under test (the real binary, on a configuration and PKI written for it) and
//! the clients that talk to it: TLS with a client certificate (tokio-rustls), WebSocket
//! (tungstenite) and HTTP/1.1 (hyper).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use mtls_testkit::{Leaf, Pki};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{WebSocketStream, client_async};

/// The identity `/ws` lets in (`client.pem`, `victim.pem`).
pub(crate) const ALLOWED: &str = "spiffe://example.org/ns/default/sa/web";
/// An identity of the same CA that `/ws` refuses (`other.pem`).
pub(crate) const REFUSED: &str = "spiffe://example.org/ns/default/sa/other";
/// The bound of each step of a test, and of the gateway's start.
pub(crate) const STEP: Duration = Duration::from_secs(15);

// ------------------------------------------------------------------------------ the gateway

/// A running `mtls-gateway --workers 1 run --config FILE` on generated certificates, killed on
/// drop.
pub(crate) struct Gateway {
    pub(crate) child: Child,
    dir: tempfile::TempDir,
    pub(crate) port: u16,
    admin: u16,
    /// The client certificates: `client`, `victim` ([`ALLOWED`]) and `other` ([`REFUSED`]).
    clients: Vec<(&'static str, Leaf)>,
}

impl Gateway {
    /// Writes the PKI and the configuration (`/ws` to `ws`, only [`ALLOWED`]; `/h2ws` and
    /// everything else to the `http2_only` backend `grpc`), starts the gateway and waits
    /// (bounded) for its `/readyz`.
    pub(crate) fn start(ws: u16, grpc: u16, limits: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("mtls-upgrade-")
            .tempdir()
            .unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        let pki = Pki::shared();
        std::fs::write(etc.join("ca.pem"), pki.root().cert_pem()).unwrap();
        std::fs::write(etc.join("crl.pem"), pki.crls().build().pem()).unwrap();
        pki.default_server().write_to(&etc, "server").unwrap();
        let clients = [("client", ALLOWED), ("victim", ALLOWED), ("other", REFUSED)]
            .map(|(stem, id)| (stem, pki.client().common_name(stem).uri(id).issue()));
        let (port, admin) = (free_port(), free_port());
        let config = format!(
            r#"
admin:
  address: 127.0.0.1:{admin}
listeners:
  - name: edge
    address: 127.0.0.1:{port}
    limits: {limits}
    hosts:
      - certificate: {{ chain: server.pem, key: server.key }}
        client_validation:
          mode: required
          trust:
            - name: clients
              ca: [{{ file: ca.pem }}]
              crl: {{ sources: [{{ file: crl.pem }}] }}
        routes:
          - path_prefix: /ws
            authorization: {{ principals: ["{ALLOWED}"] }}
            backend: ws
          - {{ path_prefix: /, backend: grpc }}
backends:
  ws: {{ url: "http://127.0.0.1:{ws}" }}
  grpc: {{ url: "http://127.0.0.1:{grpc}", http2_only: true }}
"#
        );
        let config_file = etc.join("gateway.yaml");
        std::fs::write(&config_file, config).unwrap();
        let log = std::fs::File::create(dir.path().join("gateway.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .args(["--workers", "1", "run", "--config"])
            .arg(&config_file)
            .env("RUST_LOG", "info,mtls_gateway=debug,mtls_tower=debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("the gateway binary runs");
        let mut gateway = Self {
            child,
            dir,
            port,
            admin,
            clients: clients.into(),
        };
        let started = Instant::now();
        let ready = || admin_get(admin, "/readyz").is_some_and(|r| r.starts_with("HTTP/1.1 200"));
        while !ready() {
            if let Some(status) = gateway.child.try_wait().unwrap() {
                panic!("the gateway exited ({status}):\n{}", gateway.log());
            }
            assert!(started.elapsed() < STEP, "not ready:\n{}", gateway.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        gateway
    }

    pub(crate) fn etc(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    pub(crate) fn client(&self, stem: &str) -> &Leaf {
        let found = self.clients.iter().find(|(s, _)| *s == stem);
        &found.expect("a client certificate of the test").1
    }

    /// The value of the `/metrics` sample whose line contains every one of `labels`.
    pub(crate) fn metric(&self, name: &str, labels: &[&str]) -> Option<String> {
        let text = admin_get(self.admin, "/metrics")?;
        let line = text
            .lines()
            .find(|l| l.starts_with(name) && labels.iter().all(|label| l.contains(label)))?;
        line.rsplit(' ').next().map(str::to_owned)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gateway.log")).unwrap_or_default()
    }

    /// Waits (bounded) until the log has a line containing `needle`.
    pub(crate) async fn logged(&self, needle: &str) {
        let started = Instant::now();
        while !self.log().contains(needle) {
            assert!(
                started.elapsed() < STEP,
                "no {needle:?} in:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The admin listener's answer to `GET path` (bounded), `None` if it does not answer.
fn admin_get(admin: u16, path: &str) -> Option<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], admin));
    let mut stream = StdTcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// A free loopback port.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Runs `test` on a two-thread runtime, failing it after a minute.
pub(crate) fn run<F: Future<Output = ()>>(test: impl FnOnce() -> F) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), test())
            .await
            .expect("the test finished within a minute");
    });
}

// ------------------------------------------------------------------------------ the clients

/// A TLS connection to the gateway as `stem` (`client`, `victim`, `other`), offering `alpn`.
pub(crate) async fn tls(gateway: &Gateway, stem: &str, alpn: &[u8]) -> TlsStream<TcpStream> {
    let leaf = gateway.client(stem);
    let mut config =
        rustls::ClientConfig::builder_with_provider(mtls_verify::crypto::default_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(Pki::shared().root_store())
            .with_client_auth_cert(leaf.chain_der(), leaf.key_der())
            .unwrap();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = TcpStream::connect(("127.0.0.1", gateway.port))
        .await
        .unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap()
}

pub(crate) type Ws = WebSocketStream<TlsStream<TcpStream>>;

/// What a WebSocket runs on: a TLS stream, an HTTP/2 stream.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin {}

impl<S: AsyncRead + AsyncWrite + Unpin> Io for S {}

/// A WebSocket handshake on `path` as `stem`: the socket, or the HTTP answer that refused it.
pub(crate) async fn websocket(
    gateway: &Gateway,
    stem: &str,
    path: &str,
) -> Result<Ws, (StatusCode, String)> {
    let stream = tls(gateway, stem, b"http/1.1").await;
    let url = format!("wss://localhost:{}{path}", gateway.port);
    match client_async(url, stream).await {
        Ok((socket, response)) => {
            assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
            Ok(socket)
        }
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            Err((
                response.status(),
                String::from_utf8_lossy(&body).into_owned(),
            ))
        }
        Err(e) => panic!("WebSocket handshake on {path}: {e}"),
    }
}

/// The next message, bounded.
pub(crate) async fn next<S: Io>(
    socket: &mut WebSocketStream<S>,
) -> Option<Result<Message, tungstenite::Error>> {
    tokio::time::timeout(STEP, socket.next())
        .await
        .expect("a message or the end in time")
}

/// Sends `text` and asserts the backend's echo of it.
pub(crate) async fn echo<S: Io>(socket: &mut WebSocketStream<S>, text: &str) {
    socket.send(Message::text(text)).await.unwrap();
    let answer = next(socket).await.expect("an answer").unwrap();
    assert_eq!(answer, Message::text(format!("echo: {text}")));
}

/// `GET path` on an HTTP/1.1 connection with `headers`: status and body.
pub(crate) async fn get(
    gateway: &Gateway,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, String) {
    let stream = tls(gateway, "client", b"http/1.1").await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut request = Request::get(path).header("host", "localhost");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(Bytes::new())).unwrap();
    let response = tokio::time::timeout(STEP, sender.send_request(request))
        .await
        .unwrap()
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Writes `text` to `path` atomically: a new file renamed over the old one.
pub(crate) fn write_atomic(path: &Path, text: impl AsRef<[u8]>) {
    let tmp = path.with_extension("tmp-new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}
