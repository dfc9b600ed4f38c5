//! Per-host rustls server configurations of one listener, chosen by SNI, and the TLS handshake.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use mtls_core::PeerIdentity;
use mtls_policy::host::HostNameError;
use mtls_policy::{HostIndex, PeerMode, PeerVerification, normalize_host};
use mtls_verify::ChainOutcome;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

use crate::connection::{ConnectionInfo, TlsInfo};
use crate::tls::shadow::{RefusedHandshake, Shadowed};
use crate::tls::tickets::{TicketKeyError, TicketKeys, host_binding};

/// A client-certificate verifier that also tells, after the handshake, how the certificate the
/// peer presented was judged: verified by which trust domain, or failed and why (failures the
/// policy answers over HTTP let the handshake complete).
pub trait ReportingVerifier: ClientCertVerifier {
    /// The verification outcome of a completed handshake, given the chain the peer presented
    /// (leaf first).
    fn outcome_for(&self, chain: &[CertificateDer<'_>]) -> PeerVerification;

    /// [`outcome_for`](Self::outcome_for), with the certificate policies valid for the path
    /// the verifier built, which the connection's [`PeerIdentity`] then carries
    /// ([`PeerIdentity::certificate_policies`]). The default knows no policy:
    /// [`CertificatePolicies::None`](mtls_core::CertificatePolicies::None).
    fn chain_outcome_for(&self, chain: &[CertificateDer<'_>]) -> ChainOutcome {
        ChainOutcome::new(self.outcome_for(chain))
    }

    /// Feeds `feed` everything that decides whether a chain is accepted (anchors, CRLs,
    /// options, mode) and returns true; shared session tickets are bound to it
    /// ([`TicketKeys`]). The default feeds nothing and returns false: that host's tickets then
    /// resume on its own snapshot only.
    fn trust_state(&self, feed: &mut dyn FnMut(&[u8])) -> bool {
        let _ = feed;
        false
    }

    /// The trust domains it verifies with, for the CA and CRL expiry gauges
    /// ([`telemetry`](crate::telemetry)). The default has none.
    fn trust_domains(&self) -> &[Arc<mtls_verify::LoadedTrustDomain>] {
        &[]
    }
}

/// The oldest TLS version a listener accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MinTlsVersion {
    /// TLS 1.2 and 1.3 (the default).
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// One virtual host of a listener: the names it answers for, its certificate and its client
/// validation.
pub struct HostTls {
    names: Vec<String>,
    key: Arc<CertifiedKey>,
    verifier: Option<Arc<dyn ReportingVerifier>>,
    candidate: Option<(Arc<dyn ReportingVerifier>, RefusedHandshake)>,
}

impl HostTls {
    /// A host serving `key` (a certificate chain and its signing key, as
    /// [`mtls_verify::crypto::certified_key`] loads a [`ServerCredential`] with the snapshot's
    /// crypto provider) for the SNI names `names` (exact names or `*.parent` wildcards matching
    /// one label; empty for a host that only serves as the default).
    ///
    /// [`ServerCredential`]: mtls_core::ServerCredential
    pub fn new<I, S>(names: I, key: Arc<CertifiedKey>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            names: names.into_iter().map(Into::into).collect(),
            key,
            verifier: None,
            candidate: None,
        }
    }

    /// Requests and verifies client certificates with `verifier`. Without it, the host asks
    /// for no client certificate (Istio `SIMPLE`).
    pub fn client_verifier(mut self, verifier: Arc<dyn ReportingVerifier>) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// Shadow trust: `candidate` judges every chain a client presents, beside the
    /// [`client_verifier`](Self::client_verifier), and is never enforced. An accepted
    /// connection carries its judgement
    /// ([`ConnectionInfo::candidate_verification`]); a chain the active verifier refuses is
    /// handed to `refused` with both judgements. Without a client verifier it does nothing.
    pub fn candidate_verifier(
        mut self,
        candidate: Arc<dyn ReportingVerifier>,
        refused: RefusedHandshake,
    ) -> Self {
        self.candidate = Some((candidate, refused));
        self
    }
}

impl fmt::Debug for HostTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostTls")
            .field("names", &self.names)
            .field("client_auth", &self.verifier.is_some())
            .finish_non_exhaustive()
    }
}

