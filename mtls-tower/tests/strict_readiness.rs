//! STRICT readiness at the acceptor, over real sockets: clients bound to different 127.0.0.x
//! addresses come as plaintext, TLS without a certificate and mTLS to a PERMISSIVE acceptor;
//! each is counted under its source, SNI and identity, and a failed handshake is not counted.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use mtls_core::CaBundle;
use mtls_policy::{ClientCertMode, PeerMode};
use mtls_testkit::{Leaf, Pki};
use mtls_tower::tls::{DomainOptions, LoadedTrustDomain, PolicyVerifier};
use mtls_tower::{Acceptor, HostTls, StrictReadiness, TlsSnapshot};
use support::{LIMIT, client, credential, provider, start};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

const WEB: &str = "spiffe://demo.local/ns/default/sa/web";

/// PERMISSIVE, client certificates optional, from the shared test PKI.
fn snapshot() -> TlsSnapshot {
    let pki = Pki::shared();
    let bundle = CaBundle::from_bytes(pki.root().cert_pem().as_bytes(), "client-ca").unwrap();
    let domain = LoadedTrustDomain::new(
        "clients",
        bundle,
        None,
        DomainOptions::default(),
        &provider(),
    )
    .unwrap();
    let verifier = PolicyVerifier::builder(provider())
        .trust_domain(domain)
        .mode(ClientCertMode::Optional)
        .build()
        .unwrap();
    TlsSnapshot::builder(provider())
        .host(
            HostTls::new(["localhost"], credential(pki.default_server()))
                .client_verifier(Arc::new(verifier)),
        )
        .peer_mode(PeerMode::Permissive)
        .build()
        .unwrap()
}

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

/// One GET on `io`: the response's status line.
async fn get(mut io: impl AsyncRead + AsyncWrite + Unpin) -> String {
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    io.write_all(request).await.unwrap();
    let mut response = String::new();
    let _ = tokio::time::timeout(LIMIT, io.read_to_string(&mut response)).await;
    response.lines().next().unwrap_or_default().to_owned()
}

/// A TLS GET from `source` with `identity` (or none): the status line, or `None` when the
/// handshake failed.
async fn tls_get(
    source: [u8; 4],
    server: SocketAddr,
    pki: &Pki,
    identity: Option<&Leaf>,
) -> Option<String> {
    let tcp = connect_from(source, server).await;
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let connector = tokio_rustls::TlsConnector::from(client(pki, identity));
    let mut tls = tokio::time::timeout(LIMIT, connector.connect(name, tcp))
        .await
        .unwrap()
        .ok()?;
    // TLS 1.3: a client certificate the server rejects shows at the first read.
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    tls.write_all(request).await.ok()?;
    let mut response = String::new();
    tokio::time::timeout(LIMIT, tls.read_to_string(&mut response))
        .await
        .unwrap()
        .ok()?;
    response.lines().next().map(str::to_owned)
}

#[tokio::test]
async fn each_accepted_connection_is_counted_by_source_sni_and_identity() {
    let readiness = StrictReadiness::new(8);
    let acceptor = Acceptor::new(snapshot()).with_strict_readiness(readiness.clone());
    assert_eq!(acceptor.strict_readiness().map(|r| r.capacity()), Some(8));
    let server = start(acceptor).await;
    let pki = Pki::shared();
    let web = pki.client().uri(WEB).issue();

    // Plaintext, twice, from .2: a raw HTTP/1.1 request.
    for _ in 0..2 {
        let tcp = connect_from([127, 0, 0, 2], server.addr).await;
        assert_eq!(get(tcp).await, "HTTP/1.1 200 OK");
    }
    // TLS without a certificate from .3, mTLS from .4.
    let status = tls_get([127, 0, 0, 3], server.addr, pki, None).await;
    assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));
    let status = tls_get([127, 0, 0, 4], server.addr, pki, Some(&web)).await;
    assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));
    // A certificate from an unknown CA fails the handshake: not accepted, not counted.
    let stranger = Pki::shared_unrelated().client().uri(WEB).issue();
    let status = tls_get([127, 0, 0, 5], server.addr, pki, Some(&stranger)).await;
    assert_eq!(status, None);

    let report = readiness.snapshot();
    let found: Vec<_> = report
        .entries
        .iter()
        .map(|e| {
            (
                e.source.to_string(),
                e.sni.as_deref(),
                e.identity.as_deref(),
                [
                    e.counts.plaintext,
                    e.counts.tls_without_certificate,
                    e.counts.mtls,
                ],
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("127.0.0.2".to_owned(), None, None, [2, 0, 0]),
            ("127.0.0.3".to_owned(), Some("localhost"), None, [0, 1, 0]),
            (
                "127.0.0.4".to_owned(),
                Some("localhost"),
                Some(WEB),
                [0, 0, 1]
            ),
        ]
    );
    assert_eq!(report.would_break, 3);
    assert_eq!(report.overflow.entries, 0);
    server.stop().await;
}
