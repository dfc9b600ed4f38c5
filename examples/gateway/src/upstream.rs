//! The connections of one backend: HTTP/1.1 connections kept idle between requests, or one
//! HTTP/2 connection shared by all requests.
//!
//! A [`Pool`] belongs to one backend and dials only that backend. Nothing in a request chooses
//! the connection: no authority is hashed to find one (hyper-util's pool hashes its key twice
//! per request), and the client's authority (`Host`, `:authority`) goes upstream without
//! deciding which connection carries it. A client cycling through `Host` values gets no new
//! upstream connection, over HTTP/1.1 or HTTP/2 alike, as with Envoy's per-cluster pools.
//!
//! - **HTTP/1.1**: a request takes the most recently used idle connection, else dials one. The
//!   connection goes back to the pool when the response body has been read to its end; a
//!   response dropped before its end closes it (HTTP/1 cannot abandon a response and reuse the
//!   connection). Idle connections are closed after the idle timeout.
//! - **HTTP/2** (prior knowledge with `http2_only`, or `h2` chosen by ALPN): one connection,
//!   shared; replaced when it closes. With prior knowledge, requests that find it being made
//!   wait for it instead of each making their own (a burst of first requests opens one
//!   connection, as hyper-util's pool does).
//! - A request refused by a reused connection before any of it was written (the upstream closed
//!   the idle connection as the request left) is sent again once on a new connection, as
//!   hyper-util does.
//! - A protocol upgrade (WebSocket) gets a new HTTP/1.1 connection of its own, never pooled:
//!   once upgraded, it carries the new protocol until one side closes it.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::{TrySendError, http1, http2};
use hyper_util::client::legacy::connect::Connection;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use mtls_tower::UpstreamConnector;
use mtls_tower::tls::UpstreamConnectError;
use tokio::sync::watch;
use tower_service::Service;

use crate::proxy::ProxyBody;

