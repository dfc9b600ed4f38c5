//! The OCSP statuses a trust domain reads in real handshakes over rustls: a leaf cached as
//! revoked is refused with `certificate_revoked` and reason `revoked` (or the host's answer
//! for it), one cached as good is accepted, and one not cached is accepted and handed to the
//! fetcher once per handshake; a domain without OCSP reads nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mtls_policy::{DenyCode, PeerVerification, TlsAlert, TrustDomain, TrustSource, VerifyError};
use mtls_testkit::{Pki, tls};
use mtls_verify::ocsp::{OcspCache, OcspCheck, OcspKey, OcspRequest, OcspStatus, RevocationReason};
use mtls_verify::{LoadedTrustDomain, OnFailure, PolicyVerifier, take_rejection};
use rustls_pki_types::UnixTime;

struct Fixture {
    pki: &'static Pki,
    cache: Arc<OcspCache>,
    asked: Arc<Mutex<Vec<OcspRequest>>>,
    verifier: Arc<PolicyVerifier>,
}

fn fixture(on_revoked: Option<OnFailure>) -> Fixture {
    let pki = Pki::shared();
    let provider = mtls_verify::crypto::default_provider();
    let cache = Arc::new(OcspCache::new(100, Duration::from_secs(3600)));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let queue = Arc::clone(&asked);
    let check = OcspCheck::new(Arc::clone(&cache), move |r| queue.lock().unwrap().push(r));
    let domain = LoadedTrustDomain::load(
        &TrustDomain::new("mesh", TrustSource::Pem(pki.root().cert_pem())),
        &provider,
    )
    .unwrap()
    .with_ocsp(check);
    let mut builder = PolicyVerifier::builder(provider).trust_domain(domain);
    if let Some(rule) = on_revoked {
        builder = builder.on_failure(move |e| match e {
            VerifyError::Revoked { .. } => rule,
            _ => OnFailure::Reject,
        });
    }
    Fixture {
        pki,
        cache,
        asked,
        verifier: Arc::new(builder.build().unwrap()),
    }
}

impl Fixture {
    /// The cache key of the default client.
    fn key(&self) -> OcspKey {
        let client = self.pki.default_client();
        OcspKey::from(&OcspRequest::new(client.cert_der(), client.issuer_cert_der()).unwrap())
    }

    fn handshake(&self) -> Result<PeerVerification, tls::HandshakeError> {
        let client = tls::client_config(self.pki, Some(self.pki.default_client()));
        let server = tls::server_config(self.pki.default_server(), self.verifier.clone());
        let (_, server) = tls::handshake(client, server, "localhost")?;
        Ok(self
            .verifier
            .outcome_for_chain(server.peer_certificates().unwrap_or_default()))
    }
}

#[test]
fn a_leaf_not_cached_is_accepted_and_handed_to_the_fetcher() {
    let f = fixture(None);
    assert_eq!(f.handshake().unwrap(), PeerVerification::verified("mesh"));
    assert_eq!(f.handshake().unwrap(), PeerVerification::verified("mesh"));
    let asked = f.asked.lock().unwrap();
    assert_eq!(asked.len(), 2, "each handshake without a status asks");
    assert_eq!(OcspKey::from(&asked[0]), f.key());
}

#[test]
fn a_leaf_cached_as_good_is_accepted_without_asking() {
    let f = fixture(None);
    f.cache.insert(
        f.key(),
        OcspStatus::Good { next_update: None },
        UnixTime::now(),
    );
    assert_eq!(f.handshake().unwrap(), PeerVerification::verified("mesh"));
    assert!(f.asked.lock().unwrap().is_empty());
}

#[test]
fn a_leaf_cached_as_revoked_is_refused_with_certificate_revoked() {
    let f = fixture(None);
    let revoked = OcspStatus::Revoked {
        time: UnixTime::now(),
        reason: Some(RevocationReason::KeyCompromise),
    };
    f.cache.insert(f.key(), revoked, UnixTime::now());
    let e = f.handshake().unwrap_err();
    assert_eq!(
        e.error,
        rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked),
        "{e:?}"
    );
    assert_eq!(take_rejection(), Some(DenyCode::Revoked));
    assert_eq!(
        f.verifier.verify_chain(
            &f.pki.default_client().chain_der()[0],
            &f.pki.default_client().chain_der()[1..],
            UnixTime::now()
        ),
        PeerVerification::failed(
            Some("mesh"),
            VerifyError::Revoked {
                reason: Some("keyCompromise".into())
            }
        )
    );
}

#[test]
fn a_revoked_leaf_is_answered_as_the_host_answers_revoked() {
    let f = fixture(Some(OnFailure::Alert(TlsAlert::AccessDenied)));
    let revoked = OcspStatus::Revoked {
        time: UnixTime::now(),
        reason: None,
    };
    f.cache.insert(f.key(), revoked, UnixTime::now());
    let e = f.handshake().unwrap_err();
    assert_eq!(
        e.peer_error.as_deref(),
        Some(&rustls::Error::AlertReceived(
            rustls::AlertDescription::AccessDenied
        )),
        "{e:?}"
    );
    // Deferred to the layer, the refusal is reported with its reason.
    let f = fixture(Some(OnFailure::Defer));
    f.cache.insert(f.key(), revoked, UnixTime::now());
    assert_eq!(
        f.handshake().unwrap(),
        PeerVerification::failed(Some("mesh"), VerifyError::Revoked { reason: None })
    );
}
