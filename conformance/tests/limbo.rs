//! The whole x509-limbo suite through the gateway's verification path. Fails when the suite is
//! missing (it lives in `shared/` beside the repository, or where `$MTLS_LIMBO` points) and when
//! the CLIENT or SERVER pass count drops below its recorded floor, under the default
//! certificate profile and under `profile: strict`. Raise the floors when a fix passes more
//! testcases (and update CONFORMANCE.md).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mtls_conformance::{Limbo, Report, Stage, Verifier, run_suite, suite_path};

/// CLIENT testcases passed when the floor was recorded (of 10).
const CLIENT_FLOOR: usize = 10;
/// SERVER testcases passed when the floor was recorded (of 9,770).
const SERVER_FLOOR: usize = 9737;
/// CLIENT testcases passed under the strict certificate profile (of 10).
const STRICT_CLIENT_FLOOR: usize = 10;
/// SERVER testcases passed under the strict certificate profile (of 9,770).
const STRICT_SERVER_FLOOR: usize = 9752;

#[test]
fn limbo_suite_meets_the_recorded_floors() {
    meets_floors(Verifier::Gateway, CLIENT_FLOOR, SERVER_FLOOR);
}

#[test]
fn limbo_suite_meets_the_recorded_floors_under_the_strict_profile() {
    meets_floors(
        Verifier::GatewayStrict,
        STRICT_CLIENT_FLOOR,
        STRICT_SERVER_FLOOR,
    );
}

fn meets_floors(verifier: Verifier, client_floor: usize, server_floor: usize) {
    let path = suite_path();
    let limbo = Limbo::load(&path).unwrap_or_else(|e| {
        panic!(
            "{e}\nThe x509-limbo suite is required: expected at {} (shared/ beside the \
             repository), or set MTLS_LIMBO to its path.",
            path.display()
        )
    });
    assert_eq!(
        limbo.testcases.len(),
        9780,
        "not the suite the floors were recorded for"
    );

    let report = run_suite(&limbo, verifier);
    let summary = &report.summary;
    println!("{}", summary.line());
    for f in report.failures() {
        println!(
            "  failing: {} {} ({:?}): {}",
            f.kind, f.id, f.stage, f.reason
        );
    }

    // Every testcase ran, none was skipped, and the runner could read every one of them.
    assert_eq!(report.results.len(), limbo.testcases.len());
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

    let (client, server) = (summary.totals.client, summary.totals.server);
    assert_eq!((client.total, server.total), (10, 9770));
    assert!(
        client.passed >= client_floor,
        "{verifier:?}: CLIENT conformance regressed: {}/{} passed, floor {client_floor}",
        client.passed,
        client.total
    );
    assert!(
        server.passed >= server_floor,
        "{verifier:?}: SERVER conformance regressed: {}/{} passed, floor {server_floor}",
        server.passed,
        server.total
    );
}

/// The testcases of `limbo` whose id `keep` admits, through `verifier`.
fn run_only(limbo: Limbo, verifier: Verifier, keep: impl Fn(&str) -> bool) -> Report {
    let testcases = limbo
        .testcases
        .into_iter()
        .filter(|c| keep(&c.id))
        .collect();
    run_suite(
        &Limbo {
            version: limbo.version,
            testcases,
        },
        verifier,
    )
}

