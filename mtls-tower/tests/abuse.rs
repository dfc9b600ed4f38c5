//! Abusive clients against a real listener on 127.0.0.1, each with its exact expected outcome:
//! trickled handshakes, 10,000 idle mTLS connections, garbage on a STRICT port, oversized
//! chains and certificates, a fragmented ClientHello under PERMISSIVE, half-open connections
//! and a handshake flood beyond the in-flight limit.
//!
//! Every test is bounded in time and in connections, and stops by itself. They run one at a
//! time (a process-wide lock): two of them count file descriptors and resident memory, which
//! the others would disturb.

mod support;

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mtls_policy::PeerMode;
use mtls_testkit::Pki;
use mtls_tower::{AcceptError, Acceptor, HostTls, TlsSnapshot};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::ClientConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use support::{
    LIMIT, client, client_verifier, credential, plain_get, provider, read_until_closed, start,
    tls_get,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One abuse test at a time: see the module documentation.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A snapshot serving `localhost` with the shared PKI's default server certificate, in `mode`,
/// requiring client certificates issued under `client_ca` when given.
fn snapshot(mode: PeerMode, client_ca: Option<&str>) -> TlsSnapshot {
    let provider = provider();
    let mut host = HostTls::new(["localhost"], credential(Pki::shared().default_server()));
    if let Some(ca) = client_ca {
        host = host.client_verifier(client_verifier(ca));
    }
    TlsSnapshot::builder(provider)
        .host(host)
        .peer_mode(mode)
        .build()
        .unwrap()
}

/// The bytes of a real ClientHello for `localhost`, in one record.
fn client_hello() -> Vec<u8> {
    let mut conn = rustls::ClientConnection::new(
        client(Pki::shared(), None),
        ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    hello
}

/// Resident memory of this process, in KiB.
fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Open file descriptors of this process and their soft limit.
fn fds() -> (usize, usize) {
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count();
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let soft = line.split_whitespace().nth(3).unwrap().parse().unwrap();
    (open, soft)
}

/// A legitimate TLS client (no client certificate) gets its `200`.
async fn served(addr: SocketAddr) {
    let reply = tls_get(addr, client(Pki::shared(), None), "localhost", "localhost")
        .await
        .expect("a legitimate client is served");
    assert!(
        reply.response.starts_with("HTTP/1.1 200 OK"),
        "{}",
        reply.response
    );
}

/// Accepts exactly one connection on a fresh port with `acceptor`, outside `serve`, so the test
/// sees the `AcceptError` and how long the acceptor took.
async fn accept_one(
    acceptor: Acceptor,
) -> (
    SocketAddr,
    tokio::task::JoinHandle<(Result<bool, AcceptError>, Duration)>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let started = Instant::now();
        let result = acceptor.accept(tcp).await.map(|(io, _)| io.is_tls());
        (result, started.elapsed())
    });
    (addr, task)
}

