//! The request header timeout of `serve`, with real TLS clients on 127.0.0.1: a client that
//! sends nothing after the handshake, part of a request head, or part of the HTTP/2 preface is
//! closed at the timeout; so is an idle HTTP/1 keep-alive connection, and an idle HTTP/2
//! connection (GOAWAY, then closed) even while its client pings; a client that sends requests
//! more often than the timeout keeps its connection, and so does an HTTP/2 connection whose
//! response streams for longer than the timeout. `MtlsListenerBuilder` sets the timeout too.
//!
//! Every test is bounded in time (each wait by [`LIMIT`]) and stops by itself. Without the
//! timeout, the closing tests fail at [`LIMIT`] saying the connection stayed open.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use mtls_policy::Policy;
use mtls_testkit::Pki;
use mtls_tower::{Acceptor, HostTls, MtlsListener, TlsSnapshot};
use rustls_pki_types::ServerName;
use support::{
    LIMIT, Server, client, client_verifier, credential, keep_alive_get, provider,
    read_until_closed, start, start_with,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The request header timeout of every server here.
const TIMEOUT: Duration = Duration::from_millis(500);

/// Timers may fire this much early (the clocks of the client and the server tasks differ by
/// scheduling only).
const EARLY: Duration = Duration::from_millis(50);

/// How late after the timeout the connection may close (scheduling on a busy machine).
const LATE: Duration = Duration::from_secs(2);

/// An acceptor for `localhost`, no client certificate asked for, with the request header
/// timeout `timeout`.
fn acceptor(timeout: Duration) -> Acceptor {
    let snapshot = TlsSnapshot::builder(provider())
        .host(HostTls::new(
            ["localhost"],
            credential(Pki::shared().default_server()),
        ))
        .build()
        .unwrap();
    let acceptor = Acceptor::new(snapshot).with_request_header_timeout(timeout);
    assert_eq!(acceptor.request_header_timeout(), timeout);
    acceptor
}

/// A server with the echo service: STRICT, `localhost`, no client certificate asked for, the
/// request header timeout [`TIMEOUT`].
async fn server() -> Server {
    start(acceptor(TIMEOUT)).await
}

/// Reads from `tls` until what was read ends with `end`; what was read. Fails when the
/// connection ends first or [`LIMIT`] passes.
async fn read_to(tls: &mut TlsStream<TcpStream>, end: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(LIMIT, async {
        while !got.ends_with(end.as_bytes()) {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        true
    })
    .await;
    let got = String::from_utf8_lossy(&got).into_owned();
    assert_eq!(
        read,
        Ok(true),
        "the connection ended, or {LIMIT:?} passed, before {end:?}: {got:?}"
    );
    got
}

/// A TLS connection to `addr` (SNI `localhost`), ALPN `alpn`, handshake complete.
async fn connect(addr: SocketAddr, alpn: &[u8]) -> TlsStream<TcpStream> {
    connect_as(addr, alpn, None).await
}

/// [`connect`], presenting `identity` as the client certificate.
async fn connect_as(
    addr: SocketAddr,
    alpn: &[u8],
    identity: Option<&mtls_testkit::Leaf>,
) -> TlsStream<TcpStream> {
    let mut config = (*client(Pki::shared(), identity)).clone();
    config.alpn_protocols = vec![alpn.to_vec()];
    tokio::time::timeout(LIMIT, async {
        let tcp = TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn));
        tls
    })
    .await
    .expect("connected within the limit")
}

/// Asserts the server has neither answered nor closed the connection by `since + TIMEOUT / 2`.
async fn still_open_halfway(tls: &mut TlsStream<TcpStream>, since: Instant) {
    let mut buf = [0u8; 1024];
    let halfway = tokio::time::Instant::from_std(since + TIMEOUT / 2);
    if let Ok(read) = tokio::time::timeout_at(halfway, tls.read(&mut buf)).await {
        panic!(
            "before the timeout ({:?} after the start), the server {}",
            since.elapsed(),
            match read {
                Ok(0) | Err(_) => "closed the connection".to_string(),
                Ok(n) => format!("sent {:?}", String::from_utf8_lossy(&buf[..n])),
            }
        );
    }
}

/// Reads until the server closes the connection (end of file, or an error such as a reset or
/// a TLS stream cut without `close_notify`); returns what it sent before and how long after
/// `since` it closed. Fails when it is still open after [`LIMIT`].
async fn closed(tls: &mut TlsStream<TcpStream>, since: Instant) -> (Vec<u8>, Duration) {
    match read_until_closed(tls).await {
        Ok((got, at)) => (got, at - since),
        Err(got) => panic!(
            "the connection is still open {:?} after the start, the request header timeout \
             is {TIMEOUT:?} (received {:?})",
            since.elapsed(),
            String::from_utf8_lossy(&got)
        ),
    }
}

