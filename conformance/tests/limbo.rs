//! The whole x509-limbo suite through the gateway's verification path. Fails when the suite is
//! missing (it lives in `shared/` beside the repository, or where `$MTLS_LIMBO` points) and when
//! the CLIENT or SERVER pass count drops below its recorded floor. Raise the floors when a fix
//! passes more testcases (and update CONFORMANCE.md).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mtls_conformance::{Limbo, Stage, Verifier, run_suite, suite_path};

/// CLIENT testcases passed when the floor was recorded (of 10).
const CLIENT_FLOOR: usize = 10;
/// SERVER testcases passed when the floor was recorded (of 9,770).
const SERVER_FLOOR: usize = 9737;

#[test]
fn limbo_suite_meets_the_recorded_floors() {
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

    let report = run_suite(&limbo, Verifier::Gateway);
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
        client.passed >= CLIENT_FLOOR,
        "CLIENT conformance regressed: {}/{} passed, floor {CLIENT_FLOOR}",
        client.passed,
        client.total
    );
    assert!(
        server.passed >= SERVER_FLOOR,
        "SERVER conformance regressed: {}/{} passed, floor {SERVER_FLOOR}",
        server.passed,
        server.total
    );
}

/// Spot checks of the mapping, so a wrong mapping cannot hide behind an unchanged count.
#[test]
fn limbo_mapping_spot_checks() {
    let Ok(limbo) = Limbo::load(&suite_path()) else {
        return; // the floor test above reports the missing suite
    };
    let report = run_suite(
        &Limbo {
            version: limbo.version,
            testcases: limbo
                .testcases
                .into_iter()
                .filter(|c| {
                    c.id.starts_with("pathlen::max-chain-depth")
                        || c.id.starts_with("crl::")
                        || c.id == "webpki::forbidden-dsa-leaf"
                        || c.id == "rfc5280::validity::expired-root"
                        || c.id == "rfc5280::leaf-ku-keycertsign"
                        || c.id == "rfc5280::nc::not-allowed-in-ee-critical"
                        || c.id == "rfc5280::unknown-critical-extension-root"
                        || c.id == "rfc5280::nc::permitted-dn-match"
                })
                .collect(),
        },
        Verifier::Gateway,
    );
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
