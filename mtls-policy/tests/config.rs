//! Configuration: the example loads; every bad input we know of fails with the exact error.

use mtls_policy::{ConfigErrorKind, Policy, PolicyConfig};

#[test]
fn the_example_file_loads_and_round_trips_through_json_and_yaml() {
    let text = include_str!("../examples/policy.yaml");
    let config = PolicyConfig::from_yaml(text).unwrap();
    assert_eq!(config.listeners.len(), 2);
    let policy = Policy::new(config.clone()).unwrap();
    assert_eq!(
        policy.config().listeners[0].hosts[0]
            .client_validation
            .as_ref()
            .unwrap()
            .trust
            .len(),
        2
    );
    let json = serde_json::to_string(&config).unwrap();
    assert_eq!(PolicyConfig::from_json(&json).unwrap(), config, "{json}");
    let yaml = config.to_yaml().unwrap();
    assert_eq!(PolicyConfig::from_yaml(&yaml).unwrap(), config, "{yaml}");
    // Pins are written as they are read: certificate digests in uppercase hex with colons,
    // SPKI digests in base64.
    let pins = "      pins:
        cert_sha256:
        - DF:6F:F7:2F:E9:11:65:21:26:8F:64:55:1B:8B:55:4D:4B:40:F1:7C:7F:61:E5:28:A2:0E:9F:DF:A6:A2:6B:39
        spki_sha256:
        - 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=
";
    assert!(yaml.contains(pins), "{yaml}");
}

fn yaml_err(text: &str) -> (ConfigErrorKind, String) {
    let e = Policy::from_yaml(text).unwrap_err();
    (e.kind(), e.to_string())
}

const HEAD: &str =
    "listeners:\n  - name: a\n    port: 443\n    hosts:\n      - client_validation:\n";

