//! OCSP in the running gateway (`ocsp` of a trust domain, `mode: soft`): the real
//! `mtls-gateway run` binary, `openssl ocsp` as the responder, the real `curl` as the client.
//! A client whose status is not known yet is let in while its status is fetched; once the
//! responder says revoked, it is refused with the host's answer for `revoked`, and its open
//! connection is closed; a responder that is down or slower than `timeout` lets clients in,
//! and is counted by its reason; a bad `ocsp` value stops the gateway with the field named.

use std::path::Path;

use crate::responder::{Responder, TestCa, index_line, write};
use crate::support::keep_alive::{closed_by_server, get_on, keep_alive_client};
use crate::support::{Workdir, curl_status, eventually, free_port, metric};

/// Root → intermediate → `good` and `revoked` clients (chain and key files in `dir`) naming
/// the intermediate's responder; `root.pem` is the trust domain's CA.
pub(super) fn pki(dir: &Path) -> Responder {
    let root = TestCa::root("OCSP Root CA");
    let inter = root.intermediate("OCSP Intermediate CA");
    let index = write(
        dir,
        "index.txt",
        &[
            index_line(0x2001, "good client", None),
            index_line(0x2002, "revoked client", Some("keyCompromise")),
        ]
        .concat(),
    );
    write(dir, "root.pem", &root.cert.pem());
    let (inter_pem, inter_key) = inter.write(dir, "inter");
    let responder = Responder::start(&index, &inter_pem, &inter_pem, &inter_key);
    for (name, cn, serial) in [
        ("good", "good client", 0x2001),
        ("revoked", "revoked client", 0x2002),
    ] {
        let (cert, key) = inter.client_with_key(cn, serial, Some(&responder.url()));
        write(
            dir,
            &format!("{name}.pem"),
            &(cert.pem() + &inter.cert.pem()),
        );
        write(dir, &format!("{name}.key"), &key.serialize_pem());
    }
    responder
}

/// A listener whose one host trusts `root.pem` as the domain `ocsp-clients` with `ocsp`.
pub(super) fn config(https: u16, admin: u16, ocsp: &str) -> String {
    format!(
        r#"
admin:
  address: 127.0.0.1:{admin}
listeners:
  - name: edge
    address: 127.0.0.1:{https}
    limits: {{ close_revoked_connections: 2s }}
    hosts:
      - certificate: {{ chain: server.pem, key: server.key }}
        client_validation:
          mode: required
          trust:
            - name: ocsp-clients
              ca: [{{ file: root.pem }}]
              ocsp: {ocsp}
        routes:
          - path_prefix: /
            respond: {{ status: 200, body: "ok\n" }}
"#
    )
}

/// `(status, body)` of `GET /` as the client `name`.
pub(super) fn get(dir: &Path, port: u16, name: &str) -> (u16, String) {
    let url = format!("https://localhost:{port}/");
    let (cert, key) = (format!("{name}.pem"), format!("{name}.key"));
    let (_, status, body, _) = curl_status(
        dir,
        &["--cacert", "ca.pem", &url, "--cert", &cert, "--key", &key],
    );
    (status, body)
}

#[test]
fn a_revoked_client_is_refused_once_its_status_is_fetched_and_a_good_one_stays_in() {
    let w = Workdir::new();
    let dir = &w.etc;
    let _responder = pki(dir);
    let (https, admin) = (free_port(), free_port());
    let gw = w.start("ocsp.yaml", &config(https, admin, "{ timeout: 2s }"), admin);
    let domain = "trust_domain=\"ocsp-clients\"";

    // Not known yet: soft mode lets both in, and fetches their status.
    assert_eq!(get(dir, https, "good"), (200, "ok\n".into()));
    assert_eq!(get(dir, https, "revoked"), (200, "ok\n".into()));
    eventually("the responder's answers cached", || {
        let m = gw.admin_get("/metrics");
        metric(&m, "mtls_ocsp_requests_total", &[domain, "result=\"good\""]) == Some(1.0)
            && metric(
                &m,
                "mtls_ocsp_requests_total",
                &[domain, "result=\"revoked\""],
            ) == Some(1.0)
    });
    // From the cache: the revoked client gets the host's answer for `revoked`.
    let (status, body) = get(dir, https, "revoked");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("revoked"), "{body}");
    assert_eq!(get(dir, https, "good"), (200, "ok\n".into()));
    let m = gw.admin_get("/metrics");
    let lookups = |result: &str| {
        let label = format!("result=\"{result}\"");
        metric(&m, "mtls_ocsp_lookups_total", &[domain, &label]).unwrap_or(0.0)
    };
    // Each client's first handshake found nothing cached. Its later one was served from the
    // cache; so may be the recheck of connections still open when the revoked status arrived
    // (the swap that closes revoked connections), hence at least one each.
    assert_eq!(lookups("not_cached"), 2.0, "{m}");
    assert!(lookups("good") >= 1.0, "{m}");
    assert!(lookups("revoked") >= 1.0, "{m}");
}

