//! The acceptor over real sockets on 127.0.0.1: SNI, PERMISSIVE / STRICT, limits, reload.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mtls_policy::PeerMode;
use mtls_testkit::Pki;
use mtls_tower::{Acceptor, HostTls, TlsSnapshot, UnknownSni};
use support::{Counters, LIMIT, client, credential, plain_get, provider, start, tls_get};
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
        LIMIT,
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
    let started = Instant::now();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(LIMIT, tokio::io::AsyncReadExt::read(&mut tcp, &mut buf))
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
    let started = Instant::now();
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
        "host name \"A.example.com.\" is configured twice"
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

#[tokio::test]
async fn metric_handles_are_registered_when_the_acceptor_is_built_and_count_every_event() {
    let counters = Counters::default();
    // The recorder is in scope only while the acceptor is built: every event below is counted
    // through the handles registered then.
    let acceptor = metrics::with_local_recorder(&counters, || {
        Acceptor::new(two_hosts(PeerMode::Permissive).0)
    });
    for key in [
        r#"mtls_connections_accepted_total{transport="tls"}"#,
        r#"mtls_connections_accepted_total{transport="plaintext"}"#,
        r#"mtls_accept_failures_total{reason="overloaded"}"#,
        r#"mtls_accept_failures_total{reason="timeout"}"#,
        r#"mtls_accept_failures_total{reason="plaintext_not_allowed"}"#,
        r#"mtls_accept_failures_total{reason="no_certificate"}"#,
        r#"mtls_accept_failures_total{reason="revoked"}"#,
        r#"mtls_accept_failures_total{reason="pin_mismatch"}"#,
        r#"mtls_accept_failures_total{reason="closed"}"#,
        r#"mtls_accept_failures_total{reason="unknown_sni"}"#,
        r#"mtls_accept_failures_total{reason="handshake"}"#,
        r#"mtls_accept_failures_total{reason="io"}"#,
        r#"mtls_accept_failures_total{reason="source_connections"}"#,
        r#"mtls_accept_failures_total{reason="source_handshake_rate"}"#,
        r#"mtls_accept_failures_total{reason="source_table_full"}"#,
        "mtls_connections_closed_revoked_total",
    ] {
        assert_eq!(counters.get(key), Some(0), "{key} registered at build");
    }
    let server = start(acceptor).await;
    let pki = Pki::shared();
    let reply = tls_get(server.addr, client(pki, None), "httpbin.example.com", "h")
        .await
        .unwrap();
    assert!(
        reply.response.starts_with("HTTP/1.1 200"),
        "{}",
        reply.response
    );
    let plain = plain_get(server.addr).await.unwrap();
    assert!(plain.starts_with("HTTP/1.1 200"), "{plain}");
    // Closed before the first byte.
    drop(TcpStream::connect(server.addr).await.unwrap());
    counters
        .wait_for(r#"mtls_connections_accepted_total{transport="tls"}"#, 1)
        .await;
    counters
        .wait_for(
            r#"mtls_connections_accepted_total{transport="plaintext"}"#,
            1,
        )
        .await;
    counters
        .wait_for(r#"mtls_accept_failures_total{reason="closed"}"#, 1)
        .await;

    server.acceptor.reload(two_hosts(PeerMode::Permissive).0);
    // A swap is part of a reload: the reload counts itself (mtls_reloads_total, tested in
    // telemetry.rs), not each listener's swap.
    metrics::with_local_recorder(&counters, || {
        let _ = server
            .acceptor
            .try_reload(|| TlsSnapshot::builder(provider()).build());
    });
    assert_eq!(
        counters.get(r#"mtls_reloads_total{result="ok",trigger="api"}"#),
        None
    );
    assert_eq!(
        counters.get(r#"mtls_reloads_total{result="failed",trigger="api"}"#),
        Some(1)
    );
    assert_eq!(
        counters.get(r#"mtls_accept_failures_total{reason="handshake"}"#),
        Some(0)
    );
    server.stop().await;
}

/// The suite a client gets from the snapshot, connecting with rustls' provider as it ships
/// (which, like curl and OpenSSL, lists `TLS13_AES_256_GCM_SHA384` first).
async fn negotiated_suite(snapshot: TlsSnapshot) -> rustls::CipherSuite {
    let stock = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    assert_eq!(
        stock.cipher_suites[0].suite(),
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
        "precondition: the client prefers AES-256"
    );
    let config = rustls::ClientConfig::builder_with_provider(stock)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(Pki::shared().root_store())
        .with_no_client_auth();
    let server = start(Acceptor::new(snapshot)).await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("httpbin.example.com").unwrap();
    let tls = tokio::time::timeout(
        LIMIT,
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("handshake in time")
    .expect("handshake");
    tls.get_ref()
        .1
        .negotiated_cipher_suite()
        .expect("a suite")
        .suite()
}

#[tokio::test]
async fn the_server_picks_aes_128_gcm_over_the_client_s_first_choice() {
    let (snapshot, _, _) = two_hosts(PeerMode::Strict);
    assert_eq!(
        negotiated_suite(snapshot).await,
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
    );
    // Off: the client's order wins, as rustls does by default.
    let pki = Pki::shared();
    let httpbin = pki.server_for(&["httpbin.example.com"]).issue();
    let snapshot = TlsSnapshot::builder(provider())
        .host(HostTls::new(["httpbin.example.com"], credential(&httpbin)))
        .server_cipher_order(false)
        .build()
        .unwrap();
    assert_eq!(
        negotiated_suite(snapshot).await,
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384
    );
}
