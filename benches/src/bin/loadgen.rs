//! The load generator of the loopback comparison (`benches/compare.sh`). wrk and
//! h2load cannot present client certificates; this can.
//!
//! - `loadgen pki --dir DIR`: writes the PKI every server of the comparison uses (mtls-testkit,
//!   all ECDSA P-256: root → intermediate → leaves): `ca.pem`, `server.pem`/`server.key` (chain
//!   leaf + intermediate), `client.pem`/`client.key` (leaf + intermediate, URI SAN), and
//!   `crl.pem`: the root's CRL and the intermediate's CRL with `--revoked` random serials (1,000
//!   by default, like the criterion benches) plus `revoked.pem`. With `--fetched K` also
//!   `root-crl.pem` (the root's CRL alone) and `fetched-1.crl` … `fetched-K.crl`: the
//!   intermediate's CRL (DER) again, each one serial longer and one second newer, for a
//!   distribution point that keeps changing (`benches/reload_p99.sh` with `MODE=fetched`).
//!   With `--clients N` also `clients.pem` and `clients.key`: N more client leaves and their
//!   keys, for `run --clients`.
//! - `loadgen run`: N workers on one thread for D seconds (after a warm-up that is not counted)
//!   against one server, in mode `full` (a new TLS 1.3 handshake with the client certificate per
//!   connection, no resumption, one `GET` each, then close_notify), `resumed` (the same, each
//!   connection resuming a TLS 1.3 session with a ticket of an earlier one; the share that
//!   resumed is reported) or `keepalive` (`--requests` requests per connection, 100 by default).
//!   With `--clients`/`--client-keys` each new connection presents the next of those leaves
//!   (round robin) instead of `--cert`'s, so a server that remembers chains it verified sees a
//!   client return only after all the others. Counts errors by kind, measures p50/p99 latency
//!   (per connection in `full`, per request in `keepalive`), and reads the server's CPU time
//!   (utime + stime of every `--server-pid`, from `/proc/<pid>/stat`) over the measured window.
//!   Prints one JSON line.
//! - `loadgen idle`: opens `--connections` mTLS connections (one `GET` each, then kept open and
//!   idle) and reports the server's `VmRSS` growth per connection. One JSON line.
//! - `loadgen report FILE...`: medians, spreads and ratios of the JSON lines as a Markdown table.
//!   The plot of the same lines is `benches/plot.py loopback` (Python, standard library only).
//!
//! The client does not verify the server's certificate (it accepts any): the comparison prices
//! the *server*, and skipping 3 ECDSA verifies per handshake keeps the one-core client well
//! ahead of the server it loads. It still sends its chain and signs `CertificateVerify`.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use mtls_testkit::{IssuedBy, Pki};
use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

#[derive(Parser)]
#[command(about = "mTLS load generator of the loopback comparison")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the comparison's PKI (ECDSA P-256) and CRLs into DIR.
    Pki {
        #[arg(long)]
        dir: PathBuf,
        /// Random serials revoked in the intermediate's CRL (besides `revoked.pem`).
        #[arg(long, default_value_t = 1000)]
        revoked: usize,
        /// Newer versions of the intermediate's CRL to write (`fetched-N.crl`, DER).
        #[arg(long, default_value_t = 0)]
        fetched: u64,
        /// Distinct client leaves to write besides `client.pem` (`clients.pem`, the leaves
        /// alone, and `clients.key`, their keys in the same order), for `run --clients`.
        #[arg(long, default_value_t = 0)]
        clients: usize,
    },
    /// Load one server for a bounded time; one JSON line on stdout.
    Run(RunArgs),
    /// Hold idle mTLS connections and report the server's RSS per connection.
    Idle(IdleArgs),
    /// Medians, spreads and ratios of JSON lines; Markdown on stdout (the plot:
    /// `benches/plot.py loopback`).
    Report {
        /// Files of JSON lines written by `run` and `idle`.
        files: Vec<PathBuf>,
        /// The load average line to print in the table's caption.
        #[arg(long, default_value = "")]
        note: String,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Mode {
    /// One new full handshake per request.
    Full,
    /// One new connection per request, resuming a TLS 1.3 session (a ticket of an earlier
    /// connection; one found none makes a full handshake).
    Resumed,
    /// `--requests` requests per connection.
    Keepalive,
}

#[derive(clap::Args, Clone)]
struct Target {
    /// The server (loopback).
    #[arg(long)]
    addr: SocketAddr,
    /// Client chain (PEM, leaf first).
    #[arg(long)]
    cert: PathBuf,
    /// Client key (PEM).
    #[arg(long)]
    key: PathBuf,
    /// Client leaves (PEM, as `pki --clients` writes them): each new connection presents the
    /// next, round robin, with the intermediates of `--cert`, instead of `--cert`'s leaf.
    #[arg(long, requires = "client_keys")]
    clients: Option<PathBuf>,
    /// The keys of `--clients` (PEM), in the same order.
    #[arg(long, requires = "clients")]
    client_keys: Option<PathBuf>,
    /// SNI and Host header.
    #[arg(long, default_value = "localhost")]
    host: String,
    /// Request path.
    #[arg(long, default_value = "/")]
    path: String,
    /// PIDs whose CPU time (or RSS) is the server's, comma-separated (nginx: master, worker).
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Per connection (full) or per request (keepalive) timeout, seconds.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Labels copied into the JSON line.
    #[arg(long, default_value = "")]
    server: String,
    #[arg(long, default_value = "")]
    case: String,
    #[arg(long, default_value_t = 0)]
    round: u32,
}

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    target: Target,
    #[arg(long, value_enum)]
    mode: Mode,
    /// Concurrent connections (workers).
    #[arg(long, default_value_t = 32)]
    workers: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 8.0)]
    duration: f64,
    /// Seconds of load before the measurement starts.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Requests per connection in keepalive mode.
    #[arg(long, default_value_t = 100)]
    requests: usize,
}

