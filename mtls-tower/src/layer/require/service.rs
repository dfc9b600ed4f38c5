//! [`RequireIdentity`]: the per-request check.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use mtls_core::PeerIdentity;
use mtls_policy::{AuditNote, DenyReason};
use tower_service::Service;

use super::layer::Rule;
use crate::layer::body::ResponseBody;
use crate::layer::future::ResponseFuture;
use crate::layer::service::{label, text};
use crate::layer::target::{self, MatchedRoute};
use crate::layer::{AuditNotes, DENIALS_TOTAL};

/// The service of [`RequireIdentityLayer`](super::RequireIdentityLayer). Per request:
///
/// 1. Read the [`PeerIdentity`] [`MtlsLayer`](crate::MtlsLayer) put into the request's
///    extensions. When there is none and `MtlsLayer` did not let this request through (it is
///    missing in front of this service), refuse with `500` (fail closed), an ERROR event
///    with `code = "no_mtls_layer"` and a count in `mtls_denials_total{reason="no_mtls_layer"}`.
/// 2. An identity in the allow-list: call the inner service.
/// 3. Otherwise (another identity, or an anonymous peer): answer `403` with a `text/plain`
///    reason naming the identity and the route (`spiffe://example.org/ns/web/sa/web not in
///    allow-list of route /admin`), without calling the inner service; an INFO event with
///    `code = "identity_not_allowed"`, `identity`, `status`, `route`, `path` and `reason`,
///    as `MtlsLayer` logs its denials; a count in
///    `mtls_denials_total{reason="identity_not_allowed"}`; the [`DenyReason`] in the
///    response's extensions. `MtlsLayer` counted the request in `mtls_requests_total` when it
///    let it through; it is not counted there again.
///
///    Under `audit: true` the request goes through instead, with a WARN event and the would-be
///    denial added to the request's [`AuditNotes`].
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response, StatusCode};
/// use mtls_core::PeerIdentity;
/// use mtls_tower::layer::RequireIdentityLayer;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let pki = mtls_testkit::Pki::shared();
/// # let web = pki.client().uri("spiffe://example.org/ns/web/sa/web").issue();
/// let admin_only = ServiceBuilder::new()
///     .layer(RequireIdentityLayer::principals(["spiffe://example.org/ns/ops/sa/admin"]))
///     .service_fn(|_req: Request<String>| async {
///         Ok::<_, Infallible>(Response::new(String::from("welcome")))
///     });
///
/// // MtlsLayer, in front, puts the verified identity into the request.
/// let mut req = Request::get("/admin").body(String::new())?;
/// req.extensions_mut().insert(PeerIdentity::from_der(web.cert_der())?);
/// let res = admin_only.clone().oneshot(req).await?;
/// assert_eq!(res.status(), StatusCode::FORBIDDEN);
///
/// // Without MtlsLayer in front: fail closed.
/// let res = admin_only.oneshot(Request::get("/admin").body(String::new())?).await?;
/// assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RequireIdentity<S> {
    inner: S,
    rule: Arc<Rule>,
}

impl<S> RequireIdentity<S> {
    pub(super) fn from_rule(inner: S, rule: Arc<Rule>) -> Self {
        Self { inner, rule }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireIdentity<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        match check(&self.rule, &mut req) {
            Ok(()) => ResponseFuture::inner(self.inner.call(req)),
            Err(denial) => ResponseFuture::denied(*denial),
        }
    }
}

/// `Err`: the denial to answer (boxed: it is the rare path).
fn check<B>(rule: &Rule, req: &mut Request<B>) -> Result<(), Box<Response<Bytes>>> {
    let identity = req.extensions().get::<PeerIdentity>();
    if identity.is_none() && req.extensions().get::<MatchedRoute>().is_none() {
        tracing::error!(
            code = "no_mtls_layer",
            path = req.uri().path(),
            "request without a client identity and without MtlsLayer's decision: \
             RequireIdentityLayer must run behind MtlsLayer; refused with 500"
        );
        metrics::counter!(DENIALS_TOTAL, "reason" => "no_mtls_layer").increment(1);
        let body = "internal error: no client identity: MtlsLayer is not installed in front \
                    of this route\n";
        return Err(Box::new(text(
            StatusCode::INTERNAL_SERVER_ERROR,
            body.to_owned(),
        )));
    }
    if identity.is_some_and(|id| rule.allow.matches(id)) {
        return Ok(());
    }
    let identity = label(identity);
    let path = target::decision_path(req).0;
    let route = rule
        .name
        .as_deref()
        .or_else(|| matched_path(req))
        .unwrap_or(path);
    let reason = DenyReason::IdentityNotAllowed {
        identity: identity.clone(),
        route: route.to_owned(),
    };
    if rule.audit {
        tracing::warn!(
            code = reason.code(),
            %identity,
            route,
            path,
            %reason,
            "audit mode: request allowed that would have been denied"
        );
        let note = AuditNote::WouldDeny(reason);
        match req.extensions_mut().get_mut::<AuditNotes>() {
            Some(notes) => notes.0.push(note),
            None => {
                req.extensions_mut().insert(AuditNotes(vec![note]));
            }
        }
        return Ok(());
    }
    tracing::info!(
        code = reason.code(),
        %identity,
        status = 403,
        route,
        path,
        %reason,
        "mTLS request denied"
    );
    metrics::counter!(DENIALS_TOTAL, "reason" => reason.code()).increment(1);
    let mut res = text(StatusCode::FORBIDDEN, format!("{reason}\n"));
    // For access logs and outer layers: why this request was denied.
    res.extensions_mut().insert(reason);
    Err(Box::new(res))
}

/// The route pattern axum matched, when axum routed the request.
fn matched_path<B>(req: &Request<B>) -> Option<&str> {
    #[cfg(feature = "axum")]
    if let Some(matched) = req.extensions().get::<::axum::extract::MatchedPath>() {
        return Some(matched.as_str());
    }
    let _ = req;
    None
}
