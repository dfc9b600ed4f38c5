//! `PolicyVerifier` in real in-memory handshakes, with certificates and CRLs generated now.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use mtls_core::{CaBundle, CrlSet};
use mtls_policy::trust::NextUpdate;
use mtls_policy::{
    ClientCertMode, CrlScope, PeerVerification, PolicyConfig, SecretRef, Treatment, TrustDomain,
    TrustSource, VerifyError,
};
use mtls_testkit::tls::{self, HandshakeError, Side};
use mtls_testkit::{Eku, IssuedBy, KeyAlg, Leaf, Pki, Validity};
use mtls_verify::{
    CrlError, DomainOptions, LoadedTrustDomain, PolicyVerifier, PolicyVerifierBuilder,
    ResolveError, TrustError, VerifierError,
};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{AlertDescription, CertificateError, Error};
use rustls_pki_types::{CertificateRevocationListDer, ServerName, UnixTime};

fn pki() -> &'static Pki {
    Pki::shared()
}

fn domain_with(
    name: &str,
    pki: &Pki,
    crls: Option<&str>,
    options: DomainOptions,
) -> LoadedTrustDomain {
    let bundle = CaBundle::from_bytes(pki.root().cert_pem().as_bytes(), "ca.pem").unwrap();
    let crls = crls.map(|pem| CrlSet::from_bytes(pem.as_bytes(), "crl.pem").unwrap());
    LoadedTrustDomain::new(
        name,
        bundle,
        crls.as_ref(),
        options,
        &mtls_verify::crypto::default_provider(),
    )
    .unwrap()
}

fn domain(name: &str, pki: &Pki, crls: Option<&str>) -> LoadedTrustDomain {
    domain_with(name, pki, crls, DomainOptions::default())
}

fn builder() -> PolicyVerifierBuilder {
    PolicyVerifier::builder(mtls_verify::crypto::default_provider())
}

fn verifier(domain: LoadedTrustDomain) -> Arc<PolicyVerifier> {
    Arc::new(builder().trust_domain(domain).build().unwrap())
}

/// A handshake with the shared PKI's server; returns the outcome the acceptor would read.
fn connect(
    verifier: &Arc<PolicyVerifier>,
    client: Option<&Leaf>,
) -> Result<PeerVerification, HandshakeError> {
    let server = tls::server_config(pki().default_server(), verifier.clone());
    let (_, conn) = tls::handshake(tls::client_config(pki(), client), server, "localhost")?;
    Ok(verifier.outcome_for_chain(conn.peer_certificates().unwrap_or_default()))
}

/// Asserts the server failed with `error` and the client received `alert`.
fn assert_refused(
    result: Result<PeerVerification, HandshakeError>,
    error: &Error,
    alert: AlertDescription,
) {
    let err = result.expect_err("the handshake must fail");
    assert_eq!(err.side, Side::Server, "{err}");
    assert_eq!(&err.error, error, "{err}");
    assert_eq!(
        err.peer_error.as_deref(),
        Some(&Error::AlertReceived(alert)),
        "{err}"
    );
}

fn verified(name: &str) -> PeerVerification {
    PeerVerification::verified(name)
}

fn failed(name: Option<&str>, error: VerifyError) -> PeerVerification {
    PeerVerification::failed(name, error)
}

fn revoked() -> VerifyError {
    VerifyError::Revoked {
        reason: Some("keyCompromise".into()),
    }
}

fn check(v: &PolicyVerifier, leaf: &Leaf) -> PeerVerification {
    let chain = leaf.chain_der();
    v.verify_chain(&chain[0], &chain[1..], UnixTime::now())
}

#[test]
fn valid_chain_is_verified_by_its_domain() {
    let v = verifier(domain("mesh", pki(), Some(&pki().crls().build().pem())));
    assert_eq!(
        connect(&v, Some(pki().default_client())).unwrap(),
        verified("mesh")
    );
    assert!(v.client_auth_mandatory());
    assert_eq!(v.root_hint_subjects().len(), 1);
}

