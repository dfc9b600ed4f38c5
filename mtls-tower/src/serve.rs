//! Serving a tower service over an [`Acceptor`] with hyper (HTTP/1.1 and HTTP/2).

mod idle;
mod upgraded;

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use mtls_policy::VerifyError;
use tokio::io::AsyncRead;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_service::Service;

use crate::acceptor::{Acceptor, LOOKAHEAD, Peeked};
use crate::connection::{ConnectionInfo, RevocationWatch};
use idle::IdleTimer;

type BoxError = Box<dyn StdError + Send + Sync>;

/// How long [`serve`] lets in-flight requests finish after shutdown is asked for.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(30);

/// After how long without a frame from an HTTP/2 peer [`serve`] sends it a PING.
const H2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);

/// How long [`serve`] waits for the answer to that PING before closing the connection.
const H2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// The HTTP/2 connection preface: the bytes [`read_protocol`] reads to tell HTTP/2 from
/// HTTP/1.
const H2_PREFACE: &[u8; LOOKAHEAD] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serves `service` on every connection `listener` accepts, through `acceptor` (plaintext or
/// TLS, client certificates, SNI), over HTTP/1.1 and HTTP/2 (ALPN or prior knowledge), until
/// `shutdown` completes; then stops accepting, lets open connections finish their requests
/// for up to [`DEFAULT_GRACE_PERIOD`], and closes the ones still open.
///
/// When the acceptor [closes revoked connections](Acceptor::close_revoked_connections), a
/// connection whose peer certificate a reload revokes is shut down the same way (the request
/// in flight finishes, no new one is read) and dropped after the acceptor's grace period.
///
/// Every request reaches `service` with the connection's [`ConnectionInfo`] in its extensions,
/// which is what [`MtlsLayer`](crate::MtlsLayer) reads.
///
/// Idle and slow connections: a connection that carries no request for the acceptor's
/// [request header timeout](Acceptor::with_request_header_timeout) (default 30 s) is closed.
/// A request is carried from the moment its head is complete until its response body has been
/// sent (a request body still arriving or a response still streaming counts); the timeout
/// counts from the end of the handshake, then from the end of each connection's last
/// response. So an HTTP/1 client has one timeout for its first request head, bytes telling
/// HTTP/2 from HTTP/1 included, and one for each next head, whether it is idle between
/// requests or trickles a head; it is closed without an answer. An HTTP/2 connection with no
/// request in flight that long is shut down gracefully (GOAWAY), like a revoked connection,
/// and dropped one timeout later if the peer has not closed it by then. An HTTP/2 peer silent
/// for 20 s is also sent a PING, and the connection is closed when no answer comes within
/// 20 s.
///
/// Upgraded connections: an HTTP/1.1 request answered with `101 Switching Protocols` (a
/// WebSocket) hands the connection to the service (`hyper::upgrade::on`): it is no longer an
/// HTTP connection, and the request header timeout no longer applies. It stays open until the
/// service drops it, and is closed at once when shutdown is asked for or a reload revokes the
/// peer's certificate (it has no request to finish): its reads and writes fail from then on.
///
/// HTTP/2 connections accept extended `CONNECT` (RFC 8441, WebSocket over HTTP/2: the request
/// carries a `hyper::ext::Protocol`; a 2xx answer makes the stream a tunnel, taken with
/// `hyper::upgrade::on`). Such a tunnel keeps its connection from being idle for as long as the
/// request's extensions live: a service that serves the tunnel keeps them until it ends. When
/// the connection is shut down (drained, revoked), the tunnel ends with it, at the end of the
/// grace period.
///
/// ```no_run
/// # async fn run(acceptor: mtls_tower::Acceptor) -> std::io::Result<()> {
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use mtls_tower::ConnectionInfo;
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
/// let hello = tower::service_fn(|req: Request<hyper::body::Incoming>| async move {
///     let who = req
///         .extensions()
///         .get::<ConnectionInfo>()
///         .and_then(|c| c.peer())
///         .map(|p| p.to_string())
///         .unwrap_or_else(|| "anonymous".into());
///     Ok::<_, Infallible>(Response::new(format!("hello {who}\n")))
/// });
/// mtls_tower::serve(listener, acceptor, hello, std::future::pending()).await
/// # }
/// ```
pub async fn serve<S, B>(
    listener: TcpListener,
    acceptor: Acceptor,
    service: S,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    serve_with_grace(listener, acceptor, service, shutdown, DEFAULT_GRACE_PERIOD).await
}

/// [`serve`] with an explicit grace period for in-flight requests at shutdown.
pub async fn serve_with_grace<S, B>(
    listener: TcpListener,
    acceptor: Acceptor,
    service: S,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    // Every connection holds a receiver: a value sent asks it to drain; the sender dropped
    // (the grace period is over) closes it.
    let (drain, _) = watch::channel(());
    let mut h1 = http1::Builder::new();
    // The connection's idle timer bounds the wait for a request head (see `idle`); hyper's
    // own would allocate and register a timer per request.
    h1.header_read_timeout(None);
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        .keep_alive_interval(Some(H2_KEEP_ALIVE_INTERVAL))
        .keep_alive_timeout(H2_KEEP_ALIVE_TIMEOUT)
        // RFC 8441: WebSocket over HTTP/2 (`CONNECT` with `:protocol`, `hyper::ext::Protocol`).
        .enable_connect_protocol();
    let builders = Arc::new((h1, h2));
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let service = service.clone();
        let builders = Arc::clone(&builders);
        let mut draining = drain.subscribe();
        let span = tracing::debug_span!("connection", %remote);
        let task = async move {
            // Boxed: the handshake's state (about 5.5 KiB) is held only while it runs, not
            // for the life of the connection (an idle HTTP/1 connection's task is then 2.5 KiB).
            let (io, info) = match Box::pin(acceptor.accept(stream)).await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::debug!(%remote, reason = e.code(), error = %e, "connection not accepted");
                    return;
                }
            };
            let revocation = acceptor
                .watch_revocation(&info)
                .zip(acceptor.revoked_connection_grace());
            let service = TowerToHyperService::new(WithConnectionInfo {
                inner: service,
                info,
            });
            // Read per connection, like the revocation grace: a connection keeps the timeout it
            // was accepted with. The connection is idle from now: its first bytes, then its
            // first request head, are due within one timeout.
            let mut idle = idle::timer(acceptor.request_header_timeout());
            let detected = tokio::select! {
                read = read_protocol(io) => read,
                () = idle.elapsed() => {
                    tracing::debug!(
                        %remote,
                        timeout = ?idle.timeout(),
                        "closing a connection: no HTTP request within the request header timeout"
                    );
                    return;
                }
                // Shutting down: nothing was asked on it yet.
                _ = draining.changed() => return,
            };
            let (protocol, io) = match detected {
                Ok(detected) => detected,
                Err(e) => {
                    tracing::debug!(%remote, error = %e, "connection ended before a request");
                    return;
                }
            };
            let service = idle.count(service);
            let mut signals = Signals {
                draining,
                revocation,
                idle,
                shutting_down: false,
            };
            let (h1, h2) = &*builders;
            let (ended, upgraded) = match protocol {
                Protocol::Http1 => {
                    let (io, upgraded) = upgraded::track(io);
                    let conn = h1
                        .serve_connection(TokioIo::new(io), service)
                        .with_upgrades();
                    let on_idle = OnIdle::Close;
                    let ended = drive(conn, |c| c.graceful_shutdown(), &mut signals, on_idle);
                    (ended.await, Some(upgraded))
                }
                Protocol::Http2 => {
                    let conn = h2.serve_connection(TokioIo::new(io), service);
                    let on_idle = OnIdle::GoAway;
                    // Boxed: an HTTP/2 connection's state is larger than an HTTP/1 one's, and the
                    // task is as large as its largest state; inline, every HTTP/1 connection's
                    // task would be 4.1 KiB instead of 2.5.
                    let ended = drive(conn, |c| c.graceful_shutdown(), &mut signals, on_idle);
                    let ended = Box::pin(ended);
                    (ended.await, None)
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%remote, error = %e, "connection ended with an error");
            }
            if let Some(upgraded) = upgraded.filter(upgraded::Handle::upgraded) {
                upgraded.bound(&mut signals).await;
            }
        };
        // An instrumented future costs a little on every poll, even with the span disabled:
        // only wrap it when debug logging is on.
        if span.is_disabled() {
            tokio::spawn(task);
        } else {
            tokio::spawn(tracing::Instrument::instrument(task, span));
        }
    }
    drop(listener);
    let _ = drain.send(());
    tokio::select! {
        () = drain.closed() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!(?grace, "grace period over; closing the remaining connections");
        }
    }
    // Dropping `drain` ends the connections still open.
    Ok(())
}

