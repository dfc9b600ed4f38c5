//! The shortcut through a remembered intermediate ([`VerifiedIssuer`]) must answer exactly
//! as the full path build would. Each test first verifies a good chain (which remembers its
//! intermediate), checks that it was remembered, then shows a chain the shortcut must not
//! let through.

use std::time::{Duration, SystemTime};

use mtls_core::{CaBundle, CrlSet};
use mtls_policy::VerifyError;
use mtls_policy::trust::NextUpdate;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    NameConstraints, RevokedCertParams, SerialNumber,
};
use rustls_pki_types::{CertificateDer, UnixTime};

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer as _;

use super::*;
use crate::DomainOptions;

mod known;

const DAY: Duration = Duration::from_secs(86_400);

thread_local! {
    /// Chains this thread verified through the shortcut.
    pub(super) static SHORTCUTS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// Chains this thread accepted again as known ([`known`](super::known)).
    pub(super) static RECHECKED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn shortcuts() -> usize {
    SHORTCUTS.with(std::cell::Cell::get)
}

fn rechecked() -> usize {
    RECHECKED.with(std::cell::Cell::get)
}

struct Ca {
    der: CertificateDer<'static>,
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(
    name: &str,
    parent: Option<&Ca>,
    until: SystemTime,
    constraints: Option<NameConstraints>,
) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = (SystemTime::now() - DAY).into();
    params.not_after = until.into();
    params.name_constraints = constraints;
    params.use_authority_key_identifier_extension = parent.is_some();
    let cert = match parent {
        Some(p) => params.signed_by(&key, &p.issuer).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    Ca {
        der: cert.der().clone(),
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

fn leaf(dns: &str, by: &Ca, serial: u64, until: SystemTime) -> CertificateDer<'static> {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![dns.to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, dns);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = (SystemTime::now() - DAY).into();
    params.not_after = until.into();
    params.serial_number = Some(SerialNumber::from(serial));
    params.use_authority_key_identifier_extension = true;
    params.signed_by(&key, &by.issuer).unwrap().der().clone()
}

fn domain(root: &Ca, crls: Option<String>) -> LoadedTrustDomain {
    domain_with(root, crls, DomainOptions::default())
}

fn domain_with(root: &Ca, crls: Option<String>, options: DomainOptions) -> LoadedTrustDomain {
    let bundle = CaBundle::from_bytes(root.pem.as_bytes(), "root.pem").unwrap();
    let crls = crls.map(|pem| CrlSet::from_bytes(pem.as_bytes(), "crl.pem").unwrap());
    let provider = crate::crypto::default_provider();
    LoadedTrustDomain::new("test", bundle, crls.as_ref(), options, &provider).unwrap()
}

fn check(
    domain: &LoadedTrustDomain,
    leaf: &CertificateDer<'_>,
    int: &Ca,
    at: SystemTime,
) -> Result<(), VerifyError> {
    let provider = crate::crypto::default_provider();
    let now = UnixTime::since_unix_epoch(at.duration_since(SystemTime::UNIX_EPOCH).unwrap());
    verify(
        domain,
        &provider.signature_verification_algorithms,
        leaf,
        std::slice::from_ref(&int.der),
        now,
        Usage::Client { require_eku: true },
        false,
    )
    .map(drop)
    .map_err(|f| f.error)
}

/// A CRL of `by` revoking `serials` (big-endian bytes), valid for 30 days.
fn crl(by: &Ca, serials: &[&[u8]]) -> String {
    let now = SystemTime::now();
    CertificateRevocationListParams {
        this_update: (now - DAY).into(),
        next_update: (now + 30 * DAY).into(),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: serials
            .iter()
            .map(|s| RevokedCertParams {
                serial_number: SerialNumber::from_slice(s),
                revocation_time: (now - DAY).into(),
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&by.issuer)
    .unwrap()
    .pem()
    .unwrap()
}

/// Permits only names under `good.example`.
fn good_example_only() -> NameConstraints {
    NameConstraints {
        permitted_subtrees: vec![GeneralSubtree::DnsName("good.example".into())],
        excluded_subtrees: vec![],
    }
}

fn assert_name_constraint_violation(result: Result<(), VerifyError>) {
    assert!(
        matches!(&result, Err(VerifyError::Other(m)) if m.contains("NameConstraintViolation")),
        "{result:?}"
    );
}

fn years(n: u64) -> SystemTime {
    SystemTime::now() + DAY * (365 * n as u32)
}

#[test]
fn a_leaf_signed_by_another_key_under_the_same_name_is_refused() {
    let root = ca("Root", None, years(30), None);
    let int = ca("Issuing CA", Some(&root), years(5), None);
    let d = domain(&root, None);
    let good = leaf("a.example", &int, 1, years(1));
    assert_eq!(check(&d, &good, &int, SystemTime::now()), Ok(()));
    assert!(d.verified_issuers.get(&int.der).is_some(), "remembered");
    // Same subject name, another key: the leaf names "Issuing CA" as its issuer.
    let impostor = ca("Issuing CA", Some(&root), years(5), None);
    let forged = leaf("b.example", &impostor, 2, years(1));
    // Presented with the genuine intermediate: the shortcut must not accept it.
    let err = check(&d, &forged, &int, SystemTime::now()).unwrap_err();
    assert_eq!(err, VerifyError::BadSignature, "{err:?}");
    // And another good one passes, from the shortcut.
    let before = shortcuts();
    let other = leaf("c.example", &int, 3, years(1));
    assert_eq!(check(&d, &other, &int, SystemTime::now()), Ok(()));
    assert_eq!(shortcuts(), before + 1);
}

#[test]
fn the_intermediate_s_name_constraints_still_apply_to_every_leaf() {
    let root = ca("Root", None, years(30), None);
    let int = ca(
        "Constrained CA",
        Some(&root),
        years(5),
        Some(good_example_only()),
    );
    let d = domain(&root, None);
    let inside = leaf("a.good.example", &int, 1, years(1));
    assert_eq!(check(&d, &inside, &int, SystemTime::now()), Ok(()));
    assert!(d.verified_issuers.get(&int.der).is_some(), "remembered");
    let outside = leaf("a.evil.example", &int, 2, years(1));
    assert_name_constraint_violation(check(&d, &outside, &int, SystemTime::now()));
}

#[test]
fn an_anchor_with_name_constraints_is_never_shortcut() {
    let root = ca(
        "Constrained Root",
        None,
        years(30),
        Some(good_example_only()),
    );
    let int = ca("Issuing CA", Some(&root), years(5), None);
    let d = domain(&root, None);
    let inside = leaf("a.good.example", &int, 1, years(1));
    assert_eq!(check(&d, &inside, &int, SystemTime::now()), Ok(()));
    assert!(d.verified_issuers.get(&int.der).is_none(), "not remembered");
    let outside = leaf("a.evil.example", &int, 2, years(1));
    assert_name_constraint_violation(check(&d, &outside, &int, SystemTime::now()));
}

#[test]
fn an_expired_intermediate_is_refused_even_when_the_leaf_outlives_it() {
    let root = ca("Root", None, years(30), None);
    let int = ca("Short-lived CA", Some(&root), years(2), None);
    let d = domain(&root, None);
    let long = leaf("a.example", &int, 1, years(10));
    assert_eq!(check(&d, &long, &int, SystemTime::now()), Ok(()));
    assert!(d.verified_issuers.get(&int.der).is_some(), "remembered");
    assert_eq!(
        check(&d, &long, &int, years(3)),
        Err(VerifyError::Expired),
        "the intermediate expired after two years"
    );
    assert_eq!(
        check(&d, &long, &int, SystemTime::now() - 2 * DAY),
        Err(VerifyError::NotYetValid)
    );
}

#[test]
fn revocation_of_the_leaf_and_of_the_intermediate_is_checked_on_the_shortcut() {
    let root = ca("Root", None, years(30), None);
    let int = ca("Issuing CA", Some(&root), years(5), None);
    let revoked_int = ca("Revoked CA", Some(&root), years(5), None);
    let int_serial = {
        let (_, parsed) = X509Certificate::from_der(&revoked_int.der).unwrap();
        parsed.raw_serial().to_vec()
    };
    // The root's CRL revokes `revoked_int` (by its serial); the intermediate's revokes
    // leaf 2.
    let crls = format!(
        "{}{}{}",
        crl(&root, &[&int_serial]),
        crl(&int, &[&[2]]),
        crl(&revoked_int, &[])
    );
    let options = DomainOptions {
        next_update: NextUpdate::Enforce,
        ..DomainOptions::default()
    };
    let d = domain_with(&root, Some(crls), options);
    let good = leaf("a.example", &int, 1, years(1));
    assert_eq!(check(&d, &good, &int, SystemTime::now()), Ok(()));
    assert!(d.verified_issuers.get(&int.der).is_some(), "remembered");
    let before = shortcuts();
    let other = leaf("d.example", &int, 4, years(1));
    assert_eq!(check(&d, &other, &int, SystemTime::now()), Ok(()));
    assert_eq!(shortcuts(), before + 1, "verified through the shortcut");
    // The CRLs' nextUpdate is in 30 days: past it, the shortcut too must answer so.
    assert_eq!(
        check(&d, &good, &int, SystemTime::now() + 31 * DAY),
        Err(VerifyError::CrlExpired)
    );
    let revoked = leaf("b.example", &int, 2, years(1));
    assert!(matches!(
        check(&d, &revoked, &int, SystemTime::now()),
        Err(VerifyError::Revoked { .. })
    ));
    let under_revoked = leaf("c.example", &revoked_int, 3, years(1));
    assert!(matches!(
        check(&d, &under_revoked, &revoked_int, SystemTime::now()),
        Err(VerifyError::Revoked { .. })
    ));
    assert!(d.verified_issuers.get(&revoked_int.der).is_none());
}
