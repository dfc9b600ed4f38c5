//! Serving a tower service over an [`Acceptor`] with hyper (HTTP/1.1 and HTTP/2).

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use mtls_policy::VerifyError;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_service::Service;

use crate::acceptor::Acceptor;
use crate::connection::{ConnectionInfo, RevocationWatch};

type BoxError = Box<dyn StdError + Send + Sync>;

/// How long [`serve`] lets in-flight requests finish after shutdown is asked for.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(30);

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
) -> std::io::Result<()>
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
) -> std::io::Result<()>
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
        let draining = drain.subscribe();
        let span = tracing::debug_span!("connection", %remote);
        let task = async move {
            let (io, info) = match acceptor.accept(stream).await {
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
            let builder = Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            let ended = drive(conn, |c| c.graceful_shutdown(), draining, revocation).await;
            if let Err(e) = ended {
                tracing::debug!(%remote, error = %e, "connection ended with an error");
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

/// Serves one connection until it ends. A value on `draining` shuts it down gracefully, and the
/// sender dropped ends it; a reload revoking its peer (`revocation`: the watch, and the grace
/// period) shuts it down gracefully and ends it after the grace period.
///
/// An idle connection waits on its socket and on two channels: nothing polls it.
async fn drive<C, E>(
    conn: C,
    graceful_shutdown: impl Fn(Pin<&mut C>),
    mut draining: watch::Receiver<()>,
    mut revocation: Option<(RevocationWatch, Duration)>,
) -> Result<(), E>
where
    C: Future<Output = Result<(), E>>,
{
    tokio::pin!(conn);
    let mut shutting_down = false;
    let mut deadline: Option<Pin<Box<tokio::time::Sleep>>> = None;
    loop {
        tokio::select! {
            ended = conn.as_mut() => return ended,
            changed = draining.changed() => match changed {
                Ok(()) if !shutting_down => {
                    shutting_down = true;
                    graceful_shutdown(conn.as_mut());
                }
                Ok(()) => {}
                Err(_) => return Ok(()),
            },
            (reason, grace) = revoked(&mut revocation), if deadline.is_none() => {
                let peer = revocation
                    .as_ref()
                    .and_then(|(w, _)| w.connection().peer().map(ToString::to_string));
                tracing::info!(
                    peer,
                    %reason,
                    ?grace,
                    "closing a connection: a reload revoked its peer's certificate"
                );
                if !shutting_down {
                    shutting_down = true;
                    graceful_shutdown(conn.as_mut());
                }
                deadline = Some(Box::pin(tokio::time::sleep(grace)));
            }
            () = elapsed(&mut deadline) => {
                tracing::debug!("revoked connection still open after its grace period; dropped");
                return Ok(());
            }
        }
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
