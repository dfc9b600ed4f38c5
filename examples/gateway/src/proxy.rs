//! The reverse proxy: forwards a request by the route the layer authorised it on
//! ([`MatchedRoute`]), over one of the backend's HTTP/1.1 or HTTP/2 connections ([`Backend`],
//! its [`Pool`]) and streams the answer back, or answers with the route's fixed response
//! ([`DirectResponse`]); answers 404, 502 and 504 itself, each with a short text reason.
//! WebSockets (HTTP/1.1 upgrades and HTTP/2 extended CONNECT) are forwarded and their
//! connections joined ([`upgrade`]).
//!
//! The targets are attached to the policy snapshot that decided ([`Targets`]): a reload swaps
//! both at once, and requests in flight finish with the backend their snapshot named.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, ready};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, Entry, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body::Body;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use mtls_tower::ConnectionInfo;
use mtls_tower::UpstreamConnector;
use mtls_tower::layer::{MatchedRoute, is_identity_header};
use tower_service::Service;

use crate::upstream::{Pool, PooledBody, UpstreamError};

// By path: tests/proxy.rs includes this file by path, and the path resolves the same there.
#[path = "upgrade.rs"]
mod upgrade;

/// The error type of the bodies the proxy moves.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;

/// The body of every proxy response (upstream bodies and the proxy's own answers) and of every
/// upstream request.
pub(crate) type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// `x-forwarded-for`.
pub(crate) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `x-forwarded-proto`.
pub(crate) const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `x-forwarded-host`.
pub(crate) const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Counter of upstream requests, labelled `backend` and `status_class` (`2xx`, ..., `5xx`; the
/// class of what the client got, so 502/504 answers count as `5xx`).
pub(crate) const UPSTREAM_REQUESTS_TOTAL: &str = "mtls_gateway_upstream_requests_total";
/// Counter of upstream failures, labelled `backend` and `kind` (`connect`, `tls`,
/// `connect_timeout`, `timeout`, `request`, `upgrade`: an upgrade the upstream cannot take or
/// answered with another protocol).
pub(crate) const UPSTREAM_ERRORS_TOTAL: &str = "mtls_gateway_upstream_errors_total";

/// Hop-by-hop headers (RFC 9110 7.6.1, plus the legacy ones proxies still see).
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
];

/// The target of the route that answered, in the response's extensions (for the access log):
/// the backend's name, or the name given to a [`DirectResponse`]. Shared, so putting it on a
/// response does not copy the name.
///
/// Only set while the access log is on (a response's first extension costs two allocations).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RouteName(pub(crate) Arc<str>);

/// Whether the access log logs answers (INFO on the target `access`, or the JSON access
/// log): the per-request work of the log (its boxed future, the route name on the response)
/// is done only then.
pub(crate) fn logs_answers() -> bool {
    JSON_ACCESS_LOG.load(std::sync::atomic::Ordering::Relaxed)
        || tracing::enabled!(target: "access", tracing::Level::INFO)
}

/// Set once the JSON access log is opened (see `access_log::JsonSink`).
pub(crate) static JSON_ACCESS_LOG: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

impl RouteName {
    /// Puts `self` on `response` if the access log (target `access`) logs answers (INFO).
    fn attach_to<B>(&self, response: &mut Response<B>) {
        if logs_answers() {
            response.extensions_mut().insert(self.clone());
        }
    }
}

/// Upstream timeouts (the TCP connect timeout is the connector's:
/// [`UpstreamConnector::connect_timeout`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BackendTimeouts {
    /// From sending the request until the response head arrives (connecting and the TLS
    /// handshake included).
    pub(crate) request: Duration,
}

impl Default for BackendTimeouts {
    fn default() -> Self {
        Self {
            request: Duration::from_secs(30),
        }
    }
}

