//! The axum extractors behind MtlsLayer.
#![cfg(feature = "axum")]

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use mtls_core::PeerIdentity;
use mtls_policy::{PeerVerification, Policy};
use mtls_testkit::Pki;
use mtls_tower::layer::{MtlsLayer, OptionalPeer, Peer};
use mtls_tower::{ConnectionInfo, TlsInfo};
use tower::ServiceExt;

const WEB: &str = "spiffe://example.org/ns/prod/sa/web";

fn policy() -> Policy {
    Policy::from_yaml(
        r#"
listeners:
  - name: public
    port: 8443
    hosts:
      - client_validation:
          mode: optional
          trust: [{ name: test, ca: [{ file: /unused/ca.pem }] }]
"#,
    )
    .expect("policy")
}

fn app() -> Router {
    Router::new()
        .route(
            "/me",
            get(|Peer(p): Peer| async move {
                p.spiffe_id()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default()
            }),
        )
        .route(
            "/maybe",
            get(|p: Option<Peer>| async move {
                p.map_or("anonymous".to_owned(), |Peer(p)| p.subject().to_owned())
            }),
        )
        .route(
            "/optional",
            get(|OptionalPeer(p): OptionalPeer| async move {
                p.map_or("anonymous".to_owned(), |p| p.subject().to_owned())
            }),
        )
        .route(
            "/conn",
            get(|c: ConnectionInfo| async move {
                c.tls_info().map_or("plaintext", |t| t.version).to_owned()
            }),
        )
}

fn conn(with_cert: bool) -> ConnectionInfo {
    let (chain, peer, verification) = if with_cert {
        let leaf = Pki::shared().client().uri(WEB).issue();
        let id = PeerIdentity::from_der(leaf.cert_der()).expect("identity");
        (
            leaf.chain_der(),
            Some(id),
            PeerVerification::verified("test"),
        )
    } else {
        (Vec::new(), None, PeerVerification::NoCertificate)
    };
    ConnectionInfo::tls(
        None,
        Some("127.0.0.1:8443".parse().expect("addr")),
        TlsInfo::new(
            Some("localhost".into()),
            "TLSv1_3",
            "TLS13_AES_128_GCM_SHA256",
        ),
        chain,
        peer,
        verification,
    )
}

async fn get_text(app: Router, path: &str, conn: Option<ConnectionInfo>) -> (StatusCode, String) {
    let mut req = Request::get(path)
        .header("host", "localhost")
        .body(Body::empty())
        .expect("request");
    if let Some(c) = conn {
        req.extensions_mut().insert(c);
    }
    let res = app.oneshot(req).await.expect("infallible");
    let status = res.status();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8(body.to_vec()).expect("utf-8"))
}

#[tokio::test]
async fn peer_extractor_sees_the_identity() {
    let app = app().layer(MtlsLayer::new(policy()));
    assert_eq!(
        get_text(app.clone(), "/me", Some(conn(true))).await,
        (StatusCode::OK, WEB.to_owned())
    );
    let (status, body) = get_text(app.clone(), "/maybe", Some(conn(true))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("CN=client"), "{body}");
    let (status, body) = get_text(app.clone(), "/optional", Some(conn(true))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("CN=client"), "{body}");
    assert_eq!(
        get_text(app, "/conn", Some(conn(true))).await,
        (StatusCode::OK, "TLSv1_3".to_owned())
    );
}

#[tokio::test]
async fn anonymous_peer_is_rejected_with_403_or_none() {
    let app = app().layer(MtlsLayer::new(policy()));
    assert_eq!(
        get_text(app.clone(), "/me", Some(conn(false))).await,
        (
            StatusCode::FORBIDDEN,
            "a verified client certificate is required\n".to_owned()
        )
    );
    assert_eq!(
        get_text(app.clone(), "/maybe", Some(conn(false))).await,
        (StatusCode::OK, "anonymous".to_owned())
    );
    assert_eq!(
        get_text(app, "/optional", Some(conn(false))).await,
        (StatusCode::OK, "anonymous".to_owned())
    );
}

#[tokio::test]
async fn without_the_layer_extractors_answer_500() {
    let (status, body) = get_text(app(), "/me", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        "no client identity: MtlsLayer is not installed in front of this handler\n"
    );
    let (status, _) = get_text(app(), "/conn", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        get_text(app(), "/optional", None).await,
        (StatusCode::OK, "anonymous".to_owned())
    );
}
