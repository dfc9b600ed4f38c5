//! [`MtlsService`]: the per-request decision.

use std::borrow::Cow;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use mtls_core::PeerIdentity;
use mtls_policy::identity::identity_label;
use mtls_policy::{
    Answer, AuditNote, Context, Decision, DenyCode, DenyReason, HttpAnswer, PeerVerification,
    Policy,
};
use tower_service::Service;

use super::body::ResponseBody;
use super::forward::ForwardIdentity;
use super::future::{Deciding, ResponseFuture};
use super::layer::{Config, SharedPolicy};
use super::ocsp;
use super::target::{self, MatchedRoute};
use super::{DENIALS_TOTAL, REQUESTS_TOTAL};
use super::{shadow, span};
use crate::ConnectionInfo;

/// The audit notes of an allowed request (what was tolerated, what audit mode would have
/// denied), in its extensions when there are any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditNotes(pub Vec<AuditNote>);

/// The service of [`MtlsLayer`](super::MtlsLayer). Per request:
///
/// 1. Read the [`ConnectionInfo`] the acceptor put in the request's extensions. Without one
///    the request is refused with `500` (fail closed) and an error log line: the layer is
///    not behind the mtls-tower acceptor.
/// 2. Read the host and the path as mtls-policy reads them ([`mtls_policy::host`],
///    [`mtls_policy::path`]): the `Host` header, else the URI authority (HTTP/2
///    `:authority`), port removed, lowercase, no trailing dot. Two `Host` headers, a
///    non-ASCII or malformed one, or a `Host` that names another host than the authority are
///    refused with `400`. Inside a router that stripped a prefix (axum `Router::nest`, with
///    the `axum` feature), the original path is the one decided on.
/// 3. Decide with the current [`Policy`] (port of the connection's local address, or
///    [`MtlsLayer::port`](super::MtlsLayer::port); verification outcome; identity; SNI; host;
///    the path in normal form). An ambiguous path (`%2F`, `\\`, a malformed escape) is
///    denied as `bad_request` (400 by default).
/// 4. Allow: when the path was not in normal form (`%2e`, `//`, `..`), replace it with its
///    normal form (the query kept), so the inner service serves what was authorised (inside
///    a router that stripped a prefix, refuse it with `400` instead); remove inbound identity
///    headers, set the configured ones ([`ForwardIdentity`]), insert the [`PeerIdentity`]
///    (removing any when anonymous), the [`MatchedRoute`], the
///    [`ConnectionInfo`] and [`AuditNotes`] (when any) into the extensions, and call the
///    inner service. When audit
///    mode let through a peer whose certificate did not verify (or whose trust domain, issuer
///    scope or pin did not match), its identity is unproven: the request goes on as anonymous
///    (no `PeerIdentity`, no XFCC / RFC 9440 headers; `ssl-client-verify: FAILED:<reason>`).
/// 5. Deny: answer as the policy says, without calling the inner service: its status, a
///    `text/plain` or `application/problem+json` body stating the reason. A deny whose answer
///    is a TLS alert or a close (the acceptor should have acted on it; it may not have, e.g.
///    plaintext let through a PERMISSIVE port) is answered over HTTP with
///    [`fallback_status`] and a text body.
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response, StatusCode};
/// use mtls_policy::Policy;
/// use mtls_tower::{ConnectionInfo, MtlsService};
/// use tower::{ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let policy = Policy::from_yaml("listeners: [{ name: web, port: 8080, peer_mode: permissive, hosts: [{}] }]")?;
/// let inner = service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(String::from("hi"))) });
/// let service = MtlsService::new(inner, policy);
///
/// // Without the ConnectionInfo the acceptor inserts, the layer fails closed.
/// let res = service.clone().oneshot(Request::new(())).await?;
/// assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
///
/// let mut req = Request::new(());
/// req.extensions_mut().insert(ConnectionInfo::plaintext(None, Some("127.0.0.1:8080".parse()?)));
/// assert_eq!(service.oneshot(req).await?.status(), StatusCode::OK);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct MtlsService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> MtlsService<S> {
    /// Wraps `inner`, deciding with `policy` and forwarding [`ForwardIdentity::default`].
    pub fn new(inner: S, policy: impl Into<SharedPolicy>) -> Self {
        let config = Config {
            policy: policy.into(),
            forward: ForwardIdentity::default(),
            port: None,
            counters: RequestCounters::register(),
            xfcc_memo: Arc::default(),
        };
        Self {
            inner,
            config: Arc::new(config),
        }
    }

    pub(crate) fn from_config(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for MtlsService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let span = span::request();
        let conn = req.extensions().get::<ConnectionInfo>().cloned();
        if let Some(conn) = conn.as_ref().filter(|c| !ocsp::ready(c)) {
            // OCSP `hard` mode: wait for the status, then decide and call a clone of the
            // inner service (the one polled ready goes with the request).
            let ready = self.inner.clone();
            let mut inner = std::mem::replace(&mut self.inner, ready);
            let (config, conn) = (Arc::clone(&self.config), conn.clone());
            return ResponseFuture::waiting(Deciding(Box::pin(async move {
                if let Some(wait) = conn.ocsp_wait() {
                    ocsp::settle(wait).await;
                }
                let decided = span.in_scope(|| authorize(&config, &mut req, &span, Some(conn)));
                match decided {
                    Ok(()) => Ok((span.in_scope(|| inner.call(req)), span)),
                    Err(denial) => Err(*denial),
                }
            })));
        }
        let decided = span.in_scope(|| authorize(&self.config, &mut req, &span, conn));
        match decided {
            Ok(()) => {
                let future = span.in_scope(|| self.inner.call(req));
                ResponseFuture::in_span(future, span)
            }
            Err(denial) => ResponseFuture::denied(*denial),
        }
    }
}