#[tokio::test]
async fn a_handshake_trickled_one_byte_at_a_time_is_closed_at_the_handshake_timeout() {
    let _serial = SERIAL.lock().await;
    let timeout = Duration::from_millis(500);
    let server = start(Acceptor::with_limits(
        snapshot(PeerMode::Strict, None),
        timeout,
        64,
    ))
    .await;
    let hello = client_hello();
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (mut rd, mut wr) = tcp.into_split();
    let started = Instant::now();
    // One byte every 20 ms: the whole ClientHello would take seconds.
    let writer = tokio::spawn(async move {
        let mut sent = 0usize;
        for byte in &hello {
            if wr.write_all(std::slice::from_ref(byte)).await.is_err() {
                break;
            }
            sent += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (sent, hello.len())
    });
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(LIMIT, rd.read(&mut buf))
        .await
        .expect("closed well before the test's limit")
        .unwrap_or(0);
    let closed_after = started.elapsed();
    assert_eq!(n, 0, "closed without a reply: {:?}", &buf[..n]);
    assert!(
        closed_after >= timeout - Duration::from_millis(50)
            && closed_after < timeout + Duration::from_millis(1500),
        "closed after {closed_after:?}, the timeout is {timeout:?}"
    );
    let (sent, total) = tokio::time::timeout(LIMIT, writer).await.unwrap().unwrap();
    assert!(
        sent < total,
        "the whole ClientHello ({total} bytes) got through"
    );
    served(server.addr).await;
    server.stop().await;
}

/// How many idle connections the fleet holds.
const IDLE_CONNECTIONS: usize = 10_000;

/// What an idle TLS connection may cost the server in resident memory (64 KiB).
const IDLE_CONNECTION_BUDGET: u64 = 64 * 1024;

/// File descriptors a process needs besides its connections: the harness, the runtime, pipes.
const FD_HEADROOM: usize = 512;

/// Set only for the child process that holds the fleet: `address count`.
const FLEET_ENV: &str = "MTLS_ABUSE_IDLE_FLEET";

/// Printed by the child once its whole fleet is connected and idle.
const FLEET_READY: &str = "MTLS_IDLE_FLEET_READY";

/// Raises this process's soft limit on open files to its hard limit, and checks that `needed`
/// fit. Children inherit the raised limit.
fn raise_fd_limit(needed: usize) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        )
        .expect("raising the soft RLIMIT_NOFILE to the hard limit");
    }
    let hard = limit.maximum.map_or(usize::MAX, |h| h as usize);
    assert!(
        hard >= needed,
        "this test holds {IDLE_CONNECTIONS} connections: it needs RLIMIT_NOFILE of at least \
         {needed} in each of two processes, and the hard limit is {hard}. Raise it (`ulimit -Hn \
         {needed}` as root, `LimitNOFILE=` in systemd, `docker run --ulimit nofile={needed}`)"
    );
}

/// A legitimate mTLS client (the default client certificate) gets its `200`.
async fn served_mtls(addr: SocketAddr) {
    let pki = Pki::shared();
    let reply = tls_get(
        addr,
        client(pki, Some(pki.default_client())),
        "localhost",
        "localhost",
    )
    .await
    .expect("a legitimate client is served");
    assert!(
        reply.response.starts_with("HTTP/1.1 200 OK"),
        "{}",
        reply.response
    );
}

