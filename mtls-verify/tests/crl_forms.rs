//! CRL forms rcgen does not write, encoded here and signed with the CA's key at test time:
//! delta CRLs (RFC 5280 5.2.4), onlySomeReasons partitions (5.2.5) and CRLs with a critical
//! extension nobody knows (5.2). Each loads; what it answers follows RFC 5280 6.3.3, and where
//! the CRLs that count cannot tell, the status is unknown (refused).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mtls_core::CrlSet;
use mtls_policy::{PeerVerification, VerifyError};
use rcgen::{SerialNumber, SigningKey as _};
use x509_parser::prelude::FromDer as _;

mod support;
use support::*;

/// ecdsa-with-SHA256, rcgen's default key's algorithm.
const ECDSA_SHA256: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];
const CERTIFICATE_HOLD: u8 = 6;
const REMOVE_FROM_CRL: u8 = 8;

/// One extension: id-ce `n`, critical or not, with `value`.
fn ext(n: u8, critical: bool, value: &[u8]) -> Vec<u8> {
    let mut fields = tlv(0x06, &[0x55, 0x1d, n]);
    if critical {
        fields.extend(tlv(0x01, &[0xff]));
    }
    fields.extend(tlv(0x04, value));
    tlv(0x30, &fields)
}

fn integer(n: u8) -> Vec<u8> {
    tlv(0x02, &[n])
}

/// A CRL of `ca`: number `number`, `extensions` besides cRLNumber, entries (serial, reason).
fn crl(ca: &TestCa, number: u8, extensions: &[Vec<u8>], entries: &[(u8, Option<u8>)]) -> String {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(ca.der()).unwrap();
    let time = |t: &str| tlv(0x17, t.as_bytes());
    let revoked: Vec<u8> = entries
        .iter()
        .flat_map(|(serial, reason)| {
            let mut entry = [integer(*serial), time("200101000000Z")].concat();
            if let Some(r) = reason {
                entry.extend(tlv(0x30, &ext(21, false, &tlv(0x0a, &[*r]))));
            }
            tlv(0x30, &entry)
        })
        .collect();
    let mut exts = ext(20, false, &integer(number));
    exts.extend(extensions.concat());
    let mut tbs = [
        integer(1),
        ECDSA_SHA256.to_vec(),
        cert.subject().as_raw().to_vec(),
        time("200101000000Z"),
        time("491231000000Z"),
    ]
    .concat();
    if !revoked.is_empty() {
        tbs.extend(tlv(0x30, &revoked));
    }
    tbs.extend(tlv(0xa0, &tlv(0x30, &exts)));
    let tbs = tlv(0x30, &tbs);
    let signature = ca.key.sign(&tbs).unwrap();
    let mut bits = vec![0];
    bits.extend(signature);
    pem(&tlv(
        0x30,
        &[tbs, ECDSA_SHA256.to_vec(), tlv(0x03, &bits)].concat(),
    ))
}

fn pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN X509 CRL-----\n{}\n-----END X509 CRL-----\n",
        lines.join("\n")
    )
}

/// deltaCRLIndicator (critical) with BaseCRLNumber `base`.
fn delta_of(base: u8) -> Vec<u8> {
    ext(27, true, &integer(base))
}

/// issuingDistributionPoint (critical) with onlySomeReasons `bits` (first byte of ReasonFlags).
fn only_some_reasons(bits: u8) -> Vec<u8> {
    ext(28, true, &tlv(0x30, &tlv(0x83, &[0x00, bits])))
}

/// The client verification of a leaf of `root` with `serial`, under `crls`.
fn verify(root: &TestCa, crls: &[&str], serial: u64) -> PeerVerification {
    let set = CrlSet::from_bytes(crls.concat().as_bytes(), "crls.pem").unwrap();
    let domain = domain_of(&[root], Some(&set)).expect("every form loads");
    let leaf = root.leaf(|p| p.serial_number = Some(SerialNumber::from(serial)));
    verify_client(domain, &leaf, &[])
}

fn unknown() -> PeerVerification {
    PeerVerification::failed(Some(DOMAIN), VerifyError::RevocationUnknown)
}

fn revoked(v: &PeerVerification) -> bool {
    matches!(
        v,
        PeerVerification::Failed {
            error: VerifyError::Revoked { .. },
            ..
        }
    )
}

fn verified(v: &PeerVerification) -> bool {
    matches!(v, PeerVerification::Verified { .. })
}

#[test]
fn a_delta_crl_revokes_and_releases_holds_of_its_complete_crl() {
    let root = TestCa::root("Root", |_| {});
    let complete = crl(&root, 4, &[], &[(7, Some(CERTIFICATE_HOLD))]);
    let delta = crl(
        &root,
        5,
        &[delta_of(4)],
        &[(7, Some(REMOVE_FROM_CRL)), (8, None)],
    );
    let both = [complete.as_str(), delta.as_str()];

    assert!(verified(&verify(&root, &both, 6)), "listed nowhere");
    assert!(revoked(&verify(&root, &both, 8)), "revoked by the delta");
    assert!(verified(&verify(&root, &both, 7)), "hold released");
    assert!(
        revoked(&verify(&root, &[&complete], 7)),
        "on hold without it"
    );
    assert_eq!(verify(&root, &[&delta], 6), unknown(), "a delta alone");

    // A delta CRL of another base does not release the hold.
    let complete = crl(&root, 2, &[], &[(7, Some(CERTIFICATE_HOLD))]);
    let later_base = crl(&root, 5, &[delta_of(3)], &[(7, Some(REMOVE_FROM_CRL))]);
    assert!(revoked(&verify(&root, &[&complete, &later_base], 7)));
}

#[test]
fn reason_partitions_answer_only_together() {
    let root = TestCa::root("Root", |_| {});
    // keyCompromise and cACompromise (bits 1, 2); every other reason (bits 3-7 and 8).
    let compromise = crl(&root, 1, &[only_some_reasons(0x60)], &[(9, Some(1))]);
    let others = crl(
        &root,
        1,
        &[ext(28, true, &tlv(0x30, &tlv(0x83, &[0x00, 0x1f, 0x80])))],
        &[],
    );

    assert_eq!(verify(&root, &[&compromise], 6), unknown());
    assert!(revoked(&verify(&root, &[&compromise], 9)));
    assert!(verified(&verify(&root, &[&compromise, &others], 6)));
}

#[test]
fn a_crl_with_an_unknown_critical_extension_answers_for_nothing() {
    let root = TestCa::root("Root", |_| {});
    let unknown_ext = crl(&root, 1, &[ext(99, true, &[0x05, 0x00])], &[(9, None)]);
    assert_eq!(verify(&root, &[&unknown_ext], 6), unknown());
    assert_eq!(verify(&root, &[&unknown_ext], 9), unknown());
}
