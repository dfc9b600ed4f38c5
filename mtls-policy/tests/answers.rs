//! Answers the TLS layer or the layer cannot give are refused when the policy is compiled,
//! each with the field, the listener (and host), the reason, the answer and what to write
//! instead. Answers that can be given load.

use mtls_policy::{Answer, DenyCode, EnforceAt, Policy};

/// A listener with one host requiring a certificate; `answers` is the listener's `answers`
/// map and `enforce_at` the host's.
fn policy(answers: &str, enforce_at: &str) -> Result<Policy, String> {
    Policy::from_yaml(&format!(
        "listeners:
  - name: edge
    port: 8443
    answers: {answers}
    hosts:
      - hostnames: [api.example.com]
        client_validation:
          mode: required
          enforce_at: {enforce_at}
          trust: [{{ name: clients, ca: [{{ pem: x }}] }}]
"
    ))
    .map_err(|e| e.to_string())
}

#[test]
fn answers_that_cannot_be_given_are_refused_with_the_field_and_the_reason() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "{ identity_not_allowed: { tls_alert: access_denied } }",
            "handshake",
            "listeners[0].answers.identity_not_allowed: TLS alert access_denied (49) cannot answer `identity_not_allowed`: it is known only at the HTTP request, after the handshake; answer with `http` (listener \"edge\")",
        ),
        (
            "{ sni_host_mismatch: { tls_alert: bad_certificate } }",
            "handshake",
            "listeners[0].answers.sni_host_mismatch: TLS alert bad_certificate (42) cannot answer `sni_host_mismatch`: it is known only at the HTTP request, after the handshake; answer with `http` (listener \"edge\")",
        ),
        (
            "{ plaintext_not_allowed: { tls_alert: handshake_failure } }",
            "handshake",
            "listeners[0].answers.plaintext_not_allowed: TLS alert handshake_failure (40) cannot answer `plaintext_not_allowed`: it is known before any TLS handshake; answer with `close` or `http` (listener \"edge\")",
        ),
        (
            "{ no_certificate: { tls_alert: bad_certificate } }",
            "handshake",
            "listeners[0].answers.no_certificate: TLS alert bad_certificate (42) cannot answer `no_certificate`: a handshake without a client certificate ends with certificate_required (116) only (rustls sends no other alert there); answer with `{ tls_alert: certificate_required }`, or with `http` (the handshake then completes and each request gets it) (listener \"edge\")",
        ),
        (
            "{ revoked: { tls_alert: certificate_required } }",
            "handshake",
            "listeners[0].answers.revoked: TLS alert certificate_required (116) cannot answer `revoked`: it says no certificate was sent, and one was; choose another alert (bad_certificate, certificate_revoked, certificate_expired, certificate_unknown, unknown_ca, access_denied, ...) or `http` (listener \"edge\")",
        ),
        (
            "{ expired: { tls_alert: certificate_expired } }",
            "request",
            "listeners[0].answers.expired: TLS alert certificate_expired (45) cannot answer `expired` on a host with `enforce_at: request`, whose handshake accepts any certificate; answer with `http`, or enforce at the handshake (listener \"edge\", hosts[0])",
        ),
        (
            "{ revoked: { close: true } }",
            "handshake",
            "listeners[0].answers.revoked: `close` cannot answer `revoked`: a TLS handshake ends with an alert or completes; answer with `tls_alert` or `http` (listener \"edge\")",
        ),
        (
            "{ identity_not_allowed: { close: true } }",
            "handshake",
            "listeners[0].answers.identity_not_allowed: `close` cannot answer `identity_not_allowed`: it is known at the HTTP request, which is answered over HTTP; answer with `http` (listener \"edge\")",
        ),
    ];
    for (answers, at, expected) in cases {
        let err = policy(answers, at).expect_err(answers);
        assert_eq!(&err, expected, "{answers} at {at}");
    }
}

#[test]
fn a_policy_wide_answer_is_refused_at_its_own_field() {
    let err = Policy::from_yaml(
        "answers: { pin_mismatch: { tls_alert: certificate_required } }
listeners:
  - { name: edge, port: 8443, hosts: [] }
",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "answers.pin_mismatch: TLS alert certificate_required (116) cannot answer `pin_mismatch`: it says no certificate was sent, and one was; choose another alert (bad_certificate, certificate_revoked, certificate_expired, certificate_unknown, unknown_ca, access_denied, ...) or `http` (listener \"edge\")"
    );
}

#[test]
fn answers_that_can_be_given_load() {
    let ok = [
        (
            "{ no_certificate: { tls_alert: certificate_required } }",
            "handshake",
        ),
        ("{ no_certificate: { http: { status: 496 } } }", "handshake"),
        ("{ revoked: { tls_alert: bad_certificate } }", "handshake"),
        (
            "{ revoked: { http: { status: 495, format: problem_json } } }",
            "request",
        ),
        (
            "{ identity_not_allowed: { http: { status: 403 } } }",
            "request",
        ),
        (
            "{ plaintext_not_allowed: { http: { status: 400 } } }",
            "handshake",
        ),
        ("{ plaintext_not_allowed: { close: true } }", "handshake"),
        ("{}", "request"),
    ];
    for (answers, at) in ok {
        policy(answers, at).unwrap_or_else(|e| panic!("{answers} at {at}: {e}"));
    }
}

#[test]
fn a_host_enforcing_at_the_request_answers_unconfigured_reasons_over_http() {
    assert_eq!(
        Answer::default_at_request(DenyCode::NoCertificate),
        Answer::Http(mtls_policy::HttpAnswer::new(496))
    );
    assert_eq!(
        Answer::default_at_request(DenyCode::Revoked),
        Answer::Http(mtls_policy::HttpAnswer::new(495))
    );
    assert_eq!(
        Answer::default_at_request(DenyCode::PinMismatch),
        Answer::Http(mtls_policy::HttpAnswer::new(403))
    );
    assert_eq!(EnforceAt::default(), EnforceAt::Handshake);
}

#[test]
fn the_decision_of_a_host_enforcing_at_the_request_is_http() {
    use mtls_policy::{Context, Decision, PeerVerification, VerifyError};
    let at_request = policy("{ revoked: { http: { status: 400 } } }", "request").unwrap();
    let at_handshake = policy("{}", "handshake").unwrap();
    let answer = |p: &Policy, v: &PeerVerification| {
        let ctx = Context::new(8443, v).sni("api.example.com").path("/");
        match p.decide(&ctx) {
            Decision::Deny { answer, .. } => answer,
            other => panic!("{other:?}"),
        }
    };
    let none = PeerVerification::NoCertificate;
    let expired = PeerVerification::failed(Some("clients"), VerifyError::Expired);
    let revoked = PeerVerification::failed(Some("clients"), VerifyError::Revoked { reason: None });
    let http = |s| Answer::Http(mtls_policy::HttpAnswer::new(s));
    assert_eq!(answer(&at_request, &none), http(496));
    assert_eq!(answer(&at_request, &expired), http(495));
    assert_eq!(answer(&at_request, &revoked), http(400));
    assert_eq!(
        answer(&at_handshake, &none),
        Answer::TlsAlert(mtls_policy::TlsAlert::CertificateRequired)
    );
}