#[derive(clap::Args)]
struct IdleArgs {
    #[command(flatten)]
    target: Target,
    /// Idle connections to hold.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Connections opened in parallel.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds to hold them idle before reading the RSS.
    #[arg(long, default_value_t = 3.0)]
    hold: f64,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Pki {
            dir,
            revoked,
            fetched,
            clients,
        } => write_pki(&dir, revoked, fetched, clients),
        Command::Run(args) => local_runtime(run(args)),
        Command::Idle(args) => local_runtime(idle(args)),
        Command::Report { files, note } => report(&files, &note),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

fn local_runtime(f: impl Future<Output = Result<(), String>>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    tokio::task::LocalSet::new().block_on(&runtime, f)
}

// ---------------------------------------------------------------------------------------------
// PKI

fn write_pki(
    dir: &Path,
    revoked_serials: usize,
    fetched: u64,
    clients: usize,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let pki = Pki::new();
    let files = pki
        .write_to(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    // `write_to` wrote a crl.pem revoking a fresh `revoked.pem`; replace both with a revoked
    // leaf and `revoked_serials` more random serials in the intermediate's CRL.
    let revoked = pki.client().common_name("revoked").issue();
    revoked
        .write_to(dir, "revoked")
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut rng = mtls_benches::fixtures::SplitMix::new(0x6d74_6c73);
    let serials: Vec<_> = (0..revoked_serials).map(|_| rng.serial()).collect();
    let crls_with = |extra: u64| {
        let base = serials
            .iter()
            .fold(pki.crls().revoke(&revoked), |b, serial| {
                b.revoke_serial(IssuedBy::Intermediate, serial)
            });
        // `extra` more serials, `extra` seconds newer: each version replaces the one before.
        (0..extra)
            .fold(base, |b, i| {
                b.revoke_serial(IssuedBy::Intermediate, &(i + 1).to_be_bytes())
            })
            .this_update(
                std::time::SystemTime::now() - Duration::from_secs(3600u64.saturating_sub(extra)),
            )
            .crl_number(extra + 1)
            .build()
    };
    let crls = crls_with(0);
    crls.write_to(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(dir.join(name), bytes).map_err(|e| format!("{}: {e}", dir.display()))
    };
    if fetched > 0 {
        write("root-crl.pem", crls.root().pem().as_bytes())?;
    }
    for version in 1..=fetched {
        let crls = crls_with(version);
        write(&format!("fetched-{version}.crl"), crls.intermediate().der())?;
    }
    if clients > 0 {
        let (mut certs, mut keys) = (String::new(), String::new());
        for i in 0..clients {
            let leaf = pki.client().common_name(&format!("client-{i}")).issue();
            certs.push_str(&leaf.cert_pem());
            keys.push_str(&leaf.key_pem());
        }
        write("clients.pem", certs.as_bytes())?;
        write("clients.key", keys.as_bytes())?;
    }
    println!(
        "PKI in {} (ca.pem, server.pem/key, client.pem/key, revoked.pem/key, crl.pem with {} + 1 revoked serials)",
        files.dir.display(),
        revoked_serials
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Client

/// Accepts any server certificate (see the module docs); still offers the provider's schemes.
#[derive(Debug)]
struct AcceptAnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

struct Client {
    /// One per client leaf; connections take them in turn.
    connectors: Vec<TlsConnector>,
    next: Cell<usize>,
    addr: SocketAddr,
    name: ServerName<'static>,
    request: Vec<u8>,
    timeout: Duration,
}

impl Client {
    fn new(target: &Target, resume: bool) -> Result<Self, String> {
        let chain = CertificateDer::pem_file_iter(&target.cert)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| format!("{}: {e}", target.cert.display()))?;
        let key = PrivateKeyDer::from_pem_file(&target.key)
            .map_err(|e| format!("{}: {e}", target.key.display()))?;
        let identities = match (&target.clients, &target.client_keys) {
            (Some(certs), Some(keys)) => {
                let leaves = CertificateDer::pem_file_iter(certs)
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(|e| format!("{}: {e}", certs.display()))?;
                let keys = PrivateKeyDer::pem_file_iter(keys)
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(|e| format!("{}: {e}", keys.display()))?;
                if leaves.is_empty() || leaves.len() != keys.len() {
                    return Err(format!(
                        "--clients: {} leaves, {} keys",
                        leaves.len(),
                        keys.len()
                    ));
                }
                let intermediates = chain.get(1..).unwrap_or_default();
                leaves
                    .into_iter()
                    .zip(keys)
                    .map(|(leaf, key)| {
                        let mut chain = vec![leaf];
                        chain.extend_from_slice(intermediates);
                        (chain, key)
                    })
                    .collect()
            }
            _ => vec![(chain, key)],
        };
        // rustls' provider as it ships: its client, like curl and OpenSSL, asks for AES-256 first.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let connectors = identities
            .into_iter()
            .map(|(chain, key)| {
                let mut config = ClientConfig::builder_with_provider(provider.clone())
                    .with_protocol_versions(&[&rustls::version::TLS13])
                    .map_err(|e| format!("TLS 1.3: {e}"))?
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider.clone())))
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("client key: {e}"))?;
                // Tickets are kept per server name, eight at most: each connection takes one
                // and the server's NewSessionTicket messages refill them.
                config.resumption = if resume {
                    Resumption::in_memory_sessions(256)
                } else {
                    Resumption::disabled()
                };
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                Ok(TlsConnector::from(Arc::new(config)))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let name = ServerName::try_from(target.host.clone())
            .map_err(|e| format!("--host {}: {e}", target.host))?;
        Ok(Self {
            connectors,
            next: Cell::new(0),
            addr: target.addr,
            name,
            request: format!(
                "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: mtls-loadgen\r\n\r\n",
                target.path, target.host
            )
            .into_bytes(),
            timeout: Duration::from_secs_f64(target.timeout),
        })
    }

    async fn connect(&self) -> Result<TlsStream<TcpStream>, Fail> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| Fail::Connect(e.kind()))?;
        let _ = tcp.set_nodelay(true);
        let turn = self.next.get();
        self.next.set(turn.wrapping_add(1));
        self.connectors[turn % self.connectors.len()]
            .connect(self.name.clone(), tcp)
            .await
            .map_err(
                |e| match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    Some(tls) => Fail::Tls(tls_kind(tls)),
                    None => Fail::Handshake(e.kind()),
                },
            )
    }

    /// One request and its whole response on `stream`.
    async fn get<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        buf: &mut Vec<u8>,
    ) -> Result<(), Fail> {
        stream.write_all(&self.request).await.map_err(Fail::io)?;
        stream.flush().await.map_err(Fail::io)?;
        buf.clear();
        let head = loop {
            if let Some(end) = find(buf, b"\r\n\r\n") {
                break end + 4;
            }
            if buf.len() > 64 * 1024 {
                return Err(Fail::Parse);
            }
            read_more(stream, buf).await?;
        };
        let text = std::str::from_utf8(&buf[..head]).map_err(|_| Fail::Parse)?;
        let status: u16 = text
            .strip_prefix("HTTP/1.1 ")
            .and_then(|s| s.get(..3))
            .and_then(|s| s.parse().ok())
            .ok_or(Fail::Parse)?;
        let mut length = None;
        let mut chunked = false;
        for line in text.split("\r\n").skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            }
        }
        if let Some(length) = length {
            while buf.len() < head + length {
                read_more(stream, buf).await?;
            }
        } else if chunked {
            while !buf[head..].ends_with(b"0\r\n\r\n") {
                read_more(stream, buf).await?;
            }
        } else if status != 204 && status != 304 {
            return Err(Fail::Parse);
        }
        if status == 200 {
            Ok(())
        } else {
            Err(Fail::Status(status))
        }
    }
}

