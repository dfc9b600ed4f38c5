//! Answers that do not verify, in the running gateway (`mode: soft`): a response signed by a
//! key that may not sign for the issuer, and a genuine response about another certificate.
//! Each lets the client in (its status stays unknown), is counted as
//! `mtls_ocsp_requests_total{result="rejected"}`, and caches nothing: the next handshake
//! looks the certificate up as `not_cached` again.

use crate::answers::{http_answer, response_about, serve_once};
use crate::responder::{Responder, TestCa};
use crate::running::{config, get, pki};
use crate::support::{Workdir, eventually, free_port, metric};

const DOMAIN: &str = "trust_domain=\"ocsp-clients\"";

/// Waits until one answer is counted as `rejected`, then checks that nothing was cached.
fn assert_rejected_and_nothing_cached(
    gw: &crate::support::Gateway,
    dir: &std::path::Path,
    https: u16,
    client: &str,
) {
    eventually("the rejected answer counted", || {
        metric(
            &gw.admin_get("/metrics"),
            "mtls_ocsp_requests_total",
            &[DOMAIN, "result=\"rejected\""],
        ) == Some(1.0)
    });
    assert_eq!(get(dir, https, client), (200, "ok\n".into()));
    let m = gw.admin_get("/metrics");
    assert_eq!(
        metric(
            &m,
            "mtls_ocsp_lookups_total",
            &[DOMAIN, "result=\"not_cached\""]
        ),
        Some(2.0),
        "{m}"
    );
    for cached in ["good", "revoked", "unknown"] {
        let label = format!("result=\"{cached}\"");
        assert_eq!(
            metric(&m, "mtls_ocsp_lookups_total", &[DOMAIN, &label]),
            None,
            "{m}"
        );
        assert_eq!(
            metric(&m, "mtls_ocsp_requests_total", &[DOMAIN, &label]),
            None,
            "{m}"
        );
    }
}

#[test]
fn a_response_signed_by_the_wrong_key_lets_the_client_in_and_is_counted_rejected() {
    let w = Workdir::new();
    let dir = &w.etc;
    let _responder = pki(dir);
    // The same index, answered with a key the intermediate never delegated to.
    let (other_pem, other_key) = TestCa::root("Other CA").write(dir, "other");
    let wrong = Responder::start(
        &dir.join("index.txt"),
        &dir.join("inter.pem"),
        &other_pem,
        &other_key,
    );
    let (https, admin) = (free_port(), free_port());
    let ocsp = format!("{{ responder: \"{}\", timeout: 2s }}", wrong.url());
    let gw = w.start("wrong-key.yaml", &config(https, admin, &ocsp), admin);

    assert_eq!(get(dir, https, "revoked"), (200, "ok\n".into()));
    assert_rejected_and_nothing_cached(&gw, dir, https, "revoked");
    assert!(
        gw.log_text().contains("which may not sign for the issuer"),
        "{}",
        gw.log_text()
    );
}

#[test]
fn a_response_for_another_certificate_lets_the_client_in_and_is_counted_rejected() {
    let w = Workdir::new();
    let dir = &w.etc;
    let responder = pki(dir);
    // A genuine response, signed by the issuer, about the revoked client (serial 0x2002),
    // replayed when the gateway asks about the good one (0x2001).
    let response = response_about(dir, &responder.url(), "0x2002");
    let (url, server) = serve_once(http_answer("200 OK", &response));
    let (https, admin) = (free_port(), free_port());
    let ocsp = format!("{{ responder: \"{url}\", timeout: 2s }}");
    let gw = w.start("another.yaml", &config(https, admin, &ocsp), admin);

    assert_eq!(get(dir, https, "good"), (200, "ok\n".into()));
    server.join().unwrap();
    assert_rejected_and_nothing_cached(&gw, dir, https, "good");
    assert!(
        gw.log_text()
            .contains("for another certificate: asked about serial 2001, answered for 2002"),
        "{}",
        gw.log_text()
    );
}
