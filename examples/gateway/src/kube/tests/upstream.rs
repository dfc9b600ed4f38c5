//! Upstream mTLS from the cluster, in memory: an Istio `VirtualService` routes to an upstream
//! whose `DestinationRule` asks for MUTUAL TLS with a `credentialName` Secret (client
//! certificate and CA) and a `subjectAltNames` allow-list. Without `--state-dir` the gateway
//! reads that Secret from the update, presents its certificate to a real TLS upstream that
//! requires one, and refuses the upstream when a changed rule no longer admits its name.

use std::sync::Mutex;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;

/// What the upstream saw: the subject of each client certificate it accepted.
type Seen = Arc<Mutex<Vec<String>>>;

/// A TLS upstream on loopback that requires a client certificate from `pki` and answers every
/// request `200 upstream`; it serves `server` and records each client's certificate subject.
async fn mtls_upstream(pki: &mtls_testkit::Pki, server: &mtls_testkit::Leaf) -> (u16, Seen) {
    let verifier = mtls_testkit::tls::webpki_verifier(pki, &[]);
    let config = mtls_testkit::tls::server_config(server, verifier);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        // Bounded: the test makes a handful of requests.
        for _ in 0..64 {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Some(cert) = tls.get_ref().1.peer_certificates().and_then(|c| c.first())
                    && let Ok(id) = mtls_core::PeerIdentity::from_der(cert)
                {
                    record.lock().unwrap().push(id.subject().to_string());
                }
                let mut head = vec![0u8; 4096];
                let _ = tls.read(&mut head).await;
                let answer =
                    "HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nupstream";
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, seen)
}

fn virtual_service(upstream: u16) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": { "name": "web", "namespace": "web" },
        "spec": {
            "hosts": ["web.example.com"], "gateways": ["web-gateway"],
            "http": [{ "route": [{ "destination": { "host": "127.0.0.1", "port": { "number": upstream } } }] }]
        }
    })
}

fn destination_rule(allowed: &str) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
        "metadata": { "name": "orders", "namespace": "web" },
        "spec": {
            "host": "127.0.0.1",
            "trafficPolicy": { "tls": {
                "mode": "MUTUAL", "credentialName": "upstream-cred",
                "sni": "orders.internal", "subjectAltNames": [allowed]
            }}
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_rule_credential_is_presented_upstream_from_memory() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let pki = mtls_testkit::Pki::shared();
    let upstream_cert = pki.server_for(&["orders.internal"]).issue();
    let gateway_client = pki.client().common_name("gateway-upstream").issue();
    let (upstream, seen) = mtls_upstream(pki, &upstream_cert).await;

    let api = FakeApiServer::start().await.unwrap();
    let port = free_port();
    let web = pki.server_for(&["web.example.com"]).issue();
    cluster(&api, pki, &web, port);
    api.apply(secret(
        "upstream-cred",
        &[
            ("tls.crt", gateway_client.chain_pem()),
            ("tls.key", gateway_client.key_pem()),
            ("ca.crt", pki.root().cert_pem()),
        ],
    ));
    api.apply(virtual_service(upstream));
    api.apply(destination_rule("orders.internal"));
    let mut following = start_following(&api, args(None, None));

    let status = eventually("the upstream answers through the gateway", move || {
        let (_, status) = handshake_as(port, pki, pki.default_client()).ok()?;
        (status.starts_with("200")).then_some(status)
    })
    .await;
    assert!(status.starts_with("200"), "{status}");
    let subject = seen.lock().unwrap().last().cloned().unwrap_or_default();
    assert!(
        subject.contains("CN=gateway-upstream"),
        "the gateway presented the Secret's client certificate, not {subject:?}"
    );
    // The Secret is named by reference and read from memory: nothing was written.
    let update = following.last();
    let tls = update.translation.config.backends.values().next().unwrap();
    let tls = tls.tls.as_ref().unwrap();
    assert_eq!(
        tls.ca,
        TrustSource::Secret(reference("upstream-cred", Some("ca.crt")))
    );
    assert_eq!(
        tls.client_certificate,
        Some(CertificateSource::Secret(reference("upstream-cred", None)))
    );
    assert!(update.written.is_empty(), "{:?}", update.written);

    // The rule changes: the upstream's name is no longer admitted, so the gateway refuses it.
    let generation = update.generation;
    api.apply(destination_rule("payments.internal"));
    following.next_after(generation).await;
    let status = eventually("the upstream is refused by its SANs", move || {
        let (_, status) = handshake_as(port, pki, pki.default_client()).ok()?;
        status.starts_with("502").then_some(status)
    })
    .await;
    assert!(status.starts_with("502"), "{status}");
    following.stop().await;
}