/// Why a [`Backend`] cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ConfigError {
    /// The backend URI is not `http://host[:port][/prefix]` or `https://...`.
    #[error("backend {name:?}: {uri} is not an http:// or https:// URI with a host: {reason}")]
    BackendUri {
        /// The backend.
        name: String,
        /// Its URI.
        uri: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// An upstream: where to send requests and how (its connections, timeouts, Host handling).
pub(crate) struct Backend {
    name: Arc<str>,
    /// `name`, for the responses' extensions.
    route_name: RouteName,
    /// `mtls_gateway_upstream_requests_total{backend=name}` by status class.
    requests: StatusCounters,
    scheme: Scheme,
    authority: Authority,
    /// `authority` as a `Host` value (made once, at load).
    host: HeaderValue,
    /// Path prepended to every request path, without a trailing `/` (empty for none).
    prefix: String,
    pool: Pool,
    timeouts: BackendTimeouts,
    rewrite_host: bool,
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend")
            .field("name", &self.name)
            .field(
                "base",
                &format_args!("{}://{}{}", self.scheme, self.authority, self.prefix),
            )
            .field("timeouts", &self.timeouts)
            .field("pool", &self.pool)
            .field("rewrite_host", &self.rewrite_host)
            .finish_non_exhaustive()
    }
}

