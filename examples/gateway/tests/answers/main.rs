//! Every configured answer is what the client gets: for each reason a client can be denied
//! for, the real `mtls-gateway run` binary is configured to answer with a TLS alert, with an
//! HTTP status (text or `application/problem+json`), or at the request (`enforce_at:
//! request`), and `curl` and `openssl s_client` see exactly that: the alert's number, or the
//! status, content type and body. Handshake refusals are counted by the same reason codes.
//!
//! Certificates are generated at test time (mtls-testkit); every client is bounded in time and
//! every gateway is killed at the end.

mod bad_config;
mod setup;
#[path = "../support/mod.rs"]
mod support;

use std::path::Path;

use setup::{CRL_EXPIRED, MAIN, NO_CRL, PINNED, SCOPED};
use support::{Output, Workdir, curl, free_port, intermediates_of, s_client};

/// How a client reaches the gateway to be denied for one reason.
struct Probe {
    /// The TLS server name, and the URL's host.
    sni: &'static str,
    /// The client certificate (`<stem>.pem`, `<stem>.key`), if any.
    cert: Option<&'static str>,
    path: &'static str,
    /// A `Host` other than the SNI.
    host: Option<&'static str>,
    /// Plain HTTP instead of TLS.
    plaintext: bool,
}

const fn tls(sni: &'static str, cert: Option<&'static str>) -> Probe {
    Probe {
        sni,
        cert,
        path: "/",
        host: None,
        plaintext: false,
    }
}

/// The client that is denied for `reason`.
fn probe(reason: &str) -> Probe {
    match reason {
        "allowed" => tls(MAIN, Some("client")),
        "no_certificate" => tls(MAIN, None),
        "unknown_issuer" => tls(MAIN, Some("stranger")),
        "expired" => tls(MAIN, Some("expired")),
        "not_yet_valid" => tls(MAIN, Some("notyet")),
        "revoked" => tls(MAIN, Some("revoked")),
        "revocation_unknown" => tls(NO_CRL, Some("client")),
        "crl_expired" => tls(CRL_EXPIRED, Some("client")),
        "bad_eku" => tls(MAIN, Some("server-eku")),
        "pin_mismatch" => tls(PINNED, Some("client")),
        "issuer_not_allowed_for_identity" => tls(SCOPED, Some("client")),
        "identity_not_allowed" => Probe {
            path: "/ops",
            ..tls(MAIN, Some("client"))
        },
        "sni_host_mismatch" => Probe {
            host: Some(PINNED),
            ..tls(MAIN, Some("client"))
        },
        "plaintext_not_allowed" => Probe {
            plaintext: true,
            ..tls(MAIN, None)
        },
        other => panic!("no probe for {other}"),
    }
}

/// What the client must get.
#[derive(Debug)]
enum Expect {
    /// The handshake ends with this alert (its number).
    Alert(u8),
    /// An HTTP answer: status, content type, a piece of the body.
    Http(u16, &'static str, &'static str),
    /// The connection closes without a word.
    Closed,
}

const TEXT: &str = "text/plain; charset=utf-8";
const PROBLEM: &str = "application/problem+json";

/// The TLS versions a client may offer.
#[derive(Clone, Copy, Debug)]
enum Tls {
    /// TLS 1.3 and 1.2 (1.3 is negotiated).
    Any,
    /// TLS 1.2 only.
    V12,
}

