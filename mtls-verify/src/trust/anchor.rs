//! What the checks after path building need to know of a trust anchor.

use std::collections::HashMap;

use mtls_core::CaCertificate;
use rustls_pki_types::{TrustAnchor, UnixTime};

use crate::chain;

/// What the checks after path building need to know of a trust anchor that rustls-webpki
/// does not keep (an anchor is only a name and a key there), resolved over every bundle
/// certificate with the anchor's name and key: a renewed root counts as the same anchor.
#[derive(Debug, Clone)]
pub(crate) struct AnchorFacts {
    /// The latest `notAfter` among those certificates: a path through an anchor all of whose
    /// certificates expired is refused, as OpenSSL and Go do.
    pub(crate) not_after: UnixTime,
    /// Why none of those certificates may anchor a path under the RFC 5280 profile checks
    /// ([`chain::anchor_fault`]; the first certificate's reason); `None` when one may.
    pub(crate) fault: Option<String>,
}

impl AnchorFacts {
    /// The facts of each anchor of `anchors` (made from `certs`, in the same order). Faults
    /// are logged once, per certificate.
    pub(super) fn resolve(
        anchors: &[TrustAnchor<'_>],
        certs: &[CaCertificate],
        domain: &str,
    ) -> Vec<Self> {
        let own: Vec<Self> = certs
            .iter()
            .map(|cert| {
                let fault = chain::anchor_fault(cert.der());
                if let Some(fault) = &fault {
                    tracing::warn!(
                        trust_domain = %domain,
                        "{fault}: no chain through this CA certificate will be accepted"
                    );
                }
                let since = cert
                    .not_after()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                Self {
                    not_after: UnixTime::since_unix_epoch(since),
                    fault,
                }
            })
            .collect();
        // Certificates of the same name and key, merged: the latest expiry, and no fault as
        // soon as one has none.
        fn key<'a>(anchor: &'a TrustAnchor<'_>) -> (&'a [u8], &'a [u8]) {
            (
                anchor.subject.as_ref(),
                anchor.subject_public_key_info.as_ref(),
            )
        }
        let mut merged: HashMap<(&[u8], &[u8]), Self> = HashMap::new();
        for (anchor, facts) in anchors.iter().zip(&own) {
            merged
                .entry(key(anchor))
                .and_modify(|m| {
                    if facts.not_after.as_secs() > m.not_after.as_secs() {
                        m.not_after = facts.not_after;
                    }
                    if facts.fault.is_none() {
                        m.fault = None;
                    }
                })
                .or_insert_with(|| facts.clone());
        }
        anchors
            .iter()
            .zip(own)
            .map(|(anchor, own)| merged.get(&key(anchor)).cloned().unwrap_or(own))
            .collect()
    }
}
