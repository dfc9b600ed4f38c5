//! The RFC 5280 profile checks the gateway makes on a verified path (beyond rustls-webpki) and
//! on CRLs at load, each with certificates generated now by rcgen (custom extensions where the
//! test kit cannot express the fault), asserting the exact error.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mtls_policy::{PeerVerification, VerifyError};
use mtls_verify::{CrlError, TrustError};
use rcgen::{DistinguishedName, IsCa, KeyPair, KeyUsagePurpose};
use rustls_pki_types::CertificateDer;

mod support;
use support::*;

#[test]
fn a_conforming_chain_with_name_constraints_and_aia_passes() {
    let root = TestCa::root("Profile Root", |_| {});
    let ica = root.intermediate("Profile ICA", |p| {
        p.custom_extensions = vec![extension(NAME_CONSTRAINTS, PERMIT_DOT_TEST.to_vec(), true)];
    });
    // authorityInfoAccess { caIssuers URI "http://ca.test/" }
    let ca_issuers = tlv(0x06, &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02]);
    let aia = tlv(
        0x30,
        &tlv(0x30, &[ca_issuers, tlv(0x86, b"http://ca.test/")].concat()),
    );
    let leaf = ica.leaf(|p| {
        p.custom_extensions = vec![extension(&[1, 3, 6, 1, 5, 5, 7, 1, 1], aia, false)];
    });
    let domain = domain_of(&[&root], None).unwrap();
    let chain = [ica.der().clone()];
    assert_eq!(
        verify_server(&domain, &leaf, &chain),
        PeerVerification::verified(DOMAIN)
    );
    assert_eq!(
        verify_client(domain, &leaf, &chain),
        PeerVerification::verified(DOMAIN)
    );
}

#[test]
fn a_leaf_with_name_constraints_is_refused() {
    let root = TestCa::root("Profile Root", |_| {});
    let expected = refused(
        "the end-entity certificate (subject \"CN=server.test\") has a nameConstraints \
         extension, which only a CA certificate may carry (RFC 5280 4.2.1.10)",
    );
    for critical in [true, false] {
        let leaf = root.leaf(|p| {
            p.custom_extensions = vec![extension(
                NAME_CONSTRAINTS,
                PERMIT_DOT_TEST.to_vec(),
                critical,
            )];
        });
        let domain = domain_of(&[&root], None).unwrap();
        assert_eq!(
            verify_server(&domain, &leaf, &[]),
            expected,
            "critical {critical}"
        );
        assert_eq!(
            verify_client(domain, &leaf, &[]),
            expected,
            "critical {critical}"
        );
    }
}

#[test]
fn an_intermediate_with_empty_name_constraints_is_refused() {
    let root = TestCa::root("Profile Root", |_| {});
    let cases: [(&[u8], &str); 3] = [
        // NameConstraints ::= SEQUENCE {} (neither field)
        (
            &[0x30, 0x00],
            "has a nameConstraints extension with neither permittedSubtrees nor \
             excludedSubtrees (RFC 5280 4.2.1.10: it MUST NOT be empty)",
        ),
        // both fields present as empty sequences
        (
            &[0x30, 0x04, 0xa0, 0x00, 0xa1, 0x00],
            "has a nameConstraints extension with an empty permittedSubtrees or \
             excludedSubtrees (RFC 5280 4.2.1.10: GeneralSubtrees ::= SEQUENCE SIZE (1..MAX))",
        ),
        // an empty excludedSubtrees after a valid permittedSubtrees
        (
            &[
                0x30, 0x0c, 0xa0, 0x08, 0x30, 0x06, 0x82, 0x04, b't', b'e', b's', b't', 0xa1, 0x00,
            ],
            "has a nameConstraints extension with an empty permittedSubtrees or \
             excludedSubtrees (RFC 5280 4.2.1.10: GeneralSubtrees ::= SEQUENCE SIZE (1..MAX))",
        ),
    ];
    for (value, problem) in cases {
        let ica = root.intermediate("Profile ICA", |p| {
            p.custom_extensions = vec![extension(NAME_CONSTRAINTS, value.to_vec(), true)];
        });
        let leaf = ica.leaf(|_| {});
        let domain = domain_of(&[&root], None).unwrap();
        assert_eq!(
            verify_server(&domain, &leaf, &[ica.der().clone()]),
            refused(&format!(
                "intermediate CA certificate 1 (subject \"CN=Profile ICA\") {problem}"
            )),
        );
    }
}

