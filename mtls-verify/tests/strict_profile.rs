//! The strict certificate profile (`profile: strict`): each rule refuses a chain that breaks it
//! under strict, with a message naming the certificate and the rule, while the default profile
//! accepts the same chain; a conforming chain passes both. Certificates are generated now by
//! rcgen (custom extensions where a field must be left out or marked otherwise).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mtls_policy::{CertificateProfile, PeerVerification, TrustDomain};
use mtls_verify::{CrlError, DomainOptions, LoadedTrustDomain, TrustError};
use rcgen::string::Ia5String;
use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, IsCa, SanType, SerialNumber};
use rustls_pki_types::CertificateDer;

mod support;
use support::*;

fn options(profile: CertificateProfile) -> DomainOptions {
    let mut options = DomainOptions::default();
    options.profile = profile;
    options
}

fn domain(root: &TestCa, profile: CertificateProfile) -> LoadedTrustDomain {
    domain_with(&[root], None, options(profile)).unwrap()
}

/// basicConstraints { cA TRUE }.
const BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
const CA_TRUE: &[u8] = &[0x30, 0x03, 0x01, 0x01, 0xff];
const SUBJECT_KEY_IDENTIFIER: &[u64] = &[2, 5, 29, 14];
const EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
/// ExtKeyUsageSyntax { id-kp-serverAuth }.
const SERVER_AUTH: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01,
];

/// A CA certificate whose basicConstraints (critical or not) is written by hand, and so
/// without the subjectKeyIdentifier rcgen adds to CA certificates, unless `ski`.
fn hand_made_ca(p: &mut CertificateParams, critical: bool, ski: bool) {
    p.is_ca = IsCa::NoCa;
    p.custom_extensions = vec![extension(BASIC_CONSTRAINTS, CA_TRUE.to_vec(), critical)];
    if ski {
        p.custom_extensions.push(extension(
            SUBJECT_KEY_IDENTIFIER,
            tlv(0x04, &[1, 2, 3, 4]),
            false,
        ));
    }
}

/// Which purposes a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Purposes {
    Both,
    ServerOnly,
}

/// One chain breaking one rule: its root, intermediates and leaf.
struct Case {
    root: TestCa,
    intermediates: Vec<CertificateDer<'static>>,
    leaf: CertificateDer<'static>,
}

fn through_root(root: TestCa, leaf: impl FnOnce(&mut CertificateParams)) -> Case {
    let leaf = root.leaf(leaf);
    Case {
        root,
        intermediates: Vec::new(),
        leaf,
    }
}

fn through_ica(ica: impl FnOnce(&mut CertificateParams)) -> Case {
    let root = TestCa::root("Strict Root", |_| {});
    let ica = root.intermediate("Strict ICA", ica);
    let leaf = ica.leaf(|_| {});
    Case {
        intermediates: vec![ica.der().clone()],
        root,
        leaf,
    }
}

fn plain_root() -> TestCa {
    TestCa::root("Strict Root", |_| {})
}

const LEAF: &str = "the end-entity certificate (subject \"CN=server.test\")";
const SERVER_LEAF: &str = "the server's end-entity certificate (subject \"CN=server.test\")";
const ICA: &str = "intermediate CA certificate 1 (subject \"CN=Strict ICA\")";
const ROOT: &str = "the trust anchor (subject \"CN=Strict Root\")";

/// Asserts that `case` passes the default profile and is refused under strict with `message`
/// for `purposes` (and passes strict for the other purpose).
fn refused_only_under_strict(name: &str, case: &Case, purposes: Purposes, message: &str) {
    let verified = PeerVerification::verified(DOMAIN);
    for profile in [CertificateProfile::Default, CertificateProfile::Strict] {
        let strict = profile == CertificateProfile::Strict;
        let server = verify_server(
            &domain(&case.root, profile),
            &case.leaf,
            &case.intermediates,
        );
        let client = verify_client(domain(&case.root, profile), &case.leaf, &case.intermediates);
        let (want_server, want_client) = match (strict, purposes) {
            (false, _) => (verified.clone(), verified.clone()),
            (true, Purposes::Both) => (refused(message), refused(message)),
            (true, Purposes::ServerOnly) => (refused(message), verified.clone()),
        };
        assert_eq!(server, want_server, "{name}: server, {profile:?}");
        assert_eq!(client, want_client, "{name}: client, {profile:?}");
    }
}

