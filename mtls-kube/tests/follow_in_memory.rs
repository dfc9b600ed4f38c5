//! The follower with `SecretPaths::References`: the configuration names Secrets by reference,
//! each update carries their keys, ConfigMap CA bundles are inlined, and nothing is written.
//! Against a fake API server on loopback; every wait is bounded.
#![cfg(all(feature = "runtime", feature = "fake-api"))]

mod support;

use std::path::Path;
use std::time::Duration;

use mtls_kube::fake::FakeApiServer;
use mtls_kube::runtime::{Follower, Update, Updates};
use mtls_kube::{ObjectRef, Options, SecretPaths};
use mtls_policy::{CertificateSource, SecretRef, TrustSource};
use serde_json::json;
use support::{api, istio_gateway, secret, until};

fn follow(api: &FakeApiServer, root: &Path) -> Updates {
    let config = kube::Config::new(api.url().parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let mut options = Options::default();
    options.mount_root = root.to_path_buf();
    options.secret_paths = SecretPaths::References;
    Follower::new(client, options)
        .namespaces(["web"])
        .debounce(Duration::from_millis(50))
        .start()
}

fn reference(name: &str, key: Option<&str>) -> SecretRef {
    SecretRef::new(name, Some("web".into()), key.map(Into::into))
}

/// `name`'s `key`, as the update's resolver reads it.
fn resolved(u: &Update, name: &str, key: &str) -> Option<String> {
    let bytes = u.secrets.resolve(&reference(name, Some(key))).ok()?;
    String::from_utf8(bytes).ok()
}

fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_references_resolved_in_memory_and_nothing_is_written() {
    let pki = mtls_testkit::Pki::new();
    let (one, two) = (
        pki.server_for(&["web.example.com"]).issue(),
        pki.server_for(&["web.example.com"]).issue(),
    );
    let api = api().await;
    let credential = |leaf: &mtls_testkit::Leaf| {
        secret(
            "web-cred",
            &[("tls.crt", leaf.chain_pem()), ("tls.key", leaf.key_pem())],
        )
    };
    api.apply(credential(&one));
    api.apply(secret("web-ca", &[("ca.crt", pki.root().cert_pem())]));
    api.apply(istio_gateway(json!({
        "mode": "MUTUAL", "credentialName": "web-cred", "caCertCredentialName": "web-ca"
    })));
    let root = tempfile::tempdir().unwrap();
    let mut updates = follow(&api, root.path());

    let first = until(&mut updates, "the first update", |_| true).await;
    let host = &first.translation.config.listeners[0].hosts[0];
    assert_eq!(
        host.certificate,
        Some(CertificateSource::Secret(reference("web-cred", None)))
    );
    let trust = &host.client_validation.as_ref().unwrap().trust[0];
    assert_eq!(
        trust.ca,
        [TrustSource::Secret(reference("web-ca", Some("ca.crt")))]
    );
    assert!(trust.crl.is_none());
    assert_eq!(
        resolved(&first, "web-cred", "tls.crt"),
        Some(one.chain_pem())
    );
    assert_eq!(
        resolved(&first, "web-ca", "ca.crt"),
        Some(pki.root().cert_pem())
    );
    // A key the configuration does not read is not held.
    let missing = first.secrets.resolve(&reference("web-ca", Some("other")));
    assert_eq!(
        missing.unwrap_err().to_string(),
        "secret web/web-ca: no key other"
    );
    assert!(
        first.written.is_empty() && first.kept.is_empty(),
        "{first:?}"
    );

    // Renewed: the same configuration, the new key in memory.
    api.apply(credential(&two));
    let rotated = until(&mut updates, "the new certificate", |u| {
        resolved(u, "web-cred", "tls.crt") == Some(two.chain_pem())
    })
    .await;
    assert_eq!(
        resolved(&rotated, "web-cred", "tls.key"),
        Some(two.key_pem())
    );
    assert_eq!(rotated.translation.config, first.translation.config);

    // A CRL added to the CA Secret: referenced, and held.
    let crl = pki.crls().revoke(pki.default_client()).build().pem();
    api.apply(secret(
        "web-ca",
        &[("ca.crt", pki.root().cert_pem()), ("ca.crl", crl.clone())],
    ));
    let revoking = until(&mut updates, "the CRL", |u| {
        resolved(u, "web-ca", "ca.crl").is_some()
    })
    .await;
    assert_eq!(resolved(&revoking, "web-ca", "ca.crl"), Some(crl));
    let trust = &revoking.translation.config.listeners[0].hosts[0]
        .client_validation
        .as_ref()
        .unwrap()
        .trust[0];
    assert_eq!(
        trust.crl.as_ref().unwrap().sources,
        [TrustSource::Secret(reference("web-ca", Some("ca.crl")))]
    );

    // Deleted: the last good keys stay in memory, reported.
    api.delete("v1", "Secret", "web", "web-ca");
    let kept = until(&mut updates, "the CA kept", |u| !u.kept.is_empty()).await;
    let k = &kept.kept[0];
    assert_eq!(k.object, ObjectRef::new("Secret", "web", "web-ca"));
    assert!(k.last_good);
    assert_eq!(
        resolved(&kept, "web-ca", "ca.crt"),
        Some(pki.root().cert_pem())
    );

    assert!(
        [&first, &rotated, &revoking, &kept]
            .iter()
            .all(|u| u.written.is_empty() && u.write_errors.is_empty())
    );
    assert!(is_empty(root.path()), "nothing under the mount root");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_map_ca_bundle_is_inlined() {
    let pki = mtls_testkit::Pki::new();
    let leaf = pki.server_for(&["api.example.com"]).issue();
    let api = api().await;
    api.serve("gateway.networking.k8s.io/v1", "Gateway", "gateways");
    api.apply(secret(
        "api-cred",
        &[("tls.crt", leaf.chain_pem()), ("tls.key", leaf.key_pem())],
    ));
    api.apply(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "api-ca", "namespace": "web" },
        "data": { "ca.crt": pki.root().cert_pem() },
    }));
    api.apply(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": { "name": "gw", "namespace": "web" },
        "spec": {
            "gatewayClassName": "mtls",
            "tls": { "frontend": { "default": { "validation": {
                "caCertificateRefs": [{ "kind": "ConfigMap", "group": "", "name": "api-ca" }]
            }}}},
            "listeners": [{
                "name": "https", "port": 9443, "protocol": "HTTPS", "hostname": "api.example.com",
                "tls": { "mode": "Terminate", "certificateRefs": [{ "name": "api-cred" }] }
            }]
        }
    }));
    let root = tempfile::tempdir().unwrap();
    let mut updates = follow(&api, root.path());
    let u = until(&mut updates, "the Gateway API listener", |u| {
        !u.translation.config.listeners.is_empty()
    })
    .await;
    let host = &u.translation.config.listeners[0].hosts[0];
    assert_eq!(
        host.certificate,
        Some(CertificateSource::Secret(reference("api-cred", None)))
    );
    let trust = &host.client_validation.as_ref().unwrap().trust[0];
    assert_eq!(trust.ca, [TrustSource::Pem(pki.root().cert_pem())]);
    assert!(is_empty(root.path()));
}
