//! OCSP `hard` mode in the running gateway: the first request of a client whose status is not
//! known yet waits for it (up to `ocsp.timeout`): good → forwarded, revoked → the host's
//! answer for `revoked`, no status (responder down, slower than the timeout) → its answer for
//! `revocation_unknown`, which must be HTTP (an alert is refused at load, the field named).

use crate::responder::{TestCa, write};
use crate::running::{config, get, pki};
use crate::support::keep_alive::{get_on, keep_alive_client};
use crate::support::{Workdir, eventually, free_port, metric};

const DOMAIN: &str = "trust_domain=\"ocsp-clients\"";

/// [`config`] with `answers` on the listener.
fn with_answers(https: u16, admin: u16, ocsp: &str, answers: &str) -> String {
    config(https, admin, ocsp).replacen(
        "    limits:",
        &format!("    answers: {answers}\n    limits:"),
        1,
    )
}

const UNKNOWN_503: &str = "{ revocation_unknown: { http: { status: 503 } } }";

#[test]
fn a_good_client_is_forwarded_on_its_first_request_and_later_ones_do_not_wait() {
    let w = Workdir::new();
    let dir = &w.etc;
    let _responder = pki(dir);
    let (https, admin) = (free_port(), free_port());
    let text = with_answers(https, admin, "{ mode: hard, timeout: 5s }", UNKNOWN_503);
    let gw = w.start("hard-good.yaml", &text, admin);

    let mut conn = keep_alive_client(dir, https, "good");
    for _ in 0..2 {
        let (status, body) = get_on(&mut conn).unwrap();
        assert!(status.contains(" 200 "), "{status}: {body}");
    }
    let m = gw.admin_get("/metrics");
    assert_eq!(
        metric(&m, "mtls_ocsp_requests_total", &[DOMAIN, "result=\"good\""]),
        Some(1.0),
        "{m}"
    );
    assert_eq!(get(dir, https, "good"), (200, "ok\n".into()));
}

#[test]
fn a_revoked_client_gets_the_revoked_answer_on_its_first_request() {
    let w = Workdir::new();
    let dir = &w.etc;
    let _responder = pki(dir);
    let (https, admin) = (free_port(), free_port());
    let text = with_answers(https, admin, "{ mode: hard, timeout: 5s }", UNKNOWN_503);
    let gw = w.start("hard-revoked.yaml", &text, admin);

    let (status, body) = get(dir, https, "revoked");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("revoked"), "{body}");
    let m = gw.admin_get("/metrics");
    assert_eq!(
        metric(
            &m,
            "mtls_ocsp_requests_total",
            &[DOMAIN, "result=\"revoked\""]
        ),
        Some(1.0),
        "{m}"
    );
    // From the cache at the handshake, as in soft mode.
    assert_eq!(get(dir, https, "revoked").0, 400);
}

#[test]
fn without_a_status_in_time_the_client_gets_the_revocation_unknown_answer() {
    let w = Workdir::new();
    let dir = &w.etc;
    let _responder = pki(dir);
    // Down: nothing listens. Slow: accepts connections (the kernel's backlog), never answers.
    let down = format!("http://127.0.0.1:{}/", free_port());
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let slow = format!("http://{}/", silent.local_addr().unwrap());
    for (name, url, reason) in [("down", down, "unreachable"), ("slow", slow, "timeout")] {
        let (https, admin) = (free_port(), free_port());
        let ocsp = format!("{{ mode: hard, responder: \"{url}\", timeout: 1s }}");
        let text = with_answers(https, admin, &ocsp, UNKNOWN_503);
        let gw = w.start(&format!("hard-{name}.yaml"), &text, admin);

        let (status, body) = get(dir, https, "good");
        assert_eq!(status, 503, "{name}: {body}");
        assert!(body.contains("revocation status unknown"), "{name}: {body}");
        let label = format!("result=\"{reason}\"");
        eventually("the failed request counted", || {
            metric(
                &gw.admin_get("/metrics"),
                "mtls_ocsp_requests_total",
                &[DOMAIN, &label],
            )
            .is_some_and(|n| n >= 1.0)
        });
    }
}

#[test]
fn hard_mode_with_an_answer_that_is_not_http_stops_the_gateway_with_the_field_named() {
    let w = Workdir::new();
    let dir = &w.etc;
    write(dir, "root.pem", &TestCa::root("OCSP Root CA").cert.pem());
    let (https, admin) = (free_port(), free_port());
    for (answers, field, given) in [
        (
            "{ revoked: { tls_alert: certificate_revoked } }",
            "listeners[0].answers.revoked",
            "(TLS alert",
        ),
        (
            "{}",
            "listeners[0].answers.revocation_unknown",
            "(not set, and the default is TLS alert",
        ),
    ] {
        let text = with_answers(https, admin, "{ mode: hard }", answers);
        write(dir, "bad.yaml", &text);
        let out = crate::support::run(
            std::process::Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
                .current_dir(dir)
                .args(["run", "--config", "bad.yaml"]),
            b"",
        );
        assert_ne!(out.code, 0, "{answers}: {}", out.stderr);
        for needle in [
            field,
            "must be an `http` answer",
            given,
            "client_validation.trust[0].ocsp.mode: hard",
        ] {
            assert!(
                out.stderr.contains(needle),
                "{answers}: {needle}: {}",
                out.stderr
            );
        }
    }
}
