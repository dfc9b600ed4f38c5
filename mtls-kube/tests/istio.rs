//! Istio as its documentation writes it: the secure-ingress Gateway with its VirtualService,
//! the VirtualService fields beyond paths, PeerAuthentication for one workload, and the
//! gateway workload's namespace for `credentialName`. Configurations and warnings compared
//! exactly.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use mtls_kube::{ConditionStatus, ObjectRef, Options, RefState, Translation, Workload};
use mtls_policy::{
    BackendConfig, CertificateSource, ClientCertMode, Context, Decision, DenyReason,
    ListenerConfig, PeerMode, PeerVerification, Policy, PolicyConfig, RespondConfig, RouteConfig,
    TrustSource,
};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap()
}

fn translate_with(text: &str, options: &Options) -> Translation {
    let objects = mtls_kube::parse_manifests(text, "fixture").unwrap();
    let t = mtls_kube::translate(&objects, options);
    Policy::new(t.config.clone()).unwrap();
    let yaml = t.config.to_yaml().unwrap();
    assert_eq!(PolicyConfig::from_yaml(&yaml).unwrap(), t.config, "{yaml}");
    t
}

fn translate(text: &str) -> Translation {
    translate_with(text, &Options::default())
}

fn warnings(t: &Translation) -> Vec<String> {
    t.warnings.iter().map(ToString::to_string).collect()
}

fn gateway_namespace(ns: &str) -> Options {
    let mut options = Options::default();
    options.gateway_namespace = Some(ns.into());
    options
}

fn secret(ns: &str, name: &str, kind: &str, data: &[(&str, String)]) -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut out = format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata: {{ name: {name}, namespace: {ns} }}\ntype: {kind}\ndata:\n"
    );
    for (k, v) in data {
        out.push_str(&format!("  {k}: {}\n", engine.encode(v)));
    }
    out
}

const ASSUMED_DEFAULT: &str = "Gateway default/mygateway: spec.servers[0].tls.credentialName: Istio reads this Secret from the namespace of the gateway workload (its pods), not the Gateway's: assumed to be \"default\"; if the ingress gateway runs elsewhere (often \"istio-system\"), give its namespace (translate --gateway-namespace)";

#[test]
fn secure_ingress_routes_the_virtual_service_paths_to_its_destination() {
    let t = translate_with(
        &fixture("istio-secure-ingress.yaml"),
        &gateway_namespace("istio-system"),
    );
    assert_eq!(warnings(&t), Vec::<String>::new());
    let dir = "/etc/mtls/secrets/istio-system/httpbin-credential";
    let host = &t.config.listeners[0].hosts[0];
    assert_eq!(host.hostnames, ["httpbin.example.com"]);
    assert_eq!(
        host.certificate,
        Some(CertificateSource::SecretDir(dir.into()))
    );
    let v = host.client_validation.as_ref().unwrap();
    assert_eq!(v.mode, ClientCertMode::Required);
    assert_eq!(
        v.trust[0].ca,
        [TrustSource::File(format!("{dir}/ca.crt").into())]
    );
    assert_eq!(
        host.routes,
        [
            RouteConfig::prefix("/status").backend("default-httpbin-8000"),
            RouteConfig::prefix("/delay").backend("default-httpbin-8000"),
        ]
    );
    assert_eq!(
        t.config.backends,
        BTreeMap::from([(
            "default-httpbin-8000".to_string(),
            BackendConfig::new("http://httpbin.default.svc.cluster.local:8000")
        )])
    );
    let mounts: Vec<_> = t
        .credentials
        .iter()
        .map(|c| (c.object.to_string(), c.keys.join(","), c.mount.clone()))
        .collect();
    assert_eq!(
        mounts,
        [
            (
                "Secret istio-system/httpbin-credential".into(),
                "tls.crt,tls.key".into(),
                PathBuf::from(dir)
            ),
            (
                "Secret istio-system/httpbin-credential".into(),
                "ca.crt".into(),
                PathBuf::from(dir)
            ),
        ]
    );
    let vs = ObjectRef::new("VirtualService", "default", "httpbin");
    let accepted = t
        .status_of(&vs, None)
        .unwrap()
        .condition("Accepted")
        .unwrap();
    assert_eq!(accepted.status, ConditionStatus::True);
}