/// How long an HTTP/1.1 connection may stay idle in the pool (hyper-util's default too).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Why a request got no response from the upstream.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// No connection: TCP connect or the TLS handshake failed or timed out.
    #[error(transparent)]
    Connect(#[from] UpstreamConnectError),
    /// Connected, but the HTTP/2 handshake failed.
    #[error("HTTP/2 handshake: {0}")]
    Handshake(#[source] hyper::Error),
    /// The request or the response head failed on the connection.
    #[error(transparent)]
    Request(hyper::Error),
    /// The HTTP/2 connection this request waited for could not be made (the error of the
    /// request that made it, shared).
    #[error(transparent)]
    Shared(Arc<Self>),
    /// A protocol upgrade needs HTTP/1.1, and the upstream speaks HTTP/2 (`http2_only`, or
    /// `h2` chosen by ALPN).
    #[error("a protocol upgrade (WebSocket) needs HTTP/1.1, and the upstream speaks HTTP/2 ({0})")]
    Http2Only(&'static str),
}

impl UpstreamError {
    /// No connection could be made (as opposed to a request failing on one).
    pub(crate) fn is_connect(&self) -> bool {
        match self {
            Self::Connect(_) | Self::Handshake(_) => true,
            Self::Request(_) | Self::Http2Only(_) => false,
            Self::Shared(e) => e.is_connect(),
        }
    }
}

/// The outcome of an HTTP/2 connection being made, for the requests waiting for it (`None`
/// until it is known).
type Connecting =
    watch::Receiver<Option<Result<http2::SendRequest<ProxyBody>, Arc<UpstreamError>>>>;

/// The connections to one backend. Cheap to clone (one reference count).
#[derive(Clone)]
pub(crate) struct Pool(Arc<Inner>);

struct Inner {
    connector: UpstreamConnector,
    /// What the connector dials (`scheme://authority/`); also the URI its errors name.
    target: Uri,
    http2_only: bool,
    idle_timeout: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// HTTP/1.1 connections waiting for a request, the most recently used last.
    idle: Vec<Idle>,
    /// The shared HTTP/2 connection.
    http2: Option<http2::SendRequest<ProxyBody>>,
    /// The HTTP/2 connection being made (prior knowledge only).
    http2_connecting: Option<Connecting>,
    /// A task closes idle connections past the timeout (one at a time, while any is idle).
    reaping: bool,
}

struct Idle {
    sender: http1::SendRequest<ProxyBody>,
    since: Instant,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.0.lock();
        f.debug_struct("Pool")
            .field("target", &self.0.target)
            .field("http2_only", &self.0.http2_only)
            .field("idle", &state.idle.len())
            .field("http2", &state.http2.is_some())
            .finish()
    }
}

/// A connection taken from the pool (or just made) for one request.
enum Checkout {
    /// An HTTP/1.1 connection, ready for a request; `reused` if it served one before.
    Http1 {
        /// The connection's sender.
        sender: http1::SendRequest<ProxyBody>,
        /// Whether it came from the idle list.
        reused: bool,
    },
    /// The shared HTTP/2 connection (a clone of its sender).
    Http2 {
        /// The connection's sender.
        sender: http2::SendRequest<ProxyBody>,
        /// Whether it existed before this request.
        reused: bool,
    },
}

impl Checkout {
    /// Whether the request must be an HTTP/2 one (absolute URI, no `Host`).
    fn is_http2(&self) -> bool {
        matches!(self, Self::Http2 { .. })
    }

    fn reused(&self) -> bool {
        match self {
            Self::Http1 { reused, .. } | Self::Http2 { reused, .. } => *reused,
        }
    }
}

impl Pool {
    /// A pool dialing `target` (`scheme://host:port`) through `connector`; with `http2_only`,
    /// every connection speaks HTTP/2 with prior knowledge, else HTTP/2 only when ALPN picks
    /// `h2`.
    pub(crate) fn new(connector: UpstreamConnector, target: Uri, http2_only: bool) -> Self {
        Self::with_idle_timeout(connector, target, http2_only, IDLE_TIMEOUT)
    }

    /// [`Pool::new`] closing idle HTTP/1.1 connections after `idle_timeout` instead.
    pub(crate) fn with_idle_timeout(
        connector: UpstreamConnector,
        target: Uri,
        http2_only: bool,
        idle_timeout: Duration,
    ) -> Self {
        Self(Arc::new(Inner {
            connector,
            target,
            http2_only,
            idle_timeout,
            state: Mutex::default(),
        }))
    }

    /// The number of idle HTTP/1.1 connections, and whether an HTTP/2 connection is open.
    #[allow(dead_code, reason = "for the tests (tests/proxy.rs)")]
    pub(crate) fn idle(&self) -> (usize, bool) {
        let state = self.0.lock();
        let http2 = state.http2.as_ref().is_some_and(|s| !s.is_closed());
        (state.idle.len(), http2)
    }

    /// A connection for one request: an idle or the shared one when there is one, else a new
    /// one.
    async fn checkout(&self) -> Result<Checkout, UpstreamError> {
        if let Some(checkout) = self.reuse().await {
            return Ok(checkout);
        }
        if self.0.http2_only {
            return self.connect_once().await;
        }
        self.connect().await
    }

    /// The HTTP/2 connection, made by the first request that needs it while the others wait for
    /// its outcome (an error is theirs too). A waiter whose maker was cancelled (its client
    /// left) makes its own.
    async fn connect_once(&self) -> Result<Checkout, UpstreamError> {
        let (maker, mut outcome) = {
            let mut state = self.0.lock();
            match &state.http2_connecting {
                Some(connecting) => (None, connecting.clone()),
                None => {
                    let (maker, connecting) = watch::channel(None);
                    state.http2_connecting = Some(connecting.clone());
                    (Some(maker), connecting)
                }
            }
        };
        let Some(maker) = maker else {
            let known = outcome.wait_for(Option::is_some).await.map(|o| o.clone());
            return match known {
                Ok(Some(Ok(sender))) => Ok(Checkout::Http2 {
                    sender,
                    reused: true,
                }),
                Ok(Some(Err(e))) => Err(UpstreamError::Shared(e)),
                Ok(None) | Err(_) => self.connect().await,
            };
        };
        // Whatever happens to this request, the next one does not wait for this attempt.
        let _clear = ClearConnecting {
            pool: &self.0,
            connecting: outcome,
        };
        let made = self.connect().await;
        let shared = match made {
            Ok(Checkout::Http2 { ref sender, .. }) => Ok(sender.clone()),
            Ok(checkout) => return Ok(checkout),
            Err(e) => Err(Arc::new(e)),
        };
        let _ = maker.send(Some(shared.clone()));
        match shared {
            Ok(sender) => Ok(Checkout::Http2 {
                sender,
                reused: false,
            }),
            Err(e) => Err(UpstreamError::Shared(e)),
        }
    }

    /// Sends `request` on one of the pool's connections. `shape` turns it into the request for
    /// that connection's protocol (`true`: HTTP/2); it is called again when the request is
    /// retried (a reused connection that closed before the request was written) on a new
    /// connection.
    pub(crate) async fn send(
        &self,
        request: Request<ProxyBody>,
        shape: impl Fn(Request<ProxyBody>, bool) -> Request<ProxyBody>,
    ) -> Result<Response<PooledBody>, UpstreamError> {
        let checkout = self.checkout().await?;
        let reused = checkout.reused();
        let http2 = checkout.is_http2();
        match self.try_send(checkout, shape(request, http2)).await {
            Ok(response) => Ok(response),
            Err(mut e) => match e.take_message() {
                Some(request) if reused => {
                    tracing::debug!(upstream = %self.0.target, "pooled connection closed; retrying on a new one");
                    let checkout = self.connect().await?;
                    let http2 = checkout.is_http2();
                    self.try_send(checkout, shape(request, http2))
                        .await
                        .map_err(|e| UpstreamError::Request(e.into_error()))
                }
                _ => Err(UpstreamError::Request(e.into_error())),
            },
        }
    }

    /// Sends `request`, a protocol upgrade (`Upgrade: websocket`), on a new HTTP/1.1 connection
    /// of its own, never pooled. The response's extensions hold the upgrade
    /// (`hyper::upgrade::on`) when it is `101 Switching Protocols`; any other response is read
    /// as usual, and its connection closed after it.
    pub(crate) async fn send_upgrade(
        &self,
        request: Request<ProxyBody>,
    ) -> Result<Response<PooledBody>, UpstreamError> {
        if self.0.http2_only {
            return Err(UpstreamError::Http2Only("http2_only"));
        }
        let stream = self.0.connector.clone().call(self.0.target.clone()).await?;
        if stream.connected().is_negotiated_h2() {
            return Err(UpstreamError::Http2Only("h2 chosen by ALPN"));
        }
        let (mut sender, connection) = http1::handshake(stream)
            .await
            .map_err(UpstreamError::Request)?;
        spawn_connection(&self.0.target, connection.with_upgrades());
        let response = sender
            .send_request(request)
            .await
            .map_err(UpstreamError::Request)?;
        Ok(response.map(|body| PooledBody::new(body, None)))
    }

    async fn try_send(
        &self,
        checkout: Checkout,
        request: Request<ProxyBody>,
    ) -> Result<Response<PooledBody>, TrySendError<Request<ProxyBody>>> {
        match checkout {
            Checkout::Http1 { mut sender, .. } => {
                let response = sender.try_send_request(request).await?;
                let pool = Arc::downgrade(&self.0);
                Ok(response.map(|body| PooledBody::new(body, Some((sender, pool)))))
            }
            Checkout::Http2 { mut sender, .. } => {
                let response = sender.try_send_request(request).await?;
                Ok(response.map(|body| PooledBody::new(body, None)))
            }
        }
    }

    /// An idle HTTP/1.1 connection, or the open HTTP/2 one.
    async fn reuse(&self) -> Option<Checkout> {
        loop {
            let idle = {
                let mut state = self.0.lock();
                if let Some(sender) = state.http2.as_ref().filter(|s| !s.is_closed()) {
                    return Some(Checkout::Http2 {
                        sender: sender.clone(),
                        reused: true,
                    });
                }
                state.idle.pop()?
            };
            if idle.since.elapsed() >= self.0.idle_timeout {
                continue;
            }
            let mut sender = idle.sender;
            // Ready unless the connection is still finishing the previous response (or closed:
            // an error, and the next idle one is tried).
            if sender.ready().await.is_ok() {
                return Some(Checkout::Http1 {
                    sender,
                    reused: true,
                });
            }
        }
    }

    /// A new connection; an HTTP/2 one becomes the shared one.
    async fn connect(&self) -> Result<Checkout, UpstreamError> {
        let stream = self.0.connector.clone().call(self.0.target.clone()).await?;
        if self.0.http2_only || stream.connected().is_negotiated_h2() {
            let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(stream)
                .await
                .map_err(UpstreamError::Handshake)?;
            spawn_connection(&self.0.target, connection);
            self.0.lock().http2 = Some(sender.clone());
            Ok(Checkout::Http2 {
                sender,
                reused: false,
            })
        } else {
            let (sender, connection) = http1::handshake(stream)
                .await
                .map_err(UpstreamError::Request)?;
            spawn_connection(&self.0.target, connection);
            Ok(Checkout::Http1 {
                sender,
                reused: false,
            })
        }
    }
}

/// Forgets the HTTP/2 connection being made when its maker is done (or cancelled).
struct ClearConnecting<'a> {
    pool: &'a Inner,
    connecting: Connecting,
}

