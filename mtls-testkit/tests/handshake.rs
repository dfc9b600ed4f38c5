//! The generated PKI, checked by rustls' own WebPKI client verifier in memory.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mtls_testkit::tls::{self, HandshakeError, Side};
use mtls_testkit::{Eku, IssuedBy, KeyAlg, Leaf, Pki, Validity};
use rustls::server::WebPkiClientVerifier;
use rustls::{AlertDescription, CertificateError, Error};

/// Handshake of `client` against the PKI's default server, with a WebPKI verifier given
/// `crls`.
fn connect(
    pki: &Pki,
    client: Option<&Leaf>,
    crls: &[rustls_pki_types::CertificateRevocationListDer<'static>],
) -> Result<(), HandshakeError> {
    let server = tls::server_config(pki.default_server(), tls::webpki_verifier(pki, crls));
    tls::handshake(tls::client_config(pki, client), server, "localhost").map(|_| ())
}

fn server_error(result: Result<(), HandshakeError>) -> Error {
    let err = result.expect_err("handshake must fail");
    assert_eq!(err.side, Side::Server, "{err}");
    err.error
}

#[test]
fn valid_client_through_intermediate() {
    let pki = Pki::shared();
    let client = pki.default_client();
    assert_eq!(client.chain_der().len(), 2);
    let server = tls::server_config(pki.default_server(), tls::webpki_verifier(pki, &[]));
    let (client_conn, server_conn) =
        tls::handshake(tls::client_config(pki, Some(client)), server, "localhost").unwrap();
    assert_eq!(server_conn.peer_certificates().unwrap(), client.chain_der());
    assert_eq!(
        client_conn.peer_certificates().unwrap(),
        pki.default_server().chain_der()
    );
}

#[test]
fn valid_client_with_all_crls() {
    let pki = Pki::shared();
    let crls = pki.crls().build();
    connect(pki, Some(pki.default_client()), &crls.ders()).unwrap();
}

#[test]
fn valid_client_issued_by_root() {
    let pki = Pki::shared();
    let client = pki.client().issued_by(IssuedBy::Root).issue();
    assert_eq!(client.chain_der().len(), 1);
    assert_eq!(client.issuer_cert_der(), pki.root().cert_der());
    connect(pki, Some(&client), &pki.crls().build().ders()).unwrap();
}

#[test]
fn expired_client() {
    let pki = Pki::shared();
    let client = pki.client().validity(Validity::Expired).issue();
    let err = connect(pki, Some(&client), &[]).unwrap_err();
    assert_eq!(err.side, Side::Server);
    assert!(
        matches!(
            err.error,
            Error::InvalidCertificate(CertificateError::ExpiredContext { .. })
        ),
        "{err}"
    );
    // The server's alert reaches the client.
    assert!(
        matches!(err.peer_error.as_deref(), Some(Error::AlertReceived(_))),
        "{err}"
    );
}

#[test]
fn not_yet_valid_client() {
    let pki = Pki::shared();
    let client = pki.client().validity(Validity::NotYetValid).issue();
    assert!(matches!(
        server_error(connect(pki, Some(&client), &[])),
        Error::InvalidCertificate(CertificateError::NotValidYetContext { .. })
    ));
}

#[test]
fn explicit_validity_window() {
    let pki = Pki::shared();
    let now = SystemTime::now();
    let client = pki
        .client()
        .validity(Validity::Between(
            now - Duration::from_secs(60),
            now + Duration::from_secs(60),
        ))
        .issue();
    connect(pki, Some(&client), &[]).unwrap();
}

#[test]
fn revoked_client() {
    let pki = Pki::shared();
    let client = pki.client().issue();
    let crls = pki.crls().revoke(&client).build();
    assert_eq!(
        server_error(connect(pki, Some(&client), &crls.ders())),
        Error::InvalidCertificate(CertificateError::Revoked)
    );
    // Others are unaffected by the same CRLs.
    connect(pki, Some(pki.default_client()), &crls.ders()).unwrap();
}

#[test]
fn revoked_root_issued_client() {
    let pki = Pki::shared();
    let client = pki.client().issued_by(IssuedBy::Root).issue();
    let crls = pki.crls().revoke(&client).build();
    assert_eq!(
        server_error(connect(pki, Some(&client), &crls.ders())),
        Error::InvalidCertificate(CertificateError::Revoked)
    );
}

#[test]
fn revoked_intermediate() {
    let pki = Pki::shared();
    let crls = pki.crls().revoke_intermediate().build();
    assert_eq!(
        server_error(connect(pki, Some(pki.default_client()), &crls.ders())),
        Error::InvalidCertificate(CertificateError::Revoked)
    );
}

#[test]
fn missing_intermediate_crl_is_unknown_status() {
    let pki = Pki::shared();
    let crls = pki.crls().build();
    assert_eq!(
        server_error(connect(
            pki,
            Some(pki.default_client()),
            &[crls.root().der().clone()]
        )),
        Error::InvalidCertificate(CertificateError::UnknownRevocationStatus)
    );
}

#[test]
fn expired_crl_when_enforced() {
    let pki = Pki::shared();
    let crls = pki.crls().expired().build();
    // Not enforced by default...
    connect(pki, Some(pki.default_client()), &crls.ders()).unwrap();
    // ...but rejected when enforced.
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(pki.root_store()), tls::provider())
            .with_crls(crls.ders())
            .enforce_revocation_expiration()
            .build()
            .unwrap();
    let server = tls::server_config(pki.default_server(), verifier);
    let err = tls::handshake(
        tls::client_config(pki, Some(pki.default_client())),
        server,
        "localhost",
    )
    .unwrap_err();
    assert_eq!(err.side, Side::Server);
    assert!(
        matches!(
            err.error,
            Error::InvalidCertificate(CertificateError::ExpiredRevocationListContext { .. })
        ),
        "{err}"
    );
}

