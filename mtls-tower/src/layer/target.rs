//! What a request asks for, read once with mtls-policy's normalisation: its host name and its
//! path. The layer decides on these, and what it lets through carries them (the path in normal
//! form), so what is served is what was authorised.

use std::borrow::Cow;
use std::sync::Arc;

use http::uri::PathAndQuery;
use http::{Request, Uri, header};
use mtls_policy::{Policy, Route, RouteId, normalize_authority, normalize_path};

/// In the extensions of every request [`MtlsService`](super::MtlsService) lets through: the
/// policy snapshot that decided and the route it decided on (none when no route of the host
/// matched the path), for a proxy that forwards by route or a handler that wants to know.
/// Reading the route through [`route`](Self::route) reads the same snapshot the decision used,
/// even when a reload swapped the policy since. Its presence also tells what runs after the
/// layer (the route-level [`RequireIdentity`](super::RequireIdentity), the axum `Peer`
/// extractor) that the layer ran: an absent identity then means an anonymous peer, not a
/// missing layer.
#[derive(Clone, Debug)]
pub struct MatchedRoute {
    policy: Arc<Policy>,
    id: Option<RouteId>,
}

impl MatchedRoute {
    pub(crate) fn new(policy: Arc<Policy>, id: Option<RouteId>) -> Self {
        Self { policy, id }
    }

    /// The policy that decided.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// The route's id in [`policy`](Self::policy), if a route matched.
    pub fn id(&self) -> Option<RouteId> {
        self.id
    }

    /// The route, if one matched.
    pub fn route(&self) -> Option<&Route> {
        self.policy.route(self.id?)
    }
}

/// The request's host name in normal form: the `Host` header, else the URI authority (HTTP/2
/// `:authority`, absolute-form targets). Refused: two `Host` headers, a non-ASCII one, a
/// malformed name, a `Host` that names another host than the authority.
pub(crate) fn request_host<B>(req: &Request<B>) -> Result<Option<Cow<'_, str>>, String> {
    let mut values = req.headers().get_all(header::HOST).iter();
    let header = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(v), None) => {
            let v = v
                .to_str()
                .map_err(|_| "Host header is not visible ASCII".to_owned())?;
            match v.trim_ascii() {
                "" => None,
                v => Some(normalize_authority(v).map_err(|e| format!("Host header: {e}"))?),
            }
        }
        (Some(_), Some(_)) => return Err("more than one Host header".to_owned()),
    };
    let authority = match req.uri().authority().map(|a| a.as_str()) {
        Some(a) if !a.is_empty() => {
            Some(normalize_authority(a).map_err(|e| format!("request authority: {e}"))?)
        }
        _ => None,
    };
    match (header, authority) {
        (Some(h), Some(a)) if h != a => Err(format!(
            "Host header {h:?} does not match the request authority {a:?}"
        )),
        (Some(h), _) => Ok(Some(h)),
        (None, a) => Ok(a),
    }
}

/// The path to decide on: the request's own, or, when the layer runs inside a router that
/// stripped a prefix (axum `Router::nest`), the original one; and whether it is the original.
pub(crate) fn decision_path<B>(req: &Request<B>) -> (&str, bool) {
    #[cfg(feature = "axum")]
    if let Some(original) = req.extensions().get::<::axum::extract::OriginalUri>()
        && original.0.path() != req.uri().path()
    {
        return (original.0.path(), true);
    }
    (req.uri().path(), false)
}

/// `uri` with its path replaced by `path` (the query kept).
pub(crate) fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let pq = match uri.query() {
        Some(q) => PathAndQuery::try_from(format!("{path}?{q}")).ok()?,
        None => PathAndQuery::try_from(path).ok()?,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq);
    Uri::from_parts(parts).ok()
}

/// The normal form of `path`, or `None` when it is refused (the decision then denies it as a
/// bad request, with the reason).
pub(crate) fn normal_path(path: &str) -> Option<Cow<'_, str>> {
    normalize_path(path).ok()
}