/// What to do with a ClientHello whose SNI matches no host.
///
/// A ClientHello without SNI is served by the default host (one with no names, or the one
/// marked [`default_host`](TlsSnapshotBuilder::default_host)) whatever this says. Without a
/// default host, it gets the first host under [`UseDefault`](Self::UseDefault) and is refused
/// under [`Refuse`](Self::Refuse).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnknownSni {
    /// Serve the default host (without one, the first host added).
    #[default]
    UseDefault,
    /// Close the connection.
    Refuse,
}

impl From<mtls_policy::UnknownSni> for UnknownSni {
    fn from(value: mtls_policy::UnknownSni) -> Self {
        match value {
            mtls_policy::UnknownSni::Refuse => Self::Refuse,
            _ => Self::UseDefault,
        }
    }
}

struct BuiltHost {
    label: String,
    config: Arc<ServerConfig>,
    verifier: Option<Arc<dyn ReportingVerifier>>,
    /// The candidate verifier of shadow trust.
    candidate: Option<Arc<dyn ReportingVerifier>>,
}

/// Errors building a [`TlsSnapshot`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The listener has no host.
    #[error("listener has no host: at least one certificate is needed")]
    NoHosts,
    /// Two hosts claim the same name.
    #[error("host name {0:?} is configured twice")]
    DuplicateName(String),
    /// Two hosts have no names: only one can be the default.
    #[error("two hosts have no names: only one can be the default host")]
    TwoDefaults,
    /// A host name is not a DNS name or `*.` wildcard.
    #[error("host name {0:?} is not a DNS name or a `*.parent` wildcard")]
    BadName(String),
    /// Shared session tickets could not be set up.
    #[error("session tickets of host {host}: {source}")]
    Tickets {
        /// The host's first name, or `default`.
        host: String,
        /// The cause.
        source: TicketKeyError,
    },
    /// rustls refused the configuration (e.g. no protocol version the provider supports).
    #[error("TLS configuration for host {host}: {detail}")]
    Rustls {
        /// The host's first name, or `default`.
        host: String,
        /// rustls' message.
        detail: String,
    },
}

/// The TLS configuration of one listener at one moment: a `ServerConfig` per host, how SNI
/// selects among them, and the listener's peer mode. Immutable; a reload builds a new one.
///
/// Each snapshot has its own session caches (every `ServerConfig` is new), so no session
/// resumed after a reload skips the new CA bundle, CRLs or policy: rustls does not re-verify
/// client certificates on resumption. With shared [`TicketKeys`]
/// ([`session_tickets`](TlsSnapshotBuilder::session_tickets)), tickets resume across
/// snapshots and replicas only while the host's trust state (CA bundles, CRLs, options) is
/// the one that issued them.
pub struct TlsSnapshot {
    hosts: Vec<BuiltHost>,
    identities: IdentityCache,
    /// The names of the hosts: the one lookup the policy makes too.
    index: HostIndex,
    /// The host with no names, or the one marked default.
    default: Option<usize>,
    unknown_sni: UnknownSni,
    peer_mode: PeerMode,
    plaintext_answered: bool,
}

impl fmt::Debug for TlsSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSnapshot")
            .field(
                "hosts",
                &self.hosts.iter().map(|h| &h.label).collect::<Vec<_>>(),
            )
            .field("peer_mode", &self.peer_mode)
            .field("unknown_sni", &self.unknown_sni)
            .finish_non_exhaustive()
    }
}

/// Builds a [`TlsSnapshot`].
pub struct TlsSnapshotBuilder {
    provider: Arc<CryptoProvider>,
    hosts: Vec<HostTls>,
    default: Option<usize>,
    unknown_sni: UnknownSni,
    peer_mode: PeerMode,
    plaintext_answered: bool,
    min_version: MinTlsVersion,
    alpn: Vec<Vec<u8>>,
    server_cipher_order: bool,
    tickets: Option<TicketKeys>,
}