#[test]
fn a_responder_that_is_down_lets_clients_in_and_is_counted() {
    let w = Workdir::new();
    let dir = &w.etc;
    let _responder = pki(dir);
    let (https, admin, down) = (free_port(), free_port(), free_port());
    let ocsp = format!("{{ mode: soft, responder: \"http://127.0.0.1:{down}/\", timeout: 1s }}");
    let gw = w.start("down.yaml", &config(https, admin, &ocsp), admin);
    let domain = "trust_domain=\"ocsp-clients\"";

    assert_eq!(get(dir, https, "revoked"), (200, "ok\n".into()));
    eventually("the failed request counted", || {
        metric(
            &gw.admin_get("/metrics"),
            "mtls_ocsp_requests_total",
            &[domain, "result=\"unreachable\""],
        )
        .is_some_and(|n| n >= 1.0)
    });
    // Still not known: let in again, and asked again.
    assert_eq!(get(dir, https, "revoked"), (200, "ok\n".into()));
    let m = gw.admin_get("/metrics");
    assert_eq!(
        metric(
            &m,
            "mtls_ocsp_lookups_total",
            &[domain, "result=\"not_cached\""]
        ),
        Some(2.0),
        "{m}"
    );
}

#[test]
fn a_status_fetched_as_revoked_closes_the_open_connection_of_that_client() {
    let w = Workdir::new();
    let dir = &w.etc;
    let _responder = pki(dir);
    let (https, admin) = (free_port(), free_port());
    let gw = w.start("close.yaml", &config(https, admin, "{}"), admin);

    // Let in while its status is not known; the fetch that follows says revoked.
    let mut doomed = keep_alive_client(dir, https, "revoked");
    let (status, _) = get_on(&mut doomed).unwrap();
    assert!(status.contains(" 200 "), "{status}");
    let closed = closed_by_server(&mut doomed);
    assert!(closed.is_ok(), "the connection was not closed: {closed:?}");
    // The swap closes the connection before it ends and is counted (on its own thread).
    let reloaded = "mtls_reloads_total{result=\"ok\",trigger=\"revocation\"} 1";
    eventually("the swap counted", || {
        gw.admin_get("/metrics").contains(reloaded)
    });
    let m = gw.admin_get("/metrics");
    assert!(m.contains("mtls_connections_closed_revoked_total 1"), "{m}");
    // Its next connection is refused from the cache.
    assert_eq!(get(dir, https, "revoked").0, 400);
}

#[test]
fn a_responder_slower_than_the_timeout_lets_clients_in_and_is_counted() {
    let w = Workdir::new();
    let dir = &w.etc;
    let _responder = pki(dir);
    // Accepts connections (the kernel's backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", silent.local_addr().unwrap());
    let (https, admin) = (free_port(), free_port());
    let ocsp = format!("{{ responder: \"{url}\", timeout: 500ms }}");
    let gw = w.start("slow.yaml", &config(https, admin, &ocsp), admin);
    let domain = "trust_domain=\"ocsp-clients\"";

    assert_eq!(get(dir, https, "revoked"), (200, "ok\n".into()));
    eventually("the timed-out request counted", || {
        metric(
            &gw.admin_get("/metrics"),
            "mtls_ocsp_requests_total",
            &[domain, "result=\"timeout\""],
        )
        .is_some_and(|n| n >= 1.0)
    });
    assert_eq!(get(dir, https, "revoked"), (200, "ok\n".into()));
}

#[test]
fn a_bad_ocsp_value_stops_the_gateway_at_start_with_the_field_named() {
    let w = Workdir::new();
    let dir = &w.etc;
    write(dir, "root.pem", &TestCa::root("OCSP Root CA").cert.pem());
    let (https, admin) = (free_port(), free_port());
    for (ocsp, field, message) in [
        (
            "{ timeout: 0s }",
            "ocsp.timeout",
            "must be longer than 0 and at most 1m",
        ),
        (
            "{ responder: \"https://ocsp.example.com/\" }",
            "ocsp.responder",
            "is not an http:// URL",
        ),
        ("{ mode: strict }", "ocsp", "strict"),
    ] {
        write(dir, "bad.yaml", &config(https, admin, ocsp));
        let out = crate::support::run(
            std::process::Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
                .current_dir(dir)
                .args(["run", "--config", "bad.yaml"]),
            b"",
        );
        assert_ne!(out.code, 0, "{ocsp}: {}", out.stderr);
        let at = format!("listeners[0].hosts[0].client_validation.trust[0].{field}");
        assert!(out.stderr.contains(&at), "{ocsp}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{ocsp}: {}", out.stderr);
    }
}
