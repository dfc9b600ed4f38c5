//! Upstream allow-lists (`backends.<name>.tls.subject_alt_names`) end to end: the real
//! `mtls-gateway run` binary on the AKS + APIM example, whose upstream is the gateway's own
//! second listener (a real TLS server on loopback requiring the gateway's client certificate),
//! serving a certificate generated at test time with DNS, URI (SPIFFE) and IP SANs.

mod support;

use mtls_testkit::Pki;
use support::{Gateway, Workdir, backend, curl_status, example, free_port, write_atomic};

const CLIENT: [&str; 4] = ["--cert", "client.pem", "--key", "client.key"];
const EXPECTED_NAME: &str = "      expected_name: aks-ingress.internal.example";
/// The SPIFFE ID of the upstream's certificate.
const UPSTREAM_ID: &str = "spiffe://example.org/ns/aks/sa/ingress";

/// The example with the upstream serving `aks-san.pem` (written by [`setup`]) and `allowed`
/// as its backend's `subject_alt_names` (none when empty).
fn config(base: &str, allowed: &str) -> String {
    let text = base.replace(
        "certificate: { chain: aks-ingress.pem, key: aks-ingress.key }",
        "certificate: { chain: aks-san.pem, key: aks-san.key }",
    );
    assert_ne!(text, base);
    if allowed.is_empty() {
        return text;
    }
    let with = text.replacen(
        EXPECTED_NAME,
        &format!("{EXPECTED_NAME}\n      subject_alt_names: {allowed}"),
        1,
    );
    assert_ne!(with, text);
    with
}

struct Setup {
    w: Workdir,
    base: String,
    frontend: u16,
    admin: u16,
    _app: support::Backend,
}

fn setup() -> Setup {
    let w = Workdir::new();
    Pki::shared()
        .server_for(&["aks-ingress.internal.example", "127.0.0.1"])
        .uri(UPSTREAM_ID)
        .issue()
        .write_to(&w.etc, "aks-san")
        .unwrap();
    let app = backend("app");
    let (frontend, upstream, admin) = (free_port(), free_port(), free_port());
    let base = example(
        "aks-apim-end-to-end.yaml",
        &[
            (8443, frontend),
            (9443, upstream),
            (9901, admin),
            (3000, app.port),
        ],
    );
    Setup {
        w,
        base,
        frontend,
        admin,
        _app: app,
    }
}

impl Setup {
    /// `GET /orders` through the frontend with the client's certificate: (status, body).
    fn call(&self) -> (u16, String) {
        let url = format!("https://localhost:{}/orders", self.frontend);
        let mut args = vec!["--cacert", "ca.pem", url.as_str()];
        args.extend_from_slice(&CLIENT);
        let (code, status, body, err) = curl_status(&self.w.etc, &args);
        assert_eq!(code, 0, "{err}");
        (status, body)
    }

    /// Swaps in `allowed` by a hot reload.
    fn reload(&self, gw: &Gateway, allowed: &str) {
        let reloads = gw.log_count("configuration reloaded");
        write_atomic(&gw.config, config(&self.base, allowed));
        gw.wait_for_log("configuration reloaded", reloads);
    }
}

/// The 502 reason of a refused upstream.
fn refused(allowed: &str) -> String {
    format!(
        "upstream certificate identity DNS:aks-ingress.internal.example, URI:{UPSTREAM_ID}, \
         IP:127.0.0.1 is not in subject_alt_names [{allowed}]"
    )
}