impl Backend {
    /// A backend named `name` at `base` (`http://host:port` or `https://host:port`, with an
    /// optional path prefix prepended to every request path), reached through `connector`
    /// (TLS settings and connect timeout).
    ///
    /// Upstream connections speak HTTP/1.1, or HTTP/2 when ALPN negotiates `h2`; with
    /// `http2_only`, HTTP/2 with prior knowledge (h2c for `http`).
    pub(crate) fn new(
        name: impl Into<Arc<str>>,
        base: Uri,
        connector: UpstreamConnector,
        timeouts: BackendTimeouts,
        http2_only: bool,
    ) -> Result<Self, ConfigError> {
        let name: Arc<str> = name.into();
        let bad = |reason| ConfigError::BackendUri {
            name: name.to_string(),
            uri: base.to_string(),
            reason,
        };
        let scheme = match base.scheme_str() {
            Some("http") => Scheme::HTTP,
            Some("https") => Scheme::HTTPS,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let authority = base.authority().cloned().ok_or_else(|| bad("no host"))?;
        if base.query().is_some() {
            return Err(bad("a query is not allowed"));
        }
        let prefix = base.path().trim_end_matches('/').to_owned();
        let target = Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|_| bad("not a valid target"))?;
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| bad("the host is not a valid Host header"))?;
        let pool = Pool::new(connector, target, http2_only);
        Ok(Self {
            route_name: RouteName(Arc::clone(&name)),
            requests: StatusCounters::new(Arc::clone(&name)),
            name,
            scheme,
            authority,
            host,
            prefix,
            pool,
            timeouts,
            rewrite_host: false,
        })
    }

    /// Send the backend's own authority as `Host` instead of the client's.
    pub(crate) fn rewrite_host(mut self, on: bool) -> Self {
        self.rewrite_host = on;
        self
    }

    /// The backend's name.
    #[allow(dead_code, reason = "for the tests (tests/proxy.rs)")]
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The backend's connections.
    #[allow(dead_code, reason = "for the tests (tests/proxy.rs)")]
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Forwards `req` and returns the upstream's response, or a 502/504 answer naming this
    /// backend and the reason.
    async fn forward<B>(self: Arc<Self>, req: Request<B>) -> Response<ProxyBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (upstream, authority) = match self.upstream_request(req) {
            Ok(upstream) => upstream,
            Err(e) => return text(StatusCode::BAD_REQUEST, format!("bad request target: {e}")),
        };
        let sent = tokio::time::timeout(
            self.timeouts.request,
            self.pool.send(upstream, |request, http2| {
                if http2 {
                    self.for_http2(request, authority.clone())
                } else {
                    request
                }
            }),
        )
        .await;
        self.finish(self.response(sent))
    }

    /// The client's answer to what the upstream did: its response without the hop-by-hop
    /// headers, or a 502/504 answer naming this backend and the reason.
    fn response(
        &self,
        sent: Result<Result<Response<PooledBody>, UpstreamError>, tokio::time::error::Elapsed>,
    ) -> Response<ProxyBody> {
        match sent {
            Ok(Ok(response)) => {
                let (mut parts, body) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers, false);
                parts.version = Version::default();
                Response::from_parts(parts, body.map_err(BoxError::from).boxed_unsync())
            }
            Ok(Err(e)) => self.failure(&e),
            Err(_elapsed) => {
                self.count_error("timeout");
                let reason = format!(
                    "upstream {:?} did not answer within {:?}",
                    self.name, self.timeouts.request
                );
                tracing::warn!(backend = %self.name, "{reason}");
                text(StatusCode::GATEWAY_TIMEOUT, reason)
            }
        }
    }

    /// `response`, counted in the upstream metrics and named for the access log.
    fn finish(&self, mut response: Response<ProxyBody>) -> Response<ProxyBody> {
        self.requests.increment(response.status());
        self.route_name.attach_to(&mut response);
        response
    }

    /// `request` (as [`Backend::upstream_request`] makes it) for an HTTP/2 connection: no
    /// `Host`, and `authority` in the URI (it becomes `:authority`, which a `Host` must not
    /// contradict: RFC 9113 8.3.1).
    fn for_http2(&self, request: Request<ProxyBody>, authority: Authority) -> Request<ProxyBody> {
        let (mut parts, body) = request.into_parts();
        parts.headers.remove(header::HOST);
        let mut uri = std::mem::take(&mut parts.uri).into_parts();
        uri.scheme = Some(self.scheme.clone());
        uri.authority = Some(authority);
        // Scheme, authority and a path from `upstream_request`: a valid absolute URI.
        parts.uri = Uri::from_parts(uri).unwrap_or_default();
        Request::from_parts(parts, body)
    }

    /// The request to send upstream, for an HTTP/1.1 connection (see [`Backend::for_http2`]),
    /// and its authority: origin-form URI with this backend's path prefix, `Host` the client's
    /// authority (the backend's with `rewrite_host`, or when the client's is not a valid
    /// authority), hop-by-hop headers removed, `x-forwarded-*` set, body untouched (streamed).
    fn upstream_request<B>(
        &self,
        req: Request<B>,
    ) -> Result<(Request<ProxyBody>, Authority), http::Error>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut parts, body) = req.into_parts();
        let headers = &mut parts.headers;
        let conn = parts.extensions.get::<ConnectionInfo>();
        // The host as the client sent it: Host (taken out: where the authority goes is
        // decided below), else the HTTP/2 :authority.
        let original_host = headers.remove(header::HOST).or_else(|| {
            let authority = parts.uri.authority()?;
            HeaderValue::from_str(authority.as_str()).ok()
        });
        strip_hop_by_hop(headers, true);

        if let Some(ip) = conn.and_then(ConnectionInfo::remote_addr).map(|a| a.ip()) {
            let ip = ip_value(ip);
            match headers.entry(X_FORWARDED_FOR) {
                Entry::Vacant(entry) => {
                    entry.insert(ip);
                }
                Entry::Occupied(mut entry) => {
                    let mut value = Vec::new();
                    for prior in entry.iter() {
                        value.extend_from_slice(prior.as_bytes());
                        value.extend_from_slice(b", ");
                    }
                    value.extend_from_slice(ip.as_bytes());
                    entry.insert(HeaderValue::from_bytes(&value).unwrap_or(ip));
                }
            }
        }
        let proto = match conn {
            Some(conn) if conn.is_plaintext() => "http",
            Some(_) => "https",
            None if parts.uri.scheme() == Some(&Scheme::HTTPS) => "https",
            None => "http",
        };
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
        match &original_host {
            Some(host) => headers.insert(X_FORWARDED_HOST, host.clone()),
            None => headers.remove(X_FORWARDED_HOST),
        };
        // The authority the upstream sees: the client's, or the backend's with `rewrite_host`
        // (or when the client's is not a valid authority). It goes in `Host`, whatever the
        // connection: the backend's pool decides which connection carries the request, not
        // the authority.
        let client = original_host
            .filter(|_| !self.rewrite_host)
            .and_then(|host| Some((Authority::try_from(host.as_bytes()).ok()?, host)));
        let (authority, host) =
            client.unwrap_or_else(|| (self.authority.clone(), self.host.clone()));
        headers.insert(header::HOST, host);

        let path_and_query = match (self.prefix.is_empty(), parts.uri.path_and_query()) {
            // The client's, shared (no copy).
            (true, Some(pq)) => pq.clone(),
            (true, None) => PathAndQuery::from_static("/"),
            (false, pq) => {
                let pq = pq.map_or("/", PathAndQuery::as_str);
                PathAndQuery::try_from(format!("{}{pq}", self.prefix))?
            }
        };
        parts.uri = Uri::from(path_and_query);
        // hyper's HTTP/1 connections write the version; HTTP/2 ones ignore it.
        parts.version = Version::HTTP_11;
        let body = body.map_err(Into::into).boxed_unsync();
        Ok((Request::from_parts(parts, body), authority))
    }

    /// The answer to a failed upstream request: 504 for a connect timeout, 502 otherwise.
    fn failure(&self, error: &UpstreamError) -> Response<ProxyBody> {
        let reason = error_chain(error);
        let tls = chain(error).any(|e| {
            matches!(
                e.downcast_ref(),
                Some(mtls_tower::tls::UpstreamConnectError::Tls { .. })
            )
        });
        let timed_out = chain(error).any(|e| {
            e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
        });
        let (status, kind, reason) = if let UpstreamError::Http2Only(_) = error {
            (
                StatusCode::BAD_GATEWAY,
                "upgrade",
                format!("upstream {:?} cannot take the upgrade: {reason}", self.name),
            )
        } else if error.is_connect() && timed_out {
            let reason = format!("upstream {:?} connect timed out: {reason}", self.name);
            (StatusCode::GATEWAY_TIMEOUT, "connect_timeout", reason)
        } else if error.is_connect() {
            let kind = if tls { "tls" } else { "connect" };
            (
                StatusCode::BAD_GATEWAY,
                kind,
                format!("upstream {:?} unreachable: {reason}", self.name),
            )
        } else {
            (
                StatusCode::BAD_GATEWAY,
                "request",
                format!("upstream {:?} failed: {reason}", self.name),
            )
        };
        tracing::warn!(backend = %self.name, kind, "{reason}");
        self.count_error(kind);
        text(status, reason)
    }

    fn count_error(&self, kind: &'static str) {
        // Rare (a failed upstream request): looked up in the registry each time.
        metrics::counter!(UPSTREAM_ERRORS_TOTAL, "backend" => Arc::clone(&self.name), "kind" => kind)
            .increment(1);
    }
}