/// Asserts the server keeps `tls` open, silent, until halfway to the timeout counted from
/// `since`, then closes it at the timeout without sending anything.
async fn closed_silently_at_the_timeout(
    tls: &mut TlsStream<TcpStream>,
    since: Instant,
    what: &str,
) {
    still_open_halfway(tls, since).await;
    let (got, after) = closed(tls, since).await;
    assert_eq!(String::from_utf8_lossy(&got), "", "{what}: no answer");
    at_the_timeout(what, after);
}

/// Asserts the connection closed at the timeout: not before it, not much later.
fn at_the_timeout(what: &str, after: Duration) {
    assert!(
        after >= TIMEOUT - EARLY && after < TIMEOUT + LATE,
        "{what}: closed after {after:?}, the request header timeout is {TIMEOUT:?}"
    );
}

#[tokio::test]
async fn a_partial_request_head_is_closed_at_the_header_timeout() {
    let server = server().await;
    let mut tls = connect(server.addr, b"http/1.1").await;
    let started = Instant::now();
    tls.write_all(b"GET / HTTP/1.1\r\nHost: local")
        .await
        .unwrap();
    // The rest of the head would come too late: the connection is closed without an answer.
    closed_silently_at_the_timeout(&mut tls, started, "a partial request head").await;
    server.stop().await;
}

#[tokio::test]
async fn a_silent_client_after_the_handshake_is_closed_at_the_header_timeout() {
    let server = server().await;
    let mut tls = connect(server.addr, b"http/1.1").await;
    let started = Instant::now();
    closed_silently_at_the_timeout(&mut tls, started, "nothing sent after the handshake").await;
    server.stop().await;
}

#[tokio::test]
async fn a_partial_http2_preface_is_closed_at_the_header_timeout() {
    let server = server().await;
    let mut tls = connect(server.addr, b"h2").await;
    let started = Instant::now();
    // 16 of the preface's 24 bytes: HTTP/2 or HTTP/1 cannot be told yet.
    tls.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    closed_silently_at_the_timeout(&mut tls, started, "a partial HTTP/2 preface").await;
    server.stop().await;
}

/// The bytes telling HTTP/2 from HTTP/1 and the first request head share one timeout: a client
/// cannot get a second one by deciding late.
#[tokio::test]
async fn the_first_bytes_and_the_first_request_head_share_one_timeout() {
    // Longer than elsewhere: two outcomes half a timeout apart must be told apart on a busy
    // machine.
    let timeout = Duration::from_secs(1);
    let server = start(acceptor(timeout)).await;
    let mut tls = connect(server.addr, b"http/1.1").await;
    let started = Instant::now();
    // Could be the HTTP/2 preface, until the byte that is not.
    tls.write_all(b"PRI * HTTP/").await.unwrap();
    tokio::time::sleep(timeout * 6 / 10).await;
    // Not: an HTTP/1 request head, incomplete.
    tls.write_all(b"1.1\r\nHost: local").await.unwrap();
    let (got, after) = closed(&mut tls, started).await;
    assert_eq!(String::from_utf8_lossy(&got), "", "no answer");
    assert!(
        after >= timeout - EARLY && after < timeout * 3 / 2,
        "closed {after:?} after the handshake; the request header timeout is {timeout:?}, \
         and the protocol was known after {:?}",
        timeout * 6 / 10
    );
    server.stop().await;
}

