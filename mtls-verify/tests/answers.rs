//! The verifier refuses with the alert it is told to, in a real (in-memory) rustls handshake,
//! and leaves the reason for the acceptor; a deferred failure completes the handshake.

use std::sync::Arc;

use mtls_policy::{DenyCode, PeerVerification, TlsAlert, TrustDomain, TrustSource, VerifyError};
use mtls_testkit::{Pki, tls};
use mtls_verify::{LoadedTrustDomain, OnFailure, PolicyVerifier, PolicyVerifierBuilder};
use rustls::AlertDescription;

fn builder() -> PolicyVerifierBuilder {
    let provider = mtls_verify::crypto::default_provider();
    let pki = Pki::shared();
    let domain = LoadedTrustDomain::load(
        &TrustDomain::new("clients", TrustSource::Pem(pki.root().cert_pem())),
        &provider,
    )
    .unwrap();
    PolicyVerifier::builder(provider).trust_domain(domain)
}

/// The alert the client receives when `verifier` judges `client`, and the reason the verifier
/// left on this thread.
fn alert_seen(
    verifier: PolicyVerifier,
    client: &mtls_testkit::Leaf,
) -> (Option<rustls::Error>, Option<DenyCode>) {
    let pki = Pki::shared();
    let _ = mtls_verify::take_rejection();
    let server = tls::server_config(pki.default_server(), Arc::new(verifier));
    let result = tls::handshake(tls::client_config(pki, Some(client)), server, "localhost");
    let peer = result.err().and_then(|e| e.peer_error.map(|e| *e));
    (peer, mtls_verify::take_rejection())
}

#[test]
fn each_configured_alert_is_the_one_the_client_receives() {
    let stranger = Pki::shared_unrelated().default_client();
    let table = [
        (TlsAlert::BadCertificate, AlertDescription::BadCertificate),
        (
            TlsAlert::UnsupportedCertificate,
            AlertDescription::UnsupportedCertificate,
        ),
        (
            TlsAlert::CertificateRevoked,
            AlertDescription::CertificateRevoked,
        ),
        (
            TlsAlert::CertificateExpired,
            AlertDescription::CertificateExpired,
        ),
        (
            TlsAlert::CertificateUnknown,
            AlertDescription::CertificateUnknown,
        ),
        (TlsAlert::UnknownCa, AlertDescription::UnknownCA),
        (TlsAlert::AccessDenied, AlertDescription::AccessDenied),
        (TlsAlert::DecryptError, AlertDescription::DecryptError),
        (
            TlsAlert::HandshakeFailure,
            AlertDescription::HandshakeFailure,
        ),
    ];
    for (alert, received) in table {
        let verifier = builder()
            .on_failure(move |_| OnFailure::Alert(alert))
            .build()
            .unwrap();
        let (peer, reason) = alert_seen(verifier, stranger);
        assert_eq!(u8::from(received), alert.code(), "{alert:?}");
        assert_eq!(
            peer,
            Some(rustls::Error::AlertReceived(received)),
            "{alert:?}"
        );
        assert_eq!(reason, Some(DenyCode::UnknownIssuer), "{alert:?}");
    }
}

#[test]
fn reject_keeps_rustls_own_alert_and_defer_completes_the_handshake() {
    let stranger = Pki::shared_unrelated().default_client();
    let verifier = builder().on_failure(|_| OnFailure::Reject).build().unwrap();
    let (peer, _) = alert_seen(verifier, stranger);
    assert_eq!(
        peer,
        Some(rustls::Error::AlertReceived(AlertDescription::UnknownCA))
    );

    let verifier = Arc::new(builder().on_failure(|_| OnFailure::Defer).build().unwrap());
    let pki = Pki::shared();
    let server = tls::server_config(pki.default_server(), verifier.clone());
    let (_, conn) =
        tls::handshake(tls::client_config(pki, Some(stranger)), server, "localhost").unwrap();
    assert_eq!(
        verifier.outcome_for_chain(conn.peer_certificates().unwrap()),
        PeerVerification::failed(None, VerifyError::UnknownIssuer)
    );
    assert_eq!(mtls_verify::take_rejection(), None);
}

#[test]
fn a_host_check_refuses_a_verified_chain_with_its_alert_and_reason() {
    let client = Pki::shared().default_client();
    let verifier = builder()
        .check_verified(|_, domain| {
            assert_eq!(domain, "clients");
            Some((DenyCode::PinMismatch, TlsAlert::DecryptError))
        })
        .build()
        .unwrap();
    let (peer, reason) = alert_seen(verifier, client);
    assert_eq!(
        peer,
        Some(rustls::Error::AlertReceived(AlertDescription::DecryptError))
    );
    assert_eq!(reason, Some(DenyCode::PinMismatch));

    // A check that lets it through leaves the handshake alone.
    let verifier = builder().check_verified(|_, _| None).build().unwrap();
    let (peer, reason) = alert_seen(verifier, client);
    assert_eq!((peer, reason), (None, None));
}
