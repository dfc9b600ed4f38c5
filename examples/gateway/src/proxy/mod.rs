//! The reverse proxy: forwards a request by the route the layer authorised it on
//! ([`MatchedRoute`]), over one of the backend's HTTP/1.1 or HTTP/2 connections ([`Backend`],
//! its [`Pool`](crate::upstream::Pool)) and streams the answer back, or answers with the
//! route's fixed response ([`DirectResponse`]); answers 404, 502 and 504 itself, each with a
//! short text reason.
//! WebSockets (HTTP/1.1 upgrades and HTTP/2 extended CONNECT) are forwarded and their
//! connections joined ([`upgrade`]).
//!
//! The targets are attached to the policy snapshot that decided ([`Targets`]): a reload swaps
//! both at once, and requests in flight finish with the backend their snapshot named.

mod answer;
mod backend;
mod counters;
mod headers;
mod upgrade;

use std::convert::Infallible;
use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header;
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::combinators::UnsyncBoxBody;
use mtls_tower::layer::MatchedRoute;
use tower_service::Service;

#[allow(unused_imports, reason = "for the access log, not in tests/proxy.rs")]
pub(crate) use answer::JSON_ACCESS_LOG;
pub(crate) use answer::{DirectResponse, RouteName};
#[allow(unused_imports, reason = "for the tests (tests/proxy.rs)")]
pub(crate) use backend::ConfigError;
pub(crate) use backend::{Backend, BackendTimeouts};
pub(crate) use counters::{UPSTREAM_ERRORS_TOTAL, UPSTREAM_REQUESTS_TOTAL};

use answer::text;

/// The error type of the bodies the proxy moves.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;

/// The body of every proxy response (upstream bodies and the proxy's own answers) and of every
/// upstream request.
pub(crate) type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// Where a route sends its requests.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// Forwarded to this upstream.
    Backend(Arc<Backend>),
    /// Answered by the gateway itself.
    Respond(DirectResponse),
}

impl Target {
    /// The backend's name, or the direct response's.
    #[allow(dead_code, reason = "for the tests (tests/proxy.rs)")]
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Backend(backend) => backend.name(),
            Self::Respond(respond) => respond.name(),
        }
    }
}

/// The target of every route of a policy, by [`RouteId::index`](mtls_policy::RouteId::index):
/// attached to the policy it was built for ([`Policy::attach`](mtls_policy::Policy::attach)),
/// so a request goes where the snapshot that authorised it says.
#[derive(Debug)]
pub(crate) struct Targets(Vec<Target>);

impl Targets {
    /// One target per route, in route order.
    pub(crate) fn new(targets: Vec<Target>) -> Self {
        Self(targets)
    }
}

/// The proxy service: forwards each request by the route [`MtlsLayer`] authorised it on
/// ([`MatchedRoute`], in its extensions), or answers it itself; it has no route table of its
/// own. A request without a matched route gets 404.
///
/// [`MtlsLayer`]: mtls_tower::MtlsLayer
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Proxy;

/// The future of [`Proxy::call`]: the answer at once (a direct response, 404, 405), without
/// boxing, or the forwarding in progress.
pub(crate) enum ProxyFuture {
    /// Answered without waiting.
    Ready(std::future::Ready<Result<Response<ProxyBody>, Infallible>>),
    /// Forwarded to a backend.
    Forward(Pin<Box<dyn Future<Output = Response<ProxyBody>> + Send>>),
}

impl ProxyFuture {
    fn ready(response: Response<ProxyBody>) -> Self {
        Self::Ready(ready(Ok(response)))
    }
}

impl fmt::Debug for ProxyFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ready(_) => "ProxyFuture::Ready",
            Self::Forward(_) => "ProxyFuture::Forward",
        })
    }
}

impl Future for ProxyFuture {
    type Output = Result<Response<ProxyBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Self::Ready(answer) => Pin::new(answer).poll(cx),
            Self::Forward(forward) => forward.as_mut().poll(cx).map(Ok),
        }
    }
}

impl<B> Service<Request<B>> for Proxy
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = ProxyFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let websocket = upgrade::websocket(&req);
        if req.method() == Method::CONNECT && websocket.is_none() {
            let answer = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "CONNECT is not supported (only HTTP/2 extended CONNECT for websocket)".into(),
            );
            return ProxyFuture::ready(answer);
        }
        let target = req.extensions().get::<MatchedRoute>().and_then(|m| {
            let targets = m.policy().attachment::<Targets>()?;
            targets.0.get(m.id()?.index())
        });
        let backend = match target {
            Some(Target::Backend(backend)) => Arc::clone(backend),
            Some(Target::Respond(respond)) => return ProxyFuture::ready(respond.response()),
            None => {
                let host = req
                    .headers()
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .or_else(|| req.uri().host())
                    .unwrap_or_default();
                let path = req.uri().path();
                let reason = format!("no route for host {host:?} path {path:?}");
                return ProxyFuture::ready(text(StatusCode::NOT_FOUND, reason));
            }
        };
        if let Some(websocket) = websocket {
            return ProxyFuture::Forward(Box::pin(backend.forward_upgrade(req, websocket)));
        }
        ProxyFuture::Forward(Box::pin(backend.forward(req)))
    }
}
