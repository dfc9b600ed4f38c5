//! `mtls-gateway check`: the command-line contract (exit codes, flags, JSON), against a PKI
//! generated at test time.

mod check_run;

use check_run::{Run, check};
use mtls_testkit::{Eku, Pki, Validity};

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.stdout))
}

/// A PKI in a temp dir: ca.pem, client/revoked/expired/untrusted/server chains, crl.pem.
fn setup() -> (tempfile::TempDir, Pki) {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let p = dir.path();
    std::fs::write(p.join("ca.pem"), pki.root().cert_pem()).unwrap();
    pki.client()
        .uri("spiffe://td/ns/a/sa/client")
        .email("ops@example.com")
        .issue()
        .write_to(p, "client")
        .unwrap();
    pki.server().issue().write_to(p, "server").unwrap();
    pki.client()
        .validity(Validity::Expired)
        .issue()
        .write_to(p, "expired")
        .unwrap();
    pki.client()
        .eku(Eku::ServerAuth)
        .issue()
        .write_to(p, "serveronly")
        .unwrap();
    let revoked = pki.client().issue();
    revoked.write_to(p, "revoked").unwrap();
    std::fs::write(p.join("crl.pem"), pki.crls().revoke(&revoked).build().pem()).unwrap();
    std::fs::write(p.join("empty.crl"), "").unwrap();
    Pki::new()
        .client()
        .issue()
        .write_to(p, "untrusted")
        .unwrap();
    (dir, pki)
}

#[test]
fn accepted_and_rejected_chains_with_exit_codes_and_reason_codes() {
    let (dir, _pki) = setup();
    let d = dir.path();
    let ok = check(d, &["--ca", "ca.pem", "--chain", "client.pem"]);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(
        ok.stdout.starts_with("ACCEPTED: verified by trust domain"),
        "{}",
        ok.stdout
    );
    assert!(
        ok.stdout.contains("spiffe://td/ns/a/sa/client"),
        "{}",
        ok.stdout
    );

    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "--ca",
                "ca.pem",
                "--chain",
                "revoked.pem",
                "--crl",
                "crl.pem",
            ],
            "revoked",
        ),
        (&["--ca", "ca.pem", "--chain", "expired.pem"], "expired"),
        (
            &["--ca", "ca.pem", "--chain", "untrusted.pem"],
            "unknown_issuer",
        ),
        (&["--ca", "ca.pem", "--chain", "serveronly.pem"], "bad_eku"),
        (
            &[
                "--ca",
                "ca.pem",
                "--chain",
                "client.pem",
                "--time",
                "2000-01-01T00:00:00Z",
            ],
            "not_yet_valid",
        ),
        (
            &[
                "--ca",
                "ca.pem",
                "--chain",
                "client.pem",
                "--max-depth",
                "0",
            ],
            "chain_too_long",
        ),
        (
            &[
                "--ca",
                "ca.pem",
                "--chain",
                "client.pem",
                "--name",
                "email:other@example.com",
            ],
            "invalid_certificate",
        ),
    ];
    for (args, code) in cases {
        let mut all = args.to_vec();
        all.push("--json");
        let run = check(d, &all);
        assert_eq!(run.code, 1, "{args:?}: {}{}", run.stdout, run.stderr);
        let v = json(&run);
        assert_eq!(v["decision"], "rejected", "{args:?}");
        assert_eq!(v["code"], *code, "{args:?}: {v}");
        assert!(v["reason"].as_str().is_some_and(|r| !r.is_empty()));
    }
}

