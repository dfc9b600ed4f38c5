//! `mtls-gateway check --config`: a chain checked for one request through the gateway's own
//! configuration loader, host verifier and decision, with the trace of what it went through.

mod check_run;

use std::path::Path;

use check_run::Run;
use mtls_testkit::Pki;

/// Runs `check` from `dir` with a relative `--config`, as a user in the config's directory.
fn check(dir: &Path, args: &[&str]) -> Run {
    let mut all = vec!["--config", "gateway.yaml"];
    all.extend_from_slice(args);
    check_run::check(dir, &all)
}

const CONFIG: &str = r#"
listeners:
  - name: public
    address: 127.0.0.1:8443
    hosts:
      - certificate: { chain: server.pem, key: server.key }
        client_validation:
          mode: required
          trust: [{ name: clients, ca: [{ file: ca.pem }], crl: { sources: [{ file: crl.pem }] } }]
        routes:
          - { path_prefix: /, backend: app }
      - hostnames: [admin.example.com]
        certificate: { chain: server.pem, key: server.key }
        client_validation:
          mode: required
          trust: [{ name: clients, ca: [{ file: ca.pem }] }]
        routes:
          - path_prefix: /ops
            authorization: { principals: [spiffe://example.org/ops] }
            backend: app
          - { path_exact: /ping, respond: { status: 200, body: "ok\n" } }
  - name: plain
    port: 8080
    peer_mode: permissive
    hosts:
      - certificate: { chain: server.pem, key: server.key }
        routes: [{ path_prefix: /, backend: app }]
backends:
  app: { url: "http://127.0.0.1:3000" }
"#;

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let pki = Pki::new();
    std::fs::write(p.join("ca.pem"), pki.root().cert_pem()).unwrap();
    pki.server().issue().write_to(p, "server").unwrap();
    pki.client()
        .uri("spiffe://example.org/ops")
        .issue()
        .write_to(p, "ops")
        .unwrap();
    pki.client()
        .uri("spiffe://example.org/web")
        .issue()
        .write_to(p, "web")
        .unwrap();
    let revoked = pki.client().uri("spiffe://example.org/gone").issue();
    revoked.write_to(p, "revoked").unwrap();
    std::fs::write(p.join("crl.pem"), pki.crls().revoke(&revoked).build().pem()).unwrap();
    std::fs::write(p.join("gateway.yaml"), CONFIG).unwrap();
    dir
}

fn lines(run: &Run) -> Vec<&str> {
    run.stdout.lines().collect()
}

#[test]
fn the_trace_names_listener_host_route_and_certificate() {
    let dir = setup();
    let p = dir.path();
    let host = ["--host", "Admin.Example.com."];
    let run = check(
        p,
        &[&host[..], &["--path", "/ops/x", "--chain", "ops.pem"]].concat(),
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        lines(&run)[..5],
        [
            "ACCEPTED: verified by trust domain \"clients\", allowed",
            "listener: public (port 8443)",
            "host: hosts[1]: admin.example.com; client certificate required (trust clients)",
            "route: /ops (prefix /ops) → backend app; allowed: principals spiffe://example.org/ops",
            "certificate: verified by trust domain clients",
        ]
    );

    // Another identity on the same route: refused with the policy's answer. A path that
    // normalises onto the route is decided on the route.
    let run = check(
        p,
        &[&host[..], &["--path", "/x/../ops", "--chain", "web.pem"]].concat(),
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        lines(&run)[0],
        "REJECTED (identity_not_allowed): spiffe://example.org/web not in allow-list of route /ops"
    );
    assert!(lines(&run).contains(&"answer: HTTP 403"), "{}", run.stdout);

    let run = check(
        p,
        &[&host[..], &["--path", "/ping", "--chain", "web.pem"]].concat(),
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        lines(&run)[3],
        "route: /ping (exact /ping) → respond 200; allowed: anyone the host lets in"
    );
}

#[test]
fn revocation_and_unmatched_requests_are_explained() {
    let dir = setup();
    let p = dir.path();
    // The default host has the CRL: the revoked client is refused there, with the reason.
    let run = check(p, &["--chain", "revoked.pem"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .starts_with("REJECTED (revoked): client certificate revoked"),
        "{}",
        run.stdout
    );
    assert!(
        lines(&run)
            .contains(&"certificate: failed in trust domain clients: revoked (keyCompromise)"),
        "{}",
        run.stdout
    );

    // No route of the admin host matches `/`: allowed by the host, answered 404 by the
    // gateway.
    let run = check(p, &["--host", "admin.example.com", "--chain", "ops.pem"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        lines(&run).contains(&"route: none matches the path (the gateway answers 404)"),
        "{}",
        run.stdout
    );

    // Malformed requests are refused before any certificate is looked at.
    let run = check(p, &["--host", "admin.example.com..", "--chain", "ops.pem"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.starts_with("REJECTED (bad_request): malformed request: server name: host name \"admin.example.com..\" has an empty label"),
        "{}",
        run.stdout
    );
    let run = check(p, &["--path", "/a%2fb", "--chain", "ops.pem"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.starts_with("REJECTED (bad_request)"),
        "{}",
        run.stdout
    );
}

#[test]
fn listeners_are_chosen_by_name_and_json_carries_the_trace() {
    let dir = setup();
    let p = dir.path();
    // The plain listener asks for no certificate: the chain plays no part.
    let run = check(p, &["--listener", "plain", "--chain", "web.pem", "--json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let value: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(value["decision"], "accepted");
    assert_eq!(value["trace"]["listener"], "plain (port 8080)");
    assert_eq!(value["trace"]["certificate"], "not asked for by this host");

    let run = check(p, &["--listener", "nope", "--chain", "web.pem"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr.trim(),
        "mtls-gateway check: --listener \"nope\": the configuration has no such listener"
    );
    // A configuration error names the file, the position and the field.
    std::fs::write(
        p.join("gateway.yaml"),
        CONFIG.replace("backend: app }]", "backend: nope }]"),
    )
    .unwrap();
    let run = check(p, &["--chain", "web.pem"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr.trim(),
        "mtls-gateway check: gateway.yaml: listeners[1].hosts[0].routes[0].backend: no backend named \"nope\" (see `backends`)"
    );
    // `--config` and `--ca` are two modes.
    let run = check(p, &["--ca", "ca.pem", "--chain", "web.pem"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
}