/// Runs `table` against a gateway answering with `answers` on hosts enforcing at
/// `enforce_at`, the clients offering `tls`; returns the gateway's `/metrics` afterwards.
fn check(answers: &str, enforce_at: &str, tls: Tls, table: &[(&str, Expect)]) -> String {
    let dir = Workdir::new();
    setup::write(&dir.etc);
    let (https, admin) = (free_port(), free_port());
    let text = setup::config(https, admin, answers, enforce_at);
    let gateway = dir.start("answers.yaml", &text, admin);
    for (reason, expect) in table {
        let probe = probe(reason);
        let seen = format!("{reason} ({enforce_at}, {tls:?}, {answers})");
        let mut args = curl_args(https, &probe);
        let mut s_args = s_client_args(&dir.etc, &probe);
        if let Tls::V12 = tls {
            args.splice(0..0, ["--tls-max".to_owned(), "1.2".to_owned()]);
            s_args.push("-tls1_2".to_owned());
        }
        let got = curl(&dir.etc, &strs(&args));
        match expect {
            Expect::Alert(number) => {
                // No HTTP answer: the handshake ended (curl names the alert, or, for some under
                // TLS 1.2, reports a failed verification).
                assert_ne!(got.code, 0, "{seen}: curl got an answer: {got:?}");
                assert!(got.stdout.ends_with("\n000"), "{seen}: {got:?}");
                let out = s_client(&dir.etc, https, &strs(&s_args), &request(&probe));
                let line = format!("alert number {number}\n");
                assert!(out.all().contains(&line), "{seen}: no `{line}` in {out:?}");
                assert!(!out.stdout.contains("HTTP/1.1"), "{seen}: {out:?}");
            }
            Expect::Http(status, content_type, body) => {
                let (head, text) = answer(&got, &seen);
                assert_eq!(head, format!("{content_type}\n{status}"), "{seen}: {got:?}");
                assert!(text.contains(body), "{seen}: {text:?} lacks {body:?}");
                if !probe.plaintext {
                    let out = s_client(&dir.etc, https, &strs(&s_args), &request(&probe));
                    let status_line = format!("HTTP/1.1 {status} ");
                    assert!(out.stdout.contains(&status_line), "{seen}: {out:?}");
                    assert!(out.stdout.contains(body), "{seen}: {out:?}");
                    assert!(!out.all().contains("alert number"), "{seen}: {out:?}");
                }
            }
            Expect::Closed => {
                // curl: (52) Empty reply from server.
                assert_eq!(got.code, 52, "{seen}: {got:?}");
            }
        }
    }
    // The gateway counts a refusal after the client has seen it: scrape until every refusal
    // of the table is counted (an alert is met by curl and s_client, a close by curl), bounded.
    let refusals: f64 = table
        .iter()
        .map(|(_, expect)| match expect {
            Expect::Alert(_) => 2.0,
            Expect::Closed => 1.0,
            Expect::Http(..) => 0.0,
        })
        .sum();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let metrics = gateway.admin_get("/metrics");
        if counted_failures(&metrics) >= refusals || std::time::Instant::now() > deadline {
            return metrics;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The sum of `mtls_accept_failures_total` over its reasons.
fn counted_failures(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("mtls_accept_failures_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `curl` to the probe's URL, printing the body, then the content type and the status.
fn curl_args(https: u16, probe: &Probe) -> Vec<String> {
    let mut args: Vec<String> = ["-w", "\n%{content_type}\n%{http_code}"]
        .map(String::from)
        .to_vec();
    args.push("--resolve".into());
    args.push(format!("{}:{https}:127.0.0.1", probe.sni));
    if probe.plaintext {
        args.push(format!("http://{}:{https}{}", probe.sni, probe.path));
        return args;
    }
    args.extend(["--cacert".into(), "ca.pem".into()]);
    if let Some(cert) = probe.cert {
        args.extend([
            "--cert".into(),
            format!("{cert}.pem"),
            "--key".into(),
            format!("{cert}.key"),
        ]);
    }
    if let Some(host) = probe.host {
        args.extend(["-H".into(), format!("Host: {host}")]);
    }
    args.push(format!("https://{}:{https}{}", probe.sni, probe.path));
    args
}

/// `openssl s_client` arguments for the probe: its SNI, its certificate and intermediates.
fn s_client_args(dir: &Path, probe: &Probe) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "-servername".into(),
        probe.sni.into(),
        "-CAfile".into(),
        "ca.pem".into(),
    ];
    if let Some(cert) = probe.cert {
        let chain = format!("{cert}-intermediates.pem");
        intermediates_of(&dir.join(format!("{cert}.pem")), &dir.join(&chain));
        args.extend([
            "-cert".into(),
            format!("{cert}.pem"),
            "-key".into(),
            format!("{cert}.key"),
        ]);
        args.extend(["-cert_chain".into(), chain]);
    }
    args
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn request(probe: &Probe) -> String {
    let host = probe.host.unwrap_or(probe.sni);
    format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        probe.path
    )
}

/// The content type and status (`TYPE\nSTATUS`) and the body of a `curl_args` answer.
fn answer(got: &Output, seen: &str) -> (String, String) {
    assert_eq!(got.code, 0, "{seen}: {got:?}");
    let mut parts = got.stdout.rsplitn(3, '\n');
    let status = parts.next().unwrap_or_default();
    let content_type = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    (format!("{content_type}\n{status}"), body.to_owned())
}

/// `mtls_accept_failures_total{reason="REASON"} N` is in the metrics.
fn assert_counted(metrics: &str, reason: &str, n: u32) {
    let line = format!("mtls_accept_failures_total{{reason=\"{reason}\"}} {n}\n");
    assert!(metrics.contains(&line), "no `{line}` in:\n{metrics}");
}

#[test]
fn each_reason_ends_the_handshake_with_its_configured_alert() {
    let answers = "{ no_certificate: { tls_alert: certificate_required },
      unknown_issuer: { tls_alert: bad_certificate },
      expired: { tls_alert: certificate_unknown },
      not_yet_valid: { tls_alert: certificate_expired },
      revoked: { tls_alert: certificate_revoked },
      revocation_unknown: { tls_alert: access_denied },
      crl_expired: { tls_alert: unknown_ca },
      bad_eku: { tls_alert: handshake_failure },
      pin_mismatch: { tls_alert: decrypt_error },
      issuer_not_allowed_for_identity: { tls_alert: unsupported_certificate } }";
    let alerts = [
        ("no_certificate", 116),
        ("unknown_issuer", 42),
        ("expired", 46),
        ("not_yet_valid", 45),
        ("revoked", 44),
        ("revocation_unknown", 49),
        ("crl_expired", 48),
        ("bad_eku", 40),
        ("pin_mismatch", 51),
        ("issuer_not_allowed_for_identity", 43),
    ];
    let mut table: Vec<(&str, Expect)> = vec![("allowed", Expect::Http(200, "text/plain", "ok"))];
    table.extend(alerts.iter().map(|&(r, n)| (r, Expect::Alert(n))));
    // Known only at the request or before TLS: their defaults.
    table.push((
        "identity_not_allowed",
        Expect::Http(403, TEXT, "not in allow-list of route /ops"),
    ));
    table.push((
        "sni_host_mismatch",
        Expect::Http(421, TEXT, "does not match Host pinned.test"),
    ));
    table.push(("plaintext_not_allowed", Expect::Closed));
    for tls in [Tls::Any, Tls::V12] {
        let metrics = check(answers, "handshake", tls, &table);
        // curl and s_client each: counted by reason, as the layer counts denials.
        for (reason, _) in alerts {
            assert_counted(&metrics, reason, 2);
        }
        assert_counted(&metrics, "plaintext_not_allowed", 1);
        assert_counted(&metrics, "handshake", 0);
    }
}

#[test]
fn each_reason_answered_over_http_completes_the_handshake_and_gets_its_status_and_body() {
    let answers = r#"{ no_certificate: { http: { status: 496 } },
      unknown_issuer: { http: { status: 495, format: problem_json } },
      expired: { http: { status: 495, message: "The SSL certificate error" } },
      not_yet_valid: { http: { status: 400 } },
      revoked: { http: { status: 400, format: problem_json } },
      revocation_unknown: { http: { status: 403 } },
      crl_expired: { http: { status: 495 } },
      bad_eku: { http: { status: 403, format: problem_json } },
      pin_mismatch: { http: { status: 403 } },
      issuer_not_allowed_for_identity: { http: { status: 403, format: problem_json } },
      identity_not_allowed: { http: { status: 403, format: problem_json } },
      sni_host_mismatch: { http: { status: 400 } },
      plaintext_not_allowed: { http: { status: 400 } } }"#;
    let table = [
        (
            "no_certificate",
            Expect::Http(
                496,
                TEXT,
                "no client certificate presented; listener edge requires one",
            ),
        ),
        (
            "unknown_issuer",
            Expect::Http(495, PROBLEM, r#""code":"unknown_issuer""#),
        ),
        (
            "expired",
            Expect::Http(495, TEXT, "The SSL certificate error"),
        ),
        (
            "not_yet_valid",
            Expect::Http(400, TEXT, "client certificate not yet valid"),
        ),
        ("revoked", Expect::Http(400, PROBLEM, r#""status":400"#)),
        (
            "revocation_unknown",
            Expect::Http(403, TEXT, "client certificate revocation status unknown"),
        ),
        (
            "crl_expired",
            Expect::Http(495, TEXT, "client certificate CRL expired"),
        ),
        ("bad_eku", Expect::Http(403, PROBLEM, r#""code":"bad_eku""#)),
        ("pin_mismatch", Expect::Http(403, TEXT, "matches no pin")),
        (
            "issuer_not_allowed_for_identity",
            Expect::Http(403, PROBLEM, r#""code":"issuer_not_allowed_for_identity""#),
        ),
        (
            "identity_not_allowed",
            Expect::Http(403, PROBLEM, r#""code":"identity_not_allowed""#),
        ),
        (
            "sni_host_mismatch",
            Expect::Http(400, TEXT, "does not match Host pinned.test"),
        ),
        (
            "plaintext_not_allowed",
            Expect::Http(400, TEXT, "plaintext connection on port"),
        ),
    ];
    let metrics = check(answers, "handshake", Tls::Any, &table);
    assert_counted(&metrics, "no_certificate", 0);
    assert_counted(&metrics, "revoked", 0);
}

#[test]
fn a_host_enforcing_at_the_request_answers_every_reason_over_http() {
    let table = [
        ("allowed", Expect::Http(200, "text/plain", "ok")),
        (
            "no_certificate",
            Expect::Http(496, TEXT, "no client certificate presented"),
        ),
        (
            "unknown_issuer",
            Expect::Http(495, TEXT, "client certificate unknown issuer"),
        ),
        (
            "expired",
            Expect::Http(495, TEXT, "client certificate expired"),
        ),
        (
            "not_yet_valid",
            Expect::Http(495, TEXT, "client certificate not yet valid"),
        ),
        // Its default answer is HTTP already (AGC's 400 with the reason).
        (
            "revoked",
            Expect::Http(400, TEXT, "client certificate revoked"),
        ),
        (
            "revocation_unknown",
            Expect::Http(495, TEXT, "revocation status unknown"),
        ),
        ("crl_expired", Expect::Http(495, TEXT, "CRL expired")),
        ("bad_eku", Expect::Http(495, TEXT, "extended key usage")),
        ("pin_mismatch", Expect::Http(403, TEXT, "matches no pin")),
        (
            "issuer_not_allowed_for_identity",
            Expect::Http(403, TEXT, "may not vouch for"),
        ),
        (
            "identity_not_allowed",
            Expect::Http(403, TEXT, "not in allow-list"),
        ),
        (
            "sni_host_mismatch",
            Expect::Http(421, TEXT, "does not match Host"),
        ),
        ("plaintext_not_allowed", Expect::Closed),
    ];
    let metrics = check("{}", "request", Tls::Any, &table);
    assert_counted(&metrics, "no_certificate", 0);
    assert_counted(&metrics, "unknown_issuer", 0);
}
