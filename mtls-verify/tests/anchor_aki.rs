//! The authorityKeyIdentifier of a self-issued trust anchor (RFC 5280 4.2.1.1, CA/Browser
//! Forum Baseline Requirements 7.1.2.1.3): it may be absent, and when present it identifies the
//! anchor's own key by keyIdentifier alone. Roots generated now by rcgen, the extension built by
//! hand.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mtls_policy::PeerVerification;
use rcgen::KeyIdMethod;

mod support;
use support::*;

const AUTHORITY_KEY_IDENTIFIER: &[u64] = &[2, 5, 29, 35];
/// The root's subjectKeyIdentifier (set, not derived, so the tests can name it).
const SKI: [u8; 20] = [0x5a; 20];

/// A root "AKI Root" with subjectKeyIdentifier [`SKI`] and, when given, an authorityKeyIdentifier
/// of `aki_fields` (the contents of its SEQUENCE).
fn root_with_aki(aki_fields: Option<Vec<u8>>) -> TestCa {
    TestCa::root("AKI Root", |p| {
        p.key_identifier_method = KeyIdMethod::PreSpecified(SKI.to_vec());
        if let Some(fields) = aki_fields {
            p.custom_extensions = vec![extension(
                AUTHORITY_KEY_IDENTIFIER,
                tlv(0x30, &fields),
                false,
            )];
        }
    })
}

/// keyIdentifier [0] of `id`.
fn key_id(id: &[u8]) -> Vec<u8> {
    tlv(0x80, id)
}

/// authorityCertIssuer [1] { directoryName [4] { CN=AKI Root } }.
fn cert_issuer() -> Vec<u8> {
    let cn = tlv(
        0x30,
        &[tlv(0x06, &[0x55, 0x04, 0x03]), tlv(0x0c, b"AKI Root")].concat(),
    );
    let name = tlv(0x30, &tlv(0x31, &cn));
    tlv(0xa1, &tlv(0xa4, &name))
}

/// authorityCertSerialNumber [2] 1234.
fn cert_serial() -> Vec<u8> {
    tlv(0x82, &[0x04, 0xd2])
}

fn anchor_refused(root: &TestCa, why: &str) {
    let leaf = root.leaf(|_| {});
    let expected = refused(&format!("the trust anchor (subject \"CN=AKI Root\") {why}"));
    let domain = domain_of(&[root], None).unwrap();
    assert_eq!(verify_server(&domain, &leaf, &[]), expected);
    assert_eq!(verify_client(domain, &leaf, &[]), expected);
}

#[test]
fn a_root_without_or_with_its_own_key_identifier_anchors_paths() {
    for aki in [None, Some(key_id(&SKI))] {
        let root = root_with_aki(aki.clone());
        let leaf = root.leaf(|_| {});
        let domain = domain_of(&[&root], None).unwrap();
        assert_eq!(
            verify_server(&domain, &leaf, &[]),
            PeerVerification::verified(DOMAIN),
            "{aki:?}"
        );
    }
}

#[test]
fn a_root_whose_authority_key_identifier_lacks_the_key_identifier_is_refused() {
    for fields in [vec![], [cert_issuer(), cert_serial()].concat()] {
        anchor_refused(
            &root_with_aki(Some(fields)),
            "has an authorityKeyIdentifier without keyIdentifier; the keyIdentifier MUST be \
             present (RFC 5280 4.2.1.1; a self-signed certificate may omit the whole extension)",
        );
    }
}

#[test]
fn a_root_whose_authority_key_identifier_names_another_key_is_refused() {
    anchor_refused(
        &root_with_aki(Some(key_id(&[1, 2, 3, 4]))),
        "is self-issued but the keyIdentifier of its authorityKeyIdentifier differs from its \
         subjectKeyIdentifier: it MUST identify the certificate's own key (RFC 5280 4.2.1.1, \
         CA/Browser Forum Baseline Requirements 7.1.2.1.3)",
    );
}

#[test]
fn a_root_whose_authority_key_identifier_names_an_issuer_or_serial_is_refused() {
    for extra in [
        cert_issuer(),
        cert_serial(),
        [cert_issuer(), cert_serial()].concat(),
    ] {
        anchor_refused(
            &root_with_aki(Some([key_id(&SKI), extra].concat())),
            "is a root CA certificate whose authorityKeyIdentifier has an authorityCertIssuer \
             or authorityCertSerialNumber, which MUST NOT be present (CA/Browser Forum \
             Baseline Requirements 7.1.2.1.3)",
        );
    }
}

#[test]
fn a_malformed_authority_key_identifier_in_a_root_is_refused() {
    // keyIdentifier with the universal OCTET STRING tag instead of [0].
    anchor_refused(
        &root_with_aki(Some(tlv(0x04, &SKI))),
        "has a malformed authorityKeyIdentifier extension (RFC 5280 4.2.1.1)",
    );
}
