//! The criticality of the subjectAltName against the subject. With an empty subject it MUST be
//! critical (RFC 5280 4.1.2.6, 4.2.1.6): such a leaf with a critical subjectAltName verifies,
//! one with a non-critical subjectAltName or none is refused for either purpose. With a
//! non-empty subject a server's certificate MUST NOT mark it critical (CA/Browser Forum
//! Baseline Requirements 7.1.2.7.12): refused as a server, accepted as a client. Certificates
//! generated now by rcgen (the subjectAltName built by hand where rcgen would choose its
//! criticality).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mtls_policy::PeerVerification;
use rcgen::DistinguishedName;

mod support;
use support::*;

const SUBJECT_ALT_NAME: &[u64] = &[2, 5, 29, 17];

/// subjectAltName { dNSName HOST }.
fn san_of_host() -> Vec<u8> {
    tlv(0x30, &tlv(0x82, HOST.as_bytes()))
}

#[test]
fn an_empty_subject_with_a_critical_subject_alt_name_verifies() {
    let root = TestCa::root("Subject Root", |_| {});
    let leaf = root.leaf(|p| {
        p.distinguished_name = DistinguishedName::new();
        p.subject_alt_names.clear();
        p.custom_extensions = vec![extension(SUBJECT_ALT_NAME, san_of_host(), true)];
    });
    let domain = domain_of(&[&root], None).unwrap();
    assert_eq!(
        verify_server(&domain, &leaf, &[]),
        PeerVerification::verified(DOMAIN)
    );
    assert_eq!(
        verify_client(domain, &leaf, &[]),
        PeerVerification::verified(DOMAIN)
    );
}

#[test]
fn a_server_with_a_non_empty_subject_and_a_critical_subject_alt_name_is_refused() {
    let root = TestCa::root("Subject Root", |_| {});
    let leaf = root.leaf(|p| {
        p.subject_alt_names.clear();
        p.custom_extensions = vec![extension(SUBJECT_ALT_NAME, san_of_host(), true)];
    });
    let domain = domain_of(&[&root], None).unwrap();
    assert_eq!(
        verify_server(&domain, &leaf, &[]),
        refused(
            "the server's end-entity certificate (subject \"CN=server.test\") has a non-empty \
             subject and a critical subjectAltName, which MUST NOT then be critical (CA/Browser \
             Forum Baseline Requirements 7.1.2.7.12)"
        )
    );
    // The rule is the TLS server certificate profile's: a client may present such a certificate.
    assert_eq!(
        verify_client(domain, &leaf, &[]),
        PeerVerification::verified(DOMAIN)
    );
}

#[test]
fn a_non_empty_subject_with_a_non_critical_subject_alt_name_verifies() {
    let root = TestCa::root("Subject Root", |_| {});
    let leaf = root.leaf(|p| {
        p.subject_alt_names.clear();
        p.custom_extensions = vec![extension(SUBJECT_ALT_NAME, san_of_host(), false)];
    });
    let domain = domain_of(&[&root], None).unwrap();
    assert_eq!(
        verify_server(&domain, &leaf, &[]),
        PeerVerification::verified(DOMAIN)
    );
}

#[test]
fn an_empty_subject_without_a_critical_subject_alt_name_is_refused() {
    let root = TestCa::root("Subject Root", |_| {});
    let expected = refused(
        "the end-entity certificate (subject \"\") has an empty subject without a critical \
         subjectAltName; its names MUST then be in a subjectAltName marked critical (RFC 5280 \
         4.1.2.6, 4.2.1.6)",
    );
    let non_critical = root.leaf(|p| {
        p.distinguished_name = DistinguishedName::new();
        p.subject_alt_names.clear();
        p.custom_extensions = vec![extension(SUBJECT_ALT_NAME, san_of_host(), false)];
    });
    let domain = domain_of(&[&root], None).unwrap();
    assert_eq!(verify_server(&domain, &non_critical, &[]), expected);
    assert_eq!(verify_client(domain, &non_critical, &[]), expected);

    let no_names = root.leaf(|p| {
        p.distinguished_name = DistinguishedName::new();
        p.subject_alt_names.clear();
    });
    let domain = domain_of(&[&root], None).unwrap();
    assert_eq!(verify_client(domain, &no_names, &[]), expected);
}
