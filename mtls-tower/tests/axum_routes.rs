//! An axum app behind the real acceptor over loopback: MtlsLayer inside `Router::nest`, the
//! route-level `RequireIdentityLayer`, the `MatchedRoute` handlers see and the path they see.
#![cfg(all(feature = "axum", feature = "serve"))]

mod support;

use std::convert::Infallible;

use axum::routing::get;
use axum::{Extension, Router};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::BodyExt as _;
use mtls_core::PeerIdentity;
use mtls_policy::{AuditNote, Authorization, DenyReason, Policy};
use mtls_testkit::{Leaf, Pki};
use mtls_tower::MtlsListener;
use mtls_tower::layer::{AuditNotes, MatchedRoute, Peer, RequireIdentityLayer};
use support::{Counters, client, https_get, start_with};
use tower::{Layer as _, Service as _, ServiceExt as _, service_fn};

const ADMIN: &str = "spiffe://example.org/ns/ops/sa/admin";
const WEB: &str = "spiffe://example.org/ns/web/sa/web";

/// The listener `app` of a policy asking for client certificates from the shared PKI (`mode`:
/// `required` or `optional`), with `routes` (YAML flow sequence); its server certificate is
/// read from the model.
fn listener(mode: &str, routes: &str) -> MtlsListener {
    let pki = Pki::shared();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    std::fs::write(dir.path().join("ca.pem"), pki.root().cert_pem()).unwrap();
    pki.default_server().write_to(dir.path(), "server").unwrap();
    let yaml = format!(
        r#"
listeners:
  - name: app
    port: 8443
    hosts:
      - certificate: {{ chain: {d}/server.pem, key: {d}/server.key }}
        client_validation:
          mode: {mode}
          trust: [{{ name: clients, ca: [{{ file: {d}/ca.pem }}] }}]
        routes: {routes}
"#
    );
    let policy = Policy::from_yaml(&yaml).unwrap();
    MtlsListener::builder(policy, "app", support::provider())
        .build()
        .unwrap()
}

fn leaf(spiffe_id: &str) -> Leaf {
    Pki::shared().client().uri(spiffe_id).issue()
}

async fn hello(Peer(peer): Peer) -> String {
    format!(
        "hello {}\n",
        peer.spiffe_id().map(|s| s.as_str()).unwrap_or("?")
    )
}

const API_ROUTES: &str = "[{ name: api-admin, path_prefix: /api/admin, \
    authorization: { principals: [\"spiffe://example.org/ns/ops/sa/admin\"] } }, \
    { name: api, path_prefix: /api }]";