/// What [`drive`] does with a connection that carried no request for the timeout.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnIdle {
    /// Close it (HTTP/1: nothing is in flight, and a peer trickling a request head gets no
    /// answer).
    Close,
    /// Shut it down gracefully (HTTP/2: GOAWAY, so the peer knows its next request needs a new
    /// connection), and drop it one more timeout later if it has not ended by then.
    GoAway,
}

/// What may end a connection besides its peer.
struct Signals {
    /// A value sent asks the connection to drain; the sender dropped ends it.
    draining: watch::Receiver<()>,
    /// A reload revoking the peer's certificate, and how long the connection may drain then.
    revocation: Option<(RevocationWatch, Duration)>,
    /// Completes once the connection carried no request for the request header timeout.
    idle: IdleTimer,
    /// [`drive`] asked the connection to shut down (drained, revoked or idle).
    shutting_down: bool,
}

/// Serves one connection until it ends. A value on `signals.draining` shuts it down
/// gracefully, and the sender dropped ends it; a reload revoking its peer shuts it down
/// gracefully and ends it after the grace period; the idle timer completing (no request for
/// the request header timeout) ends it as `on_idle` says.
///
/// An idle connection waits on its socket, on two channels and on its idle timer (and the
/// keep-alive ping for HTTP/2): nothing else polls it. A busy one is polled for its socket
/// only: the channels and timers are polled again only when one of them has woken the task
/// ([`Control`]), not at each of the connection's wakeups.
async fn drive<C, E>(
    conn: C,
    graceful_shutdown: impl Fn(Pin<&mut C>),
    signals: &mut Signals,
    on_idle: OnIdle,
) -> Result<(), E>
where
    C: Future<Output = Result<(), E>>,
{
    let Signals {
        draining,
        revocation,
        idle,
        shutting_down,
    } = signals;
    tokio::pin!(conn);
    let mut deadline: Option<Pin<Box<tokio::time::Sleep>>> = None;
    let mut control = Control::default();
    loop {
        let event = {
            // An HTTP/1 connection shutting down may still be waiting for a request head: it
            // stays bounded by the timer. An HTTP/2 one has sent its GOAWAY already.
            let watch_idle = on_idle == OnIdle::Close || !*shutting_down;
            let next_signal = async {
                tokio::select! {
                    changed = draining.changed() => Event::Draining(changed.is_ok()),
                    (reason, grace) = revoked(revocation), if deadline.is_none() => {
                        Event::Revoked(reason, grace)
                    }
                    () = elapsed(&mut deadline) => Event::Deadline,
                    () = idle.elapsed(), if watch_idle => Event::Idle,
                }
            };
            tokio::pin!(next_signal);
            control.rearm();
            std::future::poll_fn(|cx| {
                if let Poll::Ready(ended) = conn.as_mut().poll(cx) {
                    return Poll::Ready(Event::Ended(ended));
                }
                control.poll(cx, next_signal.as_mut())
            })
            .await
        };
        match event {
            Event::Ended(ended) => return ended,
            Event::Draining(true) if !*shutting_down => {
                *shutting_down = true;
                graceful_shutdown(conn.as_mut());
            }
            Event::Draining(true) => {}
            // The sender is gone: the grace period is over.
            Event::Draining(false) => return Ok(()),
            Event::Revoked(reason, grace) => {
                let peer = revocation
                    .as_ref()
                    .and_then(|(w, _)| w.connection().peer().map(ToString::to_string));
                tracing::info!(
                    peer,
                    %reason,
                    ?grace,
                    "closing a connection: a reload revoked its peer's certificate"
                );
                if !*shutting_down {
                    *shutting_down = true;
                    graceful_shutdown(conn.as_mut());
                }
                deadline = Some(Box::pin(tokio::time::sleep(grace)));
            }
            Event::Deadline => {
                tracing::debug!("connection still open after its shutdown deadline; dropped");
                return Ok(());
            }
            Event::Idle => {
                let timeout = idle.timeout();
                if on_idle == OnIdle::Close {
                    tracing::debug!(
                        ?timeout,
                        "closing an HTTP/1 connection: no request head within the request \
                         header timeout"
                    );
                    return Ok(());
                }
                tracing::debug!(
                    ?timeout,
                    "closing an HTTP/2 connection: no request for the request header timeout"
                );
                *shutting_down = true;
                graceful_shutdown(conn.as_mut());
                // The graceful shutdown waits for the peer to acknowledge a PING; a peer that
                // never does would keep the connection. It carries no stream: one more timeout
                // at most.
                deadline = Some(Box::pin(tokio::time::sleep(timeout)));
            }
        }
    }
}

