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

mod body;
mod connect;
mod error;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use http::{Request, Response, Uri};
use hyper::client::conn::{TrySendError, http1, http2};
use mtls_tower::UpstreamConnector;
use tokio::sync::watch;

use crate::proxy::ProxyBody;

pub(crate) use body::PooledBody;
pub(crate) use error::UpstreamError;

/// How long an HTTP/1.1 connection may stay idle in the pool (hyper-util's default too).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

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
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state holds no invariant a panic could break half-way.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
