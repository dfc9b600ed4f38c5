//! The certificate policies valid for an accepted chain (RFC 5280 6.1.6) where the gateway
//! shows them: `mtls-gateway check` prints them (the OIDs, `any`, or `none`; with `--config`,
//! after the trust domain's `certificate_policies` initial set), and `mtls-gateway run`
//! forwards them to the backend in `ssl-client-policies` (the real binary, `curl` as the
//! client). Certificates with policy extensions made with rcgen at test time.

mod check_run;
mod support;

use std::path::Path;

use check_run::{Run, check};
use mtls_testkit::custom::{TestCa, certificate_policies};
use support::{Workdir, backend, curl_status, free_port};

/// 2.16.840.1.101.3.2.1.48.1 and .2 (the PKITS test policies), and anyPolicy.
const A: &str = "2.16.840.1.101.3.2.1.48.1";
const B: &str = "2.16.840.1.101.3.2.1.48.2";
const A_DER: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x02, 0x01, 0x30, 0x01];
const B_DER: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x02, 0x01, 0x30, 0x02];
const ANY_DER: &[u8] = &[0x55, 0x1d, 0x20, 0x00];

/// certificatePolicies (non-critical) asserting `oids`; none at all for no OID.
fn asserting(oids: &[&[u8]]) -> Vec<rcgen::CustomExtension> {
    if oids.is_empty() {
        return Vec::new();
    }
    vec![certificate_policies(oids, false)]
}

/// Writes `<stem>-ca.pem` (a root), `<stem>.pem` (leaf, then an intermediate) and `<stem>.key`
/// to `dir`, the intermediate asserting `int`, the leaf `leaf`.
fn write_chain(dir: &Path, stem: &str, int: &[&[u8]], leaf: &[&[u8]]) {
    let root = TestCa::root("Policy Root", |_| {});
    let int_ca = root.intermediate("Policy CA", |p| p.custom_extensions = asserting(int));
    let (leaf_der, key) = int_ca.leaf_with_key(|p| p.custom_extensions = asserting(leaf));
    std::fs::write(dir.join(format!("{stem}-ca.pem")), root.cert.pem()).unwrap();
    let chain = mtls_testkit::pem_encode("CERTIFICATE", &leaf_der)
        + &mtls_testkit::pem_encode("CERTIFICATE", int_ca.der());
    std::fs::write(dir.join(format!("{stem}.pem")), chain).unwrap();
    std::fs::write(
        dir.join(format!("{stem}.key")),
        mtls_testkit::pem_encode("PRIVATE KEY", key.secret_der()),
    )
    .unwrap();
}

fn policies_line(run: &Run) -> &str {
    run.stdout
        .lines()
        .find_map(|l| l.strip_prefix("certificate policies: "))
        .unwrap_or_else(|| panic!("no policies line:\n{run}"))
}

