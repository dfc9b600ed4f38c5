//! One upstream ([`Backend`]): its base URI, connections and timeouts, the request it is sent
//! (origin-form, prefixed path, `Host`, `x-forwarded-*`, hop-by-hop headers removed) and the
//! client's answer to what it did (its response, or a 502/504 naming it and the reason).

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, Entry, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body::Body;
use http_body_util::BodyExt;
use mtls_tower::ConnectionInfo;
use mtls_tower::UpstreamConnector;

use super::answer::{RouteName, text};
use super::counters::{StatusCounters, UPSTREAM_ERRORS_TOTAL};
use super::headers::{
    X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO, ip_value, strip_hop_by_hop,
};
use super::{BoxError, ProxyBody};
use crate::upstream::{Pool, PooledBody, UpstreamError};

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
    pub(super) name: Arc<str>,
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
    pub(super) pool: Pool,
    pub(super) timeouts: BackendTimeouts,
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
    pub(super) async fn forward<B>(self: Arc<Self>, req: Request<B>) -> Response<ProxyBody>
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
    pub(super) fn response(
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
    pub(super) fn finish(&self, mut response: Response<ProxyBody>) -> Response<ProxyBody> {
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
    pub(super) fn upstream_request<B>(
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

    pub(super) fn count_error(&self, kind: &'static str) {
        // Rare (a failed upstream request): looked up in the registry each time.
        metrics::counter!(UPSTREAM_ERRORS_TOTAL, "backend" => Arc::clone(&self.name), "kind" => kind)
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
