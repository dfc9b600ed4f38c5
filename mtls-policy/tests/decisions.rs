//! Decisions beyond the seeds: identity matchers on real certificates, issuer scope, pins,
//! SNI/Host, audit mode, CRL options, answers.

mod common;

use common::identity;
use mtls_policy::{AuditNote, Context, Decision, PeerVerification, Policy, VerifyError};

fn code(d: &Decision) -> &'static str {
    d.reason().map_or("allow", |r| r.code())
}

fn policy(extra_cv: &str, routes: &str) -> Policy {
    Policy::from_yaml(&format!(
        r#"
listeners:
  - name: l
    port: 443
    hosts:
      - hostnames: [api.example.com, "*.svc.example.com"]
        client_validation:
          mode: required
          trust:
            - name: a
              ca: [{{ file: /a.pem }}]
              crl: {{ sources: [{{ file: /a.crl }}], unknown_status: allow }}
              may_vouch_for: {{ match: [{{ spiffe: {{ trust_domain: a.example }} }}] }}
            - name: b
              ca: [{{ file: /b.pem }}]
{extra_cv}
        routes:
{routes}
      - hostnames: [other.example.com]
"#
    ))
    .unwrap()
}

const ALLOW_ROUTES: &str = r#"
          - name: api
            path_prefix: /api
            authorization:
              match:
                - uri: { prefix: "spiffe://a.example/ns/prod/" }
                - dns: { wildcard: "*.clients.example.com" }
                - email: { suffix: "@example.com" }
                - ip: { exact: "2001:0db8::0001" }
                - cn: { glob: "robot-??" }
          - name: audit
            path_prefix: /audit
            authorization: { principals: [nobody], audit: true }
"#;

#[test]
fn route_allow_lists_match_each_san_type() {
    let p = policy("", ALLOW_ROUTES);
    let v = PeerVerification::verified("b");
    let rows: &[(&[&str], &str, &str)] = &[
        (&["uri:spiffe://a.example/ns/prod/sa/web"], "x", "allow"),
        (
            &["uri:spiffe://a.example/ns/dev/sa/web"],
            "x",
            "identity_not_allowed",
        ),
        (&["dns:Host1.CLIENTS.example.com"], "x", "allow"),
        (
            &["dns:a.b.clients.example.com"],
            "x",
            "identity_not_allowed",
        ),
        (&["email:ops@example.com"], "x", "allow"),
        (&["ip:2001:db8::1"], "x", "allow"),
        (&[], "robot-42", "allow"),
        (&[], "robot-420", "identity_not_allowed"),
    ];
    for (sans, cn, want) in rows {
        let id = identity(cn, sans);
        let d = p.decide(
            &Context::new(443, &v)
                .identity(&id)
                .sni("api.example.com")
                .host("api.example.com:443")
                .path("/api/x"),
        );
        assert_eq!(code(&d), *want, "{sans:?} {cn}");
    }
    // Paths outside the route are not restricted; audit routes allow with a note.
    let id = identity("x", &[]);
    assert_eq!(
        code(
            &p.decide(
                &Context::new(443, &v)
                    .identity(&id)
                    .sni("api.example.com")
                    .path("/public")
            )
        ),
        "allow"
    );
    let d = p.decide(
        &Context::new(443, &v)
            .identity(&id)
            .sni("api.example.com")
            .path("/audit/1"),
    );
    let Decision::Allow { audit_notes, .. } = &d else {
        panic!("{d:?}")
    };
    assert!(
        matches!(&audit_notes[..], [AuditNote::WouldDeny(r)] if r.to_string() == "CN=x not in allow-list of route audit")
    );
}

#[test]
fn isolated_trust_domains_and_issuer_scope() {
    let p = policy("", "          []");
    let svid = identity("w", &["uri:spiffe://a.example/ns/prod/sa/web"]);
    let foreign = identity("w", &["uri:spiffe://b.example/ns/prod/sa/web"]);
    let ctx = |v: &PeerVerification, id: &mtls_core::PeerIdentity| {
        p.decide(&Context::new(443, v).identity(id).sni("api.example.com"))
    };
    assert_eq!(code(&ctx(&PeerVerification::verified("a"), &svid)), "allow");
    let d = ctx(&PeerVerification::verified("a"), &foreign);
    assert_eq!(code(&d), "issuer_not_allowed_for_identity");
    assert_eq!(
        d.reason().unwrap().to_string(),
        "trust domain a may not vouch for spiffe://b.example/ns/prod/sa/web"
    );
    assert_eq!(
        code(&ctx(&PeerVerification::verified("b"), &foreign)),
        "allow"
    );
    assert_eq!(
        code(&ctx(&PeerVerification::verified("c"), &svid)),
        "untrusted_trust_domain"
    );
}