#[test]
fn credential_name_is_read_from_the_gateway_workload_namespace() {
    // Neither option: the Gateway's namespace, with a warning (it is not the root namespace).
    let t = translate(&fixture("istio-secure-ingress.yaml"));
    assert_eq!(warnings(&t), [ASSUMED_DEFAULT]);
    assert_eq!(
        t.config.listeners[0].hosts[0].certificate,
        Some(CertificateSource::SecretDir(
            "/etc/mtls/secrets/default/httpbin-credential".into()
        ))
    );
    // The workload's namespace stands for the gateway's when only it is given.
    let mut options = Options::default();
    options.workload = Some(Workload::new("istio-system", BTreeMap::new()));
    let t = translate_with(&fixture("istio-secure-ingress.yaml"), &options);
    assert_eq!(warnings(&t), Vec::<String>::new());
    assert_eq!(
        t.credentials[0].object,
        ObjectRef::new("Secret", "istio-system", "httpbin-credential")
    );
    // A separate `<name>-cacert` and `caCertCredentialName` are looked up there too.
    let text = fixture("istio-secure-ingress.yaml").replace(
        "credentialName: httpbin-credential #",
        "credentialName: httpbin-credential\n      caCertCredentialName: client-ca #",
    );
    let t = translate_with(&text, &gateway_namespace("ingress"));
    let ca = &t.config.listeners[0].hosts[0]
        .client_validation
        .as_ref()
        .unwrap()
        .trust[0]
        .ca;
    assert_eq!(
        ca,
        &[TrustSource::File(
            "/etc/mtls/secrets/ingress/client-ca/ca.crt".into()
        )]
    );
}

#[test]
fn an_opaque_secret_is_reported_as_written() {
    let pki = mtls_testkit::Pki::new();
    let server = pki.server_for(&["httpbin.example.com"]).issue();
    let text = fixture("istio-secure-ingress.yaml")
        + &secret(
            "istio-system",
            "httpbin-credential",
            "Opaque",
            &[
                ("tls.crt", server.chain_pem()),
                ("tls.key", server.key_pem()),
                ("ca.crt", pki.root().cert_pem()),
            ],
        );
    let t = translate_with(&text, &gateway_namespace("istio-system"));
    let states: Vec<_> = t.credentials.iter().map(|c| c.state.clone()).collect();
    let opaque = RefState::Resolved {
        layout: "Opaque (ca.crt, tls.crt, tls.key)".into(),
    };
    assert_eq!(states, [opaque.clone(), opaque]);
    // Istio's own key names in an Opaque secret, and the kubernetes.io/tls type.
    let generic = fixture("istio-secure-ingress.yaml")
        + &secret(
            "istio-system",
            "httpbin-credential",
            "Opaque",
            &[
                ("cert", server.chain_pem()),
                ("key", server.key_pem()),
                ("cacert", pki.root().cert_pem()),
            ],
        );
    let t = translate_with(&generic, &gateway_namespace("istio-system"));
    assert_eq!(
        t.credentials[0].state,
        RefState::Resolved {
            layout: "Opaque (cacert, cert, key)".into()
        }
    );
    assert_eq!(t.credentials[0].keys, ["cert", "key"]);
    let tls = fixture("istio-secure-ingress.yaml")
        + &secret(
            "istio-system",
            "httpbin-credential",
            "kubernetes.io/tls",
            &[
                ("tls.crt", server.chain_pem()),
                ("tls.key", server.key_pem()),
            ],
        );
    let t = translate_with(&tls, &gateway_namespace("istio-system"));
    assert_eq!(
        t.credentials[0].state,
        RefState::Resolved {
            layout: "kubernetes.io/tls (tls.crt, tls.key)".into()
        }
    );
}

