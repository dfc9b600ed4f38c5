//! A trust domain whose CA bundle holds thousands of CAs: chains are still verified through
//! the right anchor (looked up by name in the index built at load), a stranger is still
//! refused, and the CertificateRequest names no CA once the names would not fit in it (a
//! rustls client refuses a CertificateRequest past 64 KiB).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use mtls_core::CaBundle;
use mtls_policy::{PeerVerification, VerifyError};
use mtls_testkit::tls::{self, Side};
use mtls_testkit::{IssuedBy, Leaf, Pki};
use mtls_verify::{DomainOptions, LoadedTrustDomain, PolicyVerifier};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::server::danger::ClientCertVerifier;
use rustls::{CertificateError, Error};

/// `n` self-signed CA certificates of distinct names (PEM), sharing one key.
fn other_cas(n: usize) -> String {
    let key = KeyPair::generate().unwrap();
    (0..n)
        .map(|i| {
            let mut params = CertificateParams::default();
            params.distinguished_name = rcgen::DistinguishedName::new();
            params
                .distinguished_name
                .push(DnType::CommonName, format!("Other Root CA {i}"));
            params
                .distinguished_name
                .push(DnType::OrganizationName, "Somebody Else");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            params.self_signed(&key).unwrap().pem()
        })
        .collect()
}

/// A verifier over `others` CAs with the shared PKI's root in the middle of the bundle.
fn verifier_among(others: usize) -> Arc<PolicyVerifier> {
    let cas = other_cas(others);
    let split = cas
        .match_indices("-----BEGIN")
        .nth(others / 2)
        .map_or(cas.len(), |(i, _)| i);
    let pem = format!(
        "{}{}{}",
        &cas[..split],
        Pki::shared().root().cert_pem(),
        &cas[split..]
    );
    let bundle = CaBundle::from_bytes(pem.as_bytes(), "ca.pem").unwrap();
    assert_eq!(bundle.len(), others + 1);
    let provider = mtls_verify::crypto::default_provider();
    let domain =
        LoadedTrustDomain::new("big", bundle, None, DomainOptions::default(), &provider).unwrap();
    Arc::new(
        PolicyVerifier::builder(provider)
            .trust_domain(domain)
            .build()
            .unwrap(),
    )
}

fn connect(
    v: &Arc<PolicyVerifier>,
    client: &Leaf,
) -> Result<PeerVerification, tls::HandshakeError> {
    let pki = Pki::shared();
    let (_, server) = tls::handshake(
        tls::client_config(pki, Some(client)),
        tls::server_config(pki.default_server(), v.clone()),
        "localhost",
    )?;
    Ok(v.outcome_for_chain(server.peer_certificates().unwrap()))
}

#[test]
fn a_chain_is_verified_through_its_root_among_two_thousand() {
    let v = verifier_among(2000);
    // 2,001 names take about 100 KiB: more than a CertificateRequest can carry.
    assert!(v.root_hint_subjects().is_empty());

    let pki = Pki::shared();
    // Leaf → intermediate → root, twice (the second from the remembered intermediate).
    for _ in 0..2 {
        assert_eq!(
            connect(&v, pki.default_client()).unwrap(),
            PeerVerification::verified("big")
        );
    }
    // A leaf the root issued itself.
    let direct = pki.client().issued_by(IssuedBy::Root).issue();
    assert_eq!(
        connect(&v, &direct).unwrap(),
        PeerVerification::verified("big")
    );
}

#[test]
fn a_stranger_is_refused_among_two_thousand() {
    let v = verifier_among(2000);
    let stranger = Pki::shared_unrelated().default_client();
    let err = connect(&v, stranger).unwrap_err();
    assert_eq!(err.side, Side::Server, "{err}");
    assert_eq!(
        err.error,
        Error::InvalidCertificate(CertificateError::UnknownIssuer)
    );
    let chain = stranger.chain_der();
    assert_eq!(
        v.verify_client_cert(&chain[0], &chain[1..], rustls_pki_types::UnixTime::now())
            .unwrap_err(),
        Error::InvalidCertificate(CertificateError::UnknownIssuer)
    );
    assert_eq!(
        v.outcome_for_chain(&chain),
        PeerVerification::failed(None, VerifyError::UnknownIssuer)
    );
}

#[test]
fn a_small_bundle_names_each_of_its_cas_once() {
    let v = verifier_among(10);
    let hints = v.root_hint_subjects();
    assert_eq!(hints.len(), 11);
    let mut names: Vec<&[u8]> = hints.iter().map(AsRef::as_ref).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 11);
    assert_eq!(
        connect(&v, Pki::shared().default_client()).unwrap(),
        PeerVerification::verified("big")
    );
}
