//! Shadow trust at the handshake: the host's verifier decides, and when it refuses a chain the
//! candidate verifier judges the same chain, so a client the candidate would let in is seen
//! even though it never reaches the layer.

use std::fmt;
use std::sync::Arc;

use mtls_policy::PeerVerification;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

use super::server::ReportingVerifier;

/// Told about a handshake the active verifier refused: the chain as presented (leaf first), how
/// the active verifier judged it, and how the candidate did. It decides whether the two
/// disagree, and reports it.
pub type RefusedHandshake =
    Arc<dyn Fn(&[CertificateDer<'_>], &PeerVerification, &PeerVerification) + Send + Sync>;

/// The active verifier, with a candidate judging the chains it refuses. Everything rustls
/// asks (client auth offered, hints, signatures) is the active verifier's; the candidate is
/// never enforced.
pub(crate) struct Shadowed {
    pub(crate) active: Arc<dyn ReportingVerifier>,
    pub(crate) candidate: Arc<dyn ReportingVerifier>,
    pub(crate) refused: RefusedHandshake,
}

impl fmt::Debug for Shadowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shadowed")
            .field("active", &self.active)
            .field("candidate", &self.candidate)
            .finish_non_exhaustive()
    }
}

impl ClientCertVerifier for Shadowed {
    fn offer_client_auth(&self) -> bool {
        self.active.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.active.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.active.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verdict = self
            .active
            .verify_client_cert(end_entity, intermediates, now);
        if verdict.is_err() {
            // The rare path: the handshake ends here, so the candidate judges it now.
            let chain: Vec<CertificateDer<'_>> = std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| CertificateDer::from(c.as_ref()))
                .collect();
            let active = self.active.outcome_for(&chain);
            let candidate = self.candidate.outcome_for(&chain);
            (self.refused)(&chain, &active, &candidate);
        }
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.active.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.active.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.active.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.active.requires_raw_public_keys()
    }
}

impl ReportingVerifier for Shadowed {
    fn outcome_for(&self, chain: &[CertificateDer<'_>]) -> PeerVerification {
        self.active.outcome_for(chain)
    }

    fn chain_outcome_for(&self, chain: &[CertificateDer<'_>]) -> mtls_verify::ChainOutcome {
        self.active.chain_outcome_for(chain)
    }

    fn trust_state(&self, feed: &mut dyn FnMut(&[u8])) -> bool {
        self.active.trust_state(feed)
    }

    fn trust_domains(&self) -> &[Arc<mtls_verify::LoadedTrustDomain>] {
        self.active.trust_domains()
    }
}
