//! One access-log line per request: who, what, the route's target, the decision and its
//! reason code. As a tracing event (INFO on the `access` target), and as a JSON line when the
//! configuration has `access_log: { format: json }` ([`JsonSink`]).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use futures_util::future::Either;
use http::{Request, Response};
use mtls_policy::identity::identity_label;
use mtls_tower::ConnectionInfo;
use tower_service::Service;

pub(crate) use self::sink::JsonSink;
use crate::proxy::RouteName;

mod sink;

/// Logs every request after the response head is ready: at `info` on the `access` target,
/// and into the JSON sink when there is one.
#[derive(Clone)]
pub(crate) struct AccessLog<S> {
    inner: S,
    listener: Arc<str>,
    json: Option<JsonSink>,
}

impl<S> AccessLog<S> {
    pub(crate) fn new(inner: S, listener: &str, json: Option<JsonSink>) -> Self {
        Self {
            inner,
            listener: listener.into(),
            json,
        }
    }
}

/// What is known of a request before it is answered.
struct Asked {
    started: Instant,
    at: SystemTime,
    method: http::Method,
    uri: http::Uri,
    host_header: Option<http::HeaderValue>,
    conn: Option<ConnectionInfo>,
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
    /// The inner future itself when access logging is off (nothing copied, nothing allocated
    /// per request), else a boxed future that logs when the response head is ready.
    type Future =
        Either<S::Future, Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let traced = tracing::enabled!(target: "access", tracing::Level::INFO);
        if !traced && self.json.is_none() {
            return Either::Left(self.inner.call(req));
        }
        let asked = Asked {
            started: Instant::now(),
            at: SystemTime::now(),
            method: req.method().clone(),
            uri: req.uri().clone(),
            host_header: req.headers().get(http::header::HOST).cloned(),
            conn: req.extensions().get::<ConnectionInfo>().cloned(),
        };
        let listener = Arc::clone(&self.listener);
        let json = self.json.clone();
        let future = self.inner.call(req);
        Either::Right(Box::pin(async move {
            let Ok(response) = future.await;
            let line = Line::of(&asked, &listener, &response);
            if traced {
                line.trace();
            }
            if let Some(json) = &json {
                json.push(line.json(asked.at));
            }
            Ok(response)
        }))
    }
}

/// One request's line.
struct Line<'a> {
    listener: &'a str,
    remote: String,
    transport: &'static str,
    sni: Option<&'a str>,
    identity: String,
    method: &'a http::Method,
    host: &'a str,
    path: &'a str,
    route: &'a str,
    status: u16,
    reason: Option<&'static str>,
    elapsed_ms: f64,
}

impl<'a> Line<'a> {
    fn of<R>(asked: &'a Asked, listener: &'a str, response: &'a Response<R>) -> Self {
        let host = asked
            .host_header
            .as_ref()
            .and_then(|h| h.to_str().ok())
            .or_else(|| asked.uri.host())
            .unwrap_or_default();
        let (remote, identity, transport) = describe(asked.conn.as_ref());
        Self {
            listener,
            remote,
            transport,
            sni: asked.conn.as_ref().and_then(ConnectionInfo::sni),
            identity,
            method: &asked.method,
            host,
            path: asked.uri.path(),
            // The backend, or the direct response, that answered ("-": the policy or the
            // router answered).
            route: response
                .extensions()
                .get::<RouteName>()
                .map_or("-", |r| &*r.0),
            status: response.status().as_u16(),
            reason: response
                .extensions()
                .get::<mtls_policy::DenyReason>()
                .map(|r| r.code()),
            elapsed_ms: asked.started.elapsed().as_secs_f64() * 1000.0,
        }
    }

    fn decision(&self) -> &'static str {
        if self.reason.is_some() {
            "deny"
        } else {
            "allow"
        }
    }

    fn trace(&self) {
        tracing::info!(
            target: "access",
            listener = %self.listener,
            remote = %self.remote,
            transport = self.transport,
            identity = %self.identity,
            method = %self.method,
            host = %self.host,
            path = %self.path,
            route = %self.route,
            status = self.status,
            decision = self.decision(),
            reason = self.reason.unwrap_or("-"),
            elapsed_ms = format!("{:.2}", self.elapsed_ms),
        );
    }

    /// The JSON line (no newline), `at` the time the request came.
    fn json(&self, at: SystemTime) -> String {
        serde_json::json!({
            "time": humantime::format_rfc3339_millis(at).to_string(),
            "listener": self.listener,
            "peer": self.remote,
            "transport": self.transport,
            "sni": self.sni,
            "host": self.host,
            "method": self.method.as_str(),
            "path": self.path,
            "status": self.status,
            "identity": self.identity,
            "route": self.route,
            "decision": self.decision(),
            "deny_code": self.reason,
            "duration_ms": (self.elapsed_ms * 1000.0).round() / 1000.0,
        })
        .to_string()
    }
}

fn describe(conn: Option<&ConnectionInfo>) -> (String, String, &'static str) {
    match conn {
        Some(c) => (
            c.remote_addr().map(|a| a.to_string()).unwrap_or_default(),
            // The label every log line of the layer gives an identity.
            c.peer().map_or_else(|| "-".into(), identity_label),
            if c.is_plaintext() { "plaintext" } else { "tls" },
        ),
        None => (String::new(), "-".into(), "-"),
    }
}