#[test]
fn virtual_service_fields_not_translated_are_named() {
    let t = translate(&fixture("istio-virtual-service-fields.yaml"));
    let vs = "VirtualService bookinfo/bookinfo";
    let not_read = "not translated: mtls-kube does not read this field";
    assert_eq!(
        warnings(&t),
        [
            format!("{vs}: spec.http[1].match[0].headers: {not_read}"),
            format!("{vs}: spec.http[1].retries: {not_read}"),
            format!("{vs}: spec.http[1].rewrite: {not_read}"),
            format!("{vs}: spec.http[1].route[0].destination.subset: {not_read}"),
            format!("{vs}: spec.http[1].route[1].destination.subset: {not_read}"),
            format!("{vs}: spec.http[1].timeout: {not_read}"),
            format!("{vs}: spec.http[3].corsPolicy: {not_read}"),
            format!("{vs}: spec.http[3].fault: {not_read}"),
            format!("{vs}: spec.http[3].mirror: {not_read}"),
            format!("{vs}: spec.gateways[1]: `mesh` (the sidecars) is not a gateway: ignored"),
            format!("{vs}: spec.http[0].match[2].uri.regex: a regular expression is not supported (prefix and exact are): this match is not translated"),
            format!("{vs}: spec.http[2].match[0].uri: prefix /static/css is never reached: spec.http[0] comes first and matches it (Istio takes the first match); not translated"),
            format!("{vs}: spec.http[1].route[1]: 2 weighted destinations: only the first, route[0], is used (no traffic splitting)"),
            "VirtualService bookinfo/ratings: spec.gateways[0]: Gateway bookinfo/no-such-gateway is not part of the input (or serves no translated server): its routes are not translated".into(),
        ]
    );
    assert_eq!(
        t.config.listeners[0].hosts[0].routes,
        [
            RouteConfig::exact("/productpage").backend("bookinfo-productpage-9080"),
            RouteConfig::prefix("/static").backend("bookinfo-productpage-9080"),
            RouteConfig::prefix("/reviews").backend("bookinfo-reviews-9080"),
            RouteConfig::prefix("/").backend("details.bookinfo.svc.cluster.local-9080"),
        ]
    );
    let urls: Vec<_> = t.config.backends.values().map(|b| b.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "http://productpage.bookinfo.svc.cluster.local:9080",
            "http://reviews.bookinfo.svc.cluster.local:9080",
            "http://details.bookinfo.svc.cluster.local:9080",
        ]
    );
    let ratings = ObjectRef::new("VirtualService", "bookinfo", "ratings");
    let accepted = t
        .status_of(&ratings, None)
        .unwrap()
        .condition("Accepted")
        .unwrap();
    assert_eq!(
        (
            accepted.status,
            accepted.reason.as_str(),
            accepted.message.as_str()
        ),
        (
            ConditionStatus::False,
            "NoGateway",
            "it binds to no Gateway of the input"
        )
    );
}

/// The secure-ingress fixture with its VirtualService replaced by `vs` (the `spec` body).
fn with_virtual_service(vs: &str) -> String {
    let gateway = fixture("istio-secure-ingress.yaml");
    let end = gateway
        .find("apiVersion: networking.istio.io/v1\nkind: VirtualService")
        .unwrap();
    format!(
        "{}apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{ name: vs }}\nspec:\n{vs}",
        &gateway[..end]
    )
}

#[test]
fn bad_virtual_services_are_reported() {
    let cases = [
        (
            "  hosts: [httpbin.example.com]\n  http:\n  - route: [{ destination: { host: httpbin, port: { number: 8000 } } }]\n",
            "VirtualService default/vs: spec.gateways: none given: it applies to the mesh's sidecars (`mesh`), not to a gateway; not translated",
        ),
        (
            "  hosts: [httpbin.example.com]\n  gateways: [mygateway]\n  http:\n  - match: [{ uri: { prefix: /a/../b } }]\n    route: [{ destination: { host: httpbin, port: { number: 8000 } } }]\n",
            "VirtualService default/vs: spec.http[0].match[0].uri: the path \"/a/../b\" is not in normal form (write \"/b\"): this match is not translated",
        ),
        (
            "  hosts: [httpbin.example.com]\n  gateways: [mygateway]\n  http:\n  - match: [{ uri: { prefix: /status } }]\n",
            "VirtualService default/vs: spec.http[0].route: no destination: this entry is not translated (its paths answer 404)",
        ),
        (
            "  hosts: [httpbin.example.com]\n  gateways: [mygateway]\n  http:\n  - route: [{ destination: { port: { number: 8000 } } }]\n",
            "VirtualService default/vs: spec.http[0].route[0].destination.host: missing: this entry is not translated",
        ),
        (
            "  hosts: [other.example.com]\n  gateways: [mygateway]\n  http:\n  - route: [{ destination: { host: httpbin, port: { number: 8000 } } }]\n",
            "VirtualService default/vs: spec.hosts: no server of its Gateways serves [\"other.example.com\"]: not translated",
        ),
    ];
    for (vs, warning) in cases {
        let t = translate_with(
            &with_virtual_service(vs),
            &gateway_namespace("istio-system"),
        );
        assert!(
            warnings(&t).contains(&warning.to_string()),
            "{vs}\n{:?}",
            warnings(&t)
        );
        assert_eq!(t.config.listeners[0].hosts[0].routes, [], "{vs}");
    }
}

