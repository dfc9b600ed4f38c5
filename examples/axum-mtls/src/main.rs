//! Protect an axum app with client certificates: the policy says who gets in, the handler greets
//! the caller by SPIFFE ID or SAN.
//!
//! Run from `examples/axum-mtls/` with a PKI in `pki/` (`ca.pem`, `server.pem`, `server.key`;
//! `cargo run -p mtls-gateway -- demo --dir examples/axum-mtls/pki` writes one), then
//! `curl --cacert pki/ca.pem --cert pki/client.pem --key pki/client.key https://localhost:8443/`.

use axum::{Router, routing::get};
use mtls_tower::{MtlsListener, layer::Peer};
use tower_layer::Layer as _;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let provider = mtls_core::crypto::default_provider();
    let policy = mtls_policy::Policy::from_yaml(&std::fs::read_to_string("policy.yaml")?)?;
    let cert =
        mtls_core::ServerCredential::from_files("pki/server.pem", "pki/server.key", &provider)?;
    let mtls = MtlsListener::builder(policy, "app", provider)
        .certificates(move |_| Ok(cert.clone()))
        .build()?;
    let app = Router::new()
        .route("/", get(hello))
        .route("/admin", get(hello));
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
