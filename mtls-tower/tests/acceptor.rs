//! The acceptor over real sockets on 127.0.0.1: SNI, PERMISSIVE / STRICT, limits, reload.

mod support;

use std::time::Duration;

use mtls_policy::PeerMode;
use mtls_testkit::Pki;
use mtls_tower::{Acceptor, HostTls, TlsSnapshot, UnknownSni};
use support::{client, credential, plain_get, provider, start, tls_get};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn two_hosts(mode: PeerMode) -> (TlsSnapshot, mtls_testkit::Leaf, mtls_testkit::Leaf) {
    let pki = Pki::shared();
    let httpbin = pki.server_for(&["httpbin.example.com"]).issue();
    let hello = pki
        .server_for(&["helloworld.example.com", "*.hello.example.com"])
        .issue();
    let snapshot = TlsSnapshot::builder(provider())
        .host(HostTls::new(["httpbin.example.com"], credential(&httpbin)))
        .host(HostTls::new(
            ["helloworld.example.com", "*.hello.example.com"],
            credential(&hello),
        ))
        .peer_mode(mode)
        .build()
        .unwrap();
    (snapshot, httpbin, hello)
}

#[tokio::test]
async fn sni_selects_each_hosts_certificate() {
    let (snapshot, httpbin, hello) = two_hosts(PeerMode::Strict);
    let server = start(Acceptor::new(snapshot)).await;
    let pki = Pki::shared();

    let reply = tls_get(
        server.addr,
        client(pki, None),
        "httpbin.example.com",
        "httpbin.example.com",
    )
    .await
    .unwrap();
    assert_eq!(&reply.server_leaf, httpbin.cert_der());
    assert!(
        reply.response.starts_with("HTTP/1.1 200 OK"),
        "{}",
        reply.response
    );
    assert!(
        reply
            .response
            .contains("transport=tls sni=httpbin.example.com peer=-"),
        "{}",
        reply.response
    );

    let reply = tls_get(
        server.addr,
        client(pki, None),
        "helloworld.example.com",
        "helloworld.example.com",
    )
    .await
    .unwrap();
    assert_eq!(&reply.server_leaf, hello.cert_der());

    // One-label wildcard.
    let pki_client = client(pki, None);
    let err = tls_get(
        server.addr,
        pki_client.clone(),
        "a.b.hello.example.com",
        "x",
    )
    .await;
    assert!(
        err.is_err(),
        "two labels under a one-label wildcard fall back to the default host, whose cert does not match"
    );
    server.stop().await;
}

#[tokio::test]
async fn unknown_sni_uses_the_default_or_is_refused() {
    let pki = Pki::shared();
    let default = pki
        .server_for(&["default.example.com", "unknown.example.com"])
        .issue();
    let named = pki.server_for(&["named.example.com"]).issue();
    let build = |unknown| {
        TlsSnapshot::builder(provider())
            .host(HostTls::new(["named.example.com"], credential(&named)))
            .host(HostTls::new(Vec::<String>::new(), credential(&default)))
            .default_host()
            .unknown_sni(unknown)
            .build()
            .unwrap()
    };
    let server = start(Acceptor::new(build(UnknownSni::UseDefault))).await;
    let reply = tls_get(server.addr, client(pki, None), "unknown.example.com", "x")
        .await
        .unwrap();
    assert_eq!(&reply.server_leaf, default.cert_der());
    server.stop().await;

    let server = start(Acceptor::new(build(UnknownSni::Refuse))).await;
    let err = tls_get(server.addr, client(pki, None), "unknown.example.com", "x").await;
    assert!(err.is_err(), "unknown SNI must be refused");
    let reply = tls_get(server.addr, client(pki, None), "named.example.com", "x")
        .await
        .unwrap();
    assert_eq!(&reply.server_leaf, named.cert_der());
    server.stop().await;
}

#[tokio::test]
async fn permissive_serves_plaintext_and_tls_on_one_port() {
    let (snapshot, httpbin, _) = two_hosts(PeerMode::Permissive);
    let server = start(Acceptor::new(snapshot)).await;
    let plain = plain_get(server.addr).await.unwrap();
    assert!(plain.starts_with("HTTP/1.1 200 OK"), "{plain}");
    assert!(plain.contains("transport=plaintext"), "{plain}");
    assert!(plain.contains("verification=Plaintext"), "{plain}");
    let reply = tls_get(
        server.addr,
        client(Pki::shared(), None),
        "httpbin.example.com",
        "h",
    )
    .await
    .unwrap();
    assert_eq!(&reply.server_leaf, httpbin.cert_der());
    server.stop().await;
}

