//! `run --kube` against a fake API server on loopback (no cluster can run here), with real TLS
//! handshakes to the gateway's listener; and the deploy manifests, parsed into k8s-openapi
//! types (`deploy.rs`). Every wait is bounded.

mod deploy;
mod ordering;
mod upstream;
mod workload;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use mtls_kube::fake::FakeApiServer;
use mtls_policy::{AdminConfig, CertificateSource, PolicyConfig, SecretRef, TrustSource};
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

/// A TLS handshake to the listener with the default client certificate: the certificate
/// served, or the error.
fn handshake(port: u16, pki: &mtls_testkit::Pki) -> Result<CertificateDer<'static>, String> {
    handshake_as(port, pki, pki.default_client()).map(|(served, _)| served)
}

/// A TLS handshake to the listener with `client`'s certificate and a request: the
/// certificate served and the answer's status code, or the error.
fn handshake_as(
    port: u16,
    pki: &mtls_testkit::Pki,
    client: &mtls_testkit::Leaf,
) -> Result<(CertificateDer<'static>, String), String> {
    let config =
        rustls::ClientConfig::builder_with_provider(mtls_verify::crypto::default_provider())
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
    let status = String::from_utf8_lossy(&head[9..]).into_owned();
    let served = conn.peer_certificates().and_then(|c| c.first().cloned());
    Ok((served.ok_or("no certificate")?, status))
}

/// Plaintext HTTP on the TLS port: the status line, or `None` when the connection is closed
/// without an answer (a TLS-only listener, or STRICT).
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

/// The cluster's objects: a server certificate Secret, a CA Secret, an Istio Gateway on `port`
/// (MUTUAL) and a PERMISSIVE PeerAuthentication.
fn cluster(api: &FakeApiServer, pki: &mtls_testkit::Pki, leaf: &mtls_testkit::Leaf, port: u16) {
    for (v, k, p) in mtls_kube::runtime::WatchedKind::all()
        .iter()
        .map(|k| (k.api_version, k.kind, k.plural))
    {
        api.serve(v, k, p);
    }
    api.apply(credential(leaf));
    api.apply(secret("web-ca", &[("ca.crt", pki.root().cert_pem())]));
    api.apply(istio_gateway(port));
    api.apply(peer_authentication("PERMISSIVE"));
}

fn credential(leaf: &mtls_testkit::Leaf) -> Value {
    secret(
        "web-cred",
        &[("tls.crt", leaf.chain_pem()), ("tls.key", leaf.key_pem())],
    )
}

fn istio_gateway(port: u16) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1", "kind": "Gateway",
        "metadata": { "name": "web-gateway", "namespace": "web" },
        "spec": { "servers": [{
            "port": { "number": port, "name": "https", "protocol": "HTTPS" },
            "hosts": ["web.example.com"],
            "tls": { "mode": "MUTUAL", "credentialName": "web-cred", "caCertCredentialName": "web-ca" }
        }]}
    })
}

fn args(state_dir: Option<PathBuf>, admin: Option<SocketAddr>) -> KubeArgs {
    KubeArgs {
        namespaces: vec!["web".into()],
        state_dir,
        admin,
        bind: IpAddr::from([127, 0, 0, 1]),
        workload: WorkloadArgs {
            namespace: Some("web".into()),
            labels: vec![("app".into(), "mtls-gateway".into())],
            ..Default::default()
        },
        debounce: Duration::from_millis(50),
    }
}

/// A running `follow`: stop it with `stop`, hear each update applied on `applied`.
struct Following {
    stop: tokio::sync::oneshot::Sender<()>,
    applied: tokio::sync::watch::Receiver<Option<Update>>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

fn start_following(api: &FakeApiServer, args: KubeArgs) -> Following {
    let client = ::kube::Client::try_from(::kube::Config::new(api.url().parse().unwrap())).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (tx, applied) = tokio::sync::watch::channel(None);
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        follow(client, &args, shutdown, Some(tx)).await
    });
    Following {
        stop,
        applied,
        task,
    }
}

impl Following {
    /// The last update applied.
    fn last(&self) -> Update {
        self.applied
            .borrow()
            .clone()
            .expect("an update was applied")
    }

