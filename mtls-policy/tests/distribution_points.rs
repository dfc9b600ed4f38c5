//! `crl.distribution_points` of a trust domain: defaults, a round trip, and the exact error of
//! every bad value.

use std::time::Duration;

use mtls_policy::{Policy, PolicyConfig};

fn config(distribution_points: &str) -> String {
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
              crl:
                next_update: {{ grace: 1h }}
                distribution_points: {distribution_points}
        routes:
          - path_prefix: /
"#
    )
}

#[test]
fn defaults_and_a_round_trip() {
    let text = config("{ urls: [http://pki.example.com/issuing.crl], refresh: 10m }");
    let parsed = PolicyConfig::from_yaml(&text).unwrap();
    let crl = parsed.listeners[0].hosts[0]
        .client_validation
        .as_ref()
        .unwrap()
        .trust[0]
        .crl
        .clone()
        .unwrap();
    assert!(crl.sources.is_empty());
    let dp = crl.distribution_points.clone().unwrap();
    assert_eq!(dp.urls, ["http://pki.example.com/issuing.crl"]);
    assert_eq!(
        (dp.refresh.0, dp.timeout.0, dp.max_bytes),
        (Duration::from_secs(600), Duration::from_secs(5), 10 << 20)
    );
    let yaml = parsed.to_yaml().unwrap();
    assert_eq!(PolicyConfig::from_yaml(&yaml).unwrap(), parsed, "{yaml}");
    Policy::new(parsed).unwrap();
    Policy::from_yaml(&config("{}")).unwrap();
}

#[test]
fn every_bad_value_names_its_field() {
    let at = "listeners[0].hosts[0].client_validation.trust[0].crl.distribution_points";
    for (value, field, message) in [
        ("{ refresh: 500ms }", "refresh", "must be at least 1s"),
        (
            "{ timeout: 0s }",
            "timeout",
            "must be longer than 0 and at most 5m",
        ),
        (
            "{ timeout: 6m }",
            "timeout",
            "must be longer than 0 and at most 5m",
        ),
        (
            "{ max_bytes: 0 }",
            "max_bytes",
            "must be between 1 and 268435456",
        ),
        (
            "{ urls: [https://pki.example.com/a.crl] }",
            "urls[0]",
            "\"https://pki.example.com/a.crl\" is not an http:// URL (CRLs are signed; https is not fetched)",
        ),
    ] {
        let err = Policy::from_yaml(&config(value)).unwrap_err();
        assert_eq!(
            (err.path(), err.message()),
            (format!("{at}.{field}").as_str(), message),
            "{value}"
        );
    }
    let err = Policy::from_yaml(&config("{ fetch: true }")).unwrap_err();
    assert!(err.message().contains("unknown field `fetch`"), "{err}");
}
