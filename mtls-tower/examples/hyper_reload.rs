//! A plain hyper service (no tower layer) behind the mtls-tower acceptor: it reads each
//! connection's peer identity from [`ConnectionInfo`], and the trust store is reloaded from
//! your own code, here whenever the CA bundle or CRL file changes. A bundle that does not load
//! leaves the current one serving (and is counted as a failed reload).
//!
//! ```text
//! cargo run -p mtls-tower --example hyper_reload -- \
//!     127.0.0.1:8443 localhost server.pem server.key clients-ca.pem clients.crl
//! curl --cacert server-ca.pem --cert client.pem --key client.key https://localhost:8443/
//! ```

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use mtls_core::{CaBundle, CrlSet, ServerCredential};
use mtls_tower::tls::{DomainOptions, LoadedTrustDomain, PolicyVerifier};
use mtls_tower::{Acceptor, ConnectionInfo, HostTls, TlsSnapshot};

/// Where the configuration comes from.
struct Files {
    host: String,
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
    crl: PathBuf,
}

impl Files {
    /// A snapshot from the files as they are now.
    fn snapshot(&self) -> Result<TlsSnapshot, Box<dyn std::error::Error>> {
        let provider = mtls_verify::crypto::default_provider();
        let crls = CrlSet::from_file(&self.crl)?;
        let clients = LoadedTrustDomain::new(
            "clients",
            CaBundle::from_file(&self.ca)?,
            Some(&crls),
            DomainOptions::default(),
            &provider,
        )?;
        let verifier = PolicyVerifier::builder(Arc::clone(&provider))
            .trust_domain(clients)
            .build()?;
        let credential = ServerCredential::from_files(&self.cert, &self.key)?;
        let key = mtls_verify::crypto::certified_key(&credential, &provider)?;
        Ok(TlsSnapshot::builder(provider)
            .host(HostTls::new([self.host.as_str()], key).client_verifier(Arc::new(verifier)))
            .build()?)
    }

    /// The newest modification time of the trust files.
    fn modified(&self) -> Option<SystemTime> {
        [&self.ca, &self.crl]
            .iter()
            .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .max()
    }
}

/// The service: who the peer is, from the connection the request came on.
async fn hello(
    info: ConnectionInfo,
    _req: Request<Incoming>,
) -> Result<Response<String>, Infallible> {
    let who = match info.peer() {
        Some(peer) => peer.to_string(),
        None => "anonymous".to_string(),
    };
    Ok(Response::new(format!("hello, {who}\n")))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, host, cert, key, ca, crl] = args.as_slice() else {
        return Err("usage: LISTEN HOST CERT KEY CLIENT_CA CLIENT_CRL".into());
    };
    let files = Arc::new(Files {
        host: host.clone(),
        cert: cert.into(),
        key: key.into(),
        ca: ca.into(),
        crl: crl.into(),
    });
    let acceptor = Acceptor::new(files.snapshot()?);

    // Reload when the CA bundle or the CRL changes; a bad file keeps the old snapshot.
    let (watcher, watched) = (acceptor.clone(), Arc::clone(&files));
    tokio::spawn(async move {
        let mut seen = watched.modified();
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let now = watched.modified();
            if now != seen {
                seen = now;
                if let Err(e) = watcher.try_reload(|| watched.snapshot()) {
                    eprintln!("reload failed, the previous trust store keeps serving: {e}");
                }
            }
        }
    });

    let listener = tokio::net::TcpListener::bind(listen.as_str()).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok((io, info)) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req| hello(info.clone(), req));
            let _ = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(io), service)
                .await;
        });
    }
}
