//! `run --kube` against a fake API server on loopback (no cluster can run here), with real TLS
//! handshakes to the gateway's listener; and the deploy manifests, parsed into k8s-openapi
//! types. Every wait is bounded.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use mtls_kube::fake::FakeApiServer;
use mtls_policy::{AdminConfig, CertificateSource, PeerMode, PolicyConfig, TrustSource};
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};

use super::*;

const WAIT: Duration = Duration::from_secs(20);

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn secret(name: &str, data: &[(&str, String)]) -> Value {
    let data: BTreeMap<&str, String> = data.iter().map(|(k, v)| (*k, b64(v))).collect();
    json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": { "name": name, "namespace": "web" }, "data": data,
    })
}

fn peer_authentication(mode: &str) -> Value {
    json!({
        "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
        "metadata": { "name": "gateway", "namespace": "web" },
        "spec": { "selector": { "matchLabels": { "app": "mtls-gateway" } }, "mtls": { "mode": mode } }
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// A TLS handshake to the listener with a client certificate: the certificate served, or
/// the error.
fn handshake(port: u16, pki: &mtls_testkit::Pki) -> Result<CertificateDer<'static>, String> {
    let client = pki.default_client();
    let config = rustls::ClientConfig::builder_with_provider(mtls_core::crypto::default_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(pki.root_store())
        .with_client_auth_cert(client.chain_der(), client.key_der())
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("web.example.com").map_err(|e| e.to_string())?;
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| e.to_string())?;
    }
    // TLS 1.3: a refused client certificate shows on the first read.
    let mut stream = rustls::Stream::new(&mut conn, &mut tcp);
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: web.example.com\r\nconnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|e| e.to_string())?;
    conn.peer_certificates()
        .and_then(|c| c.first().cloned())
        .ok_or_else(|| "no certificate".to_string())
}

/// Plaintext HTTP on the TLS port: the status line, or `None` when the connection is closed
/// without an answer (STRICT).
fn plaintext(port: u16) -> Option<String> {
    get(port, "/")
}

/// `GET path` in plaintext HTTP/1.1 on `port`: the status line, or `None` when the connection
/// is closed without an answer.
fn get(port: u16, path: &str) -> Option<String> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request =
        format!("GET {path} HTTP/1.1\r\nhost: web.example.com\r\nconnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.lines()
        .next()
        .filter(|l| l.starts_with("HTTP/"))
        .map(str::to_string)
}

/// Polls `probe` (blocking I/O, off the runtime) until it returns `Some`.
async fn eventually<T: Send + 'static>(
    what: &str,
    probe: impl Fn() -> Option<T> + Send + Sync + 'static,
) -> T {
    let probe = Arc::new(probe);
    let deadline = Instant::now() + WAIT;
    loop {
        let p = Arc::clone(&probe);
        if let Some(v) = tokio::task::spawn_blocking(move || p()).await.unwrap() {
            return v;
        }
        assert!(Instant::now() < deadline, "not within {WAIT:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_the_cluster_rotates_certificates_switches_peer_modes_and_keeps_a_deleted_ca() {
    install_crypto_provider();
    let pki = Arc::new(mtls_testkit::Pki::new());
    let (one, two) = (
        pki.server_for(&["web.example.com"]).issue(),
        pki.server_for(&["web.example.com"]).issue(),
    );
    let port = free_port();
    let api = FakeApiServer::start().await.unwrap();
    for (v, k, p) in mtls_kube::runtime::WatchedKind::all()
        .iter()
        .map(|k| (k.api_version, k.kind, k.plural))
    {
        api.serve(v, k, p);
    }
    let credential = |leaf: &mtls_testkit::Leaf| {
        secret(
            "web-cred",
            &[("tls.crt", leaf.chain_pem()), ("tls.key", leaf.key_pem())],
        )
    };
    api.apply(credential(&one));
    api.apply(secret("web-ca", &[("ca.crt", pki.root().cert_pem())]));
    api.apply(json!({
        "apiVersion": "networking.istio.io/v1", "kind": "Gateway",
        "metadata": { "name": "web-gateway", "namespace": "web" },
        "spec": { "servers": [{
            "port": { "number": port, "name": "https", "protocol": "HTTPS" },
            "hosts": ["web.example.com"],
            "tls": { "mode": "MUTUAL", "credentialName": "web-cred", "caCertCredentialName": "web-ca" }
        }]}
    }));
    api.apply(peer_authentication("PERMISSIVE"));

    let dir = tempfile::tempdir().unwrap();
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let args = KubeArgs {
        namespaces: vec!["web".into()],
        state_dir: None,
        admin: Some(admin),
        bind: IpAddr::from([127, 0, 0, 1]),
        workload_namespace: Some("web".into()),
        workload_labels: vec!["app=mtls-gateway".into()],
        debounce: Duration::from_millis(50),
    };
    let client = ::kube::Client::try_from(::kube::Config::new(api.url().parse().unwrap())).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (applied, mut generation) = tokio::sync::watch::channel(0u64);
    let state = dir.path().to_path_buf();
    let follower = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        follow(client, &args, &state, shutdown, Some(applied)).await
    });

    // Served from the cluster: the first certificate, client certificates verified against
    // the CA Secret, plaintext admitted (PERMISSIVE).
    let p = Arc::clone(&pki);
    let served = eventually("a handshake", move || handshake(port, &p).ok()).await;
    assert_eq!(&served, one.cert_der());
    let status = eventually("a plaintext answer", move || plaintext(port)).await;
    assert!(status.starts_with("HTTP/1.1 "), "{status}");

    // What was served: the configuration written next to the Secrets, with the admin endpoint.
    let written = std::fs::read_to_string(dir.path().join("gateway.yaml")).unwrap();
    let written = PolicyConfig::from_yaml(&written).unwrap();
    assert_eq!(written.admin, Some(AdminConfig::new(admin)));
    let listener = &written.listeners[0];
    assert_eq!(
        (listener.address, listener.peer_mode),
        (
            Some(SocketAddr::from(([127, 0, 0, 1], port))),
            Some(PeerMode::Permissive)
        )
    );
    let host = &listener.hosts[0];
    assert_eq!(host.hostnames, ["web.example.com"]);
    assert_eq!(
        host.certificate,
        Some(CertificateSource::SecretDir(
            dir.path().join("secrets/web/web-cred")
        ))
    );
    let trust = &host.client_validation.as_ref().unwrap().trust[0];
    assert_eq!(
        trust.ca,
        [TrustSource::File(
            dir.path().join("secrets/web/web-ca/ca.crt")
        )]
    );
    let health = eventually("the admin endpoint", move || get(admin.port(), "/healthz")).await;
    assert_eq!(health, "HTTP/1.1 200 OK");

    // The Secret is renewed: new handshakes get the new certificate, without a restart.
    api.apply(credential(&two));
    let (p, want) = (Arc::clone(&pki), two.cert_der().clone());
    eventually("the rotated certificate", move || {
        handshake(port, &p).ok().filter(|c| *c == want)
    })
    .await;

    // PERMISSIVE → STRICT: new plaintext connections are closed unanswered; mTLS is served.
    api.apply(peer_authentication("STRICT"));
    eventually("plaintext refused", move || {
        plaintext(port).is_none().then_some(())
    })
    .await;
    assert_eq!(&handshake(port, &pki).unwrap(), two.cert_der());

    // The CA Secret is deleted: the last good bundle stays, clients still verify.
    let before = *generation.borrow_and_update();
    assert!(api.delete("v1", "Secret", "web", "web-ca"));
    tokio::time::timeout(WAIT, generation.wait_for(|g| *g > before))
        .await
        .expect("an update after the deletion")
        .unwrap();
    let ca = dir.path().join("secrets/web/web-ca/ca.crt");
    assert_eq!(std::fs::read_to_string(ca).unwrap(), pki.root().cert_pem());
    let p = Arc::clone(&pki);
    let still = tokio::task::spawn_blocking(move || handshake(port, &p))
        .await
        .unwrap();
    assert_eq!(still.as_ref(), Ok(two.cert_der()));

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(40), follower)
        .await
        .expect("stops")
        .unwrap()
        .unwrap();
}

