//! CRL-signing certificates outside the verified path (RFC 5280 6.3.3 (f)): a CA may sign its
//! CRLs (or, for an indirect CRL, another name may sign them) with a key whose certificate is
//! not on the certificate's path. The peer presents that certificate among its intermediates;
//! it counts when
//!
//! - its subject is the CRL's issuer, and its keyUsage, when present, asserts cRLSign;
//! - it was issued by a CA of the verified path (its signature verifies with that CA's key),
//!   so its path ends at the same trust anchor;
//! - it is current, and has no critical extension outside those path validation knows;
//! - its own revocation status, asked of the same index with the path's CAs and itself as the
//!   possible CRL signers (an indirect CRL issuer's certificate is in the scope of its own
//!   CRL), is good; a listing by any CRL of its issuer still revokes it.
//!
//! This runs only for a CRL that no CA of the path signed, so a PKI whose CAs sign their own
//! CRLs never reaches it.

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer as _;

use super::{Ctx, IndexedCrl, RevocationIndex, Signer, Status, Subject, verify_signature};
use crate::der::{self, CrlSign};

/// Extensions (id-ce arc, last component) a CRL-signing certificate may mark critical.
const KNOWN_CRITICAL: &[u8] = &[
    15, // keyUsage
    17, // subjectAltName
    19, // basicConstraints
    30, // nameConstraints
    31, // cRLDistributionPoints
    32, // certificatePolicies
    33, // policyMappings
    36, // policyConstraints
    37, // extKeyUsage
    54, // inhibitAnyPolicy
];

impl RevocationIndex {
    /// Whether a certificate the peer presented outside the path signed `crl` and may (see
    /// the module documentation).
    pub(super) fn signed_by_presented(
        &self,
        crl: &IndexedCrl,
        subject: &Subject<'_>,
        ctx: &Ctx<'_>,
    ) -> bool {
        subject
            .presented
            .iter()
            .any(|cert| self.signs(cert.as_ref(), crl, subject, ctx) == Some(true))
    }

    /// Whether `cert` may sign `crl` and did.
    fn signs(
        &self,
        cert: &[u8],
        crl: &IndexedCrl,
        subject: &Subject<'_>,
        ctx: &Ctx<'_>,
    ) -> Option<bool> {
        let (_, parsed) = X509Certificate::from_der(cert).ok()?;
        let name = name_contents(parsed.subject().as_raw())?;
        if name != &*crl.issuer_der || der::crl_sign(cert) == CrlSign::Missing {
            return None;
        }
        let issuer = name_contents(parsed.issuer().as_raw())?;
        let issued_in_path = subject
            .signers
            .iter()
            .filter(|s| s.name == issuer)
            .any(|s| verify_signature(cert, s.spki, ctx.algs).is_ok());
        let now = i64::try_from(ctx.now.as_secs()).ok()?;
        let validity = parsed.validity();
        let current =
            validity.not_before.timestamp() <= now && now <= validity.not_after.timestamp();
        let unknown_critical = parsed.extensions().iter().any(|e| {
            e.critical && !matches!(e.oid.as_bytes(), [0x55, 0x1d, n] if KNOWN_CRITICAL.contains(n))
        });
        if !issued_in_path || !current || unknown_critical {
            return None;
        }
        let is_ca = parsed
            .basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|b| b.value.ca);
        let signer = Signer {
            name,
            spki: parsed.public_key().raw,
            cert: Some(cert),
        };
        if !self.signed_by(crl, &signer, ctx.algs) {
            return Some(false);
        }
        // Its own status may come from the CRLs it signs (an indirect CRL issuer's certificate
        // is in its own scope); its issuer's CRLs still revoke it.
        let mut signers = subject.signers.to_vec();
        signers.push(signer);
        let own = Subject {
            issuer_name: issuer,
            serial: parsed.raw_serial(),
            is_leaf: !is_ca,
            cert,
            signers: &signers,
            presented: &[],
        };
        Some(self.status(&own, ctx.now, ctx.next_update, ctx.algs) == Status::Good)
    }
}

/// The contents of a Name's SEQUENCE (as webpki gives names).
fn name_contents(name: &[u8]) -> Option<&[u8]> {
    der::read(name)
        .filter(|(t, rest)| t.tag == der::SEQUENCE && rest.is_empty())
        .map(|(t, _)| t.contents)
}