#[test]
fn bad_configs() {
    use ConfigErrorKind::*;
    let cases: &[(String, ConfigErrorKind, &str)] = &[
        (format!("{HEAD}          mode: required\n          trust: [{{ name: t, ca: [{{ fil: /x }}] }}]\n"), Syntax, "listeners[0].hosts[0].client_validation.trust[0].ca[0].fil: unknown field `fil`, expected one of `file`, `pem`, `secret` at line 7 column 37"),
        (format!("{HEAD}          mode: required\n          trust: [{{ name: t, ca: [{{ file: /x }}], profile: pedantic }}]\n"), Syntax, "listeners[0].hosts[0].client_validation.trust[0].profile: unknown variant `pedantic`, expected `default` or `strict` at line 7 column 59"),
        (format!("{HEAD}          mode: none\n          trust: [{{ name: t, ca: [{{ file: /x }}] }}]\n"), Conflict, "listeners[0].hosts[0].client_validation: conflicting settings: `mode: none` and `trust` at line 6 column 11"),
        (format!("{HEAD}          mode: required\n"), Invalid, "listeners[0].hosts[0].client_validation: `mode: required` needs at least one `trust` domain at line 6 column 11"),
        (format!("{HEAD}          mode: requird\n"), Syntax, "listeners[0].hosts[0].client_validation.mode: unknown variant `requird`, expected one of `required`, `optional`, `none` at line 6 column 17"),
        (format!("{HEAD}          trust: [{{ name: t, ca: [{{ file: /x, pem: y }}] }}]\n"), Conflict, "listeners[0].hosts[0].client_validation.trust[0].ca[0]: conflicting settings: `file` and `pem` (set only one) at line 6 column 35"),
        (format!("{HEAD}          trust: [{{ name: t, ca: [] }}]\n"), Invalid, "listeners[0].hosts[0].client_validation: trust[0].ca is empty at line 6 column 11"),
        (format!("{HEAD}          trust: [{{ name: t, ca: [{{ file: /x }}] }}, {{ name: t, ca: [{{ file: /y }}] }}]\n"), Invalid, "listeners[0].hosts[0].client_validation: trust[1].name \"t\" is used twice at line 6 column 11"),
        (format!("{HEAD}          trust: [{{ name: t, ca: [{{ file: /x }}] }}]\n          pins: {{ cert_sha256: [abcd] }}\n"), Invalid, "listeners[0].hosts[0].client_validation.pins: invalid certificate SHA-256 pin \"abcd\": expected 64 hex digits (colons allowed) at line 7 column 17"),
        (format!("{HEAD}          trust: [{{ name: t, ca: [{{ file: /x }}] }}]\n          pins: {{ spki_sha256: [\"not base64\"] }}\n"), Invalid, "listeners[0].hosts[0].client_validation.pins: invalid SPKI SHA-256 pin \"not base64\": expected the base64 of 32 bytes at line 7 column 17"),
        (format!("{HEAD}          trust: [{{ name: t, ca: [{{ file: /x }}], may_vouch_for: {{ match: [{{ dns: {{ regex: \"(\" }} }}] }} }}]\n"), Invalid, "listeners[0].hosts[0].client_validation.trust[0].may_vouch_for.match[0].dns: invalid regex \"(\": regex parse error:…"),
        (format!("{HEAD}          trust: [{{ name: t, ca: [{{ file: /x }}], may_vouch_for: {{ match: [{{ dns: {{ wildcard: \"*example.com\" }} }}] }} }}]\n"), Invalid, "listeners[0].hosts[0].client_validation.trust[0].may_vouch_for.match[0].dns: invalid wildcard \"*example.com\": expected `*.` followed by a domain without `*` at line 6 column 82"),
        (format!("{HEAD}          trust: [{{ name: t, ca: [{{ file: /x }}], may_vouch_for: {{ match: [{{ dns: {{ exact: a }}, uri: {{ exact: b }} }}] }} }}]\n"), Conflict, "listeners[0].hosts[0].client_validation.trust[0].may_vouch_for.match[0]: conflicting settings: `dns` and `uri` (set only one) at line 6 column 75"),
        (format!("{HEAD}          mode: none\n          danger: {{ skip_client_cert_validation: true }}\n"), Conflict, "listeners[0].hosts[0].client_validation: conflicting settings: `mode: none` and `danger.skip_client_cert_validation` at line 6 column 11"),
        ("listeners:\n  - { name: a, port: 443, hosts: [] }\n  - { name: b, port: 443, hosts: [] }\n".to_owned(), Conflict, "listeners[1].port: conflicting settings: port 443 is also the port of listeners[0]"),
        ("listeners:\n  - { name: a, port: 443, hosts: [{ hostnames: [x.example] }, { hostnames: [X.example] }] }\n".to_owned(), Conflict, "listeners[0].hosts[1].hostnames: conflicting settings: host name \"X.example\" is configured twice"),
        ("peer_authentication:\n  - { namespace: prod, mode: STRICT, port_level: { 80: DISABLE } }\nlisteners: []\n".to_owned(), Conflict, "peer_authentication[0]: `port_level` requires `selector` (port-level mTLS applies only to a selected workload)"),
        ("peer_authentication:\n  - { namespace: prod, mode: STRICTER }\nlisteners: []\n".to_owned(), Syntax, "peer_authentication[0].mode: unknown variant `STRICTER`, expected one of `UNSET`, `unset`, `STRICT`, `strict`, `PERMISSIVE`, `permissive`, `DISABLE`, `disable` at line 2 column 30"),
        ("listeners:\n  - { name: a, port: 443, hosts: [], answers: { revokd: { close: true } } }\n".to_owned(), Syntax, "listeners[0].answers: unknown deny code `revokd`, expected one of `no_certificate`, `unknown_issuer`, `untrusted_trust_domain`, `expired`, `not_yet_valid`, `revoked`, `revocation_unknown`, `crl_expired`, `bad_eku`, `chain_too_long`, `bad_signature`, `invalid_certificate`, `pin_mismatch`, `identity_not_allowed`, `issuer_not_allowed_for_identity`, `plaintext_not_allowed`, `sni_host_mismatch`, `no_listener`, `bad_request` at line 2 column 47"),
        ("listeners:\n  - { name: a, port: 443, hosts: [], answers: { revoked: { close: true, http: { status: 400 } } } }\n".to_owned(), Conflict, "listeners[0].answers.revoked: conflicting settings: `close` and `http` (set only one) at line 2 column 58"),
        ("listeners:\n  - { name: a, port: 70000, hosts: [] }\n".to_owned(), Invalid, "listeners[0].port: invalid value: `70000`, expected u16 at line 2 column 22"),
        ("listener: []\n".to_owned(), Syntax, "listener: unknown field `listener`, expected one of `admin`, `access_log`, `root_namespace`, `peer_authentication`, `answers`, `forward_identity`, `listeners`, `backends` at line 1 column 1"),
        ("listeners: [\n".to_owned(), Syntax, "listeners: unclosed bracket '[' at line 1 column 12"),
    ];
    for (text, kind, want) in cases {
        let (k, got) = yaml_err(text);
        println!("{k:?} {got:?}");
        assert_eq!(k, *kind, "{got}");
        match want.strip_suffix('…') {
            Some(prefix) => assert!(got.starts_with(prefix), "{got}"),
            None => assert_eq!(got.as_str(), *want, "{text}"),
        }
    }
}