#[tokio::test]
async fn an_http1_response_streaming_longer_than_the_header_timeout_is_not_cut() {
    let server = start_with(acceptor(TIMEOUT), tower::service_fn(drip)).await;
    let mut tls = connect(server.addr, b"http/1.1").await;
    let started = Instant::now();
    // 11 chunks, 100 ms apart: the response takes 1 s, twice the timeout.
    tls.write_all(b"GET /drip/11 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let response = read_to(&mut tls, "chunk 11\n\r\n0\r\n\r\n").await;
    let took = started.elapsed();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(took >= 2 * TIMEOUT, "streamed for {took:?}");
    // The connection is still open, and takes the next request.
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let response = read_to(&mut tls, "chunk 1\n\r\n0\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    server.stop().await;
}

/// Answers how many bytes the request body had, once it has all arrived.
async fn count_body(req: Request<Incoming>) -> Result<Response<String>, Infallible> {
    let body = req.into_body().collect().await.map(|b| b.to_bytes().len());
    Ok(Response::new(format!("{body:?}\n")))
}

#[tokio::test]
async fn a_request_body_arriving_longer_than_the_header_timeout_is_not_cut() {
    let server = start_with(acceptor(TIMEOUT), tower::service_fn(count_body)).await;
    let mut tls = connect(server.addr, b"http/1.1").await;
    let started = Instant::now();
    let head = "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n";
    tls.write_all(head.as_bytes()).await.unwrap();
    // One byte every 100 ms: the body takes 1 s to arrive, twice the timeout.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        tls.write_all(b"x").await.unwrap();
    }
    let response = read_to(&mut tls, "Ok(10)\n").await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(
        started.elapsed() >= 2 * TIMEOUT,
        "sent for {:?}",
        started.elapsed()
    );
    server.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_the_header_timeout() {
    let server = server().await;
    let mut tls = connect(server.addr, b"http/1.1").await;
    // The timer for the next head starts once the response is sent: after the request.
    let asked = Instant::now();
    let response = keep_alive_get(&mut tls, "/").await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(
        !response.to_ascii_lowercase().contains("connection: close"),
        "kept alive: {response}"
    );
    closed_silently_at_the_timeout(&mut tls, asked, "an idle keep-alive connection").await;
    server.stop().await;
}

#[tokio::test]
async fn a_client_asking_more_often_than_the_header_timeout_keeps_its_connection() {
    let server = server().await;
    let mut tls = connect(server.addr, b"http/1.1").await;
    let started = Instant::now();
    let mut answered = 0;
    // A request every 150 ms for more than twice the timeout, on one connection.
    while started.elapsed() < 2 * TIMEOUT + TIMEOUT / 2 {
        let response = keep_alive_get(&mut tls, "/").await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
        answered += 1;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let response = keep_alive_get(&mut tls, "/").await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    answered += 1;
    assert!(answered >= 6, "{answered} requests answered");
    server.stop().await;
}

/// A server with [`drip`]: STRICT, `localhost`, client certificates of the shared PKI
/// required, the request header timeout [`TIMEOUT`].
async fn mtls_server() -> Server {
    let pki = Pki::shared();
    let snapshot = TlsSnapshot::builder(provider())
        .host(
            HostTls::new(["localhost"], credential(pki.default_server()))
                .client_verifier(client_verifier(&pki.root().cert_pem())),
        )
        .build()
        .unwrap();
    let acceptor = Acceptor::new(snapshot).with_request_header_timeout(TIMEOUT);
    start_with(acceptor, tower::service_fn(drip)).await
}

/// `/drip/{n}`: `n` chunks (`chunk 1\n`, …), the first at once, then one every 100 ms; any
/// other path: one chunk.
async fn drip(req: Request<Incoming>) -> Result<Response<Drip>, Infallible> {
    let chunks = req
        .uri()
        .path()
        .strip_prefix("/drip/")
        .map_or(1, |n| n.parse().unwrap());
    let body = Drip {
        every: tokio::time::interval(Duration::from_millis(100)),
        sent: 0,
        chunks,
    };
    Ok(Response::new(body))
}

/// A response body sent one chunk at a time.
struct Drip {
    every: tokio::time::Interval,
    sent: usize,
    chunks: usize,
}

impl http_body::Body for Drip {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.sent == this.chunks {
            return Poll::Ready(None);
        }
        ready!(this.every.poll_tick(cx));
        this.sent += 1;
        let chunk = Bytes::from(format!("chunk {}\n", this.sent));
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }
}

/// What the client of an HTTP/2 connection read: each read, with when it came, and when the
/// connection ended (end of file or an error).
#[derive(Default)]
struct Received {
    reads: Vec<(Instant, Vec<u8>)>,
    ended: Option<Instant>,
}

impl Received {
    /// When the first frame of `kind` (its last byte) came, if one did.
    fn first(&self, kind: u8) -> Option<Instant> {
        let mut bytes = Vec::new();
        let mut came = Vec::new();
        for (at, read) in &self.reads {
            bytes.extend_from_slice(read);
            came.push((bytes.len(), *at));
        }
        let end = frames(&bytes).find(|&(frame, _)| frame == kind)?.1;
        came.iter()
            .find(|(read, _)| *read >= end)
            .map(|(_, at)| *at)
    }
}

/// The complete HTTP/2 frames at the start of `bytes`: each one's type and where it ends. Each
/// frame: a 24-bit length, a type, flags, a stream id, then the payload.
fn frames(bytes: &[u8]) -> impl Iterator<Item = (u8, usize)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let header = bytes.get(at..at + 9)?;
        let length =
            usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
        let end = at + 9 + length;
        if end > bytes.len() {
            return None;
        }
        at = end;
        Some((header[3], end))
    })
}

