//! The acceptor: plaintext or TLS detection, bounded handshakes, SNI, and hot reload.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::connection::ConnectionInfo;
use crate::tls::{self, HandshakeFailure, TlsSnapshot};

/// The first byte of a TLS record carrying a handshake message (a ClientHello).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Accepts connections for one listener: tells TLS from plaintext by peeking at the first
/// byte, refuses plaintext under STRICT, runs the TLS handshake with the host chosen by SNI,
/// and bounds both the time a handshake may take and how many run at once.
///
/// The configuration is a [`TlsSnapshot`] behind an `ArcSwap`: [`reload`](Self::reload) swaps in
/// a new one atomically. Connections already established keep the snapshot they were accepted
/// with; new handshakes use the new one.
///
/// Cheap to clone: clones share the snapshot, the limits and the counters.
#[derive(Clone)]
pub struct Acceptor {
    shared: Arc<Shared>,
}

struct Shared {
    snapshot: ArcSwap<TlsSnapshot>,
    generation: AtomicU64,
    handshake_timeout: Duration,
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
}

/// Why a connection was not accepted. Each carries what a log line needs; the acceptor also
/// counts them (`mtls_accept_failures_total{reason}`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcceptError {
    /// More handshakes were in flight than allowed; the connection was shed at once.
    #[error("shed: {0} handshakes already in flight")]
    Overloaded(usize),
    /// The handshake (or the wait for the first byte) took longer than allowed.
    #[error("handshake not complete after {0:?}")]
    Timeout(Duration),
    /// A plaintext connection on a STRICT listener.
    #[error("plaintext connection refused: the listener is STRICT (mTLS only)")]
    PlaintextRefused,
    /// The client closed the connection before sending anything.
    #[error("connection closed before the first byte")]
    Closed,
    /// The ClientHello named a host this listener does not serve, and unknown names are refused.
    #[error("no host for SNI {0:?}")]
    UnknownSni(Option<String>),
    /// The TLS handshake failed (bad ClientHello, no common parameters, client certificate
    /// rejected: the alert was sent to the client).
    #[error("TLS handshake failed: {0}")]
    Handshake(#[source] io::Error),
    /// A socket error.
    #[error("socket error: {0}")]
    Io(#[source] io::Error),
}

impl AcceptError {
    /// A stable snake_case code for logs and metric labels.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Overloaded(_) => "overloaded",
            Self::Timeout(_) => "timeout",
            Self::PlaintextRefused => "plaintext_refused",
            Self::Closed => "closed",
            Self::UnknownSni(_) => "unknown_sni",
            Self::Handshake(_) => "handshake",
            Self::Io(_) => "io",
        }
    }
}

impl Acceptor {
    /// An acceptor serving `snapshot`, with a 10 s handshake timeout and at most 1,024
    /// handshakes in flight.
    pub fn new(snapshot: TlsSnapshot) -> Self {
        Self::with_limits(snapshot, Duration::from_secs(10), 1024)
    }

    /// An acceptor with explicit limits: how long a handshake may take (from the first byte
    /// awaited to the last handshake message) and how many may be in flight before new
    /// connections are shed.
    pub fn with_limits(
        snapshot: TlsSnapshot,
        handshake_timeout: Duration,
        max_in_flight: usize,
    ) -> Self {
        let max_in_flight = max_in_flight.max(1);
        Self {
            shared: Arc::new(Shared {
                snapshot: ArcSwap::from_pointee(snapshot),
                generation: AtomicU64::new(0),
                handshake_timeout,
                in_flight: Arc::new(Semaphore::new(max_in_flight)),
                max_in_flight,
            }),
        }
    }

    /// Swaps in a new configuration. New handshakes use it at once; established connections
    /// are not touched. Returns the new generation number.
    pub fn reload(&self, snapshot: TlsSnapshot) -> u64 {
        self.shared.snapshot.store(Arc::new(snapshot));
        let generation = self.shared.generation.fetch_add(1, Ordering::AcqRel) + 1;
        metrics::counter!("mtls_reloads_total", "result" => "ok").increment(1);
        tracing::info!(generation, "TLS configuration reloaded");
        generation
    }

