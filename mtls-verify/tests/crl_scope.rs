//! CRLs with an issuingDistributionPoint (RFC 5280 5.2.5, 6.3.3 (b)): a CRL partitioned by
//! distribution point loads, answers for the certificates whose cRLDistributionPoints name
//! its partition, and leaves the status of the others unknown (refused by default, never
//! accepted); onlyContainsUserCerts / onlyContainsCACerts restrict a CRL to leaves / CAs. A CRL
//! signed by a CRL-signing certificate of the CA's name outside the path counts when the peer
//! presents that certificate, issued by a CA of the path and not revoked (6.3.3 (f)).
//! Certificates and CRLs are generated at test time with rcgen.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mtls_core::CrlSet;
use mtls_policy::{PeerVerification, VerifyError};
use rcgen::{
    CertificateRevocationListParams, CrlDistributionPoint, CrlIssuingDistributionPoint, CrlScope,
    IsCa, Issuer, KeyIdMethod, KeyUsagePurpose, RevokedCertParams, SerialNumber, date_time_ymd,
};
use rustls_pki_types::CertificateDer;

mod support;
use support::*;

const PART_A: &str = "http://crl.test/a.crl";
const PART_B: &str = "http://crl.test/b.crl";

/// A CRL of `ca` with `idp`, revoking `serials`.
fn crl(ca: &TestCa, idp: Option<CrlIssuingDistributionPoint>, serials: &[u64]) -> String {
    crl_by(&ca.issuer(), idp, serials)
}

