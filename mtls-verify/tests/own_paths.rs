//! Our own RFC 5280 path validation where rustls-webpki refuses a case it documents as
//! unsupported (names chained per RFC 5280 7.1, self-issued intermediates, URI and rfc822Name
//! name constraints, critical policy extensions), and the veto: a refusal of webpki for any
//! other reason stands. Certificates generated at test time with rcgen.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mtls_policy::{PeerVerification, VerifyError};
use mtls_verify::LoadedTrustDomain;
use rcgen::{BasicConstraints, DistinguishedName, DnType, DnValue, IsCa, SanType};

mod support;
use support::*;

/// A critical extension `oid` with `value`.
fn critical(oid: &[u64], value: Vec<u8>) -> rcgen::CustomExtension {
    extension(oid, value, true)
}

/// NameConstraints with `permitted` and `excluded` subtrees, each (GeneralName tag, value).
fn name_constraints(permitted: &[(u8, &[u8])], excluded: &[(u8, &[u8])]) -> Vec<u8> {
    let subtrees = |tag: u8, trees: &[(u8, &[u8])]| {
        let inner: Vec<u8> = trees
            .iter()
            .flat_map(|(t, v)| tlv(0x30, &tlv(*t, v)))
            .collect();
        if trees.is_empty() {
            Vec::new()
        } else {
            tlv(tag, &inner)
        }
    };
    let mut body = subtrees(0xa0, permitted);
    body.extend(subtrees(0xa1, excluded));
    tlv(0x30, &body)
}

const URI: u8 = 0x86;
const RFC822: u8 = 0x81;
const CERTIFICATE_POLICIES: &[u64] = &[2, 5, 29, 32];
const POLICY_MAPPINGS: &[u64] = &[2, 5, 29, 33];
const POLICY_CONSTRAINTS: &[u64] = &[2, 5, 29, 36];
/// 2.16.840.1.101.3.2.1.48.1 and .2 (PKITS test policies), as OBJECT IDENTIFIER TLVs.
const P1: &[u8] = &[
    0x06, 0x0a, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x02, 0x01, 0x30, 0x01,
];
const P2: &[u8] = &[
    0x06, 0x0a, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x02, 0x01, 0x30, 0x02,
];

/// certificatePolicies asserting `policies` (OID TLVs).
fn policies(policies: &[&[u8]]) -> Vec<u8> {
    let infos: Vec<u8> = policies.iter().flat_map(|p| tlv(0x30, p)).collect();
    tlv(0x30, &infos)
}

/// policyConstraints { requireExplicitPolicy 0 }.
fn require_explicit_policy() -> Vec<u8> {
    tlv(0x30, &[0x80, 0x01, 0x00])
}

fn verified() -> PeerVerification {
    PeerVerification::verified(DOMAIN)
}

fn refusal(outcome: &PeerVerification) -> String {
    match outcome {
        PeerVerification::Failed {
            error: VerifyError::Other(m),
            ..
        } => m.clone(),
        PeerVerification::Failed { error, .. } => format!("{error:?}"),
        other => panic!("accepted: {other:?}"),
    }
}

/// A CA constrained to the SPIFFE trust domain `example.org` (a URI constraint) issues its
/// workloads, and nothing outside it.
#[test]
fn a_spiffe_trust_domain_constraint_admits_its_workloads_only() {
    let root = TestCa::root("Root", |_| {});
    let nc = name_constraints(&[(URI, b"example.org")], &[]);
    let int = root.intermediate("SPIFFE CA", |p| {
        p.custom_extensions = vec![critical(NAME_CONSTRAINTS, nc)];
    });
    let spiffe =
        |id: &str| int.leaf(|p| p.subject_alt_names = vec![SanType::URI(id.try_into().unwrap())]);
    let chain = [int.der().clone()];
    let inside = spiffe("spiffe://example.org/ns/default/sa/web");
    let domain = || domain_of(&[&root], None).unwrap();
    assert_eq!(verify_client(domain(), &inside, &chain), verified());
    let outside = spiffe("spiffe://evil.example/ns/default/sa/web");
    let why = refusal(&verify_client(domain(), &outside, &chain));
    assert!(
        why.contains("spiffe://evil.example/ns/default/sa/web") && why.contains("permits"),
        "{why}"
    );
}