#[test]
fn unrelated_ca_is_unknown_issuer() {
    let pki = Pki::shared();
    let stranger = Pki::shared_unrelated().client().issue();
    assert_eq!(
        server_error(connect(pki, Some(&stranger), &[])),
        Error::InvalidCertificate(CertificateError::UnknownIssuer)
    );
}

#[test]
fn server_only_eku_is_rejected_for_client_auth() {
    let pki = Pki::shared();
    let client = pki.client().eku(Eku::ServerAuth).issue();
    assert!(matches!(
        server_error(connect(pki, Some(&client), &[])),
        Error::InvalidCertificate(
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. }
        )
    ));
    for eku in [Eku::Both, Eku::Absent] {
        let client = pki.client().eku(eku).issue();
        connect(pki, Some(&client), &[]).unwrap_or_else(|e| panic!("{eku:?}: {e}"));
    }
}

#[test]
fn no_client_cert_when_required() {
    let pki = Pki::shared();
    let err = connect(pki, None, &[]).unwrap_err();
    assert_eq!(err.side, Side::Server);
    assert_eq!(err.error, Error::NoCertificatesPresented);
    assert_eq!(
        err.peer_error.as_deref(),
        Some(&Error::AlertReceived(AlertDescription::CertificateRequired))
    );
}

#[test]
fn sni_hosts_and_server_name_mismatch() {
    let pki = Pki::shared();
    let server = pki.server_for(&["httpbin.example.com", "10.0.0.1"]).issue();
    let config = tls::server_config(&server, tls::webpki_verifier(pki, &[]));
    let client = tls::client_config(pki, Some(pki.default_client()));
    tls::handshake(client.clone(), config.clone(), "httpbin.example.com").unwrap();
    tls::handshake(client.clone(), config.clone(), "10.0.0.1").unwrap();
    let err = tls::handshake(client, config, "localhost").unwrap_err();
    assert_eq!(err.side, Side::Client);
    assert!(
        matches!(
            err.error,
            Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{err}"
    );
}

#[test]
fn ip_server_name() {
    let pki = Pki::shared();
    let config = tls::server_config(pki.default_server(), tls::webpki_verifier(pki, &[]));
    tls::handshake(
        tls::client_config(pki, Some(pki.default_client())),
        config,
        "127.0.0.1",
    )
    .unwrap();
}

#[test]
fn every_algorithm_handshakes_and_revokes() {
    for alg in KeyAlg::ALL {
        let pki = Pki::shared_with(alg);
        let client = pki.default_client();
        assert_eq!(client.key().alg(), alg);
        connect(pki, Some(client), &pki.crls().build().ders())
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        let crls = pki.crls().revoke(client).build();
        assert_eq!(
            server_error(connect(pki, Some(client), &crls.ders())),
            Error::InvalidCertificate(CertificateError::Revoked),
            "{alg:?}"
        );
    }
}

#[test]
fn mixed_algorithms() {
    // An RSA chain with a (fast) ECDSA leaf.
    let pki = Pki::shared_with(KeyAlg::Rsa2048);
    let client = pki.client().key_alg(KeyAlg::EcdsaP256).issue();
    connect(pki, Some(&client), &[]).unwrap();
}
