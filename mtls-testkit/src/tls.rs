//! rustls configs for a [`Pki`] and an in-memory handshake (no sockets).

use std::fmt;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{ClientConfig, ClientConnection, ConnectionCommon, ServerConfig, ServerConnection};
use rustls_pki_types::{CertificateRevocationListDer, ServerName};

use crate::leaf::Leaf;
use crate::pki::Pki;

/// The aws-lc-rs crypto provider, explicitly: never rely on a process-default provider
/// (`ServerConfig::builder()` panics when two providers are linked).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A client config trusting `pki`'s root, presenting `identity` (chain and key) if given.
///
/// # Panics
/// If rustls rejects the key.
pub fn client_config(pki: &Pki, identity: Option<&Leaf>) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("mtls-testkit: aws-lc-rs supports the default protocol versions")
        .with_root_certificates(pki.root_store());
    let config = match identity {
        Some(leaf) => builder
            .with_client_auth_cert(leaf.chain_der(), leaf.key_der())
            .expect("mtls-testkit: rustls rejected the client key"),
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// A server config presenting `server` (chain and key) and checking clients with `verifier`.
///
/// # Panics
/// If rustls rejects the key.
pub fn server_config(server: &Leaf, verifier: Arc<dyn ClientCertVerifier>) -> Arc<ServerConfig> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("mtls-testkit: aws-lc-rs supports the default protocol versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(server.chain_der(), server.key_der())
        .expect("mtls-testkit: rustls rejected the server key");
    Arc::new(config)
}

/// rustls' own `WebPkiClientVerifier` trusting `pki`'s root and checking `crls` (pass
/// `&[]` for none; otherwise give every CRL of the chain, see [`Crls::ders`]).
///
/// Client certificates are required. For other options, use
/// `WebPkiClientVerifier::builder_with_provider(Arc::new(pki.root_store()), provider())`.
///
/// [`Crls::ders`]: crate::Crls::ders
///
/// # Panics
/// If rustls rejects the CRLs.
pub fn webpki_verifier(
    pki: &Pki,
    crls: &[CertificateRevocationListDer<'static>],
) -> Arc<dyn ClientCertVerifier> {
    WebPkiClientVerifier::builder_with_provider(Arc::new(pki.root_store()), provider())
        .with_crls(crls.iter().cloned())
        .build()
        .expect("mtls-testkit: building the WebPKI client verifier failed")
}

/// Which end of a handshake failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The `ClientConnection`.
    Client,
    /// The `ServerConnection`.
    Server,
}

/// A failed in-memory handshake: who failed first, why, and what the other end then saw.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HandshakeError {
    /// The side whose `process_new_packets` failed first.
    pub side: Side,
    /// Its error, e.g. `InvalidCertificate(Revoked)` on the server for a revoked client.
    pub error: rustls::Error,
    /// The error of the other side after the failing side's alert reached it, e.g.
    /// `AlertReceived(CertificateRequired)` on the client; `None` if it did not fail.
    /// (Boxed to keep `Result<_, HandshakeError>` small; use `.as_deref()` to match.)
    pub peer_error: Option<Box<rustls::Error>>,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} failed the handshake: {}", self.side, self.error)?;
        if let Some(peer) = &self.peer_error {
            write!(f, " (peer then saw: {peer})")?;
        }
        Ok(())
    }
}

impl std::error::Error for HandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<HandshakeError> for rustls::Error {
    fn from(e: HandshakeError) -> Self {
        e.error
    }
}

/// Runs a full handshake between `client` and `server` in memory, connecting to
/// `server_name` (the SNI and the name checked against the server certificate: a DNS name
/// or an IP address).
///
/// On success both connections are returned, handshake complete, for inspecting
/// `peer_certificates()`, the negotiated version, etc.
///
/// # Errors
/// The first side to fail, its error, and the error of the other side after the alert.
///
/// # Panics
/// If `server_name` is neither a DNS name nor an IP address, or if the handshake stalls.
pub fn handshake(
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    server_name: &str,
) -> Result<(ClientConnection, ServerConnection), HandshakeError> {
    let name = ServerName::try_from(server_name.to_owned())
        .unwrap_or_else(|e| panic!("mtls-testkit: bad server name {server_name:?}: {e}"));
    let mut client = ClientConnection::new(client, name).map_err(|error| HandshakeError {
        side: Side::Client,
        error,
        peer_error: None,
    })?;
    let mut server = ServerConnection::new(server).map_err(|error| HandshakeError {
        side: Side::Server,
        error,
        peer_error: None,
    })?;

    for _ in 0..32 {
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok((client, server));
        }
        if let Err(error) = transfer(&mut *client, &mut *server) {
            return Err(failed(Side::Server, error, &mut *server, &mut *client));
        }
        if let Err(error) = transfer(&mut *server, &mut *client) {
            return Err(failed(Side::Client, error, &mut *client, &mut *server));
        }
    }
    panic!("mtls-testkit: the in-memory handshake made no progress");
}

/// Moves all pending TLS bytes from `from` to `to` and lets `to` process them.
fn transfer<A, B>(
    from: &mut ConnectionCommon<A>,
    to: &mut ConnectionCommon<B>,
) -> Result<(), rustls::Error> {
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf)
            .expect("mtls-testkit: writing to a Vec cannot fail");
    }
    let mut rd = buf.as_slice();
    while !rd.is_empty() {
        to.read_tls(&mut rd)
            .expect("mtls-testkit: reading from a slice cannot fail");
        to.process_new_packets()?;
    }
    Ok(())
}

/// Builds the error and lets the failed side's alert reach its peer.
fn failed<A, B>(
    side: Side,
    error: rustls::Error,
    failed: &mut ConnectionCommon<A>,
    peer: &mut ConnectionCommon<B>,
) -> HandshakeError {
    HandshakeError {
        side,
        error,
        peer_error: transfer(failed, peer).err().map(Box::new),
    }
}
