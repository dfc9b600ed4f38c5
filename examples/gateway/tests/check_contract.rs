//! `mtls-gateway check`'s exit-code contract as conformance harnesses read it: 0 accepted,
//! 1 rejected with the reason (an unusable CRL included), 77 a case it cannot express, 2 usage;
//! and `--purpose server` reasons in serverAuth terms. The real binary, a PKI generated at test
//! time.

mod check_run;

use check_run::{Run, check};
use mtls_testkit::Pki;

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {run}"))
}

/// ca.pem, client.pem (leaf and intermediate) and server.pem in a temp dir.
fn setup() -> (tempfile::TempDir, Pki) {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let p = dir.path();
    std::fs::write(p.join("ca.pem"), pki.root().cert_pem()).unwrap();
    pki.client().issue().write_to(p, "client").unwrap();
    pki.server().issue().write_to(p, "server").unwrap();
    (dir, pki)
}

/// `der` with its last byte changed: for a CRL, a signature that no longer verifies.
fn tampered(der: &[u8]) -> Vec<u8> {
    let mut out = der.to_vec();
    if let Some(last) = out.last_mut() {
        *last ^= 0x01;
    }
    out
}

#[test]
fn a_crl_whose_signature_does_not_verify_is_a_rejection_not_a_usage_error() {
    let (dir, pki) = setup();
    let d = dir.path();
    let crls = pki.crls().build();
    // The root's CRL, whose signature the trust domain checks against the anchor at load.
    std::fs::write(d.join("root.crl"), tampered(crls.root().der().as_ref())).unwrap();
    std::fs::write(
        d.join("intermediate.crl"),
        crls.intermediate().der().as_ref(),
    )
    .unwrap();
    let args = [
        "--ca",
        "ca.pem",
        "--chain",
        "client.pem",
        "--crl",
        "intermediate.crl",
        "--crl",
        "root.crl",
    ];
    let run = check(d, &args);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout.starts_with("REJECTED (revocation_unknown): "),
        "{run}"
    );
    // The CRL left out is named as the user gave it: the second (index 1).
    assert!(
        run.stdout
            .contains("CRLs not used: trust domain \"check\": CRL 1 (issuer")
            && run.stdout.contains("signature does not verify"),
        "{run}"
    );
    // Only the root's CRL given, and unusable: revocation is still checked.
    let run = check(
        d,
        &[
            "--ca",
            "ca.pem",
            "--chain",
            "client.pem",
            "--crl",
            "root.crl",
            "--json",
        ],
    );
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(json(&run)["code"], "revocation_unknown", "{run}");
    // With both CRLs intact the chain is accepted.
    std::fs::write(d.join("root.crl"), crls.root().der().as_ref()).unwrap();
    let run = check(d, &args);
    assert_eq!(run.code, 0, "{run}");
}

#[test]
fn a_name_of_a_form_check_does_not_match_exits_77() {
    let (dir, _pki) = setup();
    let d = dir.path();
    for name in ["uri:spiffe://td/ns/a/sa/client", "dirName:CN=client"] {
        let run = check(
            d,
            &["--ca", "ca.pem", "--chain", "client.pem", "--name", name],
        );
        assert_eq!(run.code, 77, "{name}: {run}");
        assert!(run.stderr.contains("unsupported"), "{name}: {run}");
        let run = check(
            d,
            &[
                "--ca",
                "ca.pem",
                "--chain",
                "client.pem",
                "--name",
                name,
                "--json",
            ],
        );
        assert_eq!(run.code, 77, "{name}: {run}");
        assert_eq!(json(&run)["decision"], "unsupported", "{name}: {run}");
    }
    // A form that is no GeneralName stays a usage error.
    let run = check(
        d,
        &[
            "--ca",
            "ca.pem",
            "--chain",
            "client.pem",
            "--name",
            "bogus:x",
        ],
    );
    assert_eq!(run.code, 2, "{run}");
}

#[test]
fn server_purpose_reasons_speak_of_server_auth() {
    let (dir, _pki) = setup();
    let d = dir.path();
    for extra in [&[][..], &["--name", "dns:localhost"][..]] {
        let mut args = vec![
            "--ca",
            "ca.pem",
            "--chain",
            "client.pem",
            "--purpose",
            "server",
            "--json",
        ];
        args.extend_from_slice(extra);
        let run = check(d, &args);
        assert_eq!(run.code, 1, "{extra:?}: {run}");
        let reason = json(&run)["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(reason.contains("serverAuth"), "{extra:?}: {reason}");
        assert!(
            !reason.to_lowercase().contains("client"),
            "{extra:?}: {reason}"
        );
    }
    // And a client's, of clientAuth.
    let run = check(d, &["--ca", "ca.pem", "--chain", "server.pem", "--json"]);
    assert_eq!(run.code, 1, "{run}");
    let reason = json(&run)["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!reason.contains("server"), "{reason}");
}
