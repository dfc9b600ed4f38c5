//! Resumed TLS 1.3 sessions with a real rustls client on 127.0.0.1, with shared session
//! tickets: a resumed session is judged again as a full handshake would be now, so a client
//! whose OCSP status was cached as revoked, or whose certificate expired, after its first
//! handshake is refused on resumption (or, when the host answers that failure over HTTP, its
//! connection carries the failure); a client still in good standing resumes. A CRL change
//! gives the host new ticket keys ([`a_resumed_session_does_not_survive_a_crl_update`] in
//! `reload.rs`, replicas in `shared_tickets.rs`).

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mtls_core::CaBundle;
use mtls_policy::VerifyError;
use mtls_testkit::{Leaf, Pki, Validity};
use mtls_tower::tls::{DomainOptions, LoadedTrustDomain, PolicyVerifier, TicketKeys};
use mtls_tower::{Acceptor, HostTls, TlsSnapshot};
use mtls_verify::ocsp::{OcspCache, OcspCheck, OcspKey, OcspRequest, OcspStatus, RevocationReason};
use rustls::HandshakeKind;
use rustls_pki_types::UnixTime;
use support::{credential, provider, start};

const KEYS: &str = "cWYEoxb96BtCjmSsRFmoBkUibz/58eUILsZeHBDsvcc=\n";

/// A snapshot serving `localhost` with shared session tickets, requiring client certificates
/// of `pki` (trust domain `clients`, reading OCSP statuses from `cache`); with `defer`, a
/// revoked or expired certificate is answered over HTTP instead of refused.
fn snapshot(pki: &Pki, cache: &Arc<OcspCache>, defer: bool) -> TlsSnapshot {
    let provider = provider();
    let bundle = CaBundle::from_bytes(pki.root().cert_pem().as_bytes(), "ca").unwrap();
    let check = OcspCheck::new(Arc::clone(cache), |_| {});
    let domain =
        LoadedTrustDomain::new("clients", bundle, None, DomainOptions::default(), &provider)
            .unwrap()
            .with_ocsp(check);
    let verifier = PolicyVerifier::builder(Arc::clone(&provider))
        .trust_domain(domain)
        .defer_failures(defer);
    TlsSnapshot::builder(provider)
        .host(
            HostTls::new(["localhost"], credential(pki.default_server()))
                .client_verifier(Arc::new(verifier.build().unwrap())),
        )
        .session_tickets(TicketKeys::parse(KEYS, "keys").unwrap())
        .build()
        .unwrap()
}

/// The OCSP cache key of `leaf`.
fn key(leaf: &Leaf) -> OcspKey {
    OcspKey::from(&OcspRequest::new(leaf.cert_der(), leaf.issuer_cert_der()).unwrap())
}

fn revoked() -> OcspStatus {
    OcspStatus::Revoked {
        time: UnixTime::now(),
        reason: Some(RevocationReason::KeyCompromise),
    }
}

/// Every later connection of `client` is refused: those of `config` (which holds tickets)
/// after the handshake, as each resumes (the refused connections carried new tickets too),
/// and a full handshake (a client without tickets) with the alert named `alert`.
async fn assert_refused(
    addr: SocketAddr,
    pki: &Pki,
    client: &Leaf,
    config: Arc<rustls::ClientConfig>,
    alert: &str,
) {
    for _ in 0..3 {
        let (kind, response) = support::request_once(addr, Arc::clone(&config))
            .await
            .unwrap();
        assert_eq!((kind, response.as_str()), (HandshakeKind::Resumed, ""));
    }
    match support::request_once(addr, support::client(pki, Some(client))).await {
        Err(e) => assert!(e.to_string().contains(alert), "{e}"),
        Ok((kind, response)) => panic!("refused client got through ({kind:?}): {response}"),
    }
}

