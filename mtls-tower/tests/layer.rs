//! MtlsLayer end to end on a `service_fn`, with identities from generated certificates.
#![cfg(feature = "layer")]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use mtls_core::PeerIdentity;
use mtls_policy::{AuditNote, DenyReason, PeerVerification, Policy, VerifyError};
use mtls_testkit::{Leaf, Pki};
use mtls_tower::layer::{
    AuditNotes, ForwardIdentity, MtlsLayer, ResponseBody, SharedPolicy, XfccConfig, parse_xfcc,
};
use mtls_tower::{ConnectionInfo, TlsInfo};
use tower::{Service, ServiceExt, service_fn};

const OPS: &str = "spiffe://example.org/ns/prod/sa/ops";
const WEB: &str = "spiffe://example.org/ns/prod/sa/web";

fn policy_yaml(admin: &str) -> String {
    format!(
        r#"
listeners:
  - name: public
    port: 8443
    hosts:
      - hostnames: [api.example.com]
        client_validation:
          mode: required
          trust: [{{ name: test, ca: [{{ file: /unused/ca.pem }}] }}]
        routes:
          - path_prefix: /admin
            authorization: {{ principals: ["{admin}"] }}
          - path_prefix: /audited
            authorization: {{ principals: ["{admin}"], audit: true }}
          - path_prefix: /
      - hostnames: [other.example.com]
        client_validation:
          mode: optional
          trust: [{{ name: test, ca: [{{ file: /unused/ca.pem }}] }}]
  - name: json
    port: 9443
    answers:
      identity_not_allowed: {{ http: {{ status: 403, format: problem_json }} }}
    hosts:
      - client_validation:
          mode: required
          trust: [{{ name: test, ca: [{{ file: /unused/ca.pem }}] }}]
        routes:
          - path_prefix: /
            authorization: {{ principals: ["{admin}"] }}
  - name: audited
    port: 7443
    audit: true
    hosts:
      - client_validation:
          mode: required
          trust: [{{ name: test, ca: [{{ file: /unused/ca.pem }}] }}]
  - name: strict
    port: 8080
    peer_mode: strict
    hosts:
      - client_validation:
          mode: required
          trust: [{{ name: test, ca: [{{ file: /unused/ca.pem }}] }}]
"#
    )
}

fn policy() -> Policy {
    Policy::from_yaml(&policy_yaml(OPS)).expect("test policy")
}

struct Client {
    leaf: Leaf,
    id: PeerIdentity,
}

fn client(uri: &str) -> Client {
    let leaf = Pki::shared()
        .client()
        .uri(uri)
        .dns("client.example.com")
        .issue();
    let id = PeerIdentity::from_der(leaf.cert_der()).expect("identity");
    Client { leaf, id }
}

fn tls_conn(
    port: u16,
    sni: &str,
    c: Option<&Client>,
    verification: PeerVerification,
) -> ConnectionInfo {
    ConnectionInfo::tls(
        Some("10.0.0.7:40000".parse().expect("addr")),
        Some(format!("10.0.0.1:{port}").parse().expect("addr")),
        TlsInfo::new(Some(sni.to_owned()), "TLSv1_3", "TLS13_AES_128_GCM_SHA256"),
        c.map(|c| c.leaf.chain_der()).unwrap_or_default(),
        c.map(|c| c.id.clone()),
        verification,
    )
}

fn verified() -> PeerVerification {
    PeerVerification::verified("test")
}

/// What the inner service saw.
#[derive(Clone)]
struct Seen {
    headers: HeaderMap,
    peer: Option<PeerIdentity>,
    conn: Option<ConnectionInfo>,
    notes: Option<AuditNotes>,
}

type Svc =
    tower::util::BoxCloneService<Request<String>, Response<ResponseBody<String>>, Infallible>;

fn service(layer: MtlsLayer) -> (Svc, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let inner = service_fn(move |req: Request<String>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            let seen = Seen {
                headers: req.headers().clone(),
                peer: req.extensions().get::<PeerIdentity>().cloned(),
                conn: req.extensions().get::<ConnectionInfo>().cloned(),
                notes: req.extensions().get::<AuditNotes>().cloned(),
            };
            let mut res = Response::new("inner".to_owned());
            res.extensions_mut().insert(seen);
            Ok::<_, Infallible>(res)
        }
    });
    (
        tower::util::BoxCloneService::new(tower::Layer::layer(&layer, inner)),
        calls,
    )
}