/// What [`drive`] waits for.
enum Event<E> {
    /// The connection ended.
    Ended(Result<(), E>),
    /// `serve` asked the connections to drain (`true`), or its grace period is over (`false`).
    Draining(bool),
    /// A reload revoked the peer's certificate; the connection may drain this long.
    Revoked(VerifyError, Duration),
    /// The shutdown deadline passed.
    Deadline,
    /// The connection carried no request for the request header timeout.
    Idle,
}

/// Polls a connection's signals (drain, revocation, timers) only when one of them woke the
/// task: a kept-alive connection's task wakes for its socket once or twice per request, and
/// polling four pending futures each time cost about as much as the policy decision.
///
/// The signals are polled with a waker of their own, which notes that they woke and wakes the
/// task. A poll of the task polls them when that note is set, or when the task's waker has
/// changed (their registrations hold the old one).
#[derive(Default)]
struct Control {
    flag: Option<Arc<Flag>>,
    /// Poll the signals at the next poll, whether or not they woke: they are new.
    fresh: bool,
}

/// The waker of a connection's signals.
struct Flag {
    woken: std::sync::atomic::AtomicBool,
    task: std::task::Waker,
}

impl std::task::Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, std::sync::atomic::Ordering::Release);
        self.task.wake_by_ref();
    }
}

