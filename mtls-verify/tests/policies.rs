//! Certificate policies on a real path: a requireExplicitPolicy (here non-critical, which
//! rustls-webpki does not read) refuses a path on which no policy is valid throughout; and the
//! policies valid for a verified path, as the verifier reports them with its outcome.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use mtls_core::CertificatePolicies;
use mtls_policy::trust::PolicyOid;
use mtls_policy::{PeerVerification, VerifyError};
use mtls_testkit::tls;
use mtls_verify::{ChainOutcome, LoadedTrustDomain, PolicyVerifier};
use rcgen::CustomExtension;
use rustls_pki_types::{CertificateDer, UnixTime};

mod support;
use support::*;

/// 2.16.840.1.101.3.2.1.48.1 and .2 (the PKITS test policies), DER contents.
const P1: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x02, 0x01, 0x30, 0x01];
const P2: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x02, 0x01, 0x30, 0x02];

/// certificatePolicies (2.5.29.32) asserting `policy`, non-critical.
fn policies(policy: &[u8]) -> CustomExtension {
    let info = tlv(0x30, &tlv(0x06, policy));
    extension(&[2, 5, 29, 32], tlv(0x30, &info), false)
}

/// policyConstraints (2.5.29.36) { requireExplicitPolicy [0] 0 }, non-critical.
fn require_explicit_policy() -> CustomExtension {
    extension(&[2, 5, 29, 36], tlv(0x30, &tlv(0x80, &[0])), false)
}

fn outcome(leaf_policy: &[u8]) -> PeerVerification {
    let root = TestCa::root("Root", |_| {});
    let int = root.intermediate("Policy CA", |p| {
        p.custom_extensions = vec![policies(P1), require_explicit_policy()];
    });
    let leaf = int.leaf(|p| p.custom_extensions = vec![policies(leaf_policy)]);
    let domain = domain_of(&[&root], None).unwrap();
    verify_client(domain, &leaf, std::slice::from_ref(int.der()))
}

#[test]
fn a_path_valid_under_the_required_policy_is_accepted() {
    assert_eq!(outcome(P1), PeerVerification::verified(DOMAIN));
}

#[test]
fn a_path_without_a_policy_valid_throughout_is_refused_when_one_is_required() {
    let result = outcome(P2);
    let PeerVerification::Failed {
        error: VerifyError::Other(message),
        ..
    } = &result
    else {
        panic!("accepted or not a policy refusal: {result:?}");
    };
    assert!(
        message.starts_with("no certificate policy is valid for the path down to certificate 2"),
        "{message}"
    );
}

const A: &str = "2.16.840.1.101.3.2.1.48.1";
const B: &str = "2.16.840.1.101.3.2.1.48.2";
/// anyPolicy (2.5.29.32.0), DER contents.
const ANY: &[u8] = &[0x55, 0x1d, 0x20, 0x00];

/// certificatePolicies asserting each of `oids`.
fn asserting(oids: &[&[u8]], critical: bool) -> CustomExtension {
    let infos: Vec<u8> = oids
        .iter()
        .flat_map(|oid| tlv(0x30, &tlv(0x06, oid)))
        .collect();
    extension(&[2, 5, 29, 32], tlv(0x30, &infos), critical)
}

fn listed(oids: &[&str]) -> CertificatePolicies {
    CertificatePolicies::listed(oids.iter().copied()).unwrap()
}

/// A verifier over `root`, its domain requiring nothing or the `initial` policies.
fn verifier(root: &TestCa, initial: Option<(&[&str], bool)>) -> PolicyVerifier {
    let mut domain: LoadedTrustDomain = domain_of(&[root], None).unwrap();
    if let Some((oids, required)) = initial {
        let oids = oids
            .iter()
            .map(|o| PolicyOid::try_from((*o).to_owned()).unwrap())
            .collect();
        let mut policies = mtls_policy::trust::CertificatePolicies::new(oids);
        policies.require_explicit = required;
        domain = domain.with_certificate_policies(&policies);
    }
    PolicyVerifier::builder(tls::provider())
        .trust_domain(domain)
        .build()
        .unwrap()
}

/// Root -> intermediate asserting `int` -> leaf asserting `leaf` (`None`: no extension).
fn chain(
    int: Option<CustomExtension>,
    leaf: Option<CustomExtension>,
) -> (TestCa, TestCa, CertificateDer<'static>) {
    let root = TestCa::root("Root", |_| {});
    let ca = root.intermediate("Policy CA", |p| p.custom_extensions.extend(int));
    let end = ca.leaf(|p| p.custom_extensions.extend(leaf));
    (root, ca, end)
}

fn outcome_of(verifier: &PolicyVerifier, leaf: &CertificateDer<'_>, int: &TestCa) -> ChainOutcome {
    verifier.verify_chain_outcome(leaf, std::slice::from_ref(int.der()), UnixTime::now())
}

#[test]
fn the_initial_set_narrows_the_valid_policies_of_the_path() {
    let both = || Some(asserting(&[P1, P2], false));
    let (root, int, leaf) = chain(both(), both());
    let any = verifier(&root, None);
    let got = outcome_of(&any, &leaf, &int);
    assert_eq!(got.verification, PeerVerification::verified(DOMAIN));
    assert_eq!(got.policies, listed(&[A, B]));
    for required in [true, false] {
        let only_a = verifier(&root, Some((&[A], required)));
        let got = outcome_of(&only_a, &leaf, &int);
        assert_eq!(got.verification, PeerVerification::verified(DOMAIN));
        assert_eq!(got.policies, listed(&[A]), "required: {required}");
        assert!(got.policies.allows(A) && !got.policies.allows(B));
    }
}

