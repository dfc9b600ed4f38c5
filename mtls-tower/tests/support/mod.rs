//! Shared helpers for mtls-tower's socket tests: a server on 127.0.0.1 and a raw HTTP client.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;
use mtls_core::{CertificateChain, PrivateKey, ServerCredential};
use mtls_tower::{Acceptor, ConnectionInfo};
use rustls::ClientConfig;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Every socket operation of a test is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(10);

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    mtls_verify::crypto::default_provider()
}

/// `leaf`'s chain and key, as loaded.
pub fn server_credential(leaf: &mtls_testkit::Leaf) -> ServerCredential {
    let chain = CertificateChain::from_bytes(leaf.chain_pem().as_bytes(), "chain").unwrap();
    let key = PrivateKey::from_bytes(leaf.key_pem().as_bytes(), "key").unwrap();
    ServerCredential::new(chain, key).unwrap()
}

/// `leaf`'s chain and key as a host serves them (or an upstream client presents them).
pub fn credential(leaf: &mtls_testkit::Leaf) -> Arc<CertifiedKey> {
    mtls_verify::crypto::certified_key(&server_credential(leaf), &provider()).unwrap()
}

/// A verifier requiring client certificates issued under `ca_pem` (trust domain `clients`,
/// default options).
pub fn client_verifier(ca_pem: &str) -> Arc<mtls_tower::tls::PolicyVerifier> {
    let provider = provider();
    let bundle = mtls_core::CaBundle::from_bytes(ca_pem.as_bytes(), "client-ca").unwrap();
    let options = mtls_tower::tls::DomainOptions::default();
    let domain =
        mtls_tower::tls::LoadedTrustDomain::new("clients", bundle, None, options, &provider)
            .unwrap();
    let verifier = mtls_tower::tls::PolicyVerifier::builder(provider)
        .trust_domain(domain)
        .build()
        .unwrap();
    Arc::new(verifier)
}

/// A running server; stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    pub acceptor: Acceptor,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Stops accepting and waits (bounded) for the serve loop to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(LIMIT, task)
                .await
                .unwrap()
                .unwrap()
                .unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Answers `200` with a body describing the connection: `transport sni peer verification`.
pub async fn echo(req: Request<Incoming>) -> Result<Response<String>, Infallible> {
    let info = req.extensions().get::<ConnectionInfo>().cloned();
    let body = match info {
        None => "no connection info\n".to_string(),
        Some(info) => format!(
            "transport={} sni={} peer={} verification={:?}\n",
            if info.is_plaintext() {
                "plaintext"
            } else {
                "tls"
            },
            info.sni().unwrap_or("-"),
            info.peer()
                .map(|p| p
                    .spiffe_id()
                    .map_or_else(|| p.subject().to_string(), |s| s.to_string()))
                .unwrap_or_else(|| "-".into()),
            info.verification(),
        ),
    };
    Ok(Response::new(body))
}

/// Starts `mtls_tower::serve` with the echo service on 127.0.0.1 (ephemeral port).
pub async fn start(acceptor: Acceptor) -> Server {
    start_with(acceptor, tower::service_fn(echo)).await
}

/// Starts `mtls_tower::serve` with `service` on 127.0.0.1 (ephemeral port).
pub async fn start_with<S, B>(acceptor: Acceptor, service: S) -> Server
where
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(mtls_tower::serve_with_grace(
        listener,
        acceptor.clone(),
        service,
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(2),
    ));
    Server {
        addr,
        acceptor,
        stop: Some(stop),
        task: Some(task),
    }
}

/// What a TLS client saw.
pub struct TlsReply {
    pub server_leaf: CertificateDer<'static>,
    pub response: String,
}

/// One HTTP/1.1 GET over TLS with `config`, SNI `server_name`.
pub async fn tls_get(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    server_name: &str,
    host: &str,
) -> std::io::Result<TlsReply> {
    tokio::time::timeout(LIMIT, async {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from(server_name.to_string())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await?;
        let server_leaf = tls.get_ref().1.peer_certificates().unwrap()[0]
            .clone()
            .into_owned();
        let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        tls.write_all(request.as_bytes()).await?;
        let mut response = String::new();
        tls.read_to_string(&mut response).await?;
        Ok(TlsReply {
            server_leaf,
            response,
        })
    })
    .await
    .unwrap_or_else(|_| Err(std::io::Error::other("client timed out")))
}

