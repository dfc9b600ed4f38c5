//! `ocsp` of a trust domain: defaults, a round trip, and the exact error of every bad value.

use std::time::Duration;

use mtls_policy::ocsp::OcspMode;
use mtls_policy::{Policy, PolicyConfig};

fn config(ocsp: &str) -> String {
    format!(
        r#"
listeners:
  - name: edge
    port: 8443
    hosts:
      - client_validation:
          mode: required
          trust:
            - name: clients
              ca: [{{ file: /etc/mtls/ca.pem }}]
              ocsp: {ocsp}
        routes:
          - path_prefix: /
"#
    )
}

#[test]
fn defaults_and_a_round_trip() {
    let parsed =
        PolicyConfig::from_yaml(&config("{ responder: http://ocsp.example.com/ }")).unwrap();
    let ocsp = parsed.listeners[0].hosts[0]
        .client_validation
        .as_ref()
        .unwrap()
        .trust[0]
        .ocsp
        .clone()
        .unwrap();
    assert_eq!(ocsp.mode, OcspMode::Soft);
    assert_eq!(ocsp.responder.as_deref(), Some("http://ocsp.example.com/"));
    assert_eq!(
        (ocsp.timeout.0, ocsp.cache_ttl.0),
        (Duration::from_secs(2), Duration::from_secs(3600))
    );
    let yaml = parsed.to_yaml().unwrap();
    assert_eq!(PolicyConfig::from_yaml(&yaml).unwrap(), parsed, "{yaml}");
    Policy::new(parsed).unwrap();
    Policy::from_yaml(&config("{}")).unwrap();
    Policy::from_yaml(&config("{ mode: soft, timeout: 500ms, cache_ttl: 10m }")).unwrap();
}

#[test]
fn every_bad_value_names_its_field() {
    let at = "listeners[0].hosts[0].client_validation.trust[0].ocsp";
    for (value, field, message) in [
        (
            "{ timeout: 0s }",
            "timeout",
            "must be longer than 0 and at most 1m",
        ),
        (
            "{ timeout: 2m }",
            "timeout",
            "must be longer than 0 and at most 1m",
        ),
        (
            "{ cache_ttl: 0s }",
            "cache_ttl",
            "must be between 1s and 7d (168h)",
        ),
        (
            "{ cache_ttl: 169h }",
            "cache_ttl",
            "must be between 1s and 7d (168h)",
        ),
        (
            "{ responder: https://ocsp.example.com/ }",
            "responder",
            "\"https://ocsp.example.com/\" is not an http:// URL (OCSP responses are signed; https is not asked)",
        ),
    ] {
        let err = Policy::from_yaml(&config(value)).unwrap_err();
        assert_eq!(
            (err.path(), err.message()),
            (format!("{at}.{field}").as_str(), message),
            "{value}"
        );
    }
    for (value, word) in [("{ mode: strict }", "strict"), ("{ ttl: 1h }", "ttl")] {
        let err = Policy::from_yaml(&config(value)).unwrap_err();
        assert!(err.message().contains(word), "{value}: {err}");
    }
}

#[test]
fn hard_mode_needs_http_answers_for_revoked_and_revocation_unknown() {
    let with = |answers: &str| {
        config("{ mode: hard }").replacen(
            "    hosts:",
            &format!("    answers: {answers}\n    hosts:"),
            1,
        )
    };
    let ok = with("{ revocation_unknown: { http: { status: 503 } } }");
    let policy = Policy::from_yaml(&ok);
    assert!(policy.is_ok(), "{policy:?}");
    for (answers, path, given) in [
        (
            "{}",
            "listeners[0].answers.revocation_unknown",
            "(not set, and the default is TLS alert",
        ),
        (
            "{ revocation_unknown: { http: { status: 503 } }, revoked: { tls_alert: certificate_revoked } }",
            "listeners[0].answers.revoked",
            "(TLS alert",
        ),
    ] {
        let err = Policy::from_yaml(&with(answers)).unwrap_err();
        assert_eq!(err.path(), path, "{answers}: {err}");
        let message = err.message();
        assert!(
            message.starts_with("must be an `http` answer "),
            "{message}"
        );
        assert!(message.contains(given), "{message}");
        assert!(
            message.contains("hosts[0] waits for OCSP statuses after the handshake (client_validation.trust[0].ocsp.mode: hard)"),
            "{message}"
        );
    }
    // A host answering at the request turns the default alert into HTTP.
    let at_request = with("{}").replace(
        "mode: required",
        "mode: required\n          enforce_at: request",
    );
    let policy = Policy::from_yaml(&at_request);
    assert!(policy.is_ok(), "{policy:?}");
}