#[test]
fn the_upstream_is_admitted_by_its_sans_and_refused_with_the_reason() {
    let s = setup();
    let allowed = "{ match: [{ dns: { exact: aks-ingress.internal.example } }] }";
    let gw = s.w.start("gw.yaml", &config(&s.base, allowed), s.admin);
    let (status, body) = s.call();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("backend=app\npath=/orders\n"), "{body}");

    // A wrong SAN: 502 naming the upstream's identity and the allow-list.
    s.reload(
        &gw,
        "{ match: [{ dns: { exact: wrong.internal.example } }] }",
    );
    let (status, body) = s.call();
    assert_eq!(status, 502, "{body}");
    assert!(
        body.starts_with("upstream \"aks\" unreachable: TLS handshake with https://127.0.0.1:"),
        "{body}"
    );
    assert!(
        body.contains(&refused("dns exact \"wrong.internal.example\"")),
        "{body}"
    );
    assert!(!body.contains("backend="), "{body}");

    // The allow-list replaces the name check: an expected name the certificate does not
    // carry is only the SNI.
    let sni_only = config(&s.base, "{ principals: [aks-ingress.internal.example] }")
        .replace(EXPECTED_NAME, "      expected_name: sni.internal.example");
    let reloads = gw.log_count("configuration reloaded");
    write_atomic(&gw.config, sni_only);
    gw.wait_for_log("configuration reloaded", reloads);
    let (status, body) = s.call();
    assert_eq!(status, 200, "{body}");
}

#[test]
fn spiffe_trust_domain_and_ip_rules() {
    let s = setup();
    let gw = s.w.start(
        "gw.yaml",
        &config(
            &s.base,
            "{ match: [{ spiffe: { trust_domain: example.org } }] }",
        ),
        s.admin,
    );
    let (status, body) = s.call();
    assert_eq!(status, 200, "{body}");
    let cases = [
        (
            "{ match: [{ spiffe: { trust_domain: example.org, path: { prefix: /ns/aks/ } } }] }",
            None,
        ),
        (
            "{ match: [{ spiffe: { trust_domain: example.org, path: { prefix: /ns/apim/ } } }] }",
            Some("spiffe trust domain \"example.org\" path prefix \"/ns/apim/\""),
        ),
        (
            "{ match: [{ spiffe: { trust_domain: other.org } }] }",
            Some("spiffe trust domain \"other.org\""),
        ),
        ("{ match: [{ ip: { exact: 127.0.0.1 } }] }", None),
        ("{ principals: [127.0.0.1] }", None),
        (
            "{ match: [{ ip: { exact: 127.0.0.2 } }] }",
            Some("ip exact \"127.0.0.2\""),
        ),
        (
            "{ principals: [\"spiffe://example.org/ns/aks/sa/other\"], match: [{ uri: { prefix: \"spiffe://other.org/\" } }] }",
            Some("\"spiffe://example.org/ns/aks/sa/other\", uri prefix \"spiffe://other.org/\""),
        ),
    ];
    for (allowed, refusal) in cases {
        s.reload(&gw, allowed);
        let (status, body) = s.call();
        match refusal {
            None => assert_eq!(status, 200, "{allowed}: {body}"),
            Some(described) => {
                assert_eq!(status, 502, "{allowed}: {body}");
                assert!(body.contains(&refused(described)), "{allowed}: {body}");
            }
        }
    }
}

#[test]
fn a_bad_allow_list_is_refused_at_load_and_on_reload_naming_the_field() {
    let s = setup();
    let bad = config(&s.base, "{ match: [{ ip: { exact: 10.0.0.256 } }] }");
    let path = s.w.etc.join("bad.yaml");
    std::fs::write(&path, &bad).unwrap();
    let out = support::run(
        std::process::Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .args(["--workers", "1", "run", "--config"])
            .arg(&path),
        b"",
    );
    let want =
        "backends.aks.tls.subject_alt_names.match[0].ip: \"10.0.0.256\" is not an IP address";
    assert!(out.stderr.contains(want), "{}{}", out.stdout, out.stderr);
    assert_ne!(out.code, 0);

    // On a hot reload the previous configuration keeps serving.
    let gw = s.w.start("gw.yaml", &config(&s.base, ""), s.admin);
    let failures = gw.log_count("reload failed");
    write_atomic(&gw.config, config(&s.base, "{}"));
    let line = gw.wait_for_log("reload failed", failures);
    assert!(
        line.contains("backends.aks.tls.subject_alt_names: an empty allow-list admits no upstream"),
        "{line}"
    );
    let (status, body) = s.call();
    assert_eq!(status, 200, "{body}");
}
