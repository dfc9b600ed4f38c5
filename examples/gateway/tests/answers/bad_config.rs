//! An answer the gateway could not give is refused when the configuration is loaded: `run`
//! exits before serving, naming the file, the field, the listener (and host), the reason and
//! the answer, and saying what to write instead.

use std::process::Command;

use crate::setup;
use crate::support::{Workdir, free_port, run};

/// `mtls-gateway run` on the answers configuration with `answers` and `enforce_at`: its exit
/// code and its last line on stderr.
fn refused(answers: &str, enforce_at: &str) -> (i32, String) {
    let dir = Workdir::new();
    setup::write(&dir.etc);
    let config = dir.etc.join("answers.yaml");
    std::fs::write(
        &config,
        setup::config(free_port(), free_port(), answers, enforce_at),
    )
    .unwrap();
    let out = run(
        Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .current_dir(&dir.etc)
            .args(["--workers", "1", "run", "--config", "answers.yaml"]),
        b"",
    );
    let last = out.stderr.lines().last().unwrap_or_default().to_owned();
    (out.code, last)
}

#[test]
fn answers_that_cannot_be_given_stop_the_gateway_at_load_with_the_field_and_why() {
    // Each refusal's full list is mtls-policy's tests/answers.rs; these show the binary
    // stops on them with the message.
    let cases = [
        (
            "{ no_certificate: { tls_alert: handshake_failure } }",
            "handshake",
            "listeners[0].answers.no_certificate: TLS alert handshake_failure (40) cannot answer `no_certificate`: a handshake without a client certificate ends with certificate_required (116) only (rustls sends no other alert there); answer with `{ tls_alert: certificate_required }`, or with `http` (the handshake then completes and each request gets it) (listener \"edge\")",
        ),
        (
            "{ expired: { tls_alert: certificate_expired } }",
            "request",
            "listeners[0].answers.expired: TLS alert certificate_expired (45) cannot answer `expired` on a host with `enforce_at: request`, whose handshake accepts any certificate; answer with `http`, or enforce at the handshake (listener \"edge\", hosts[0])",
        ),
        (
            "{ plaintext_not_allowed: { tls_alert: access_denied } }",
            "handshake",
            "listeners[0].answers.plaintext_not_allowed: TLS alert access_denied (49) cannot answer `plaintext_not_allowed`: it is known before any TLS handshake; answer with `close` or `http` (listener \"edge\")",
        ),
        (
            "{ revoked: { close: true } }",
            "handshake",
            "listeners[0].answers.revoked: `close` cannot answer `revoked`: a TLS handshake ends with an alert or completes; answer with `tls_alert` or `http` (listener \"edge\")",
        ),
    ];
    for (answers, enforce_at, why) in cases {
        let (code, last) = refused(answers, enforce_at);
        assert_ne!(code, 0, "{answers}: {last}");
        assert!(
            last.ends_with(why),
            "{answers}:\n{last}\nshould end with\n{why}"
        );
        assert!(last.contains("answers.yaml"), "names the file: {last}");
    }
}