/// A GET of `path` (or of an absolute URI) with a `Host` header, carrying `conn`.
fn request(path: &str, host: &str, conn: Option<ConnectionInfo>) -> Request<String> {
    let mut req = Request::get(path)
        .header("host", host)
        .body(String::new())
        .expect("request");
    if let Some(conn) = conn {
        req.extensions_mut().insert(conn);
    }
    req
}

async fn send(svc: &Svc, req: Request<String>) -> (StatusCode, HeaderMap, Option<Seen>, String) {
    let res = svc.clone().oneshot(req).await.expect("infallible");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    let text = String::from_utf8(body.to_vec()).expect("utf-8 body");
    (
        parts.status,
        parts.headers,
        parts.extensions.get::<Seen>().cloned(),
        text,
    )
}

#[tokio::test]
async fn allowed_principal_reaches_inner_with_identity() {
    let ops = client(OPS);
    let (svc, calls) = service(MtlsLayer::new(policy()));
    let conn = tls_conn(8443, "api.example.com", Some(&ops), verified());
    let (status, _, seen, body) = send(
        &svc,
        request("/admin/users", "api.example.com:8443", Some(conn)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "inner");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let seen = seen.expect("inner saw the request");
    assert_eq!(
        seen.peer.expect("identity").cert_sha256(),
        ops.id.cert_sha256()
    );
    assert!(seen.conn.is_some());
    assert!(seen.notes.is_none());
}

#[tokio::test]
async fn other_san_is_403_with_reason() {
    let web = client(WEB);
    let (svc, calls) = service(MtlsLayer::new(policy()));
    let conn = tls_conn(8443, "api.example.com", Some(&web), verified());
    let (status, headers, seen, body) =
        send(&svc, request("/admin", "api.example.com", Some(conn))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(body, format!("{WEB} not in allow-list of route /admin\n"));
    assert!(seen.is_none());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn revoked_is_400_with_reason_text() {
    let ops = client(OPS);
    let (svc, calls) = service(MtlsLayer::new(policy()));
    let failed = PeerVerification::failed(
        Some("test"),
        VerifyError::Revoked {
            reason: Some("keyCompromise".into()),
        },
    );
    let conn = tls_conn(8443, "api.example.com", Some(&ops), failed);
    let (status, _, _, body) = send(&svc, request("/", "api.example.com", Some(conn))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let want = format!(
        "client certificate revoked (keyCompromise): subject {}, serial {}\n",
        ops.id.subject(),
        ops.id.serial_hex()
    );
    assert_eq!(body, want);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn problem_json_answer() {
    let web = client(WEB);
    let (svc, _) = service(MtlsLayer::new(policy()));
    let conn = tls_conn(9443, "json.example.com", Some(&web), verified());
    let (status, headers, _, body) =
        send(&svc, request("/x", "json.example.com", Some(conn))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(body.contains(r#""code":"identity_not_allowed""#), "{body}");
    assert!(body.contains(r#""status":403"#), "{body}");
    assert!(
        body.contains(&format!(r#""detail":"{WEB} not in allow-list of route /""#)),
        "{body}"
    );
}

#[tokio::test]
async fn missing_connection_info_fails_closed_with_500() {
    let (svc, calls) = service(MtlsLayer::new(policy()));
    let (status, _, _, body) = send(&svc, request("/", "api.example.com", None)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        "internal error: no connection information for this request\n"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn forged_identity_headers_are_stripped_and_replaced() {
    let ops = client(OPS);
    let forward = ForwardIdentity::none()
        .xfcc(XfccConfig::default().by("spiffe://example.org/ns/gw/sa/gateway"))
        .rfc9440()
        .ssl_client();
    let (svc, _) = service(MtlsLayer::new(policy()).forward(forward));
    let conn = tls_conn(8443, "api.example.com", Some(&ops), verified());
    let mut req = request("/", "api.example.com", Some(conn));
    for (name, value) in [
        (
            "X-Forwarded-Client-Cert",
            "Hash=forged;URI=spiffe://example.org/ns/prod/sa/root",
        ),
        ("Client-Cert", ":Zm9yZ2Vk:"),
        ("Client-Cert-Chain", ":Zm9yZ2Vk:"),
        ("SSL-Client-Verify", "SUCCESS"),
        ("ssl-client-s-dn", "CN=root"),
        ("x-ssl-client-verify", "SUCCESS"),
        ("ssl_client_verify", "SUCCESS"),
        ("x_forwarded_client_cert", "Hash=forged"),
    ] {
        req.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            value.parse().expect("value"),
        );
    }
    req.headers_mut().append(
        "x-forwarded-client-cert",
        "Hash=second".parse().expect("value"),
    );
    let (status, _, seen, _) = send(&svc, req).await;
    assert_eq!(status, StatusCode::OK);
    let h = seen.expect("inner called").headers;
    for gone in [
        "ssl-client-s-dn",
        "x-ssl-client-verify",
        "ssl_client_verify",
        "x_forwarded_client_cert",
    ] {
        assert!(!h.contains_key(gone), "{gone} kept");
    }
    let xfcc: Vec<_> = h.get_all("x-forwarded-client-cert").iter().collect();
    assert_eq!(xfcc.len(), 1);
    let parsed = parse_xfcc(xfcc[0].to_str().expect("ascii")).expect("our own XFCC parses");
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed[0].by, ["spiffe://example.org/ns/gw/sa/gateway"]);
    assert_eq!(
        parsed[0].hash.as_deref(),
        Some(ops.id.cert_sha256_hex().as_str())
    );
    assert_eq!(parsed[0].uri, [OPS]);
    assert_eq!(h.get_all("client-cert").iter().count(), 1);
    assert_ne!(h["client-cert"], ":Zm9yZ2Vk:");
    assert_eq!(h["ssl-client-verify"], "SUCCESS");
    assert_eq!(h["ssl-client-subject-dn"], ops.id.subject());
    assert_eq!(h["ssl-client-issuer-dn"], ops.id.issuer());
}

#[tokio::test]
async fn anonymous_peer_gets_no_identity_headers() {
    // Optional host, no certificate: allowed, forged headers removed, nothing set but NONE.
    let (svc, _) = service(
        MtlsLayer::new(policy()).forward(ForwardIdentity::default().rfc9440().ssl_client()),
    );
    let conn = tls_conn(
        8443,
        "other.example.com",
        None,
        PeerVerification::NoCertificate,
    );
    let mut req = request("/", "other.example.com", Some(conn));
    req.headers_mut().insert(
        "x-forwarded-client-cert",
        "Hash=forged".parse().expect("value"),
    );
    req.headers_mut()
        .insert("client-cert", ":Zm9yZ2Vk:".parse().expect("value"));
    req.extensions_mut().insert(client(OPS).id); // a stale identity from an earlier layer
    let (status, _, seen, _) = send(&svc, req).await;
    assert_eq!(status, StatusCode::OK);
    let seen = seen.expect("inner called");
    assert!(seen.peer.is_none());
    assert!(!seen.headers.contains_key("x-forwarded-client-cert"));
    assert!(!seen.headers.contains_key("client-cert"));
    assert_eq!(seen.headers["ssl-client-verify"], "NONE");
    assert!(!seen.headers.contains_key("ssl-client-subject-dn"));
}

#[tokio::test]
async fn tolerated_failure_is_forwarded_as_failed() {
    let yaml = r#"
listeners:
  - name: lax
    port: 8443
    hosts:
      - client_validation:
          mode: optional
          trust: [{ name: test, ca: [{ file: /unused/ca.pem }] }]
          danger: { allow_expired: true }
"#;
    let policy = Policy::from_yaml(yaml).expect("policy");
    let (svc, _) = service(MtlsLayer::new(policy).forward(ForwardIdentity::none().ssl_client()));
    let ops = client(OPS);
    let conn = tls_conn(
        8443,
        "any.example.com",
        Some(&ops),
        PeerVerification::failed(Some("test"), VerifyError::Expired),
    );
    let (status, _, seen, _) = send(&svc, request("/", "any.example.com", Some(conn))).await;
    assert_eq!(status, StatusCode::OK);
    let seen = seen.expect("inner called");
    assert_eq!(seen.headers["ssl-client-verify"], "FAILED:expired");
    let notes = seen.notes.expect("tolerated note").0;
    assert!(
        matches!(
            &notes[..],
            [AuditNote::Tolerated {
                by: "danger.allow_expired",
                ..
            }]
        ),
        "{notes:?}"
    );
}

#[tokio::test]
async fn sni_host_mismatch_is_421() {
    let ops = client(OPS);
    let (svc, calls) = service(MtlsLayer::new(policy()));
    let conn = tls_conn(8443, "api.example.com", Some(&ops), verified());
    let (status, _, _, body) = send(&svc, request("/", "other.example.com", Some(conn))).await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
    assert_eq!(
        body,
        "TLS server name api.example.com does not match Host other.example.com\n"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn uri_authority_is_the_host_without_a_host_header() {
    let ops = client(OPS);
    let (svc, _) = service(MtlsLayer::new(policy()));
    let conn = tls_conn(8443, "api.example.com", Some(&ops), verified());
    let mut req = Request::get("https://other.example.com:8443/")
        .body(String::new())
        .expect("request");
    req.extensions_mut().insert(conn);
    let (status, ..) = send(&svc, req).await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
}

#[tokio::test]
async fn host_header_conflicting_with_authority_is_400() {
    let ops = client(OPS);
    let (svc, calls) = service(MtlsLayer::new(policy()));
    let conn = tls_conn(8443, "api.example.com", Some(&ops), verified());
    let req = request(
        "https://api.example.com/",
        "other.example.com",
        Some(conn.clone()),
    );
    let (status, _, _, body) = send(&svc, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        "Host header \"other.example.com\" does not match the request authority \"api.example.com\"\n"
    );

    let mut req = request("/", "api.example.com", Some(conn));
    req.headers_mut()
        .append("host", "api.example.com".parse().expect("value"));
    let (status, _, _, body) = send(&svc, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, "more than one Host header\n");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

/// An IPv6 `Host` with a port names the same host as the authority it came with; another one
/// does not. Both are read without port and brackets, as the policy reads hosts.
#[tokio::test]
async fn ipv6_hosts_are_compared_without_port_and_brackets() {
    let ops = client(OPS);
    let (svc, calls) = service(MtlsLayer::new(policy()));
    let conn = tls_conn(9443, "api.example.com", Some(&ops), verified());
    let req = request("https://[::1]:9443/", "[::1]:9443", Some(conn.clone()));
    let (status, _, _, body) = send(&svc, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let req = request("https://[::1]:9443/", "[::2]:9443", Some(conn));
    let (status, _, _, body) = send(&svc, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        "Host header \"::2\" does not match the request authority \"::1\"\n"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn audit_mode_allows_with_a_note() {
    let web = client(WEB);
    let (svc, calls) = service(MtlsLayer::new(policy()));
    let conn = tls_conn(8443, "api.example.com", Some(&web), verified());
    let (status, _, seen, _) = send(&svc, request("/audited", "api.example.com", Some(conn))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let notes = seen.expect("inner called").notes.expect("audit notes").0;
    assert_eq!(
        notes,
        [AuditNote::WouldDeny(DenyReason::IdentityNotAllowed {
            identity: WEB.into(),
            route: "/audited".into()
        })]
    );
}

#[tokio::test]
async fn hot_swap_changes_the_next_decision() {
    let web = client(WEB);
    let shared = SharedPolicy::new(policy());
    let (svc, _) = service(MtlsLayer::new(shared.clone()));
    let conn = tls_conn(8443, "api.example.com", Some(&web), verified());
    let (status, ..) = send(
        &svc,
        request("/admin", "api.example.com", Some(conn.clone())),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    shared.store(Policy::from_yaml(&policy_yaml(WEB)).expect("policy"));
    let (status, ..) = send(
        &svc,
        request("/admin", "api.example.com", Some(conn.clone())),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    shared.store(policy());
    let (status, ..) = send(&svc, request("/admin", "api.example.com", Some(conn))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn non_normal_paths_cannot_skip_a_route() {
    let web = client(WEB);
    let (svc, calls) = service(MtlsLayer::new(policy()));
    for path in [
        "/public/../admin",
        "//admin",
        "/%61dmin/x",
        "/x/%2e%2e/admin",
    ] {
        let conn = tls_conn(8443, "api.example.com", Some(&web), verified());
        let (status, ..) = send(&svc, request(path, "api.example.com", Some(conn))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    // Ambiguous: one segment or three, depending on who decodes. Refused, not guessed.
    for path in ["/x%2f..%2fadmin", "/x%5c..%5cadmin", "/a%zz"] {
        let conn = tls_conn(8443, "api.example.com", Some(&web), verified());
        let (status, _, _, body) = send(&svc, request(path, "api.example.com", Some(conn))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert!(
            body.starts_with("malformed request: path: "),
            "{path}: {body}"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn plaintext_on_strict_port_is_400_not_a_close() {
    let (svc, calls) = service(MtlsLayer::new(policy()));
    let conn = ConnectionInfo::plaintext(None, Some("10.0.0.1:8080".parse().expect("addr")));
    let (status, _, _, body) = send(&svc, request("/", "api.example.com", Some(conn))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        "plaintext connection on port 8080, whose mode is STRICT\n"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn port_override_and_no_listener() {
    let ops = client(OPS);
    // Port 1 has no listener: alert/close answer → 421 at the layer.
    let (svc, _) = service(MtlsLayer::new(policy()));
    let conn = tls_conn(1, "api.example.com", Some(&ops), verified());
    let (status, ..) = send(&svc, request("/", "api.example.com", Some(conn.clone()))).await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
    // The same connection, decided as port 8443.
    let (svc, _) = service(MtlsLayer::new(policy()).port(8443));
    let (status, ..) = send(&svc, request("/", "api.example.com", Some(conn))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn poll_ready_is_delegated() {
    let (mut svc, _) = service(MtlsLayer::new(policy()));
    std::future::poll_fn(|cx| svc.poll_ready(cx))
        .await
        .expect("ready");
}

#[tokio::test]
async fn audit_mode_does_not_vouch_for_an_unverified_identity() {
    let ops = client(OPS);
    let forward = ForwardIdentity::default().rfc9440().ssl_client();
    let (svc, calls) = service(MtlsLayer::new(policy()).forward(forward));
    let failed = PeerVerification::failed(None, VerifyError::UnknownIssuer);
    let conn = tls_conn(7443, "api.example.com", Some(&ops), failed);
    let (status, _, seen, _) = send(&svc, request("/", "api.example.com", Some(conn))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let seen = seen.expect("inner called");
    assert!(
        seen.peer.is_none(),
        "unverified identity given to the handler"
    );
    assert!(!seen.headers.contains_key("x-forwarded-client-cert"));
    assert!(!seen.headers.contains_key("client-cert"));
    assert_eq!(seen.headers["ssl-client-verify"], "FAILED:unknown issuer");
    let notes = seen.notes.expect("audit notes").0;
    assert!(
        matches!(&notes[..], [AuditNote::WouldDeny(r)] if r.code() == "unknown_issuer"),
        "{notes:?}"
    );
}

/// The layer formats each identity's XFCC once and reuses it: the value must stay that
/// identity's (two clients alternating on one layer), and a layer built with another
/// forwarding configuration must not reuse values of the first, even on the same connection.
#[tokio::test]
async fn xfcc_values_belong_to_their_identity_across_requests_and_configurations() {
    let ops = client(OPS);
    let web = client(WEB);
    let expected = |c: &Client, forward: &ForwardIdentity| {
        let mut h = HeaderMap::new();
        forward.apply(&mut h, Some(&c.id), &c.leaf.chain_der(), &verified());
        h["x-forwarded-client-cert"].clone()
    };
    let default = ForwardIdentity::default();
    let (svc, _) = service(MtlsLayer::new(policy()));
    for _ in 0..3 {
        for c in [&ops, &web] {
            let conn = tls_conn(8443, "api.example.com", Some(c), verified());
            let (status, _, seen, _) =
                send(&svc, request("/", "api.example.com", Some(conn))).await;
            assert_eq!(status, StatusCode::OK);
            let seen = seen.expect("inner saw the request");
            assert_eq!(
                seen.headers["x-forwarded-client-cert"],
                expected(c, &default)
            );
        }
    }
    let hash_only =
        ForwardIdentity::none().xfcc(XfccConfig::default().subject(false).uri(false).dns(false));
    let layer = MtlsLayer::new(policy());
    let (first, _) = service(layer.clone());
    let conn = tls_conn(8443, "api.example.com", Some(&ops), verified());
    send(&first, request("/", "api.example.com", Some(conn))).await;
    let (svc, _) = service(layer.forward(hash_only.clone()));
    let conn = tls_conn(8443, "api.example.com", Some(&ops), verified());
    let (_, _, seen, _) = send(&svc, request("/", "api.example.com", Some(conn))).await;
    let value = seen.expect("inner saw the request").headers["x-forwarded-client-cert"].clone();
    assert_eq!(value, expected(&ops, &hash_only));
    assert_eq!(
        value.to_str().expect("ascii"),
        format!("Hash={}", ops.id.cert_sha256_hex())
    );
    // A value is also kept with its connection: one connection whose requests go through
    // both layers in turn gets each layer's own value every time.
    let (default_svc, _) = service(MtlsLayer::new(policy()));
    let conn = tls_conn(8443, "api.example.com", Some(&web), verified());
    for _ in 0..2 {
        for (svc, forward) in [(&default_svc, &default), (&svc, &hash_only)] {
            let req = request("/", "api.example.com", Some(conn.clone()));
            let (_, _, seen, _) = send(svc, req).await;
            let seen = seen.expect("inner saw the request");
            assert_eq!(
                seen.headers["x-forwarded-client-cert"],
                expected(&web, forward)
            );
        }
    }
}
