//! [`ChainOutcome`], and a small bounded map from end-entity certificate (full DER) to the
//! outcome of the handshake that presented it, because rustls does not tell a verifier which
//! connection it serves.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher as _, Hash as _, Hasher as _, RandomState};
use std::sync::{Arc, Mutex};

use mtls_core::CertificatePolicies;
use mtls_policy::PeerVerification;
use rustls_pki_types::CertificateDer;

/// What a [`PolicyVerifier`](crate::PolicyVerifier) concluded about one chain: verified by
/// which trust domain (or failed, and why), and the certificate policies valid for the path it
/// verified.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let pki = mtls_testkit::Pki::shared();
/// use mtls_core::CertificatePolicies;
/// use mtls_policy::{PeerVerification, TrustDomain, TrustSource};
/// use mtls_verify::{LoadedTrustDomain, PolicyVerifier};
/// use rustls_pki_types::UnixTime;
///
/// let provider = mtls_verify::crypto::default_provider();
/// let verifier = PolicyVerifier::builder(provider.clone())
///     .trust_domain(LoadedTrustDomain::load(
///         &TrustDomain::new("mesh", TrustSource::Pem(pki.root().cert_pem())),
///         &provider,
///     )?)
///     .build()?;
/// let chain = pki.default_client().chain_der();
/// let outcome = verifier.verify_chain_outcome(&chain[0], &chain[1..], UnixTime::now());
/// assert_eq!(outcome.verification, PeerVerification::verified("mesh"));
/// // The test kit's certificates assert no certificate policy.
/// assert_eq!(outcome.policies, CertificatePolicies::None);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChainOutcome {
    /// Verified by which trust domain, failed and why, or no certificate.
    pub verification: PeerVerification,
    /// The certificate policies valid for the verified path (RFC 5280 6.1.6, after the trust
    /// domain's `certificate_policies` initial set): [`CertificatePolicies::None`] unless
    /// `verification` is [`Verified`](PeerVerification::Verified).
    pub policies: CertificatePolicies,
}

impl ChainOutcome {
    /// `verification`, with no certificate policy.
    pub fn new(verification: PeerVerification) -> Self {
        Self {
            verification,
            policies: CertificatePolicies::None,
        }
    }
}

/// One record: the outcome, and a keyed hash of the intermediates presented with the end
/// entity (another chain with the same end entity may build another path, in another trust
/// domain, with other policies).
#[derive(Debug)]
struct Record {
    outcome: ChainOutcome,
    intermediates: u64,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Arc<[u8]>, Record>,
    /// First-insertion order; holds each key of `map` exactly once.
    order: VecDeque<Arc<[u8]>>,
}

/// Bounded FIFO of outcomes: the entry first recorded longest ago is evicted when full.
/// Re-recording a certificate updates its outcome in place. An outcome is found only with the
/// intermediates it was recorded with.
#[derive(Debug)]
pub(crate) struct Outcomes {
    capacity: usize,
    inner: Mutex<Inner>,
    /// Keys the hash of intermediates (unknown outside the process).
    hasher: RandomState,
}

impl Outcomes {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
            hasher: RandomState::new(),
        }
    }

    fn fingerprint(&self, intermediates: &[CertificateDer<'_>]) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        intermediates.len().hash(&mut hasher);
        for cert in intermediates {
            cert.as_ref().hash(&mut hasher);
        }
        hasher.finish()
    }

    pub(crate) fn record(
        &self,
        end_entity: &[u8],
        intermediates: &[CertificateDer<'_>],
        outcome: ChainOutcome,
    ) {
        let record = Record {
            outcome,
            intermediates: self.fingerprint(intermediates),
        };
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if let Some(slot) = inner.map.get_mut(end_entity) {
            *slot = record;
            return;
        }
        let key: Arc<[u8]> = Arc::from(end_entity);
        inner.map.insert(key.clone(), record);
        inner.order.push_back(key);
        while inner.order.len() > self.capacity {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            inner.map.remove(&old);
        }
    }

    /// The outcome recorded for `end_entity` presented with `intermediates`.
    pub(crate) fn get(
        &self,
        end_entity: &[u8],
        intermediates: &[CertificateDer<'_>],
    ) -> Option<ChainOutcome> {
        let fingerprint = self.fingerprint(intermediates);
        let inner = self.inner.lock().ok()?;
        let record = inner.map.get(end_entity)?;
        (record.intermediates == fingerprint).then(|| record.outcome.clone())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().map(|i| i.map.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(domain: &str) -> Option<ChainOutcome> {
        Some(ChainOutcome::new(PeerVerification::verified(domain)))
    }

    #[test]
    fn bounded_fifo() {
        let outcomes = Outcomes::new(2);
        let record = |ee: &[u8], domain: &str| {
            outcomes.record(
                ee,
                &[],
                ChainOutcome::new(PeerVerification::verified(domain)),
            );
        };
        record(b"a", "x");
        record(b"b", "y");
        record(b"c", "z");
        assert_eq!(outcomes.len(), 2);
        assert_eq!(outcomes.get(b"a", &[]), None);
        assert_eq!(outcomes.get(b"b", &[]), verified("y"));
        // Not consumed by reading.
        assert_eq!(outcomes.get(b"b", &[]), verified("y"));
        // Re-recording updates in place.
        record(b"c", "z2");
        assert_eq!(outcomes.len(), 2);
        assert_eq!(outcomes.get(b"c", &[]), verified("z2"));
        record(b"d", "w");
        assert_eq!(outcomes.get(b"b", &[]), None);
        assert_eq!(outcomes.get(b"d", &[]), verified("w"));
    }

    #[test]
    fn found_only_with_the_intermediates_it_was_recorded_with() {
        let outcomes = Outcomes::new(4);
        let (x, y) = (
            CertificateDer::from(vec![1, 2]),
            CertificateDer::from(vec![3]),
        );
        let mut outcome = ChainOutcome::new(PeerVerification::verified("a"));
        outcome.policies = CertificatePolicies::Any;
        outcomes.record(b"leaf", std::slice::from_ref(&x), outcome.clone());
        assert_eq!(
            outcomes.get(b"leaf", std::slice::from_ref(&x)),
            Some(outcome)
        );
        assert_eq!(outcomes.get(b"leaf", std::slice::from_ref(&y)), None);
        assert_eq!(outcomes.get(b"leaf", &[]), None);
        assert_eq!(outcomes.get(b"leaf", &[x.clone(), x]), None);
    }
}
