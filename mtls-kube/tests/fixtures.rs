//! Each vendor scenario, as its vendor documents it, translated into the expected
//! configuration; the warnings compared exactly, and each fixture's YAML compared with its
//! golden file (`tests/golden/`; `MTLS_KUBE_BLESS=1` rewrites them).

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use mtls_kube::{ConditionStatus, ObjectRef, Options, RefState, Translation};
use mtls_policy::{
    Answer, Authorization, CertificateSource, ClientCertMode, DenyCode, IdentityRule,
    PeerAuthentications, PeerMode, Policy, PolicyConfig, RouteConfig, StringMatch, TlsVersion,
    TrustSource, UnknownSni,
};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap()
}

fn translate_text(text: &str) -> Translation {
    let objects = mtls_kube::parse_manifests(text, "fixture").unwrap();
    let t = mtls_kube::translate(&objects, &Options::default());
    // Every translation is a configuration mtls-policy accepts, and its YAML reads back as it.
    Policy::new(t.config.clone()).unwrap();
    let yaml = t.config.to_yaml().unwrap();
    assert_eq!(PolicyConfig::from_yaml(&yaml).unwrap(), t.config, "{yaml}");
    t
}

fn translate(name: &str) -> Translation {
    translate_text(&fixture(name))
}

fn warnings(t: &Translation) -> Vec<String> {
    t.warnings.iter().map(ToString::to_string).collect()
}

fn file(path: &str) -> TrustSource {
    TrustSource::File(path.into())
}

fn secret_dir(path: &str) -> Option<CertificateSource> {
    Some(CertificateSource::SecretDir(path.into()))
}