async fn read_more<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> Result<(), Fail> {
    buf.reserve(4096);
    match stream.read_buf(buf).await {
        Ok(0) => Err(Fail::Eof),
        Ok(_) => Ok(()),
        Err(e) => Err(Fail::io(e)),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn tls_kind(e: &rustls::Error) -> String {
    let text = format!("{e:?}");
    text.split(['(', ' ', '{'])
        .next()
        .unwrap_or("tls")
        .to_string()
        + &alert_suffix(e)
}

fn alert_suffix(e: &rustls::Error) -> String {
    match e {
        rustls::Error::AlertReceived(alert) => format!("({alert:?})"),
        _ => String::new(),
    }
}

/// Why one connection or request failed.
#[derive(Debug)]
enum Fail {
    Connect(std::io::ErrorKind),
    Handshake(std::io::ErrorKind),
    Tls(String),
    Io(std::io::ErrorKind),
    Eof,
    Parse,
    Status(u16),
    Timeout,
}

impl Fail {
    fn io(e: std::io::Error) -> Self {
        match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(tls) => Self::Tls(tls_kind(tls)),
            None => Self::Io(e.kind()),
        }
    }

    fn kind(&self) -> String {
        match self {
            Self::Connect(k) => format!("connect:{k:?}"),
            Self::Handshake(k) => format!("handshake_io:{k:?}"),
            Self::Tls(t) => format!("tls:{t}"),
            Self::Io(k) => format!("io:{k:?}"),
            Self::Eof => "eof_before_response".into(),
            Self::Parse => "bad_response".into(),
            Self::Status(s) => format!("status:{s}"),
            Self::Timeout => "timeout".into(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// /proc

fn ticks_per_second() -> f64 {
    // Cannot be zero on Linux; 100 everywhere in practice.
    rustix::param::clock_ticks_per_second().max(1) as f64
}

/// utime + stime of `pid` (all its threads), seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After "pid (comm)": state is field 3 of stat(5), utime 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / ticks_per_second())
}

fn cpu_sum(pids: &[u32]) -> Option<f64> {
    pids.iter().map(|&p| cpu_seconds(p)).sum()
}

fn self_cpu() -> f64 {
    cpu_seconds(std::process::id()).unwrap_or(0.0)
}

/// VmRSS of `pid`, KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn rss_sum(pids: &[u32]) -> Option<u64> {
    pids.iter().map(|&p| rss_kib(p)).sum()
}

// ---------------------------------------------------------------------------------------------
// run

#[derive(Default)]
struct Stats {
    ok: u64,
    handshakes: u64,
    /// Handshakes that resumed a session.
    resumed: u64,
    latencies_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
    errors_outside: u64,
    suite: Option<String>,
    group: Option<String>,
    alpn: Option<String>,
}

struct Shared {
    client: Client,
    measuring: Cell<bool>,
    stop: Cell<bool>,
    stats: RefCell<Stats>,
}

impl Shared {
    fn done(&self, started: Instant) {
        if self.measuring.get() {
            let mut stats = self.stats.borrow_mut();
            stats.ok += 1;
            let us = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
            stats.latencies_us.push(us);
        }
    }

    fn handshake(&self, stream: &TlsStream<TcpStream>) {
        let mut stats = self.stats.borrow_mut();
        if self.measuring.get() {
            stats.handshakes += 1;
            if stream.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                stats.resumed += 1;
            }
        }
        if stats.suite.is_none() {
            let conn = stream.get_ref().1;
            stats.suite = conn
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()));
            stats.group = conn
                .negotiated_key_exchange_group()
                .map(|g| format!("{:?}", g.name()));
            stats.alpn = conn
                .alpn_protocol()
                .map(|a| String::from_utf8_lossy(a).into_owned());
        }
    }

    fn failed(&self, fail: &Fail) {
        let mut stats = self.stats.borrow_mut();
        if self.measuring.get() {
            *stats.errors.entry(fail.kind()).or_default() += 1;
        } else {
            stats.errors_outside += 1;
        }
    }
}

