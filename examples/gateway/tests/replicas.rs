//! Replicas behind an L4 balancer: three `mtls-gateway` processes (the real binary, same trust
//! material and session-ticket key file, different ports) behind a real HAProxy in TCP mode,
//! round-robin, and a rustls client with a client certificate and its own session store.
//!
//! A session established on one replica resumes on another; once a CRL update revoking the
//! client has reached every replica, no replica lets the client resume with a ticket from
//! before, and every replica refuses it.
//!
//! Needs `haproxy` (`apt-get install -y haproxy`; `.ci/run` installs it). Without it the test
//! says so and passes, unless `CI=true`, where it fails. Loopback only; every wait is bounded;
//! every process it starts is stopped on exit.

mod support;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mtls_testkit::Pki;
use rustls::client::Tls13ClientSessionValue;
use rustls::client::{ClientSessionMemoryCache, ClientSessionStore, Tls12ClientSessionValue};
use rustls::{HandshakeKind, NamedGroup};
use rustls_pki_types::ServerName;
use support::{CLIENT_TIMEOUT, Gateway, Workdir, free_port, write_atomic};

const REPLICAS: usize = 3;
/// Two keys, newest first: replicas decrypt tickets of either.
const KEYS: &str = "cWYEoxb96BtCjmSsRFmoBkUibz/58eUILsZeHBDsvcc=\n\
                    Tx5VPM9OvsoEjuCL8M8THUzx6ibrw7um3qvVAW5VAwU=\n";

/// Replica `n`'s configuration: the same host, trust material and key file as the others;
/// only the ports and the body of its fixed answer (its name) differ. A revoked client is
/// refused during the handshake, so no ticket is ever issued to it.
fn config(n: usize, https: u16, admin: u16) -> String {
    format!(
        r#"
admin:
  address: 127.0.0.1:{admin}
listeners:
  - name: edge
    address: 127.0.0.1:{https}
    min_tls_version: tls13
    session_tickets: {{ key_file: tickets.key, lifetime: 1h }}
    answers:
      revoked: {{ tls_alert: certificate_revoked }}
    hosts:
      - certificate: {{ chain: server.pem, key: server.key }}
        client_validation:
          mode: required
          trust:
            - name: clients
              ca: [{{ file: ca.pem }}]
              crl: {{ sources: [{{ file: crl.pem }}] }}
        routes:
          - path_prefix: /
            respond: {{ status: 200, body: "replica-{n}", content_type: text/plain }}
"#
    )
}

/// A client session store that counts the TLS 1.3 tickets it hands out: proof that a
/// connection offered a ticket to resume.
#[derive(Debug)]
struct CountingStore {
    inner: ClientSessionMemoryCache,
    offered: AtomicUsize,
}

impl ClientSessionStore for CountingStore {
    fn set_kx_hint(&self, name: ServerName<'static>, group: NamedGroup) {
        self.inner.set_kx_hint(name, group);
    }
    fn kx_hint(&self, name: &ServerName<'_>) -> Option<NamedGroup> {
        self.inner.kx_hint(name)
    }
    fn set_tls12_session(&self, name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.inner.set_tls12_session(name, value);
    }
    fn tls12_session(&self, name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.inner.tls12_session(name)
    }
    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.inner.remove_tls12_session(name);
    }
    fn insert_tls13_ticket(&self, name: ServerName<'static>, value: Tls13ClientSessionValue) {
        self.inner.insert_tls13_ticket(name, value);
    }
    fn take_tls13_ticket(&self, name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        let ticket = self.inner.take_tls13_ticket(name);
        if ticket.is_some() {
            self.offered.fetch_add(1, Ordering::SeqCst);
        }
        ticket
    }
}

/// A TLS 1.3 client presenting `leaf`, with `store` as its session cache.
fn client_config(
    pki: &Pki,
    leaf: &mtls_testkit::Leaf,
    store: Arc<CountingStore>,
) -> Arc<rustls::ClientConfig> {
    let mut config =
        rustls::ClientConfig::builder_with_provider(mtls_verify::crypto::default_provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(pki.root_store())
            .with_client_auth_cert(leaf.chain_der(), leaf.key_der())
            .unwrap();
    config.resumption = rustls::client::Resumption::store(store);
    Arc::new(config)
}

/// One GET over a new connection to 127.0.0.1:`port`: how the handshake went and the body,
/// or the error (a TLS alert shows as `AlertReceived(..)`).
fn get(port: u16, config: &Arc<rustls::ClientConfig>) -> Result<(HandshakeKind, String), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let tcp = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(CLIENT_TIMEOUT))
        .map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(CLIENT_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let conn =
        rustls::ClientConnection::new(Arc::clone(config), name).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    let read = tls.read_to_end(&mut response);
    let kind = tls.conn.handshake_kind().unwrap_or(HandshakeKind::Full);
    let response = String::from_utf8_lossy(&response).into_owned();
    match read {
        Ok(_) if response.starts_with("HTTP/1.1 200") => {
            let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
            Ok((kind, body.to_string()))
        }
        Ok(_) => Err(format!("unexpected answer: {response}")),
        Err(e) => Err(e.to_string()),
    }
}