#[test]
fn virtual_service_hosts_meet_the_server_hosts() {
    let text = with_virtual_service(
        "  hosts: [\"*\"]\n  gateways: [default/mygateway]\n  http:\n  - match: [{ uri: { exact: /ip } }]\n    route: [{ destination: { host: httpbin.default.svc.cluster.local, port: { number: 8000 } } }]\n",
    );
    let t = translate_with(&text, &gateway_namespace("istio-system"));
    assert_eq!(warnings(&t), Vec::<String>::new());
    let host = &t.config.listeners[0].hosts[0];
    assert_eq!(host.hostnames, ["httpbin.example.com"]);
    assert_eq!(
        host.routes,
        [RouteConfig::exact("/ip").backend("httpbin.default.svc.cluster.local-8000")]
    );
}

#[test]
fn direct_responses_answer_as_written() {
    // As Istio's VirtualService reference writes a directResponse.
    let text = with_virtual_service(
        "  hosts: [httpbin.example.com]\n  gateways: [mygateway]\n  http:\n  - match:\n    - uri:\n        exact: /v1/getProductRatings\n    directResponse:\n      status: 503\n      body:\n        string: \"unknown error\"\n  - match: [{ uri: { prefix: /gone } }]\n    directResponse: { status: 410, body: { bytes: Z29uZQ== } }\n  - match: [{ uri: { prefix: /odd } }]\n    directResponse: { status: 99 }\n  - match: [{ uri: { prefix: /empty } }]\n    directResponse: { status: 204, body: { string: x } }\n    route: [{ destination: { host: httpbin, port: { number: 8000 } } }]\n",
    );
    let t = translate_with(&text, &gateway_namespace("istio-system"));
    assert_eq!(
        warnings(&t),
        [
            "VirtualService default/vs: spec.http[1].directResponse.body.bytes: not translated: mtls-kube does not read this field",
            "VirtualService default/vs: spec.http[2].directResponse.status: 99 is not supported (200 to 599 are): this entry is not translated",
            "VirtualService default/vs: spec.http[3].route: ignored: the entry answers with its directResponse (Istio accepts one of the two)",
            "VirtualService default/vs: spec.http[3].directResponse.body: a 204 answer has no body: this entry is not translated",
        ]
    );
    assert_eq!(
        t.config.listeners[0].hosts[0].routes,
        [
            RouteConfig::exact("/v1/getProductRatings")
                .respond(RespondConfig::new(503, "unknown error")),
            RouteConfig::prefix("/gone").respond(RespondConfig::new(410, "")),
        ]
    );
}

const NO_WORKLOAD: &str = "PeerAuthentication istio-system/default: spec: PeerAuthentications apply to a workload, and none is given: no listener takes its peer mode from them. Give the gateway workload's namespace, labels and ports (translate --workload-namespace NS --workload-label KEY=VALUE --workload-port PORT)";

fn httpbin_workload(ports: &[u16]) -> Options {
    let labels = BTreeMap::from([("app".to_string(), "httpbin".to_string())]);
    let mut options = Options::default();
    options.workload = Some(Workload::new("foo", labels).with_ports(ports.iter().copied()));
    options
}

#[test]
fn peer_authentication_without_a_workload_says_what_is_missing() {
    let t = translate(&fixture("istio-peer-authentication-workload.yaml"));
    assert_eq!(warnings(&t), [NO_WORKLOAD]);
    assert_eq!(t.config.listeners, []);
    assert_eq!(t.config.peer_authentication.len(), 3);
    assert_eq!(
        t.enforces_nothing().as_deref(),
        Some("no listener: the input has no Gateway, Ingress or workload port to serve")
    );
    // A workload without ports, and nothing else to serve.
    let t = translate_with(
        &fixture("istio-peer-authentication-workload.yaml"),
        &httpbin_workload(&[]),
    );
    assert_eq!(
        warnings(&t),
        [
            "PeerAuthentication istio-system/default: spec: the workload serves no port, and no Gateway or Ingress gives it a listener: give its ports (translate --workload-port PORT)"
        ]
    );
}