#[test]
fn an_anchor_with_empty_name_constraints_is_refused() {
    let root = TestCa::root("Profile Root", |p| {
        p.custom_extensions = vec![extension(NAME_CONSTRAINTS, vec![0x30, 0x00], true)];
    });
    let leaf = root.leaf(|_| {});
    let domain = domain_of(&[&root], None).unwrap();
    assert_eq!(
        verify_server(&domain, &leaf, &[]),
        refused(
            "the trust anchor (subject \"CN=Profile Root\") has a nameConstraints extension \
             with neither permittedSubtrees nor excludedSubtrees (RFC 5280 4.2.1.10: it MUST \
             NOT be empty)"
        ),
    );
}

#[test]
fn a_non_ca_leaf_asserting_key_cert_sign_is_refused() {
    let root = TestCa::root("Profile Root", |_| {});
    let expected = refused(
        "the end-entity certificate (subject \"CN=server.test\") asserts keyCertSign in its \
         keyUsage without basicConstraints cA=TRUE (RFC 5280 4.2.1.3, 4.2.1.9)",
    );
    for is_ca in [IsCa::ExplicitNoCa, IsCa::NoCa] {
        let leaf = root.leaf(|p| {
            p.is_ca = is_ca;
            p.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyCertSign,
            ];
        });
        let domain = domain_of(&[&root], None).unwrap();
        assert_eq!(verify_server(&domain, &leaf, &[]), expected);
        assert_eq!(verify_client(domain, &leaf, &[]), expected);
    }
}

#[test]
fn a_ca_with_an_empty_subject_is_refused() {
    // As the trust anchor.
    let root = TestCa::root("Profile Root", |p| {
        p.distinguished_name = DistinguishedName::new()
    });
    let leaf = root.leaf(|_| {});
    let domain = domain_of(&[&root], None).unwrap();
    assert_eq!(
        verify_server(&domain, &leaf, &[]),
        refused(
            "the trust anchor (subject \"\") has an empty subject; a CA's subject MUST be a \
             non-empty distinguished name (RFC 5280 4.1.2.6)"
        ),
    );

    // As an intermediate.
    let root = TestCa::root("Profile Root", |_| {});
    let ica = root.intermediate("unused", |p| {
        p.distinguished_name = DistinguishedName::new()
    });
    let leaf = ica.leaf(|_| {});
    let domain = domain_of(&[&root], None).unwrap();
    assert_eq!(
        verify_server(&domain, &leaf, &[ica.der().clone()]),
        refused(
            "intermediate CA certificate 1 (subject \"\") has an empty subject; a CA's subject \
             MUST be a non-empty distinguished name (RFC 5280 4.1.2.6)"
        ),
    );
}

#[test]
fn an_anchor_with_an_unprocessed_critical_extension_is_refused() {
    let cases: [(&[u64], Vec<u8>, &str); 3] = [
        // A private extension nobody processes.
        (
            &[1, 3, 6, 1, 4, 1, 55738, 666, 1],
            vec![0x05, 0x00],
            "1.3.6.1.4.1.55738.666.1",
        ),
        // authorityKeyIdentifier { keyIdentifier }: MUST be non-critical.
        (
            &[2, 5, 29, 35],
            vec![0x30, 0x06, 0x80, 0x04, 1, 2, 3, 4],
            "2.5.29.35 (authorityKeyIdentifier)",
        ),
        // subjectKeyIdentifier: MUST be non-critical.
        (
            &[2, 5, 29, 14],
            vec![0x04, 0x04, 1, 2, 3, 4],
            "2.5.29.14 (subjectKeyIdentifier)",
        ),
    ];
    for (oid, value, shown) in cases {
        let root = TestCa::root("Profile Root", |p| {
            p.custom_extensions = vec![extension(oid, value, true)];
        });
        let leaf = root.leaf(|_| {});
        let domain = domain_of(&[&root], None).unwrap();
        assert_eq!(
            verify_server(&domain, &leaf, &[]),
            refused(&format!(
                "the trust anchor (subject \"CN=Profile Root\") has a critical extension \
                 {shown} that is not processed; a certificate with an unprocessed critical \
                 extension MUST be rejected (RFC 5280 4.2)"
            )),
        );
    }
}

/// A conforming, currently valid certificate for `original`'s name and key (`name` is its
/// common name): the same trust anchor, re-issued. `original` keeps issuing.
fn reissued(original: &TestCa, name: &str) -> TestCa {
    TestCa {
        cert: ca_params(name).self_signed(&original.key).unwrap(),
        params: ca_params(name),
        key: KeyPair::generate().unwrap(), // unused: `original` issues
    }
}