/// One backend's `mtls_gateway_upstream_requests_total` counters, one per status class
/// (`1xx` ... `5xx`). Each is registered with the recorder the first time its class is counted
/// (so, as with a per-request `counter!`, a class never seen is not in `/metrics`), then
/// incremented through its handle: no key to build, hash and look up per request.
struct StatusCounters {
    backend: Arc<str>,
    classes: [OnceLock<metrics::Counter>; 5],
}

impl StatusCounters {
    fn new(backend: Arc<str>) -> Self {
        Self {
            backend,
            classes: Default::default(),
        }
    }

    fn increment(&self, status: StatusCode) {
        let (index, class) = status_class(status);
        self.classes[index]
            .get_or_init(|| {
                metrics::counter!(
                    UPSTREAM_REQUESTS_TOTAL,
                    "backend" => Arc::clone(&self.backend),
                    "status_class" => class,
                )
            })
            .increment(1);
    }
}

/// The error and its sources.
fn chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e| e.source())
}

/// The error's message with the useful part of its sources: a source already quoted by its
/// parent is not repeated.
fn error_chain(error: &UpstreamError) -> String {
    let mut message = String::new();
    for e in chain(error) {
        let part = e.to_string();
        if part.is_empty() || message.contains(&part) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&part);
    }
    message
}

/// Removes the hop-by-hop headers and those `Connection` names (except the identity headers
/// the `MtlsLayer` set and `Host`: a client cannot make us drop those). On a request,
/// `te: trailers` is kept.
fn strip_hop_by_hop(headers: &mut HeaderMap, request: bool) {
    // Most messages carry none of them: one pass over the names tells, cheaper than a lookup
    // per listed name.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    let mut named: Vec<HeaderName> = Vec::new();
    for value in headers.get_all(header::CONNECTION) {
        let Ok(value) = value.to_str() else { continue };
        for token in value.split(',').map(str::trim) {
            if let Ok(name) = HeaderName::from_bytes(token.as_bytes())
                && name != header::HOST
                && !is_identity_header(&name)
            {
                named.push(name);
            }
        }
    }
    let trailers = request
        && headers.get_all(header::TE).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',').any(|t| {
                    t.split(';')
                        .next()
                        .is_some_and(|t| t.trim().eq_ignore_ascii_case("trailers"))
                })
            })
        });
    for name in named.iter().chain(&HOP_BY_HOP) {
        headers.remove(name);
    }
    if trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