#[test]
fn peer_authentication_gives_the_workload_ports_their_listeners() {
    let t = translate_with(
        &fixture("istio-peer-authentication-workload.yaml"),
        &httpbin_workload(&[8080, 9000]),
    );
    assert_eq!(warnings(&t), Vec::<String>::new());
    let address = |port: u16| format!("0.0.0.0:{port}").parse().unwrap();
    assert_eq!(
        t.config.listeners,
        [
            ListenerConfig::on_address("workload-8080", address(8080)).peer_mode(PeerMode::Strict),
            ListenerConfig::on_address("workload-9000", address(9000))
                .peer_mode(PeerMode::Permissive),
        ]
    );
    // Listeners without a host serve no certificate: nothing is enforced, and it is said.
    assert_eq!(
        t.enforces_nothing().as_deref(),
        Some(
            "no host on listener workload-8080 (port 8080), listener workload-9000 (port 9000): no certificate is served there, so every connection fails; give the workload's certificate and CA (translate --workload-credential SECRET), or a Gateway server (or an Ingress) on the port"
        )
    );
    // Another workload of foo: the namespace's STRICT on every port.
    let mut options = Options::default();
    options.workload = Some(Workload::new("foo", BTreeMap::new()).with_ports([9000]));
    let t = translate_with(
        &fixture("istio-peer-authentication-workload.yaml"),
        &options,
    );
    assert_eq!(t.config.listeners[0].peer_mode, Some(PeerMode::Strict));
}

#[test]
fn the_workload_credential_gives_the_workload_ports_a_host_and_a_backend() {
    let mut options = httpbin_workload(&[8080]);
    let workload = options.workload.take().unwrap();
    options.workload =
        Some(workload.with_credential("httpbin-mtls", Some("http://127.0.0.1:8000".into())));
    let t = translate_with(
        &fixture("istio-peer-authentication-workload.yaml"),
        &options,
    );
    assert_eq!(warnings(&t), Vec::<String>::new());
    assert_eq!(t.enforces_nothing(), None);
    let listener = &t.config.listeners[0];
    assert_eq!(
        (listener.name.as_str(), listener.peer_mode),
        ("workload-8080", Some(PeerMode::Strict))
    );
    let host = &listener.hosts[0];
    assert!(host.hostnames.is_empty(), "the default host");
    assert_eq!(
        host.certificate,
        Some(CertificateSource::SecretDir(
            "/etc/mtls/secrets/foo/httpbin-mtls".into()
        ))
    );
    let validation = host.client_validation.as_ref().unwrap();
    assert_eq!(validation.mode, ClientCertMode::Optional);
    assert_eq!(
        validation.trust[0].ca,
        [TrustSource::File(
            "/etc/mtls/secrets/foo/httpbin-mtls/ca.crt".into()
        )]
    );
    assert_eq!(
        host.routes,
        [RouteConfig::prefix("/")
            .named("workload")
            .backend("workload")]
    );
    assert_eq!(
        t.config.backends["workload"],
        BackendConfig::new("http://127.0.0.1:8000")
    );
    let mounted: Vec<String> = t.credentials.iter().map(|c| c.object.to_string()).collect();
    assert_eq!(
        mounted,
        ["Secret foo/httpbin-mtls", "Secret foo/httpbin-mtls"]
    );
    // STRICT is the policy's: a peer without a certificate is refused on that port.
    let policy = Policy::new(t.config.clone()).unwrap();
    let anonymous = PeerVerification::NoCertificate;
    let mut ctx = Context::new(8080, &anonymous);
    ctx.host = Some("httpbin.foo");
    ctx.path = Some("/");
    let refused = match policy.decide(&ctx) {
        Decision::Deny { reason, .. } => Some(reason),
        _ => None,
    };
    assert!(
        matches!(refused, Some(DenyReason::NoCertificate { .. })),
        "{refused:?}"
    );
}

const MESH_PERMISSIVE_ON_443: &str = "PeerAuthentication istio-system/default: spec.mtls.mode: PERMISSIVE does not change listener istio-443 (port 443): it is a Gateway server (or Ingress) port, which its own TLS settings govern, not PeerAuthentication (the workload's mesh traffic); it serves TLS only, with the client certificate its hosts require";