/// The router nested under `/api`: `/admin`, `/hello`, a wildcard and a fallback (both catch
/// paths a client may send unnormalised).
fn api() -> Router {
    Router::new()
        .route("/admin", get(|| async { "admin\n" }))
        .route("/hello", get(|| async { "hello\n" }))
        .route("/files/{*path}", get(|| async { "a file\n" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such page\n") })
}

#[tokio::test]
async fn inside_router_nest_the_original_path_is_decided() {
    let mtls = listener("required", API_ROUTES);
    let app = Router::new().nest("/api", api().layer(mtls.layer()));
    let server = start_with(mtls.acceptor(), app).await;
    let (admin, web) = (
        client(Pki::shared(), Some(&leaf(ADMIN))),
        client(Pki::shared(), Some(&leaf(WEB))),
    );

    // The layer sees `/admin`; the policy's `/api/admin` applies all the same.
    assert_eq!(
        https_get(server.addr, web.clone(), "/api/admin")
            .await
            .unwrap(),
        (403, format!("{WEB} not in allow-list of route api-admin\n"))
    );
    assert_eq!(
        https_get(server.addr, admin.clone(), "/api/admin")
            .await
            .unwrap(),
        (200, "admin\n".to_owned())
    );
    assert_eq!(
        https_get(server.addr, web.clone(), "/api/hello")
            .await
            .unwrap(),
        (200, "hello\n".to_owned())
    );
    // Unnormalised: decided in normal form (`/api/admin`); where that allows, refused rather
    // than forwarded, since the stripped path cannot be rewritten to match.
    for path in ["/api/x/../admin", "/api/files/../admin", "/api/./admin"] {
        assert_eq!(
            https_get(server.addr, web.clone(), path).await.unwrap(),
            (403, format!("{WEB} not in allow-list of route api-admin\n")),
            "{path}"
        );
        assert_eq!(
            https_get(server.addr, admin.clone(), path).await.unwrap(),
            (
                400,
                format!(
                    "malformed request: the path {path:?} is not in normal form (it reads as \
                     \"/api/admin\")\n"
                )
            ),
            "{path}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn in_front_of_the_router_the_normal_path_is_routed() {
    let mtls = listener("required", API_ROUTES);
    let app = Router::new().nest("/api", api());
    let server = start_with(mtls.acceptor(), mtls.layer().layer(app)).await;
    let (admin, web) = (
        client(Pki::shared(), Some(&leaf(ADMIN))),
        client(Pki::shared(), Some(&leaf(WEB))),
    );

    for path in ["/api/admin", "/api/x/../admin", "/api/./admin"] {
        assert_eq!(
            https_get(server.addr, web.clone(), path).await.unwrap(),
            (403, format!("{WEB} not in allow-list of route api-admin\n")),
            "{path}"
        );
        assert_eq!(
            https_get(server.addr, admin.clone(), path).await.unwrap(),
            (200, "admin\n".to_owned()),
            "{path}"
        );
    }
    assert_eq!(
        https_get(server.addr, web, "/api/hello").await.unwrap(),
        (200, "hello\n".to_owned())
    );
    server.stop().await;
}

#[tokio::test]
async fn require_identity_guards_the_route_it_is_attached_to() {
    let mtls = listener("optional", "[]");
    let app = Router::new()
        .route("/", get(hello))
        .route(
            "/admin",
            get(hello).layer(RequireIdentityLayer::principals([ADMIN])),
        )
        .route(
            "/users/{id}",
            get(hello).layer(RequireIdentityLayer::principals([ADMIN])),
        );
    let server = start_with(mtls.acceptor(), mtls.layer().layer(app.clone())).await;
    let (admin, web) = (
        client(Pki::shared(), Some(&leaf(ADMIN))),
        client(Pki::shared(), Some(&leaf(WEB))),
    );

    assert_eq!(
        https_get(server.addr, admin.clone(), "/admin")
            .await
            .unwrap(),
        (200, format!("hello {ADMIN}\n"))
    );
    assert_eq!(
        https_get(server.addr, web.clone(), "/admin").await.unwrap(),
        (403, format!("{WEB} not in allow-list of route /admin\n"))
    );
    // The route is named by the pattern axum matched.
    assert_eq!(
        https_get(server.addr, web.clone(), "/users/7")
            .await
            .unwrap(),
        (
            403,
            format!("{WEB} not in allow-list of route /users/{{id}}\n")
        )
    );
    assert_eq!(
        https_get(server.addr, web.clone(), "/").await.unwrap(),
        (200, format!("hello {WEB}\n"))
    );
    // No certificate: MtlsLayer let the anonymous peer in (optional), the route does not.
    let anonymous = client(Pki::shared(), None);
    assert_eq!(
        https_get(server.addr, anonymous, "/admin").await.unwrap(),
        (
            403,
            "anonymous not in allow-list of route /admin\n".to_owned()
        )
    );
    server.stop().await;

    // Served without MtlsLayer (the acceptor still inserts the ConnectionInfo): the route
    // layer and the `Peer` extractor fail closed.
    let server = start_with(mtls.acceptor(), app).await;
    assert_eq!(
        https_get(server.addr, admin.clone(), "/").await.unwrap(),
        (
            500,
            "no client identity: MtlsLayer is not installed in front of this handler\n".to_owned()
        )
    );
    assert_eq!(
        https_get(server.addr, admin, "/admin").await.unwrap(),
        (
            500,
            "internal error: no client identity: MtlsLayer is not installed in front of this \
             route\n"
                .to_owned()
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn require_identity_counts_its_denials_by_reason() {
    let counters = Counters::default();
    let mut service = RequireIdentityLayer::principals([ADMIN])
        .name("admin")
        .layer(service_fn(|_req: Request<String>| async {
            Ok::<_, Infallible>(Response::new(String::from("welcome")))
        }));
    let web = PeerIdentity::from_der(leaf(WEB).cert_der()).unwrap();
    let admin = PeerIdentity::from_der(leaf(ADMIN).cert_der()).unwrap();
    let mut send = async |identity: Option<&PeerIdentity>| {
        let mut req = Request::new(String::new());
        if let Some(id) = identity {
            req.extensions_mut().insert(id.clone());
        }
        let ready = service.ready().await.unwrap();
        // The check, and its count, happen in `call`.
        let res = metrics::with_local_recorder(&counters, || ready.call(req))
            .await
            .unwrap();
        (
            res.status(),
            res.extensions().get::<DenyReason>().map(|r| r.to_string()),
        )
    };
    assert_eq!(send(Some(&admin)).await, (StatusCode::OK, None));
    assert_eq!(
        send(Some(&web)).await,
        (
            StatusCode::FORBIDDEN,
            Some(format!("{WEB} not in allow-list of route admin"))
        )
    );
    assert_eq!(send(None).await, (StatusCode::INTERNAL_SERVER_ERROR, None));
    assert_eq!(
        counters.get(r#"mtls_denials_total{reason="identity_not_allowed"}"#),
        Some(1)
    );
    assert_eq!(
        counters.get(r#"mtls_denials_total{reason="no_mtls_layer"}"#),
        Some(1)
    );
}

#[tokio::test]
async fn require_identity_in_audit_mode_lets_through_with_a_note() {
    let mut authorization = Authorization::principals([ADMIN]);
    authorization.audit = true;
    let service = RequireIdentityLayer::new(&authorization)
        .unwrap()
        .layer(service_fn(|req: Request<String>| async move {
            let notes = req.extensions().get::<AuditNotes>().cloned();
            Ok::<_, Infallible>(Response::new(format!("{notes:?}")))
        }));
    let mut req = Request::get("/admin").body(String::new()).unwrap();
    req.extensions_mut()
        .insert(PeerIdentity::from_der(leaf(WEB).cert_der()).unwrap());
    let res = service.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let reason = DenyReason::IdentityNotAllowed {
        identity: WEB.to_owned(),
        route: "/admin".to_owned(),
    };
    let notes = AuditNotes(vec![AuditNote::WouldDeny(reason)]);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, format!("{:?}", Some(notes)));
}

/// The name of the policy route that authorised the request, `none` when no route matched.
async fn route_name(route: Option<Extension<MatchedRoute>>) -> String {
    let name = route
        .as_ref()
        .and_then(|Extension(r)| r.route())
        .map(|r| r.name().to_owned());
    format!("{}\n", name.as_deref().unwrap_or("none"))
}

#[tokio::test]
async fn handlers_see_the_matched_route_and_the_normal_path() {
    let mtls = listener(
        "required",
        "[{ name: reports, path_prefix: /reports }, { name: a, path_prefix: /a }]",
    );
    let app = Router::new()
        .route("/reports/{year}", get(route_name))
        .route("/other", get(route_name))
        .route("/a/c", get(|uri: Uri| async move { format!("{uri}\n") }));
    let server = start_with(mtls.acceptor(), mtls.layer().layer(app)).await;
    let web = client(Pki::shared(), Some(&leaf(WEB)));

    assert_eq!(
        https_get(server.addr, web.clone(), "/reports/2024")
            .await
            .unwrap(),
        (200, "reports\n".to_owned())
    );
    assert_eq!(
        https_get(server.addr, web.clone(), "/other").await.unwrap(),
        (200, "none\n".to_owned())
    );
    assert_eq!(
        https_get(server.addr, web, "/a/./b/../c?q=1")
            .await
            .unwrap(),
        (200, "/a/c?q=1\n".to_owned())
    );
    server.stop().await;
}
