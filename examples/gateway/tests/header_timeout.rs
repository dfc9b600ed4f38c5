//! `listeners[].limits.request_header_timeout` end to end: the real `mtls-gateway run` binary
//! with a PERMISSIVE listener whose timeout is 500 ms; plaintext clients on 127.0.0.1 that
//! send part of a request head, or go idle after one request, are closed at the timeout. With
//! the key ignored (the default is 30 s), both would still be open at the test's limit.
//!
//! Every wait is bounded; the gateway is killed on drop.

mod support;

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{Workdir, free_port};

/// The listener's `request_header_timeout`.
const TIMEOUT: Duration = Duration::from_millis(500);

/// How long any one wait of the test may take.
const LIMIT: Duration = Duration::from_secs(10);

/// A PERMISSIVE listener (plaintext served) with the timeout, and a fixed answer on every path.
fn config(port: u16, admin: u16) -> String {
    format!(
        r#"
admin:
  address: 127.0.0.1:{admin}
listeners:
  - name: edge
    address: 127.0.0.1:{port}
    peer_mode: permissive
    limits:
      request_header_timeout: 500ms
    hosts:
      - certificate: {{ chain: server.pem, key: server.key }}
        client_validation:
          mode: optional
          trust: [{{ name: mesh, ca: [{{ file: ca.pem }}] }}]
        routes:
          - respond: {{ status: 200, body: "pong\n" }}
"#
    )
}

/// Asserts the gateway neither answers nor closes `tcp` before `since + TIMEOUT / 2`, then
/// that it closes it at the timeout (not before, not much later).
fn closed_at_the_timeout(what: &str, tcp: &mut TcpStream, since: Instant) {
    let mut buf = [0u8; 1024];
    let halfway = (since + TIMEOUT / 2).saturating_duration_since(Instant::now());
    if !halfway.is_zero() {
        tcp.set_read_timeout(Some(halfway)).unwrap();
        match tcp.read(&mut buf) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!(
                "{what}: before the timeout ({:?}), the gateway answered or closed: {other:?}",
                since.elapsed()
            ),
        }
    }
    tcp.set_read_timeout(Some(LIMIT)).unwrap();
    let closed = match tcp.read(&mut buf) {
        Ok(0) => since.elapsed(),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => since.elapsed(),
        Ok(n) => panic!(
            "{what}: the gateway sent {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e) => panic!(
            "{what}: still open {:?} after the start ({e}); request_header_timeout is {TIMEOUT:?}",
            since.elapsed()
        ),
    };
    assert!(
        closed >= TIMEOUT - Duration::from_millis(50) && closed < TIMEOUT + Duration::from_secs(3),
        "{what}: closed after {closed:?}, request_header_timeout is {TIMEOUT:?}"
    );
}

/// Reads one whole response (the fixed answer has a `content-length`).
fn response(tcp: &mut TcpStream) -> String {
    tcp.set_read_timeout(Some(LIMIT)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = tcp.read(&mut buf).expect("an answer within the limit");
        assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let length: usize = text[..end]
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse().ok())
            .expect("a content-length");
        if got.len() >= end + 4 + length {
            return text.into_owned();
        }
    }
}

#[test]
fn request_header_timeout_closes_slow_and_idle_connections() {
    let w = Workdir::new();
    let (port, admin) = (free_port(), free_port());
    let _gw = w.start("timeout.yaml", &config(port, admin), admin);
    let connect = || {
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_nodelay(true).unwrap();
        tcp
    };

    // Part of a request head, the rest never sent.
    let mut slow = connect();
    let started = Instant::now();
    slow.write_all(b"GET /ping HTTP/1.1\r\nHost: loc").unwrap();
    closed_at_the_timeout("a partial request head", &mut slow, started);

    // One request answered on a keep-alive connection, then nothing.
    let mut idle = connect();
    let asked = Instant::now();
    idle.write_all(b"GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let answer = response(&mut idle);
    assert!(
        answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("pong\n"),
        "{answer}"
    );
    closed_at_the_timeout("an idle keep-alive connection", &mut idle, asked);
}
