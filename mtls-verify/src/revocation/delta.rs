//! Delta CRLs (RFC 5280 5.2.4, 6.3.3 (c), (i), (j)): a delta CRL lists what changed since a
//! complete CRL. Its revocations count as any CRL's do; its removeFromCRL entries release a
//! certificateHold of the complete CRL it goes with, when it is current. A delta CRL goes with
//! a complete CRL of the same issuer and scope whose cRLNumber is at least the delta's
//! BaseCRLNumber and below the delta's own number. A delta CRL never makes a certificate good
//! by itself.

use rustls_pki_types::UnixTime;
use webpki::RevocationReason;

use super::{Listing, RevocationIndex};

impl RevocationIndex {
    /// Whether the certificateHold listed by complete CRL `complete` is released by a current
    /// delta CRL that goes with it and lists the same certificate with removeFromCRL
    /// (`listed`: every listing of the certificate; `counts`: whether a CRL counts for it).
    pub(super) fn hold_released(
        &self,
        complete: usize,
        listed: &[Listing],
        counts: &dyn Fn(usize) -> bool,
        stale: &dyn Fn(UnixTime) -> bool,
    ) -> bool {
        listed.iter().any(|&(d, reason)| {
            reason == Some(RevocationReason::RemoveFromCrl)
                && counts(d)
                && self.goes_with(d, complete)
                && self
                    .crls
                    .get(d)
                    .is_some_and(|c| c.next_update.is_none_or(|next| !stale(next)))
        })
    }

    /// Whether CRL `delta` is a delta CRL of complete CRL `complete`.
    fn goes_with(&self, delta: usize, complete: usize) -> bool {
        let (Some(delta), Some(complete)) = (self.crls.get(delta), self.crls.get(complete)) else {
            return false;
        };
        let (Some(base), Some(delta_number), None, Some(number)) = (
            &delta.delta_base,
            &delta.number,
            &complete.delta_base,
            &complete.number,
        ) else {
            return false;
        };
        delta.issuer_der == complete.issuer_der
            && delta.scope == complete.scope
            && at_least(number, base)
            && !at_least(number, delta_number)
    }
}

/// `a >= b`, both big-endian without leading zero bytes.
fn at_least(a: &[u8], b: &[u8]) -> bool {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b)).is_ge()
}