/// Every document of `deploy/`, parsed into its k8s-openapi type; re-serialized, it must be
/// the document again (a misspelt or misplaced field would be dropped and show here).
#[test]
fn deploy_manifests_are_valid_kubernetes_objects() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Namespace, Service, ServiceAccount};
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    use serde::Deserialize as _;

    fn check<T: serde::de::DeserializeOwned + serde::Serialize>(doc: &Value, file: &str) {
        let typed: T =
            serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            &serde_json::to_value(&typed).unwrap(),
            doc,
            "{file}: fields lost"
        );
    }

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let mut kinds = Vec::new();
    let mut rules = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        for doc in serde_norway::Deserializer::from_str(&text) {
            let doc: Value =
                serde_json::to_value(serde_norway::Value::deserialize(doc).unwrap()).unwrap();
            let kind = doc["kind"].as_str().unwrap().to_string();
            match kind.as_str() {
                "Deployment" => check::<Deployment>(&doc, &file),
                "Service" => check::<Service>(&doc, &file),
                "ServiceAccount" => check::<ServiceAccount>(&doc, &file),
                "Namespace" => check::<Namespace>(&doc, &file),
                "PodDisruptionBudget" => check::<PodDisruptionBudget>(&doc, &file),
                "Role" => check::<Role>(&doc, &file),
                "RoleBinding" => check::<RoleBinding>(&doc, &file),
                "ClusterRole" => check::<ClusterRole>(&doc, &file),
                "ClusterRoleBinding" => check::<ClusterRoleBinding>(&doc, &file),
                other => panic!("{file}: unexpected kind {other}"),
            }
            if kind == "Role" || kind == "ClusterRole" {
                rules.push((kind.clone(), doc["rules"].clone()));
            }
            kinds.push(kind);
        }
    }
    for k in [
        "Deployment",
        "Service",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
    ] {
        assert!(kinds.iter().any(|have| have == k), "no {k} in deploy/");
    }
    // Least privilege: get, list and watch on exactly the kinds the follower watches.
    let mut want: Vec<(String, String)> = mtls_kube::runtime::WatchedKind::all()
        .iter()
        .map(|k| (k.group().to_string(), k.plural.to_string()))
        .collect();
    want.sort();
    for (kind, rules) in rules {
        let mut granted = Vec::new();
        for rule in rules.as_array().unwrap() {
            assert_eq!(
                rule["verbs"],
                json!(["get", "list", "watch"]),
                "{kind}: {rule}"
            );
            for group in rule["apiGroups"].as_array().unwrap() {
                for resource in rule["resources"].as_array().unwrap() {
                    granted.push((
                        group.as_str().unwrap().to_string(),
                        resource.as_str().unwrap().to_string(),
                    ));
                }
            }
        }
        granted.sort();
        assert_eq!(granted, want, "{kind}");
    }
}