impl Drop for ClearConnecting<'_> {
    fn drop(&mut self) {
        let mut state = self.pool.lock();
        if state
            .http2_connecting
            .as_ref()
            .is_some_and(|c| c.same_channel(&self.connecting))
        {
            state.http2_connecting = None;
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state holds no invariant a panic could break half-way.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts an HTTP/1.1 connection whose response was read to its end back in the pool.
    fn release(self: &Arc<Self>, sender: http1::SendRequest<ProxyBody>) {
        if sender.is_closed() {
            return;
        }
        let start_reaper = {
            let mut state = self.lock();
            state.idle.push(Idle {
                sender,
                since: Instant::now(),
            });
            !std::mem::replace(&mut state.reaping, true)
        };
        if start_reaper {
            self.spawn_reaper();
        }
    }

    /// Closes idle connections past the timeout, every `idle_timeout`, while any is idle. It
    /// holds the pool weakly: a pool dropped (its backend gone by a reload) ends it.
    fn spawn_reaper(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.lock().reaping = false;
            return;
        };
        let pool = Arc::downgrade(self);
        let period = self.idle_timeout;
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let Some(pool) = Weak::upgrade(&pool) else {
                    return;
                };
                let mut state = pool.lock();
                state
                    .idle
                    .retain(|idle| idle.since.elapsed() < period && !idle.sender.is_closed());
                if state.idle.is_empty() {
                    state.reaping = false;
                    return;
                }
            }
        });
    }
}

