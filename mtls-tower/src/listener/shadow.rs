//! Shadow trust of one host: its candidate verifier, built by the same loader as the active
//! one, and what a handshake the active verifier refused tells about the candidate.

use std::sync::Arc;

use mtls_core::PeerIdentity;
use mtls_policy::{ClientValidation, Context, PeerVerification};
use rustls::crypto::CryptoProvider;

use super::ListenerError;
use crate::credentials::Secrets;
use crate::layer::SharedPolicy;
use crate::telemetry::{Disagreement, ShadowStage};
use crate::tls::{FetchedCrls, HostTls, PolicyVerifier};

/// What shadow trust needs to know of a host.
pub(super) struct Host<'a> {
    /// The listener's name.
    pub(super) listener: &'a str,
    /// The host's field path (`listeners[0].hosts[1]`).
    pub(super) label: &'a str,
    pub(super) port: u16,
    /// The host's first name: the decision's SNI and Host at the handshake.
    pub(super) sni: Option<String>,
}

/// `tls_host` with `candidate` judging every chain beside its verifier.
pub(super) fn with_candidate(
    tls_host: HostTls,
    candidate: &ClientValidation,
    host: Host<'_>,
    slot: &SharedPolicy,
    provider: &Arc<CryptoProvider>,
    secrets: &Secrets<'_>,
    fetched: &FetchedCrls,
) -> Result<HostTls, ListenerError> {
    let at = format!("{}.shadow_client_validation", host.label);
    // The loader of the active trust, with the CRLs fetched from distribution points.
    let verifier = PolicyVerifier::from_client_validation_fetched(
        candidate,
        Arc::clone(provider),
        secrets,
        fetched,
    )
    .map_err(|source| ListenerError::Trust {
        listener: host.listener.to_owned(),
        host: at.clone(),
        source: Box::new(source),
    })?
    .build()
    .map_err(|source| ListenerError::Verifier {
        listener: host.listener.to_owned(),
        host: at,
        source: Box::new(source),
    })?;
    let slot = slot.clone();
    let listener: Arc<str> = host.listener.into();
    let (port, sni) = (host.port, host.sni);
    let refused = move |chain: &[rustls_pki_types::CertificateDer<'_>],
                        active: &PeerVerification,
                        candidate: &PeerVerification| {
        let policy = slot.load();
        let Some(decider) = policy.candidate() else {
            return;
        };
        let identity = chain
            .first()
            .and_then(|leaf| PeerIdentity::from_der(leaf).ok());
        let mut ctx = Context::new(port, candidate);
        if let Some(sni) = &sni {
            ctx = ctx.sni(sni).host(sni);
        }
        if let Some(id) = &identity {
            ctx = ctx.identity(id);
        }
        let decision = decider.decide(&ctx);
        let active_reason = match active {
            PeerVerification::Failed { error, .. } => error.code().as_str(),
            _ => "handshake",
        };
        crate::telemetry::record_disagreement(&Disagreement {
            listener: &listener,
            stage: ShadowStage::Handshake,
            active: Some(active_reason),
            candidate: decision.reason().map(|r| r.code()),
            identity: identity.as_ref(),
        });
    };
    Ok(tls_host.candidate_verifier(Arc::new(verifier), Arc::new(refused)))
}
