//! The follower against a fake API server on loopback (no cluster can run here): list and
//! watch, resourceVersion, bookmarks, 410 Gone → relist, CRDs not installed; and what each
//! change does to the translation and the credentials it writes under the mount root
//! (`SecretPaths::Files`; in memory: `follow_in_memory.rs`). Every wait is bounded.
#![cfg(all(feature = "runtime", feature = "fake-api"))]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mtls_kube::fake::FakeApiServer;
use mtls_kube::runtime::{Follower, Update, Updates};
use mtls_kube::{ConditionStatus, ObjectRef, Options, Workload};
use mtls_policy::{CertificateSource, PeerMode, TrustSource};
use serde_json::json;
use support::{
    WAIT, api, istio_gateway, mutual_cluster_with_crl, peer_authentication, secret, until,
};

fn follow(api: &FakeApiServer, root: &Path, namespaces: &[&str]) -> Updates {
    let config = kube::Config::new(api.url().parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let mut options = Options::default();
    options.mount_root = root.to_path_buf();
    let labels = BTreeMap::from([("app".to_string(), "mtls-gateway".to_string())]);
    options.workload = Some(Workload::new("web", labels).with_ports([15021]));
    Follower::new(client, options)
        .namespaces(namespaces.iter().copied())
        .debounce(Duration::from_millis(50))
        .start()
}

fn mount(root: &Path, name: &str) -> PathBuf {
    root.join("secrets/web").join(name)
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The peer mode of the workload's own port (PeerAuthentication leaves the Gateway's
/// listeners their TLS settings).
fn peer_mode(u: &Update) -> Option<PeerMode> {
    let listeners = &u.translation.config.listeners;
    listeners
        .iter()
        .find(|l| l.name == "workload-15021")?
        .peer_mode
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_update_rotates_the_certificate_on_disk() {
    let pki = mtls_testkit::Pki::new();
    let (one, two) = (
        pki.server_for(&["web.example.com"]).issue(),
        pki.server_for(&["web.example.com"]).issue(),
    );
    let api = api().await;
    let credential = |leaf: &mtls_testkit::Leaf| {
        secret(
            "web-cred",
            &[
                ("tls.crt", leaf.chain_pem()),
                ("tls.key", leaf.key_pem()),
                ("ca.crt", pki.root().cert_pem()),
            ],
        )
    };
    api.apply(credential(&one));
    api.apply(istio_gateway(
        json!({"mode": "MUTUAL", "credentialName": "web-cred"}),
    ));
    let root = tempfile::tempdir().unwrap();
    let mut updates = follow(&api, root.path(), &[]);

    let first = until(&mut updates, "the credential written", |u| {
        !u.written.is_empty()
    })
    .await;
    assert!(
        first.kept.is_empty() && first.broken.is_empty(),
        "{first:?}"
    );
    assert_eq!(
        read(mount(root.path(), "web-cred").join("tls.crt")),
        one.chain_pem()
    );
    let cert = &first.translation.config.listeners[0].hosts[0].certificate;
    assert_eq!(
        cert,
        &Some(CertificateSource::SecretDir(mount(root.path(), "web-cred")))
    );

    // cert-manager renews: the Secret is replaced in place.
    api.apply(credential(&two));
    let rotated = until(&mut updates, "the new certificate", |u| {
        u.written.iter().any(|p| p.ends_with("web-cred/tls.crt"))
    })
    .await;
    assert_eq!(
        read(mount(root.path(), "web-cred").join("tls.crt")),
        two.chain_pem()
    );
    assert_eq!(
        read(mount(root.path(), "web-cred").join("tls.key")),
        two.key_pem()
    );
    // The CA did not change: not rewritten.
    assert!(!rotated.written.iter().any(|p| p.ends_with("ca.crt")));
    // The same configuration: the gateway reloads the files it names.
    assert_eq!(rotated.translation.config, first.translation.config);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_authentication_change_from_permissive_to_strict() {
    let pki = mtls_testkit::Pki::new();
    let leaf = pki.server_for(&["web.example.com"]).issue();
    let api = api().await;
    api.apply(secret(
        "web-cred",
        &[("tls.crt", leaf.chain_pem()), ("tls.key", leaf.key_pem())],
    ));
    api.apply(istio_gateway(
        json!({"mode": "SIMPLE", "credentialName": "web-cred"}),
    ));
    api.apply(peer_authentication(json!("PERMISSIVE")));
    let root = tempfile::tempdir().unwrap();
    let mut updates = follow(&api, root.path(), &["web"]);

    let permissive = until(&mut updates, "PERMISSIVE", |u| {
        peer_mode(u) == Some(PeerMode::Permissive)
    })
    .await;
    mtls_policy::Policy::new(permissive.translation.config.clone()).unwrap();

    api.apply(peer_authentication(json!("STRICT")));
    let strict = until(&mut updates, "STRICT", |u| {
        peer_mode(u) == Some(PeerMode::Strict)
    })
    .await;
    mtls_policy::Policy::new(strict.translation.config.clone()).unwrap();

    // A broken version keeps the last good one, and says so.
    api.apply(peer_authentication(json!(["DISABLE"])));
    let broken = until(&mut updates, "the broken object", |u| !u.broken.is_empty()).await;
    assert_eq!(peer_mode(&broken), Some(PeerMode::Strict));
    let b = &broken.broken[0];
    assert_eq!(
        b.object,
        ObjectRef::new("PeerAuthentication", "web", "default")
    );
    assert_eq!(b.error.field(), "spec.mtls.mode");
    assert!(b.kept_last_good);
    let status = broken.translation.status_of(&b.object, None).unwrap();
    let accepted = status.condition("Accepted").unwrap();
    assert_eq!(accepted.status, ConditionStatus::False);
    assert_eq!(accepted.reason, "Invalid");
    assert!(
        accepted
            .message
            .contains("last readable version stays in use"),
        "{}",
        accepted.message
    );

    // Deleted: the default (the listener's own mode, TLS only) again.
    api.delete(
        "security.istio.io/v1",
        "PeerAuthentication",
        "web",
        "default",
    );
    let deleted = until(&mut updates, "no peer mode", |u| u.broken.is_empty()).await;
    assert_eq!(peer_mode(&deleted), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_ca_secret_keeps_the_last_good_bundle_and_crl_and_reports_it() {
    let pki = mtls_testkit::Pki::new();
    let api = api().await;
    let crl = mutual_cluster_with_crl(&api, &pki);
    let root = tempfile::tempdir().unwrap();
    let mut updates = follow(&api, root.path(), &["web"]);
    let ca_file = mount(root.path(), "web-ca").join("ca.crt");
    let crl_file = mount(root.path(), "web-ca").join("ca.crl");
    let crl_sources = |u: &Update| {
        let host = &u.translation.config.listeners[0].hosts[0];
        let trust = &host.client_validation.as_ref().unwrap().trust[0];
        trust.crl.as_ref().map(|c| c.sources.clone())
    };

    let first = until(&mut updates, "the CA written", |u| {
        u.written.iter().any(|p| p.ends_with("web-ca/ca.crt"))
    })
    .await;
    assert_eq!(read(ca_file.clone()), pki.root().cert_pem());
    assert_eq!(read(crl_file.clone()), crl);
    assert_eq!(
        crl_sources(&first),
        Some(vec![TrustSource::File(crl_file.clone())])
    );

    api.delete("v1", "Secret", "web", "web-ca");
    let kept = until(&mut updates, "the CA kept", |u| !u.kept.is_empty()).await;
    assert_eq!(kept.kept.len(), 1, "{:?}", kept.kept);
    let k = &kept.kept[0];
    assert_eq!(k.object, ObjectRef::new("Secret", "web", "web-ca"));
    assert_eq!(k.reason, "deleted");
    assert!(k.last_good);
    assert_eq!(k.used_by, [ObjectRef::new("Gateway", "web", "web-gateway")]);
    // The bundle and the CRL on disk are the last good ones, and the configuration still names
    // both.
    assert_eq!(read(ca_file.clone()), pki.root().cert_pem());
    assert_eq!(read(crl_file.clone()), crl);
    assert_eq!(kept.translation.config, first.translation.config);
    assert_eq!(crl_sources(&kept), Some(vec![TrustSource::File(crl_file)]));
    // Reported: on the Secret and on the Gateway that uses it.
    let on_secret = kept.translation.status_of(&k.object, None).unwrap();
    let c = on_secret.condition("ResolvedRefs").unwrap();
    assert_eq!(
        (c.status, c.reason.as_str()),
        (ConditionStatus::False, "KeptLastGood")
    );
    assert_eq!(c.message, "deleted; the last good version stays in use");
    let gateway = ObjectRef::new("Gateway", "web", "web-gateway");
    let on_gateway = kept.translation.status_of(&gateway, None).unwrap();
    let c = on_gateway.condition("ResolvedRefs").unwrap();
    assert_eq!(
        (c.status, c.reason.as_str(), c.message.as_str()),
        (
            ConditionStatus::False,
            "KeptLastGood",
            "Secret web/web-ca: deleted; its last good version stays in use"
        )
    );

    // Restored with another CA: written, no longer kept.
    let other = mtls_testkit::Pki::new();
    api.apply(secret("web-ca", &[("ca.crt", other.root().cert_pem())]));
    let restored = until(&mut updates, "the CA restored", |u| u.kept.is_empty()).await;
    assert!(
        restored
            .written
            .iter()
            .any(|p| p.ends_with("web-ca/ca.crt"))
    );
    assert_eq!(read(ca_file), other.root().cert_pem());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_watches_relist_and_missing_crds_count_as_empty() {
    let api = api().await;
    let pki = mtls_testkit::Pki::new();
    let leaf = pki.server_for(&["web.example.com"]).issue();
    api.apply(secret(
        "web-cred",
        &[("tls.crt", leaf.chain_pem()), ("tls.key", leaf.key_pem())],
    ));
    api.apply(istio_gateway(
        json!({"mode": "SIMPLE", "credentialName": "web-cred"}),
    ));
    let root = tempfile::tempdir().unwrap();
    let mut updates = follow(&api, root.path(), &[]);
    // Gateway API, AGC, osm-edge and Ingress are not served (404): the first update comes.
    let first = until(&mut updates, "the first update", |_| true).await;
    assert_eq!(first.translation.config.listeners.len(), 1);
    let lists = |api: &FakeApiServer| {
        api.requests()
            .iter()
            .filter(|r| r.starts_with("GET /api/v1/secrets?") && !r.contains("watch=true"))
            .count()
    };
    assert_eq!(lists(&api), 1);
    let requests = api.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.contains("watch=true") && r.contains("allowWatchBookmarks=true")),
        "{requests:#?}"
    );
    // Bookmarks come every 300 ms: let a few arrive, then check nothing was rebuilt for them.
    tokio::time::sleep(Duration::from_millis(800)).await;

    // History compacted: the next watch gets 410 Gone, and the watcher lists again; a change
    // made meanwhile is seen.
    api.expire();
    api.apply(peer_authentication(json!("STRICT")));
    let after = until(&mut updates, "the change after the relist", |u| {
        peer_mode(u) == Some(PeerMode::Strict)
    })
    .await;
    assert!(after.generation > first.generation);
    let deadline = tokio::time::Instant::now() + WAIT;
    while lists(&api) < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no relist after 410: {:#?}",
            api.requests()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The Gateway API CRD is installed later: watched once served.
    api.serve("gateway.networking.k8s.io/v1", "Gateway", "gateways");
    api.apply(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": { "name": "gw", "namespace": "web" },
        "spec": { "gatewayClassName": "mtls", "listeners": [{
            "name": "https", "port": 9443, "protocol": "HTTPS", "hostname": "api.example.com",
            "tls": { "mode": "Terminate", "certificateRefs": [{ "name": "web-cred" }] }
        }]}
    }));
    let both = until(&mut updates, "the Gateway API listener", |u| {
        u.translation
            .config
            .listeners
            .iter()
            .any(|l| l.port() == 9443)
    })
    .await;
    // The Istio Gateway's, the Gateway API's and the workload port's.
    assert_eq!(both.translation.config.listeners.len(), 3);
}