/// Asserts `leaf` verifies against a bundle of both certificates, in either order.
fn verified_in_either_order(a: &TestCa, b: &TestCa, leaf: &CertificateDer<'_>) {
    for bundle in [[a, b], [b, a]] {
        let domain = domain_of(&bundle, None).unwrap();
        assert_eq!(domain.bundle().len(), 2);
        assert_eq!(
            verify_server(&domain, leaf, &[]),
            PeerVerification::verified(DOMAIN)
        );
    }
}

#[test]
fn a_conforming_certificate_of_the_same_anchor_in_the_bundle_keeps_it_usable() {
    // The same name and key, once with an unprocessed critical extension and once without (a
    // root re-issued to fix it): the anchor stays usable.
    let faulty = TestCa::root("Profile Root", |p| {
        p.custom_extensions = vec![extension(
            &[1, 3, 6, 1, 4, 1, 55738, 666, 1],
            vec![0x05, 0x00],
            true,
        )];
    });
    let fixed = reissued(&faulty, "Profile Root");
    let leaf = faulty.leaf(|_| {});
    verified_in_either_order(&faulty, &fixed, &leaf);
    // Alone, the faulty certificate anchors nothing.
    let domain = domain_of(&[&faulty], None).unwrap();
    assert!(matches!(
        verify_server(&domain, &leaf, &[]),
        PeerVerification::Failed { error: VerifyError::Other(m), .. } if m.contains("critical extension")
    ));
}

#[test]
fn an_expired_anchor_renewed_in_the_bundle_stays_usable() {
    // The same name and key: a certificate that expired in 2020, and its renewal. Either order
    // in the bundle, the anchor's latest notAfter counts; the expired one alone is refused.
    let expired = TestCa::root("Renewed Root", |p| {
        p.not_before = rcgen::date_time_ymd(2015, 1, 1);
        p.not_after = rcgen::date_time_ymd(2020, 1, 1);
    });
    let renewed = reissued(&expired, "Renewed Root");
    let leaf = expired.leaf(|_| {});
    verified_in_either_order(&expired, &renewed, &leaf);
    let domain = domain_of(&[&expired], None).unwrap();
    assert_eq!(
        verify_server(&domain, &leaf, &[]),
        PeerVerification::failed(Some(DOMAIN), VerifyError::Expired)
    );
}

#[test]
fn a_malformed_authority_info_access_is_refused() {
    let root = TestCa::root("Profile Root", |_| {});
    let leaf = root.leaf(|p| {
        p.custom_extensions = vec![extension(
            &[1, 3, 6, 1, 5, 5, 7, 1, 1],
            b"malformed".to_vec(),
            false,
        )];
    });
    let domain = domain_of(&[&root], None).unwrap();
    assert_eq!(
        verify_server(&domain, &leaf, &[]),
        refused(
            "the end-entity certificate (subject \"CN=server.test\") has a malformed \
             authorityInfoAccess extension (RFC 5280 4.2.2: not the DER of its syntax)"
        ),
    );
}

#[test]
fn a_crl_with_a_non_critical_crl_number_loads() {
    let root = TestCa::root("Profile Root", |_| {});
    let crls = crl_of(&root, Some(false));
    let domain = domain_of(&[&root], Some(&crls)).unwrap();
    assert_eq!(domain.revocation().map(|r| r.crl_count()), Some(1));
    let leaf = root.leaf(|_| {});
    assert_eq!(
        verify_server(&domain, &leaf, &[]),
        PeerVerification::verified(DOMAIN)
    );
}

#[test]
fn a_crl_without_a_crl_number_is_accepted() {
    // RFC 5280 5.2.3 requires the extension, but OpenSSL `ca -gencrl` omits it unless
    // configured and rustls accepts such CRLs: refusing it would refuse the trust domain.
    let root = TestCa::root("Profile Root", |_| {});
    let crls = crl_of(&root, None);
    let domain = domain_of(&[&root], Some(&crls)).expect("a CRL without cRLNumber loads");
    assert_eq!(domain.revocation().map(|r| r.crl_count()), Some(1));
}

#[test]
fn a_crl_with_a_critical_crl_number_is_refused_at_load() {
    let root = TestCa::root("Profile Root", |_| {});
    let crls = crl_of(&root, Some(true));
    let err = domain_of(&[&root], Some(&crls)).unwrap_err();
    assert!(
        matches!(
            &err,
            TrustError::Crl { domain, source: CrlError::CriticalCrlNumber { index: 0, issuer } }
                if domain == DOMAIN && issuer == "CN=Profile Root"
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "trust domain \"profile\": CRL 0 (issuer CN=Profile Root): its cRLNumber extension is \
         marked critical, which it MUST NOT be (RFC 5280 5.2.3)"
    );
}