#[test]
fn expired_and_not_yet_valid_clients_are_refused() {
    let v = verifier(domain("mesh", pki(), None));
    let expired = pki().client().validity(Validity::Expired).issue();
    let err = connect(&v, Some(&expired)).unwrap_err();
    assert!(
        matches!(
            err.error,
            Error::InvalidCertificate(CertificateError::ExpiredContext { .. })
        ),
        "{err}"
    );
    assert_eq!(
        err.peer_error.as_deref(),
        Some(&Error::AlertReceived(AlertDescription::CertificateExpired))
    );
    assert_eq!(
        check(&v, &expired),
        failed(Some("mesh"), VerifyError::Expired)
    );

    let early = pki().client().validity(Validity::NotYetValid).issue();
    let err = connect(&v, Some(&early)).unwrap_err();
    assert!(
        matches!(
            err.error,
            Error::InvalidCertificate(CertificateError::NotValidYetContext { .. })
        ),
        "{err}"
    );
    assert_eq!(
        check(&v, &early),
        failed(Some("mesh"), VerifyError::NotYetValid)
    );
}

#[test]
fn unknown_ca_is_refused() {
    let v = verifier(domain("mesh", pki(), None));
    let stranger = Pki::shared_unrelated().default_client();
    assert_refused(
        connect(&v, Some(stranger)),
        &Error::InvalidCertificate(CertificateError::UnknownIssuer),
        AlertDescription::UnknownCA,
    );
    assert_eq!(
        check(&v, stranger),
        failed(None, VerifyError::UnknownIssuer)
    );
    // Expired *and* of an unknown CA: the domain does not vouch for it, so no "expired" that
    // an allow-expired policy could tolerate.
    let old = Pki::shared_unrelated()
        .client()
        .validity(Validity::Expired)
        .issue();
    assert_eq!(check(&v, &old), failed(None, VerifyError::UnknownIssuer));
}

#[test]
fn revoked_leaf_is_refused() {
    let leaf = pki().client().issue();
    let crls = pki().crls().revoke(&leaf).build();
    let v = verifier(domain("mesh", pki(), Some(&crls.pem())));
    assert_refused(
        connect(&v, Some(&leaf)),
        &Error::InvalidCertificate(CertificateError::Revoked),
        AlertDescription::CertificateRevoked,
    );
    assert_eq!(check(&v, &leaf), failed(Some("mesh"), revoked()));
    // Its siblings are fine.
    assert_eq!(
        connect(&v, Some(pki().default_client())).unwrap(),
        verified("mesh")
    );
}

#[test]
fn revoked_intermediate_whole_chain_vs_leaf_only() {
    let crls = pki().crls().revoke_intermediate().build();
    let whole = verifier(domain("mesh", pki(), Some(&crls.pem())));
    assert_refused(
        connect(&whole, Some(pki().default_client())),
        &Error::InvalidCertificate(CertificateError::Revoked),
        AlertDescription::CertificateRevoked,
    );

    let mut options = DomainOptions::default();
    options.crl_scope = CrlScope::LeafOnly;
    let leaf_only = verifier(domain_with("mesh", pki(), Some(&crls.pem()), options));
    assert_eq!(
        connect(&leaf_only, Some(pki().default_client())).unwrap(),
        verified("mesh")
    );
}

#[test]
fn unknown_revocation_status_deny_or_allow() {
    // Only the intermediate's CRL: the intermediate itself (issued by the root) has no CRL.
    let crls = pki().crls().build();
    let only_intermediate = crls.intermediate().pem();
    let deny = verifier(domain("mesh", pki(), Some(&only_intermediate)));
    assert_refused(
        connect(&deny, Some(pki().default_client())),
        &Error::InvalidCertificate(CertificateError::UnknownRevocationStatus),
        AlertDescription::UnknownCA,
    );
    assert_eq!(
        check(&deny, pki().default_client()),
        failed(Some("mesh"), VerifyError::RevocationUnknown)
    );

    let mut options = DomainOptions::default();
    options.unknown_status = Treatment::Allow;
    let allow = verifier(domain_with(
        "mesh",
        pki(),
        Some(&only_intermediate),
        options,
    ));
    assert_eq!(
        connect(&allow, Some(pki().default_client())).unwrap(),
        verified("mesh")
    );

    // Leaf-only checking needs only the intermediate's CRL.
    let mut options = DomainOptions::default();
    options.crl_scope = CrlScope::LeafOnly;
    let leaf_only = verifier(domain_with(
        "mesh",
        pki(),
        Some(&only_intermediate),
        options,
    ));
    assert_eq!(
        connect(&leaf_only, Some(pki().default_client())).unwrap(),
        verified("mesh")
    );
}

/// CRLs whose `nextUpdate` was a day ago.
fn stale_crls() -> String {
    pki().crls().expired().build().pem()
}

