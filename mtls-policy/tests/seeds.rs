//! Table tests restating each seed's semantics.

mod common;

use std::collections::BTreeMap;

use common::identity;
use mtls_policy::{
    Answer, AuditNote, Context, Decision, HttpAnswer, PeerVerification, Policy, TlsAlert,
    VerifyError,
};

fn deny(d: &Decision) -> (&'static str, Answer) {
    match d {
        Decision::Deny { reason, answer } => (reason.code(), answer.clone()),
        _ => panic!("expected a deny, got {d:?}"),
    }
}

fn allowed_identity(d: &Decision) -> Option<String> {
    match d {
        Decision::Allow { identity, .. } => identity.as_ref().map(|i| i.subject().to_owned()),
        _ => panic!("expected an allow, got {d:?}"),
    }
}

const TRUST: &str = "trust: [{ name: ca, ca: [{ file: /ca.pem }] }]";

fn listener(mode: &str) -> Policy {
    let cv = match mode {
        "" => String::new(),
        m => format!("client_validation: {{ mode: {m}, {TRUST} }}"),
    };
    Policy::from_yaml(&format!(
        "listeners: [{{ name: l, port: 443, hosts: [{{ {cv} }}] }}]"
    ))
    .unwrap()
}

#[test]
fn agc_frontend_tls_policy() {
    let p = listener("required");
    let id = identity("client", &["dns:client.example.com"]);
    // No certificate: TLS alert certificate_required.
    let v = PeerVerification::NoCertificate;
    assert_eq!(
        deny(&p.decide(&Context::new(443, &v))),
        (
            "no_certificate",
            Answer::TlsAlert(TlsAlert::CertificateRequired)
        )
    );
    // Revoked: HTTP 400 with the reason.
    let v = PeerVerification::failed(
        Some("ca"),
        VerifyError::Revoked {
            reason: Some("keyCompromise".into()),
        },
    );
    let d = p.decide(&Context::new(443, &v).identity(&id));
    assert_eq!(deny(&d), ("revoked", Answer::Http(HttpAnswer::new(400))));
    let Decision::Deny { reason, answer } = &d else {
        unreachable!()
    };
    let resp = answer.http_response(reason).unwrap();
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.body,
        format!(
            "client certificate revoked (keyCompromise): subject CN=client, serial {}\n",
            id.serial_hex()
        )
    );
    // Unknown issuer: alert unknown_ca.
    let v = PeerVerification::failed(Some("ca"), VerifyError::UnknownIssuer);
    assert_eq!(
        deny(&p.decide(&Context::new(443, &v).identity(&id))).1,
        Answer::TlsAlert(TlsAlert::UnknownCa)
    );
    // Verified: allowed with the identity.
    let v = PeerVerification::verified("ca");
    assert_eq!(
        allowed_identity(&p.decide(&Context::new(443, &v).identity(&id))).as_deref(),
        Some("CN=client")
    );
}

#[test]
fn istio_gateway_tls_modes() {
    let id = identity("client", &[]);
    let none = PeerVerification::NoCertificate;
    let ok = PeerVerification::verified("ca");
    let expired = PeerVerification::failed(Some("ca"), VerifyError::Expired);
    type Row<'a> = (
        &'a str,
        &'a PeerVerification,
        Result<Option<&'a str>, &'a str>,
    );
    let rows: &[Row<'_>] = &[
        // MUTUAL
        ("required", &none, Err("no_certificate")),
        ("required", &ok, Ok(Some("CN=client"))),
        ("required", &expired, Err("expired")),
        // OPTIONAL_MUTUAL
        ("optional", &none, Ok(None)),
        ("optional", &ok, Ok(Some("CN=client"))),
        ("optional", &expired, Err("expired")),
        // SIMPLE: the client certificate is not asked for, so not looked at.
        ("", &none, Ok(None)),
        ("", &expired, Ok(None)),
    ];
    for (mode, v, want) in rows {
        let d = listener(mode).decide(&Context::new(443, v).identity(&id));
        let got = match &d {
            Decision::Allow { identity, .. } => {
                Ok(identity.as_ref().map(|i| i.subject().to_owned()))
            }
            _ => Err(d.reason().unwrap().code()),
        };
        let want = want.map(|o| o.map(str::to_owned));
        assert_eq!(got, want, "{mode} {v:?}");
    }
}

const MESH: &str = r#"
peer_authentication:
  - { name: mesh, namespace: istio-system, mode: STRICT }
  - { name: legacy-ns, namespace: legacy, mode: PERMISSIVE }
  - { name: prod-old, namespace: prod, selector: { app: old }, mode: PERMISSIVE }
  - name: legacy-web
    namespace: legacy
    selector: { app: web }
    mode: UNSET
    port_level: { 8080: STRICT, 9090: DISABLE }
