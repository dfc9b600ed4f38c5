//! Shadow trust per request: the candidate decided beside the active policy, never enforced.

use mtls_core::PeerIdentity;
use mtls_policy::{Decision, PeerVerification, Policy};

use crate::telemetry::{Disagreement, ShadowStage, record_disagreement};

/// What the layer decided, and for whom.
pub(super) struct Decided<'a> {
    pub(super) port: u16,
    pub(super) active: &'a Decision,
    /// The identity the peer presented.
    pub(super) peer: Option<&'a PeerIdentity>,
}

/// Decides the request again with `policy`'s candidate and the connection's `candidate`
/// verification (`decide` is the layer's one decision), and reports a disagreement with the
/// active decision. Nothing happens when the policy has no candidate.
pub(super) fn compare(
    policy: &Policy,
    decided: &Decided<'_>,
    candidate: &PeerVerification,
    decide: impl FnOnce(&Policy, &PeerVerification) -> Decision,
) {
    let Some(decider) = policy.candidate() else {
        return;
    };
    let shadow = decide(decider, candidate);
    if shadow.is_allow() == decided.active.is_allow() {
        return;
    }
    // The rare path: the listener's name is looked up.
    let listener = policy
        .config()
        .listeners
        .iter()
        .find(|l| l.port() == decided.port)
        .map_or("-", |l| l.name.as_str());
    record_disagreement(&Disagreement {
        listener,
        stage: ShadowStage::Request,
        active: decided.active.reason().map(|r| r.code()),
        candidate: shadow.reason().map(|r| r.code()),
        identity: decided.peer,
    });
}