async fn full_worker(shared: Rc<Shared>) {
    let mut buf = Vec::with_capacity(8192);
    while !shared.stop.get() {
        let started = Instant::now();
        let result = tokio::time::timeout(shared.client.timeout, async {
            let mut stream = shared.client.connect().await?;
            shared.handshake(&stream);
            shared.client.get(&mut stream, &mut buf).await?;
            // close_notify, then FIN; the server's answer to it is not awaited.
            let _ = stream.shutdown().await;
            Ok::<(), Fail>(())
        })
        .await;
        match result {
            Ok(Ok(())) => shared.done(started),
            Ok(Err(fail)) => shared.failed(&fail),
            Err(_) => shared.failed(&Fail::Timeout),
        }
    }
}

async fn keepalive_worker(shared: Rc<Shared>, requests: usize) {
    let mut buf = Vec::with_capacity(8192);
    while !shared.stop.get() {
        let connected = tokio::time::timeout(shared.client.timeout, shared.client.connect()).await;
        let mut stream = match connected {
            Ok(Ok(stream)) => stream,
            Ok(Err(fail)) => {
                shared.failed(&fail);
                continue;
            }
            Err(_) => {
                shared.failed(&Fail::Timeout);
                continue;
            }
        };
        shared.handshake(&stream);
        for _ in 0..requests {
            if shared.stop.get() {
                break;
            }
            let started = Instant::now();
            match tokio::time::timeout(
                shared.client.timeout,
                shared.client.get(&mut stream, &mut buf),
            )
            .await
            {
                Ok(Ok(())) => shared.done(started),
                Ok(Err(fail)) => {
                    shared.failed(&fail);
                    break;
                }
                Err(_) => {
                    shared.failed(&Fail::Timeout);
                    break;
                }
            }
        }
        let _ = stream.shutdown().await;
    }
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

async fn run(args: RunArgs) -> Result<(), String> {
    let target = args.target.clone();
    let shared = Rc::new(Shared {
        client: Client::new(&target, args.mode == Mode::Resumed)?,
        measuring: Cell::new(false),
        stop: Cell::new(false),
        stats: RefCell::new(Stats::default()),
    });
    let mut workers = Vec::new();
    for _ in 0..args.workers.max(1) {
        let shared = Rc::clone(&shared);
        workers.push(match args.mode {
            Mode::Full | Mode::Resumed => tokio::task::spawn_local(full_worker(shared)),
            Mode::Keepalive => tokio::task::spawn_local(keepalive_worker(shared, args.requests)),
        });
    }
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    let server_before = cpu_sum(&target.server_pid);
    let self_before = self_cpu();
    let started = Instant::now();
    shared.measuring.set(true);
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    shared.measuring.set(false);
    let elapsed = started.elapsed().as_secs_f64();
    let server_after = cpu_sum(&target.server_pid);
    let self_after = self_cpu();
    shared.stop.set(true);
    // Every worker stops after its current operation (bounded by the timeout).
    let deadline = Duration::from_secs_f64(target.timeout + 1.0);
    for worker in workers {
        if tokio::time::timeout(deadline, worker).await.is_err() {
            break;
        }
    }

    let mut stats = shared.stats.take();
    stats.latencies_us.sort_unstable();
    let ok = stats.ok;
    let server_cpu = match (server_before, server_after) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let per_op = |cpu: f64, n: u64| (n > 0).then(|| cpu * 1e6 / n as f64);
    let line = json!({
        "kind": "run",
        "case": target.case,
        "server": target.server,
        "round": target.round,
        "mode": match args.mode {
            Mode::Full => "full",
            Mode::Resumed => "resumed",
            Mode::Keepalive => "keepalive",
        },
        "addr": target.addr.to_string(),
        "workers": args.workers,
        "requests_per_connection": if args.mode == Mode::Keepalive { args.requests } else { 1 },
        "seconds": elapsed,
        "ok": ok,
        "rate": ok as f64 / elapsed,
        "handshakes": stats.handshakes,
        "handshakes_per_s": stats.handshakes as f64 / elapsed,
        "resumed": stats.resumed,
        "p50_us": percentile(&stats.latencies_us, 0.50),
        "p99_us": percentile(&stats.latencies_us, 0.99),
        "errors": stats.errors,
        "error_count": stats.errors.values().sum::<u64>(),
        "errors_outside_window": stats.errors_outside,
        "server_pids": target.server_pid,
        "server_cpu_s": server_cpu,
        "server_cpu_util": server_cpu.map(|c| c / elapsed),
        "server_cpu_us_per_op": server_cpu.and_then(|c| per_op(c, ok)),
        "client_cpu_util": (self_after - self_before) / elapsed,
        "suite": stats.suite,
        "kx_group": stats.group,
        "alpn": stats.alpn,
        "loadavg": load_average(),
    });
    println!("{line}");
    eprintln!(
        "   round {} {} {}: {:.0}/s, server CPU {} µs/op ({} of a core), p50 {} µs, p99 {} µs, loadgen {:.0} % busy, errors {:?}",
        target.round,
        target.case,
        target.server,
        ok as f64 / elapsed,
        line["server_cpu_us_per_op"]
            .as_f64()
            .map_or("?".into(), |v| format!("{v:.0}")),
        line["server_cpu_util"]
            .as_f64()
            .map_or("?".into(), |v| format!("{:.0} %", v * 100.0)),
        line["p50_us"],
        line["p99_us"],
        line["client_cpu_util"].as_f64().unwrap_or(0.0) * 100.0,
        stats.errors,
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// idle

async fn idle(args: IdleArgs) -> Result<(), String> {
    let target = args.target.clone();
    let client = Rc::new(Client::new(&target, false)?);
    let held: Rc<RefCell<Vec<TlsStream<TcpStream>>>> = Rc::default();
    let errors: Rc<RefCell<BTreeMap<String, u64>>> = Rc::default();

    // Warm the server's allocator and caches with connections that are then closed.
    open_many(&client, 256, args.concurrency, &held, &errors).await;
    for mut s in held.take() {
        let _ = s.shutdown().await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_sum(&target.server_pid);
    let warm_errors = errors.take();

    let opened_at = Instant::now();
    open_many(&client, args.connections, args.concurrency, &held, &errors).await;
    let open_seconds = opened_at.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    let after = rss_sum(&target.server_pid);
    let established = held.borrow().len();

    // Are they still open? One more request on a sample (after the RSS was read).
    let mut buf = Vec::new();
    let sample = established.min(100);
    let mut alive = 0;
    let mut streams = held.take();
    for s in streams.iter_mut().take(sample) {
        if matches!(
            tokio::time::timeout(Duration::from_secs(5), client.get(s, &mut buf)).await,
            Ok(Ok(()))
        ) {
            alive += 1;
        }
    }
    let per_conn = match (before, after) {
        (Some(b), Some(a)) if established > 0 => {
            Some((a as f64 - b as f64) * 1024.0 / established as f64)
        }
        _ => None,
    };
    let line = json!({
        "kind": "idle",
        "server": target.server,
        "case": target.case,
        "round": target.round,
        "connections_wanted": args.connections,
        "connections_established": established,
        "open_seconds": open_seconds,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "rss_bytes_per_connection": per_conn,
        "rss_kib_per_connection": per_conn.map(|b| b / 1024.0),
        "sample_alive_after": format!("{alive}/{sample}"),
        "errors": *errors.borrow(),
        "warmup_errors": warm_errors,
        "loadavg": load_average(),
    });
    println!("{line}");
    for mut s in streams {
        let _ = s.shutdown().await;
    }
    Ok(())
}

async fn open_many(
    client: &Rc<Client>,
    count: usize,
    concurrency: usize,
    held: &Rc<RefCell<Vec<TlsStream<TcpStream>>>>,
    errors: &Rc<RefCell<BTreeMap<String, u64>>>,
) {
    let next = Rc::new(Cell::new(0usize));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, held, errors, next) = (
            Rc::clone(client),
            Rc::clone(held),
            Rc::clone(errors),
            Rc::clone(&next),
        );
        tasks.push(tokio::task::spawn_local(async move {
            let mut buf = Vec::new();
            loop {
                let i = next.get();
                if i >= count {
                    break;
                }
                next.set(i + 1);
                let result = tokio::time::timeout(client.timeout, async {
                    let mut stream = client.connect().await?;
                    client.get(&mut stream, &mut buf).await?;
                    Ok::<_, Fail>(stream)
                })
                .await;
                match result {
                    Ok(Ok(stream)) => held.borrow_mut().push(stream),
                    Ok(Err(fail)) => *errors.borrow_mut().entry(fail.kind()).or_default() += 1,
                    Err(_) => *errors.borrow_mut().entry("timeout".into()).or_default() += 1,
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

// ---------------------------------------------------------------------------------------------
// report

/// Medians and spreads of the `run` lines, per case and server.
struct Summary {
    n: usize,
    rate: (f64, f64, f64),
    cpu_us: Option<(f64, f64, f64)>,
    util: Option<f64>,
    client_util: f64,
    p50: f64,
    p99: f64,
    errors: u64,
    ok: u64,
}

fn median_min_max(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        f64::midpoint(values[n / 2 - 1], values[n / 2])
    };
    (
        median,
        values.first().copied().unwrap_or(f64::NAN),
        values.last().copied().unwrap_or(f64::NAN),
    )
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

fn summarize(runs: &[&Value]) -> Summary {
    let col = |key: &str| -> Vec<f64> { runs.iter().filter_map(|v| num(v, key)).collect() };
    let mut cpu = col("server_cpu_us_per_op");
    Summary {
        n: runs.len(),
        rate: median_min_max(&mut col("rate")),
        cpu_us: (!cpu.is_empty()).then(|| median_min_max(&mut cpu)),
        util: {
            let mut u = col("server_cpu_util");
            (!u.is_empty()).then(|| median_min_max(&mut u).0)
        },
        client_util: median_min_max(&mut col("client_cpu_util")).0,
        p50: median_min_max(&mut col("p50_us")).0,
        p99: median_min_max(&mut col("p99_us")).0,
        errors: runs
            .iter()
            .filter_map(|v| v.get("error_count").and_then(Value::as_u64))
            .sum(),
        ok: runs
            .iter()
            .filter_map(|v| v.get("ok").and_then(Value::as_u64))
            .sum(),
    }
}

/// Per-round ratios a/b of `key` (rounds where both ran), median and range.
fn paired(
    runs: &[Value],
    case: &str,
    a: &str,
    b: &str,
    key: &str,
    invert: bool,
) -> Option<(f64, f64, f64)> {
    let pick = |server: &str| -> BTreeMap<u64, f64> {
        runs.iter()
            .filter(|v| v["case"] == case && v["server"] == server)
            .filter_map(|v| Some((v["round"].as_u64()?, num(v, key)?)))
            .collect()
    };
    let (xa, xb) = (pick(a), pick(b));
    let mut ratios: Vec<f64> = xa
        .iter()
        .filter_map(|(round, va)| {
            let vb = xb.get(round)?;
            Some(if invert { vb / va } else { va / vb })
        })
        .collect();
    (!ratios.is_empty()).then(|| median_min_max(&mut ratios))
}

const SERVERS: [(&str, &str); 8] = [
    ("gateway", "mtls-gateway, `respond` route (fixed 200)"),
    ("gateway_proxy", "mtls-gateway → fixed upstream"),
    (
        "nginx_proxy",
        "nginx → fixed upstream (proxy_pass, upstream keepalive)",
    ),
    ("nginx_fixed", "nginx `return 200`"),
    (
        "haproxy_proxy",
        "HAProxy → fixed upstream (http-reuse always)",
    ),
    ("haproxy_fixed", "HAProxy `http-request return status 200`"),
    ("raw", "raw tokio-rustls + hyper, fixed 200"),
    (
        "raw_proxy",
        "raw tokio-rustls + hyper → fixed upstream (hyper-util client)",
    ),
];

const CASES: [(&str, &str); 5] = [
    ("full_crl", "full mTLS handshakes/s, CRLs loaded"),
    (
        "full_crl_distinct",
        "full mTLS handshakes/s, CRLs loaded, a distinct client leaf per connection",
    ),
    ("full_nocrl", "full mTLS handshakes/s, no CRL"),
    (
        "resumed",
        "resumed TLS 1.3 handshakes/s (tickets), CRLs loaded",
    ),
    (
        "keepalive",
        "keep-alive req/s (100 per connection), CRLs loaded",
    ),
];

fn report(files: &[PathBuf], note: &str) -> Result<(), String> {
    let mut lines = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        for line in text.lines().filter(|l| l.starts_with('{')) {
            lines.push(
                serde_json::from_str::<Value>(line)
                    .map_err(|e| format!("{}: {e}: {line}", file.display()))?,
            );
        }
    }
    let runs: Vec<Value> = lines
        .iter()
        .filter(|v| v["kind"] == "run")
        .cloned()
        .collect();
    let mut out = String::new();
    let rounds: BTreeSet<u64> = runs.iter().filter_map(|v| v["round"].as_u64()).collect();
    let loads: Vec<String> = runs
        .iter()
        .filter_map(|v| v["loadavg"].as_str().map(str::to_owned))
        .collect();
    let load1: Vec<f64> = loads
        .iter()
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect();
    let (lmed, lmin, lmax) = median_min_max(&mut load1.clone());
    let _ = writeln!(
        out,
        "{} runs in {} interleaved rounds; 1-min load average during the runs: median {lmed:.2} (min {lmin:.2}, max {lmax:.2}). {note}\n",
        runs.len(),
        rounds.len()
    );
    let _ = writeln!(
        out,
        "| case | server | rounds | **rate/s** median (min–max) | server CPU µs/op median (min–max) | ops per server CPU-s | server core busy | p50 / p99 latency µs | errors / ok | loadgen core busy |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut medians: BTreeMap<(String, String), (f64, f64, f64)> = BTreeMap::new();
    for (case, case_label) in CASES {
        for (server, server_label) in SERVERS {
            let sel: Vec<&Value> = runs
                .iter()
                .filter(|v| v["case"] == case && v["server"] == server)
                .collect();
            if sel.is_empty() {
                continue;
            }
            let s = summarize(&sel);
            medians.insert((case.into(), server.into()), s.rate);
            let cpu = s.cpu_us.map_or("–".into(), |(m, lo, hi)| {
                format!("{m:.0} ({lo:.0}–{hi:.0})")
            });
            let per_cpu_s = s.cpu_us.map_or("–".into(), |(m, _, _)| fmt_int(1e6 / m));
            let _ = writeln!(
                out,
                "| {case_label} | {server_label} | {} | **{}** ({}–{}) | {cpu} | {per_cpu_s} | {} | {:.0} / {:.0} | {} / {} | {:.0} % |",
                s.n,
                fmt_int(s.rate.0),
                fmt_int(s.rate.1),
                fmt_int(s.rate.2),
                s.util.map_or("–".into(), |u| format!("{:.0} %", u * 100.0)),
                s.p50,
                s.p99,
                s.errors,
                s.ok,
                s.client_util * 100.0,
            );
        }
    }

    // Resumed runs: how many of their handshakes did resume (the rest found no ticket).
    let shares: Vec<String> = SERVERS
        .iter()
        .filter_map(|(server, _)| {
            let (mut resumed, mut handshakes) = (0, 0);
            for v in runs
                .iter()
                .filter(|v| v["case"] == "resumed" && v["server"] == *server)
            {
                resumed += v["resumed"].as_u64().unwrap_or(0);
                handshakes += v["handshakes"].as_u64().unwrap_or(0);
            }
            (handshakes > 0).then(|| {
                format!(
                    "{server} {:.1} %",
                    resumed as f64 * 100.0 / handshakes as f64
                )
            })
        })
        .collect();
    if !shares.is_empty() {
        let _ = writeln!(
            out,
            "\nResumed handshakes among the handshakes of the resumed case: {}.",
            shares.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\nRatios: median of the per-round ratios (min–max over rounds). \"rate\" is what the targets name (requests or handshakes per second, one server core); \"per CPU-s\" divides out how much of core 0 the server actually got (1 / server CPU µs per op), which the other engineers' load on the machine does not bias.\n"
    );
    let _ = writeln!(
        out,
        "| case | ratio | target | rate ratio (min–max) | per CPU-s ratio (min–max) | met (rate / per CPU-s) |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---|");
    // The targets compare the gateway with raw rustls and nginx; HAProxy and the raw proxy are
    // references.
    let targets: [(&str, &str, &str, Option<f64>); 21] = [
        ("full_crl", "gateway", "raw", Some(1.25)),
        ("full_crl_distinct", "gateway", "raw", None),
        ("full_crl", "gateway", "nginx_fixed", Some(3.5)),
        ("full_crl", "gateway", "haproxy_fixed", None),
        ("full_crl", "gateway_proxy", "nginx_proxy", None),
        ("full_crl", "gateway_proxy", "haproxy_proxy", None),
        ("full_crl", "gateway_proxy", "raw_proxy", None),
        ("full_nocrl", "gateway", "raw", Some(0.97)),
        ("resumed", "gateway", "raw", None),
        ("resumed", "gateway", "nginx_fixed", None),
        ("resumed", "gateway", "haproxy_fixed", None),
        ("full_nocrl", "gateway", "nginx_fixed", None),
        ("full_nocrl", "gateway", "haproxy_fixed", None),
        ("keepalive", "gateway", "raw", Some(0.9)),
        ("keepalive", "gateway", "nginx_fixed", Some(2.0)),
        ("keepalive", "gateway", "haproxy_fixed", None),
        ("keepalive", "gateway_proxy", "nginx_proxy", Some(1.5)),
        ("keepalive", "gateway_proxy", "haproxy_proxy", None),
        ("keepalive", "gateway_proxy", "raw_proxy", None),
        ("full_crl", "gateway_proxy", "gateway", None),
        ("keepalive", "gateway_proxy", "gateway", None),
    ];
    for (case, a, b, target) in targets {
        let Some(rate) = paired(&runs, case, a, b, "rate", false) else {
            continue;
        };
        let cpu = paired(&runs, case, a, b, "server_cpu_us_per_op", true);
        let met = |r: f64| match target {
            Some(t) if r >= t => "yes",
            Some(_) => "**no**",
            None => "–",
        };
        let _ = writeln!(
            out,
            "| {case} | {a} / {b} | {} | **{:.2}** ({:.2}–{:.2}) | {} | {} / {} |",
            target.map_or("(reference)".into(), |t| format!("≥ {t}")),
            rate.0,
            rate.1,
            rate.2,
            cpu.map_or("–".into(), |(m, lo, hi)| format!(
                "**{m:.2}** ({lo:.2}–{hi:.2})"
            )),
            met(rate.0),
            cpu.map_or("–", |c| met(c.0)),
        );
    }

    let idles: Vec<&Value> = lines.iter().filter(|v| v["kind"] == "idle").collect();
    if !idles.is_empty() {
        let _ = writeln!(
            out,
            "\n| idle connections held | server | established | RSS before → after (KiB) | **RSS per idle connection** | still open (sample) | errors |"
        );
        let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---|");
        for v in idles {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} → {} | **{:.1} KiB** | {} | {} |",
                v["connections_wanted"],
                v["server"].as_str().unwrap_or("?"),
                v["connections_established"],
                v["rss_before_kib"],
                v["rss_after_kib"],
                num(v, "rss_kib_per_connection").unwrap_or(f64::NAN),
                v["sample_alive_after"].as_str().unwrap_or("?"),
                v["errors"],
            );
        }
    }
    print!("{out}");
    Ok(())
}

fn fmt_int(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let n = x.round() as i64;
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}
