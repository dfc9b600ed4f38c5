//! A returning client, whose chain a trust domain accepted before and remembers, in real rustls
//! handshakes: what changed since its first handshake still refuses it (an OCSP status
//! revoked, a reload with a CRL that revokes it, its certificate's expiry at a later time).

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use mtls_policy::{CrlOptions, PeerVerification, TrustDomain, TrustSource, VerifyError};
use mtls_testkit::{Leaf, Pki, tls};
use mtls_verify::ocsp::{OcspCache, OcspCheck, OcspKey, OcspRequest, OcspStatus};
use mtls_verify::{LoadedTrustDomain, PolicyVerifier};
use rustls_pki_types::UnixTime;

fn domain(pki: &Pki, crls: Option<&str>) -> LoadedTrustDomain {
    let mut domain = TrustDomain::new("mesh", TrustSource::Pem(pki.root().cert_pem()));
    domain.crl = crls.map(|pem| CrlOptions::new(vec![TrustSource::Pem(pem.to_owned())]));
    LoadedTrustDomain::load(&domain, &tls::provider()).unwrap()
}

fn verifier(domain: LoadedTrustDomain) -> Arc<PolicyVerifier> {
    Arc::new(
        PolicyVerifier::builder(tls::provider())
            .trust_domain(domain)
            .build()
            .unwrap(),
    )
}

/// A full handshake (the client never resumes) of `client` with a server checking clients
/// with `verifier`; the verifier's outcome for it.
fn handshake(
    pki: &Pki,
    client: &Leaf,
    verifier: &Arc<PolicyVerifier>,
) -> Result<PeerVerification, tls::HandshakeError> {
    let client = tls::client_config(pki, Some(client));
    let server = tls::server_config(pki.default_server(), verifier.clone());
    let (_, server) = tls::handshake(client, server, "localhost")?;
    Ok(verifier.outcome_for_chain(server.peer_certificates().unwrap_or_default()))
}

fn refused_as_revoked(result: Result<PeerVerification, tls::HandshakeError>) {
    let e = result.unwrap_err();
    assert_eq!(
        e.error,
        rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked),
        "{e:?}"
    );
}

#[test]
fn a_returning_client_revoked_by_ocsp_is_refused() {
    let pki = Pki::shared();
    let client = pki.client().common_name("ocsp-returning").issue();
    let cache = Arc::new(OcspCache::new(100, Duration::from_secs(3600)));
    let check = OcspCheck::new(Arc::clone(&cache), |_| {});
    let verifier = verifier(domain(pki, None).with_ocsp(check));
    for _ in 0..2 {
        assert_eq!(
            handshake(pki, &client, &verifier).unwrap(),
            PeerVerification::verified("mesh")
        );
    }
    let key =
        OcspKey::from(&OcspRequest::new(client.cert_der(), client.issuer_cert_der()).unwrap());
    let revoked = OcspStatus::Revoked {
        time: UnixTime::now(),
        reason: None,
    };
    cache.insert(key, revoked, UnixTime::now());
    refused_as_revoked(handshake(pki, &client, &verifier));
}

#[test]
fn a_returning_client_revoked_by_the_crl_of_a_reload_is_refused() {
    let pki = Pki::shared();
    let client = pki.client().common_name("crl-returning").issue();
    let before = pki.crls().build().pem();
    let verifier_before = verifier(domain(pki, Some(&before)));
    for _ in 0..2 {
        assert_eq!(
            handshake(pki, &client, &verifier_before).unwrap(),
            PeerVerification::verified("mesh")
        );
    }
    let after = pki.crls().revoke(&client).build().pem();
    let reloaded = verifier(domain(pki, Some(&after)));
    refused_as_revoked(handshake(pki, &client, &reloaded));
    // The earlier snapshot still answers for itself.
    assert_eq!(
        handshake(pki, &client, &verifier_before).unwrap(),
        PeerVerification::verified("mesh")
    );
}

#[test]
fn a_returning_client_past_its_not_after_is_refused() {
    let pki = Pki::shared();
    let client = pki.client().common_name("expiring-returning").issue();
    let verifier = verifier(domain(pki, None));
    assert_eq!(
        handshake(pki, &client, &verifier).unwrap(),
        PeerVerification::verified("mesh")
    );
    let chain = client.chain_der();
    let later = client.not_after().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(60);
    assert_eq!(
        verifier.verify_chain(&chain[0], &chain[1..], UnixTime::since_unix_epoch(later)),
        PeerVerification::failed(Some("mesh"), VerifyError::Expired)
    );
    assert_eq!(
        verifier.verify_chain(&chain[0], &chain[1..], UnixTime::now()),
        PeerVerification::verified("mesh")
    );
}
