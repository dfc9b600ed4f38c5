//! The gateway's own ports under `PeerAuthentication`, served from the cluster: with
//! `--workload-credential` each `--workload-port` gets a listener serving the Secret's
//! certificate and verifying peers against its CA, forwarding to `--workload-backend`. The
//! port the policy makes STRICT closes plaintext and serves mTLS; the PERMISSIVE one serves
//! both.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;

/// A plaintext HTTP application on loopback answering every request `200 app`.
async fn application() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        // Bounded: the test makes a handful of requests.
        for _ in 0..64 {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut head = vec![0u8; 4096];
                let _ = tcp.read(&mut head).await;
                let answer = "HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\napp";
                let _ = tcp.write_all(answer.as_bytes()).await;
                let _ = tcp.shutdown().await;
            });
        }
    });
    port
}

/// PERMISSIVE for the gateway's pods, STRICT on `strict`.
fn policy(strict: u16) -> Value {
    json!({
        "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
        "metadata": { "name": "gateway", "namespace": "web" },
        "spec": {
            "selector": { "matchLabels": { "app": "mtls-gateway" } },
            "mtls": { "mode": "PERMISSIVE" },
            "portLevelMtls": { strict.to_string(): { "mode": "STRICT" } }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_ports_serve_the_peer_mode_the_policy_gives_them() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let pki = mtls_testkit::Pki::shared();
    let app = application().await;
    let api = FakeApiServer::start().await.unwrap();
    for k in mtls_kube::runtime::WatchedKind::all() {
        api.serve(k.api_version, k.kind, k.plural);
    }
    let own = pki.server_for(&["web.example.com"]).issue();
    api.apply(secret(
        "workload-cred",
        &[
            ("tls.crt", own.chain_pem()),
            ("tls.key", own.key_pem()),
            ("ca.crt", pki.root().cert_pem()),
        ],
    ));
    let (strict, permissive) = (free_port(), free_port());
    api.apply(policy(strict));
    let mut args = args(None, None);
    args.workload.ports = vec![strict, permissive];
    args.workload.credential = Some("workload-cred".into());
    args.workload.backend = Some(format!("http://127.0.0.1:{app}"));
    let following = start_following(&api, args);

    // Both ports serve mTLS, forwarding to the application.
    for port in [strict, permissive] {
        let status = eventually("mTLS through the workload listener", move || {
            let (_, status) = handshake_as(port, pki, pki.default_client()).ok()?;
            status.starts_with("200").then_some(status)
        })
        .await;
        assert!(status.starts_with("200"), "port {port}: {status}");
    }
    // PERMISSIVE admits plaintext; STRICT closes it unanswered.
    let line = eventually("plaintext on the PERMISSIVE port", move || {
        get(permissive, "/")
    })
    .await;
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    assert_eq!(plaintext(strict), None);

    let update = following.last();
    let names: Vec<&str> = update
        .translation
        .config
        .listeners
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    let want = [
        format!("workload-{strict}"),
        format!("workload-{permissive}"),
    ];
    assert_eq!(names, want.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(update.written.is_empty(), "{:?}", update.written);
    following.stop().await;
}