impl TlsSnapshot {
    /// Starts a snapshot using `provider` for every handshake.
    pub fn builder(provider: Arc<CryptoProvider>) -> TlsSnapshotBuilder {
        TlsSnapshotBuilder {
            provider,
            hosts: Vec::new(),
            default: None,
            unknown_sni: UnknownSni::default(),
            peer_mode: PeerMode::Strict,
            plaintext_answered: false,
            min_version: MinTlsVersion::default(),
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            server_cipher_order: true,
            tickets: None,
        }
    }

    /// The listener's peer mode: STRICT refuses plaintext; PERMISSIVE and DISABLE serve
    /// plaintext and TLS on the same port.
    pub fn peer_mode(&self) -> PeerMode {
        self.peer_mode
    }

    /// Whether plaintext connections are served.
    pub fn allows_plaintext(&self) -> bool {
        !matches!(self.peer_mode, PeerMode::Strict)
    }

    /// Whether plaintext connections are let in: served (PERMISSIVE, DISABLE), or answered by
    /// the layer on a STRICT listener ([`plaintext_answered`](TlsSnapshotBuilder::plaintext_answered)).
    pub fn admits_plaintext(&self) -> bool {
        self.allows_plaintext() || self.plaintext_answered
    }

    /// The host serving a ClientHello with this SNI: by [`HostIndex::find`] on the name in
    /// normal form, else as [`UnknownSni`] says.
    fn select(&self, sni: Option<&str>) -> Option<&BuiltHost> {
        let found = sni
            .and_then(|name| normalize_host(name).ok())
            .and_then(|name| self.index.find(&name));
        let index = match (found, sni, self.unknown_sni) {
            (Some(i), ..) => Some(i),
            (None, Some(_), UnknownSni::Refuse) => None,
            (None, None, UnknownSni::Refuse) => self.default,
            (None, _, _) => Some(self.default.unwrap_or(0)),
        };
        index.and_then(|i| self.hosts.get(i))
    }

    /// Sets the CA and CRL expiry gauges ([`telemetry`](crate::telemetry)) of the trust
    /// domains its hosts verify clients with.
    pub(crate) fn publish_trust(&self) {
        for host in &self.hosts {
            if let Some(verifier) = &host.verifier {
                crate::telemetry::publish_trust(verifier.trust_domains());
            }
        }
    }

    /// How this snapshot judges a chain an open connection presented (SNI `sni`, chain leaf
    /// first): the outcome of the client verifier of the host `sni` selects. `None` when no
    /// host is selected or the host does not verify client certificates. For rechecking open
    /// connections after a reload ([`Acceptor::close_revoked_connections`]).
    ///
    /// [`Acceptor::close_revoked_connections`]: crate::Acceptor::close_revoked_connections
    pub(crate) fn reverify(
        &self,
        sni: Option<&str>,
        chain: &[CertificateDer<'_>],
    ) -> Option<PeerVerification> {
        let verifier = self.select(sni)?.verifier.as_ref()?;
        Some(verifier.outcome_for(chain))
    }
}

impl TlsSnapshotBuilder {
    /// Adds a host. The first host added is the default unless [`default_host`](Self::default_host)
    /// says otherwise.
    pub fn host(mut self, host: HostTls) -> Self {
        self.hosts.push(host);
        self
    }

    /// Makes the most recently added host the default (served without SNI, and for unknown SNI
    /// under [`UnknownSni::UseDefault`]).
    pub fn default_host(mut self) -> Self {
        self.default = self.hosts.len().checked_sub(1);
        self
    }

    /// What to do with an SNI that matches no host (default: serve the default host).
    pub fn unknown_sni(mut self, unknown_sni: UnknownSni) -> Self {
        self.unknown_sni = unknown_sni;
        self
    }

    /// The listener's peer mode (default STRICT). `Unset` is taken as Istio's default,
    /// PERMISSIVE.
    pub fn peer_mode(mut self, mode: PeerMode) -> Self {
        self.peer_mode = match mode {
            PeerMode::Unset => PeerMode::Permissive,
            other => other,
        };
        self
    }