/// Runs a connection until it closes; its end is only worth a debug line (the request that
/// saw a failure reports it).
fn spawn_connection<F>(target: &Uri, connection: F)
where
    F: Future<Output = Result<(), hyper::Error>> + Send + 'static,
{
    let target = target.clone();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(upstream = %target, "upstream connection ended: {e}");
        }
    });
}

/// An upstream response body. For HTTP/1.1, it returns its connection to the pool once read to
/// the end; dropped before, it closes the connection.
pub(crate) struct PooledBody {
    body: Incoming,
    connection: Option<(http1::SendRequest<ProxyBody>, Weak<Inner>)>,
}

impl PooledBody {
    fn new(
        body: Incoming,
        connection: Option<(http1::SendRequest<ProxyBody>, Weak<Inner>)>,
    ) -> Self {
        let mut body = Self { body, connection };
        // A response without a body (204, 304, HEAD, `content-length: 0`) is done already: the
        // connection can serve the next request at once.
        if body.body.is_end_stream() {
            body.release();
        }
        body
    }

    fn release(&mut self) {
        if let Some((sender, pool)) = self.connection.take()
            && let Some(pool) = pool.upgrade()
        {
            pool.release(sender);
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let frame = ready!(Pin::new(&mut self.body).poll_frame(cx));
        match &frame {
            None => self.release(),
            Some(Ok(_)) if self.body.is_end_stream() => self.release(),
            Some(Ok(_)) => {}
            // The connection is broken: never reused.
            Some(Err(_)) => self.connection = None,
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl fmt::Debug for PooledBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledBody")
            .field("pooled", &self.connection.is_some())
            .finish_non_exhaustive()
    }
}