#[test]
fn json_errors_carry_path_line_and_column() {
    let text = "{\n  \"listeners\": [\n    { \"name\": \"a\", \"port\": 443, \"hosts\": [], \"audit\": \"yes\" }\n  ]\n}";
    let e = Policy::from_json(text).unwrap_err();
    assert_eq!(
        (e.path(), e.line(), e.column()),
        ("listeners[0].audit", Some(3), Some(59))
    );
    assert_eq!(
        e.to_string(),
        "listeners[0].audit: invalid type: string \"yes\", expected a boolean at line 3 column 59"
    );
    assert_eq!(e.kind(), ConfigErrorKind::Syntax);
}

#[test]
fn yaml_reading_rules() {
    use ConfigErrorKind::*;
    // A key given twice is refused where the second one stands, not silently overwritten.
    assert_eq!(
        yaml_err("listeners:\n  - name: a\n    port: 443\n    port: 444\n    hosts: []\n"),
        (
            Syntax,
            "listeners[0].port: `port` is given twice at line 4 column 5".to_owned()
        )
    );
    // YAML 1.1 booleans are strings: a boolean field given one is an error, not a guess.
    for word in ["yes", "on", "off", "n"] {
        assert_eq!(
            yaml_err(&format!(
                "listeners:\n  - {{ name: a, port: 443, hosts: [], audit: {word} }}\n"
            )),
            (
                Invalid,
                format!(
                    "listeners[0].audit: invalid value: `{word}`, expected a boolean (`true` or `false`) at line 2 column 45"
                )
            ),
        );
    }
    // Anchors and aliases are read...
    let text = "listeners:\n  - { name: a, port: 443, hosts: [], audit: &t true }\n  - { name: b, port: 444, hosts: [], audit: *t }\n";
    let config = PolicyConfig::from_yaml(text).unwrap();
    assert!(config.listeners[1].audit);
    // ... but an alias bomb (each level ten aliases of the one below) is refused, bounded.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    bomb.push_str("kind: *a8\n");
    let refused =
        "aliases expand into more than 100000 nodes: refused (an alias bomb?) at line 5 column 45";
    let err = mtls_policy::yaml::from_str::<serde_json::Value>(&bomb).unwrap_err();
    assert_eq!(
        (err.kind(), err.message()),
        (Syntax, &refused[..refused.find(" at").unwrap()])
    );
    let err = mtls_policy::yaml::documents(&bomb).unwrap_err();
    assert_eq!(err.to_string(), refused);
    // One configuration is one document.
    assert_eq!(
        yaml_err("listeners: []\n---\nlisteners: []\n"),
        (
            Syntax,
            "more than one YAML document (`---`) where one is expected at line 3 column 1"
                .to_owned()
        )
    );
}
