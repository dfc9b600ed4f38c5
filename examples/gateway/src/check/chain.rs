//! The chain `check` reports: the certificates as presented, and the anchor they end at.

use mtls_core::{CaBundle, CertificateChain, PeerIdentity};

/// The chain as presented, and the bundle's anchor whose subject is the last certificate's
/// issuer, by subject.
pub(super) fn built_chain(chain: &CertificateChain, bundle: Option<&CaBundle>) -> Vec<String> {
    let mut subjects: Vec<String> = chain
        .as_slice()
        .iter()
        .map(|c| {
            PeerIdentity::from_der(c)
                .map_or_else(|_| "<unreadable>".into(), |id| id.subject().to_string())
        })
        .collect();
    let issuer = chain
        .as_slice()
        .last()
        .and_then(|c| PeerIdentity::from_der(c).ok())
        .map(|id| id.issuer().to_string());
    if let Some(anchor) =
        issuer.and_then(|i| bundle.and_then(|b| b.certificates().iter().find(|a| a.subject() == i)))
    {
        subjects.push(format!("{} (trust anchor)", anchor.subject()));
    }
    subjects
}
