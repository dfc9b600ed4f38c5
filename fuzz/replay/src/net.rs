//! The two branches of a PERMISSIVE listener, in memory: what the acceptor does with the first
//! bytes of a connection.
//!
//! `mtls_tower::Acceptor::accept` takes a `TcpStream`, and its handshake function is private,
//! so these targets rebuild the same path from public parts: the first-byte decision
//! (`0x16` → TLS), rustls' `Acceptor` reading the ClientHello, and a `ServerConfig` built as
//! `TlsSnapshot` builds one (explicit provider, TLS 1.2 + 1.3, ALPN `h2`/`http/1.1`, our
//! `PolicyVerifier`); or hyper's auto (HTTP/1 + HTTP/2) server with the `MtlsLayer` on a
//! plaintext `ConnectionInfo`, as `mtls_tower::serve` runs it.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use mtls_core::{CertificateChain, PrivateKey, ServerCredential};
use mtls_policy::Policy;
use mtls_tower::ConnectionInfo;
use mtls_tower::layer::MtlsLayer;
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tower::{Layer as _, ServiceExt as _};

/// The first byte of a TLS handshake record: the acceptor's whole TLS-or-plaintext decision.
pub const TLS_HANDSHAKE_RECORD: u8 = 0x16;

fn server_config() -> &'static Arc<ServerConfig> {
    static CONFIG: OnceLock<Arc<ServerConfig>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let provider = mtls_verify::crypto::default_provider();
        let leaf = crate::pki().server_for(&["api.example.com"]).issue();
        let chain = CertificateChain::from_bytes(leaf.chain_pem().as_bytes(), "chain")
            .expect("testkit chain loads");
        let key = PrivateKey::from_bytes(leaf.key_pem().as_bytes(), "key").expect("key loads");
        let credential = ServerCredential::new(chain, key).expect("credential");
        let key = mtls_verify::crypto::certified_key(&credential, &provider).expect("key loads");
        let verifier = Arc::clone(crate::verifier());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("provider supports TLS 1.2 and 1.3")
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(key)));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    })
}

/// Byte 0 is the TCP segment size (1 to 256); the rest is what the client sends. Starting with
/// `0x16` it goes to rustls' `Acceptor` segment by segment, then to a server connection with
/// our verifier until it fails or the input ends. Otherwise it is plaintext (see
/// [`plaintext_http`]).
pub fn client_hello(data: &[u8]) {
    let Some((&segment, mut rest)) = data.split_first() else {
        return;
    };
    let segment = usize::from(segment) + 1;
    if rest.first() != Some(&TLS_HANDSHAKE_RECORD) {
        return;
    }
    let mut sink = Vec::new();
    let mut acceptor = rustls::server::Acceptor::default();
    let accepted = loop {
        if rest.is_empty() {
            return;
        }
        let mut chunk = &rest[..segment.min(rest.len())];
        let before = chunk.len();
        if acceptor.read_tls(&mut chunk).is_err() {
            return;
        }
        let consumed = before - chunk.len();
        rest = &rest[consumed..];
        match acceptor.accept() {
            Ok(Some(accepted)) => break accepted,
            Ok(None) if consumed > 0 => continue,
            Ok(None) => return,
            Err((_, mut alert)) => {
                let _ = alert.write_all(&mut sink);
                return;
            }
        }
    };
    let hello = accepted.client_hello();
    let _ = hello.server_name().map(str::to_ascii_lowercase);
    let _ = hello.alpn().map(Iterator::count);
    let _ = (hello.signature_schemes().len(), hello.cipher_suites().len());
    let mut conn = match accepted.into_connection(Arc::clone(server_config())) {
        Ok(conn) => conn,
        Err((_, mut alert)) => {
            let _ = alert.write_all(&mut sink);
            return;
        }
    };
    while !rest.is_empty() {
        let mut chunk = &rest[..segment.min(rest.len())];
        let before = chunk.len();
        match conn.read_tls(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        rest = &rest[before - chunk.len()..];
        let failed = conn.process_new_packets().is_err();
        while conn.wants_write() {
            if conn.write_tls(&mut sink).is_err() {
                break;
            }
            sink.clear();
        }
        if failed {
            break;
        }
    }
    let _ = conn.peer_certificates().map(<[_]>::len);
}

/// The policy of [`plaintext_http`]: `/admin` only for one SPIFFE ID, on every host.
pub const PLAINTEXT_POLICY: &str = r#"
listeners:
  - name: mesh
    port: 8080
    peer_mode: permissive
    hosts:
      - hostnames: [api.example.com]
        routes:
          - path_prefix: /admin
            authorization: { principals: ["spiffe://example.org/ns/prod/sa/ops"] }
          - path_prefix: /
      - routes:
          - path_prefix: /admin
            authorization: { principals: ["spiffe://example.org/ns/prod/sa/ops"] }
          - path_prefix: /
"#;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// Bytes that do not start with `0x16`: PERMISSIVE serves them as plaintext HTTP/1 or HTTP/2
/// (prior knowledge), through the `MtlsLayer` with a policy that keeps `/admin` for one SPIFFE
/// ID. Asserted: a plaintext request never reaches the application under `/admin`.
pub fn plaintext_http(data: &[u8]) {
    if data.is_empty() || data[0] == TLS_HANDSHAKE_RECORD {
        return;
    }
    static POLICY: OnceLock<Policy> = OnceLock::new();
    let policy = POLICY
        .get_or_init(|| Policy::from_yaml(PLAINTEXT_POLICY).expect("the plaintext policy loads"));
    let app = tower::service_fn(|req: Request<Incoming>| async move {
        let path = req.uri().path();
        assert!(
            !path.starts_with("/admin"),
            "a plaintext request reached {path}"
        );
        Ok::<_, Infallible>(Response::new(String::from("ok")))
    });
    let service = MtlsLayer::new(policy.clone()).port(8080).layer(app);
    let info = ConnectionInfo::plaintext(
        Some(([127, 0, 0, 1], 50000).into()),
        Some(([127, 0, 0, 1], 8080).into()),
    );
    let service = tower::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(info.clone());
        service.clone().oneshot(req)
    });
    // A current-thread runtime is not re-entrant, and libFuzzer runs one input at a time.
    runtime().block_on(async {
        let (client, server) = tokio::io::duplex(1 << 16);
        let (mut from_server, mut to_server) = tokio::io::split(client);
        let builder = Builder::new(TokioExecutor::new());
        let conn = builder.serve_connection_with_upgrades(
            TokioIo::new(server),
            TowerToHyperService::new(service),
        );
        let write = async {
            let _ = to_server.write_all(data).await;
            let _ = to_server.shutdown().await;
        };
        let read = async {
            let mut sink = Vec::new();
            let _ = from_server.read_to_end(&mut sink).await;
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            tokio::join!(conn, write, read)
        })
        .await;
    });
}
