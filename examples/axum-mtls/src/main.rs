//! Protect an axum app with client certificates: the policy says who may connect, the app's
//! router says who may use `/admin`, the handler greets the caller by SPIFFE ID or SAN.
//!
//! Run from `examples/axum-mtls/` with a PKI in `pki/` (`ca.pem`, `server.pem`, `server.key`;
//! `cargo run -p mtls-gateway -- demo --dir examples/axum-mtls/pki` writes one), then
//! `curl --cacert pki/ca.pem --cert pki/client.pem --key pki/client.key https://localhost:8443/`.

use axum::{Router, routing::get};
use mtls_tower::MtlsListener;
use mtls_tower::layer::{Peer, RequireIdentityLayer};
use tower_layer::Layer as _;

/// The only identity allowed on `/admin`.
const ADMIN: &str = "spiffe://demo.local/ns/ops/sa/admin";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let policy = mtls_policy::Policy::from_yaml(&std::fs::read_to_string("policy.yaml")?)?;
    let provider = mtls_verify::crypto::default_provider();
    let mtls = MtlsListener::builder(policy, "app", provider).build()?;
    let admin_only = RequireIdentityLayer::principals([ADMIN]);
    let app = Router::new()
        .route("/", get(hello))
        .route("/admin", get(hello).layer(admin_only));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", mtls.port())).await?;
    let shutdown = async { tokio::signal::ctrl_c().await.unwrap_or_default() };
    mtls_tower::serve(listener, mtls.acceptor(), mtls.layer().layer(app), shutdown).await?;
    Ok(())
}

async fn hello(Peer(peer): Peer) -> String {
    match peer.spiffe_id() {
        Some(id) => format!("hello {id}\n"),
        None => format!(
            "hello {}\n",
            peer.dns_names()
                .first()
                .map_or(peer.subject(), String::as_str)
        ),
    }
}