#[test]
fn every_fixture_renders_its_golden_yaml() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut names: Vec<String> = std::fs::read_dir(dir.join("fixtures"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 14, "{names:?}");
    let bless = std::env::var_os("MTLS_KUBE_BLESS").is_some();
    // Every golden file has its fixture (a fixture without one fails below).
    let mut goldens: Vec<String> = std::fs::read_dir(dir.join("golden"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    goldens.sort();
    assert!(bless || names == goldens, "{names:?}\n{goldens:?}");
    for name in names {
        let yaml = translate(&name).config.to_yaml().unwrap();
        let golden = dir.join("golden").join(&name);
        if bless {
            std::fs::write(&golden, &yaml).unwrap();
        }
        let want = std::fs::read_to_string(&golden)
            .unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
        assert_eq!(yaml, want, "{name}");
    }
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn secret(ns: &str, name: &str, data: &[(&str, String)]) -> String {
    let mut out = format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata: {{ name: {name}, namespace: {ns} }}\ndata:\n"
    );
    for (k, v) in data {
        out.push_str(&format!("  {k}: {}\n", b64(v)));
    }
    out
}

const VIRTUAL_SERVICES: &str = "Gateway istio-system/mygateway: spec.servers: no VirtualService of the input binds to this Gateway (spec.gateways): its hosts have no routes, every request answers 404";

#[test]
fn istio_simple_two_hosts() {
    let t = translate("istio-gateway-simple-two-hosts.yaml");
    assert_eq!(warnings(&t), [VIRTUAL_SERVICES]);
    let l = &t.config.listeners[0];
    assert_eq!(
        (l.name.as_str(), l.address),
        ("istio-443", Some("0.0.0.0:443".parse().unwrap()))
    );
    assert_eq!(l.unknown_sni, UnknownSni::Refuse);
    let certificates: Vec<_> = l
        .hosts
        .iter()
        .map(|h| (h.hostnames.clone(), h.certificate.clone()))
        .collect();
    assert_eq!(
        certificates,
        [
            (
                vec!["httpbin.example.com".to_string()],
                secret_dir("/etc/mtls/secrets/istio-system/httpbin-credential")
            ),
            (
                vec!["helloworld.example.com".to_string()],
                secret_dir("/etc/mtls/secrets/istio-system/helloworld-credential")
            ),
        ]
    );
    assert!(
        l.hosts.iter().all(|h| h.client_validation.is_none()),
        "SIMPLE asks no client certificate"
    );
    assert!(
        l.hosts.iter().all(|h| h.routes.is_empty()),
        "no VirtualService: no routes"
    );
    assert!(
        t.credentials
            .iter()
            .all(|c| c.state == RefState::NotInInput)
    );
}

#[test]
fn istio_mutual_optional_and_passthrough() {
    let t = translate("istio-gateway-mutual.yaml");
    assert_eq!(
        warnings(&t),
        [
            "Gateway istio-system/mygateway: spec.servers[0].tls.cipherSuites: not supported: the crypto provider's default TLS 1.2 and 1.3 suites are used",
            "Gateway istio-system/mygateway: spec.servers[1].tls.mode: PASSTHROUGH is not supported: it forwards the TLS stream by SNI without terminating it, and this gateway terminates TLS to enforce client-certificate policy; this server is not translated",
            VIRTUAL_SERVICES,
        ]
    );
    let p = &t.config.listeners;
    assert_eq!(p.iter().map(|l| l.port()).collect::<Vec<_>>(), [443, 9443]);
    let v = p[0].hosts[0].client_validation.as_ref().unwrap();
    assert_eq!(v.mode, ClientCertMode::Required);
    assert_eq!(
        v.trust[0].ca,
        [file(
            "/etc/mtls/secrets/istio-system/httpbin-credential/ca.crt"
        )]
    );
    let sans = &v.trust[0].may_vouch_for.as_ref().unwrap().rules;
    assert_eq!(
        sans,
        &[
            IdentityRule::Dns(StringMatch::Exact("client.example.com".into())),
            IdentityRule::Uri(StringMatch::Exact(
                "spiffe://cluster.local/ns/client/sa/curl".into()
            )),
        ]
    );
    assert_eq!(v.pins.spki_sha256.len(), 1);
    assert_eq!(p[0].min_tls_version, TlsVersion::Tls13);
    // The pins are in the YAML the gateway reads (and read back: `translate_text`).
    let yaml = t.config.to_yaml().unwrap();
    assert!(
        yaml.contains("      pins:\n        spki_sha256:\n        - 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"),
        "{yaml}"
    );
    // OPTIONAL_MUTUAL on `*`: the default host, CA from caCertCredentialName.
    let opt = &p[1].hosts[0];
    assert!(opt.hostnames.is_empty());
    let v = opt.client_validation.as_ref().unwrap();
    assert_eq!(v.mode, ClientCertMode::Optional);
    assert_eq!(
        v.trust[0].ca,
        [file("/etc/mtls/secrets/istio-system/partner-ca/ca.crt")]
    );
    let gw = ObjectRef::new("Gateway", "istio-system", "mygateway");
    let passthrough = t.status_of(&gw, Some("servers[1]")).unwrap();
    assert_eq!(
        passthrough.condition("Accepted").unwrap().status,
        ConditionStatus::False
    );
    let mutual = t.status_of(&gw, Some("servers[0]")).unwrap();
    assert_eq!(
        mutual.condition("ResolvedRefs").unwrap().status,
        ConditionStatus::Unknown
    );
}

#[test]
fn istio_mutual_resolves_generated_secrets_in_each_layout() {
    let pki = mtls_testkit::Pki::new();
    let server = pki.server_for(&["httpbin.example.com"]).issue();
    let crl = pki.crls().build().root().pem();
    let base = fixture("istio-gateway-mutual.yaml");

    // Istio's generic layout: cert / key / cacert in one secret.
    let text = base.clone()
        + &secret(
            "istio-system",
            "httpbin-credential",
            &[
                ("cert", server.chain_pem()),
                ("key", server.key_pem()),
                ("cacert", pki.root().cert_pem()),
            ],
        );
    let t = translate_text(&text);
    let v = t.config.listeners[0].hosts[0]
        .client_validation
        .as_ref()
        .unwrap();
    assert_eq!(
        v.trust[0].ca,
        [file(
            "/etc/mtls/secrets/istio-system/httpbin-credential/cacert"
        )]
    );
    let gw = ObjectRef::new("Gateway", "istio-system", "mygateway");
    let refs = t
        .status_of(&gw, Some("servers[0]"))
        .unwrap()
        .condition("ResolvedRefs")
        .unwrap();
    assert_eq!(
        (refs.status, refs.reason.as_str()),
        (ConditionStatus::True, "ResolvedRefs")
    );

    // kubernetes.io/tls plus a separate `<name>-cacert` secret with a CRL.
    let text = base.clone()
        + &secret(
            "istio-system",
            "httpbin-credential",
            &[
                ("tls.crt", server.chain_pem()),
                ("tls.key", server.key_pem()),
            ],
        )
        + &secret(
            "istio-system",
            "httpbin-credential-cacert",
            &[("cacert", pki.root().cert_pem()), ("crl", crl.clone())],
        );
    let t = translate_text(&text);
    let v = t.config.listeners[0].hosts[0]
        .client_validation
        .as_ref()
        .unwrap();
    assert_eq!(
        v.trust[0].ca,
        [file(
            "/etc/mtls/secrets/istio-system/httpbin-credential-cacert/cacert"
        )]
    );
    let crl = v.trust[0].crl.as_ref().unwrap();
    assert_eq!(
        crl.sources,
        [file(
            "/etc/mtls/secrets/istio-system/httpbin-credential-cacert/crl"
        )]
    );

    // A key that is not the certificate's: InvalidCertificateRef.
    let other = pki.server().issue();
    let text = base
        + &secret(
            "istio-system",
            "httpbin-credential",
            &[
                ("tls.crt", server.chain_pem()),
                ("tls.key", other.key_pem()),
                ("ca.crt", pki.root().cert_pem()),
            ],
        );
    let t = translate_text(&text);
    let refs = t
        .status_of(&gw, Some("servers[0]"))
        .unwrap()
        .condition("ResolvedRefs")
        .unwrap();
    assert_eq!(
        (refs.status, refs.reason.as_str()),
        (ConditionStatus::False, "InvalidCertificateRef")
    );
}

#[test]
fn gateway_api_simple_two_hosts() {
    let t = translate("gateway-api-simple-two-hosts.yaml");
    assert_eq!(warnings(&t), Vec::<String>::new());
    let l = &t.config.listeners[0];
    assert_eq!(l.name, "mygateway-443");
    let routes: Vec<_> = l
        .hosts
        .iter()
        .map(|h| (h.hostnames.clone(), h.routes.clone()))
        .collect();
    assert_eq!(
        routes,
        [
            (
                vec!["httpbin.example.com".to_string()],
                vec![
                    RouteConfig::prefix("/status").backend("default-httpbin-8000"),
                    RouteConfig::prefix("/delay").backend("default-httpbin-8000"),
                ]
            ),
            (
                vec!["helloworld.example.com".to_string()],
                vec![RouteConfig::exact("/hello").backend("sample-helloworld-5000")]
            ),
        ]
    );
    let backends: Vec<_> = t
        .config
        .backends
        .iter()
        .map(|(name, b)| (name.as_str(), b.url.as_str()))
        .collect();
    assert_eq!(
        backends,
        [
            (
                "default-httpbin-8000",
                "http://httpbin.default.svc.cluster.local:8000"
            ),
            (
                "sample-helloworld-5000",
                "http://helloworld.sample.svc.cluster.local:5000"
            ),
        ]
    );
    assert!(l.hosts.iter().all(|h| h.client_validation.is_none()));
}

#[test]
fn gateway_api_istio_mutual_option() {
    let t = translate("gateway-api-mutual.yaml");
    assert_eq!(warnings(&t), Vec::<String>::new());
    let v = t.config.listeners[0].hosts[0]
        .client_validation
        .as_ref()
        .unwrap();
    assert_eq!(v.mode, ClientCertMode::Required);
    assert_eq!(
        v.trust[0].ca,
        [file(
            "/etc/mtls/secrets/istio-system/httpbin-credential/ca.crt"
        )]
    );
}

#[test]
fn gateway_api_frontend_validation_and_backend_tls() {
    let t = translate("gateway-api-frontend-validation.yaml");
    assert_eq!(
        warnings(&t),
        [
            "Gateway infra/client-validation: spec.tls.frontend.perPort[0].tls.validation.mode: AllowInsecureFallback: clients without a certificate or with one that does not verify are let through (optional + danger.skip_client_cert_validation)",
            "Gateway infra/client-validation: spec.listeners[2].protocol: protocol \"HTTP\" is not supported: the gateway terminates TLS for HTTP (HTTPS listeners); this listener is not translated",
        ]
    );
    let p = &t.config.listeners;
    let default = p[0].hosts[0].client_validation.as_ref().unwrap();
    assert_eq!(default.mode, ClientCertMode::Required);
    assert_eq!(
        default.trust[0].ca,
        [file(
            "/etc/mtls/configmaps/infra/foo-example-com-ca-cert/ca.crt"
        )]
    );
    let per_port = p[1].hosts[0].client_validation.as_ref().unwrap();
    assert_eq!(
        (per_port.mode, per_port.danger.skip_client_cert_validation),
        (ClientCertMode::Optional, true)
    );
    assert_eq!(
        per_port.trust[0].ca,
        [file("/etc/mtls/configmaps/infra/legacy-ca-cert/ca.crt")]
    );
    let b = &t.config.backends["infra-foo-svc-8443"];
    assert_eq!(b.url, "https://foo-svc.infra.svc.cluster.local:8443");
    let tls = b.tls.as_ref().unwrap();
    assert_eq!(
        tls.ca,
        file("/etc/mtls/configmaps/infra/foo-upstream-ca/ca.crt")
    );
    assert_eq!(
        tls.expected_name.as_deref(),
        Some("foo-svc.infra.svc.cluster.local")
    );
    let gw = ObjectRef::new("Gateway", "infra", "client-validation");
    let http = t
        .status_of(&gw, Some("http"))
        .unwrap()
        .condition("Accepted")
        .unwrap();
    assert_eq!(
        (http.status, http.reason.as_str()),
        (ConditionStatus::False, "UnsupportedProtocol")
    );
}

#[test]
fn gateway_api_ca_ref_of_unsupported_kind() {
    let text = fixture("gateway-api-frontend-validation.yaml").replace("name: foo-example-com-ca-cert", "name: foo-example-com-ca-cert\n          - kind: Service\n            group: \"\"\n            name: not-a-ca");
    let t = translate_text(&text);
    let gw = ObjectRef::new("Gateway", "infra", "client-validation");
    let refs = t
        .status_of(&gw, Some("foo-https"))
        .unwrap()
        .condition("ResolvedRefs")
        .unwrap();
    assert_eq!(
        (refs.status, refs.reason.as_str()),
        (ConditionStatus::False, "InvalidCACertificateKind")
    );
    assert!(warnings(&t).contains(&"Gateway infra/client-validation: spec.tls.frontend.default.validation.caCertificateRefs[1].kind: kind Service is not supported (ConfigMap, Secret are)".to_string()));
}

const NO_WORKLOAD_MESH: &str = "PeerAuthentication istio-system/default: spec: PeerAuthentications apply to a workload, and none is given: no listener takes its peer mode from them. Give the gateway workload's namespace, labels and ports (translate --workload-namespace NS --workload-label KEY=VALUE --workload-port PORT)";

#[test]
fn peer_authentication_at_mesh_namespace_and_workload_scope() {
    let t = translate("peer-authentication.yaml");
    assert_eq!(
        warnings(&t),
        [
            "PeerAuthentication bar/bar-ports: spec.portLevelMtls[9000]: ignored: Istio applies portLevelMtls only to a policy with a selector",
            NO_WORKLOAD_MESH,
        ]
    );
    // PeerAuthentications alone: no listener.
    assert!(t.config.listeners.is_empty());
    let config = &t.config;
    let pas = PeerAuthentications::new(&config.root_namespace, config.peer_authentication.clone())
        .unwrap();
    let none = BTreeMap::new();
    let finance = BTreeMap::from([("app".to_string(), "finance".to_string())]);
    assert_eq!(pas.resolve("prod", &none, 443).mode, PeerMode::Strict);
    assert_eq!(pas.resolve("foo", &none, 443).mode, PeerMode::Permissive);
    assert_eq!(pas.resolve("foo", &finance, 443).mode, PeerMode::Strict);
    assert_eq!(pas.resolve("foo", &finance, 8080).mode, PeerMode::Disable);
    assert_eq!(
        pas.resolve("bar", &none, 9000).mode,
        PeerMode::Strict,
        "UNSET inherits the mesh"
    );
}

#[test]
fn peer_authentication_the_oldest_wins() {
    let text = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: newer, namespace: foo, creationTimestamp: \"2025-02-01T00:00:00Z\" }\nspec: { mtls: { mode: DISABLE } }\n---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: older, namespace: foo, creationTimestamp: \"2024-01-01T00:00:00Z\" }\nspec: { mtls: { mode: STRICT } }\n";
    let t = translate_text(text);
    assert_eq!(
        warnings(&t),
        [
            "PeerAuthentication foo/newer: metadata.name: a second namespace-wide policy: Istio applies the oldest, \"older\"; this one is ignored",
            "PeerAuthentication foo/older: spec: PeerAuthentications apply to a workload, and none is given: no listener takes its peer mode from them. Give the gateway workload's namespace, labels and ports (translate --workload-namespace NS --workload-label KEY=VALUE --workload-port PORT)",
        ]
    );
    assert_eq!(t.config.peer_authentication.len(), 1);
    assert_eq!(t.config.peer_authentication[0].mode, PeerMode::Strict);
}

#[test]
fn agc_frontend_mtls_with_a_generated_ca_bundle() {
    let pki = mtls_testkit::Pki::new();
    let t = translate_text(
        &fixture("agc-frontend-mtls.yaml")
            .replace("CA_BUNDLE_PLACEHOLDER", &b64(&pki.root().cert_pem())),
    );
    assert_eq!(warnings(&t), Vec::<String>::new());
    let l = &t.config.listeners[0];
    assert_eq!(l.name, "gateway-01-443");
    assert_eq!(
        l.answers.0.get(&DenyCode::Revoked),
        Some(&Answer::Http(mtls_policy::HttpAnswer::new(400)))
    );
    let v = l.hosts[0].client_validation.as_ref().unwrap();
    assert_eq!(v.mode, ClientCertMode::Required);
    assert_eq!(
        v.trust[0].ca,
        [file("/etc/mtls/secrets/test-infra/ca.bundle/ca.crt")]
    );
    let ca = t
        .credentials
        .iter()
        .find(|c| c.object.name == "ca.bundle")
        .unwrap();
    assert_eq!(
        ca.state,
        RefState::Resolved {
            layout: "Opaque (ca.crt)".into()
        }
    );
    // The HTTPRoute names no host: its route serves every host of the listener.
    assert_eq!(
        l.hosts[0].routes,
        [RouteConfig::prefix("/").backend("test-infra-mtls-app-443")]
    );
    let gw = ObjectRef::new("Gateway", "test-infra", "gateway-01");
    let s = t.status_of(&gw, Some("mtls-listener")).unwrap();
    assert_eq!(
        s.condition("Accepted").unwrap().status,
        ConditionStatus::True
    );
    // The listener certificate is not part of the input: unknown, not false.
    assert_eq!(
        s.condition("ResolvedRefs").unwrap().status,
        ConditionStatus::Unknown
    );
}

#[test]
fn agc_invalid_ca_bundle_is_reported() {
    let t = translate("agc-frontend-mtls.yaml");
    let gw = ObjectRef::new("Gateway", "test-infra", "gateway-01");
    let s = t.status_of(&gw, Some("mtls-listener")).unwrap();
    let accepted = s.condition("Accepted").unwrap();
    assert_eq!(
        (accepted.status, accepted.reason.as_str()),
        (ConditionStatus::False, "NoValidCACertificate")
    );
    let refs = s.condition("ResolvedRefs").unwrap();
    assert_eq!(
        (refs.status, refs.reason.as_str()),
        (ConditionStatus::False, "InvalidCACertificateRef")
    );
    assert!(refs.message.contains("ca.bundle"), "{}", refs.message);
}

#[test]
fn osm_ingress_backend_with_authenticated_principal() {
    let t = translate("osm-ingress-backend.yaml");
    assert_eq!(
        warnings(&t),
        [
            "Ingress httpbin/httpbin: spec.tls: no spec.tls secret names host \"*\": it is served with the default certificate Secret ingress-nginx/ingress-nginx-default-certificate",
            "IngressBackend httpbin/httpbin: spec.sources[0]: Service sources authorize by client IP address, which is not supported: clients are authorized by their certificate's identity (AuthenticatedPrincipal)",
            "IngressBackend httpbin/httpbin: spec.backends[0].tls: osm-edge's sidecar serves a mesh-issued certificate; the gateway reads it from Secret httpbin/httpbin-osm-server-cert (tls.crt, tls.key)",
        ]
    );
    let osm = t
        .config
        .listeners
        .iter()
        .find(|l| l.name == "osm-httpbin-14001")
        .unwrap();
    let host = &osm.hosts[0];
    let v = host.client_validation.as_ref().unwrap();
    assert_eq!(v.mode, ClientCertMode::Required);
    assert!(!v.danger.skip_client_cert_validation);
    assert_eq!(
        v.trust[0].ca,
        [file("/etc/mtls/secrets/osm-system/osm-ca-bundle/ca.crt")]
    );
    // The principals may reach the application behind the sidecar.
    assert_eq!(
        host.routes,
        [RouteConfig::prefix("/")
            .named("httpbin")
            .authorization(Authorization::principals([
                "ingress-nginx.ingress-nginx.cluster.local"
            ]))
            .backend("osm-httpbin-httpbin-14001")]
    );
    assert_eq!(
        t.config.backends["osm-httpbin-httpbin-14001"].url,
        "http://httpbin.httpbin.svc.cluster.local:14001"
    );
    // The ingress side: HTTPS upstream with osm's client certificate and the expected name.
    let up = t.config.backends["httpbin-httpbin-14001"]
        .tls
        .as_ref()
        .unwrap();
    assert_eq!(
        up.expected_name.as_deref(),
        Some("httpbin.httpbin.cluster.local")
    );
    assert_eq!(
        up.ca,
        file("/etc/mtls/secrets/osm-system/osm-nginx-client-cert/ca.crt")
    );
    assert_eq!(
        up.client_certificate,
        Some(CertificateSource::files(
            "/etc/mtls/secrets/osm-system/osm-nginx-client-cert/tls.crt",
            "/etc/mtls/secrets/osm-system/osm-nginx-client-cert/tls.key"
        ))
    );

    let t = translate_text(&fixture("osm-ingress-backend.yaml").replace(
        "skipClientCertValidation: false",
        "skipClientCertValidation: true",
    ));
    let osm = t
        .config
        .listeners
        .iter()
        .find(|l| l.name == "osm-httpbin-14001")
        .unwrap();
    let v = osm.hosts[0].client_validation.as_ref().unwrap();
    assert!(v.danger.skip_client_cert_validation);
    assert!(warnings(&t).contains(&"IngressBackend httpbin/httpbin: spec.backends[0].tls.skipClientCertValidation: any client certificate passes unverified (danger.skip_client_cert_validation); the principals still apply".to_string()));
}

#[test]
fn nginx_auth_tls_annotations() {
    let t = translate("nginx-auth-tls.yaml");
    assert_eq!(
        warnings(&t),
        [
            "Ingress default/nginx-test: metadata.annotations[nginx.ingress.kubernetes.io/rewrite-target]: not translated: mtls-kube reads the auth-tls-*, backend-protocol and proxy-ssl-* annotations",
            "Ingress default/nginx-test: metadata.annotations[nginx.ingress.kubernetes.io/auth-tls-error-page]: not supported: a failed verification answers 400 as ingress-nginx does without an error page, not a redirect to \"http://www.mysite.com/error-cert.html\"",
            "Ingress default/nginx-test: metadata.annotations[nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream]: the certificate goes upstream as RFC 9440 `Client-Cert` (base64 DER), not as `ssl-client-cert` (URL-encoded PEM)",
        ]
    );
    let l = &t.config.listeners[0];
    assert_eq!((l.name.as_str(), l.port()), ("ingress-nginx", 443));
    let bad = l.answers.0.get(&DenyCode::UnknownIssuer).unwrap();
    let Answer::Http(h) = bad else {
        panic!("{bad:?}")
    };
    assert_eq!(
        (h.status, h.message.as_deref()),
        (400, Some("The SSL certificate error"))
    );
    let host = &l.hosts[0];
    assert_eq!(host.hostnames, ["mydomain.com"]);
    let v = host.client_validation.as_ref().unwrap();
    assert_eq!(v.mode, ClientCertMode::Required);
    assert_eq!(v.trust[0].max_chain_depth, Some(1));
    assert_eq!(
        v.trust[0].ca,
        [file("/etc/mtls/secrets/default/ca-secret/ca.crt")]
    );
    // The subject allow-list and the Ingress path: one route.
    let mut cn = Authorization::default();
    cn.rules = vec![IdentityRule::Subject(StringMatch::Regex(
        ".*(?:CN=(client1|client2)).*".into(),
    ))];
    assert_eq!(
        host.routes,
        [RouteConfig::prefix("/")
            .named("auth-tls-match-cn")
            .authorization(cn)
            .backend("default-http-svc-80")]
    );
    assert!(t.config.forward_identity.ssl_client && t.config.forward_identity.rfc9440);
    assert_eq!(
        host.certificate,
        secret_dir("/etc/mtls/secrets/default/tls-secret")
    );

    for (value, mode, skip) in [
        ("optional", ClientCertMode::Optional, false),
        ("optional_no_ca", ClientCertMode::Optional, true),
    ] {
        let text = fixture("nginx-auth-tls.yaml").replace(
            "auth-tls-verify-client: \"on\"",
            &format!("auth-tls-verify-client: \"{value}\""),
        );
        let t = translate_text(&text);
        let v = t.config.listeners[0].hosts[0]
            .client_validation
            .as_ref()
            .unwrap();
        assert_eq!(
            (v.mode, v.danger.skip_client_cert_validation),
            (mode, skip),
            "{value}"
        );
    }
    let off = fixture("nginx-auth-tls.yaml").replace(
        "auth-tls-verify-client: \"on\"",
        "auth-tls-verify-client: \"off\"",
    );
    assert!(
        translate_text(&off).config.listeners[0].hosts[0]
            .client_validation
            .is_none()
    );
}

#[test]
fn every_field_we_do_not_read_is_named() {
    let text = fixture("istio-gateway-simple-two-hosts.yaml").replace(
        "      mode: SIMPLE\n      credentialName: httpbin",
        "      mode: SIMPLE\n      sniHosts: [x]\n      credentialName: httpbin",
    );
    let t = translate_text(&text);
    assert!(warnings(&t).contains(&"Gateway istio-system/mygateway: spec.servers[0].tls.sniHosts: not translated: mtls-kube does not read this field".to_string()), "{:?}", warnings(&t));
}

#[test]
fn parse_errors_name_the_object_and_field() {
    let text = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: { name: gw, namespace: ns }\nspec:\n  servers:\n    - port: { number: many }\n";
    let err = mtls_kube::parse_manifests(text, "gw.yaml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "gw.yaml: document 1 (Gateway ns/gw): spec.servers[0].port.number: invalid type: string \"many\", expected u32"
    );
    let err = mtls_kube::parse_manifests("kind: Gateway\n", "x.yaml").unwrap_err();
    assert_eq!(err.to_string(), "x.yaml: document 1: apiVersion: missing");
    let err = mtls_kube::parse_manifests("apiVersion: v1\nkind: Secret\nmetadata: {}\n", "x.yaml")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "x.yaml: document 1: metadata.name: missing"
    );
    // Empty documents are skipped and not counted.
    let err = mtls_kube::parse_manifests(
        "---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }\n---\nkind: Secret\n",
        "x.yaml",
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "x.yaml: document 2: apiVersion: missing");
    // Not YAML, a key given twice, an alias bomb: the file's line and column.
    let err = mtls_kube::parse_manifests("kind: [\n", "x.yaml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "x.yaml: unclosed bracket '[' at line 1 column 7"
    );
    let err = mtls_kube::parse_manifests(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }\n---\napiVersion: v1\nkind: ConfigMap\nkind: Secret\n",
        "x.yaml",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "x.yaml: `kind` is given twice at line 7 column 1"
    );
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    bomb.push_str("kind: *a8\n");
    let err = mtls_kube::parse_manifests(&bomb, "x.yaml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "x.yaml: aliases expand into more than 100000 nodes: refused (an alias bomb?) at line 5 column 45"
    );
}

