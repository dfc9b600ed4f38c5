//! What an accepted connection carries: who the peer is and how it was verified; and what may
//! end it later: a reload that revokes its peer's certificate ([`RevocationWatch`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use metrics::Counter;
use mtls_core::PeerIdentity;
use mtls_policy::{PeerVerification, VerifyError};
use mtls_verify::ocsp::{OcspPending, OcspSettled};
use rustls_pki_types::CertificateDer;
use tokio::sync::watch;

use crate::tls::TlsSnapshot;

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
    /// How the host's candidate trust (shadow trust) judged the same chain, when it has one.
    candidate: Option<PeerVerification>,
    /// The acceptor's configuration generation the handshake used (0 when unknown).
    generation: u64,
    /// Under OCSP `hard` mode, the leaf's status the connection's requests wait for.
    ocsp: Option<OcspWait>,
    /// The XFCC value of this connection's peer, as the first layer to forward it formatted
    /// it (see [`XfccMemo`](crate::layer::forward::XfccMemo)).
    #[cfg(feature = "layer")]
    xfcc: OnceLock<CachedXfcc>,
}

/// The OCSP status a connection of a `hard` trust domain waits for, and what it settled on
/// for this connection (a wait that timed out settles the connection as not fetched).
#[derive(Debug)]
pub(crate) struct OcspWait {
    /// Awaited by the layer; without it nothing waits.
    #[cfg_attr(not(feature = "layer"), allow(dead_code))]
    pub(crate) pending: OcspPending,
    pub(crate) settled: OnceLock<OcspSettled>,
}

/// An XFCC value kept with the connection it describes: which memo (which layer
/// configuration) formatted it, for which certificate.
#[cfg(feature = "layer")]
#[derive(Debug)]
pub(crate) struct CachedXfcc {
    pub(crate) memo: u64,
    pub(crate) cert_sha256: [u8; 32],
    pub(crate) value: http::HeaderValue,
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
            candidate: None,
            generation: 0,
            ocsp: None,
            #[cfg(feature = "layer")]
            xfcc: OnceLock::new(),
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
            candidate: None,
            generation: 0,
            ocsp: None,
            #[cfg(feature = "layer")]
            xfcc: OnceLock::new(),
        }))
    }

    /// Records how the host's candidate trust judged the peer's chain (shadow trust); only
    /// before the info is shared.
    pub(crate) fn with_candidate(mut self, candidate: PeerVerification) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.candidate = Some(candidate);
        }
        self
    }

    /// Records the configuration generation the handshake used; only before the info is shared.
    pub(crate) fn with_generation(mut self, generation: u64) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.generation = generation;
        }
        self
    }

    /// Records the OCSP status the connection's requests wait for (`hard` mode); only before
    /// the info is shared.
    pub(crate) fn with_ocsp_pending(mut self, pending: OcspPending) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.ocsp = Some(OcspWait {
                pending,
                settled: OnceLock::new(),
            });
        }
        self
    }

    /// The OCSP status the connection waits for, under a `hard` trust domain.
    #[cfg(feature = "layer")]
    pub(crate) fn ocsp_wait(&self) -> Option<&OcspWait> {
        self.0.ocsp.as_ref()
    }

    /// Under OCSP `hard` mode, the leaf's status as this connection settled on it: `None`
    /// outside `hard` mode or before its first request settled it; `Some(None)` when no
    /// status came (failed or slower than the trust domain's `ocsp.timeout`).
    pub fn ocsp_settled(&self) -> Option<OcspSettled> {
        self.0.ocsp.as_ref()?.settled.get().copied()
    }

    /// Where a layer keeps the XFCC value of this connection's peer.
    #[cfg(feature = "layer")]
    pub(crate) fn xfcc_slot(&self) -> &OnceLock<CachedXfcc> {
        &self.0.xfcc
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

    /// The peer's identity, read from its leaf certificate, when it presented one, with the
    /// certificate policies valid for the path its host's verifier built
    /// ([`PeerIdentity::certificate_policies`]; none when the chain did not verify).
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

    /// How the host's candidate trust ([`mtls_policy::shadow`]) judged the same certificate;
    /// `None` when the host has no candidate. Never enforced: the layer decides the candidate
    /// beside the active trust and reports where they disagree.
    pub fn candidate_verification(&self) -> Option<&PeerVerification> {
        self.0.candidate.as_ref()
    }
}

