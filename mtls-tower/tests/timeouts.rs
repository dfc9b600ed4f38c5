//! The request header timeout of `serve`, with real TLS clients on 127.0.0.1: a client that
//! sends nothing after the handshake, part of a request head, or part of the HTTP/2 preface is
//! closed at the timeout; so is an idle HTTP/1 keep-alive connection; a client that sends
//! requests more often than the timeout keeps its connection, and so does an idle HTTP/2
//! connection (HTTP/2 has keep-alive pings instead).
//!
//! Every test is bounded in time (each wait by [`LIMIT`]) and stops by itself. Without the
//! timeout, the closing tests fail at [`LIMIT`] saying the connection stayed open.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mtls_testkit::Pki;
use mtls_tower::{Acceptor, HostTls, TlsSnapshot};
use rustls_pki_types::ServerName;
use support::{
    LIMIT, Server, client, credential, keep_alive_get, provider, read_until_closed, start,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The request header timeout of every server here.
const TIMEOUT: Duration = Duration::from_millis(500);

/// Timers may fire this much early (the clocks of the client and the server tasks differ by
/// scheduling only).
const EARLY: Duration = Duration::from_millis(50);

/// How late after the timeout the connection may close (scheduling on a busy machine).
const LATE: Duration = Duration::from_secs(2);

/// A server with the echo service: STRICT, `localhost`, no client certificate asked for, the
/// request header timeout [`TIMEOUT`].
async fn server() -> Server {
    let snapshot = TlsSnapshot::builder(provider())
        .host(HostTls::new(
            ["localhost"],
            credential(Pki::shared().default_server()),
        ))
        .build()
        .unwrap();
    let acceptor = Acceptor::new(snapshot).with_request_header_timeout(TIMEOUT);
    assert_eq!(acceptor.request_header_timeout(), TIMEOUT);
    start(acceptor).await
}

/// A TLS connection to `addr` (SNI `localhost`), ALPN `alpn`, handshake complete.
async fn connect(addr: SocketAddr, alpn: &[u8]) -> TlsStream<TcpStream> {
    let mut config = (*client(Pki::shared(), None)).clone();
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
    still_open_halfway(&mut tls, started).await;
    // The rest of the head would come too late: the connection is closed without an answer.
    let (got, after) = closed(&mut tls, started).await;
    assert_eq!(String::from_utf8_lossy(&got), "", "no answer");
    at_the_timeout("a partial request head", after);
    server.stop().await;
}

#[tokio::test]
async fn a_silent_client_after_the_handshake_is_closed_at_the_header_timeout() {
    let server = server().await;
    let mut tls = connect(server.addr, b"http/1.1").await;
    let started = Instant::now();
    still_open_halfway(&mut tls, started).await;
    let (got, after) = closed(&mut tls, started).await;
    assert_eq!(String::from_utf8_lossy(&got), "", "no answer");
    at_the_timeout("nothing sent after the handshake", after);
    server.stop().await;
}

#[tokio::test]
async fn a_partial_http2_preface_is_closed_at_the_header_timeout() {
    let server = server().await;
    let mut tls = connect(server.addr, b"h2").await;
    let started = Instant::now();
    // 16 of the preface's 24 bytes: HTTP/2 or HTTP/1 cannot be told yet.
    tls.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    still_open_halfway(&mut tls, started).await;
    let (got, after) = closed(&mut tls, started).await;
    assert_eq!(String::from_utf8_lossy(&got), "", "no answer");
    at_the_timeout("a partial HTTP/2 preface", after);
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
    still_open_halfway(&mut tls, asked).await;
    let (got, after) = closed(&mut tls, asked).await;
    assert_eq!(String::from_utf8_lossy(&got), "", "nothing more");
    at_the_timeout("an idle keep-alive connection", after);
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

#[tokio::test]
async fn an_idle_http2_connection_outlives_the_header_timeout() {
    let server = server().await;
    let tls = connect(server.addr, b"h2").await;
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let get = || Request::get("https://localhost/").body(Empty::<Bytes>::new());
    let first = tokio::time::timeout(LIMIT, send.send_request(get().unwrap()))
        .await
        .expect("answered within the limit")
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    // Idle for twice the timeout: HTTP/2 is not bound by it (the pings come after 20 s).
    tokio::time::sleep(2 * TIMEOUT).await;
    assert!(!conn.is_finished(), "the HTTP/2 connection was closed");
    let second = tokio::time::timeout(LIMIT, send.send_request(get().unwrap()))
        .await
        .expect("answered within the limit")
        .unwrap();
    assert_eq!(second.status(), StatusCode::OK);
    drop(send);
    let _ = tokio::time::timeout(LIMIT, conn).await;
    server.stop().await;
}