#[test]
fn a_crl_past_next_update_is_refused_by_default() {
    let v = verifier(domain("mesh", pki(), Some(&stale_crls())));
    let err = connect(&v, Some(pki().default_client())).unwrap_err();
    assert!(
        matches!(
            err.error,
            Error::InvalidCertificate(CertificateError::ExpiredRevocationListContext { .. })
        ),
        "{err}"
    );
    let outcome = check(&v, pki().default_client());
    assert_eq!(outcome, failed(Some("mesh"), VerifyError::CrlExpired));
    let PeerVerification::Failed { error, .. } = outcome else {
        unreachable!()
    };
    assert!(error.to_string().contains("past its nextUpdate"), "{error}");
    assert_eq!(error.code().as_str(), "crl_expired");
}

#[test]
fn next_update_grace_counts_a_late_crl_until_the_grace_ends() {
    let crls = stale_crls(); // nextUpdate one day ago
    let hours = |h: u64| std::time::Duration::from_secs(h * 3600);
    let mut options = DomainOptions::default();
    options.next_update = NextUpdate::Grace(hours(48));
    let within = verifier(domain_with("mesh", pki(), Some(&crls), options));
    assert_eq!(
        connect(&within, Some(pki().default_client())).unwrap(),
        verified("mesh")
    );
    // Still revoked while the grace lasts.
    let revoked = pki().client().issue();
    let revoking = pki().crls().expired().revoke(&revoked).build().pem();
    let within_revoking = verifier(domain_with("mesh", pki(), Some(&revoking), options));
    assert!(matches!(
        check(&within_revoking, &revoked),
        PeerVerification::Failed {
            error: VerifyError::Revoked { .. },
            ..
        }
    ));
    options.next_update = NextUpdate::Grace(hours(12));
    let past = verifier(domain_with("mesh", pki(), Some(&crls), options));
    assert_eq!(
        check(&past, pki().default_client()),
        failed(Some("mesh"), VerifyError::CrlExpired)
    );
}

#[test]
fn next_update_ignore_counts_a_crl_however_old() {
    let mut options = DomainOptions::default();
    options.next_update = NextUpdate::Ignore;
    let v = verifier(domain_with("mesh", pki(), Some(&stale_crls()), options));
    assert_eq!(
        connect(&v, Some(pki().default_client())).unwrap(),
        verified("mesh")
    );
}

#[test]
fn next_update_comes_from_the_policy_trust_domain() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let crl = dir.path().join("crl.pem");
    std::fs::write(&ca, pki().root().cert_pem()).unwrap();
    std::fs::write(&crl, stale_crls()).unwrap();
    let config = |next_update: &str| {
        format!(
            "name: mesh\nca: [{{ file: {} }}]\ncrl:\n  sources: [{{ file: {} }}]\n{next_update}",
            ca.display(),
            crl.display()
        )
    };
    let load = |text: &str| {
        let domain: TrustDomain = mtls_policy::yaml::from_str(text).unwrap();
        verifier(
            LoadedTrustDomain::load(&domain, &mtls_verify::crypto::default_provider()).unwrap(),
        )
    };
    let client = pki().default_client();
    assert_eq!(
        check(&load(&config("")), client),
        failed(Some("mesh"), VerifyError::CrlExpired)
    );
    assert_eq!(
        check(&load(&config("  next_update: enforce\n")), client),
        failed(Some("mesh"), VerifyError::CrlExpired)
    );
    assert_eq!(
        check(&load(&config("  next_update: { grace: 48h }\n")), client),
        verified("mesh")
    );
    assert_eq!(
        check(&load(&config("  next_update: ignore\n")), client),
        verified("mesh")
    );
    let err = mtls_policy::yaml::from_str::<TrustDomain>(&config("  next_update: sometimes\n"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("expected enforce, ignore or { grace: <duration> }"),
        "{err}"
    );
}