    /// On a STRICT listener, lets plaintext connections in so that the layer answers each
    /// request with the policy's `plaintext_not_allowed` answer (an HTTP status) instead of
    /// closing them at the first byte (default: closed).
    pub fn plaintext_answered(mut self, yes: bool) -> Self {
        self.plaintext_answered = yes;
        self
    }

    /// The oldest TLS version accepted (default TLS 1.2).
    pub fn min_tls_version(mut self, version: MinTlsVersion) -> Self {
        self.min_version = version;
        self
    }

    /// The ALPN protocols offered, in preference order (default `h2`, `http/1.1`).
    pub fn alpn(mut self, protocols: Vec<Vec<u8>>) -> Self {
        self.alpn = protocols;
        self
    }

    /// Whether the server picks the cipher suite in the provider's order rather than the
    /// client's (default: true, rustls' `ignore_client_order`). With
    /// [`mtls_verify::crypto::default_provider`], whose first suite is
    /// `TLS13_AES_128_GCM_SHA256`, that saves the server 10–17 % CPU per handshake against
    /// clients (rustls, OpenSSL, curl) that list `TLS13_AES_256_GCM_SHA384` first.
    pub fn server_cipher_order(mut self, yes: bool) -> Self {
        self.server_cipher_order = yes;
        self
    }

    /// Encrypts session tickets with `keys`, shared with the other replicas of the listener
    /// (default: rustls' in-memory session cache of this snapshot). Each host's tickets are
    /// bound to its names and trust state; see [`TicketKeys`].
    pub fn session_tickets(mut self, keys: TicketKeys) -> Self {
        self.tickets = Some(keys);
        self
    }

    /// Builds every host's `ServerConfig`.
    pub fn build(self) -> Result<TlsSnapshot, SnapshotError> {
        if self.hosts.is_empty() {
            return Err(SnapshotError::NoHosts);
        }
        static TLS12_13: [&SupportedProtocolVersion; 2] =
            [&rustls::version::TLS13, &rustls::version::TLS12];
        static TLS13: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        let versions: &[&SupportedProtocolVersion] = match self.min_version {
            MinTlsVersion::Tls12 => &TLS12_13,
            MinTlsVersion::Tls13 => &TLS13,
        };
        let index = HostIndex::new(self.hosts.iter().map(|h| &h.names)).map_err(|e| match e {
            HostNameError::Duplicate(name) => SnapshotError::DuplicateName(name),
            HostNameError::Invalid { name, .. } => SnapshotError::BadName(name),
            _ => SnapshotError::TwoDefaults,
        })?;
        let default = self.default.or(index.default_host());
        let mut hosts = Vec::with_capacity(self.hosts.len());
        for host in self.hosts {
            let label = host
                .names
                .first()
                .cloned()
                .unwrap_or_else(|| "default".into());
            let rustls_err = |e: rustls::Error| SnapshotError::Rustls {
                host: label.clone(),
                detail: e.to_string(),
            };
            let builder = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
                .with_protocol_versions(versions)
                .map_err(rustls_err)?;
            let candidate = match (&host.verifier, host.candidate) {
                (Some(_), Some((candidate, refused))) => Some((candidate, refused)),
                _ => None,
            };
            let builder = match (&host.verifier, &candidate) {
                (Some(active), Some((candidate, refused))) => {
                    builder.with_client_cert_verifier(Arc::new(Shadowed {
                        active: Arc::clone(active),
                        candidate: Arc::clone(candidate),
                        refused: Arc::clone(refused),
                    }))
                }
                (Some(v), None) => builder.with_client_cert_verifier(Arc::clone(v) as _),
                (None, _) => builder.with_no_client_auth(),
            };
            let mut config = builder
                .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(host.key)));
            config.alpn_protocols = self.alpn.clone();
            config.ignore_client_order = self.server_cipher_order;
            if let Some(keys) = &self.tickets {
                config.ticketer = host_binding(&host.names, host.verifier.as_deref())
                    .and_then(|binding| keys.ticketer(&binding))
                    .map_err(|source| SnapshotError::Tickets {
                        host: label.clone(),
                        source,
                    })?;
            }
            hosts.push(BuiltHost {
                label,
                config: Arc::new(config),
                verifier: host.verifier,
                candidate: candidate.map(|(c, _)| c),
            });
        }
        Ok(TlsSnapshot {
            hosts,
            identities: IdentityCache::default(),
            index,
            default,
            unknown_sni: self.unknown_sni,
            peer_mode: self.peer_mode,
            plaintext_answered: self.plaintext_answered,
        })
    }
}