/// `ip` as a header value (`x-forwarded-for`), IPv4 without going through `fmt`.
fn ip_value(ip: IpAddr) -> HeaderValue {
    let IpAddr::V4(v4) = ip else {
        return HeaderValue::try_from(ip.to_string())
            .unwrap_or(HeaderValue::from_static("unknown"));
    };
    let mut text = [0u8; 15];
    let mut len = 0;
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text[len] = b'.';
            len += 1;
        }
        if octet >= 100 {
            text[len] = b'0' + octet / 100;
            len += 1;
        }
        if octet >= 10 {
            text[len] = b'0' + octet / 10 % 10;
            len += 1;
        }
        text[len] = b'0' + octet % 10;
        len += 1;
    }
    HeaderValue::from_bytes(&text[..len]).unwrap_or(HeaderValue::from_static("unknown"))
}

/// The status class label and its index in [`StatusCounters::classes`].
fn status_class(status: StatusCode) -> (usize, &'static str) {
    match status.as_u16() {
        100..=199 => (0, "1xx"),
        200..=299 => (1, "2xx"),
        300..=399 => (2, "3xx"),
        400..=499 => (3, "4xx"),
        _ => (4, "5xx"),
    }
}

/// A `text/plain` answer of the proxy itself.
fn text(status: StatusCode, reason: String) -> Response<ProxyBody> {
    let mut body = reason;
    body.push('\n');
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A fixed answer the gateway gives itself (a route's `respond`, like Envoy's `direct_response`
/// or nginx's `return 200 "ok"`): built once when the configuration is loaded; each request
/// gets clones of its parts (reference counts, no copy of the body).
#[derive(Clone, Debug)]
pub(crate) struct DirectResponse {
    status: StatusCode,
    body: Bytes,
    content_type: Option<HeaderValue>,
    name: RouteName,
}

impl DirectResponse {
    /// Answers `status` with `body` and, when given, `Content-Type: content_type`; `name` is
    /// what the access log shows as the route's target.
    pub(crate) fn new(
        name: impl Into<Arc<str>>,
        status: StatusCode,
        body: Bytes,
        content_type: Option<HeaderValue>,
    ) -> Self {
        Self {
            status,
            body,
            content_type,
            name: RouteName(name.into()),
        }
    }

    /// The name the access log shows.
    #[allow(dead_code, reason = "for the tests (tests/proxy.rs)")]
    pub(crate) fn name(&self) -> &str {
        &self.name.0
    }

    /// The response, for one request. hyper writes `Content-Length` from the body's exact
    /// size (and no body for `HEAD`).
    fn response(&self) -> Response<ProxyBody> {
        let mut response = Response::new(
            Full::new(self.body.clone())
                .map_err(|e| match e {})
                .boxed_unsync(),
        );
        *response.status_mut() = self.status;
        if let Some(content_type) = &self.content_type {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type.clone());
        }
        self.name.attach_to(&mut response);
        response
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_values_match_the_standard_formatting() {
        let addresses = [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.255.9",
            "1.10.100.200",
            "255.255.255.255",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:192.0.2.1",
        ];
        for text in addresses {
            let ip: IpAddr = text.parse().expect("test address");
            assert_eq!(ip_value(ip), ip.to_string(), "{text}");
        }
    }

    #[test]
    fn messages_without_hop_by_hop_headers_are_left_as_they_are() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("a.example"));
        headers.append(header::ACCEPT, HeaderValue::from_static("text/plain"));
        headers.append(header::ACCEPT, HeaderValue::from_static("text/html"));
        headers.insert("x-custom", HeaderValue::from_static("1"));
        let before = headers.clone();
        strip_hop_by_hop(&mut headers, true);
        assert_eq!(headers, before);

        // One hop-by-hop header among them takes the full path: it goes, with what
        // `Connection` names, and `te: trailers` survives on a request.
        headers.insert(header::CONNECTION, HeaderValue::from_static("x-custom"));
        headers.insert(header::TE, HeaderValue::from_static("trailers, gzip"));
        strip_hop_by_hop(&mut headers, true);
        assert!(!headers.contains_key(header::CONNECTION));
        assert!(!headers.contains_key("x-custom"));
        assert_eq!(headers[header::TE], "trailers");
        assert_eq!(headers.get_all(header::ACCEPT).iter().count(), 2);
    }
}
