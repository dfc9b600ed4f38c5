//! [`ReportingVerifier`] for mtls-verify's [`PolicyVerifier`].

use mtls_policy::PeerVerification;
use mtls_verify::{ChainOutcome, PolicyVerifier};
use rustls_pki_types::CertificateDer;

use crate::tls::server::ReportingVerifier;

impl ReportingVerifier for PolicyVerifier {
    /// The record left by the handshake; when there is none (evicted), the chain is verified
    /// again. See [`PolicyVerifier::outcome_for_chain`].
    fn outcome_for(&self, chain: &[CertificateDer<'_>]) -> PeerVerification {
        self.outcome_for_chain(chain)
    }

    /// The same record, with the certificate policies valid for the verified path. See
    /// [`PolicyVerifier::chain_outcome`].
    fn chain_outcome_for(&self, chain: &[CertificateDer<'_>]) -> ChainOutcome {
        self.chain_outcome(chain)
    }

    /// The mode, the sharp tools, and per trust domain its name, options, CA certificates and
    /// CRLs (the deferral rule is not part of it: a deferred failure is decided per request).
    fn trust_state(&self, feed: &mut dyn FnMut(&[u8])) -> bool {
        Self::trust_state(self, feed);
        true
    }

    fn trust_domains(&self) -> &[std::sync::Arc<mtls_verify::LoadedTrustDomain>] {
        Self::trust_domains(self)
    }
}