/// The HTTP status for a denial whose policy answer is a TLS alert or a close, when it reaches
/// the layer: `421` for `no_listener` and `sni_host_mismatch`; `400` for a missing or failed
/// certificate and for plaintext (as nginx answers these); `403` for the rest (pins, trust
/// domain, issuer scope, allow-lists).
pub fn fallback_status(reason: &DenyReason) -> u16 {
    use DenyCode as C;
    match reason.kind() {
        C::NoListener | C::SniHostMismatch => 421,
        C::NoCertificate
        | C::PlaintextNotAllowed
        | C::UnknownIssuer
        | C::Expired
        | C::NotYetValid
        | C::Revoked
        | C::RevocationUnknown
        | C::CrlExpired
        | C::BadEku
        | C::ChainTooLong
        | C::BadSignature
        | C::InvalidCertificate
        | C::BadRequest => 400,
        _ => 403,
    }
}

/// The handles of `mtls_requests_total` per decision, registered with the recorder installed
/// when the layer is built.
#[derive(Clone, Debug)]
pub(crate) struct RequestCounters {
    allow: metrics::Counter,
    audit: metrics::Counter,
    deny: metrics::Counter,
}

impl RequestCounters {
    pub(crate) fn register() -> Self {
        Self {
            allow: metrics::counter!(REQUESTS_TOTAL, "decision" => "allow"),
            audit: metrics::counter!(REQUESTS_TOTAL, "decision" => "audit"),
            deny: metrics::counter!(REQUESTS_TOTAL, "decision" => "deny"),
        }
    }
}

fn count_denial(config: &Config, reason: &'static str) {
    config.counters.deny.increment(1);
    // Denials are the rare path: their reason is looked up per event.
    metrics::counter!(DENIALS_TOTAL, "reason" => reason).increment(1);
}

