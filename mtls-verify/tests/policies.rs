//! Certificate policies on a real path: a requireExplicitPolicy (here non-critical, which
//! rustls-webpki does not read) refuses a path on which no policy is valid throughout.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mtls_policy::{PeerVerification, VerifyError};
use rcgen::CustomExtension;

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