    /// Waits for an update applied after `generation`.
    async fn next_after(&mut self, generation: u64) -> Update {
        let newer = |u: &Option<Update>| u.as_ref().is_some_and(|u| u.generation > generation);
        tokio::time::timeout(WAIT, self.applied.wait_for(newer))
            .await
            .expect("an update applied")
            .unwrap();
        self.last()
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(40), self.task)
            .await
            .expect("stops")
            .unwrap()
            .unwrap();
    }
}

fn reference(name: &str, key: Option<&str>) -> SecretRef {
    SecretRef::new(name, Some("web".into()), key.map(Into::into))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_cluster_from_memory_rotates_keeps_a_deleted_ca_revokes_and_restarts() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    install_crypto_provider();
    let pki = Arc::new(mtls_testkit::Pki::new());
    let (one, two) = (
        pki.server_for(&["web.example.com"]).issue(),
        pki.server_for(&["web.example.com"]).issue(),
    );
    let port = free_port();
    let api = FakeApiServer::start().await.unwrap();
    cluster(&api, &pki, &one, port);
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut following = start_following(&api, args(None, Some(admin)));

    // Served from the cluster: the first certificate, client certificates verified against
    // the CA Secret. The PERMISSIVE PeerAuthentication does not open the Gateway's MUTUAL
    // port: plaintext is closed unanswered.
    let p = Arc::clone(&pki);
    let served = eventually("a handshake", move || handshake(port, &p).ok()).await;
    assert_eq!(&served, one.cert_der());
    let refused = tokio::task::spawn_blocking(move || plaintext(port))
        .await
        .unwrap();
    assert_eq!(refused, None);
    let health = eventually("the admin endpoint", move || get(admin.port(), "/healthz")).await;
    assert_eq!(health, "HTTP/1.1 200 OK");

    // What was served: Secrets by reference, read from memory; no file named, none written.
    let update = following.next_after(0).await;
    let config = &update.translation.config;
    assert_eq!(config.admin, Some(AdminConfig::new(admin)));
    let listener = &config.listeners[0];
    assert_eq!(
        (listener.address, listener.peer_mode),
        (Some(SocketAddr::from(([127, 0, 0, 1], port))), None)
    );
    let warnings: Vec<_> = update
        .translation
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect();
    let unrouted = "Gateway web/web-gateway: spec.servers: no VirtualService of the input binds to this Gateway (spec.gateways): its hosts have no routes, every request answers 404";
    let unchanged = format!(
        "PeerAuthentication web/gateway: spec.mtls.mode: PERMISSIVE does not change listener istio-{port} (port {port}): it is a Gateway server (or Ingress) port, which its own TLS settings govern, not PeerAuthentication (the workload's mesh traffic); it serves TLS only, with the client certificate its hosts require"
    );
    assert_eq!(warnings, [unrouted.to_string(), unchanged]);
    let host = &listener.hosts[0];
    assert_eq!(
        host.certificate,
        Some(CertificateSource::Secret(reference("web-cred", None)))
    );
    let trust = &host.client_validation.as_ref().unwrap().trust[0];
    assert_eq!(
        trust.ca,
        [TrustSource::Secret(reference("web-ca", Some("ca.crt")))]
    );
    let files = config.files();
    assert!(files.files.is_empty() && files.dirs.is_empty(), "{files:?}");
    assert!(update.written.is_empty());

    // The Secret is renewed: new handshakes get the new certificate, without a restart.
    api.apply(credential(&two));
    let rotated = following.next_after(update.generation).await;
    let (p, want) = (Arc::clone(&pki), two.cert_der().clone());
    eventually("the rotated certificate", move || {
        handshake(port, &p).ok().filter(|c| *c == want)
    })
    .await;

    // The CA Secret is deleted: its last good keys stay in memory, clients still verify.
    let generation = rotated.generation;
    assert!(api.delete("v1", "Secret", "web", "web-ca"));
    let kept = following.next_after(generation).await;
    assert!(
        kept.kept
            .iter()
            .any(|k| k.object.name == "web-ca" && k.last_good)
    );
    let p = Arc::clone(&pki);
    let still = tokio::task::spawn_blocking(move || handshake(port, &p))
        .await
        .unwrap();
    assert_eq!(still.as_ref(), Ok(two.cert_der()));

    // Restored with a CRL: its revoked client is denied (answered 400, as the translation
    // asks), the others verify (no route: 404).
    let revoked = Arc::new(pki.client().issue());
    let crl = pki.crls().revoke(&revoked).build();
    let as_revoked = {
        let revoked = Arc::clone(&revoked);
        move |pki: &mtls_testkit::Pki| handshake_as(port, pki, &revoked)
    };
    let before = as_revoked(&pki).unwrap();
    assert_eq!((&before.0, before.1.as_str()), (two.cert_der(), "404"));
    api.apply(secret(
        "web-ca",
        &[("ca.crt", pki.root().cert_pem()), ("ca.crl", crl.pem())],
    ));
    let restored = following.next_after(kept.generation).await;
    let p = Arc::clone(&pki);
    eventually("the revoked client denied", move || {
        as_revoked(&p).ok().filter(|(_, status)| status == "400")
    })
    .await;
    let other = handshake_as(port, &pki, pki.default_client()).unwrap();
    assert_eq!(other.1, "404");

    // Deleted again: the last good version, CRL included, stays in use; the revoked client
    // is still denied, the others still verify.
    assert!(api.delete("v1", "Secret", "web", "web-ca"));
    let kept = following.next_after(restored.generation).await;
    let p = Arc::clone(&pki);
    let (after, other) = tokio::task::spawn_blocking(move || {
        let after = handshake_as(port, &p, &revoked).map(|(_, status)| status);
        let other = handshake_as(port, &p, p.default_client()).map(|(_, status)| status);
        (after, other)
    })
    .await
    .unwrap();
    assert_eq!((after, other), (Ok("400".into()), Ok("404".into())));
    let web_ca: Vec<_> = kept
        .kept
        .iter()
        .filter(|k| k.object.name == "web-ca")
        .map(|k| (k.reason.as_str(), k.last_good))
        .collect();
    assert_eq!(web_ca, [("deleted", true)]);

    // The port changes: a swap cannot move a listener, the listeners restart on the new one.
    let moved = free_port();
    api.apply(istio_gateway(moved));
    let p = Arc::clone(&pki);
    let served = eventually("a handshake on the new port", move || {
        handshake(moved, &p).ok()
    })
    .await;
    assert_eq!(&served, two.cert_der());
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the old port is closed"
    );

    following.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_state_dir_the_secrets_and_the_configuration_are_files() {
    install_crypto_provider();
    let pki = Arc::new(mtls_testkit::Pki::new());
    let (one, two) = (
        pki.server_for(&["web.example.com"]).issue(),
        pki.server_for(&["web.example.com"]).issue(),
    );
    let port = free_port();
    let api = FakeApiServer::start().await.unwrap();
    cluster(&api, &pki, &one, port);
    let dir = tempfile::tempdir().unwrap();
    let mut following = start_following(&api, args(Some(dir.path().to_path_buf()), None));

    let p = Arc::clone(&pki);
    let served = eventually("a handshake", move || handshake(port, &p).ok()).await;
    assert_eq!(&served, one.cert_der());
    let written = std::fs::read_to_string(dir.path().join("gateway.yaml")).unwrap();
    let written = PolicyConfig::from_yaml(&written).unwrap();
    assert_eq!(written, following.next_after(0).await.translation.config);
    let host = &written.listeners[0].hosts[0];
    let mount = dir.path().join("secrets/web/web-cred");
    assert_eq!(
        host.certificate,
        Some(CertificateSource::SecretDir(mount.clone()))
    );
    let trust = &host.client_validation.as_ref().unwrap().trust[0];
    assert_eq!(
        trust.ca,
        [TrustSource::File(
            dir.path().join("secrets/web/web-ca/ca.crt")
        )]
    );
    let chain = std::fs::read_to_string(mount.join("tls.crt")).unwrap();
    assert_eq!(chain, one.chain_pem());

    // Renewed: the file is rewritten and new handshakes get the new certificate.
    api.apply(credential(&two));
    let (p, want) = (Arc::clone(&pki), two.cert_der().clone());
    eventually("the rotated certificate", move || {
        handshake(port, &p).ok().filter(|c| *c == want)
    })
    .await;
    let chain = std::fs::read_to_string(mount.join("tls.crt")).unwrap();
    assert_eq!(chain, two.chain_pem());

    following.stop().await;
}
