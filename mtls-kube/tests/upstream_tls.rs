//! Upstream TLS from the vendors' objects: Gateway API `BackendTLSPolicy` `subjectAltNames`
//! and Istio `DestinationRule` `trafficPolicy.tls`, each as its vendor documents it, into the
//! backends' `tls` (CA, client certificate, SNI and the `subject_alt_names` allow-list); the
//! warnings compared exactly, the YAML with the fixture's golden file (`MTLS_KUBE_BLESS=1`
//! rewrites it).

use std::path::PathBuf;

use mtls_kube::{Options, Translation};
use mtls_policy::{CertificateSource, IdentityMatchSpec, Policy, PolicyConfig, TrustSource};

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

fn file(path: &str) -> TrustSource {
    TrustSource::File(path.into())
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
        file("/etc/mtls/configmaps/default/backend-ca/ca.crt")
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

const DESTINATION_RULE: &str = "istio-destination-rule-tls.yaml";

#[test]
fn destination_rule_tls_becomes_the_backends_upstream_tls() {
    let t = translate_golden(DESTINATION_RULE);
    assert_eq!(
        warnings(&t),
        [
            "DestinationRule prod/payments: spec.trafficPolicy.portLevelSettings[0].loadBalancer: not translated: mtls-kube does not read this field",
            "DestinationRule prod/ratings-istio-mtls: spec.trafficPolicy.tls.mode: ISTIO_MUTUAL is not translated: it presents the mesh's own workload certificates (issued by istiod to each proxy), which are not available to this gateway; use MUTUAL with a credentialName",
        ]
    );
    let backend = |name: &str| &t.config.backends[name];
    // MUTUAL with files: the files as written.
    let db = backend("prod-mydbserver-443");
    assert_eq!(db.url, "https://mydbserver.prod.svc.cluster.local:443");
    let tls = db.tls.as_ref().unwrap();
    assert_eq!(tls.ca, file("/etc/certs/rootcacerts.pem"));
    assert_eq!(
        tls.client_certificate,
        Some(CertificateSource::files(
            "/etc/certs/myclientcert.pem",
            "/etc/certs/client_private_key.pem"
        ))
    );
    assert_eq!(
        (tls.expected_name.as_deref(), tls.subject_alt_names.as_ref()),
        (None, None)
    );
    // ISTIO_MUTUAL: not translated, the backend as the route made it.
    let ratings = backend("prod-ratings-9080");
    assert_eq!(
        (ratings.url.as_str(), ratings.tls.as_ref()),
        ("http://ratings.prod.svc.cluster.local:9080", None)
    );
    // credentialName (a short host, in the rule's namespace): the Secret mounted, the SNI and
    // the allow-list.
    let orders = backend("prod-orders-8443");
    assert_eq!(orders.url, "https://orders.prod.svc.cluster.local:8443");
    let tls = orders.tls.as_ref().unwrap();
    assert_eq!(
        tls.ca,
        file("/etc/mtls/secrets/prod/client-credential/ca.crt")
    );
    assert_eq!(
        tls.client_certificate,
        Some(CertificateSource::files(
            "/etc/mtls/secrets/prod/client-credential/tls.crt",
            "/etc/mtls/secrets/prod/client-credential/tls.key"
        ))
    );
    assert_eq!(
        tls.expected_name.as_deref(),
        Some("orders.internal.example.com")
    );
    assert_eq!(
        tls.subject_alt_names,
        Some(allow(
            "{ match: [{ uri: { exact: \"spiffe://cluster.local/ns/prod/sa/orders\" } }, { dns: { exact: orders.internal.example.com } }] }"
        ))
    );
    let secret = t
        .credentials
        .iter()
        .filter(|c| c.object.name == "client-credential")
        .map(|c| (format!("{:?}", c.purpose), c.keys.join(",")))
        .collect::<Vec<_>>();
    assert_eq!(
        secret,
        [
            ("UpstreamCa".to_string(), "ca.crt".to_string()),
            (
                "UpstreamClientCertificate".to_string(),
                "tls.crt,tls.key".to_string()
            ),
        ]
    );
    // Port-level settings win on their port; the rule's own elsewhere (DISABLE: plain).
    let payments = backend("prod-payments-8443");
    assert_eq!(payments.url, "https://payments.prod.svc.cluster.local:8443");
    let tls = payments.tls.as_ref().unwrap();
    assert_eq!(
        (&tls.ca, tls.client_certificate.as_ref()),
        (&file("/etc/certs/payments-ca.pem"), None)
    );
    let health = backend("prod-payments-8080");
    assert_eq!(
        (health.url.as_str(), health.tls.as_ref()),
        ("http://payments.prod.svc.cluster.local:8080", None)
    );
}

/// The fixture with its `orders-mtls` rule's `tls` replaced by `tls`.
fn with_orders_tls(tls: &str) -> String {
    let text = fixture(DESTINATION_RULE);
    let start = text
        .find("      mode: MUTUAL\n      credentialName")
        .unwrap();
    let end = text[start..].find("---").unwrap() + start;
    format!("{}{tls}{}", &text[..start], &text[end..])
}

#[test]
fn destination_rule_settings_it_cannot_use_are_reported() {
    let cases = [
        (
            "      mode: MUTUAL\n      caCertificates: /etc/certs/ca.pem\n",
            "DestinationRule prod/orders-mtls: spec.trafficPolicy.tls.clientCertificate: MUTUAL needs clientCertificate and privateKey (or credentialName): not translated",
        ),
        (
            "      mode: STRICT\n",
            "DestinationRule prod/orders-mtls: spec.trafficPolicy.tls.mode: mode \"STRICT\" is not supported (DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL are): not translated",
        ),
        (
            "      mode: SIMPLE\n",
            "DestinationRule prod/orders-mtls: spec.trafficPolicy.tls.caCertificates: no caCertificates: the upstream is verified with the system's CA bundle /etc/ssl/certs/ca-certificates.crt, as Istio does",
        ),
        (
            "      mode: SIMPLE\n      credentialName: orders-ca\n      caCertificates: /etc/certs/ca.pem\n",
            "DestinationRule prod/orders-mtls: spec.trafficPolicy.tls.credentialName: clientCertificate, privateKey and caCertificates are ignored: credentialName takes precedence, as in Istio",
        ),
    ];
    for (tls, warning) in cases {
        let t = translate_text(&with_orders_tls(tls));
        assert!(
            warnings(&t).contains(&warning.to_string()),
            "{tls}{:#?}",
            warnings(&t)
        );
    }
    // A second rule for a host takes nothing from a more specific one.
    let text = format!(
        "{}---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{ name: all-prod, namespace: prod }}\nspec:\n  host: \"*.prod.svc.cluster.local\"\n  trafficPolicy:\n    tls: {{ mode: SIMPLE, caCertificates: /etc/certs/prod-ca.pem }}\n",
        fixture(DESTINATION_RULE)
    );
    let t = translate_text(&text);
    assert!(
        warnings(&t).contains(&"DestinationRule prod/all-prod: spec.host: backend \"prod-mydbserver-443\" takes its TLS from DestinationRule prod/db-mtls, a rule for the same or a more specific host: not applied there".to_string()),
        "{:#?}",
        warnings(&t)
    );
    // ISTIO_MUTUAL's ratings is left alone by the wildcard too (it was claimed first).
    assert_eq!(t.config.backends["prod-ratings-9080"].tls, None);
}

#[test]
fn a_credential_name_is_read_from_the_gateways_namespace() {
    let objects = mtls_kube::parse_manifests(&fixture(DESTINATION_RULE), "fixture").unwrap();
    let mut options = Options::default();
    options.gateway_namespace = Some("istio-system".into());
    let t = mtls_kube::translate(&objects, &options);
    let tls = t.config.backends["prod-orders-8443"].tls.as_ref().unwrap();
    assert_eq!(
        tls.ca,
        file("/etc/mtls/secrets/istio-system/client-credential/ca.crt")
    );
    let mounted: Vec<String> = t
        .credentials
        .iter()
        .filter(|c| c.object.name == "client-credential")
        .map(|c| c.object.to_string())
        .collect();
    assert_eq!(
        mounted,
        [
            "Secret istio-system/client-credential",
            "Secret istio-system/client-credential"
        ]
    );
}
