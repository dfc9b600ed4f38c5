//! One access-log line per request: who, what, the route's target, the decision and its
//! reason code.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::future::Either;
use http::{Request, Response};
use mtls_tower::ConnectionInfo;
use tower_service::Service;

use crate::proxy::{RouteName, logs_answers};

/// Logs every request at `info` on the `access` target after the response head is ready.
#[derive(Clone)]
pub(crate) struct AccessLog<S> {
    inner: S,
    listener: std::sync::Arc<str>,
}

impl<S> AccessLog<S> {
    pub(crate) fn new(inner: S, listener: &str) -> Self {
        Self {
            inner,
            listener: listener.into(),
        }
    }
}

impl<S, B, R> Service<Request<B>> for AccessLog<S>
where
    // The inner service answers every request (denials and upstream failures are responses),
    // so every line is about an answer: there is no failure to log, nor context to keep for one.
    S: Service<Request<B>, Response = Response<R>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = Infallible;
    /// The inner future itself when access logging is filtered out (nothing copied, nothing
    /// allocated per request), else a boxed future that logs when the response head is ready.
    type Future =
        Either<S::Future, Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if !logs_answers() {
            return Either::Left(self.inner.call(req));
        }
        let started = Instant::now();
        let method = req.method().clone();
        let uri = req.uri().clone();
        let host_header = req.headers().get(http::header::HOST).cloned();
        let conn = req.extensions().get::<ConnectionInfo>().cloned();
        let listener = std::sync::Arc::clone(&self.listener);
        let future = self.inner.call(req);
        Either::Right(Box::pin(async move {
            let Ok(response) = future.await;
            let host = host_header
                .as_ref()
                .and_then(|h| h.to_str().ok())
                .or_else(|| uri.host())
                .unwrap_or_default();
            let (remote, identity, transport) = describe(conn.as_ref());
            let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
            let reason = response
                .extensions()
                .get::<mtls_policy::DenyReason>()
                .map(|r| r.code())
                .unwrap_or("-");
            let decision = if reason == "-" { "allow" } else { "deny" };
            // The backend, or the direct response, that answered ("-": the policy or the
            // router answered).
            let route = response
                .extensions()
                .get::<RouteName>()
                .map_or("-", |r| &*r.0);
            tracing::info!(
                target: "access",
                listener = %listener,
                %remote,
                transport,
                identity = %identity,
                %method,
                host = %host,
                path = %uri.path(),
                route = %route,
                status = response.status().as_u16(),
                decision,
                reason,
                elapsed_ms = format!("{elapsed_ms:.2}"),
            );
            Ok(response)
        }))
    }
}

fn describe(conn: Option<&ConnectionInfo>) -> (String, String, &'static str) {
    match conn {
        Some(c) => (
            c.remote_addr().map(|a| a.to_string()).unwrap_or_default(),
            c.peer()
                .map(|p| {
                    p.spiffe_id()
                        .map_or_else(|| p.subject().to_string(), |s| s.to_string())
                })
                .unwrap_or_else(|| "-".into()),
            if c.is_plaintext() { "plaintext" } else { "tls" },
        ),
        None => (String::new(), "-".into(), "-"),
    }
}