/// A CRL signed by `issuer` with `idp`, revoking `serials`.
fn crl_by(
    issuer: &Issuer<'_, &rcgen::KeyPair>,
    idp: Option<CrlIssuingDistributionPoint>,
    serials: &[u64],
) -> String {
    let params = CertificateRevocationListParams {
        this_update: date_time_ymd(2020, 1, 1),
        next_update: date_time_ymd(2100, 1, 1),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: idp,
        revoked_certs: serials
            .iter()
            .map(|s| RevokedCertParams {
                serial_number: SerialNumber::from(*s),
                revocation_time: date_time_ymd(2020, 1, 1),
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    };
    params.signed_by(issuer).unwrap().pem().unwrap()
}

fn partition(uri: &str, scope: Option<CrlScope>) -> Option<CrlIssuingDistributionPoint> {
    Some(CrlIssuingDistributionPoint {
        distribution_point: CrlDistributionPoint {
            uris: vec![uri.to_owned()],
        },
        scope,
    })
}

/// A leaf of `ca` with `serial` whose cRLDistributionPoints name `uri` (none when `None`).
fn leaf_at(ca: &TestCa, serial: u64, uri: Option<&str>) -> CertificateDer<'static> {
    ca.leaf(|p| {
        p.serial_number = Some(SerialNumber::from(serial));
        p.crl_distribution_points = uri
            .map(|u| CrlDistributionPoint {
                uris: vec![u.to_owned()],
            })
            .into_iter()
            .collect();
    })
}

fn crls(pems: &[String]) -> CrlSet {
    CrlSet::from_bytes(pems.concat().as_bytes(), "crls.pem").unwrap()
}

fn verified(v: &PeerVerification) -> bool {
    matches!(v, PeerVerification::Verified { .. })
}

fn unknown() -> PeerVerification {
    PeerVerification::failed(Some(DOMAIN), VerifyError::RevocationUnknown)
}

#[test]
fn a_partitioned_crl_answers_for_its_partition_only() {
    let root = TestCa::root("Root", |_| {});
    let set = crls(&[crl(&root, partition(PART_A, None), &[7])]);
    let domain = || domain_of(&[&root], Some(&set)).expect("a partitioned CRL loads");

    let in_a = leaf_at(&root, 5, Some(PART_A));
    assert!(verified(&verify_client(domain(), &in_a, &[])));

    let revoked_in_a = leaf_at(&root, 7, Some(PART_A));
    assert!(matches!(
        verify_client(domain(), &revoked_in_a, &[]),
        PeerVerification::Failed {
            error: VerifyError::Revoked { .. },
            ..
        }
    ));

    let in_b = leaf_at(&root, 5, Some(PART_B));
    assert_eq!(verify_client(domain(), &in_b, &[]), unknown());
    let nowhere = leaf_at(&root, 5, None);
    assert_eq!(verify_client(domain(), &nowhere, &[]), unknown());
}

#[test]
fn every_partition_of_the_issuer_covers_its_own_certificates() {
    let root = TestCa::root("Root", |_| {});
    let set = crls(&[
        crl(&root, partition(PART_A, None), &[]),
        crl(&root, partition(PART_B, None), &[9]),
    ]);
    let domain = || domain_of(&[&root], Some(&set)).unwrap();
    assert!(verified(&verify_client(
        domain(),
        &leaf_at(&root, 9, Some(PART_A)),
        &[]
    )));
    assert!(!verified(&verify_client(
        domain(),
        &leaf_at(&root, 9, Some(PART_B)),
        &[]
    )));
}

#[test]
fn a_crl_of_ca_certificates_only_says_nothing_about_leaves() {
    let root = TestCa::root("Root", |_| {});
    let int = root.intermediate("Issuing CA", |_| {});
    let only_ca = CrlIssuingDistributionPoint {
        distribution_point: CrlDistributionPoint { uris: Vec::new() },
        scope: Some(CrlScope::CaCertsOnly),
    };
    let only_user = CrlIssuingDistributionPoint {
        distribution_point: CrlDistributionPoint { uris: Vec::new() },
        scope: Some(CrlScope::UserCertsOnly),
    };
    let leaf = leaf_at(&int, 3, None);
    let chain = [int.der().clone()];

    // The intermediate's CRL covers CAs only: its leaf's status is unknown.
    let set = crls(&[crl(&root, None, &[]), crl(&int, Some(only_ca), &[])]);
    let domain = domain_of(&[&root], Some(&set)).unwrap();
    assert_eq!(verify_client(domain, &leaf, &chain), unknown());

    // The root's CRL covers leaves only: the intermediate's status is unknown.
    let set = crls(&[
        crl(&root, Some(only_user.clone()), &[]),
        crl(&int, None, &[]),
    ]);
    let domain = domain_of(&[&root], Some(&set)).unwrap();
    assert_eq!(verify_client(domain, &leaf, &chain), unknown());

    // Each in its scope: verified.
    let only_ca = CrlIssuingDistributionPoint {
        distribution_point: CrlDistributionPoint { uris: Vec::new() },
        scope: Some(CrlScope::CaCertsOnly),
    };
    let set = crls(&[
        crl(&root, Some(only_ca), &[]),
        crl(&int, Some(only_user), &[]),
    ]);
    let domain = domain_of(&[&root], Some(&set)).unwrap();
    assert!(verified(&verify_client(domain, &leaf, &chain)));
}

#[test]
fn a_crl_signing_certificate_outside_the_path_signs_for_its_ca_while_not_revoked() {
    let root = TestCa::root("Root", |_| {});
    let int = root.intermediate("Issuing CA", |p| {
        p.serial_number = Some(SerialNumber::from(2u64));
    });
    // The root certifies a second key for the name "Issuing CA", for CRLs only.
    let crl_key = root.intermediate("Issuing CA", |p| {
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::CrlSign];
        p.serial_number = Some(SerialNumber::from(3u64));
    });
    let leaf = leaf_at(&int, 5, None);
    let revoked_leaf = leaf_at(&int, 6, None);
    let by_crl_key = crl(&crl_key, None, &[6]);
    let set = crls(&[crl(&root, None, &[]), by_crl_key.clone()]);
    let domain = || domain_of(&[&root], Some(&set)).unwrap();

    // Without the CRL-signing certificate, nothing verifies the intermediate's CRL.
    assert_eq!(
        verify_client(domain(), &leaf, &[int.der().clone()]),
        unknown()
    );
    let presented = [int.der().clone(), crl_key.der().clone()];
    assert!(verified(&verify_client(domain(), &leaf, &presented)));
    assert!(matches!(
        verify_client(domain(), &revoked_leaf, &presented),
        PeerVerification::Failed {
            error: VerifyError::Revoked { .. },
            ..
        }
    ));

    // The root revokes the CRL-signing certificate: its CRLs no longer count.
    let set = crls(&[crl(&root, None, &[3]), by_crl_key]);
    let domain = domain_of(&[&root], Some(&set)).unwrap();
    assert_eq!(verify_client(domain, &leaf, &presented), unknown());
}

#[test]
fn a_scoped_crl_of_an_anchor_without_crl_sign_refuses_the_trust_domain() {
    let root = TestCa::root("Root", |p| {
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign]
    });
    // Signed with the root's key all the same (rcgen checks the usage it is told).
    let mut params = root.params.clone();
    params.key_usages.push(KeyUsagePurpose::CrlSign);
    let issuer = Issuer::new(params, &root.key);
    let set = crls(&[crl_by(&issuer, partition(PART_A, None), &[])]);
    assert!(matches!(
        domain_of(&[&root], Some(&set)),
        Err(mtls_verify::TrustError::CrlIssuerNotCrlSigner { index: 0, .. })
    ));
}
