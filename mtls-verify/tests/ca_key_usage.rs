//! keyUsage on every CA certificate of a path: an intermediate whose keyUsage lacks
//! keyCertSign issues nothing, whether the extension is critical or not (RFC 5280 4.2.1.3,
//! 6.1.4 (n)), in the path verification and in a real handshake.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use mtls_policy::{PeerVerification, VerifyError};
use mtls_testkit::tls;
use mtls_verify::PolicyVerifier;
use rcgen::{CustomExtension, KeyUsagePurpose};
use rustls::{AlertDescription, CertificateError, Error};

mod support;
use support::*;

/// An intermediate under a fresh root whose keyUsage is `usages`; `critical` as rcgen writes it
/// (critical), or re-written non-critical.
fn chain_through(usages: Vec<KeyUsagePurpose>, critical: bool) -> (TestCa, TestCa) {
    let root = TestCa::root("Root", |_| {});
    let int = root.intermediate("Issuing CA", |p| {
        if critical {
            p.key_usages = usages;
        } else {
            p.key_usages = Vec::new();
            p.custom_extensions = vec![key_usage_extension(&usages)];
        }
    });
    (root, int)
}

/// keyUsage (2.5.29.15), non-critical, with the bits of `usages`.
fn key_usage_extension(usages: &[KeyUsagePurpose]) -> CustomExtension {
    let mut bits = 0u8;
    for usage in usages {
        bits |= match usage {
            KeyUsagePurpose::DigitalSignature => 0x80,
            KeyUsagePurpose::KeyCertSign => 0x04,
            KeyUsagePurpose::CrlSign => 0x02,
            _ => 0,
        };
    }
    // BIT STRING, 1 unused bit (cRLSign is bit 6; bit 7 encipherOnly is never set here).
    extension(&[2, 5, 29, 15], tlv(0x03, &[0x01, bits]), false)
}

fn no_key_cert_sign(critical: bool) {
    let (root, int) = chain_through(
        vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::CrlSign],
        critical,
    );
    let leaf = int.leaf(|_| {});
    let domain = domain_of(&[&root], None).unwrap();
    let outcome = verify_client(domain, &leaf, std::slice::from_ref(int.der()));
    let PeerVerification::Failed {
        trust_domain,
        error: VerifyError::Other(message),
    } = &outcome
    else {
        panic!("accepted or not a profile refusal: {outcome:?}");
    };
    assert_eq!(trust_domain.as_deref(), Some(DOMAIN));
    assert!(
        message.starts_with("intermediate CA certificate 1 (subject \"CN=Issuing CA\")")
            && message.contains("keyUsage without keyCertSign"),
        "{message}"
    );
}

#[test]
fn an_intermediate_with_critical_key_usage_without_key_cert_sign_issues_nothing() {
    no_key_cert_sign(true);
}

#[test]
fn an_intermediate_with_non_critical_key_usage_without_key_cert_sign_issues_nothing() {
    no_key_cert_sign(false);
}

#[test]
fn an_intermediate_asserting_key_cert_sign_issues() {
    for critical in [true, false] {
        let (root, int) = chain_through(
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign],
            critical,
        );
        let leaf = int.leaf(|_| {});
        let domain = domain_of(&[&root], None).unwrap();
        assert_eq!(
            verify_client(domain, &leaf, std::slice::from_ref(int.der())),
            PeerVerification::verified(DOMAIN),
            "critical: {critical}"
        );
    }
}

#[test]
fn the_handshake_refuses_a_chain_through_such_an_intermediate() {
    let (root, int) = chain_through(vec![KeyUsagePurpose::DigitalSignature], true);
    let server_ca = TestCa::root("Server Root", |_| {});
    let (server_cert, server_key) = server_ca.leaf_with_key(|_| {});
    let (leaf, leaf_key) = int.leaf_with_key(|_| {});
    let provider = mtls_verify::crypto::default_provider();
    let verifier = Arc::new(
        PolicyVerifier::builder(provider.clone())
            .trust_domain(domain_of(&[&root], None).unwrap())
            .build()
            .unwrap(),
    );
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server_cert], server_key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server_ca.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![leaf, int.der().clone()], leaf_key)
        .unwrap();
    let err = tls::handshake(Arc::new(client), Arc::new(server), HOST).unwrap_err();
    assert!(
        matches!(
            err.error,
            Error::InvalidCertificate(CertificateError::Other(_))
        ),
        "{err}"
    );
    assert_eq!(
        err.peer_error.as_deref(),
        Some(&Error::AlertReceived(AlertDescription::CertificateUnknown)),
        "{err}"
    );
}
