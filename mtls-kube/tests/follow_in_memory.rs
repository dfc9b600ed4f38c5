//! The follower with `SecretPaths::References`: the configuration names Secrets by reference,
//! each update carries their keys, ConfigMap CA bundles are inlined, and nothing is written.
//! Against a fake API server on loopback; every wait is bounded.
#![cfg(all(feature = "runtime", feature = "fake-api"))]

mod support;

use std::path::Path;
use std::time::Duration;

use mtls_kube::fake::FakeApiServer;
use mtls_kube::runtime::{Follower, Update, Updates};
use mtls_kube::{ConditionStatus, ObjectRef, Options, SecretPaths};
use mtls_policy::{CertificateSource, SecretRef, TrustSource};
use serde_json::json;
use support::{api, istio_gateway, mutual_cluster_with_crl, secret, until};

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

/// Why a Secret holding only the key `other` is invalid.
const NO_LAYOUT: &str = "web/web-ca: no known secret layout (expected tls.crt/tls.key/ca.crt/ca.crl \
    or cert/key/cacert/crl; keys present: other)";

/// The `ResolvedRefs` condition of `object` (whole object): status, reason, message.
fn resolved_refs(u: &Update, object: &ObjectRef) -> (ConditionStatus, String, String) {
    let status = u.translation.status_of(object, None).unwrap();
    let c = status.condition("ResolvedRefs").unwrap();
    (c.status, c.reason.clone(), c.message.clone())
}

/// The CRL sources of the first host's first trust anchor.
fn crl_sources(u: &Update) -> Option<Vec<TrustSource>> {
    let host = &u.translation.config.listeners[0].hosts[0];
    let trust = &host.client_validation.as_ref()?.trust[0];
    trust.crl.as_ref().map(|crl| crl.sources.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_or_invalid_ca_secret_keeps_its_crl_until_a_valid_version_comes_back() {
    let pki = mtls_testkit::Pki::new();
    let api = api().await;
    let crl = mutual_cluster_with_crl(&api, &pki);
    let root = tempfile::tempdir().unwrap();
    let mut updates = follow(&api, root.path());
    let ca = ObjectRef::new("Secret", "web", "web-ca");
    let gateway = ObjectRef::new("Gateway", "web", "web-gateway");
    let crl_ref = vec![TrustSource::Secret(reference("web-ca", Some("ca.crl")))];

    let first = until(&mut updates, "the first update", |_| true).await;
    assert_eq!(crl_sources(&first), Some(crl_ref.clone()));
    assert_eq!(resolved(&first, "web-ca", "ca.crl"), Some(crl.clone()));
    assert!(first.kept.is_empty(), "{:?}", first.kept);

    // Deleted: translated at its last good version, the CRL still referenced and resolved.
    api.delete("v1", "Secret", "web", "web-ca");
    let deleted = until(&mut updates, "the CA kept", |u| !u.kept.is_empty()).await;
    assert_eq!(deleted.translation.config, first.translation.config);
    assert_eq!(crl_sources(&deleted), Some(crl_ref.clone()));
    assert_eq!(resolved(&deleted, "web-ca", "ca.crl"), Some(crl.clone()));
    assert_eq!(
        resolved(&deleted, "web-ca", "ca.crt"),
        Some(pki.root().cert_pem())
    );
    let kept: Vec<_> = deleted
        .kept
        .iter()
        .map(|k| (k.object.clone(), k.reason.as_str(), k.last_good))
        .collect();
    assert_eq!(kept, [(ca.clone(), "deleted", true)]);
    assert_eq!(deleted.kept[0].used_by, std::slice::from_ref(&gateway));
    assert_eq!(
        resolved_refs(&deleted, &ca),
        (
            ConditionStatus::False,
            "KeptLastGood".into(),
            "deleted; the last good version stays in use".into()
        )
    );
    assert_eq!(
        resolved_refs(&deleted, &gateway),
        (
            ConditionStatus::False,
            "KeptLastGood".into(),
            "Secret web/web-ca: deleted; its last good version stays in use".into()
        )
    );

    // Back without a CA: invalid, the last good version stays.
    api.apply(secret("web-ca", &[("other", "x".into())]));
    let invalid = until(&mut updates, "the CA invalid", |u| {
        u.kept.iter().any(|k| k.reason != "deleted")
    })
    .await;
    assert_eq!(invalid.translation.config, first.translation.config);
    assert_eq!(resolved(&invalid, "web-ca", "ca.crl"), Some(crl));
    let kept: Vec<_> = invalid
        .kept
        .iter()
        .map(|k| (k.object.clone(), k.reason.as_str(), k.last_good))
        .collect();
    assert_eq!(kept, [(ca.clone(), NO_LAYOUT, true)]);

    // A valid version without a CRL: used as it is, nothing kept.
    api.apply(secret("web-ca", &[("ca.crt", pki.root().cert_pem())]));
    let valid = until(&mut updates, "the CA valid", |u| u.kept.is_empty()).await;
    assert_eq!(crl_sources(&valid), None);
    assert_eq!(
        resolved(&valid, "web-ca", "ca.crt"),
        Some(pki.root().cert_pem())
    );
    assert_eq!(resolved(&valid, "web-ca", "ca.crl"), None);
    assert_eq!(valid.translation.status_of(&ca, None), None);
    let gateway_refs: Vec<_> = valid
        .translation
        .status
        .iter()
        .filter(|s| s.object == gateway)
        .filter_map(|s| s.condition("ResolvedRefs"))
        .map(|c| c.status)
        .collect();
    assert!(
        gateway_refs.iter().all(|s| *s == ConditionStatus::True),
        "{gateway_refs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_deleted_before_it_was_ever_good_stays_missing() {
    let api = api().await;
    api.apply(secret("web-ca", &[("other", "x".into())]));
    api.apply(istio_gateway(json!({
        "mode": "MUTUAL", "credentialName": "web-cred", "caCertCredentialName": "web-ca"
    })));
    let root = tempfile::tempdir().unwrap();
    let mut updates = follow(&api, root.path());
    let first = until(&mut updates, "the first update", |_| true).await;
    let kept = |u: &Update| -> Vec<(String, String, bool)> {
        u.kept
            .iter()
            .map(|k| (k.object.name.clone(), k.reason.clone(), k.last_good))
            .collect()
    };
    assert_eq!(
        kept(&first),
        [
            ("web-cred".into(), "not found".into(), false),
            ("web-ca".into(), NO_LAYOUT.into(), false),
        ]
    );
    assert!(first.secrets.is_empty(), "{:?}", first.secrets);

    api.delete("v1", "Secret", "web", "web-ca");
    let deleted = until(&mut updates, "the CA gone", |u| {
        u.kept
            .iter()
            .any(|k| k.reason == "not found" && k.object.name == "web-ca")
    })
    .await;
    assert_eq!(
        kept(&deleted),
        [
            ("web-cred".into(), "not found".into(), false),
            ("web-ca".into(), "not found".into(), false),
        ]
    );
    assert!(deleted.secrets.is_empty());
}