#[test]
fn a_conforming_chain_passes_the_strict_profile() {
    let root = plain_root();
    let ica = root.intermediate("Strict ICA", |p| {
        p.custom_extensions = vec![extension(NAME_CONSTRAINTS, PERMIT_DOT_TEST.to_vec(), true)];
    });
    let leaf = ica.leaf(|p| {
        p.subject_alt_names = vec![
            SanType::DnsName(Ia5String::try_from("server.test").unwrap()),
            SanType::DnsName(Ia5String::try_from("*.server.test").unwrap()),
        ];
    });
    let mut crls = crl_of(&root, Some(false));
    crls.extend(crl_of(&ica, Some(false)));
    let strict = options(CertificateProfile::Strict);
    let chain = [ica.der().clone()];
    let domain = domain_with(&[&root], Some(&crls), strict).unwrap();
    assert_eq!(
        verify_server(&domain, &leaf, &chain),
        PeerVerification::verified(DOMAIN)
    );
    // Twice: the second time from the profile cache and the remembered intermediate.
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
fn authority_key_identifier_is_required_below_the_anchor() {
    let case = through_root(plain_root(), |p| {
        p.use_authority_key_identifier_extension = false;
    });
    refused_only_under_strict(
        "leaf without AKI",
        &case,
        Purposes::Both,
        &format!(
            "{LEAF} has no authorityKeyIdentifier with a keyIdentifier, which every \
             certificate but a self-issued one MUST carry (RFC 5280 4.2.1.1, profile strict)"
        ),
    );
    let case = through_ica(|p| p.use_authority_key_identifier_extension = false);
    refused_only_under_strict(
        "intermediate without AKI",
        &case,
        Purposes::Both,
        &format!(
            "{ICA} has no authorityKeyIdentifier with a keyIdentifier, which every \
             certificate but a self-issued one MUST carry (RFC 5280 4.2.1.1, profile strict)"
        ),
    );
}

#[test]
fn ca_certificates_need_a_subject_key_identifier() {
    let ski = |what: &str| {
        format!(
            "{what} has no subjectKeyIdentifier, which every CA certificate MUST carry (RFC \
             5280 4.2.1.2, profile strict)"
        )
    };
    let case = through_ica(|p| hand_made_ca(p, true, false));
    refused_only_under_strict("intermediate without SKI", &case, Purposes::Both, &ski(ICA));
    let root = TestCa::root("Strict Root", |p| hand_made_ca(p, true, false));
    let case = through_root(root, |_| {});
    refused_only_under_strict("root without SKI", &case, Purposes::Both, &ski(ROOT));
}

#[test]
fn basic_constraints_must_be_critical_in_ca_certificates() {
    let message = |what: &str| {
        format!(
            "{what} has a basicConstraints extension that is not critical; a CA MUST mark it \
             critical (RFC 5280 4.2.1.9, profile strict)"
        )
    };
    let case = through_ica(|p| hand_made_ca(p, false, true));
    refused_only_under_strict("intermediate", &case, Purposes::Both, &message(ICA));
    let root = TestCa::root("Strict Root", |p| hand_made_ca(p, false, true));
    let case = through_root(root, |_| {});
    refused_only_under_strict("root", &case, Purposes::Both, &message(ROOT));
}

#[test]
fn serial_numbers_are_positive_and_at_most_20_octets() {
    let case = through_root(plain_root(), |p| {
        p.serial_number = Some(SerialNumber::from(vec![0]));
    });
    refused_only_under_strict(
        "zero",
        &case,
        Purposes::Both,
        &format!(
            "{LEAF} has a serial number of zero; it MUST be a positive integer (RFC 5280 \
             4.1.2.2, profile strict)"
        ),
    );
    let case = through_root(plain_root(), |p| {
        p.serial_number = Some(SerialNumber::from(vec![0x01; 21]));
    });
    refused_only_under_strict(
        "21 octets",
        &case,
        Purposes::Both,
        &format!(
            "{LEAF} has a serial number of 21 octets; it MUST NOT be longer than 20 octets \
             (RFC 5280 4.1.2.2, profile strict)"
        ),
    );
}

#[test]
fn dns_names_and_dns_constraints_are_in_the_preferred_name_syntax() {
    let case = through_root(plain_root(), |p| {
        p.subject_alt_names = vec![
            SanType::DnsName(Ia5String::try_from("server.test").unwrap()),
            SanType::DnsName(Ia5String::try_from("a_b.server.test").unwrap()),
        ];
    });
    refused_only_under_strict(
        "underscore",
        &case,
        Purposes::Both,
        &format!(
            "{LEAF} has a dNSName subjectAltName \"a_b.server.test\" not in the preferred name \
             syntax: a label has an underscore (RFC 5280 4.2.1.6, profile strict)"
        ),
    );
    // NameConstraints { permittedSubtrees { dNSName ".test" } }
    let leading_period = tlv(0x30, &tlv(0xa0, &tlv(0x30, &tlv(0x82, b".test"))));
    let case = through_ica(|p| {
        p.custom_extensions = vec![extension(NAME_CONSTRAINTS, leading_period, true)];
    });
    refused_only_under_strict(
        "leading period",
        &case,
        Purposes::Both,
        &format!(
            "{ICA} has a dNSName name constraint \".test\" not in the preferred name syntax: it \
             starts with a period (RFC 5280 4.2.1.10, profile strict)"
        ),
    );
}

#[test]
fn name_constraints_must_be_critical_in_intermediates() {
    let case = through_ica(|p| {
        p.custom_extensions = vec![extension(NAME_CONSTRAINTS, PERMIT_DOT_TEST.to_vec(), false)];
    });
    refused_only_under_strict(
        "non-critical nameConstraints",
        &case,
        Purposes::Both,
        &format!(
            "{ICA} has a nameConstraints extension that is not critical; a CA MUST mark it \
             critical (RFC 5280 4.2.1.10, profile strict)"
        ),
    );
}

#[test]
fn server_leaves_follow_the_baseline_requirements_on_extended_key_usage() {
    let case = through_root(plain_root(), |p| {
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::Any,
        ];
    });
    refused_only_under_strict(
        "anyExtendedKeyUsage",
        &case,
        Purposes::ServerOnly,
        &format!(
            "{SERVER_LEAF} asserts anyExtendedKeyUsage, which a server certificate MUST NOT \
             (CA/Browser Forum Baseline Requirements 7.1.2.7.10, profile strict)"
        ),
    );
    let case = through_root(plain_root(), |p| {
        p.extended_key_usages = Vec::new();
        p.custom_extensions = vec![extension(EXT_KEY_USAGE, SERVER_AUTH.to_vec(), true)];
    });
    let message = format!(
        "{SERVER_LEAF} has a critical extendedKeyUsage extension, which a server certificate \
         MUST NOT mark critical (CA/Browser Forum Baseline Requirements 7.1.2.7.6, profile \
         strict)"
    );
    // A client leaf that is serverAuth only fails clientAuth under both profiles: server only.
    for profile in [CertificateProfile::Default, CertificateProfile::Strict] {
        let got = verify_server(&domain(&case.root, profile), &case.leaf, &[]);
        let want = match profile {
            CertificateProfile::Strict => refused(&message),
            _ => PeerVerification::verified(DOMAIN),
        };
        assert_eq!(got, want, "{profile:?}");
    }
    // A leaf without extendedKeyUsage stays valid for any purpose (RFC 5280 4.2.1.12).
    let case = through_root(plain_root(), |p| p.extended_key_usages = Vec::new());
    let domain = domain(&case.root, CertificateProfile::Strict);
    assert_eq!(
        verify_server(&domain, &case.leaf, &[]),
        PeerVerification::verified(DOMAIN)
    );
}