#[test]
fn mesh_permissive_leaves_a_mutual_gateway_server_tls_only_with_client_certificates() {
    let text = fixture("istio-peer-authentication-workload.yaml")
        + "---\n"
        + &fixture("istio-secure-ingress.yaml");
    let mut options = Options::default();
    let labels = BTreeMap::from([("istio".to_string(), "ingressgateway".to_string())]);
    options.workload = Some(Workload::new("istio-system", labels).with_ports([443, 15021]));
    let t = translate_with(&text, &options);
    assert_eq!(warnings(&t), [MESH_PERMISSIVE_ON_443]);
    // The Gateway's MUTUAL server: no peer mode (TLS only), a client certificate required.
    // The workload's own port takes the mesh's PERMISSIVE.
    let listeners: Vec<_> = t
        .config
        .listeners
        .iter()
        .map(|l| (l.name.as_str(), l.peer_mode))
        .collect();
    assert_eq!(
        listeners,
        [
            ("istio-443", None),
            ("workload-15021", Some(PeerMode::Permissive))
        ]
    );
    let modes: Vec<_> = t.config.listeners[0]
        .hosts
        .iter()
        .map(|h| h.client_validation.as_ref().map(|v| v.mode))
        .collect();
    assert_eq!(modes, [Some(ClientCertMode::Required)]);
    // The policy refuses plaintext on the Gateway's port, and a TLS client without a
    // certificate; the workload's own port keeps the mesh's PERMISSIVE.
    let policy = Policy::new(t.config.clone()).unwrap();
    let decide = |port: u16, verification: &PeerVerification| {
        let mut ctx = Context::new(port, verification);
        ctx.host = Some("httpbin.example.com");
        ctx.path = Some("/status/200");
        match policy.decide(&ctx) {
            Decision::Deny { reason, .. } => Some(reason),
            _ => None,
        }
    };
    let plaintext = PeerVerification::Plaintext;
    let refused = DenyReason::PlaintextNotAllowed {
        port: 443,
        mode: None,
    };
    assert_eq!(decide(443, &plaintext), Some(refused));
    let anonymous = PeerVerification::NoCertificate;
    let no_certificate = DenyReason::NoCertificate {
        listener: "istio-443".into(),
    };
    assert_eq!(decide(443, &anonymous), Some(no_certificate));
    let at = |port| policy.peer_mode(&Context::new(port, &plaintext));
    assert_eq!((at(443), at(15021)), (None, Some(PeerMode::Permissive)));
}

#[test]
fn peer_authentication_on_the_gateway_port_is_warned_about_and_changes_nothing() {
    let text = fixture("istio-peer-authentication-workload.yaml")
        + "---\n"
        + &fixture("istio-secure-ingress.yaml");
    // DISABLE on the gateway's port, for the httpbin workload of foo.
    let text = text.replace(
        "    8080:\n      mode: STRICT",
        "    443:\n      mode: DISABLE",
    );
    let labels = BTreeMap::from([("app".to_string(), "httpbin".to_string())]);
    let mut options = Options::default();
    options.workload = Some(Workload::new("foo", labels));
    let t = translate_with(&text, &options);
    assert_eq!(
        warnings(&t),
        [
            "PeerAuthentication foo/httpbin: spec.portLevelMtls[443].mode: DISABLE does not change listener istio-443 (port 443): it is a Gateway server (or Ingress) port, which its own TLS settings govern, not PeerAuthentication (the workload's mesh traffic); it serves TLS only, with the client certificate its hosts require"
        ]
    );
    assert_eq!(t.config.listeners[0].peer_mode, None);
    // STRICT: said the same way; the port stays as the Gateway has it.
    let t = translate_with(&text.replace("mode: DISABLE", "mode: STRICT"), &options);
    assert_eq!(
        warnings(&t),
        [
            "PeerAuthentication foo/httpbin: spec.portLevelMtls[443].mode: STRICT does not change listener istio-443 (port 443): it is a Gateway server (or Ingress) port, which its own TLS settings govern, not PeerAuthentication (the workload's mesh traffic); it serves TLS only, with the client certificate its hosts require"
        ]
    );
    assert_eq!(t.config.listeners[0].peer_mode, None);
    // A workload no policy selects beyond Istio's default: nothing to say.
    let mut options = Options::default();
    options.workload = Some(Workload::new("bar", BTreeMap::new()));
    let t = translate_with(&fixture("istio-secure-ingress.yaml"), &options);
    assert_eq!(warnings(&t), Vec::<String>::new());
}