pub(super) fn text(status: StatusCode, body: String) -> Response<Bytes> {
    let mut res = Response::new(Bytes::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// `Err`: the denial to answer (boxed: it is the rare path). The decision is recorded in
/// `span`.
fn authorize<B>(
    config: &Config,
    req: &mut Request<B>,
    span: &tracing::Span,
    conn: Option<ConnectionInfo>,
) -> Result<(), Box<Response<Bytes>>> {
    let Some(conn) = conn else {
        tracing::error!(
            code = "missing_connection_info",
            "request without ConnectionInfo in its extensions: MtlsLayer must run behind the \
             mtls-tower acceptor (or something that inserts one); refused with 500"
        );
        count_denial(config, "missing_connection_info");
        let body = "internal error: no connection information for this request\n".to_owned();
        return Err(Box::new(text(StatusCode::INTERNAL_SERVER_ERROR, body)));
    };
    let port = config
        .port
        .or(conn.local_addr().map(|a| a.port()))
        .unwrap_or(0);
    let policy = config.policy.guard();
    let (raw_path, nested) = target::decision_path(req);
    let normal = target::normal_path(raw_path);
    let decision = {
        let host = match target::request_host(req) {
            Ok(host) => host,
            Err(message) => {
                tracing::info!(code = "bad_host", %message, "mTLS request denied");
                count_denial(config, "bad_host");
                return Err(Box::new(text(
                    StatusCode::BAD_REQUEST,
                    format!("{message}\n"),
                )));
            }
        };
        let path = normal.as_deref().unwrap_or(raw_path);
        // OCSP `hard` mode: the status the connection settled on refuses it, or not.
        let refused = ocsp::verification(&conn);
        let decision = decide(
            &policy,
            port,
            &conn,
            refused.as_ref().unwrap_or(conn.verification()),
            host.as_deref(),
            path,
        );
        if let Some(candidate) = conn.candidate_verification() {
            // Shadow trust: the candidate decided by the same decision, never enforced.
            let decided = shadow::Decided {
                port,
                active: &decision,
                peer: conn.peer(),
            };
            shadow::compare(&policy, &decided, candidate, |p, v| {
                decide(p, port, &conn, v, host.as_deref(), path)
            });
        }
        span::record(span, &policy, &decision, conn.peer());
        decision
    };
    // What is forwarded is what was decided: the path in normal form. Inside a router that
    // stripped a prefix the path cannot be rewritten consistently: a path not in normal form
    // is refused there.
    let rewrite = match &normal {
        Some(Cow::Owned(normal)) if decision.is_allow() => Some(normal.clone()),
        _ => None,
    };
    if let Some(normal) = rewrite {
        let rewritten = if nested {
            None
        } else {
            target::with_path(req.uri(), &normal)
        };
        match rewritten {
            Some(uri) => *req.uri_mut() = uri,
            None => {
                count_denial(config, "bad_request");
                let body = format!(
                    "malformed request: the path {raw_path:?} is not in normal form (it reads as {normal:?})\n"
                );
                tracing::info!(code = "bad_request", path = raw_path, "mTLS request denied");
                return Err(Box::new(text(StatusCode::BAD_REQUEST, body)));
            }
        }
    }
    let route = decision.route();
    match decision {
        Decision::Allow {
            identity,
            audit_notes,
            ..
        } => {
            let audited = audit_notes
                .iter()
                .any(|n| matches!(n, AuditNote::WouldDeny(_)));
            if audited {
                config.counters.audit.increment(1);
            } else {
                config.counters.allow.increment(1);
            }
            log_notes(&audit_notes, identity.as_ref(), req);
            // Audit mode lets through a certificate that did not verify; its identity is
            // claimed, not proven, so it is neither forwarded nor given to handlers.
            let identity = identity.filter(|_| !audit_notes.iter().any(unproven_identity));
            config.forward.apply_memo(
                req.headers_mut(),
                identity.as_ref(),
                conn.peer_chain(),
                conn.verification(),
                Some((&config.xfcc_memo, &conn)),
            );
            let ext = req.extensions_mut();
            match identity {
                Some(id) => ext.insert(id),
                None => ext.remove::<PeerIdentity>(),
            };
            if audit_notes.is_empty() {
                ext.remove::<AuditNotes>();
            } else {
                ext.insert(AuditNotes(audit_notes));
            }
            ext.insert(MatchedRoute::new(Arc::clone(&policy), route));
            // The ConnectionInfo stays where it was found.
            Ok(())
        }
        Decision::Deny { reason, answer } => {
            Err(Box::new(deny(config, &reason, &answer, &conn, req)))
        }
        other => {
            // A decision kind this version does not know: fail closed.
            tracing::error!(?other, "unknown policy decision; refused with 500");
            count_denial(config, "unknown_decision");
            Err(Box::new(text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error: unknown decision\n".into(),
            )))
        }
    }
}

/// Whether an audit note says the identity itself was not established (as opposed to a
/// proven identity that a route would have refused).
fn unproven_identity(note: &AuditNote) -> bool {
    use DenyCode as C;
    let AuditNote::WouldDeny(reason) = note else {
        return false;
    };
    !matches!(
        reason.kind(),
        C::IdentityNotAllowed | C::SniHostMismatch | C::NoListener | C::PlaintextNotAllowed
    )
}

pub(super) fn label(identity: Option<&PeerIdentity>) -> String {
    identity.map_or_else(|| "anonymous".to_owned(), identity_label)
}

fn log_notes<B>(notes: &[AuditNote], identity: Option<&PeerIdentity>, req: &Request<B>) {
    for note in notes {
        match note {
            AuditNote::WouldDeny(reason) => tracing::warn!(
                code = reason.code(),
                identity = %label(identity),
                path = req.uri().path(),
                %reason,
                "audit mode: request allowed that would have been denied"
            ),
            AuditNote::Tolerated { reason, by } => tracing::info!(
                code = reason.code(),
                identity = %label(identity),
                by,
                %reason,
                "mTLS verification failure tolerated"
            ),
            other => tracing::info!(?other, "mTLS audit note"),
        }
    }
}

fn deny<B>(
    config: &Config,
    reason: &DenyReason,
    answer: &Answer,
    conn: &ConnectionInfo,
    req: &Request<B>,
) -> Response<Bytes> {
    let fallback;
    let http = if matches!(answer, Answer::Http(_)) {
        answer
    } else {
        fallback = Answer::Http(HttpAnswer::new(fallback_status(reason)));
        &fallback
    };
    let (status, content_type, body) = match http.http_response(reason) {
        Some(r) => (r.status, r.content_type, r.body),
        None => (403, "text/plain; charset=utf-8", format!("{reason}\n")),
    };
    let status = StatusCode::from_u16(status).unwrap_or_else(|_| {
        tracing::warn!(
            status,
            "policy answer has an invalid HTTP status; answering 403"
        );
        StatusCode::FORBIDDEN
    });
    tracing::info!(
        code = reason.code(),
        identity = %label(conn.peer()),
        status = status.as_u16(),
        answer = %answer,
        sni = conn.sni(),
        path = req.uri().path(),
        %reason,
        "mTLS request denied"
    );
    count_denial(config, reason.code());
    let mut res = text(status, body);
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // For access logs and outer layers: why this request was denied.
    res.extensions_mut().insert(reason.clone());
    res
}

fn decide(
    policy: &Policy,
    port: u16,
    conn: &ConnectionInfo,
    verification: &PeerVerification,
    host: Option<&str>,
    path: &str,
) -> Decision {
    let mut ctx = Context::new(port, verification).path(path);
    if let Some(id) = conn.peer() {
        ctx = ctx.identity(id);
    }
    if let Some(sni) = conn.sni() {
        ctx = ctx.sni(sni);
    }
    if let Some(host) = host {
        ctx = ctx.host(host);
    }
    policy.decide(&ctx)
}