/// A running `haproxy -db -f FILE`, killed on drop.
struct Balancer {
    child: Child,
    port: u16,
}

impl Balancer {
    /// Starts HAProxy in TCP mode, round-robin over `backends`, and waits (bounded) until it
    /// accepts connections.
    fn start(haproxy: &Path, dir: &Path, backends: &[u16]) -> Self {
        let port = free_port();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, p)| format!("    server r{i} 127.0.0.1:{p}\n"))
            .collect();
        let text = format!(
            "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 15s\n    \
             timeout server 15s\n\nfrontend edge\n    bind 127.0.0.1:{port}\n    \
             default_backend replicas\n\nbackend replicas\n    balance roundrobin\n{servers}"
        );
        let file = dir.join("haproxy.cfg");
        std::fs::write(&file, text).unwrap();
        let log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
        let child = Command::new(haproxy)
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("haproxy runs");
        let mut balancer = Self { child, port };
        let started = Instant::now();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = balancer.child.try_wait() {
                let log = std::fs::read_to_string(dir.join("haproxy.log")).unwrap_or_default();
                panic!("haproxy exited ({status}):\n{log}");
            }
            assert!(
                started.elapsed() < support::READY_TIMEOUT,
                "haproxy did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        balancer
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The haproxy binary, or `None` (after saying so) when the test may be skipped.
fn haproxy() -> Option<PathBuf> {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")]);
    for dir in candidates {
        let path = dir.join("haproxy");
        if path.is_file() {
            return Some(path);
        }
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "haproxy is not installed; CI must run this test (.ci/run installs it)"
    );
    eprintln!("SKIPPED replicas: haproxy is not installed (apt-get install -y haproxy)");
    None
}

#[test]
fn sessions_resume_across_replicas_until_a_crl_revokes_the_client() {
    let Some(haproxy) = haproxy() else {
        return;
    };
    let w = Workdir::new();
    let pki = Pki::shared();
    let roamer = pki
        .client()
        .common_name("roamer")
        .uri("spiffe://example.org/ns/default/sa/roamer")
        .issue();
    roamer.write_to(&w.etc, "roamer").unwrap();
    std::fs::write(w.etc.join("tickets.key"), KEYS).unwrap();

    let mut ports = Vec::new();
    let mut gateways: Vec<Gateway> = Vec::new();
    for n in 0..REPLICAS {
        let (https, admin) = (free_port(), free_port());
        gateways.push(w.start(
            &format!("replica-{n}.yaml"),
            &config(n, https, admin),
            admin,
        ));
        ports.push(https);
    }
    let balancer = Balancer::start(&haproxy, w.temp.path(), &ports);

    let store = Arc::new(CountingStore {
        inner: ClientSessionMemoryCache::new(32),
        offered: AtomicUsize::new(0),
    });
    let client = client_config(pki, &roamer, Arc::clone(&store));

    // Through the balancer: a full handshake on one replica, then resumptions on the others
    // (round-robin: each connection goes to the next replica), twice around.
    let (kind, first) = get(balancer.port, &client).unwrap();
    assert_eq!(kind, HandshakeKind::Full, "{first}");
    let mut previous = first.clone();
    let mut seen = vec![first];
    for _ in 1..2 * REPLICAS {
        let (kind, body) = get(balancer.port, &client).unwrap();
        assert_eq!(kind, HandshakeKind::Resumed, "on {body}, after {previous}");
        assert_ne!(
            body, previous,
            "the balancer sent two connections in a row to one replica"
        );
        previous = body.clone();
        seen.push(body);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["replica-0", "replica-1", "replica-2"]);
    let offered = store.offered.load(Ordering::SeqCst);
    assert_eq!(offered, 2 * REPLICAS - 1);

    // A CRL revoking the client, written once for every replica (they read the same file).
    let before: Vec<usize> = gateways
        .iter()
        .map(|g| g.log_count("configuration reloaded"))
        .collect();
    write_atomic(
        &w.etc.join("crl.pem"),
        pki.crls().revoke(&roamer).build().pem(),
    );
    for (gateway, before) in gateways.iter().zip(before) {
        gateway.wait_for_log("configuration reloaded", before);
    }

    // Every replica, directly then through the balancer: the client offers a ticket from
    // before the update, and is refused (a full handshake, under the new CRL).
    let targets = ports.iter().copied().chain([balancer.port; REPLICAS]);
    for (i, port) in targets.enumerate() {
        let outcome = get(port, &client);
        assert!(
            matches!(&outcome, Err(e) if e.contains("CertificateRevoked")),
            "attempt {i} on port {port}: {outcome:?}"
        );
        assert_eq!(
            store.offered.load(Ordering::SeqCst),
            offered + i + 1,
            "attempt {i} offered no ticket: nothing was tested"
        );
    }
    drop(balancer);
    for mut gateway in gateways {
        assert!(gateway.terminate(Duration::from_secs(10)).is_some());
    }
}
