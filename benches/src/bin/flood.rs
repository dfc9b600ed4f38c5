//! Fairness under a handshake flood, on loopback: what polite clients see while one source
//! floods the listener with full mTLS handshakes, with and without per-source limits.
//!
//! The server is mtls-tower's `Acceptor` with hyper on one thread (a single-threaded runtime),
//! requiring a client certificate checked by our verifier, answering `200`. Polite clients
//! bind 127.0.0.3, 127.0.0.4, … and each opens one connection (full handshake, one request)
//! every `--interval`; the flooder binds 127.0.0.2 and keeps `--flood` handshakes in flight.
//! Three phases of `--seconds` each, servers restarted between them:
//!
//! 1. `solo`: polite clients only (the baseline);
//! 2. `flood`: with the flooder, no per-source limits;
//! 3. `flood+limits`: with the flooder and `per_source` limits (`--limit-rate`,
//!    `--limit-burst`, `--limit-connections`).
//!
//! For each it prints, as JSON lines, the polite clients' success rate and p50 / p99 latency
//! (connect to response), and the flooder's completed handshakes per second.
//!
//! ```text
//! taskset -c 0,1 cargo run -p mtls-benches --release --bin flood -- --seconds 5
//! ```

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use mtls_benches::fixtures::{ClientPki, provider};
use mtls_policy::{ConnectionLimits, SourceLimits};
use mtls_testkit::{KeyAlg, Pki};
use mtls_tower::{Acceptor, HostTls, TlsSnapshot};
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpSocket;

#[derive(Parser, Debug)]
struct Args {
    /// Length of each phase.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Polite clients (each its own source address).
    #[arg(long, default_value_t = 4)]
    polite: u8,
    /// How often each polite client connects, in milliseconds.
    #[arg(long, default_value_t = 50)]
    interval: u64,
    /// The flooder's handshakes in flight.
    #[arg(long, default_value_t = 64)]
    flood: usize,
    /// `per_source.handshakes_per_second` in the limited phase.
    #[arg(long, default_value_t = 100)]
    limit_rate: u32,
    /// `per_source.handshake_burst` in the limited phase.
    #[arg(long, default_value_t = 100)]
    limit_burst: u32,
    /// `per_source.max_connections` in the limited phase.
    #[arg(long, default_value_t = 16)]
    limit_connections: u32,
}

/// One phase's server: its address, and a handle that stops it when dropped.
struct Server {
    addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Starts the server on its own thread and single-threaded runtime.
fn server(client: &ClientPki, limits: ConnectionLimits) -> Server {
    let pki = Pki::shared();
    let leaf = pki.default_server();
    let credential = mtls_core::ServerCredential::new(
        mtls_core::CertificateChain::from_der(leaf.chain_der()).expect("server chain"),
        leaf.key_der().into(),
    )
    .expect("server credential");
    let key = mtls_verify::crypto::certified_key(&credential, &provider()).expect("server key");
    let snapshot = TlsSnapshot::builder(provider())
        .host(HostTls::new(["localhost"], key).client_verifier(client.our_verifier(false)))
        .build()
        .expect("snapshot");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    listener.set_nonblocking(true).expect("non-blocking");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let acceptor = Acceptor::from_limits(snapshot, &limits);
            let mut stopped = stopped;
            loop {
                let stream = tokio::select! {
                    _ = &mut stopped => return,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => continue,
                    },
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // Refused at accept (the per-source limits) or a failed handshake: closed.
                    let Ok((io, _info)) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            http_body_util::Full::new(bytes::Bytes::from_static(b"ok")),
                        ))
                    });
                    let _ = Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(io), service)
                        .await;
                });
            }
        });
    });
    Server { addr, _stop: stop }
}

/// One connection from `source`: full handshake and one request; the latency when answered
/// 200.
async fn call(source: IpAddr, server: SocketAddr, config: Arc<ClientConfig>) -> Option<Duration> {
    let start = Instant::now();
    let attempt = async {
        let socket = TcpSocket::new_v4().ok()?;
        socket.bind(SocketAddr::new(source, 0)).ok()?;
        let tcp = socket.connect(server).await.ok()?;
        let name = rustls_pki_types::ServerName::try_from("localhost").ok()?;
        let mut tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .ok()?;
        tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut response = Vec::new();
        tls.read_to_end(&mut response).await.ok()?;
        response.starts_with(b"HTTP/1.1 200").then_some(())
    };
    tokio::time::timeout(Duration::from_secs(5), attempt)
        .await
        .ok()
        .flatten()
        .map(|()| start.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

async fn phase(name: &str, args: &Args, client: &ClientPki, flood: bool, limits: ConnectionLimits) {
    let server = server(client, limits);
    let config = client.client_config(false);
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let flooded = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    if flood {
        for _ in 0..args.flood {
            let (config, flooded) = (Arc::clone(&config), Arc::clone(&flooded));
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    if call(
                        IpAddr::from([127, 0, 0, 2]),
                        server.addr,
                        Arc::clone(&config),
                    )
                    .await
                    .is_some()
                    {
                        flooded.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Vec::new()
            }));
        }
    }
    for i in 0..args.polite {
        let config = Arc::clone(&config);
        let interval = Duration::from_millis(args.interval);
        tasks.push(tokio::spawn(async move {
            let source = IpAddr::from([127, 0, 0, 3 + i]);
            let mut results = Vec::new();
            let mut tick = tokio::time::interval(interval);
            while Instant::now() < deadline {
                tick.tick().await;
                results.push(call(source, server.addr, Arc::clone(&config)).await);
            }
            results
        }));
    }
    let mut polite: Vec<Option<Duration>> = Vec::new();
    for task in tasks {
        polite.extend(task.await.unwrap_or_default());
    }
    let attempts = polite.len();
    let mut ok: Vec<Duration> = polite.into_iter().flatten().collect();
    ok.sort_unstable();
    let line = serde_json::json!({
        "phase": name,
        "polite_attempts": attempts,
        "polite_success": if attempts == 0 { 0.0 } else { ok.len() as f64 / attempts as f64 },
        "polite_p50_ms": percentile(&ok, 0.5),
        "polite_p99_ms": percentile(&ok, 0.99),
        "flood_handshakes_per_s": flooded.load(Ordering::Relaxed) as f64 / args.seconds as f64,
    });
    println!("{line}");
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let client = ClientPki::new(KeyAlg::EcdsaP256);
    phase("solo", &args, &client, false, ConnectionLimits::default()).await;
    phase("flood", &args, &client, true, ConnectionLimits::default()).await;
    let mut per_source = SourceLimits::default();
    per_source.handshakes_per_second = Some(args.limit_rate);
    per_source.handshake_burst = Some(args.limit_burst);
    per_source.max_connections = Some(args.limit_connections);
    let mut limits = ConnectionLimits::default();
    limits.per_source = Some(per_source);
    phase("flood+limits", &args, &client, true, limits).await;
}
