//! The answers the proxy gives itself: its short `text/plain` reasons (404, 405, 502, 504)
//! and the routes' fixed answers ([`DirectResponse`]), and the name of the route's target that
//! a response carries for the access log ([`RouteName`]).

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};

use super::ProxyBody;

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
    pub(super) fn attach_to<B>(&self, response: &mut Response<B>) {
        if logs_answers() {
            response.extensions_mut().insert(self.clone());
        }
    }
}

/// A `text/plain` answer of the proxy itself.
pub(super) fn text(status: StatusCode, reason: String) -> Response<ProxyBody> {
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
    pub(super) fn response(&self) -> Response<ProxyBody> {
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
