//! Reloads with real clients on 127.0.0.1: a resumed session never outlives a CRL change, and
//! reloading under load fails no legitimate handshake or established connection.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mtls_core::{CaBundle, CrlSet};
use mtls_testkit::Pki;
use mtls_tower::tls::{DomainOptions, LoadedTrustDomain, PolicyVerifier};
use mtls_tower::{Acceptor, HostTls, TlsSnapshot};
use rustls::HandshakeKind;
use rustls_pki_types::ServerName;
use support::{credential, provider, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A snapshot serving `localhost`, requiring client certs of `pki`, with `crls` (PEM) if any.
fn snapshot(pki: &Pki, crls: Option<&str>) -> TlsSnapshot {
    let provider = provider();
    let bundle = CaBundle::from_bytes(pki.root().cert_pem().as_bytes(), "ca").unwrap();
    let crls = crls.map(|pem| CrlSet::from_bytes(pem.as_bytes(), "crl").unwrap());
    let domain = LoadedTrustDomain::new(
        "clients",
        bundle,
        crls.as_ref(),
        DomainOptions::default(),
        &provider,
    )
    .unwrap();
    let verifier = PolicyVerifier::builder(Arc::clone(&provider))
        .trust_domain(domain)
        .build()
        .unwrap();
    TlsSnapshot::builder(provider)
        .host(
            HostTls::new(["localhost"], credential(pki.default_server()))
                .client_verifier(Arc::new(verifier)),
        )
        .build()
        .unwrap()
}

/// Connects, sends one request, reads the answer; returns how the handshake went.
async fn request(
    addr: std::net::SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<(HandshakeKind, String)> {
    tokio::time::timeout(support::LIMIT, async {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
        let mut tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await?;
        tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut response = String::new();
        tls.read_to_string(&mut response).await?;
        let kind = tls
            .get_ref()
            .1
            .handshake_kind()
            .unwrap_or(HandshakeKind::Full);
        Ok((kind, response))
    })
    .await
    .unwrap_or_else(|_| Err(std::io::Error::other("timed out")))
}

#[tokio::test]
async fn a_resumed_session_does_not_survive_a_crl_update() {
    let pki = Pki::shared();
    let client = pki.client().uri("spiffe://td/ns/a/sa/soon-revoked").issue();
    let clean_crls = pki.crls().build().pem();
    let server = start(Acceptor::new(snapshot(pki, Some(&clean_crls)))).await;
    // One client config = one session cache: the second connection offers the first's ticket.
    let config = support::client(pki, Some(&client));

    let (kind, response) = request(server.addr, Arc::clone(&config)).await.unwrap();
    assert_eq!(kind, HandshakeKind::Full);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    // Without a reload, the session resumes: the check below can fail for the right reason.
    let (kind, response) = request(server.addr, Arc::clone(&config)).await.unwrap();
    assert_eq!(kind, HandshakeKind::Resumed, "{response}");

    // The client is revoked; the new snapshot's fresh session state forces a full handshake,
    // in which the verifier sees the new CRL.
    let revoking = pki.crls().revoke(&client).build().pem();
    server.acceptor.reload(snapshot(pki, Some(&revoking)));
    let outcome = request(server.addr, Arc::clone(&config)).await;
    match outcome {
        Err(e) => assert!(
            e.to_string().contains("CertificateRevoked") || e.to_string().contains("revoked"),
            "{e}"
        ),
        Ok((kind, response)) => panic!("revoked client got through ({kind:?}): {response}"),
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_under_load_fails_no_legitimate_connection() {
    let pki = Pki::shared();
    let client = pki.client().uri("spiffe://td/ns/a/sa/steady").issue();
    let server = start(Acceptor::new(snapshot(pki, None))).await;
    let config = support::client(pki, Some(&client));

    // An established keep-alive connection that must survive every reload.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let mut kept = tokio_rustls::TlsConnector::from(Arc::clone(&config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();

    let failures = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (failures, done, stop) = (Arc::clone(&failures), Arc::clone(&done), Arc::clone(&stop));
        let (config, addr) = (Arc::clone(&config), server.addr);
        load.push(tokio::spawn(async move {
            // Bounded in count as well as by the reloads below.
            for _ in 0..2_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match request(addr, Arc::clone(&config)).await {
                    Ok((_, r)) if r.starts_with("HTTP/1.1 200") => {}
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // 1,000 reloads (CA bundle and server certificate rebuilt each time) under that load.
    let reloads = 1_000;
    for _ in 0..reloads {
        server.acceptor.reload(snapshot(pki, None));
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        tokio::time::timeout(support::LIMIT, task)
            .await
            .unwrap()
            .unwrap();
    }
    let handshakes = done.load(Ordering::Relaxed);
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "{handshakes} handshakes, {reloads} reloads"
    );
    assert!(
        handshakes >= 20,
        "too little load during the reloads: {handshakes}"
    );
    assert_eq!(server.acceptor.generation(), reloads);

    // The kept connection still works after all of them.
    kept.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    kept.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    server.stop().await;
}