/// Why a TLS handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeFailure {
    #[error("no host for SNI {0:?}")]
    UnknownSni(Option<String>),
    #[error("reading the ClientHello: {0}")]
    ClientHello(#[source] std::io::Error),
    #[error("handshake: {0}")]
    Handshake(#[source] std::io::Error),
    #[error("client certificate refused ({reason}): {source}")]
    Refused {
        reason: mtls_policy::DenyCode,
        #[source]
        source: std::io::Error,
    },
}

/// Why the client's certificate ended the handshake, if it did: no certificate where one is
/// required, or the reason the verifier noted ([`mtls_verify::take_rejection`]).
fn refusal(error: &std::io::Error) -> Option<mtls_policy::DenyCode> {
    let error = error.get_ref()?.downcast_ref::<rustls::Error>()?;
    match error {
        rustls::Error::NoCertificatesPresented => Some(mtls_policy::DenyCode::NoCertificate),
        // A configured `handshake_failure` is a general error.
        rustls::Error::InvalidCertificate(_) | rustls::Error::General(_) => {
            mtls_verify::take_rejection()
        }
        _ => None,
    }
}

/// Runs the server side of a handshake on `io`, choosing the host by SNI, and reads what the
/// connection learned.
pub(crate) async fn handshake<IO>(
    io: IO,
    snapshot: &TlsSnapshot,
    remote_addr: Option<SocketAddr>,
    local_addr: Option<SocketAddr>,
) -> Result<(TlsStream<IO>, ConnectionInfo), HandshakeFailure>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io)
        .await
        .map_err(HandshakeFailure::ClientHello)?;
    let sni = start.client_hello().server_name().map(str::to_owned);
    let Some(host) = snapshot.select(sni.as_deref()) else {
        return Err(HandshakeFailure::UnknownSni(sni));
    };
    // Forget a reason another user of a verifier left on this thread.
    let _ = mtls_verify::take_rejection();
    let stream = match start
        .into_stream(Arc::clone(&host.config))
        .into_fallible()
        .await
    {
        Ok(stream) => stream,
        Err((error, io)) => {
            // Read at once: the verifier noted it in the poll that failed.
            let reason = refusal(&error);
            linger_close(io).await;
            return Err(match reason {
                Some(reason) => HandshakeFailure::Refused {
                    reason,
                    source: error,
                },
                None => HandshakeFailure::Handshake(error),
            });
        }
    };
    let (_, conn) = stream.get_ref();
    let chain: Vec<CertificateDer<'static>> = conn
        .peer_certificates()
        .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
        .unwrap_or_default();
    if conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
        && let (Some((leaf, rest)), Some(verifier)) = (chain.split_first(), &host.verifier)
        && let Err(refused) = recheck_resumed(verifier.as_ref(), leaf, rest)
    {
        let (io, _) = stream.into_inner();
        linger_close(io).await;
        return Err(refused);
    }
    let ChainOutcome {
        verification,
        policies,
        ..
    } = match (chain.first(), &host.verifier) {
        (None, _) => ChainOutcome::new(PeerVerification::NoCertificate),
        (Some(_), Some(verifier)) => verifier.chain_outcome_for(&chain),
        // rustls only asks for certificates when a verifier is configured.
        (Some(_), None) => ChainOutcome::new(PeerVerification::NoCertificate),
    };
    // The policies are the path's and this host's trust domain's: attached per connection,
    // never cached with the identity.
    let peer = chain
        .first()
        .and_then(|leaf| snapshot.identities.get_or_parse(leaf))
        .map(|id| id.with_certificate_policies(policies));
    let tls = TlsInfo {
        sni,
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        version: conn
            .protocol_version()
            .and_then(|v| v.as_str())
            .unwrap_or("unknown"),
        cipher_suite: conn
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str())
            .unwrap_or("unknown"),
    };
    // Shadow trust: the candidate judges the same chain (no cost without one).
    let candidate = host
        .candidate
        .as_ref()
        .map(|candidate| match chain.first() {
            Some(_) => candidate.outcome_for(&chain),
            None => PeerVerification::NoCertificate,
        });
    // OCSP `hard` mode: the status the connection's requests wait for.
    let ocsp = match (&verification, &host.verifier, chain.split_first()) {
        (PeerVerification::Verified { trust_domain }, Some(verifier), Some((leaf, rest))) => {
            verifier
                .trust_domains()
                .iter()
                .find(|d| d.name() == trust_domain)
                .and_then(|d| d.ocsp_pending(leaf, rest, rustls_pki_types::UnixTime::now()))
        }
        _ => None,
    };
    let mut info = ConnectionInfo::tls(remote_addr, local_addr, tls, chain, peer, verification);
    if let Some(pending) = ocsp {
        info = info.with_ocsp_pending(pending);
    }
    if let Some(candidate) = candidate {
        info = info.with_candidate(candidate);
    }
    Ok((stream, info))
}