/// HTTP/2 frame types.
const GOAWAY: u8 = 0x7;

/// A client's IO that records what it reads into [`Received`]. hyper's client ends its side
/// once a GOAWAY leaves it no stream: from then on, the recording reads on by itself, until the
/// server closes the connection.
struct Recording {
    io: Option<TlsStream<TcpStream>>,
    received: Arc<Mutex<Received>>,
}

impl Recording {
    /// Records a read: its bytes, or the end (no byte: end of file; `None`: an error).
    fn record(received: &Mutex<Received>, read: Option<&[u8]>) {
        let mut received = received.lock().unwrap();
        match read {
            Some(bytes) if !bytes.is_empty() => {
                received.reads.push((Instant::now(), bytes.to_vec()))
            }
            _ => {
                received.ended.get_or_insert_with(Instant::now);
            }
        }
    }

    fn io(&mut self) -> Pin<&mut TlsStream<TcpStream>> {
        Pin::new(self.io.as_mut().unwrap())
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        let (Some(mut io), received) = (self.io.take(), Arc::clone(&self.received)) else {
            return;
        };
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let _ = tokio::time::timeout(LIMIT, async {
                loop {
                    let read = io.read(&mut buf).await.ok().map(|n| &buf[..n]);
                    let more = read.is_some_and(|bytes| !bytes.is_empty());
                    Self::record(&received, read);
                    if !more {
                        break;
                    }
                }
            })
            .await;
        });
    }
}

impl AsyncRead for Recording {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = ready!(this.io().poll_read(cx, buf));
        Self::record(
            &this.received,
            read.is_ok().then(|| &buf.filled()[before..]),
        );
        Poll::Ready(read)
    }
}

impl AsyncWrite for Recording {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().io().poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().io().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().io().poll_shutdown(cx)
    }
}

/// An HTTP/2 client connection with a client certificate, which pings the server every
/// 100 ms (and answers its pings): the request sender, the connection task (it ends when the
/// server closes the connection), and what the client read.
struct H2 {
    send: hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
    conn: tokio::task::JoinHandle<hyper::Result<()>>,
    received: Arc<Mutex<Received>>,
}