#[test]
fn a_root_with_extended_key_usage_anchors_no_server_chain() {
    let root = TestCa::root("Strict Root", |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    });
    let case = through_root(root, |_| {});
    refused_only_under_strict(
        "root with EKU",
        &case,
        Purposes::ServerOnly,
        &format!(
            "{ROOT} has an extendedKeyUsage extension, which a root CA certificate MUST NOT \
             carry (CA/Browser Forum Baseline Requirements 7.1.2.1.2, profile strict, server \
             certificates)"
        ),
    );
}

#[test]
fn a_crl_without_a_crl_number_is_refused_at_load_under_strict() {
    let root = plain_root();
    let crls = crl_of(&root, None);
    assert!(domain_with(&[&root], Some(&crls), options(CertificateProfile::Default)).is_ok());
    let err = domain_with(&[&root], Some(&crls), options(CertificateProfile::Strict)).unwrap_err();
    assert!(
        matches!(
            &err,
            TrustError::Crl { source: CrlError::MissingCrlNumber { index: 0, issuer }, .. }
                if issuer == "CN=Strict Root"
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "trust domain \"profile\": CRL 0 (issuer CN=Strict Root): it has no cRLNumber \
         extension, which every CRL MUST carry (RFC 5280 5.2.3, profile strict)"
    );
}

#[test]
fn the_policy_key_sets_the_profile() {
    let yaml = "name: t\nca: [{ file: /ca.pem }]\nprofile: strict\n";
    let domain: TrustDomain = mtls_policy::yaml::from_str(yaml).unwrap();
    assert_eq!(
        DomainOptions::from_policy(&domain).profile,
        CertificateProfile::Strict
    );
    let domain: TrustDomain = mtls_policy::yaml::from_str("name: t\nca: []\n").unwrap();
    assert_eq!(
        DomainOptions::from_policy(&domain).profile,
        CertificateProfile::Default
    );
    let err = mtls_policy::yaml::from_str::<TrustDomain>("name: t\nca: []\nprofile: STRICT\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("profile: unknown variant `STRICT`, expected `default` or `strict`"),
        "{err}"
    );
}