#[tokio::test]
async fn strict_closes_plaintext() {
    let (snapshot, _, _) = two_hosts(PeerMode::Strict);
    let server = start(Acceptor::new(snapshot)).await;
    let plain = plain_get(server.addr).await;
    // The server closes without answering: an empty read, or a reset.
    match plain {
        Ok(response) => assert_eq!(response, ""),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn a_client_hello_trickled_in_tiny_segments_is_still_tls() {
    // Record the bytes of a real ClientHello, then send them one at a time.
    let pki = Pki::shared();
    let (snapshot, _, _) = two_hosts(PeerMode::Permissive);
    let server = start(Acceptor::new(snapshot)).await;
    let mut conn =
        rustls::ClientConnection::new(client(pki, None), "httpbin.example.com".try_into().unwrap())
            .unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    for byte in &hello {
        tcp.write_all(std::slice::from_ref(byte)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // A TLS server answers a ClientHello with a handshake record (0x16); a plaintext HTTP
    // server would answer 400 ("HTTP/1.1 ...").
    let mut first = [0u8; 1];
    tokio::time::timeout(
        support::LIMIT,
        tokio::io::AsyncReadExt::read_exact(&mut tcp, &mut first),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(first[0], 0x16);
    server.stop().await;
}

#[tokio::test]
async fn silent_clients_are_closed_at_the_handshake_timeout() {
    let (snapshot, _, _) = two_hosts(PeerMode::Strict);
    let acceptor = Acceptor::with_limits(snapshot, Duration::from_millis(200), 16);
    let server = start(acceptor).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(
        support::LIMIT,
        tokio::io::AsyncReadExt::read(&mut tcp, &mut buf),
    )
    .await
    .unwrap()
    .unwrap_or(0);
    assert_eq!(n, 0, "closed without a byte");
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
    server.stop().await;
}

#[tokio::test]
async fn handshakes_beyond_the_limit_are_shed() {
    let (snapshot, _, _) = two_hosts(PeerMode::Strict);
    let acceptor = Acceptor::with_limits(snapshot, Duration::from_secs(5), 2);
    let server = start(acceptor).await;
    // Two silent connections hold both handshake slots.
    let _a = TcpStream::connect(server.addr).await.unwrap();
    let _b = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A third is shed at once: closed long before the 5 s handshake timeout.
    let started = std::time::Instant::now();
    let err = tls_get(
        server.addr,
        client(Pki::shared(), None),
        "httpbin.example.com",
        "h",
    )
    .await;
    assert!(err.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop((_a, _b));
    server.stop().await;
}

#[tokio::test]
async fn reload_swaps_certificates_for_new_connections_only() {
    let pki = Pki::shared();
    let old = pki.server_for(&["httpbin.example.com"]).issue();
    let new = pki.server_for(&["httpbin.example.com"]).issue();
    let build = |leaf: &mtls_testkit::Leaf| {
        TlsSnapshot::builder(provider())
            .host(HostTls::new(["httpbin.example.com"], credential(leaf)))
            .build()
            .unwrap()
    };
    let server = start(Acceptor::new(build(&old))).await;
    let reply = tls_get(server.addr, client(pki, None), "httpbin.example.com", "h")
        .await
        .unwrap();
    assert_eq!(&reply.server_leaf, old.cert_der());

    assert_eq!(server.acceptor.reload(build(&new)), 1);
    let reply = tls_get(server.addr, client(pki, None), "httpbin.example.com", "h")
        .await
        .unwrap();
    assert_eq!(&reply.server_leaf, new.cert_der());

    // A failed reload keeps the last good configuration.
    let err = server
        .acceptor
        .try_reload(|| TlsSnapshot::builder(provider()).build())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "listener has no host: at least one certificate is needed"
    );
    assert_eq!(server.acceptor.generation(), 1);
    let reply = tls_get(server.addr, client(pki, None), "httpbin.example.com", "h")
        .await
        .unwrap();
    assert_eq!(&reply.server_leaf, new.cert_der());
    server.stop().await;
}

#[test]
fn snapshot_rejects_bad_and_duplicate_names() {
    let leaf = Pki::shared().default_server();
    let err = TlsSnapshot::builder(provider())
        .host(HostTls::new(["a.example.com"], credential(leaf)))
        .host(HostTls::new(["A.example.com."], credential(leaf)))
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "host name \"a.example.com\" is configured twice"
    );
    let err = TlsSnapshot::builder(provider())
        .host(HostTls::new(["bad name"], credential(leaf)))
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "host name \"bad name\" is not a DNS name or a `*.parent` wildcard"
    );
}
