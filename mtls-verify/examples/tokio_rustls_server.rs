//! The verifier alone, in your own tokio-rustls server: client certificates must chain to a CA
//! bundle and must not be revoked by its CRL (checked in the handshake), and must carry a SPIFFE
//! ID of one trust domain (an allow-list checked on the verified identity, 403 otherwise). Each
//! connection is told who it is.
//!
//! ```text
//! cargo run -p mtls-verify --example tokio_rustls_server -- \
//!     127.0.0.1:8443 server.pem server.key clients-ca.pem clients.crl example.org
//! curl --cacert server-ca.pem --cert client.pem --key client.key https://localhost:8443/
//! ```

use std::sync::Arc;

use mtls_core::{CertificateChain, PrivateKey};
use mtls_policy::{
    ClientCertMode, CrlOptions, IdentityMatchSpec, IdentityMatcher, IdentityRule, PeerVerification,
    SpiffeMatch, TrustDomain, TrustSource,
};
use mtls_verify::{LoadedTrustDomain, PolicyVerifier};
use tokio::io::AsyncWriteExt as _;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, cert, key, ca, crl, spiffe_domain] = args.as_slice() else {
        return Err("usage: LISTEN CERT KEY CLIENT_CA CLIENT_CRL SPIFFE_TRUST_DOMAIN".into());
    };
    let provider = mtls_verify::crypto::default_provider();

    // One trust domain: the CA bundle and its CRL (signatures checked once, here).
    let mut clients = TrustDomain::new("clients", TrustSource::File(ca.into()));
    clients.crl = Some(CrlOptions::new(vec![TrustSource::File(crl.into())]));
    // Who may come in: any SPIFFE ID of one trust domain.
    let mut spec = IdentityMatchSpec::default();
    spec.rules = vec![IdentityRule::Spiffe(SpiffeMatch::new(spiffe_domain, None))];
    let allowed = Arc::new(IdentityMatcher::new(&spec)?);
    let verifier = Arc::new(
        PolicyVerifier::builder(Arc::clone(&provider))
            .trust_domain(LoadedTrustDomain::load(&clients, &provider)?)
            .mode(ClientCertMode::Required)
            .build()?,
    );

    let chain = CertificateChain::from_file(cert)?;
    let key = PrivateKey::from_file(key)?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier.clone())
        .with_single_cert(chain.into_vec(), key.der().clone_key())?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind(listen.as_str()).await?;
    println!("listening on {}", listener.local_addr()?);

    loop {
        let (tcp, remote) = listener.accept().await?;
        let (acceptor, verifier, allowed) = (
            acceptor.clone(),
            Arc::clone(&verifier),
            Arc::clone(&allowed),
        );
        tokio::spawn(async move {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                // Refused in the handshake: the client got the alert.
                return;
            };
            // What the verifier decided for this chain, then the allow-list on who it is.
            let presented = tls.get_ref().1.peer_certificates().unwrap_or_default();
            let identity = match (verifier.outcome_for_chain(presented), presented.first()) {
                (PeerVerification::Verified { .. }, Some(leaf)) => {
                    mtls_core::PeerIdentity::from_der(leaf).ok()
                }
                _ => None,
            };
            let (status, body) = match identity {
                Some(id) if allowed.matches(&id) => ("200 OK", format!("hello, {id}\n")),
                Some(id) => ("403 Forbidden", format!("{id} is not allowed here\n")),
                None => ("403 Forbidden", "no verified identity\n".to_string()),
            };
            println!("{remote}: {status}: {body}");
            let answer = format!(
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tls.write_all(answer.as_bytes()).await;
            let _ = tls.shutdown().await;
        });
    }
}