/// A configuration the acceptor installed: its snapshot and generation, and the verdicts on the
/// open connections already rechecked against it (shared by the connections of one client).
pub(crate) struct Installed {
    pub(crate) generation: u64,
    pub(crate) snapshot: Arc<TlsSnapshot>,
    rechecked: Mutex<HashMap<RecheckKey, Option<VerifyError>>>,
}

/// The SNI and the chain a connection presented: what the verdict of a recheck depends on.
type RecheckKey = (Option<String>, Vec<CertificateDer<'static>>);

impl Installed {
    /// Verdicts kept per configuration; beyond that, chains are verified again per connection.
    const RECHECKED_CAPACITY: usize = 1024;

    pub(crate) fn new(generation: u64, snapshot: Arc<TlsSnapshot>) -> Self {
        Self {
            generation,
            snapshot,
            rechecked: Mutex::new(HashMap::new()),
        }
    }

    /// Why this configuration revokes the chain `info`'s peer presented, if it does: the
    /// verifier of the host its SNI selects reports the chain revoked.
    fn revokes(&self, info: &ConnectionInfo) -> Option<VerifyError> {
        let key = (info.sni().map(str::to_owned), info.peer_chain().to_vec());
        if let Some(verdict) = self
            .rechecked
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return verdict;
        }
        let verdict = match self.snapshot.reverify(key.0.as_deref(), &key.1) {
            Some(PeerVerification::Failed {
                error: error @ VerifyError::Revoked { .. },
                ..
            }) => Some(error),
            _ => None,
        };
        if let Ok(mut map) = self.rechecked.lock()
            && map.len() < Self::RECHECKED_CAPACITY
        {
            map.insert(key, verdict.clone());
        }
        verdict
    }
}

/// Tells when a reload revokes the certificate chain of one open connection: made by
/// [`Acceptor::watch_revocation`](crate::Acceptor::watch_revocation) when the acceptor
/// [closes revoked connections](crate::Acceptor::close_revoked_connections).
///
/// Waiting costs nothing while no reload happens (no timer, no polling); at each reload, the
/// chain is verified against the new configuration, once per distinct chain and host.
/// [`serve`](crate::serve) uses it for every connection; a custom serve loop does the same:
///
/// ```no_run
/// # async fn run(acceptor: mtls_tower::Acceptor, tcp: tokio::net::TcpStream) -> Result<(), mtls_tower::AcceptError> {
/// let (io, info) = acceptor.accept(tcp).await?;
/// let mut revocation = acceptor.watch_revocation(&info);
/// let serve_connection = async move { drop(io) /* hyper serves `io` here */ };
/// tokio::select! {
///     () = serve_connection => {}
///     reason = async {
///         match revocation.as_mut() {
///             Some(watch) => watch.revoked().await,
///             None => std::future::pending().await,
///         }
///     } => {
///         // Start a graceful shutdown of the connection, bounded by a deadline.
///         tracing::info!(%reason, "peer certificate revoked by a reload");
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RevocationWatch {
    installed: watch::Receiver<Arc<Installed>>,
    info: ConnectionInfo,
    /// The generation the chain was last judged against.
    checked: u64,
    closed: Counter,
}

impl RevocationWatch {
    pub(crate) fn new(
        installed: watch::Receiver<Arc<Installed>>,
        info: ConnectionInfo,
        closed: Counter,
    ) -> Self {
        Self {
            checked: info.0.generation,
            installed,
            info,
            closed,
        }
    }

    /// Waits until a configuration installed after the connection's handshake revokes its
    /// peer's chain, and returns why (a [`VerifyError::Revoked`]). Counts the connection in
    /// `mtls_connections_closed_revoked_total`: the caller is expected to close it.
    ///
    /// Never completes while no reload revokes the chain, or once the acceptor is gone.
    /// Cancel-safe: a reload seen before a cancellation is not judged again.
    pub async fn revoked(&mut self) -> VerifyError {
        loop {
            let installed = Arc::clone(&self.installed.borrow_and_update());
            if installed.generation != self.checked {
                self.checked = installed.generation;
                if let Some(reason) = installed.revokes(&self.info) {
                    self.closed.increment(1);
                    return reason;
                }
            }
            if self.installed.changed().await.is_err() {
                // Every acceptor is gone: no configuration will come.
                std::future::pending::<()>().await;
            }
        }
    }

    /// The connection watched.
    pub fn connection(&self) -> &ConnectionInfo {
        &self.info
    }
}

impl std::fmt::Debug for Installed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Installed")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}