/// rfc822Name constraints: a permitted host admits its mailboxes; an excluded host refuses a
/// mailbox named only by the subject's emailAddress attribute (no subjectAltName).
#[test]
fn e_mail_constraints_apply_to_san_and_subject_email_address() {
    let root = TestCa::root("Root", |_| {});
    let nc = name_constraints(&[(RFC822, b"example.com")], &[(RFC822, b"evil.example")]);
    let int = root.intermediate("Mail CA", |p| {
        p.custom_extensions = vec![critical(NAME_CONSTRAINTS, nc)];
    });
    let chain = [int.der().clone()];
    let domain = || domain_of(&[&root], None).unwrap();
    let mail = |address: &str| {
        int.leaf(|p| {
            p.subject_alt_names = vec![SanType::Rfc822Name(address.try_into().unwrap())];
        })
    };
    assert_eq!(
        verify_client(domain(), &mail("alice@example.com"), &chain),
        verified()
    );
    let why = refusal(&verify_client(
        domain(),
        &mail("mallory@other.example"),
        &chain,
    ));
    assert!(why.contains("mallory@other.example"), "{why}");
    let why = refusal(&verify_client(
        domain(),
        &mail("invalid@address@example.com"),
        &chain,
    ));
    assert!(why.contains("invalid@address@example.com"), "{why}");

    let in_subject = int.leaf(|p| {
        p.subject_alt_names = Vec::new();
        p.distinguished_name.push(
            DnType::CustomDnType(vec![1, 2, 840, 113_549, 1, 9, 1]),
            DnValue::Ia5String("mallory@evil.example".try_into().unwrap()),
        );
    });
    let why = refusal(&verify_client(domain(), &in_subject, &chain));
    assert!(
        why.contains("mallory@evil.example") && why.contains("excludes"),
        "{why}"
    );
}

/// The issuer name of a leaf in another string type, case and spacing than its CA's subject
/// is the same name (RFC 5280 7.1); another name is not.
#[test]
fn names_chain_per_rfc_5280_7_1() {
    let root = TestCa::root("Root", |_| {});
    let int = root.intermediate("unused", |p| {
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(
            DnType::CommonName,
            DnValue::PrintableString("Issuing CA".try_into().unwrap()),
        );
    });
    let chain = [int.der().clone()];
    let renamed = |name: &str| {
        let mut params = int.params.clone();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, DnValue::Utf8String(name.into()));
        TestCa {
            params,
            key: rcgen::KeyPair::try_from(int.key.serialize_der().as_slice()).unwrap(),
            cert: int.cert.clone(),
        }
    };
    let domain = || domain_of(&[&root], None).unwrap();
    let same = renamed("  issuing   CA ").leaf(|_| {});
    assert_eq!(verify_client(domain(), &same, &chain), verified());
    let other = renamed("Issuing CB").leaf(|_| {});
    assert!(matches!(
        verify_client(domain(), &other, &chain),
        PeerVerification::Failed { .. }
    ));
}

/// Key rollover: a self-issued intermediate (same name, new key, signed by the old key) below a
/// CA whose pathLenConstraint is 0 is not counted (RFC 5280 6.1.4 (l)).
#[test]
fn a_self_issued_rollover_certificate_is_not_counted_by_path_length() {
    let root = TestCa::root("Root", |_| {});
    let old = root.intermediate("Rollover CA", |p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    });
    let new = old.intermediate("Rollover CA", |_| {});
    let leaf = new.leaf(|_| {});
    let chain = [new.der().clone(), old.der().clone()];
    assert_eq!(
        verify_client(domain_of(&[&root], None).unwrap(), &leaf, &chain),
        verified()
    );
    // A CA that is not self-issued at that place exceeds the constraint.
    let other = old.intermediate("Other CA", |_| {});
    let leaf = other.leaf(|_| {});
    let chain = [other.der().clone(), old.der().clone()];
    assert!(matches!(
        verify_client(domain_of(&[&root], None).unwrap(), &leaf, &chain),
        PeerVerification::Failed { .. }
    ));
}