#[test]
fn pins_either_list_passes() {
    let id = identity("pinned", &[]);
    let other = identity("other", &[]);
    let v = PeerVerification::verified("b");
    let by_cert = policy(
        &format!(
            "          pins: {{ cert_sha256: [\"{}\"] }}",
            id.cert_sha256_hex().to_uppercase()
        ),
        "          []",
    );
    let by_spki = policy(
        &format!(
            "          pins: {{ cert_sha256: [\"{}\"], spki_sha256: [\"{}\"] }}",
            other.cert_sha256_hex(),
            id.spki_sha256_base64()
        ),
        "          []",
    );
    for p in [&by_cert, &by_spki] {
        assert_eq!(
            code(&p.decide(&Context::new(443, &v).identity(&id).sni("api.example.com"))),
            "allow"
        );
    }
    assert_eq!(
        code(
            &by_cert.decide(
                &Context::new(443, &v)
                    .identity(&other)
                    .sni("api.example.com")
            )
        ),
        "pin_mismatch"
    );
}

#[test]
fn sni_and_host_must_select_the_same_host() {
    let p = policy("", "          []");
    let id = identity("x", &[]);
    let v = PeerVerification::verified("b");
    let d = |sni, host| code(&p.decide(&Context::new(443, &v).identity(&id).sni(sni).host(host)));
    assert_eq!(d("a.svc.example.com", "b.svc.example.com:8443"), "allow"); // same host entry
    assert_eq!(
        d("api.example.com", "other.example.com"),
        "sni_host_mismatch"
    );
    let r = p.decide(
        &Context::new(443, &v)
            .identity(&id)
            .sni("api.example.com")
            .host("other.example.com"),
    );
    let Decision::Deny { reason, answer } = &r else {
        panic!()
    };
    assert_eq!(answer.http_response(reason).unwrap().status, 421);
}

#[test]
fn crl_and_danger_options_tolerate_with_notes() {
    let id = identity("x", &["uri:spiffe://a.example/x"]);
    let p = policy("          danger: { allow_expired: true }", "          []");
    let rows = [
        (
            PeerVerification::failed(Some("a"), VerifyError::RevocationUnknown),
            "allow",
        ), // a: unknown_status allow
        (
            PeerVerification::failed(Some("b"), VerifyError::RevocationUnknown),
            "revocation_unknown",
        ),
        (
            PeerVerification::failed(Some("a"), VerifyError::Expired),
            "allow",
        ),
        (
            PeerVerification::failed(Some("a"), VerifyError::BadEku),
            "bad_eku",
        ),
        (
            PeerVerification::failed(Some("a"), VerifyError::ChainTooLong { depth: Some(9) }),
            "chain_too_long",
        ),
    ];
    for (v, want) in rows {
        let d = p.decide(&Context::new(443, &v).identity(&id).sni("api.example.com"));
        assert_eq!(code(&d), want, "{v:?}");
        if let Decision::Allow { audit_notes, .. } = &d {
            assert_eq!(audit_notes.len(), 1);
        }
    }
}

#[test]
fn listener_audit_mode_and_problem_json() {
    let text = r#"
answers:
  no_certificate: { http: { status: 496, format: problem_json } }
listeners:
  - { name: strict, port: 1, hosts: [{ client_validation: { trust: [{ name: t, ca: [{ file: /t }] }] } }] }
  - { name: audited, port: 2, audit: true, hosts: [{ client_validation: { trust: [{ name: t, ca: [{ file: /t }] }] } }] }
"#;
    let p = Policy::from_yaml(text).unwrap();
    let v = PeerVerification::NoCertificate;
    let Decision::Deny { reason, answer } = p.decide(&Context::new(1, &v)) else {
        panic!()
    };
    let resp = answer.http_response(&reason).unwrap();
    assert_eq!(
        (resp.status, resp.content_type),
        (496, "application/problem+json")
    );
    let json: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
    assert_eq!(json["code"], "no_certificate");
    assert_eq!(
        json["detail"],
        "no client certificate presented; listener strict requires one"
    );
    let d = p.decide(&Context::new(2, &v));
    assert!(
        matches!(&d, Decision::Allow { audit_notes, .. } if matches!(&audit_notes[..], [AuditNote::WouldDeny(_)]))
    );
    assert_eq!(code(&p.decide(&Context::new(3, &v))), "no_listener");
}