#[test]
fn any_policy_down_to_the_leaf_is_any_policy() {
    let (root, int, leaf) = chain(
        Some(asserting(&[ANY], false)),
        Some(asserting(&[ANY], false)),
    );
    let got = outcome_of(&verifier(&root, None), &leaf, &int);
    assert_eq!(got.verification, PeerVerification::verified(DOMAIN));
    assert_eq!(got.policies, CertificatePolicies::Any);
    // An initial set makes anyPolicy stand for its own policies.
    let got = outcome_of(&verifier(&root, Some((&[B], true))), &leaf, &int);
    assert_eq!(got.policies, listed(&[B]));
}

#[test]
fn a_path_without_policies_has_none() {
    // Nothing asserts a policy.
    let (root, int, leaf) = chain(None, None);
    let got = outcome_of(&verifier(&root, None), &leaf, &int);
    assert_eq!(got.verification, PeerVerification::verified(DOMAIN));
    assert_eq!(got.policies, CertificatePolicies::None);
    // The CA asserts one, the leaf none: the tree ends NULL.
    let (root, int, leaf) = chain(Some(asserting(&[P1], false)), None);
    let got = outcome_of(&verifier(&root, None), &leaf, &int);
    assert_eq!(got.verification, PeerVerification::verified(DOMAIN));
    assert_eq!(got.policies, CertificatePolicies::None);
    // Policies outside an initial set that is not required: valid, and none held.
    let (root, int, leaf) = chain(Some(asserting(&[P2], false)), Some(asserting(&[P2], false)));
    let got = outcome_of(&verifier(&root, Some((&[A], false))), &leaf, &int);
    assert_eq!(got.verification, PeerVerification::verified(DOMAIN));
    assert_eq!(got.policies, CertificatePolicies::None);
}

/// A critical certificatePolicies on the CA makes rustls-webpki refuse the chain; our own path
/// validation overrules it, and reports the policies of its path.
#[test]
fn our_own_paths_report_their_policies_too() {
    let (root, int, leaf) = chain(
        Some(asserting(&[P1, P2], true)),
        Some(asserting(&[P2], false)),
    );
    let got = outcome_of(&verifier(&root, None), &leaf, &int);
    assert_eq!(got.verification, PeerVerification::verified(DOMAIN));
    assert_eq!(got.policies, listed(&[B]));
}

/// The second chain through an intermediate is verified from it (the remembered-issuer
/// shortcut): its policies are its own, and a leaf without policies under it has none.
#[test]
fn chains_through_a_remembered_intermediate_report_their_own_policies() {
    let root = TestCa::root("Root", |_| {});
    let int = root.intermediate("Policy CA", |p| {
        p.custom_extensions = vec![asserting(&[P1, P2], false)];
    });
    let verifier = verifier(&root, None);
    let first = int.leaf(|p| p.custom_extensions = vec![asserting(&[P1], false)]);
    let second = int.leaf(|p| p.custom_extensions = vec![asserting(&[P2], false)]);
    let bare = int.leaf(|_| {});
    for _ in 0..2 {
        assert_eq!(outcome_of(&verifier, &first, &int).policies, listed(&[A]));
        assert_eq!(outcome_of(&verifier, &second, &int).policies, listed(&[B]));
        assert_eq!(
            outcome_of(&verifier, &bare, &int).policies,
            CertificatePolicies::None
        );
    }
}

#[test]
fn failed_chains_hold_no_policy() {
    let (root, int, leaf) = chain(Some(asserting(&[P2], false)), Some(asserting(&[P2], false)));
    let got = outcome_of(&verifier(&root, Some((&[A], true))), &leaf, &int);
    assert!(
        matches!(got.verification, PeerVerification::Failed { .. }),
        "{got:?}"
    );
    assert_eq!(got.policies, CertificatePolicies::None);
}

/// In a real handshake the verifier records the policies with the outcome; each verifier
/// (each host, with its own trust domains) its own, for the same certificate.
#[test]
fn the_handshake_records_the_policies_with_the_outcome() {
    let (root, int) = {
        let root = TestCa::root("Root", |_| {});
        let int = root.intermediate("Policy CA", |p| {
            p.custom_extensions = vec![asserting(&[P1, P2], false)];
        });
        (root, int)
    };
    let (leaf, leaf_key) = int.leaf_with_key(|p| {
        p.custom_extensions = vec![asserting(&[P1, P2], false)];
    });
    let server_ca = TestCa::root("Server Root", |_| {});
    let (server_cert, server_key) = server_ca.leaf_with_key(|_| {});
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server_ca.der().clone()).unwrap();
    let client = Arc::new(
        rustls::ClientConfig::builder_with_provider(tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(vec![leaf, int.der().clone()], leaf_key)
            .unwrap(),
    );
    let only_b: &[&str] = &[B];
    for (initial, expected) in [(None, listed(&[A, B])), (Some(only_b), listed(&[B]))] {
        let verifier = Arc::new(verifier(&root, initial.map(|b| (b, true))));
        let server = rustls::ServerConfig::builder_with_provider(tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier.clone())
            .with_single_cert(vec![server_cert.clone()], server_key.clone_key())
            .unwrap();
        let (_, server) = tls::handshake(client.clone(), Arc::new(server), HOST).unwrap();
        let chain = server.peer_certificates().unwrap();
        let got = verifier.chain_outcome(chain);
        assert_eq!(got.verification, PeerVerification::verified(DOMAIN));
        assert_eq!(got.policies, expected);
        assert_eq!(
            verifier.outcome_for_chain(chain),
            PeerVerification::verified(DOMAIN)
        );
    }
}