#[test]
fn check_prints_the_policies_of_an_accepted_chain() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_chain(d, "both", &[A_DER, B_DER], &[B_DER, A_DER]);
    write_chain(d, "any", &[ANY_DER], &[ANY_DER]);
    write_chain(d, "bare", &[A_DER], &[]);
    for (stem, expected) in [
        ("both", format!("{A}, {B}")),
        ("any", "any".to_owned()),
        ("bare", "none".to_owned()),
    ] {
        let ca = format!("{stem}-ca.pem");
        let chain = format!("{stem}.pem");
        let run = check(d, &["--ca", &ca, "--chain", &chain]);
        assert_eq!(run.code, 0, "{run}");
        assert!(run.stdout.starts_with("ACCEPTED: "), "{run}");
        assert_eq!(policies_line(&run), expected, "{stem}");
        let run = check(d, &["--ca", &ca, "--chain", &chain, "--json"]);
        let value: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
        let policies = &value["identity"]["certificate_policies"];
        assert_eq!(policies["any"], stem == "any", "{run}");
        let oids: Vec<&str> = policies["oids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap())
            .collect();
        let listed: Vec<&str> = match stem {
            "both" => vec![A, B],
            _ => vec![],
        };
        assert_eq!(oids, listed, "{run}");
    }
    // A rejected chain (another root) holds none.
    let run = check(d, &["--ca", "any-ca.pem", "--chain", "both.pem"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(policies_line(&run), "none");
}

#[test]
fn check_config_applies_the_trust_domains_initial_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_chain(d, "both", &[A_DER, B_DER], &[A_DER, B_DER]);
    let server = mtls_testkit::Pki::new().server().issue();
    server.write_to(d, "server").unwrap();
    let config = |initial: &str, required: bool| {
        format!(
            r#"
listeners:
  - name: public
    address: 127.0.0.1:8443
    hosts:
      - certificate: {{ chain: server.pem, key: server.key }}
        client_validation:
          mode: required
          trust:
            - name: piv
              ca: [{{ file: both-ca.pem }}]
              certificate_policies: {{ initial: ["{initial}"], require_explicit: {required} }}
        routes:
          - {{ path_prefix: /, backend: app }}
backends:
  app: {{ url: "http://127.0.0.1:3000" }}
"#
        )
    };
    std::fs::write(d.join("gateway.yaml"), config(B, true)).unwrap();
    let run = check(d, &["--config", "gateway.yaml", "--chain", "both.pem"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(policies_line(&run), B);
    // Required, and not held: refused.
    std::fs::write(d.join("gateway.yaml"), config("1.2.3.4", true)).unwrap();
    let run = check(d, &["--config", "gateway.yaml", "--chain", "both.pem"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout.contains("no certificate policy is valid"),
        "{run}"
    );
    // Not required: accepted, holding none of them.
    std::fs::write(d.join("gateway.yaml"), config("1.2.3.4", false)).unwrap();
    let run = check(d, &["--config", "gateway.yaml", "--chain", "both.pem"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(policies_line(&run), "none");
}

/// The running gateway forwards the policies of the verified path, after the trust domain's
/// initial set, in `ssl-client-policies`; a chain holding none gets no such header, and a copy
/// the client sends never reaches the backend.
#[test]
fn the_gateway_forwards_the_policies_to_the_backend() {
    let w = Workdir::new();
    let d = &w.etc;
    write_chain(d, "piv", &[A_DER, B_DER], &[A_DER, B_DER]);
    write_chain(d, "bare", &[A_DER], &[]);
    let app = backend("app");
    let (https, admin) = (free_port(), free_port());
    let config = format!(
        r#"
admin:
  address: 127.0.0.1:{admin}
listeners:
  - name: piv
    address: 127.0.0.1:{https}
    hosts:
      - certificate: {{ chain: server.pem, key: server.key }}
        client_validation:
          mode: required
          trust:
            - name: piv
              ca: [{{ file: piv-ca.pem }}, {{ file: bare-ca.pem }}]
              certificate_policies: {{ initial: ["{A}"], require_explicit: false }}
        routes:
          - {{ path_prefix: /, backend: app }}
backends:
  app: {{ url: "http://127.0.0.1:{port}" }}
forward_identity: {{ ssl_client: true }}
"#,
        port = app.port
    );
    let _gateway = w.start("piv.yaml", &config, admin);
    let url = format!("https://localhost:{https}/who");
    let get = |stem: &str| {
        let (cert, key) = (format!("{stem}.pem"), format!("{stem}.key"));
        let (code, status, body, err) = curl_status(
            d,
            &[
                "--cacert",
                "ca.pem",
                "--cert",
                &cert,
                "--key",
                &key,
                "-H",
                "ssl-client-policies: 2.5.29.32.0",
                &url,
            ],
        );
        assert_eq!((code, status), (0, 200), "{stem}: {body}{err}");
        body
    };
    let body = get("piv");
    assert!(body.contains("ssl-client-verify: SUCCESS\n"), "{body}");
    let forwarded: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("ssl-client-policies:"))
        .collect();
    assert_eq!(forwarded, [format!("ssl-client-policies: {A}")], "{body}");
    let body = get("bare");
    assert!(body.contains("ssl-client-verify: SUCCESS\n"), "{body}");
    assert!(!body.contains("ssl-client-policies"), "{body}");
}