/// The strict profile refuses what its rules name, for the reason they give, and keeps
/// accepting what the suite expects to pass where the anchor is concerned.
#[test]
fn limbo_strict_profile_spot_checks() {
    let Ok(limbo) = Limbo::load(&suite_path()) else {
        return; // the floor test reports the missing suite
    };
    let ids = [
        (
            "rfc5280::aki::leaf-missing-aki",
            Some("authorityKeyIdentifier"),
        ),
        (
            "rfc5280::ski::root-missing-ski",
            Some("subjectKeyIdentifier"),
        ),
        ("rfc5280::serial::zero", Some("serial number of zero")),
        ("rfc5280::serial::too-long", Some("longer than 20 octets")),
        ("rfc5280::san::underscore-dns", Some("underscore")),
        (
            "rfc5280::nc::invalid-dnsname-leading-period",
            Some("starts with a period"),
        ),
        (
            "rfc5280::root-non-critical-basic-constraints",
            Some("basicConstraints"),
        ),
        ("webpki::eku::ee-anyeku", Some("anyExtendedKeyUsage")),
        (
            "webpki::eku::ee-critical-eku",
            Some("critical extendedKeyUsage"),
        ),
        ("webpki::eku::root-has-eku", Some("extendedKeyUsage")),
        (
            "webpki::forbidden-rsa-key-not-divisible-by-8-in-leaf",
            Some("multiple of 8"),
        ),
        ("crl::crlnumber-missing", Some("no cRLNumber")),
        // Accepted: a root with serial number 0 (the anchor's issuance is not held against it),
        // a cross-signed anchor without authorityKeyIdentifier, a leaf without EKU.
        ("online::fastly.com", None),
        ("cve::cve-2024-0567", None),
        ("rfc5280::eku::ee-without-eku", None),
    ];
    let report = run_only(limbo, Verifier::GatewayStrict, |id| {
        ids.iter().any(|(listed, _)| id == *listed)
    });
    assert_eq!(report.results.len(), ids.len());
    for (id, why) in ids {
        let r = report.results.iter().find(|r| r.id == id).unwrap();
        match why {
            Some(why) => assert!(
                !r.accepted && r.reason.contains(why) && r.reason.contains("profile strict"),
                "{r:?}"
            ),
            None => assert!(r.accepted, "{r:?}"),
        }
    }
}

/// Spot checks of the mapping, so a wrong mapping cannot hide behind an unchanged count.
#[test]
fn limbo_mapping_spot_checks() {
    let Ok(limbo) = Limbo::load(&suite_path()) else {
        return; // the floor test above reports the missing suite
    };
    let report = run_only(limbo, Verifier::Gateway, |id| {
        id.starts_with("pathlen::max-chain-depth")
            || id.starts_with("crl::")
            || id == "webpki::forbidden-dsa-leaf"
            || id == "rfc5280::validity::expired-root"
            || id == "rfc5280::leaf-ku-keycertsign"
            || id == "rfc5280::nc::not-allowed-in-ee-critical"
            || id == "rfc5280::unknown-critical-extension-root"
            || id == "rfc5280::nc::permitted-dn-match"
    });
    let result = |id: &str| {
        report
            .results
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("{id} is not in the suite"))
    };
    // max_chain_depth counts intermediates: 0 accepts root -> leaf only.
    assert!(result("pathlen::max-chain-depth-0").accepted);
    assert!(result("pathlen::max-chain-depth-1").accepted);
    let exhausted = result("pathlen::max-chain-depth-0-exhausted");
    assert!(!exhausted.accepted && exhausted.reason.contains("chain too long"));
    // CRLs reach the revocation index.
    let revoked = result("crl::revoked-certificate-with-crl");
    assert!(
        !revoked.accepted && revoked.reason.contains("revoked"),
        "{revoked:?}"
    );
    assert!(result("crl::certificate-not-on-crl").accepted);
    // A CRL from an anchor without cRLSign is refused at load.
    assert_eq!(result("crl::issuer-missing-crlsign").stage, Stage::Crls);
    // The handshake's CertificateVerify cannot be made with a DSA leaf key.
    assert_eq!(result("webpki::forbidden-dsa-leaf").stage, Stage::Handshake);
    // Without expected_peer_name the path alone is judged: a leaf with no DNS or IP name whose
    // subject a directoryName constraint permits.
    let no_name = result("rfc5280::nc::permitted-dn-match");
    assert!(no_name.accepted, "{no_name:?}");
    // An expired anchor is refused.
    assert!(!result("rfc5280::validity::expired-root").accepted);
    // RFC 5280 profile checks: CRLNumber at CRL load, the leaf's keyUsage and
    // nameConstraints, the anchor's critical extensions (for the reason they name).
    // A CRL without cRLNumber is accepted on purpose (see CONFORMANCE.md).
    assert!(result("crl::crlnumber-missing").accepted);
    assert_eq!(result("crl::crlnumber-critical").stage, Stage::Crls);
    for (id, why) in [
        ("rfc5280::leaf-ku-keycertsign", "keyCertSign"),
        ("rfc5280::nc::not-allowed-in-ee-critical", "nameConstraints"),
        (
            "rfc5280::unknown-critical-extension-root",
            "critical extension",
        ),
    ] {
        let r = result(id);
        assert!(!r.accepted && r.reason.contains(why), "{r:?}");
    }
}