#[test]
fn isolated_trust_domains() {
    let a = pki();
    let b = Pki::shared_unrelated();
    let b_client = b.client().issue();
    let b_revoked = b.client().issue();
    // A's CRL lists B's client serial: it must not matter, B's client is not A's.
    let a_crls = a
        .crls()
        .revoke_serial(IssuedBy::Intermediate, b_client.serial())
        .build();
    let b_crls = b.crls().revoke(&b_revoked).build();
    let v = Arc::new(
        builder()
            .trust_domain(domain("a", a, Some(&a_crls.pem())))
            .trust_domain(domain("b", b, Some(&b_crls.pem())))
            .defer_failures(true)
            .build()
            .unwrap(),
    );
    assert_eq!(connect(&v, Some(&b_client)).unwrap(), verified("b"));
    assert_eq!(
        connect(&v, Some(a.default_client())).unwrap(),
        verified("a")
    );
    assert_eq!(
        connect(&v, Some(&b_revoked)).unwrap(),
        failed(Some("b"), revoked())
    );
    assert_eq!(v.root_hint_subjects().len(), 2);

    // A alone does not accept B's client.
    let only_a = verifier(domain("a", a, Some(&a_crls.pem())));
    assert_eq!(
        check(&only_a, &b_client),
        failed(None, VerifyError::UnknownIssuer)
    );
}

#[test]
fn required_optional_none() {
    let v = verifier(domain("mesh", pki(), None));
    assert_refused(
        connect(&v, None),
        &Error::NoCertificatesPresented,
        AlertDescription::CertificateRequired,
    );

    let optional = Arc::new(
        builder()
            .trust_domain(domain("mesh", pki(), None))
            .mode(ClientCertMode::Optional)
            .build()
            .unwrap(),
    );
    assert!(optional.offer_client_auth() && !optional.client_auth_mandatory());
    assert_eq!(
        connect(&optional, None).unwrap(),
        PeerVerification::NoCertificate
    );
    assert_eq!(
        connect(&optional, Some(pki().default_client())).unwrap(),
        verified("mesh")
    );

    let none = builder().mode(ClientCertMode::None).build().unwrap();
    assert!(!none.offer_client_auth());
    assert_eq!(
        builder().build().unwrap_err(),
        VerifierError::NoTrustDomain {
            mode: ClientCertMode::Required
        }
    );
    assert_eq!(
        builder()
            .trust_domain(domain("x", pki(), None))
            .trust_domain(domain("x", Pki::shared_unrelated(), None))
            .build()
            .unwrap_err(),
        VerifierError::DuplicateDomain("x".into())
    );
}

#[test]
fn accept_any_lets_unknown_ca_through_and_reports_it() {
    let v = Arc::new(
        builder()
            .trust_domain(domain("mesh", pki(), None))
            .danger_accept_any_certificate(true)
            .build()
            .unwrap(),
    );
    let stranger = Pki::shared_unrelated().default_client();
    assert_eq!(
        connect(&v, Some(stranger)).unwrap(),
        failed(None, VerifyError::UnknownIssuer)
    );
    assert_eq!(
        connect(&v, Some(pki().default_client())).unwrap(),
        verified("mesh")
    );
    assert_eq!(connect(&v, None).unwrap(), PeerVerification::NoCertificate);
}

#[test]
fn deferred_revocation_completes_and_reports() {
    let leaf = pki().client().issue();
    let crls = pki().crls().revoke(&leaf).build();
    let v = Arc::new(
        builder()
            .trust_domain(domain("mesh", pki(), Some(&crls.pem())))
            .defer_failures_if(|e| matches!(e, VerifyError::Revoked { .. }))
            .build()
            .unwrap(),
    );
    assert_eq!(
        connect(&v, Some(&leaf)).unwrap(),
        failed(Some("mesh"), revoked())
    );
    // Other failures still end the handshake.
    assert_refused(
        connect(&v, Some(Pki::shared_unrelated().default_client())),
        &Error::InvalidCertificate(CertificateError::UnknownIssuer),
        AlertDescription::UnknownCA,
    );
    // The record the handshake left gives the same.
    let out = v.outcome_for_chain(&leaf.chain_der());
    assert_eq!(out, failed(Some("mesh"), revoked()));
}

#[test]
fn allow_expired_tolerates_time_only() {
    let leaf = pki().client().validity(Validity::Expired).issue();
    let revoked_leaf = pki().client().validity(Validity::Expired).issue();
    let crls = pki().crls().revoke(&revoked_leaf).build();
    let v = Arc::new(
        builder()
            .trust_domain(domain("mesh", pki(), Some(&crls.pem())))
            .danger_allow_expired(true)
            .build()
            .unwrap(),
    );
    assert_eq!(
        connect(&v, Some(&leaf)).unwrap(),
        failed(Some("mesh"), VerifyError::Expired)
    );
    // Revocation is still enforced.
    assert_refused(
        connect(&v, Some(&revoked_leaf)),
        &Error::InvalidCertificate(CertificateError::Revoked),
        AlertDescription::CertificateRevoked,
    );
    // And so is the CA.
    let stranger = Pki::shared_unrelated()
        .client()
        .validity(Validity::Expired)
        .issue();
    assert_refused(
        connect(&v, Some(&stranger)),
        &Error::InvalidCertificate(CertificateError::UnknownIssuer),
        AlertDescription::UnknownCA,
    );
}

