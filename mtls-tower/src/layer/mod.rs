//! The tower middleware: per-request authorization by client certificate, and the verified
//! identity forwarded upstream.
//!
//! - [`MtlsLayer`] / [`MtlsService`] / [`ResponseFuture`]: the tower triple. Reads the
//!   [`ConnectionInfo`](crate::ConnectionInfo) the acceptor inserted, decides with the
//!   [`Policy`](mtls_policy::Policy) held in a hot-swappable [`SharedPolicy`], answers denials
//!   as the policy says, and on allow inserts the [`PeerIdentity`](mtls_core::PeerIdentity)
//!   into the request's extensions.
//! - [`ForwardIdentity`]: inbound `x-forwarded-client-cert`, `client-cert`,
//!   `client-cert-chain`, `ssl-client-*` and `x-ssl-client-*` headers are always removed; then
//!   Envoy XFCC ([`XfccConfig`]), RFC 9440 and nginx-style headers are set as configured (see
//!   [`forward`] for the exact formats). [`parse_xfcc`] reads XFCC back.
//! - With the `axum` feature: extractors `Peer`, `OptionalPeer` and
//!   [`ConnectionInfo`](crate::ConnectionInfo).
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
//!     `bad_host` (conflicting or malformed Host), `unknown_decision`.

#[cfg(feature = "axum")]
mod axum;
mod body;
pub mod forward;
mod future;
#[allow(clippy::module_inception)]
mod layer;
mod service;
mod target;
mod xfcc;

#[cfg(feature = "axum")]
pub use self::axum::{MissingConnectionInfo, OptionalPeer, Peer, PeerRejection};
pub use body::ResponseBody;
pub use forward::{ForwardIdentity, XfccConfig, is_identity_header, strip_identity_headers};
pub use future::ResponseFuture;
pub use layer::{MtlsLayer, SharedPolicy};
pub use service::{AuditNotes, MtlsService, fallback_status};
pub use target::MatchedRoute;
pub use xfcc::{XfccElement, XfccError, format_xfcc, parse_xfcc};

/// Counter name: requests decided, by `decision` (`allow`, `audit`, `deny`).
pub const REQUESTS_TOTAL: &str = "mtls_requests_total";
/// Counter name: denied requests, by `reason` (the deny code).
pub const DENIALS_TOTAL: &str = "mtls_denials_total";