#[test]
fn other_kinds_are_reported_and_lists_are_read() {
    let text = "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Service\n    metadata: { name: web }\n";
    let t = translate_text(text);
    assert_eq!(
        warnings(&t),
        ["Service default/web: kind: v1 Service is not translated"]
    );
}

#[test]
fn invalid_host_names_and_paths_are_reported() {
    let text = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: { name: gw, namespace: ns }\nspec:\n  servers:\n    - port: { number: 443, protocol: HTTPS }\n      hosts: [\"a..example.com\"]\n      tls: { mode: SIMPLE, credentialName: cred }\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: api, namespace: ns }\nspec:\n  listeners:\n    - { name: https, port: 8443, protocol: HTTPS, tls: { certificateRefs: [{ name: cred }] } }\n    - { name: bad, port: 9443, hostname: \"*.*.example.com\", protocol: HTTPS, tls: { certificateRefs: [{ name: cred }] } }\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: r, namespace: ns }\nspec:\n  parentRefs: [{ name: api }]\n  hostnames: [\"bad name\", good.example.com]\n  rules:\n    - matches: [{ path: { value: /a/../b } }, { path: { type: Exact, value: /ok } }]\n      backendRefs: [{ name: svc, port: 80 }]\n";
    let t = translate_text(text);
    assert_eq!(
        warnings(&t),
        [
            "Gateway ns/gw: spec.servers[0].tls.credentialName: Istio reads this Secret from the namespace of the gateway workload (its pods), not the Gateway's: assumed to be \"ns\"; if the ingress gateway runs elsewhere (often \"istio-system\"), give its namespace (translate --gateway-namespace)",
            "Gateway ns/gw: spec.servers[0].hosts: host name \"a..example.com\" has an empty label; this host is not translated",
            "Gateway ns/api: spec.listeners[1].hostname: host name \"*.example.com\" has a character other than letters, digits, `-`, `_` and `.`; this host is not translated",
            "HTTPRoute ns/r: spec.rules[0].matches[0].path.value: the path \"/a/../b\" is not in normal form (write \"/b\"): this match is not translated",
            "HTTPRoute ns/r: spec.hostnames[0]: host name \"bad name\" has a character other than letters, digits, `-`, `_` and `.`: not translated",
        ]
    );
    let gw = ObjectRef::new("Gateway", "ns", "gw");
    let accepted = t
        .status_of(&gw, Some("servers[0]"))
        .unwrap()
        .condition("Accepted")
        .unwrap();
    assert_eq!(
        (accepted.status, accepted.message.as_str()),
        (
            ConditionStatus::False,
            "host name \"a..example.com\" has an empty label"
        )
    );
    let api = ObjectRef::new("Gateway", "ns", "api");
    let bad = t
        .status_of(&api, Some("bad"))
        .unwrap()
        .condition("Accepted")
        .unwrap();
    assert_eq!(
        (bad.status, bad.reason.as_str()),
        (ConditionStatus::False, "UnsupportedValue")
    );
    // Only the Gateway API listener is served: the good name gets a host of its own.
    let l = &t.config.listeners;
    assert_eq!(l.len(), 1);
    let hosts: Vec<_> = l[0]
        .hosts
        .iter()
        .map(|h| (h.hostnames.clone(), h.routes.clone()))
        .collect();
    assert_eq!(
        hosts,
        [
            (vec![], vec![]),
            (
                vec!["good.example.com".to_string()],
                vec![RouteConfig::exact("/ok").backend("ns-svc-80")]
            ),
        ]
    );
}