/// Waits (bounded) until this process has at least (`at_least`) or at most (`!at_least`)
/// `want` open file descriptors; returns the count seen last.
async fn fds_reach(want: usize, at_least: bool, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let open = fds().0;
        let reached = if at_least { open >= want } else { open <= want };
        if reached || Instant::now() >= deadline {
            return open;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_tls_connections_hold_bounded_memory_and_new_clients_are_served() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let idle = IDLE_CONNECTIONS;
    // The server is this process; the clients are a child process (the same test binary, see
    // `idle_fleet_child_process`): each holds one end of every connection, and the resident
    // memory measured below is the server's alone.
    raise_fd_limit(idle + FD_HEADROOM);
    let pki = Pki::shared();
    // The defaults (10 s handshake timeout, 1,024 handshakes in flight), client certificates
    // required: each idle connection is a verified mTLS connection that served one request.
    // The request header timeout (default 30 s) would close the first idle connections while a
    // slow machine still connects the fleet (it may take 180 s): 10 minutes here. An idle
    // connection holds its timer all the same.
    let server = start(
        Acceptor::new(snapshot(PeerMode::Strict, Some(&pki.root().cert_pem())))
            .with_request_header_timeout(Duration::from_secs(600)),
    )
    .await;
    // Warm up (PKI, rustls, hyper, the allocator's arenas) before measuring.
    for _ in 0..8 {
        served_mtls(server.addr).await;
    }
    let client = pki.default_client();
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "idle_fleet_child_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(FLEET_ENV, format!("{} {idle}", server.addr))
        .env("MTLS_FLEET_CA", pki.root().cert_pem())
        .env("MTLS_FLEET_CERT", client.chain_pem())
        .env("MTLS_FLEET_KEY", client.key_pem())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the child process starts");
    let (open, _) = fds();
    let before = vm_rss_kib();

    // The child connects its fleet, then says so.
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(180), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(FLEET_READY) {
                return true;
            }
        }
        false
    })
    .await
    .expect("the fleet connected within 180 s");
    assert!(ready, "the child exited before its fleet was ready");
    let connected = started.elapsed();
    // Every idle connection is open on the server side (one descriptor each).
    let held = fds_reach(open + idle, true, LIMIT).await - open;
    assert!(
        held >= idle,
        "{held} of {idle} connections open at the server"
    );

    // A new client is served while all of them wait.
    let asked = Instant::now();
    served_mtls(server.addr).await;
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(2), "served after {took:?}");

    let after = vm_rss_kib();
    let per_connection = after.saturating_sub(before) * 1024 / idle as u64;
    eprintln!(
        "{idle} idle mTLS connections (fleet connected in {connected:?}): server VmRSS {before} \
         KiB -> {after} KiB, {per_connection} bytes each; a new client served in {took:?}"
    );
    assert!(
        per_connection <= IDLE_CONNECTION_BUDGET,
        "{per_connection} bytes per idle connection, budget {IDLE_CONNECTION_BUDGET}"
    );

    // Clean up: the child closes its fleet when its stdin closes, and exits; the server sees
    // every connection end and releases it.
    drop(child.stdin.take());
    let status = tokio::time::timeout(LIMIT, child.wait())
        .await
        .expect("the child exits")
        .unwrap();
    assert!(status.success(), "the child failed: {status}");
    let left = fds_reach(open + 16, false, LIMIT).await;
    assert!(
        left <= open + 16,
        "{left} fds still open, {open} before the fleet"
    );
    served_mtls(server.addr).await;
    server.stop().await;
    eprintln!("idle connections test: {:?} in all", started.elapsed());
}

/// Not a test by itself: the client side of
/// `ten_thousand_idle_tls_connections_hold_bounded_memory_and_new_clients_are_served`, which
/// runs it in a child process. Connects the fleet (mTLS, one keep-alive request each), prints
/// [`FLEET_READY`], holds every connection idle until its stdin closes.
#[test]
#[ignore = "run by ten_thousand_idle_tls_connections_… in a child process"]
fn idle_fleet_child_process() {
    let Ok(spec) = std::env::var(FLEET_ENV) else {
        eprintln!("{FLEET_ENV} is not set: nothing to do outside the idle-connections test");
        return;
    };
    let (addr, count) = spec.split_once(' ').unwrap();
    let addr: SocketAddr = addr.parse().unwrap();
    let count: usize = count.parse().unwrap();
    raise_fd_limit(count + FD_HEADROOM);
    let config = fleet_client_config();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fleet = runtime.block_on(async {
        // At most 64 handshakes at a time: well below the server's in-flight limit and the
        // listen backlog, so none is shed.
        let slots = Arc::new(tokio::sync::Semaphore::new(64));
        let mut tasks = Vec::with_capacity(count);
        for _ in 0..count {
            let permit = Arc::clone(&slots).acquire_owned().await.unwrap();
            let config = Arc::clone(&config);
            tasks.push(tokio::spawn(async move {
                let conn = fleet_connection(addr, config).await;
                drop(permit);
                conn
            }));
        }
        let mut fleet = Vec::with_capacity(count);
        for task in tasks {
            fleet.push(task.await.unwrap());
        }
        fleet
    });
    println!("{FLEET_READY} {}", fleet.len());
    std::io::stdout().flush().unwrap();
    // Idle until the parent closes stdin (or dies).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(fleet);
    drop(runtime);
}