    /// Builds a new configuration with `build` and swaps it in; when `build` fails, the current
    /// configuration keeps serving, the failure is logged and counted
    /// (`mtls_reloads_total{result="failed"}`), and the error is returned.
    pub fn try_reload<E, F>(&self, build: F) -> Result<u64, E>
    where
        F: FnOnce() -> Result<TlsSnapshot, E>,
        E: std::fmt::Display,
    {
        match build() {
            Ok(snapshot) => Ok(self.reload(snapshot)),
            Err(e) => {
                metrics::counter!("mtls_reloads_total", "result" => "failed").increment(1);
                tracing::warn!(error = %e, "TLS configuration reload failed; the previous one keeps serving");
                Err(e)
            }
        }
    }

    /// The configuration new handshakes use now.
    pub fn snapshot(&self) -> Arc<TlsSnapshot> {
        self.shared.snapshot.load_full()
    }

    /// How many times the configuration was swapped.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// Accepts one connection: waits (bounded) for its first byte, then serves it as plaintext
    /// (PERMISSIVE, DISABLE) or runs the TLS handshake.
    pub async fn accept(
        &self,
        stream: TcpStream,
    ) -> Result<(MaybeTlsStream, ConnectionInfo), AcceptError> {
        let result = self.accept_inner(stream).await;
        match &result {
            Ok((_, info)) => {
                let outcome = if info.is_plaintext() {
                    "plaintext"
                } else {
                    "tls"
                };
                metrics::counter!("mtls_connections_accepted_total", "transport" => outcome)
                    .increment(1);
                if let Some(peer) = info.peer() {
                    // Days left on presented client certificates: an early warning of clients
                    // about to fail. Negative for expired ones that a policy tolerated.
                    let days = match peer
                        .not_after()
                        .duration_since(std::time::SystemTime::now())
                    {
                        Ok(left) => left.as_secs_f64() / 86_400.0,
                        Err(past) => -(past.duration().as_secs_f64() / 86_400.0),
                    };
                    metrics::histogram!("mtls_client_cert_days_to_expiry").record(days);
                }
            }
            Err(e) => {
                metrics::counter!("mtls_accept_failures_total", "reason" => e.code()).increment(1);
            }
        }
        result
    }

    async fn accept_inner(
        &self,
        stream: TcpStream,
    ) -> Result<(MaybeTlsStream, ConnectionInfo), AcceptError> {
        let Ok(_permit) = Arc::clone(&self.shared.in_flight).try_acquire_owned() else {
            return Err(AcceptError::Overloaded(self.shared.max_in_flight));
        };
        let timeout = self.shared.handshake_timeout;
        match tokio::time::timeout(timeout, self.handshake(stream)).await {
            Ok(result) => result,
            Err(_) => Err(AcceptError::Timeout(timeout)),
        }
    }

    async fn handshake(
        &self,
        stream: TcpStream,
    ) -> Result<(MaybeTlsStream, ConnectionInfo), AcceptError> {
        let remote = stream.peer_addr().ok();
        let local = stream.local_addr().ok();
        let snapshot = self.snapshot();
        let mut first = [0u8; 1];
        // One byte tells: every TLS connection starts with a handshake record (0x16), which no
        // HTTP/1 method or HTTP/2 preface does. A ClientHello split across segments or records
        // still starts with it.
        let n = stream.peek(&mut first).await.map_err(AcceptError::Io)?;
        if n == 0 {
            return Err(AcceptError::Closed);
        }
        if first[0] != TLS_HANDSHAKE_RECORD {
            if !snapshot.allows_plaintext() {
                tracing::debug!(?remote, "plaintext refused on a STRICT listener");
                // Close with FIN, not a reset: the client sees an empty reply, not an error
                // that looks like a network fault.
                tls::linger_close(stream).await;
                return Err(AcceptError::PlaintextRefused);
            }
            return Ok((
                MaybeTlsStream(Stream::Plain(stream)),
                ConnectionInfo::plaintext(remote, local),
            ));
        }
        match tls::handshake(stream, &snapshot, remote, local).await {
            Ok((tls, info)) => Ok((MaybeTlsStream(Stream::Tls(Box::new(tls))), info)),
            Err(HandshakeFailure::UnknownSni(sni)) => Err(AcceptError::UnknownSni(sni)),
            Err(HandshakeFailure::ClientHello(e) | HandshakeFailure::Handshake(e)) => {
                Err(AcceptError::Handshake(e))
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
            .finish_non_exhaustive()
    }
}

/// An accepted connection, plaintext or TLS: read and write it like a socket.
#[derive(Debug)]
pub struct MaybeTlsStream(Stream);

#[derive(Debug)]
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl MaybeTlsStream {
    /// Whether the connection is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.0, Stream::Tls(_))
    }
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().0 {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().0 {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.0 {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
