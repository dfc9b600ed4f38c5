//! The per-request tracing span of [`MtlsService`](super::MtlsService): `mtls_request`, at
//! INFO, with the fields `identity`, `route`, `decision` (`allow`, `audit`, `deny`) and
//! `reason` (the deny code). The layer's own events and the inner service's (entered while
//! its future runs) are inside it, so a subscriber that prints span fields shows who was let
//! in by which route on every line of the request.

use mtls_core::PeerIdentity;
use mtls_policy::{AuditNote, Decision, Policy};
use tracing::field::Empty;

use super::service::label;

/// A new request span, its fields still empty.
pub(super) fn request() -> tracing::Span {
    tracing::info_span!(
        "mtls_request",
        identity = Empty,
        route = Empty,
        decision = Empty,
        reason = Empty
    )
}

/// Records `decision` in `span`: nothing to do (and nothing formatted) when no subscriber
/// wants the span.
pub(super) fn record(
    span: &tracing::Span,
    policy: &Policy,
    decision: &Decision,
    peer: Option<&PeerIdentity>,
) {
    if span.is_disabled() {
        return;
    }
    match decision {
        Decision::Allow {
            identity,
            audit_notes,
            route,
        } => {
            let audited = audit_notes
                .iter()
                .any(|n| matches!(n, AuditNote::WouldDeny(_)));
            span.record("decision", if audited { "audit" } else { "allow" });
            span.record("identity", label(identity.as_ref()).as_str());
            if let Some(route) = route.and_then(|id| policy.route(id)) {
                span.record("route", route.name());
            }
        }
        Decision::Deny { reason, .. } => {
            span.record("decision", "deny");
            span.record("reason", reason.code());
            span.record("identity", label(peer).as_str());
        }
        _ => {
            span.record("decision", "unknown");
        }
    }
}
