//! Upstream TLS from the vendors' objects: Gateway API `BackendTLSPolicy` `subjectAltNames`
//! and Istio `DestinationRule` `trafficPolicy.tls`, each as its vendor documents it, into the
//! backends' `tls` (CA, client certificate, SNI and the `subject_alt_names` allow-list); the
//! warnings compared exactly, the YAML with the fixture's golden file (`MTLS_KUBE_BLESS=1`
//! rewrites it).

use std::path::PathBuf;

use mtls_kube::{Options, Translation};
use mtls_policy::{IdentityMatchSpec, Policy, PolicyConfig};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap()
}

fn translate_text(text: &str) -> Translation {
    let objects = mtls_kube::parse_manifests(text, "fixture").unwrap();
    let t = mtls_kube::translate(&objects, &Options::default());
    Policy::new(t.config.clone()).unwrap();
    let yaml = t.config.to_yaml().unwrap();
    assert_eq!(PolicyConfig::from_yaml(&yaml).unwrap(), t.config, "{yaml}");
    t
}

fn warnings(t: &Translation) -> Vec<String> {
    t.warnings.iter().map(ToString::to_string).collect()
}

/// An allow-list as the configuration writes it.
fn allow(yaml: &str) -> IdentityMatchSpec {
    let text = format!(
        "listeners: []\nbackends:\n  b:\n    url: https://b\n    tls:\n      ca: ca.pem\n      \
         subject_alt_names: {yaml}\n"
    );
    let config = PolicyConfig::from_yaml(&text).unwrap();
    config.backends["b"]
        .tls
        .clone()
        .unwrap()
        .subject_alt_names
        .unwrap()
}

/// Translates the fixture `name` and compares its YAML with `tests/golden/<name>`.
fn translate_golden(name: &str) -> Translation {
    let t = translate_text(&fixture(name));
    let yaml = t.config.to_yaml().unwrap();
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("MTLS_KUBE_BLESS").is_some() {
        std::fs::write(&golden, &yaml).unwrap();
    }
    let want =
        std::fs::read_to_string(&golden).unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
    assert_eq!(yaml, want, "{name}");
    t
}

const BACKEND_TLS: &str = "gateway-api-backend-tls-subject-alt-names.yaml";

#[test]
fn backend_tls_policy_subject_alt_names_become_the_allow_list() {
    let t = translate_golden(BACKEND_TLS);
    assert_eq!(warnings(&t), Vec::<String>::new());
    let b = &t.config.backends["default-tls-backend-443"];
    assert_eq!(b.url, "https://tls-backend.default.svc.cluster.local:443");
    let tls = b.tls.as_ref().unwrap();
    assert_eq!(
        tls.ca,
        PathBuf::from("/etc/mtls/configmaps/default/backend-ca/ca.crt")
    );
    assert_eq!(tls.expected_name.as_deref(), Some("backend.example.com"));
    assert_eq!(
        tls.subject_alt_names,
        Some(allow(
            "{ match: [{ dns: { exact: backend.example.com } }, { dns: { wildcard: \
             \"*.backends.example.com\" } }, { uri: { exact: \
             \"spiffe://cluster.local/ns/default/sa/tls-backend\" } }] }"
        ))
    );
}

#[test]
fn backend_tls_policy_subject_alt_names_it_cannot_use_are_reported() {
    let text = fixture(BACKEND_TLS)
        .replace("    - type: URI\n", "    - type: IPAddress\n")
        .replace("hostname: \"*.backends.example.com\"", "hostname: \"*.\"")
        .replace(
            "    - type: Hostname\n      hostname: backend.example.com\n",
            "    - type: Hostname\n",
        );
    let t = translate_text(&text);
    assert_eq!(
        warnings(&t),
        [
            "BackendTLSPolicy default/tls-backend-policy: spec.validation.subjectAltNames[0].hostname: missing: left out",
            "BackendTLSPolicy default/tls-backend-policy: spec.validation.subjectAltNames[1].hostname: invalid wildcard \"*.\": expected `*.` followed by a domain without `*`: left out",
            "BackendTLSPolicy default/tls-backend-policy: spec.validation.subjectAltNames[2].type: type \"IPAddress\" is not supported (Hostname, URI are): left out",
            "BackendTLSPolicy default/tls-backend-policy: spec.validation.subjectAltNames: no usable entry: the upstream is verified against `hostname` only",
        ]
    );
    let tls = t.config.backends["default-tls-backend-443"]
        .tls
        .as_ref()
        .unwrap();
    assert_eq!(tls.subject_alt_names, None);
    assert_eq!(tls.expected_name.as_deref(), Some("backend.example.com"));
}