#[test]
fn max_chain_depth() {
    let mut options = DomainOptions::default();
    options.max_chain_depth = Some(1);
    let v = verifier(domain_with("mesh", pki(), None, options));
    assert_refused(
        connect(&v, Some(pki().default_client())),
        &Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure),
        AlertDescription::AccessDenied,
    );
    assert_eq!(
        check(&v, pki().default_client()),
        failed(Some("mesh"), VerifyError::ChainTooLong { depth: Some(2) })
    );
    let direct = pki().client().issued_by(IssuedBy::Root).issue();
    assert_eq!(connect(&v, Some(&direct)).unwrap(), verified("mesh"));

    options.max_chain_depth = Some(2);
    let v = verifier(domain_with("mesh", pki(), None, options));
    assert_eq!(
        connect(&v, Some(pki().default_client())).unwrap(),
        verified("mesh")
    );
}

#[test]
fn server_auth_only_client_has_bad_eku() {
    let v = verifier(domain("mesh", pki(), None));
    let server_only = pki().client().eku(Eku::ServerAuth).issue();
    let err = connect(&v, Some(&server_only)).unwrap_err();
    assert_eq!(
        err.error,
        Error::InvalidCertificate(CertificateError::InvalidPurpose)
    );
    assert_eq!(
        check(&v, &server_only),
        failed(Some("mesh"), VerifyError::BadEku)
    );

    let mut options = DomainOptions::default();
    options.require_client_auth_eku = false;
    let lax = verifier(domain_with("mesh", pki(), None, options));
    assert_eq!(connect(&lax, Some(&server_only)).unwrap(), verified("mesh"));

    // No EKU extension at all is "any usage", as in WebPKI.
    let absent = pki().client().eku(Eku::Absent).issue();
    assert_eq!(connect(&v, Some(&absent)).unwrap(), verified("mesh"));
}

#[test]
fn rsa_and_ed25519_chains_and_crls() {
    for alg in [KeyAlg::Rsa2048, KeyAlg::Ed25519] {
        let other = Pki::shared_with(alg);
        let leaf = other.client().issue();
        let crls = other.crls().revoke(&leaf).build();
        let v = verifier(domain("other", other, Some(&crls.pem())));
        assert_eq!(
            connect(&v, Some(other.default_client())).unwrap(),
            verified("other"),
            "{alg:?}"
        );
        assert_eq!(
            check(&v, &leaf),
            failed(Some("other"), revoked()),
            "{alg:?}"
        );
    }
    // An ECDSA leaf under an RSA PKI, and the reverse key type in the handshake signature.
    let rsa = Pki::shared_with(KeyAlg::Rsa2048);
    let mixed = rsa.client().key_alg(KeyAlg::EcdsaP256).issue();
    let v = verifier(domain("rsa", rsa, None));
    assert_eq!(connect(&v, Some(&mixed)).unwrap(), verified("rsa"));
}

/// Flips a bit in the last byte of a DER CRL (inside its signature value).
fn tamper(der: &CertificateRevocationListDer<'_>) -> Vec<u8> {
    let mut bytes = der.as_ref().to_vec();
    if let Some(last) = bytes.last_mut() {
        *last ^= 0x01;
    }
    bytes
}