/// One plaintext HTTP/1.1 GET; returns the raw response (empty when the server closed).
pub async fn plain_get(addr: SocketAddr) -> std::io::Result<String> {
    tokio::time::timeout(LIMIT, async {
        let mut tcp = TcpStream::connect(addr).await?;
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut response = String::new();
        tcp.read_to_string(&mut response).await?;
        Ok(response)
    })
    .await
    .unwrap_or_else(|_| Err(std::io::Error::other("client timed out")))
}

/// A rustls client config trusting `pki`'s root, ALPN http/1.1, presenting `identity`.
pub fn client(pki: &mtls_testkit::Pki, identity: Option<&mtls_testkit::Leaf>) -> Arc<ClientConfig> {
    let mut config = (*mtls_testkit::tls::client_config(pki, identity)).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Counters of a `metrics` recorder local to a test, by `name{label="value",...}`.
#[derive(Default)]
pub struct Counters(Mutex<HashMap<String, Arc<AtomicU64>>>);

impl Counters {
    /// The counter's value; `None` when it was never registered.
    pub fn get(&self, key: &str) -> Option<u64> {
        let map = self.0.lock().unwrap();
        map.get(key).map(|c| c.load(Ordering::Relaxed))
    }

    /// Waits (bounded) until the counter reaches `want`: the server counts in its own task.
    pub async fn wait_for(&self, key: &str, want: u64) {
        let deadline = Instant::now() + LIMIT;
        while self.get(key) != Some(want) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(self.get(key), Some(want), "{key}");
    }
}

impl metrics::Recorder for Counters {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }

    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}=\"{}\"", l.key(), l.value()))
            .collect();
        let name = if labels.is_empty() {
            key.name().to_string()
        } else {
            format!("{}{{{}}}", key.name(), labels.join(","))
        };
        let counter = Arc::clone(self.0.lock().unwrap().entry(name).or_default());
        metrics::Counter::from_arc(counter)
    }

    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }

    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

/// One `GET path` (Host `localhost`) on a kept-alive HTTP/1.1 connection: the status line,
/// headers and body (framed by `content-length`; no body without one). `UnexpectedEof` when the
/// server closes the connection first; an error after [`LIMIT`].
pub async fn keep_alive_get<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    path: &str,
) -> std::io::Result<String> {
    tokio::time::timeout(LIMIT, async {
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            let Some(end) = text.find("\r\n\r\n") else {
                continue;
            };
            let length: usize = text[..end]
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return Ok(text.into_owned());
            }
        }
    })
    .await
    .unwrap_or_else(|_| Err(std::io::Error::other("timed out")))
}

/// Reads until the peer closes the connection (end of file, or an error: a reset, a TLS stream
/// cut without `close_notify`): `Ok` with what it sent before and when it closed; `Err` with
/// what it sent when it is still open after [`LIMIT`].
pub async fn read_until_closed<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<(Vec<u8>, Instant), Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(LIMIT, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    match closed {
        Ok(()) => Ok((got, Instant::now())),
        Err(_) => Err(got),
    }
}

/// One `GET path` (Host `localhost`) over TLS with `config`, SNI `localhost`: the status and
/// the body. `path` is sent as is (`/a/../b` stays unnormalised).
pub async fn https_get(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    path: &str,
) -> std::io::Result<(u16, String)> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
    let connect = tokio_rustls::TlsConnector::from(config).connect(name, tcp);
    let mut tls = tokio::time::timeout(LIMIT, connect)
        .await
        .map_err(|_| std::io::Error::other("handshake timed out"))??;
    let response = keep_alive_get(&mut tls, path).await?;
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {response:?}")))?;
    let body = response
        .split_once("\r\n\r\n")
        .map_or_else(String::new, |(_, body)| body.to_owned());
    Ok((status, body))
}

/// Connects to `localhost` at `addr`, sends one `GET /` with `Connection: close` and reads to
/// the end: how the handshake went (full or resumed) and the answer (empty when the server
/// closed without one). A handshake refusal is the error.
pub async fn request_once(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> std::io::Result<(rustls::HandshakeKind, String)> {
    tokio::time::timeout(LIMIT, async {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
        let mut tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await?;
        let kind = tls
            .get_ref()
            .1
            .handshake_kind()
            .unwrap_or(rustls::HandshakeKind::Full);
        tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut response = Vec::new();
        // A refused resumption ends the connection without close_notify (an unexpected end,
        // not an error here); a refused full handshake shows its alert on this read.
        match tls.read_to_end(&mut response).await {
            Err(e) if e.kind() != std::io::ErrorKind::UnexpectedEof => return Err(e),
            _ => {}
        }
        Ok((kind, String::from_utf8_lossy(&response).into_owned()))
    })
    .await
    .unwrap_or_else(|_| Err(std::io::Error::other("timed out")))
}