listeners:
  - { name: main, port: 443, hosts: [{ client_validation: { mode: optional, trust: [{ name: mesh, ca: [{ file: /root.pem }] }] } }] }
  - { name: alt, port: 8080, hosts: [{ client_validation: { mode: optional, trust: [{ name: mesh, ca: [{ file: /root.pem }] }] } }] }
  - { name: metrics, port: 9090, hosts: [{}] }
"#;

#[test]
fn asm_peer_authentication_at_each_scope() {
    let p = Policy::from_yaml(MESH).unwrap();
    let labels = |app: &str| BTreeMap::from([("app".to_string(), app.to_string())]);
    let plain = PeerVerification::Plaintext;
    let none = PeerVerification::NoCertificate;
    // (namespace, app, port, verification, expected code or "allow")
    let rows: &[(&str, &str, u16, &PeerVerification, &str)] = &[
        ("prod", "x", 443, &plain, "plaintext_not_allowed"), // mesh STRICT
        ("prod", "x", 443, &none, "no_certificate"),         // STRICT raises optional to required
        ("legacy", "x", 443, &plain, "allow"),               // namespace PERMISSIVE
        ("legacy", "x", 443, &none, "allow"),                // optional host, permissive
        ("prod", "old", 443, &plain, "allow"),               // workload PERMISSIVE over mesh STRICT
        ("legacy", "web", 443, &plain, "allow"),             // workload UNSET inherits namespace
        ("legacy", "web", 8080, &plain, "plaintext_not_allowed"), // port STRICT
        ("legacy", "web", 9090, &plain, "allow"),            // port DISABLE
        ("legacy", "api", 8080, &plain, "allow"), // port override only for the selected workload
    ];
    for (ns, app, port, v, want) in rows {
        let l = labels(app);
        let d = p.decide(&Context::new(*port, v).workload(ns, &l));
        let got = d.reason().map_or("allow", |r| r.code());
        assert_eq!(got, *want, "{ns}/{app}:{port} {v:?}");
        if *want == "plaintext_not_allowed" {
            assert_eq!(deny(&d).1, Answer::Close);
        }
    }
}

const OSM: &str = r#"
listeners:
  - name: ingress-backend
    port: 14001
    hosts:
      - client_validation:
          mode: required
          trust: [{ name: osm, ca: [{ secret: { name: osm-ca-bundle, namespace: osm-system } }] }]
          danger: { skip_client_cert_validation: SKIP }
        routes:
          - name: bookstore
            path_prefix: /
            authorization:
              principals: [ingress-nginx.ingress-nginx.cluster.local]
"#;

#[test]
fn osm_ingress_backend() {
    let good = identity("nginx", &["dns:ingress-nginx.ingress-nginx.cluster.local"]);
    let bad = identity("other", &["dns:other.default.cluster.local"]);
    let p = Policy::from_yaml(&OSM.replace("SKIP", "false")).unwrap();
    let ok = PeerVerification::verified("osm");
    assert!(
        p.decide(&Context::new(14001, &ok).identity(&good).path("/books"))
            .is_allow()
    );
    let d = p.decide(&Context::new(14001, &ok).identity(&bad).path("/books"));
    assert_eq!(
        deny(&d),
        ("identity_not_allowed", Answer::Http(HttpAnswer::new(403)))
    );
    assert_eq!(
        d.reason().unwrap().to_string(),
        "other.default.cluster.local not in allow-list of route bookstore"
    );
    // Unknown issuer is denied ...
    let unknown = PeerVerification::failed(Some("osm"), VerifyError::UnknownIssuer);
    assert_eq!(
        deny(&p.decide(&Context::new(14001, &unknown).identity(&good).path("/"))).0,
        "unknown_issuer"
    );
    // ... unless skipClientCertValidation, which still enforces the principals.
    let p = Policy::from_yaml(&OSM.replace("SKIP", "true")).unwrap();
    let d = p.decide(&Context::new(14001, &unknown).identity(&good).path("/"));
    let Decision::Allow { audit_notes, .. } = &d else {
        panic!("{d:?}")
    };
    assert!(matches!(
        &audit_notes[..],
        [AuditNote::Tolerated {
            by: "danger.skip_client_cert_validation",
            ..
        }]
    ));
    let d = p.decide(&Context::new(14001, &unknown).identity(&bad).path("/"));
    assert_eq!(deny(&d).0, "identity_not_allowed");
}