impl H2 {
    async fn connect(addr: SocketAddr) -> Self {
        let leaf = Pki::shared()
            .client()
            .uri("spiffe://td/ns/a/sa/idle")
            .issue();
        let tls = connect_as(addr, b"h2", Some(&leaf)).await;
        let received = Arc::new(Mutex::new(Received::default()));
        let io = Recording {
            io: Some(tls),
            received: Arc::clone(&received),
        };
        let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_millis(100))
            .keep_alive_while_idle(true)
            .handshake(TokioIo::new(io))
            .await
            .unwrap();
        Self {
            send,
            conn: tokio::spawn(conn),
            received,
        }
    }

    /// `GET path`: the status and the whole body.
    async fn get(&mut self, path: &str) -> (StatusCode, String) {
        let req = Request::get(format!("https://localhost{path}"))
            .body(Empty::new())
            .unwrap();
        tokio::time::timeout(LIMIT, async {
            let response = self.send.send_request(req).await.unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        })
        .await
        .expect("answered within the limit")
    }

    /// When the server's first GOAWAY came, if one did.
    fn goaway(&self) -> Option<Instant> {
        self.received.lock().unwrap().first(GOAWAY)
    }

    /// Waits until the server closes the connection (end of file, or an error) and returns
    /// when it did. Fails when it is still open after [`LIMIT`].
    async fn ended(&mut self) -> Instant {
        let started = Instant::now();
        while started.elapsed() < LIMIT {
            if let Some(ended) = self.received.lock().unwrap().ended {
                return ended;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "the HTTP/2 connection is still open {:?} after the start, the request header \
             timeout is {TIMEOUT:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_at_the_header_timeout() {
    let server = mtls_server().await;
    let mut h2 = H2::connect(server.addr).await;
    // The timer starts again once the response is sent: after the request.
    let asked = Instant::now();
    assert_eq!(h2.get("/").await, (StatusCode::OK, "chunk 1\n".into()));
    // Idle, but pinging every 100 ms: the server closes it anyway.
    let ended = h2.ended().await;
    let goaway = h2
        .goaway()
        .expect("a graceful shutdown: GOAWAY before the end");
    at_the_timeout("an idle HTTP/2 connection's GOAWAY", goaway - asked);
    assert!(
        goaway <= ended && ended - asked < TIMEOUT + LATE,
        "GOAWAY {:?} and the end {:?} after the request",
        goaway - asked,
        ended - asked
    );
    server.stop().await;
}

/// An HTTP/2 peer that sends the preface and its SETTINGS, then reads but never answers
/// (no SETTINGS ack, no PING ack): the graceful shutdown waits for a PING acknowledgement
/// that never comes, so the connection is dropped one more timeout after the GOAWAY.
#[tokio::test]
async fn an_idle_http2_peer_that_never_acknowledges_is_dropped_after_the_goaway() {
    let server = server().await;
    let mut tls = connect(server.addr, b"h2").await;
    let started = Instant::now();
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    // An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
    tls.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    let (got, after) = closed(&mut tls, started).await;
    let goaway = frames(&got).any(|(frame, _)| frame == GOAWAY);
    assert!(goaway, "no GOAWAY frame before the end: {got:?}");
    assert!(
        after >= 2 * TIMEOUT - EARLY && after < 2 * TIMEOUT + LATE,
        "dropped {after:?} after the preface; expected about two timeouts ({:?})",
        2 * TIMEOUT
    );
    server.stop().await;
}

#[tokio::test]
async fn an_http2_response_streaming_longer_than_the_header_timeout_is_not_cut() {
    let server = mtls_server().await;
    let mut h2 = H2::connect(server.addr).await;
    let started = Instant::now();
    // 11 chunks, 100 ms apart: the stream is open for 1 s, twice the timeout.
    let (status, body) = h2.get("/drip/11").await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK);
    let want: String = (1..=11).map(|i| format!("chunk {i}\n")).collect();
    assert_eq!(body, want, "the whole body");
    assert!(took >= 2 * TIMEOUT, "streamed for {took:?}");
    // Not even a graceful shutdown while the stream was open: the connection takes another
    // request.
    assert_eq!(h2.goaway(), None, "GOAWAY while a response was streaming");
    assert!(!h2.conn.is_finished(), "the connection was closed");
    assert_eq!(h2.get("/").await, (StatusCode::OK, "chunk 1\n".into()));
    server.stop().await;
}

#[tokio::test]
async fn an_http2_client_asking_more_often_than_the_header_timeout_keeps_its_connection() {
    let server = mtls_server().await;
    let mut h2 = H2::connect(server.addr).await;
    let started = Instant::now();
    let mut answered = 0;
    // A request every 150 ms for more than twice the timeout, on one connection: each one
    // restarts the timer once answered.
    while started.elapsed() < 2 * TIMEOUT + TIMEOUT / 2 {
        assert_eq!(h2.get("/").await, (StatusCode::OK, "chunk 1\n".into()));
        answered += 1;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert_eq!(h2.get("/").await, (StatusCode::OK, "chunk 1\n".into()));
    answered += 1;
    assert!(answered >= 6, "{answered} requests answered");
    assert_eq!(h2.goaway(), None, "GOAWAY to a busy connection");
    server.stop().await;
}

#[tokio::test]
async fn the_listener_builder_sets_the_request_header_timeout() {
    let policy =
        "listeners:\n  - { name: edge, port: 8443, hosts: [{ hostnames: [localhost] }] }\n";
    let build = |timeout: Option<Duration>| {
        let policy = Policy::from_yaml(policy).unwrap();
        let cert = support::server_credential(Pki::shared().default_server());
        let mut builder = MtlsListener::builder(policy, "edge", provider())
            .certificates(move |_| Ok(cert.clone()));
        if let Some(timeout) = timeout {
            builder = builder.request_header_timeout(timeout);
        }
        builder.build().unwrap()
    };
    assert_eq!(
        build(None).acceptor().request_header_timeout(),
        Duration::from_secs(30),
        "the default"
    );
    // As the acceptor's own setter (and `handshake_timeout` here), zero is taken as it is.
    assert_eq!(
        build(Some(Duration::ZERO))
            .acceptor()
            .request_header_timeout(),
        Duration::ZERO
    );
    let server = start(build(Some(TIMEOUT)).acceptor()).await;
    let mut tls = connect(server.addr, b"http/1.1").await;
    let asked = Instant::now();
    let response = keep_alive_get(&mut tls, "/").await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    still_open_halfway(&mut tls, asked).await;
    let (got, after) = closed(&mut tls, asked).await;
    assert_eq!(String::from_utf8_lossy(&got), "", "nothing more");
    at_the_timeout("an idle keep-alive connection of a built listener", after);
    server.stop().await;
}
