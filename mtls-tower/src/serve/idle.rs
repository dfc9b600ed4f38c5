//! When an HTTP/2 connection carries no request: the requests in flight on it, counted by a
//! wrapper around the service, and the timer that [`serve`](crate::serve()) closes it with.
//!
//! A request is in flight from the moment hyper hands it to the service until its response
//! body is dropped (sent to the end, or its stream reset): a response still streaming counts.
//! HTTP/1 connections do not use any of this (hyper's header timer bounds their idleness).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// What the service wrapper and the timer of one connection share.
struct InFlight {
    /// Requests in flight.
    count: AtomicUsize,
    /// Woken when `count` drops to zero.
    none: Notify,
}

/// Counts the requests in flight of one connection for its [`IdleTimer`]: two atomic
/// operations when a request arrives (the count, and the reference the request takes), two
/// when its response body is dropped, no allocation.
pub(super) struct CountInFlight<S> {
    inner: S,
    in_flight: Arc<InFlight>,
}

/// The idle timer of one connection: completes once no request has been in flight for the
/// timeout.
pub(super) struct IdleTimer {
    in_flight: Arc<InFlight>,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
    /// Whether `sleep` runs: from the moment the connection opened or the last request ended.
    armed: bool,
}

/// The wrapper of `service` and the timer of one connection, which is idle from now on.
pub(super) fn track<S>(service: S, timeout: Duration) -> (CountInFlight<S>, IdleTimer) {
    let in_flight = Arc::new(InFlight {
        count: AtomicUsize::new(0),
        none: Notify::new(),
    });
    let timer = IdleTimer {
        in_flight: Arc::clone(&in_flight),
        timeout,
        sleep: Box::pin(tokio::time::sleep(timeout)),
        armed: true,
    };
    let service = CountInFlight {
        inner: service,
        in_flight,
    };
    (service, timer)
}

impl IdleTimer {
    /// Completes once no request has been in flight for the timeout.
    ///
    /// Cancel-safe: the deadline lives in the timer, and an end of the last request signalled
    /// while this future was not polled is kept by the `Notify` for the next call. A request
    /// arriving does not wake the timer: at the deadline, a request still in flight disarms it
    /// until the count drops to zero, which re-arms it; so does a count that dropped to zero
    /// meanwhile (a request that came and went).
    pub(super) async fn elapsed(&mut self) {
        loop {
            if !self.armed {
                self.in_flight.none.notified().await;
                self.rearm();
                continue;
            }
            tokio::select! {
                biased;
                () = self.in_flight.none.notified() => self.rearm(),
                () = self.sleep.as_mut() => {
                    if self.in_flight.count.load(Ordering::Acquire) == 0 {
                        return;
                    }
                    self.armed = false;
                }
            }
        }
    }

    /// The timeout this timer closes the connection after.
    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    fn rearm(&mut self) {
        self.sleep.as_mut().reset(Instant::now() + self.timeout);
        self.armed = true;
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
        self.in_flight.count.fetch_add(1, Ordering::Relaxed);
        let guard = InFlightGuard(Arc::clone(&self.in_flight));
        Counted {
            inner: self.inner.call(req),
            guard: Some(guard),
        }
    }
}

/// One request in flight; dropping it ends the request.
struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        // The response body may be dropped on another thread than the connection's.
        if self.0.count.fetch_sub(1, Ordering::Release) == 1 {
            self.0.none.notify_one();
        }
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