/// Judges the chain of a resumed session again, as a full handshake would now: rustls verifies
/// no certificate when a session resumes, and a session outlives what its first handshake saw
/// (a certificate expired since, an OCSP status cached as revoked since; a changed CRL or CA
/// bundle already gives the host new session keys). The verifier records the outcome the
/// connection then reads; a refusal ends the connection with the reason a full handshake
/// would have given, after the handshake (TLS 1.3 has no alert for it then: the client reads
/// the end of the connection).
fn recheck_resumed(
    verifier: &dyn ReportingVerifier,
    leaf: &CertificateDer<'_>,
    rest: &[CertificateDer<'_>],
) -> Result<(), HandshakeFailure> {
    let _ = mtls_verify::take_rejection();
    let Err(error) = verifier.verify_client_cert(leaf, rest, rustls_pki_types::UnixTime::now())
    else {
        return Ok(());
    };
    let error = std::io::Error::new(std::io::ErrorKind::InvalidData, error);
    Err(HandshakeFailure::Refused {
        reason: refusal(&error).unwrap_or(mtls_policy::DenyCode::InvalidCertificate),
        source: error,
    })
}

/// Closes a connection whose handshake failed without resetting it: the alert rustls wrote must
/// reach the client. Dropping a socket with unread input (the client's Finished, its first
/// request) makes the kernel send a reset, and the client may then never read the alert (curl
/// would say "Connection reset" instead of "alert certificate required"). So: send FIN, read
/// and discard what the client still sends, for a short while, then drop.
pub(crate) async fn linger_close<IO>(mut io: IO)
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let _ = io.shutdown().await;
    let mut sink = [0u8; 2048];
    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), async {
        while let Ok(n) = io.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Peer identities by leaf certificate (full DER), so that a returning client's certificate is
/// not parsed again on every connection. Bounded; cleared when full. It holds what the
/// certificate alone says: the certificate policies of a connection depend on its path and its
/// host's trust domain, and are attached to its copy of the identity after the lookup.
#[derive(Default)]
struct IdentityCache(std::sync::Mutex<HashMap<Vec<u8>, PeerIdentity>>);

impl IdentityCache {
    const CAPACITY: usize = 4096;

    fn get_or_parse(&self, leaf: &CertificateDer<'_>) -> Option<PeerIdentity> {
        if let Some(id) = self
            .0
            .lock()
            .ok()
            .and_then(|m| m.get(leaf.as_ref()).cloned())
        {
            return Some(id);
        }
        match PeerIdentity::from_der(leaf) {
            Ok(id) => {
                if let Ok(mut map) = self.0.lock() {
                    if map.len() >= Self::CAPACITY {
                        map.clear();
                    }
                    map.insert(leaf.to_vec(), id.clone());
                }
                Some(id)
            }
            Err(e) => {
                tracing::debug!(error = %e, "peer certificate has no readable identity");
                None
            }
        }
    }
}
