//! When a connection carries no request: the requests in flight on it, counted by a wrapper
//! around the service, and the timer that [`serve`](crate::serve()) closes it with.
//!
//! A request is in flight from the moment hyper hands it to the service until its response
//! body is dropped (sent to the end, or its stream reset): a response still streaming counts,
//! and so does a request body still arriving. A connection is idle from the moment it is
//! accepted, and again each time its last request in flight ends: for HTTP/1, that is the time
//! a client has to send its next request head, whether it sends nothing or trickles it.
//!
//! A `CONNECT` request (an HTTP/2 tunnel, RFC 8441) is in flight until its response body and
//! its extensions are both dropped: its stream outlives the response, and the service that
//! serves the tunnel keeps the request's extensions for as long as it does.
//!
//! The timer is lazy, so that a request costs no timer work: the wrapper counts requests and
//! notes when the last one ended (five uncontended atomic operations and a clock read per
//! request), and the timer, when it fires, reads those and either reports the connection idle
//! or sets itself for the earliest moment it could be.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// What the service wrapper and the timer of one connection share.
struct Activity {
    /// When the connection was accepted: the origin of `idle_since`.
    origin: Instant,
    /// Requests in flight.
    in_flight: AtomicUsize,
    /// When the last request ended, in nanoseconds since `origin` (0: none has).
    idle_since: AtomicU64,
}

impl Activity {
    /// Since when the connection has been idle, when no request is in flight.
    fn idle_since(&self) -> Option<Instant> {
        // Acquire: pairs with the release of the request that brought the count to zero, so
        // `idle_since` is at least that request's end.
        if self.in_flight.load(Ordering::Acquire) != 0 {
            return None;
        }
        let nanos = self.idle_since.load(Ordering::Relaxed);
        Some(self.origin + Duration::from_nanos(nanos))
    }
}

/// Counts the requests in flight of one connection for its [`IdleTimer`]: two atomic
/// operations when a request arrives (the count, and the reference the request takes), three
/// and a clock read when its response body is dropped (the end time, the count, the
/// reference), no allocation.
pub(super) struct CountInFlight<S> {
    inner: S,
    activity: Arc<Activity>,
}

/// The idle timer of one connection: completes once no request has been in flight for the
/// timeout.
pub(super) struct IdleTimer {
    activity: Arc<Activity>,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
}

/// The timer of a connection accepted just now, which is idle from now on. Its requests are to
/// go through [`IdleTimer::count`].
pub(super) fn timer(timeout: Duration) -> IdleTimer {
    let origin = Instant::now();
    IdleTimer {
        activity: Arc::new(Activity {
            origin,
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
        }),
        timeout,
        sleep: Box::pin(tokio::time::sleep_until(origin + timeout)),
    }
}

impl IdleTimer {
    /// Wraps the connection's service, so its requests keep the connection from being idle.
    pub(super) fn count<S>(&self, service: S) -> CountInFlight<S> {
        CountInFlight {
            inner: service,
            activity: Arc::clone(&self.activity),
        }
    }

    /// Completes once no request has been in flight for the timeout.
    ///
    /// Cancel-safe: the deadline lives in the timer. It only wakes at a deadline: when a
    /// request is in flight then, the next check is one timeout later (the connection cannot
    /// be idle for the timeout before that); when the connection has been idle for less than
    /// the timeout, the next check is when it will have been.
    pub(super) async fn elapsed(&mut self) {
        loop {
            self.sleep.as_mut().await;
            let now = Instant::now();
            let next = match self.activity.idle_since() {
                Some(since) if now.saturating_duration_since(since) >= self.timeout => return,
                Some(since) => since + self.timeout,
                None => now + self.timeout,
            };
            self.sleep.as_mut().reset(next);
        }
    }

    /// The timeout this timer closes the connection after.
    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl<S, ReqBody, ResBody> hyper::service::Service<Request<ReqBody>> for CountInFlight<S>
where
    S: hyper::service::Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<CountedBody<ResBody>>;
    type Error = S::Error;
    type Future = Counted<S::Future>;

    fn call(&self, req: Request<ReqBody>) -> Self::Future {
        // hyper calls the service from the connection's task, the task that reads the count
        // at the deadline: no ordering is needed here.
        self.activity.in_flight.fetch_add(1, Ordering::Relaxed);
        let guard = InFlightGuard(Arc::clone(&self.activity));
        let mut req = req;
        if req.method() == http::Method::CONNECT {
            // The tunnel counts as a second request, ended when the extensions are dropped.
            self.activity.in_flight.fetch_add(1, Ordering::Relaxed);
            let tunnel = InFlightGuard(Arc::clone(&self.activity));
            req.extensions_mut().insert(Tunnel(Arc::new(tunnel)));
        }
        Counted {
            inner: self.inner.call(req),
            guard: Some(guard),
        }
    }
}

/// One request in flight; dropping it ends the request.
struct InFlightGuard(Arc<Activity>);

/// The [`InFlightGuard`] of a `CONNECT` request's tunnel, in the request's extensions.
#[derive(Clone)]
struct Tunnel(#[allow(dead_code, reason = "held for its drop")] Arc<InFlightGuard>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let activity = &*self.0;
        // Noted before the count drops (the release below publishes it); when another request
        // is still in flight the note is early, and is overwritten when that one ends. Nanos
        // since the origin fit 64 bits for 584 years.
        let ended = Instant::now().saturating_duration_since(activity.origin);
        let nanos = u64::try_from(ended.as_nanos()).unwrap_or(u64::MAX);
        activity.idle_since.fetch_max(nanos, Ordering::Relaxed);
        // The response body may be dropped on another thread than the connection's.
        activity.in_flight.fetch_sub(1, Ordering::Release);
    }
}

pin_project_lite::pin_project! {
    /// The response future of a counted request: hands its count to the response body.
    pub(super) struct Counted<F> {
        #[pin]
        inner: F,
        guard: Option<InFlightGuard>,
    }
}

impl<F, B, E> Future for Counted<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<CountedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        // An error drops the guard here: the request has ended.
        let guard = this.guard.take();
        Poll::Ready(result.map(|response| {
            response.map(|body| CountedBody {
                inner: body,
                _guard: guard,
            })
        }))
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request in flight until it is dropped.
    pub(super) struct CountedBody<B> {
        #[pin]
        inner: B,
        _guard: Option<InFlightGuard>,
    }
}

impl<B: Body> Body for CountedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