#[test]
fn crl_with_bad_signature_is_rejected_at_load() {
    let crls = pki().crls().build();
    let bad_root_crl = tamper(crls.root().der());
    let set = CrlSet::from_bytes(&bad_root_crl, "tampered.crl").unwrap();
    let bundle = CaBundle::from_bytes(pki().root().cert_pem().as_bytes(), "ca.pem").unwrap();
    let err = LoadedTrustDomain::new(
        "mesh",
        bundle.clone(),
        Some(&set),
        DomainOptions::default(),
        &mtls_verify::crypto::default_provider(),
    )
    .unwrap_err();
    match &err {
        TrustError::Crl {
            domain,
            source: CrlError::BadSignature {
                index: 0, issuer, ..
            },
        } => {
            assert_eq!(domain, "mesh");
            assert!(issuer.contains("Root CA"), "{issuer}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("signature does not verify"),
        "{err}"
    );

    // A CRL of another PKI's root, naming a different issuer, is merely irrelevant.
    let foreign = Pki::shared_unrelated().crls().build().pem();
    let set = CrlSet::from_bytes(foreign.as_bytes(), "foreign.crl").unwrap();
    assert!(
        LoadedTrustDomain::new(
            "mesh",
            bundle,
            Some(&set),
            DomainOptions::default(),
            &mtls_verify::crypto::default_provider(),
        )
        .is_ok()
    );
}

#[test]
fn intermediate_crl_with_bad_signature_does_not_count() {
    // Issued by the intermediate, so checked when the intermediate is first seen: a forged one
    // is ignored, which leaves the leaf's status unknown (denied by default).
    let leaf = pki().client().issue();
    let crls = pki().crls().revoke(&leaf).build();
    let mut pem = crls.root().pem();
    let bad = tamper(crls.intermediate().der());
    pem.push_str(&pem_block("X509 CRL", &bad));
    let v = verifier(domain("mesh", pki(), Some(&pem)));
    assert_eq!(
        check(&v, &leaf),
        failed(Some("mesh"), VerifyError::RevocationUnknown)
    );
    assert_eq!(
        check(&v, pki().default_client()),
        failed(Some("mesh"), VerifyError::RevocationUnknown)
    );
}

fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[test]
fn loads_policy_trust_domains_and_secrets() {
    let provider = mtls_verify::crypto::default_provider();
    let mut td = TrustDomain::new("mesh", TrustSource::Pem(pki().root().cert_pem()));
    td.max_chain_depth = Some(3);
    let loaded = LoadedTrustDomain::load(&td, &provider).unwrap();
    assert_eq!(loaded.options().max_chain_depth, Some(3));

    let config = PolicyConfig::from_yaml(
        r#"
listeners:
  - name: public
    port: 443
    hosts:
      - client_validation:
          mode: optional
          trust:
            - name: kube
              ca: [{ secret: { name: ca, namespace: ingress } }]
"#,
    )
    .unwrap();
    let validation = config.listeners[0].hosts[0]
        .client_validation
        .clone()
        .unwrap();
    let td = validation.trust[0].clone();
    let err = LoadedTrustDomain::load(&td, &provider).unwrap_err();
    assert!(
        matches!(err, TrustError::SecretNotResolvable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("ingress/ca"), "{err}");

    let resolve = |s: &SecretRef| -> Result<Vec<u8>, ResolveError> {
        assert_eq!(s.name, "ca");
        Ok(pki().root().cert_pem().into_bytes())
    };
    let v = Arc::new(
        PolicyVerifier::from_client_validation(&validation, provider.clone(), &resolve)
            .unwrap()
            .build()
            .unwrap(),
    );
    assert!(!v.client_auth_mandatory());
    assert_eq!(
        connect(&v, Some(pki().default_client())).unwrap(),
        verified("kube")
    );

    let pem = pki().root().cert_pem();
    let loaded =
        LoadedTrustDomain::load_with(&td, &provider, &|_| Ok(pem.clone().into_bytes())).unwrap();
    assert_eq!(loaded.name(), "kube");
    let err = LoadedTrustDomain::load_with(&td, &provider, &|_| Err("denied".into())).unwrap_err();
    assert!(matches!(err, TrustError::Resolve { .. }), "{err}");
}

#[test]
fn server_purpose_verification() {
    let provider = mtls_verify::crypto::default_provider();
    let upstream = domain("backends", pki(), Some(&pki().crls().build().pem()));
    let chain = pki().default_server().chain_der();
    let name = ServerName::try_from("localhost").unwrap();
    assert_eq!(
        upstream.verify_server(&provider, &chain[0], &chain[1..], &name, UnixTime::now()),
        verified("backends")
    );
    let wrong = ServerName::try_from("other.example").unwrap();
    assert!(matches!(
        upstream.verify_server(&provider, &chain[0], &chain[1..], &wrong, UnixTime::now()),
        PeerVerification::Failed {
            trust_domain: Some(_),
            error: VerifyError::Other(_)
        }
    ));
    // A clientAuth-only certificate is no server.
    let client = pki().default_client().chain_der();
    assert_eq!(
        upstream.verify_server(&provider, &client[0], &client[1..], &name, UnixTime::now()),
        failed(Some("backends"), VerifyError::BadEku)
    );
}

#[test]
fn garbage_certificates_never_panic() {
    let v = verifier(domain("mesh", pki(), Some(&pki().crls().build().pem())));
    let der = pki().default_client().cert_der().as_ref().to_vec();
    for end in [0, 1, 2, 10, der.len() / 2, der.len() - 1] {
        let cert = rustls_pki_types::CertificateDer::from(der[..end].to_vec());
        assert!(matches!(
            v.verify_chain(&cert, &[], UnixTime::now()),
            PeerVerification::Failed {
                trust_domain: None,
                ..
            }
        ));
    }
}

/// Our verifier and rustls' `WebPkiClientVerifier` (same roots, same CRLs, defaults) send the
/// same alert, or both accept, on a table of cases.
#[test]
fn agrees_with_webpki_client_verifier() {
    let p = pki();
    let revoked_leaf = p.client().issue();
    let all_crls = p.crls().revoke(&revoked_leaf).build();
    let intermediate_revoked = p.crls().revoke_intermediate().build();
    let only_intermediate = vec![all_crls.intermediate().der().clone()];
    let cases: Vec<(&str, Leaf, Vec<CertificateRevocationListDer<'static>>)> = vec![
        ("valid", p.default_client().clone(), all_crls.ders()),
        ("valid, no CRLs", p.default_client().clone(), vec![]),
        (
            "root-issued",
            p.client().issued_by(IssuedBy::Root).issue(),
            all_crls.ders(),
        ),
        (
            "expired",
            p.client().validity(Validity::Expired).issue(),
            all_crls.ders(),
        ),
        (
            "not yet valid",
            p.client().validity(Validity::NotYetValid).issue(),
            all_crls.ders(),
        ),
        (
            "unknown CA",
            Pki::shared_unrelated().default_client().clone(),
            all_crls.ders(),
        ),
        ("revoked leaf", revoked_leaf.clone(), all_crls.ders()),
        (
            "revoked intermediate",
            p.default_client().clone(),
            intermediate_revoked.ders(),
        ),
        (
            "no CRL for the intermediate",
            p.default_client().clone(),
            only_intermediate,
        ),
        (
            "serverAuth only",
            p.client().eku(Eku::ServerAuth).issue(),
            all_crls.ders(),
        ),
        (
            "both EKUs",
            p.client().eku(Eku::Both).issue(),
            all_crls.ders(),
        ),
        (
            "no EKU",
            p.client().eku(Eku::Absent).issue(),
            all_crls.ders(),
        ),
        (
            "RSA leaf",
            p.client().key_alg(KeyAlg::Rsa2048).issue(),
            all_crls.ders(),
        ),
        (
            "Ed25519 leaf",
            p.client().key_alg(KeyAlg::Ed25519).issue(),
            all_crls.ders(),
        ),
    ];
    for (name, leaf, crls) in cases {
        let theirs = WebPkiClientVerifier::builder_with_provider(
            Arc::new(p.root_store()),
            mtls_verify::crypto::default_provider(),
        )
        .with_crls(crls.clone())
        .build()
        .unwrap();
        let mut set = CrlSet::default();
        for crl in &crls {
            set.extend(CrlSet::from_bytes(crl.as_ref(), "crl").unwrap());
        }
        let bundle = CaBundle::from_bytes(p.root().cert_pem().as_bytes(), "ca.pem").unwrap();
        let ours: Arc<PolicyVerifier> = Arc::new(
            builder()
                .trust_domain(
                    LoadedTrustDomain::new(
                        "mesh",
                        bundle,
                        (!crls.is_empty()).then_some(&set),
                        DomainOptions::default(),
                        &mtls_verify::crypto::default_provider(),
                    )
                    .unwrap(),
                )
                .build()
                .unwrap(),
        );
        let run = |v: Arc<dyn ClientCertVerifier>| {
            let server = tls::server_config(p.default_server(), v);
            tls::handshake(tls::client_config(p, Some(&leaf)), server, "localhost")
                .map(drop)
                .map_err(|e| e.peer_error.map(|b| *b))
        };
        let expected = run(theirs);
        let got = run(ours);
        assert_eq!(got, expected, "case {name:?}");
    }
}