impl Control {
    /// The signals are new (created since the last poll): poll them at the next poll.
    fn rearm(&mut self) {
        self.fresh = true;
    }

    /// Polls `signals` if they woke the task, are fresh, or registered another task waker.
    fn poll<T>(
        &mut self,
        cx: &mut Context<'_>,
        signals: Pin<&mut impl Future<Output = T>>,
    ) -> Poll<T> {
        let flag = match &self.flag {
            Some(flag) if flag.task.will_wake(cx.waker()) => {
                let woken = flag.woken.swap(false, std::sync::atomic::Ordering::Acquire);
                if !woken && !self.fresh {
                    return Poll::Pending;
                }
                Arc::clone(flag)
            }
            _ => {
                let flag = Arc::new(Flag {
                    woken: std::sync::atomic::AtomicBool::new(false),
                    task: cx.waker().clone(),
                });
                self.flag = Some(Arc::clone(&flag));
                flag
            }
        };
        self.fresh = false;
        let waker = std::task::Waker::from(flag);
        signals.poll(&mut Context::from_waker(&waker))
    }
}

/// Waits for the watch to report the chain revoked; never without a watch.
async fn revoked(revocation: &mut Option<(RevocationWatch, Duration)>) -> (VerifyError, Duration) {
    match revocation {
        Some((watch, grace)) => (watch.revoked().await, *grace),
        None => std::future::pending().await,
    }
}

/// Waits for the deadline; never without one.
async fn elapsed(deadline: &mut Option<Pin<Box<tokio::time::Sleep>>>) {
    match deadline {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}

/// The protocol a connection speaks, told by its first bytes.
enum Protocol {
    Http1,
    Http2,
}

/// Reads until the protocol is known: a byte that is not the HTTP/2 preface's (HTTP/1), the
/// whole preface (HTTP/2), or end of file (HTTP/1: hyper ends the connection); the bytes read
/// are given back to the connection in front of the rest.
///
/// hyper-util's auto builder does the same inside its connection future; reading first lets
/// `serve` bound the wait for these bytes with the connection's own idle timer, and drive each
/// protocol's connection with what it needs when idle (close, or GOAWAY). The caller bounds the
/// wait with that timer, which keeps running after it: a client that sends nothing, or part of
/// the preface, would otherwise hold the connection forever.
async fn read_protocol<I: AsyncRead + Unpin>(io: I) -> io::Result<(Protocol, Peeked<I>)> {
    let mut replay = Peeked::new(io);
    let protocol = loop {
        let before = replay.ahead().len();
        let n = replay.read_ahead().await?;
        let ahead = replay.ahead();
        if n == 0 || ahead[before..] != H2_PREFACE[before..ahead.len()] {
            break Protocol::Http1;
        }
        if ahead.len() == H2_PREFACE.len() {
            break Protocol::Http2;
        }
    };
    Ok((protocol, replay))
}

/// Inserts the connection's [`ConnectionInfo`] into each request, then calls the inner service.
#[derive(Clone)]
struct WithConnectionInfo<S> {
    inner: S,
    info: ConnectionInfo,
}

impl<S, B> Service<Request<B>> for WithConnectionInfo<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.info.clone());
        self.inner.call(req)
    }
}
