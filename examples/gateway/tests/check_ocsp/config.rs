//! `check --config ... --ocsp`: the status asked for the trust domain that verified the chain
//! of one request, in the trace, and the decision made with it.

use mtls_testkit::Pki;

use super::*;

const CONFIG: &str = r#"
listeners:
  - name: public
    address: 127.0.0.1:8443
    hosts:
      - certificate: { chain: server.pem, key: server.key }
        client_validation:
          mode: required
          trust: [{ name: clients, ca: [{ file: root.pem }] }]
        routes:
          - { path_prefix: /, backend: app }
backends:
  app: { url: "http://127.0.0.1:3000" }
"#;

fn check_config(setup: &Setup, chain: &str) -> Run {
    let chain = format!("{chain}.pem");
    check(
        setup.path(),
        &["--config", "gateway.yaml", "--chain", &chain, "--ocsp"],
    )
}

#[test]
fn a_request_is_decided_with_the_ocsp_status() {
    let setup = Setup::new();
    let d = setup.path();
    Pki::shared()
        .default_server()
        .write_to(d, "server")
        .unwrap();
    write(d, "gateway.yaml", CONFIG);

    let good = check_config(&setup, "good");
    assert_eq!(good.code, 0, "{good}");
    assert!(
        good.stdout
            .starts_with("ACCEPTED: verified by trust domain \"clients\", allowed"),
        "{good}"
    );
    let line = format!("\nocsp: good from {} (thisUpdate 20", setup.responder.url());
    assert!(good.stdout.contains(&line), "{good}");

    let revoked = check_config(&setup, "revoked");
    assert_eq!(revoked.code, 1, "{revoked}");
    assert!(
        revoked.stdout.starts_with("REJECTED (revoked):"),
        "{revoked}"
    );
    let line = format!(
        "\nocsp: revoked according to the OCSP responder {}: at 2026-01-01T00:00:00Z, reason \
         keyCompromise\n",
        setup.responder.url()
    );
    assert!(revoked.stdout.contains(&line), "{revoked}");

    let unknown = check_config(&setup, "unknown");
    assert_eq!(unknown.code, 1, "{unknown}");
    assert!(
        unknown.stdout.starts_with("REJECTED (revocation_unknown):"),
        "{unknown}"
    );
    assert!(
        unknown
            .stdout
            .contains("\nocsp: no good OCSP status: the responder"),
        "{unknown}"
    );
}
