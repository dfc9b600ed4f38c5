//! The raw baseline of the loopback comparison (`benches/compare.sh`): a minimal
//! tokio-rustls + hyper server that requires a client certificate, checked by rustls' own
//! `WebPkiClientVerifier` (with the CRLs when `--crl` is given: rustls' defaults, whole chain,
//! unknown status denied), TLS 1.3 only, and answers every request with a fixed `200 ok`.
//!
//! `--plain` serves the same fixed answer over plaintext HTTP/1.1 (and h2c): the upstream both
//! proxies (the gateway and nginx) forward to.
//!
//! `--upstream http://HOST:PORT` forwards every request there instead (hyper-util's pooled
//! legacy client, as the gateway uses) and returns its answer: the "raw proxy" reference, the
//! least a tokio-rustls + hyper proxy costs, without policy, headers or routing.
//!
//! ```text
//! raw_server --listen 127.0.0.1:9443 --cert server.pem --key server.key --ca ca.pem [--crl crl.pem]
//! raw_server --listen 127.0.0.1:9444 --cert ... --upstream http://127.0.0.1:9080
//! raw_server --listen 127.0.0.1:9080 --plain
//! ```
//!
//! It prints `listening on ADDR` once bound and serves until killed. The runtime is chosen as
//! the gateway chooses its own, so that the comparison measures the code and not the
//! scheduler: one thread per CPU the process may run on (`--workers` overrides), and tokio's
//! single-threaded scheduler when that is one (pinned with `taskset -c 0`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use clap::Parser;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

#[derive(Parser, Debug)]
#[command(about = "Raw tokio-rustls + hyper mTLS server answering a fixed 200")]
struct Args {
    /// Address to listen on.
    #[arg(long)]
    listen: SocketAddr,
    /// Plaintext HTTP (the fixed-answer upstream); no TLS options then.
    #[arg(long)]
    plain: bool,
    /// Server chain (PEM, leaf first).
    #[arg(long, required_unless_present = "plain")]
    cert: Option<PathBuf>,
    /// Server key (PEM).
    #[arg(long, required_unless_present = "plain")]
    key: Option<PathBuf>,
    /// Trusted client roots (PEM).
    #[arg(long, required_unless_present = "plain")]
    ca: Option<PathBuf>,
    /// CRLs (PEM, any number of blocks); checked for the whole chain.
    #[arg(long)]
    crl: Option<PathBuf>,
    /// Forward every request to this plaintext upstream (`http://host:port`) instead.
    #[arg(long)]
    upstream: Option<String>,
    /// Runtime threads (default: the CPUs this process may run on; one means tokio's
    /// single-threaded scheduler, as in the gateway).
    #[arg(long)]
    workers: Option<std::num::NonZeroUsize>,
    /// tokio's multi-threaded scheduler even with one thread (`#[tokio::main]`'s default), to
    /// price the scheduler against the single-threaded one.
    #[arg(long)]
    multi_thread: bool,
}

type Body = BoxBody<Bytes, hyper::Error>;

/// The pooled client and the upstream's authority.
struct Upstream {
    client: Client<HttpConnector, Incoming>,
    authority: String,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let tls = if args.plain {
        None
    } else {
        Some(TlsAcceptor::from(Arc::new(server_config(&args)?)))
    };
    let upstream = args.upstream.as_ref().map(|url| {
        Arc::new(Upstream {
            client: Client::builder(TokioExecutor::new()).build_http(),
            authority: url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned(),
        })
    });
    let workers = args
        .workers
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, std::num::NonZeroUsize::get);
    let mut builder = if workers == 1 && !args.multi_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(workers);
        builder
    };
    builder
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?
        .block_on(serve(args.listen, tls, upstream))
}

fn server_config(args: &Args) -> Result<ServerConfig, String> {
    let (Some(cert), Some(key), Some(ca)) = (&args.cert, &args.key, &args.ca) else {
        return Err("--cert, --key and --ca are required without --plain".into());
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let mut roots = RootCertStore::empty();
    for root in CertificateDer::pem_file_iter(ca).map_err(|e| format!("{}: {e}", ca.display()))? {
        let root = root.map_err(|e| format!("{}: {e}", ca.display()))?;
        roots
            .add(root)
            .map_err(|e| format!("{}: {e}", ca.display()))?;
    }
    let crls = match &args.crl {
        Some(path) => CertificateRevocationListDer::pem_file_iter(path)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| format!("{}: {e}", path.display()))?,
        None => Vec::new(),
    };
    // rustls' provider as it ships: the baseline is rustls unchanged.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .with_crls(crls)
        .build()
        .map_err(|e| format!("client verifier: {e}"))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| format!("TLS 1.3: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("server certificate: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

async fn serve(
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    upstream: Option<Arc<Upstream>>,
) -> Result<(), String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("bind {addr}: {e}"))?;
    println!(
        "listening on {}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let tls = tls.clone();
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| answer(req, upstream.clone()));
            let builder = Builder::new(TokioExecutor::new());
            match tls {
                Some(tls) => {
                    let Ok(stream) = tls.accept(stream).await else {
                        return;
                    };
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
                None => {
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
            }
        });
    }
}

async fn answer(
    req: Request<Incoming>,
    upstream: Option<Arc<Upstream>>,
) -> Result<Response<Body>, Infallible> {
    let Some(upstream) = upstream else {
        return Ok(fixed());
    };
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", hyper::http::uri::PathAndQuery::as_str);
    let Ok(uri) = format!("http://{}{path}", upstream.authority).parse() else {
        return Ok(status(hyper::StatusCode::BAD_REQUEST));
    };
    parts.uri = uri;
    // A client speaking h2 to us still gets HTTP/1.1 upstream.
    parts.version = hyper::Version::HTTP_11;
    match upstream
        .client
        .request(Request::from_parts(parts, body))
        .await
    {
        Ok(response) => Ok(response.map(BodyExt::boxed)),
        Err(_) => Ok(status(hyper::StatusCode::BAD_GATEWAY)),
    }
}

fn status(code: hyper::StatusCode) -> Response<Body> {
    let mut response = fixed();
    *response.status_mut() = code;
    response
}

fn fixed() -> Response<Body> {
    let body = Full::new(Bytes::from_static(b"ok\n"))
        .map_err(|never| match never {})
        .boxed();
    let mut response = Response::new(body);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    response
}
