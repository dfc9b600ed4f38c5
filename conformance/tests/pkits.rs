//! NIST PKITS (in the x509-limbo shape) through the gateway's verification path. Fails when the
//! suite is missing (it lives in `shared/` beside the repository, or where `$MTLS_PKITS`
//! points), when the pass count drops below its recorded floor, when a testcase fails that is
//! not listed below with its reason, and when a testcase expected to fail is accepted. Raise
//! the floor and shorten the lists when a fix passes more testcases (and update
//! CONFORMANCE.md).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mtls_conformance::{Expected, Limbo, Stage, Verifier, pkits_path, run_suite};

/// Testcases passed when the floor was recorded (of 214).
const PKITS_FLOOR: usize = 206;
/// Testcases passed under the strict certificate profile (of 214).
const STRICT_PKITS_FLOOR: usize = 205;

/// PKITS test numbers expected to fail and accepted: none may be added. Each is a wrong
/// acceptance to fix first.
const WRONGLY_ACCEPTED: &[(&str, &str)] = &[];

const DSA: &str = "DSA signatures: no rustls CryptoProvider verifies them";
const CA_LEAF: &str = "the end-entity certificate is a CA certificate (refused on purpose)";

/// PKITS test numbers expected to succeed that the gateway refuses, with why.
const REFUSED: &[(&str, &str)] = &[
    ("4.1.4", DSA),
    ("4.1.5", DSA),
    (
        "4.2.3",
        "UTCTime before 2000 rejected by webpki (BadDerTime) before any path is built",
    ),
    (
        "4.3.6",
        "subject/issuer unique IDs: webpki rejects v2 fields before any path is built",
    ),
    ("4.6.8", CA_LEAF),
    ("4.6.14", CA_LEAF),
    ("4.8.6", CA_LEAF),
    ("4.14.13", CA_LEAF),
];

/// PKITS test numbers expected to succeed that the strict certificate profile refuses beyond
/// [`REFUSED`], with why: PKITS tests what a relying party accepts, the strict profile what a
/// conforming CA may issue.
const STRICT_REFUSED: &[(&str, &str)] = &[(
    "4.6.4",
    "basicConstraints not critical in a CA certificate (RFC 5280 4.2.1.9: a CA MUST mark it \
     critical)",
)];

/// The PKITS test number of a testcase id (`pkits::07-key-usage::4.7.1-invalid-…` → `4.7.1`).
fn number(id: &str) -> &str {
    id.rsplit("::")
        .next()
        .and_then(|tail| tail.split('-').next())
        .unwrap_or(id)
}

fn listed(list: &[(&str, &str)], id: &str) -> bool {
    list.iter().any(|(n, _)| *n == number(id))
}

#[test]
fn pkits_meets_the_recorded_floor_and_fails_only_where_listed() {
    meets_floor(Verifier::Gateway, PKITS_FLOOR, &[REFUSED]);
}

#[test]
fn pkits_meets_the_recorded_floor_under_the_strict_profile() {
    meets_floor(
        Verifier::GatewayStrict,
        STRICT_PKITS_FLOOR,
        &[REFUSED, STRICT_REFUSED],
    );
}

fn meets_floor(verifier: Verifier, floor: usize, refused: &[&[(&str, &str)]]) {
    let refused_listed = |id: &str| refused.iter().any(|list| listed(list, id));
    let path = pkits_path();
    let pkits = Limbo::load(&path).unwrap_or_else(|e| {
        panic!(
            "{e}\nNIST PKITS is required: expected at {} (shared/ beside the repository), or \
             set MTLS_PKITS to its path.",
            path.display()
        )
    });
    assert_eq!(
        pkits.testcases.len(),
        214,
        "not the suite the floor was recorded for"
    );

    let report = run_suite(&pkits, verifier);
    println!("{}", report.summary.line());
    assert_eq!(report.results.len(), pkits.testcases.len(), "none skipped");
    let unreadable: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.stage == Stage::Testcase)
        .map(|r| format!("{}: {}", r.id, r.reason))
        .collect();
    assert!(
        unreadable.is_empty(),
        "testcases the runner could not run: {unreadable:#?}"
    );

    let mut unexpected = Vec::new();
    for f in report.failures() {
        let known = match f.expected {
            Expected::Failure => listed(WRONGLY_ACCEPTED, &f.id),
            Expected::Success => refused_listed(&f.id),
        };
        if !known {
            unexpected.push(format!(
                "{} (expected {:?}, {:?}): {}",
                f.id, f.expected, f.stage, f.reason
            ));
        }
    }
    assert!(
        unexpected.is_empty(),
        "failing testcases not listed in tests/pkits.rs: {unexpected:#?}"
    );
    for r in report.results.iter().filter(|r| r.passed) {
        if refused_listed(&r.id) || listed(WRONGLY_ACCEPTED, &r.id) {
            println!("  now passing, remove from the list: {}", r.id);
        }
    }

    let passed = report.results.iter().filter(|r| r.passed).count();
    assert!(
        passed >= floor,
        "{verifier:?}: PKITS conformance regressed: {passed}/214 passed, floor {floor}"
    );
}

/// The cases whose wrong acceptance was fixed stay refused, for the reason they name.
#[test]
fn pkits_refusals_name_their_reason() {
    let Ok(pkits) = Limbo::load(&pkits_path()) else {
        return; // the floor test reports the missing suite
    };
    let report = run_suite(&pkits, Verifier::Gateway);
    let result = |n: &str| {
        report
            .results
            .iter()
            .find(|r| number(&r.id) == n)
            .unwrap_or_else(|| panic!("{n} is not in the suite"))
    };
    for (n, why) in [
        ("4.7.1", "keyUsage without keyCertSign"),
        ("4.7.2", "keyUsage without keyCertSign"),
        ("4.4.11", "past its nextUpdate"),
        ("4.4.12", "past its nextUpdate"),
        ("4.4.1", "revocation status unknown"),
        // A CRL with an unknown critical extension, on the CRL or on an entry, loads and
        // answers for nothing.
        ("4.4.8", "revocation status unknown"),
        ("4.4.9", "revocation status unknown"),
        // A distribution-point partition the certificate's cRLDistributionPoints do not name.
        ("4.14.3", "revocation status unknown"),
        // onlySomeReasons CRLs that leave reasons uncovered.
        ("4.14.17", "revocation status unknown"),
        // Revoked by a delta CRL; a CRL-signing certificate outside the path, itself revoked.
        ("4.15.4", "revoked"),
        ("4.4.21", "revocation status unknown"),
        ("4.8.4", "requires an explicit policy"),
        ("4.8.12", "requires an explicit policy"),
    ] {
        let r = result(n);
        assert!(!r.accepted && r.reason.contains(why), "{n}: {r:?}");
    }
    assert!(result("4.1.1").accepted);
}