#[test]
fn crls_names_time_and_purpose() {
    let (dir, _pki) = setup();
    let d = dir.path();
    // A CRL that does not list the client, several --crl, and an empty file (no CRL).
    let run = check(
        d,
        &[
            "--ca",
            "ca.pem",
            "--chain",
            "client.pem",
            "--crl",
            "crl.pem",
            "--crl",
            "empty.crl",
        ],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // Names: email for a client, dns/ip for a server.
    let run = check(
        d,
        &[
            "--ca",
            "ca.pem",
            "--chain",
            "client.pem",
            "--name",
            "email:ops@EXAMPLE.com",
        ],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = check(
        d,
        &[
            "--ca",
            "ca.pem",
            "--chain",
            "server.pem",
            "--purpose",
            "server",
            "--name",
            "dns:localhost",
            "--name",
            "ip:127.0.0.1",
        ],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = check(
        d,
        &[
            "--ca",
            "ca.pem",
            "--chain",
            "server.pem",
            "--purpose",
            "server",
            "--name",
            "dns:other.example",
            "--json",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    // Without `--name`, a server chain is verified without a name check.
    let run = check(
        d,
        &[
            "--ca",
            "ca.pem",
            "--chain",
            "server.pem",
            "--purpose",
            "server",
        ],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("ACCEPTED: "), "{}", run.stdout);
    // A server certificate is not a client certificate.
    let run = check(d, &["--ca", "ca.pem", "--chain", "server.pem", "--json"]);
    assert_eq!(
        (run.code, json(&run)["code"].clone()),
        (1, "bad_eku".into())
    );
    // Unix time.
    let run = check(
        d,
        &[
            "--ca",
            "ca.pem",
            "--chain",
            "client.pem",
            "--time",
            "@946684800",
            "--json",
        ],
    );
    assert_eq!(json(&run)["code"], "not_yet_valid");
}

#[test]
fn json_carries_identity_and_chain() {
    let (dir, _pki) = setup();
    let run = check(
        dir.path(),
        &["--ca", "ca.pem", "--chain", "client.pem", "--json"],
    );
    assert_eq!(run.code, 0);
    let v = json(&run);
    assert_eq!(v["decision"], "accepted");
    assert_eq!(v["code"], "ok");
    assert_eq!(v["identity"]["spiffe_id"], "spiffe://td/ns/a/sa/client");
    assert_eq!(v["identity"]["email"][0], "ops@example.com");
    assert_eq!(v["identity"]["sha256"].as_str().map(str::len), Some(64));
    let chain = v["chain"].as_array().unwrap();
    assert_eq!(chain.len(), 3, "leaf, intermediate, anchor: {chain:?}");
    assert!(chain[2].as_str().unwrap().ends_with("(trust anchor)"));
}

#[test]
fn usage_and_configuration_errors_exit_2() {
    let (dir, _pki) = setup();
    let d = dir.path();
    let cases: &[(&[&str], &str)] = &[
        (&["--chain", "client.pem"], "--ca"),
        (
            &["--ca", "missing.pem", "--chain", "client.pem"],
            "missing.pem",
        ),
        (
            &["--ca", "client.pem", "--chain", "client.pem"],
            "not a CA certificate",
        ),
        (
            &[
                "--ca",
                "ca.pem",
                "--chain",
                "client.pem",
                "--time",
                "yesterday",
            ],
            "not RFC 3339",
        ),
        (
            &["--ca", "ca.pem", "--chain", "client.pem", "--name", "bogus"],
            "expected dns:NAME",
        ),
        (
            &["--ca", "ca.pem", "--chain", "client.pem", "--crl", "ca.pem"],
            "a certificate, not a certificate revocation list",
        ),
        (
            &[
                "--ca",
                "ca.pem",
                "--chain",
                "client.pem",
                "--purpose",
                "both",
            ],
            "invalid value",
        ),
    ];
    for (args, needle) in cases {
        let run = check(d, args);
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn policy_decides_after_the_chain_verifies() {
    let (dir, _pki) = setup();
    let d = dir.path();
    std::fs::write(
        d.join("policy.yaml"),
        r#"listeners:
  - name: public
    port: 8443
    hosts:
      - client_validation:
          mode: required
          trust: [{ name: partners, ca: [{ file: ca.pem }] }]
          pins: { spki_sha256: ["47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="] }
"#,
    )
    .unwrap();
    let run = check(
        d,
        &[
            "--ca",
            "ca.pem",
            "--chain",
            "client.pem",
            "--policy",
            "policy.yaml",
            "--json",
        ],
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(json(&run)["code"], "pin_mismatch");
    std::fs::write(d.join("bad.yaml"), "listeners: [{ name: x }]").unwrap();
    let run = check(
        d,
        &[
            "--ca",
            "ca.pem",
            "--chain",
            "client.pem",
            "--policy",
            "bad.yaml",
        ],
    );
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("bad.yaml"), "{}", run.stderr);
}
