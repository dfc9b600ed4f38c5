//! The tower middleware: per-request authorization by client certificate, and the verified
//! identity forwarded upstream.
//!
//! - [`MtlsLayer`] / [`MtlsService`] / [`ResponseFuture`]: the tower triple. Reads the
//!   [`ConnectionInfo`](crate::ConnectionInfo) the acceptor inserted, decides with the
//!   [`Policy`](mtls_policy::Policy) held in a hot-swappable [`SharedPolicy`], answers denials
//!   as the policy says, and on allow forwards the path in normal form (what was decided is
//!   what is served) and inserts the [`PeerIdentity`](mtls_core::PeerIdentity) and the
//!   [`MatchedRoute`] (the deciding policy snapshot and the route's id, if a route matched)
//!   into the request's extensions.
//! - [`RequireIdentityLayer`] / [`RequireIdentity`]: route-level authorization, attached to the
//!   route it guards in the application's own router (like tower-http's
//!   `RequireAuthorizationLayer`): `403` with the reason unless the identity `MtlsLayer`
//!   verified is in its allow-list ([`Authorization`](mtls_policy::Authorization) or
//!   [`IdentityMatchSpec`](mtls_policy::IdentityMatchSpec), compiled once); `500` without
//!   `MtlsLayer` in front. The policy then holds what belongs to the connection (certificates,
//!   trust, hosts) and the application's router is the only routing table.
//! - [`ForwardIdentity`]: inbound `x-forwarded-client-cert`, `client-cert`,
//!   `client-cert-chain`, `ssl-client-*` and `x-ssl-client-*` headers are always removed; then
//!   Envoy XFCC ([`XfccConfig`]), RFC 9440 and nginx-style headers are set as configured (see
//!   [`forward`] for the exact formats). [`parse_xfcc`] reads XFCC back.
//! - With the `axum` feature: extractors `Peer`, `OptionalPeer` and
//!   [`ConnectionInfo`](crate::ConnectionInfo).
//!
//! # Where to put `MtlsLayer` in an axum app
//!
//! In front of the whole router (`mtls.layer().layer(app)`, or `serve`'s service): the layer
//! normalises the path before axum routes it, so the route that runs is the one decided on.
//! Applied inside `Router::nest("/api", inner.layer(mtls_layer))`, the layer sees the path
//! with the prefix stripped; with the `axum` feature it decides on the original path
//! (`OriginalUri`, `/api/admin`, so a policy route on `/api/admin` applies), and since it
//! cannot rewrite the original path there, it refuses a path not in normal form
//! (`/api/x/../admin`) with `400` instead of forwarding it rewritten. Without the `axum`
//! feature, nested, it decides on the stripped path: put it in front of the router instead.
//!
//! # Observability
//!
//! - Every denial is a `tracing` event (level INFO; ERROR for a missing `ConnectionInfo`) with
//!   fields `code` (the [`DenyReason::code`](mtls_policy::DenyReason::code)), `identity`,
//!   `status`, `sni`, `path` and `reason` (the sentence). An audit-mode would-be denial is a
//!   WARN event, a tolerated verification failure an INFO event.
//! - Counters through the `metrics` facade:
//!   - [`REQUESTS_TOTAL`] `mtls_requests_total{decision}`, `decision` ∈ `allow`, `audit`
//!     (allowed by audit mode although a rule denied it), `deny`;
//!   - [`DENIALS_TOTAL`] `mtls_denials_total{reason}`, `reason` a deny code (`revoked`,
//!     `identity_not_allowed`, ...) or one of the layer's own: `missing_connection_info`,
//!     `bad_host` (conflicting or malformed Host), `unknown_decision`; and, from
//!     [`RequireIdentity`], `identity_not_allowed` and `no_mtls_layer` (its ERROR event when
//!     `MtlsLayer` is missing in front of it). A route-level denial is not counted again in
//!     `mtls_requests_total`: `MtlsLayer` counted the request when it let it through.

#[cfg(feature = "axum")]
mod axum;
mod body;
pub mod forward;
mod future;
#[allow(clippy::module_inception)]
mod layer;
mod ocsp;
mod require;
mod service;
mod shadow;
mod span;
mod target;
mod xfcc;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use self::axum::{MissingConnectionInfo, OptionalPeer, Peer, PeerRejection};
pub use body::ResponseBody;
pub use forward::{ForwardIdentity, XfccConfig, is_identity_header, strip_identity_headers};
pub use future::ResponseFuture;
pub use layer::{MtlsLayer, SharedPolicy};
pub use require::{RequireIdentity, RequireIdentityLayer};
pub use service::{AuditNotes, MtlsService, fallback_status};
pub use target::MatchedRoute;
pub use xfcc::{XfccElement, XfccError, format_xfcc, parse_xfcc};

/// Counter name: requests decided, by `decision` (`allow`, `audit`, `deny`).
pub const REQUESTS_TOTAL: &str = "mtls_requests_total";
/// Counter name: denied requests, by `reason` (the deny code).
pub const DENIALS_TOTAL: &str = "mtls_denials_total";
