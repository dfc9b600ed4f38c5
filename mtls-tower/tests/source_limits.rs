//! Per-source limits over real sockets: clients bound to different 127.0.0.x addresses, one
//! over its limit closed at accept (and counted) while another is served.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mtls_policy::{ConnectionLimits, SourceLimits};
use mtls_testkit::Pki;
use mtls_tower::{Acceptor, HostTls, TlsSnapshot};
use support::{Counters, LIMIT, client, credential, provider, start};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

fn snapshot() -> TlsSnapshot {
    let pki = Pki::shared();
    TlsSnapshot::builder(provider())
        .host(HostTls::new(
            ["localhost"],
            credential(pki.default_server()),
        ))
        .build()
        .unwrap()
}

/// An acceptor with `per_source`, its counters recorded in `counters`.
fn acceptor(counters: &Counters, per_source: SourceLimits) -> Acceptor {
    let mut limits = ConnectionLimits::default();
    limits.per_source = Some(per_source);
    metrics::with_local_recorder(counters, || Acceptor::from_limits(snapshot(), &limits))
}

/// A TCP connection to `server` from `source` (port chosen by the system).
async fn connect_from(source: [u8; 4], server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(IpAddr::from(source), 0))
        .unwrap();
    tokio::time::timeout(LIMIT, socket.connect(server))
        .await
        .unwrap()
        .unwrap()
}

/// Whether the server closed `stream` (without sending anything) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut byte = [0u8; 1];
    match tokio::time::timeout(within, stream.read(&mut byte)).await {
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(_)) => panic!("the server sent bytes before the client's first"),
        Err(_) => false,
    }
}

/// A TLS GET from `source`: whether it was answered 200.
async fn served_from(source: [u8; 4], server: SocketAddr) -> bool {
    let tcp = connect_from(source, server).await;
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let connector = tokio_rustls::TlsConnector::from(client(Pki::shared(), None));
    let Ok(Ok(mut tls)) = tokio::time::timeout(LIMIT, connector.connect(name, tcp)).await else {
        return false;
    };
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if tls.write_all(request).await.is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = tokio::time::timeout(LIMIT, tls.read_to_string(&mut response)).await;
    response.starts_with("HTTP/1.1 200")
}

#[tokio::test]
async fn a_source_holding_its_connections_is_closed_at_accept_and_others_are_served() {
    let counters = Counters::default();
    let mut limits = SourceLimits::default();
    limits.max_connections = Some(2);
    let server = start(acceptor(&counters, limits)).await;
    let key = r#"mtls_accept_failures_total{reason="source_connections"}"#;
    assert_eq!(counters.get(key), Some(0), "registered at build");

    // Two connections from 127.0.0.2 are held (they have not spoken yet); a third is closed.
    let mut held = vec![
        connect_from([127, 0, 0, 2], server.addr).await,
        connect_from([127, 0, 0, 2], server.addr).await,
    ];
    let mut third = connect_from([127, 0, 0, 2], server.addr).await;
    assert!(closed_within(&mut third, LIMIT).await, "over the limit");
    counters.wait_for(key, 1).await;
    for stream in &mut held {
        assert!(!closed_within(stream, Duration::from_millis(200)).await);
    }
    // Another source is served meanwhile.
    assert!(served_from([127, 0, 0, 3], server.addr).await);

    // One of them closes: 127.0.0.2 may connect again (once the server has seen the close).
    held.pop();
    let mut admitted = false;
    for _ in 0..50 {
        let mut again = connect_from([127, 0, 0, 2], server.addr).await;
        if !closed_within(&mut again, Duration::from_millis(200)).await {
            admitted = true;
            break;
        }
    }
    assert!(admitted, "a connection given back is available again");
    server.stop().await;
}

#[tokio::test]
async fn a_source_opening_connections_faster_than_its_rate_is_closed_at_accept() {
    let counters = Counters::default();
    let mut limits = SourceLimits::default();
    limits.handshakes_per_second = Some(1);
    limits.handshake_burst = Some(2);
    let server = start(acceptor(&counters, limits)).await;
    let key = r#"mtls_accept_failures_total{reason="source_handshake_rate"}"#;

    // A burst of three within far less than a second: the bucket holds two.
    let mut first = connect_from([127, 0, 0, 4], server.addr).await;
    let mut second = connect_from([127, 0, 0, 4], server.addr).await;
    let mut third = connect_from([127, 0, 0, 4], server.addr).await;
    assert!(closed_within(&mut third, LIMIT).await, "over the rate");
    counters.wait_for(key, 1).await;
    assert!(!closed_within(&mut first, Duration::from_millis(100)).await);
    assert!(!closed_within(&mut second, Duration::from_millis(100)).await);
    // Another source has its own bucket.
    assert!(served_from([127, 0, 0, 5], server.addr).await);
    server.stop().await;
}

#[test]
fn bad_limits_are_refused_with_the_field() {
    for (yaml, error) in [
        (
            "per_source: { max_connections: 0 }",
            "listeners[0].limits.per_source.max_connections: must be at least 1 (0 would refuse every client)",
        ),
        (
            "per_source: { handshake_burst: 5, max_connections: 2 }",
            "listeners[0].limits.per_source.handshake_burst: needs `handshakes_per_second` (the rate the burst refills at)",
        ),
        (
            "per_source: {}",
            "listeners[0].limits.per_source: set `max_connections`, `handshakes_per_second` or both",
        ),
    ] {
        let text = format!(
            "listeners:\n  - name: web\n    port: 8443\n    limits: {{ {yaml} }}\n    hosts: []\n"
        );
        let e = mtls_policy::Policy::from_yaml(&text)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(error), "{yaml}: {e}");
    }
}
