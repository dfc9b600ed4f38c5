//! axum extractors for the identity [`MtlsLayer`](super::MtlsLayer) lets through.

use std::convert::Infallible;
use std::fmt;

use ::axum::extract::{FromRequestParts, OptionalFromRequestParts};
use ::axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{StatusCode, header};
use mtls_core::PeerIdentity;

use super::target::MatchedRoute;
use crate::ConnectionInfo;

/// The verified client identity, for handlers behind [`MtlsLayer`](super::MtlsLayer).
///
/// Rejects with `403 Forbidden` when the peer is anonymous (no client certificate, or one the
/// policy did not use), and with `500` when no `MtlsLayer` ran before the handler. Use
/// `Option<Peer>` or [`OptionalPeer`] for routes open to anonymous peers.
///
/// ```
/// use axum::{Router, routing::get};
/// use mtls_tower::layer::Peer;
///
/// async fn hello(Peer(peer): Peer) -> String {
///     match peer.spiffe_id() {
///         Some(id) => format!("hello {}", id.as_str()),
///         None => format!("hello {}", peer.subject()),
///     }
/// }
/// let app: Router = Router::new().route("/", get(hello));
/// # let _ = app;
/// ```
#[derive(Clone, Debug)]
pub struct Peer(pub PeerIdentity);

/// The client identity if there is one; never rejects.
///
/// ```
/// use mtls_tower::layer::OptionalPeer;
///
/// async fn hello(OptionalPeer(peer): OptionalPeer) -> String {
///     peer.map_or_else(|| "hello stranger".to_owned(), |p| format!("hello {}", p.subject()))
/// }
/// # let _ = axum::Router::<()>::new().route("/", axum::routing::get(hello));
/// ```
#[derive(Clone, Debug)]
pub struct OptionalPeer(pub Option<PeerIdentity>);

/// Why [`Peer`] was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerRejection {
    /// The connection is known but its peer has no identity: `403`.
    #[error("a verified client certificate is required")]
    Anonymous,
    /// No identity, and no `MtlsLayer` let the request through: the layer is missing in front
    /// of the handler (a server configuration error): `500`.
    #[error("no client identity: MtlsLayer is not installed in front of this handler")]
    NoLayer,
}

impl PeerRejection {
    /// The HTTP status of the rejection.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Anonymous => StatusCode::FORBIDDEN,
            Self::NoLayer => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

fn text_response(status: StatusCode, message: impl fmt::Display) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

impl IntoResponse for PeerRejection {
    fn into_response(self) -> Response {
        if self == Self::NoLayer {
            tracing::error!("Peer extractor used without MtlsLayer in front of the handler");
        }
        text_response(self.status(), self)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = PeerRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<PeerIdentity>() {
            Some(id) => Ok(Self(id.clone())),
            None if parts.extensions.get::<MatchedRoute>().is_some() => {
                Err(PeerRejection::Anonymous)
            }
            None => Err(PeerRejection::NoLayer),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<PeerIdentity>().cloned().map(Self))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for OptionalPeer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<PeerIdentity>().cloned()))
    }
}

/// [`ConnectionInfo`] was requested but no `MtlsLayer` (or acceptor) provided one: `500`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no connection information: MtlsLayer is not installed in front of this handler")]
pub struct MissingConnectionInfo;

impl IntoResponse for MissingConnectionInfo {
    fn into_response(self) -> Response {
        tracing::error!("ConnectionInfo extractor used without MtlsLayer in front of the handler");
        text_response(StatusCode::INTERNAL_SERVER_ERROR, self)
    }
}

/// Extracts the connection's [`ConnectionInfo`] (TLS parameters, addresses, verification).
///
/// ```
/// use mtls_tower::ConnectionInfo;
///
/// async fn tls(conn: ConnectionInfo) -> String {
///     conn.tls_info().map_or_else(|| "plaintext".to_owned(), |t| t.version.to_owned())
/// }
/// # let _ = axum::Router::<()>::new().route("/", axum::routing::get(tls));
/// ```
impl<S: Send + Sync> FromRequestParts<S> for ConnectionInfo {
    type Rejection = MissingConnectionInfo;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or(MissingConnectionInfo)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for ConnectionInfo {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().cloned())
    }
}
