//! A chain accepted before ([`KnownChain`](crate::chain::KnownChain)) skips its signatures on
//! its return, and nothing else: each test first shows the chain accepted again from the
//! cache, then a change of time, revocation, chain or domain that must refuse it or send it
//! through the full verification.

use super::*;

fn known(domain: &LoadedTrustDomain) -> usize {
    domain.known_chains.len()
}

/// Verifies `leaf` under `int` twice at `now`: the first verifies it in full and remembers
/// it, the second accepts it from the cache.
fn accepted_then_known(d: &LoadedTrustDomain, leaf: &CertificateDer<'_>, int: &Ca) {
    assert_eq!(check(d, leaf, int, SystemTime::now()), Ok(()));
    assert_eq!(known(d), 1, "remembered");
    let before = rechecked();
    assert_eq!(check(d, leaf, int, SystemTime::now()), Ok(()));
    assert_eq!(rechecked(), before + 1, "accepted from the cache");
}

#[test]
fn a_known_chain_past_its_leaf_s_not_after_is_refused() {
    let root = ca("Root", None, years(30), None);
    let int = ca("Issuing CA", Some(&root), years(5), None);
    let d = domain(&root, None);
    let good = leaf("a.example", &int, 1, years(1));
    accepted_then_known(&d, &good, &int);
    let before = rechecked();
    assert_eq!(
        check(&d, &good, &int, years(2)),
        Err(VerifyError::Expired),
        "the leaf expired after a year"
    );
    assert_eq!(
        check(&d, &good, &int, SystemTime::now() - 2 * DAY),
        Err(VerifyError::NotYetValid)
    );
    assert_eq!(rechecked(), before, "never accepted from the cache");
}

#[test]
fn a_known_chain_past_its_intermediate_s_not_after_is_refused() {
    let root = ca("Root", None, years(30), None);
    let int = ca("Short-lived CA", Some(&root), years(2), None);
    let d = domain(&root, None);
    let long = leaf("a.example", &int, 1, years(10));
    accepted_then_known(&d, &long, &int);
    assert_eq!(check(&d, &long, &int, years(3)), Err(VerifyError::Expired));
}

#[test]
fn a_known_chain_past_its_anchor_s_not_after_is_refused() {
    let root = ca("Root", None, years(3), None);
    let int = ca("Issuing CA", Some(&root), years(5), None);
    let d = domain(&root, None);
    let long = leaf("a.example", &int, 1, years(10));
    accepted_then_known(&d, &long, &int);
    assert_eq!(check(&d, &long, &int, years(4)), Err(VerifyError::Expired));
}

#[test]
fn the_crls_of_a_known_chain_are_read_again() {
    let root = ca("Root", None, years(30), None);
    let int = ca("Issuing CA", Some(&root), years(5), None);
    let crls = format!("{}{}", crl(&root, &[]), crl(&int, &[]));
    let options = DomainOptions {
        next_update: NextUpdate::Enforce,
        ..DomainOptions::default()
    };
    let d = domain_with(&root, Some(crls), options);
    let good = leaf("a.example", &int, 1, years(1));
    accepted_then_known(&d, &good, &int);
    // The CRLs' nextUpdate is in 30 days: past it, the returning chain is refused.
    assert_eq!(
        check(&d, &good, &int, SystemTime::now() + 31 * DAY),
        Err(VerifyError::CrlExpired)
    );
}

#[test]
fn a_known_chain_revoked_in_the_next_snapshot_is_refused() {
    let root = ca("Root", None, years(30), None);
    let int = ca("Issuing CA", Some(&root), years(5), None);
    let before_revocation = format!("{}{}", crl(&root, &[]), crl(&int, &[]));
    let d = domain(&root, Some(before_revocation));
    let good = leaf("a.example", &int, 7, years(1));
    accepted_then_known(&d, &good, &int);
    // A reload (a CRL updated, or fetched again) builds a new domain: its CRL revokes the leaf.
    let after_revocation = format!("{}{}", crl(&root, &[]), crl(&int, &[&[7]]));
    let reloaded = domain(&root, Some(after_revocation));
    assert!(matches!(
        check(&reloaded, &good, &int, SystemTime::now()),
        Err(VerifyError::Revoked { .. })
    ));
    assert_eq!(known(&reloaded), 0, "a refusal is not remembered");
}

#[test]
fn the_same_leaf_under_another_intermediate_is_verified_in_full() {
    let root = ca("Root", None, years(30), None);
    // Two certificates of one CA, same name and key: one current, one expired.
    let key = KeyPair::generate().unwrap();
    let params = |until: SystemTime| {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "Issuing CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = (SystemTime::now() - 400 * DAY).into();
        params.not_after = until.into();
        params
    };
    let current = params(years(5)).signed_by(&key, &root.issuer).unwrap();
    let expired = params(SystemTime::now() - Duration::from_secs(3600))
        .signed_by(&key, &root.issuer)
        .unwrap();
    let int = Ca {
        der: current.der().clone(),
        pem: current.pem(),
        issuer: Issuer::new(params(years(5)), key),
    };
    let d = domain(&root, None);
    let good = leaf("a.example", &int, 1, years(1));
    accepted_then_known(&d, &good, &int);
    let stale = Ca {
        der: expired.der().clone(),
        pem: expired.pem(),
        issuer: int.issuer,
    };
    let before = rechecked();
    assert_eq!(
        check(&d, &good, &stale, SystemTime::now()),
        Err(VerifyError::Expired),
        "the expired copy of the intermediate is verified in full"
    );
    assert_eq!(rechecked(), before);
}

#[test]
fn a_chain_known_to_one_domain_is_unknown_to_another() {
    let root = ca("Root", None, years(30), None);
    let int = ca("Issuing CA", Some(&root), years(5), None);
    let d = domain(&root, None);
    let good = leaf("a.example", &int, 1, years(1));
    accepted_then_known(&d, &good, &int);
    // Another root of the same name: the intermediate names it, its key did not sign it.
    let other_root = ca("Root", None, years(30), None);
    let other = domain(&other_root, None);
    let before = rechecked();
    assert_eq!(
        check(&other, &good, &int, SystemTime::now()),
        Err(VerifyError::BadSignature)
    );
    assert_eq!((rechecked(), known(&other)), (before, 0));
}

#[test]
fn a_chain_known_for_one_purpose_is_verified_in_full_for_another() {
    let root = ca("Root", None, years(30), None);
    let int = ca("Issuing CA", Some(&root), years(5), None);
    let d = domain(&root, None);
    let client_only = leaf("a.example", &int, 1, years(1));
    accepted_then_known(&d, &client_only, &int);
    let provider = mtls_testkit::tls::provider();
    let as_server = verify(
        &d,
        &provider.signature_verification_algorithms,
        &client_only,
        std::slice::from_ref(&int.der),
        UnixTime::now(),
        Usage::Server,
        false,
    );
    assert!(
        matches!(&as_server, Err(f) if f.error == VerifyError::BadEku),
        "{as_server:?}"
    );
}

#[test]
fn a_refused_chain_is_not_remembered() {
    let root = ca("Root", None, years(30), None);
    let int = ca("Issuing CA", Some(&root), years(5), None);
    let d = domain(
        &root,
        Some(format!("{}{}", crl(&root, &[]), crl(&int, &[&[9]]))),
    );
    let revoked = leaf("a.example", &int, 9, years(1));
    for _ in 0..2 {
        assert!(matches!(
            check(&d, &revoked, &int, SystemTime::now()),
            Err(VerifyError::Revoked { .. })
        ));
    }
    assert_eq!(known(&d), 0);
}