/// The fleet's client: trusts the parent's root, presents its client certificate, HTTP/1.1.
fn fleet_client_config() -> Arc<ClientConfig> {
    use rustls_pki_types::pem::PemObject as _;
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(var("MTLS_FLEET_CA").as_bytes()) {
        roots.add(ca.unwrap()).unwrap();
    }
    let chain = CertificateDer::pem_slice_iter(var("MTLS_FLEET_CERT").as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(var("MTLS_FLEET_KEY").as_bytes()).unwrap();
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Every connection a full handshake, its chain verified: the fleet is 10,000 clients.
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// One connection of the fleet: handshake, one keep-alive request answered `200`, kept open.
async fn fleet_connection(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    tokio::time::timeout(LIMIT, async {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(config)
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        // The echo body ends with a newline: the whole response is in.
        while !got.ends_with(b"\n") || !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tls.read(&mut buf).await.unwrap();
            assert!(n > 0, "the server closed a fleet connection");
            got.extend_from_slice(&buf[..n]);
        }
        assert!(
            got.starts_with(b"HTTP/1.1 200 OK"),
            "{}",
            String::from_utf8_lossy(&got)
        );
        tls
    })
    .await
    .expect("a fleet connection within the limit")
}

#[tokio::test]
async fn garbage_and_plain_http_on_a_strict_port_are_closed_and_the_next_client_is_served() {
    let _serial = SERIAL.lock().await;
    let server = start(Acceptor::with_limits(
        snapshot(PeerMode::Strict, None),
        Duration::from_secs(5),
        64,
    ))
    .await;
    // Plain HTTP: closed without a byte (FIN, or a reset when the request was unread).
    match plain_get(server.addr).await {
        Ok(response) => assert_eq!(response, ""),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    let mut noise = [0u8; 4096];
    let mut x = 0x9e37_79b9_u32;
    for b in &mut noise {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    noise[0] = b'Z';
    let mut tls_like = vec![0x16, 0x03, 0x01, 0xff, 0xff];
    tls_like.extend_from_slice(&noise[..1000]);
    let cases: [(&str, &[u8]); 4] = [
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        ("random bytes", &noise),
        ("a TLS record header then noise", &tls_like),
        (
            "a TLS alert record",
            &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28],
        ),
    ];
    for (what, bytes) in cases {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        let started = Instant::now();
        let _ = tcp.write_all(bytes).await;
        let (reply, closed) = read_until_closed(&mut tcp)
            .await
            .expect("the server closed the connection");
        // Plaintext is closed without a byte; something that starts as TLS may get a fatal
        // alert record (0x15) first. Never an HTTP answer.
        assert!(
            reply.is_empty() || reply[0] == 0x15,
            "{what}: the server sent {reply:?}"
        );
        assert!(
            closed - started < Duration::from_secs(2),
            "{what}: closed after {:?}",
            closed - started
        );
    }
    served(server.addr).await;
    server.stop().await;
}

#[tokio::test]
async fn garbage_records_are_refused_with_a_handshake_error() {
    let _serial = SERIAL.lock().await;
    let acceptor =
        Acceptor::with_limits(snapshot(PeerMode::Strict, None), Duration::from_secs(5), 4);
    let (addr, task) = accept_one(acceptor.clone()).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&[0x16, 0x03, 0x01, 0x00, 0x04, 0xff, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    let (result, took) = task.await.unwrap();
    let err = result.unwrap_err();
    assert_eq!(err.code(), "handshake", "{err}");
    assert!(took < Duration::from_secs(1), "{took:?}");

    let (addr, task) = accept_one(acceptor).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let (result, _) = task.await.unwrap();
    assert!(
        matches!(result, Err(AcceptError::PlaintextRefused)),
        "{result:?}"
    );
    let _ = read_until_closed(&mut tcp)
        .await
        .expect("the server closed the connection");
}

/// A CA whose chain the test builds by hand: rcgen, ECDSA P-256.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
}

fn ca(name: &str, parent: Option<&Ca>) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = match parent {
        Some(p) => params.signed_by(&key, &p.issuer).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    Ca {
        der: cert.der().clone(),
        issuer: Issuer::new(params, key),
    }
}

fn client_leaf(
    issuer: &Ca,
    sans: Vec<SanType>,
) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, "abuser");
    params.subject_alt_names = sans;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &issuer.issuer).unwrap();
    (
        cert.der().clone(),
        PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
}

