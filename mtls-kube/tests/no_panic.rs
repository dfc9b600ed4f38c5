//! No input makes parsing or translation panic.

use proptest::prelude::*;

const KINDS: [(&str, &str); 10] = [
    ("v1", "Secret"),
    ("v1", "ConfigMap"),
    ("networking.istio.io/v1", "Gateway"),
    ("security.istio.io/v1", "PeerAuthentication"),
    ("gateway.networking.k8s.io/v1", "Gateway"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("gateway.networking.k8s.io/v1", "BackendTLSPolicy"),
    ("alb.networking.azure.io/v1", "FrontendTLSPolicy"),
    ("policy.openservicemesh.io/v1alpha1", "IngressBackend"),
    ("networking.k8s.io/v1", "Ingress"),
];

/// Field names the translators read, so random documents reach deep into them.
const KEYS: [&str; 40] = [
    "servers",
    "port",
    "number",
    "protocol",
    "hosts",
    "tls",
    "mode",
    "credentialName",
    "caCertCredentialName",
    "subjectAltNames",
    "verifyCertificateSpki",
    "verifyCertificateHash",
    "minProtocolVersion",
    "mtls",
    "selector",
    "matchLabels",
    "portLevelMtls",
    "listeners",
    "hostname",
    "certificateRefs",
    "name",
    "namespace",
    "frontend",
    "default",
    "perPort",
    "validation",
    "caCertificateRefs",
    "parentRefs",
    "rules",
    "matches",
    "path",
    "backendRefs",
    "targetRef",
    "sectionNames",
    "verify",
    "caCertificateRef",
    "backends",
    "sources",
    "kind",
    "data",
];

fn value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|i| serde_json::Value::Number(i.into())),
        prop_oneof![
            Just("MUTUAL".to_string()),
            Just("STRICT".to_string()),
            Just("443".to_string()),
            Just("*".to_string()),
            Just("a/b".to_string()),
            ".{0,12}"
        ]
        .prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec((prop::sample::select(&KEYS[..]), inner), 0..6).prop_map(|kv| {
                let mut m = serde_json::Map::new();
                for (k, v) in kv {
                    m.insert((*k).to_owned(), v);
                }
                serde_json::Value::Object(m)
            }),
        ]
    })
}

proptest! {
    #[test]
    fn random_text_never_panics(text in "(.|\n){0,300}") {
        if let Ok(objects) = mtls_kube::parse_manifests(&text, "random") {
            let t = mtls_kube::translate(&objects, &mtls_kube::Options::default());
            prop_assert!(t.config.to_yaml().is_ok());
        }
    }

    #[test]
    fn random_objects_never_panic(
        docs in prop::collection::vec((prop::sample::select(&KINDS[..]), value(), any::<bool>()), 1..5)
    ) {
        let mut objects = Vec::new();
        for ((api, kind), spec, in_spec) in docs {
            let mut m = serde_json::Map::new();
            m.insert("apiVersion".into(), (*api).into());
            m.insert("kind".into(), (*kind).into());
            let mut meta = serde_json::Map::new();
            meta.insert("name".into(), "x".into());
            meta.insert("namespace".into(), "ns".into());
            m.insert("metadata".into(), serde_json::Value::Object(meta));
            m.insert(if in_spec { "spec" } else { "data" }.into(), spec);
            let text = mtls_policy::yaml::to_string(&serde_json::Value::Object(m)).unwrap();
            if let Ok(mut o) = mtls_kube::parse_manifests(&text, "random") {
                objects.append(&mut o);
            }
        }
        let t = mtls_kube::translate(&objects, &mtls_kube::Options::default());
        prop_assert!(t.config.to_yaml().is_ok());
    }
}
