//! The acceptor: plaintext or TLS detection, bounded handshakes, SNI, and hot reload.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use mtls_policy::{ConnectionLimits, PeerVerification, SourceLimits, VerifyError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};

use crate::connection::{ConnectionInfo, Installed, RevocationWatch};
use crate::readiness::StrictReadiness;
use crate::sources::Sources;
use crate::tls::{self, HandshakeFailure, TlsSnapshot};

mod counters;
mod error;
mod peeked;
mod stream;

use counters::Metrics;
pub use error::AcceptError;
use peeked::FirstByte;
#[cfg(feature = "serve")]
pub(crate) use peeked::LOOKAHEAD;
pub use peeked::Peeked;
pub use stream::MaybeTlsStream;
use stream::Stream;

/// The first byte of a TLS record carrying a handshake message (a ClientHello).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// [`Shared::close_revoked`] when revoked connections are left open.
const KEEP_REVOKED: u64 = u64::MAX;

/// How long [`serve`](crate::serve) waits for a request head by default: hyper's default.
const DEFAULT_REQUEST_HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest request header timeout: longer ones are clamped to it (hyper adds the timeout
/// to the current `Instant`, which must not overflow).
const MAX_REQUEST_HEADER_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// Accepts connections for one listener: tells TLS from plaintext by peeking at the first
/// byte, refuses plaintext under STRICT, runs the TLS handshake with the host chosen by SNI,
/// and bounds both the time a handshake may take and how many run at once.
///
/// The configuration is a [`TlsSnapshot`] behind an `ArcSwap`: [`reload`](Self::reload) swaps in
/// a new one atomically. Connections already established keep the snapshot they were accepted
/// with; new handshakes use the new one. With
/// [`close_revoked_connections`](Self::close_revoked_connections), open connections whose
/// peer's certificate the new snapshot revokes are closed.
///
/// Counters are registered with the `metrics` recorder once, when the
/// acceptor is built: install the recorder first (see [`new`](Self::new)).
///
/// Cheap to clone: clones share the snapshot, the limits, the options and the counters.
#[derive(Clone)]
pub struct Acceptor {
    shared: Arc<Shared>,
}

struct Shared {
    /// The configuration new handshakes use, and its generation.
    current: ArcSwap<Installed>,
    /// The same, for open connections that recheck their peer at each reload. Reloads are
    /// serialized through it, so generations are installed in order.
    installed: watch::Sender<Arc<Installed>>,
    handshake_timeout: Duration,
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    /// The grace period of a revoked connection in nanoseconds, or [`KEEP_REVOKED`].
    close_revoked: AtomicU64,
    /// The request header timeout of [`serve`](crate::serve), in nanoseconds.
    request_header_timeout: AtomicU64,
    /// Per-source limits, when set.
    sources: OnceLock<Arc<Sources>>,
    /// Who connects how, when set.
    readiness: OnceLock<StrictReadiness>,
    metrics: Metrics,
}

impl Acceptor {
    /// An acceptor serving `snapshot`, with a 10 s handshake timeout, at most 1,024
    /// handshakes in flight, and a 30 s
    /// [request header timeout](Self::with_request_header_timeout).
    ///
    /// Its metric handles (`mtls_connections_accepted_total`, `mtls_accept_failures_total`,
    /// `mtls_connections_closed_revoked_total`) are registered here, with the `metrics`
    /// recorder installed at this moment (the global one, or a local one in scope): install the
    /// recorder before building acceptors, or their events are not recorded.
    pub fn new(snapshot: TlsSnapshot) -> Self {
        Self::with_limits(snapshot, Duration::from_secs(10), 1024)
    }

    /// An acceptor with explicit limits: how long a handshake may take (from the first byte
    /// awaited to the last handshake message) and how many may be in flight before new
    /// connections are shed.
    ///
    /// Metric handles are registered here, as for [`new`](Self::new): install the `metrics`
    /// recorder first.
    pub fn with_limits(
        snapshot: TlsSnapshot,
        handshake_timeout: Duration,
        max_in_flight: usize,
    ) -> Self {
        let max_in_flight = max_in_flight.max(1);
        snapshot.publish_trust();
        let installed = Arc::new(Installed::new(0, Arc::new(snapshot)));
        Self {
            shared: Arc::new(Shared {
                current: ArcSwap::new(Arc::clone(&installed)),
                installed: watch::Sender::new(installed),
                handshake_timeout,
                in_flight: Arc::new(Semaphore::new(max_in_flight)),
                max_in_flight,
                close_revoked: AtomicU64::new(KEEP_REVOKED),
                request_header_timeout: AtomicU64::new(nanos(DEFAULT_REQUEST_HEADER_TIMEOUT)),
                sources: OnceLock::new(),
                readiness: OnceLock::new(),
                metrics: Metrics::register(),
            }),
        }
    }

    /// An acceptor with a listener's limits as the model states them
    /// ([`ConnectionLimits`]: handshake timeout, handshakes in flight, request header timeout,
    /// closing revoked connections, per-source limits), each with its default where unset.
    pub fn from_limits(snapshot: TlsSnapshot, limits: &ConnectionLimits) -> Self {
        let mut acceptor = Self::with_limits(
            snapshot,
            limits.handshake_timeout(),
            limits.max_handshakes(),
        );
        if let Some(grace) = limits.close_revoked_connections {
            acceptor = acceptor.close_revoked_connections(grace.0);
        }
        if let Some(timeout) = limits.request_header_timeout {
            acceptor = acceptor.with_request_header_timeout(timeout.0);
        }
        if let Some(per_source) = &limits.per_source {
            acceptor = acceptor.with_source_limits(per_source.clone());
        }
        acceptor
    }

    /// Limits each client address ([`SourceLimits`]: open connections, new connections per
    /// second): a connection over them is closed at accept, before any TLS work, and counted
    /// (`mtls_accept_failures_total{reason="source_connections" | "source_handshake_rate" |
    /// "source_table_full"}`). A source is an IPv4 address or an IPv6 /64 prefix.
    ///
    /// Set it when building the acceptor: it applies to every clone, and the first setting
    /// stays (limits are not reloaded).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let pki = mtls_testkit::Pki::shared();
    /// # let provider = mtls_verify::crypto::default_provider();
    /// # let leaf = pki.default_server();
    /// # let cert = mtls_verify::crypto::certified_key(
    /// #     &mtls_core::ServerCredential::new(
    /// #         mtls_core::CertificateChain::from_der(leaf.chain_der())?,
    /// #         leaf.key_der().into(),
    /// #     )?,
    /// #     &provider,
    /// # )?;
    /// # let snapshot = mtls_tower::TlsSnapshot::builder(provider)
    /// #     .host(mtls_tower::HostTls::new(["localhost"], cert))
    /// #     .build()?;
    /// let mut limits = mtls_policy::SourceLimits::default();
    /// limits.max_connections = Some(64);
    /// limits.handshakes_per_second = Some(20);
    /// let acceptor = mtls_tower::Acceptor::new(snapshot).with_source_limits(limits);
    /// # Ok(()) }
    /// ```
    pub fn with_source_limits(self, limits: SourceLimits) -> Self {
        let _ = self.shared.sources.set(Arc::new(Sources::new(limits)));
        self
    }

    /// Counts every accepted connection in `readiness`: plaintext, TLS without a client
    /// certificate, or mTLS, per source address, SNI and identity (see [`StrictReadiness`]).
    /// Meant for PERMISSIVE listeners, to tell who would break under STRICT; the cost is one
    /// short mutex hold and one hash lookup per connection.
    ///
    /// Set it when building the acceptor: it applies to every clone, and the first setting
    /// stays.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let pki = mtls_testkit::Pki::shared();
    /// # let provider = mtls_verify::crypto::default_provider();
    /// # let leaf = pki.default_server();
    /// # let cert = mtls_verify::crypto::certified_key(
    /// #     &mtls_core::ServerCredential::new(
    /// #         mtls_core::CertificateChain::from_der(leaf.chain_der())?,
    /// #         leaf.key_der().into(),
    /// #     )?,
    /// #     &provider,
    /// # )?;
    /// # let snapshot = mtls_tower::TlsSnapshot::builder(provider)
    /// #     .peer_mode(mtls_policy::PeerMode::Permissive)
    /// #     .host(mtls_tower::HostTls::new(["localhost"], cert))
    /// #     .build()?;
    /// use mtls_tower::{Acceptor, StrictReadiness};
    ///
    /// let readiness = StrictReadiness::default();
    /// let acceptor = Acceptor::new(snapshot).with_strict_readiness(readiness.clone());
    /// assert!(acceptor.strict_readiness().is_some());
    /// // Later, from an admin endpoint: who would break under STRICT.
    /// let report = readiness.snapshot();
    /// assert_eq!(report.would_break, 0);
    /// # Ok(()) }
    /// ```
    pub fn with_strict_readiness(self, readiness: StrictReadiness) -> Self {
        let _ = self.shared.readiness.set(readiness);
        self
    }

    /// The [`StrictReadiness`] this acceptor counts its connections in, if any.
    pub fn strict_readiness(&self) -> Option<&StrictReadiness> {
        self.shared.readiness.get()
    }

    /// **Opt-in** (off by default): after each [`reload`](Self::reload), every open TLS
    /// connection whose peer certificate chain the new snapshot reports revoked (by the
    /// verifier of the host its SNI selects, with the new CRLs) is closed. [`serve`](crate::serve)
    /// shuts such a connection down gracefully (HTTP/1.1: the request in flight finishes, then
    /// the connection closes; HTTP/2: GOAWAY, streams in flight finish) and drops it after
    /// `grace` at the latest. Each is counted in `mtls_connections_closed_revoked_total`.
    ///
    /// Without it, a revoked certificate is refused on its next handshake but its open
    /// connections live on until they close. Only revocation closes a connection: a chain that
    /// fails for another reason (a CA removed from the bundle) is refused on its next
    /// handshake. A connection whose chain was already revoked at its handshake (a failure the
    /// policy answers over HTTP) is left to the policy. Idle connections cost nothing until a
    /// reload; at a reload, each distinct chain is verified once.
    ///
    /// Set it when building the acceptor: it applies to every clone, and [`serve`](crate::serve)
    /// reads it when a connection is accepted, so connections accepted before it was set are
    /// not watched.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let pki = mtls_testkit::Pki::shared();
    /// # let provider = mtls_verify::crypto::default_provider();
    /// # let leaf = pki.default_server();
    /// # let cert = mtls_verify::crypto::certified_key(
    /// #     &mtls_core::ServerCredential::new(
    /// #         mtls_core::CertificateChain::from_der(leaf.chain_der())?,
    /// #         leaf.key_der().into(),
    /// #     )?,
    /// #     &provider,
    /// # )?;
    /// # let snapshot = mtls_tower::TlsSnapshot::builder(provider)
    /// #     .host(mtls_tower::HostTls::new(["localhost"], cert))
    /// #     .build()?;
    /// use std::time::Duration;
    /// use mtls_tower::Acceptor;
    ///
    /// // Revoked connections drain for at most 5 s after the reload that revoked them.
    /// let acceptor = Acceptor::new(snapshot).close_revoked_connections(Duration::from_secs(5));
    /// assert_eq!(acceptor.revoked_connection_grace(), Some(Duration::from_secs(5)));
    /// # Ok(()) }
    /// ```
    pub fn close_revoked_connections(self, grace: Duration) -> Self {
        let nanos = u64::try_from(grace.as_nanos()).unwrap_or(KEEP_REVOKED - 1);
        self.shared
            .close_revoked
            .store(nanos.min(KEEP_REVOKED - 1), Ordering::Release);
        self
    }

    /// How long a connection whose peer a reload revoked may drain before it is dropped;
    /// `None` when revoked connections are left open (the default).
    pub fn revoked_connection_grace(&self) -> Option<Duration> {
        match self.shared.close_revoked.load(Ordering::Acquire) {
            KEEP_REVOKED => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// How long [`serve`](crate::serve) keeps a connection that carries no request: one knob
    /// for both protocols. Default 30 s, as hyper's `header_read_timeout` (nginx's
    /// `client_header_timeout` and `keepalive_timeout` are 60 s and 75 s).
    ///
    /// - HTTP/1: how long a connection may wait for a request head, from the end of the
    ///   handshake or of the previous response until the head's last byte. It bounds a client
    ///   that sends nothing, one that trickles a request head (slowloris) and an idle
    ///   keep-alive connection; the connection is closed without an answer. For the first
    ///   request, the bytes telling HTTP/2 from HTTP/1 count within the same timeout.
    /// - HTTP/2: how long a connection may have no request in flight, from the end of the
    ///   handshake or of its last response (a response body still streaming counts as in
    ///   flight). It bounds a client that never completes its preface, and an idle
    ///   connection, even one whose peer answers pings; the connection is shut down
    ///   gracefully (GOAWAY, then closed), and dropped one more timeout later if the peer never
    ///   acknowledges the shutdown.
    ///
    /// What it does not bound: the request body, the response, an upgraded connection
    /// (WebSocket), and a connection that keeps sending requests. [`serve`](crate::serve) also sends
    /// an HTTP/2 peer that has sent nothing for 20 s a PING and closes the connection when no
    /// answer comes within 20 s, so a dead HTTP/2 peer is detected.
    ///
    /// A timeout of zero closes every connection whose first request is not already in; a
    /// timeout longer than a year is clamped to a year. Set it when building the acceptor: it
    /// applies to every clone, and [`serve`](crate::serve) reads it when a connection is
    /// accepted.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let pki = mtls_testkit::Pki::shared();
    /// # let provider = mtls_verify::crypto::default_provider();
    /// # let leaf = pki.default_server();
    /// # let cert = mtls_verify::crypto::certified_key(
    /// #     &mtls_core::ServerCredential::new(
    /// #         mtls_core::CertificateChain::from_der(leaf.chain_der())?,
    /// #         leaf.key_der().into(),
    /// #     )?,
    /// #     &provider,
    /// # )?;
    /// # let snapshot = mtls_tower::TlsSnapshot::builder(provider)
    /// #     .host(mtls_tower::HostTls::new(["localhost"], cert))
    /// #     .build()?;
    /// use std::time::Duration;
    /// use mtls_tower::Acceptor;
    ///
    /// let acceptor = Acceptor::new(snapshot);
    /// assert_eq!(acceptor.request_header_timeout(), Duration::from_secs(30));
    /// // Connections idle (or sending an HTTP/1 head) for 10 s are closed.
    /// let acceptor = acceptor.with_request_header_timeout(Duration::from_secs(10));
    /// assert_eq!(acceptor.request_header_timeout(), Duration::from_secs(10));
    /// # Ok(()) }
    /// ```
    pub fn with_request_header_timeout(self, timeout: Duration) -> Self {
        self.shared
            .request_header_timeout
            .store(nanos(timeout), Ordering::Release);
        self
    }

    /// The request header timeout [`serve`](crate::serve) applies to the connections of this
    /// acceptor (default 30 s); see
    /// [`with_request_header_timeout`](Self::with_request_header_timeout).
    pub fn request_header_timeout(&self) -> Duration {
        Duration::from_nanos(self.shared.request_header_timeout.load(Ordering::Acquire))
    }

    /// A watch telling when a later reload revokes the peer chain of the connection `info`
    /// describes (see [`RevocationWatch`]); `None` when revoked connections are left open, the
    /// connection is plaintext or without a client certificate, or its chain was already
    /// revoked at its handshake. [`serve`](crate::serve) calls it for every connection.
    ///
    /// A reload between the connection's handshake and this call is not missed: the first
    /// wait judges the chain against it.
    pub fn watch_revocation(&self, info: &ConnectionInfo) -> Option<RevocationWatch> {
        self.revoked_connection_grace()?;
        if info.peer_chain().is_empty() {
            return None;
        }
        if let PeerVerification::Failed {
            error: VerifyError::Revoked { .. },
            ..
        } = info.verification()
        {
            return None;
        }
        Some(RevocationWatch::new(
            self.shared.installed.subscribe(),
            info.clone(),
            self.shared.metrics.closed_revoked.clone(),
        ))
    }

    /// Swaps in a new configuration. New handshakes use it at once; established connections
    /// are not touched, unless [`close_revoked_connections`](Self::close_revoked_connections)
    /// is on. Returns the new generation number.
    ///
    /// A swap is part of a reload: count the reload of the whole configuration once, with
    /// [`telemetry::count_reload`](crate::telemetry::count_reload).
    pub fn reload(&self, snapshot: TlsSnapshot) -> u64 {
        snapshot.publish_trust();
        let snapshot = Arc::new(snapshot);
        let mut generation = 0;
        // Under the watch's lock: concurrent reloads install their generations in order.
        self.shared.installed.send_modify(|installed| {
            generation = installed.generation + 1;
            let next = Arc::new(Installed::new(generation, snapshot));
            self.shared.current.store(Arc::clone(&next));
            *installed = next;
        });
        tracing::info!(generation, "TLS configuration reloaded");
        generation
    }

    /// Builds a new configuration with `build` and swaps it in; when `build` fails, the current
    /// configuration keeps serving, the failure is logged, and the error is returned. Either
    /// way the reload is counted once
    /// ([`mtls_reloads_total{result, trigger="api"}`](crate::telemetry::RELOADS_TOTAL)).
    pub fn try_reload<E, F>(&self, build: F) -> Result<u64, E>
    where
        F: FnOnce() -> Result<TlsSnapshot, E>,
        E: std::fmt::Display,
    {
        match build() {
            Ok(snapshot) => {
                let generation = self.reload(snapshot);
                crate::telemetry::count_reload(crate::telemetry::ReloadTrigger::Api, true);
                Ok(generation)
            }
            Err(e) => {
                crate::telemetry::count_reload(crate::telemetry::ReloadTrigger::Api, false);
                tracing::warn!(error = %e, "TLS configuration reload failed; the previous one keeps serving");
                Err(e)
            }
        }
    }

    /// The configuration new handshakes use now.
    pub fn snapshot(&self) -> Arc<TlsSnapshot> {
        Arc::clone(&self.shared.current.load().snapshot)
    }

    /// How many times the configuration was swapped.
    pub fn generation(&self) -> u64 {
        self.shared.current.load().generation
    }

    /// Accepts one connection: waits (bounded) for its first byte, then serves it as plaintext
    /// (PERMISSIVE, DISABLE) or runs the TLS handshake.
    pub async fn accept(
        &self,
        stream: TcpStream,
    ) -> Result<(MaybeTlsStream, ConnectionInfo), AcceptError> {
        let local = stream.local_addr().ok();
        let result = match stream.peer_addr() {
            Ok(remote) => self.accept_inner(stream, Some(remote), local).await,
            // Per-source limits need the address.
            Err(e) if self.shared.sources.get().is_some() => Err(AcceptError::Io(e)),
            Err(_) => self.accept_inner(stream, None, local).await,
        };
        self.count(result)
    }

    /// Accepts one connection over any byte stream: a Unix socket, a stream whose PROXY
    /// protocol header was already read, an in-memory pipe. The same as
    /// [`accept`](Self::accept): the first byte tells TLS from plaintext, the host is chosen by
    /// SNI, the handshake is bounded in time and in number, and the [`ConnectionInfo`] carries
    /// the peer's identity.
    ///
    /// `remote` is the client's address as the application knows it (from a PROXY protocol
    /// header, say): it goes into the [`ConnectionInfo`], and per-source limits
    /// ([`with_source_limits`](Self::with_source_limits)) apply to it; without one, they do
    /// not apply.
    ///
    /// The acceptor reads the first byte to look at it; the [`Peeked`] stream returned gives it
    /// back to the next read.
    ///
    /// ```no_run
    /// # async fn run(acceptor: mtls_tower::Acceptor) -> std::io::Result<()> {
    /// // `acceptor` serves the listener's hosts (see `TlsSnapshot::builder`).
    /// let listener = tokio::net::UnixListener::bind("/run/gateway.sock")?;
    /// loop {
    ///     let (stream, _) = listener.accept().await?;
    ///     let acceptor = acceptor.clone();
    ///     tokio::spawn(async move {
    ///         match acceptor.accept_io(stream, None).await {
    ///             Ok((_io, info)) => println!("{:?} over a Unix socket", info.peer()),
    ///             Err(e) => eprintln!("refused: {e}"),
    ///         }
    ///     });
    /// }
    /// # }
    /// ```
    pub async fn accept_io<S>(
        &self,
        stream: S,
        remote: Option<SocketAddr>,
    ) -> Result<(MaybeTlsStream<Peeked<S>>, ConnectionInfo), AcceptError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let result = self.accept_inner(Peeked::new(stream), remote, None).await;
        self.count(result)
    }

    /// Counts an accept's outcome (and records it for STRICT readiness and certificate
    /// lifetimes).
    fn count<S>(
        &self,
        result: Result<(MaybeTlsStream<S>, ConnectionInfo), AcceptError>,
    ) -> Result<(MaybeTlsStream<S>, ConnectionInfo), AcceptError> {
        let metrics = &self.shared.metrics;
        match &result {
            Ok((_, info)) => {
                if info.is_plaintext() {
                    metrics.accepted_plaintext.increment(1);
                } else {
                    metrics.accepted_tls.increment(1);
                }
                if let Some(readiness) = self.shared.readiness.get() {
                    readiness.record(info);
                }
                // Time left on presented client certificates: an early warning of clients
                // about to fail.
                crate::telemetry::record_presented(info);
            }
            Err(e) => metrics.failure(e).increment(1),
        }
        result
    }

    async fn accept_inner<S: FirstByte>(
        &self,
        stream: S,
        remote: Option<SocketAddr>,
        local: Option<SocketAddr>,
    ) -> Result<(MaybeTlsStream<S>, ConnectionInfo), AcceptError> {
        // Per source first: a flooding client is turned away before it can take a handshake
        // slot from the others.
        let source = match (self.shared.sources.get(), remote) {
            (Some(sources), Some(remote)) => sources
                .admit(remote.ip(), std::time::Instant::now())
                .map_err(AcceptError::SourceLimited)?,
            _ => None,
        };
        let Ok(_permit) = Arc::clone(&self.shared.in_flight).try_acquire_owned() else {
            return Err(AcceptError::Overloaded(self.shared.max_in_flight));
        };
        let timeout = self.shared.handshake_timeout;
        match tokio::time::timeout(timeout, self.handshake(stream, remote, local)).await {
            Ok(Ok((mut stream, info))) => {
                stream.source = source;
                Ok((stream, info))
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(AcceptError::Timeout(timeout)),
        }
    }

    async fn handshake<S: FirstByte>(
        &self,
        mut stream: S,
        remote: Option<SocketAddr>,
        local: Option<SocketAddr>,
    ) -> Result<(MaybeTlsStream<S>, ConnectionInfo), AcceptError> {
        let installed = self.shared.current.load_full();
        let snapshot = &installed.snapshot;
        // One byte tells: every TLS connection starts with a handshake record (0x16), which no
        // HTTP/1 method or HTTP/2 preface does. A ClientHello split across segments or records
        // still starts with it.
        let Some(first) = stream.first_byte().await.map_err(AcceptError::Io)? else {
            return Err(AcceptError::Closed);
        };
        if first != TLS_HANDSHAKE_RECORD {
            if !snapshot.admits_plaintext() {
                tracing::debug!(?remote, "plaintext refused on a STRICT listener");
                // Close with FIN, not a reset: the client sees an empty reply, not an error
                // that looks like a network fault.
                tls::linger_close(stream).await;
                return Err(AcceptError::PlaintextRefused);
            }
            return Ok((
                MaybeTlsStream::new(Stream::Plain(stream)),
                ConnectionInfo::plaintext(remote, local),
            ));
        }
        match tls::handshake(stream, snapshot, remote, local).await {
            Ok((tls, info)) => Ok((
                MaybeTlsStream::new(Stream::Tls(Box::new(tls))),
                info.with_generation(installed.generation),
            )),
            Err(HandshakeFailure::UnknownSni(sni)) => Err(AcceptError::UnknownSni(sni)),
            Err(HandshakeFailure::ClientHello(e) | HandshakeFailure::Handshake(e)) => {
                Err(AcceptError::Handshake(e))
            }
            Err(HandshakeFailure::Refused { reason, source }) => {
                Err(AcceptError::CertificateRefused { reason, source })
            }
        }
    }
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor")
            .field("generation", &self.generation())
            .field("handshake_timeout", &self.shared.handshake_timeout)
            .field("max_in_flight", &self.shared.max_in_flight)
            .field("revoked_connection_grace", &self.revoked_connection_grace())
            .field("request_header_timeout", &self.request_header_timeout())
            .finish_non_exhaustive()
    }
}

/// A request header timeout in nanoseconds, at most [`MAX_REQUEST_HEADER_TIMEOUT`].
fn nanos(timeout: Duration) -> u64 {
    let clamped = timeout.min(MAX_REQUEST_HEADER_TIMEOUT);
    u64::try_from(clamped.as_nanos()).unwrap_or(u64::MAX)
}
