//! What an accepted connection carries: who the peer is and how it was verified.

use std::net::SocketAddr;
use std::sync::Arc;

use mtls_core::PeerIdentity;
use mtls_policy::PeerVerification;
use rustls_pki_types::CertificateDer;

/// Everything the acceptor learned about one connection: transport, TLS parameters, the peer's
/// certificate chain and identity, and the outcome of its verification.
///
/// Cheap to clone (one reference count); the [`MtlsLayer`](crate::MtlsLayer) inserts it into
/// every request's extensions.
#[derive(Clone, Debug)]
pub struct ConnectionInfo(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    remote_addr: Option<SocketAddr>,
    local_addr: Option<SocketAddr>,
    tls: Option<TlsInfo>,
    peer: Option<PeerIdentity>,
    chain: Vec<CertificateDer<'static>>,
    verification: PeerVerification,
}

/// The negotiated TLS parameters of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The server name the client asked for (SNI), if any.
    pub sni: Option<String>,
    /// The negotiated ALPN protocol (`h2`, `http/1.1`), if any.
    pub alpn: Option<Vec<u8>>,
    /// The protocol version, e.g. `TLSv1_3`.
    pub version: &'static str,
    /// The cipher suite, e.g. `TLS13_AES_128_GCM_SHA256`.
    pub cipher_suite: &'static str,
}

impl TlsInfo {
    /// TLS parameters without ALPN (for custom acceptors and tests; `TlsInfo` is
    /// `#[non_exhaustive]`).
    pub fn new(sni: Option<String>, version: &'static str, cipher_suite: &'static str) -> Self {
        Self {
            sni,
            alpn: None,
            version,
            cipher_suite,
        }
    }
}

impl ConnectionInfo {
    /// A plaintext connection (PERMISSIVE or DISABLE ports).
    pub fn plaintext(remote_addr: Option<SocketAddr>, local_addr: Option<SocketAddr>) -> Self {
        Self(Arc::new(Inner {
            remote_addr,
            local_addr,
            tls: None,
            peer: None,
            chain: Vec::new(),
            verification: PeerVerification::Plaintext,
        }))
    }

    /// A TLS connection. `chain` is the peer's chain as presented (leaf first); `peer` is the
    /// identity read from its leaf.
    pub fn tls(
        remote_addr: Option<SocketAddr>,
        local_addr: Option<SocketAddr>,
        tls: TlsInfo,
        chain: Vec<CertificateDer<'static>>,
        peer: Option<PeerIdentity>,
        verification: PeerVerification,
    ) -> Self {
        Self(Arc::new(Inner {
            remote_addr,
            local_addr,
            tls: Some(tls),
            peer,
            chain,
            verification,
        }))
    }

    /// The client's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.0.remote_addr
    }

    /// The address the connection was accepted on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.0.local_addr
    }

    /// Whether the connection is plaintext.
    pub fn is_plaintext(&self) -> bool {
        self.0.tls.is_none()
    }

    /// The TLS parameters; `None` for plaintext.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.0.tls.as_ref()
    }

    /// The SNI the client sent, if any.
    pub fn sni(&self) -> Option<&str> {
        self.0.tls.as_ref().and_then(|t| t.sni.as_deref())
    }

    /// The peer's identity, read from its leaf certificate, when it presented one.
    ///
    /// Check [`verification`](Self::verification) before trusting it: under `AcceptAny` (or with
    /// a deferred failure) an identity may be present although its chain did not verify.
    pub fn peer(&self) -> Option<&PeerIdentity> {
        self.0.peer.as_ref()
    }

    /// The peer's certificate chain as presented, leaf first (empty without a certificate).
    pub fn peer_chain(&self) -> &[CertificateDer<'static>] {
        &self.0.chain
    }

    /// How the peer's certificate was verified.
    pub fn verification(&self) -> &PeerVerification {
        &self.0.verification
    }
}
