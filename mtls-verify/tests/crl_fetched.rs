//! CRLs fetched from distribution points, as the loader takes them: which URIs a trust domain
//! fetches (its `urls`, the cRLDistributionPoints of its CA certificates), a fetched CRL added
//! to its revocation index, and one checked before it is kept.

mod support;

use mtls_core::CrlSet;
use mtls_policy::{
    CrlOptions, DistributionPoints, PeerVerification, TrustDomain, TrustSource, VerifyError,
};
use mtls_verify::{FetchedCrls, LoadedTrustDomain, PolicyVerifier, crl_distribution_uris};
use rcgen::{
    CertificateParams, CertificateRevocationListParams, CrlDistributionPoint, Issuer, KeyIdMethod,
    KeyPair, SerialNumber, date_time_ymd,
};
use rustls_pki_types::UnixTime;
use support::TestCa;

const URL: &str = "http://pki.test/issuing.crl";

/// A `crl` block without sources, fetching from `urls` (`None`: not fetching).
fn crl(urls: Option<&[&str]>) -> CrlOptions {
    let mut crl = CrlOptions::new(Vec::new());
    crl.distribution_points = urls.map(|urls| {
        let mut dp = DistributionPoints::default();
        dp.urls = urls.iter().map(|u| (*u).to_owned()).collect();
        dp
    });
    crl
}

/// The shared test PKI's root as the trust domain `clients`, with `crl`.
fn domain(crl: CrlOptions) -> TrustDomain {
    let pki = mtls_testkit::Pki::shared();
    let mut domain = TrustDomain::new("clients", TrustSource::Pem(pki.root().cert_pem()));
    domain.crl = Some(crl);
    domain
}

fn verify(loaded: LoadedTrustDomain, leaf: &mtls_testkit::Leaf) -> PeerVerification {
    let chain = leaf.chain_der();
    PolicyVerifier::builder(mtls_verify::crypto::default_provider())
        .trust_domain(loaded)
        .build()
        .unwrap()
        .verify_chain(&chain[0], &chain[1..], UnixTime::now())
}

#[test]
fn a_fetched_crl_joins_the_domain_that_fetches_its_uri() {
    let pki = mtls_testkit::Pki::shared();
    let provider = mtls_verify::crypto::default_provider();
    let revoked = pki.client().common_name("fetched-revoked").issue();
    let pem = pki.crls().revoke(&revoked).build().pem();
    let mut fetched = FetchedCrls::default();
    fetched.insert(URL, CrlSet::from_bytes(pem.as_bytes(), URL).unwrap());
    let no_secrets = |_: &_| Err("no secrets".into());

    let fetching = domain(crl(Some(&[URL])));
    let loaded =
        LoadedTrustDomain::load_with_fetched(&fetching, &provider, &no_secrets, &fetched).unwrap();
    assert_eq!(loaded.distribution_points(), [URL]);
    assert!(matches!(
        verify(loaded, &revoked),
        PeerVerification::Failed {
            error: VerifyError::Revoked { .. },
            ..
        }
    ));

    // Not fetched yet: the status is unknown, refused by default.
    let loaded = LoadedTrustDomain::load_with_fetched(
        &fetching,
        &provider,
        &no_secrets,
        &FetchedCrls::default(),
    )
    .unwrap();
    let outcome = verify(loaded, &revoked);
    assert!(
        matches!(
            &outcome,
            PeerVerification::Failed {
                error: VerifyError::RevocationUnknown,
                ..
            }
        ),
        "{outcome:?}"
    );

    // A domain that does not fetch ignores what was fetched.
    let plain = TrustDomain::new("plain", TrustSource::Pem(pki.root().cert_pem()));
    let loaded =
        LoadedTrustDomain::load_with_fetched(&plain, &provider, &no_secrets, &fetched).unwrap();
    assert!(loaded.distribution_points().is_empty());
    assert_eq!(
        verify(loaded, &revoked),
        PeerVerification::verified("plain")
    );
}

#[test]
fn a_crl_block_needs_a_source_or_distribution_points() {
    let provider = mtls_verify::crypto::default_provider();
    let err = LoadedTrustDomain::load(&domain(crl(None)), &provider).unwrap_err();
    assert_eq!(
        err.to_string(),
        "trust domain \"clients\": `crl` is present but lists no source"
    );
    assert!(LoadedTrustDomain::load(&domain(crl(Some(&[]))), &provider).is_ok());
}

#[test]
fn the_uris_of_the_ca_certificates_are_fetched_after_the_configured_ones() {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec![
            "ldap://pki.test/root.crl".into(),
            "http://pki.test/root.crl".into(),
            URL.into(),
        ],
    }];
    let ca = params.self_signed(&key).unwrap();
    assert_eq!(
        crl_distribution_uris(ca.der()),
        ["http://pki.test/root.crl", URL]
    );
    assert!(crl_distribution_uris(b"not a certificate").is_empty());

    let mut fetching = TrustDomain::new("cdp", TrustSource::Pem(ca.pem()));
    fetching.crl = Some(crl(Some(&[URL])));
    let loaded =
        LoadedTrustDomain::load(&fetching, &mtls_verify::crypto::default_provider()).unwrap();
    assert_eq!(
        loaded.distribution_points(),
        [URL, "http://pki.test/root.crl"]
    );
}

#[test]
fn a_fetched_crl_of_a_ca_not_signed_by_it_is_refused_before_it_is_kept() {
    let provider = mtls_verify::crypto::default_provider();
    let root = TestCa::root("Fetched Root", |_| {});
    let mut fetching = TrustDomain::new("clients", TrustSource::Pem(root.cert.pem()));
    fetching.crl = Some(crl(Some(&[])));
    let loaded = LoadedTrustDomain::load(&fetching, &provider).unwrap();
    let signed = |issuer: &Issuer<'_, &KeyPair>| {
        CertificateRevocationListParams {
            this_update: date_time_ymd(2026, 1, 1),
            next_update: date_time_ymd(2036, 1, 1),
            crl_number: SerialNumber::from(7u64),
            issuing_distribution_point: None,
            revoked_certs: Vec::new(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(issuer)
        .unwrap()
        .der()
        .to_vec()
    };
    let good = signed(&root.issuer());
    loaded
        .check_crls(&CrlSet::from_bytes(&good, URL).unwrap(), &provider)
        .unwrap();
    // A CRL naming the root but signed by another key.
    let other = KeyPair::generate().unwrap();
    let forged = signed(&Issuer::new(root.params.clone(), &other));
    let err = loaded
        .check_crls(&CrlSet::from_bytes(&forged, URL).unwrap(), &provider)
        .unwrap_err();
    assert!(
        err.to_string().starts_with("trust domain \"clients\": "),
        "{err}"
    );
}