#[tokio::test]
async fn a_resumed_session_is_refused_once_ocsp_says_revoked() {
    let pki = Pki::shared();
    let (client, bystander) = (pki.client().issue(), pki.client().issue());
    let cache = Arc::new(OcspCache::new(100, Duration::from_secs(3600)));
    let server = start(Acceptor::new(snapshot(pki, &cache, false))).await;
    let (config, other) = (
        support::client(pki, Some(&client)),
        support::client(pki, Some(&bystander)),
    );
    for config in [&config, &other] {
        let (kind, response) = support::request_once(server.addr, Arc::clone(config))
            .await
            .unwrap();
        assert_eq!(kind, HandshakeKind::Full);
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        // Without a change, the session resumes: the refusal below is for the right reason.
        let (kind, response) = support::request_once(server.addr, Arc::clone(config))
            .await
            .unwrap();
        assert_eq!(kind, HandshakeKind::Resumed, "{response}");
        assert!(response.contains("verification=Verified"), "{response}");
    }

    // The responder says revoked; the snapshot (and its ticket keys) stays as it is.
    cache.insert(key(&client), revoked(), UnixTime::now());
    let (kind, response) = support::request_once(server.addr, Arc::clone(&config))
        .await
        .unwrap();
    assert_eq!(kind, HandshakeKind::Resumed);
    assert_eq!(
        response, "",
        "the resumed session of a revoked client was served"
    );
    // Its next connections are refused, a full handshake with the alert; the bystander still
    // resumes.
    assert_refused(server.addr, pki, &client, config, "CertificateRevoked").await;
    let (kind, response) = support::request_once(server.addr, other).await.unwrap();
    assert_eq!(kind, HandshakeKind::Resumed);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    server.stop().await;
}

#[tokio::test]
async fn a_resumed_session_carries_a_revocation_the_host_answers_over_http() {
    let pki = Pki::shared();
    let client = pki.client().issue();
    let cache = Arc::new(OcspCache::new(100, Duration::from_secs(3600)));
    let server = start(Acceptor::new(snapshot(pki, &cache, true))).await;
    let config = support::client(pki, Some(&client));
    let (kind, _) = support::request_once(server.addr, Arc::clone(&config))
        .await
        .unwrap();
    assert_eq!(kind, HandshakeKind::Full);

    cache.insert(key(&client), revoked(), UnixTime::now());
    let (kind, response) = support::request_once(server.addr, config).await.unwrap();
    assert_eq!(kind, HandshakeKind::Resumed);
    let failed = VerifyError::Revoked {
        reason: Some("keyCompromise".into()),
    };
    assert!(response.contains(&format!("{failed:?}")), "{response}");
    server.stop().await;
}

#[tokio::test]
async fn a_resumed_session_is_refused_once_the_certificate_expired() {
    let pki = Pki::shared();
    // Valid for two more seconds: the first handshake is in time, the resumption is not.
    let now = SystemTime::now();
    let client = pki
        .client()
        .validity(Validity::Between(
            now - Duration::from_secs(60),
            now + Duration::from_secs(2),
        ))
        .issue();
    let cache = Arc::new(OcspCache::new(100, Duration::from_secs(3600)));
    let server = start(Acceptor::new(snapshot(pki, &cache, false))).await;
    let config = support::client(pki, Some(&client));
    let (kind, response) = support::request_once(server.addr, Arc::clone(&config))
        .await
        .unwrap();
    assert_eq!(kind, HandshakeKind::Full);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    let expired = client.not_after() + Duration::from_secs(1);
    tokio::time::sleep(
        expired
            .duration_since(SystemTime::now())
            .unwrap_or_default(),
    )
    .await;
    let (kind, response) = support::request_once(server.addr, Arc::clone(&config))
        .await
        .unwrap();
    assert_eq!(kind, HandshakeKind::Resumed);
    assert_eq!(
        response, "",
        "the resumed session of an expired client was served"
    );
    assert_refused(server.addr, pki, &client, config, "CertificateExpired").await;
    server.stop().await;
}