/// Critical policy extensions webpki refuses are processed: a mapping carries P1 to P2, a
/// required explicit policy no certificate satisfies refuses the path.
#[test]
fn critical_policy_extensions_are_processed() {
    let root = TestCa::root("Root", |_| {});
    let mapping = tlv(0x30, &tlv(0x30, &[P1, P2].concat()));
    let int = root.intermediate("Policy CA", |p| {
        p.custom_extensions = vec![
            critical(CERTIFICATE_POLICIES, policies(&[P1])),
            critical(POLICY_MAPPINGS, mapping),
            critical(POLICY_CONSTRAINTS, require_explicit_policy()),
        ];
    });
    let chain = [int.der().clone()];
    let domain = || domain_of(&[&root], None).unwrap();
    let leaf_in = |policy: &[u8]| {
        int.leaf(|p| {
            p.custom_extensions = vec![extension(CERTIFICATE_POLICIES, policies(&[policy]), false)];
        })
    };
    assert_eq!(verify_client(domain(), &leaf_in(P2), &chain), verified());
    let why = refusal(&verify_client(domain(), &leaf_in(P1), &chain));
    assert!(why.contains("no certificate policy is valid"), "{why}");
}

/// The veto: webpki refuses an unknown critical extension, which is not one of the cases our
/// engine may overrule, even in a path that also carries a URI constraint.
#[test]
fn other_refusals_of_webpki_stand() {
    let root = TestCa::root("Root", |_| {});
    let nc = name_constraints(&[(URI, b"example.org")], &[]);
    let int = root.intermediate("Odd CA", |p| {
        p.custom_extensions = vec![
            critical(NAME_CONSTRAINTS, nc),
            critical(&[1, 3, 6, 1, 4, 1, 99_999, 1], tlv(0x05, &[])),
        ];
    });
    let leaf = int.leaf(|p| {
        p.subject_alt_names = vec![SanType::URI("spiffe://example.org/w".try_into().unwrap())];
    });
    let why = refusal(&verify_client(
        domain_of(&[&root], None).unwrap(),
        &leaf,
        &[int.der().clone()],
    ));
    assert!(why.contains("UnsupportedCriticalExtension"), "{why}");
}

/// A trust domain's initial policy set: the policy of the anchor's domain a CA maps into the
/// leaf's is valid; another is not, and a chain without policies is refused.
#[test]
fn a_trust_domain_requires_its_initial_policies() {
    use mtls_policy::trust::{CertificatePolicies, PolicyOid};
    let requiring = |oid: &str, root: &TestCa| {
        let oid = PolicyOid::try_from(oid.to_owned()).unwrap();
        domain_of(&[root], None)
            .unwrap()
            .with_certificate_policies(&CertificatePolicies::new(vec![oid]))
    };
    let root = TestCa::root("Root", |_| {});
    let mapping = tlv(0x30, &tlv(0x30, &[P1, P2].concat()));
    let int = root.intermediate("Policy CA", |p| {
        p.custom_extensions = vec![
            extension(CERTIFICATE_POLICIES, policies(&[P1]), false),
            extension(POLICY_MAPPINGS, mapping, false),
        ];
    });
    let leaf = int.leaf(|p| {
        p.custom_extensions = vec![extension(CERTIFICATE_POLICIES, policies(&[P2]), false)];
    });
    let chain = [int.der().clone()];
    let p1 = "2.16.840.1.101.3.2.1.48.1";
    assert_eq!(
        verify_client(requiring(p1, &root), &leaf, &chain),
        verified()
    );
    let why = refusal(&verify_client(
        requiring("2.16.840.1.101.3.2.1.48.3", &root),
        &leaf,
        &chain,
    ));
    assert!(why.contains("no certificate policy is valid"), "{why}");
    // The same requirement from a policy trust domain's `certificate_policies`.
    let mut configured =
        mtls_policy::TrustDomain::new(DOMAIN, mtls_policy::TrustSource::Pem(root.cert.pem()));
    configured.certificate_policies =
        Some(mtls_policy::yaml::from_str("initial: [\"2.16.840.1.101.3.2.1.48.3\"]").unwrap());
    let loaded =
        LoadedTrustDomain::load(&configured, &mtls_verify::crypto::default_provider()).unwrap();
    let why = refusal(&verify_client(loaded, &leaf, &chain));
    assert!(why.contains("no certificate policy is valid"), "{why}");
    let plain = root.intermediate("Plain CA", |_| {});
    let leaf = plain.leaf(|_| {});
    let why = refusal(&verify_client(
        requiring(p1, &root),
        &leaf,
        &[plain.der().clone()],
    ));
    assert!(why.contains("no certificate policy is valid"), "{why}");
}
