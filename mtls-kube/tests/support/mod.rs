//! What the follower tests share: objects, a fake API server serving the core and Istio
//! kinds, and a bounded wait for an update.
// Each test crate uses a part.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use mtls_kube::fake::FakeApiServer;
use mtls_kube::runtime::{Update, Updates};
use serde_json::{Value, json};

pub(crate) const WAIT: Duration = Duration::from_secs(20);

pub(crate) fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

pub(crate) fn secret(name: &str, data: &[(&str, String)]) -> Value {
    let data: BTreeMap<&str, String> = data.iter().map(|(k, v)| (*k, b64(v))).collect();
    json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": { "name": name, "namespace": "web" },
        "data": data,
    })
}

pub(crate) fn istio_gateway(tls: Value) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1", "kind": "Gateway",
        "metadata": { "name": "web-gateway", "namespace": "web" },
        "spec": {
            "selector": { "app": "mtls-gateway" },
            "servers": [{
                "port": { "number": 8443, "name": "https", "protocol": "HTTPS" },
                "hosts": ["web.example.com"],
                "tls": tls,
            }]
        }
    })
}

pub(crate) fn peer_authentication(mode: Value) -> Value {
    json!({
        "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
        "metadata": { "name": "default", "namespace": "web" },
        "spec": { "mtls": { "mode": mode } }
    })
}

/// A fake API server serving the core kinds and Istio's; the other CRDs are "not installed".
pub(crate) async fn api() -> FakeApiServer {
    let api = FakeApiServer::start().await.unwrap();
    api.serve("v1", "Secret", "secrets");
    api.serve("v1", "ConfigMap", "configmaps");
    api.serve("networking.istio.io/v1", "Gateway", "gateways");
    api.serve(
        "security.istio.io/v1",
        "PeerAuthentication",
        "peerauthentications",
    );
    api
}

/// The first update that satisfies `want` (bounded).
pub(crate) async fn until(
    updates: &mut Updates,
    what: &str,
    want: impl Fn(&Update) -> bool,
) -> Update {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let next = tokio::time::timeout_at(deadline, updates.next()).await;
        match next {
            Ok(Some(u)) if want(&u) => return u,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the follower stopped while waiting for {what}"),
            Err(_) => panic!("no update with {what} within {WAIT:?}"),
        }
    }
}

/// The cluster of the last-good tests: a server certificate Secret `web-cred`, a CA Secret
/// `web-ca` with the root and a CRL revoking the default client, and an Istio Gateway MUTUAL
/// with both. Returns the CRL's PEM.
pub(crate) fn mutual_cluster_with_crl(api: &FakeApiServer, pki: &mtls_testkit::Pki) -> String {
    let leaf = pki.server_for(&["web.example.com"]).issue();
    let crl = pki.crls().revoke(pki.default_client()).build().pem();
    api.apply(secret(
        "web-cred",
        &[("tls.crt", leaf.chain_pem()), ("tls.key", leaf.key_pem())],
    ));
    api.apply(secret(
        "web-ca",
        &[("ca.crt", pki.root().cert_pem()), ("ca.crl", crl.clone())],
    ));
    api.apply(istio_gateway(json!({
        "mode": "MUTUAL", "credentialName": "web-cred", "caCertCredentialName": "web-ca"
    })));
    crl
}