fn pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// Presents a chain as given: rustls' own `with_client_auth_cert` parses the leaf first (and
/// refuses one over 64 KiB), an abuser's client does not.
#[derive(Debug)]
struct Present(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for Present {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn client_with(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Arc<ClientConfig> {
    let provider = provider();
    let key = provider.key_provider.load_private_key(key).unwrap();
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(Pki::shared().root_store())
        .with_client_cert_resolver(Arc::new(Present(Arc::new(
            rustls::sign::CertifiedKey::new(chain, key),
        ))));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Runs one handshake of `client` against a listener trusting `root`; returns the acceptor's
/// error, the client's error and how long the acceptor took.
async fn refused(root: &Ca, client: Arc<ClientConfig>) -> (AcceptError, std::io::Error, Duration) {
    let acceptor = Acceptor::with_limits(
        snapshot(PeerMode::Strict, Some(&pem(&root.der))),
        Duration::from_secs(5),
        4,
    );
    let (addr, task) = accept_one(acceptor).await;
    let client_side = tokio::time::timeout(LIMIT, async {
        let tcp = TcpStream::connect(addr).await?;
        let mut tls = tokio_rustls::TlsConnector::from(client)
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await?;
        // TLS 1.3: the client learns of a refused certificate on its first read.
        tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut buf = Vec::new();
        tls.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    })
    .await
    .unwrap();
    let (result, took) = task.await.unwrap();
    let server_err = result.expect_err("the handshake is refused");
    let client_err = client_side.expect_err("the client sees the refusal");
    (server_err, client_err, took)
}

#[tokio::test]
async fn a_client_chain_of_fifty_intermediates_is_refused_quickly() {
    let _serial = SERIAL.lock().await;
    let root = ca("abuse root", None);
    let mut cas = vec![ca("abuse intermediate 1", Some(&root))];
    for i in 2..=50 {
        let next = ca(&format!("abuse intermediate {i}"), cas.last());
        cas.push(next);
    }
    let (leaf, key) = client_leaf(cas.last().unwrap(), vec![]);
    let mut chain = vec![leaf];
    chain.extend(cas.iter().rev().map(|c| c.der.clone()));
    assert_eq!(chain.len(), 51);
    let rss = vm_rss_kib();
    let (server_err, client_err, took) = refused(&root, client_with(chain, key)).await;
    // Refused by the verifier: counted by its reason, as the layer counts denials.
    assert_eq!(server_err.code(), "invalid_certificate");
    // webpki gives up past its path-length budget (6 intermediates): the verifier says so,
    // and the client gets the alert.
    assert!(
        server_err.to_string().contains("MaximumPathDepthExceeded")
            || server_err.to_string().contains("path"),
        "{server_err}"
    );
    assert!(
        client_err.to_string().contains("received fatal alert"),
        "{client_err}"
    );
    assert_cheap(took, rss);
}

/// `count` DNS SANs of 50 bytes each (`NNNN-<fill × 33>.example.com`).
fn fifty_byte_dns_sans(count: usize, fill: char) -> Vec<SanType> {
    (0..count)
        .map(|i| {
            let name = format!("{i:04}-{}.example.com", fill.to_string().repeat(33));
            SanType::DnsName(name.try_into().unwrap())
        })
        .collect()
}

/// The refusal took under 2 s and the process grew by less than 32 MiB since `rss_before`.
fn assert_cheap(took: Duration, rss_before: u64) {
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(
        vm_rss_kib().saturating_sub(rss_before) < 32 * 1024,
        "memory grew by more than 32 MiB"
    );
}

#[tokio::test]
async fn a_client_certificate_with_a_100_kb_san_is_refused_before_verification() {
    let _serial = SERIAL.lock().await;
    let root = ca("abuse root", None);
    // 2,000 DNS names of 50 bytes: a 100 KB subjectAltName.
    let sans = fifty_byte_dns_sans(2_000, 'a');
    let (leaf, key) = client_leaf(&root, sans);
    assert!(leaf.len() > 100_000, "{} bytes", leaf.len());
    let rss = vm_rss_kib();
    let (server_err, client_err, took) = refused(&root, client_with(vec![leaf], key)).await;
    // rustls refuses handshake messages over 64 KiB before any certificate parsing.
    assert_eq!(server_err.code(), "handshake");
    assert!(
        server_err.to_string().contains("HandshakePayloadTooLarge"),
        "{server_err}"
    );
    assert!(
        client_err.to_string().contains("received fatal alert")
            || client_err.kind() == std::io::ErrorKind::ConnectionReset
            || client_err.kind() == std::io::ErrorKind::BrokenPipe
            // The server closed while the client was still writing its 100 KB.
            || client_err.kind() == std::io::ErrorKind::UnexpectedEof,
        "{client_err}"
    );
    assert_cheap(took, rss);
}

#[tokio::test]
async fn a_client_certificate_with_a_60_kb_san_under_the_size_limit_is_verified_in_bounded_time() {
    let _serial = SERIAL.lock().await;
    // Just under rustls' 64 KiB message limit: it reaches the verifier and x509-parser, and is
    // accepted (it is properly issued) without a pathological cost.
    let root = ca("abuse root", None);
    let sans = fifty_byte_dns_sans(1_100, 'b');
    let (leaf, key) = client_leaf(&root, sans);
    assert!(
        leaf.len() > 50_000 && leaf.len() < 60_000,
        "{} bytes",
        leaf.len()
    );
    let acceptor = Acceptor::with_limits(
        snapshot(PeerMode::Strict, Some(&pem(&root.der))),
        Duration::from_secs(5),
        4,
    );
    let (addr, task) = accept_one(acceptor).await;
    let config = client_with(vec![leaf], key);
    let client = tokio::spawn(async move {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await;
        // Keep the connection open until the server is done.
        tokio::time::sleep(Duration::from_millis(200)).await;
        tls.map(drop)
    });
    let (result, took) = task.await.unwrap();
    assert!(result.unwrap(), "TLS");
    assert!(took < Duration::from_secs(2), "{took:?}");
    client.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_client_hello_fragmented_across_records_and_segments_is_tls_under_permissive() {
    let _serial = SERIAL.lock().await;
    let server = start(Acceptor::new(snapshot(PeerMode::Permissive, None))).await;
    let addr = server.addr;
    // Blocking rustls over a std socket: the test controls every byte of the ClientHello.
    let response = tokio::task::spawn_blocking(move || {
        let mut conn = rustls::ClientConnection::new(
            client(Pki::shared(), None),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let mut hello = Vec::new();
        conn.write_tls(&mut hello).unwrap();
        assert_eq!(hello[0], 0x16);
        let body = &hello[5..];
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_nodelay(true).unwrap();
        tcp.set_read_timeout(Some(LIMIT)).unwrap();
        // The handshake message split over records of at most 40 bytes, each record sent in
        // 3-byte TCP segments.
        let mut records = 0;
        for fragment in body.chunks(40) {
            let mut record = vec![0x16, 0x03, 0x01];
            record.extend_from_slice(&u16::try_from(fragment.len()).unwrap().to_be_bytes());
            record.extend_from_slice(fragment);
            for segment in record.chunks(3) {
                tcp.write_all(segment).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
            records += 1;
        }
        assert!(records > 3, "{records} records");
        let mut stream = rustls::Stream::new(&mut conn, &mut tcp);
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
    })
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(
        response.contains("transport=tls sni=localhost"),
        "{response}"
    );
    server.stop().await;
}

#[tokio::test]
async fn half_open_connections_are_closed_promptly() {
    let _serial = SERIAL.lock().await;
    // A long handshake timeout: closing promptly must come from reading EOF, not the timer.
    let timeout = Duration::from_secs(10);
    let server = start(Acceptor::with_limits(
        snapshot(PeerMode::Permissive, None),
        timeout,
        64,
    ))
    .await;
    let hello = client_hello();
    let cases: [(&str, &[u8]); 4] = [
        ("nothing sent", b""),
        ("half a ClientHello", &hello[..hello.len() / 2]),
        ("a whole ClientHello", &hello),
        ("half a plaintext request", b"GET / HTTP/1.1\r\nHost: loc"),
    ];
    for (what, bytes) in cases {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(bytes).await.unwrap();
        let started = Instant::now();
        tcp.shutdown().await.unwrap();
        let (reply, closed) = read_until_closed(&mut tcp)
            .await
            .expect("the server closed the connection");
        let took = closed - started;
        assert!(
            took < Duration::from_secs(2),
            "{what}: closed after {took:?}"
        );
        if what == "a whole ClientHello" {
            // The server answered the ClientHello (ServerHello...) before it saw the EOF.
            assert_eq!(reply.first(), Some(&0x16), "{what}: {reply:?}");
        }
        if what == "half a plaintext request" {
            // hyper answers an incomplete request cut by EOF with nothing, or a 400.
            let text = String::from_utf8_lossy(&reply);
            assert!(
                reply.is_empty() || text.starts_with("HTTP/1.1 400"),
                "{text}"
            );
        }
    }
    served(server.addr).await;
    server.stop().await;
}

#[tokio::test]
async fn a_handshake_flood_beyond_the_in_flight_limit_is_shed_and_the_server_recovers() {
    let _serial = SERIAL.lock().await;
    let limit = 8;
    let flood = 200;
    let timeout = Duration::from_secs(1);
    let server = start(Acceptor::with_limits(
        snapshot(PeerMode::Strict, None),
        timeout,
        limit,
    ))
    .await;
    let hello = client_hello();
    let half = &hello[..hello.len() / 2];
    let started = Instant::now();
    let mut conns = Vec::with_capacity(flood);
    for _ in 0..flood {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        // Half a ClientHello: a handshake that holds its slot until the timeout.
        let _ = tcp.write_all(half).await;
        conns.push(tcp);
    }
    // Meanwhile a legitimate client is shed at once, not queued.
    let shed_started = Instant::now();
    let err = tls_get(
        server.addr,
        client(Pki::shared(), None),
        "localhost",
        "localhost",
    )
    .await;
    assert!(err.is_err(), "the limit is full: new handshakes are shed");
    assert!(
        shed_started.elapsed() < Duration::from_millis(500),
        "{:?}",
        shed_started.elapsed()
    );
    let closed_at: Vec<Duration> = futures_join(conns).await;
    let quickly = closed_at
        .iter()
        .filter(|d| **d < Duration::from_millis(500))
        .count();
    let last = closed_at.iter().max().copied().unwrap();
    eprintln!(
        "flood of {flood}, limit {limit}: {quickly} closed within 500 ms, last after {last:?}"
    );
    // Everything beyond the limit is closed at once; the ones holding a slot at the timeout.
    assert!(
        quickly >= flood - limit,
        "{quickly} of {flood} shed at once"
    );
    assert!(last < timeout + Duration::from_secs(1), "{last:?}");
    assert!(started.elapsed() < LIMIT);
    // Recovered: the slots are free again.
    served(server.addr).await;
    server.stop().await;
}

/// Waits for every connection to be closed by the server; returns when each closed, measured
/// from the call.
async fn futures_join(conns: Vec<TcpStream>) -> Vec<Duration> {
    let started = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut tcp| {
            tokio::spawn(async move {
                let _ = read_until_closed(&mut tcp)
                    .await
                    .expect("the server closed the connection");
                started.elapsed()
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}
