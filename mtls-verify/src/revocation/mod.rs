//! Revocation answered from an index built once per snapshot, instead of rustls-webpki's
//! per-handshake CRL signature checks (rustls/webpki#81), following RFC 5280 6.3.
//!
//! # What is checked, and when
//!
//! - **At load** ([`RevocationIndex::new`]): every CRL is read once ([`crl`]): its number,
//!   whether it is a delta CRL, the scope its issuingDistributionPoint gives it, and its
//!   entries, each under the issuer of the certificate it revokes (a certificateIssuer entry
//!   extension of an indirect CRL moves the entries after it to another issuer). A CRL with a
//!   critical cRLNumber is refused (RFC 5280 5.2.3; [`CrlError::CriticalCrlNumber`]); one
//!   without a cRLNumber is accepted with a warning (RFC 5280 requires it, but common CA tooling
//!   omits it and rustls accepts it). A CRL whose issuer name is the subject of one or more
//!   trust anchors must verify with one of them, else loading fails ([`CrlError::BadSignature`]).
//!   Any other CRL loads: one that cannot answer for a certificate leaves that certificate's
//!   status undetermined, it never refuses the trust domain.
//! - **Per handshake**, for each certificate of the verified path (or the leaf only), the CRLs
//!   that may answer for it are those its issuer issued and the indirect CRLs of the cRLIssuer
//!   its cRLDistributionPoints name. One counts when
//!   - it has no unrecognised critical extension, on the CRL or on an entry;
//!   - its issuingDistributionPoint admits the certificate: not `onlyContainsAttributeCerts`,
//!     `onlyContainsUserCerts` only for the end-entity certificate, `onlyContainsCACerts` only
//!     for CA certificates, and a distribution point name only when one of the certificate's
//!     distribution points has a name in common with it (its cRLIssuer names when it has no
//!     name of its own; RFC 5280 6.3.3 (b));
//!   - its signature verifies with a CA certificate of the verified path (anchor included)
//!     whose subject is the CRL's issuer and whose keyUsage, when present, asserts cRLSign
//!     (RFC 5280 6.3.3 (f): a CRL-signing key of the CA's name other than the one that signed
//!     the certificate counts when its certificate is in the path). Results are cached per
//!     (CRL, signer key), so each signature is checked once.
//! - A serial listed (other than with reason removeFromCRL) by any counting CRL, delta CRLs
//!   included, is revoked, unless it is a certificateHold that a current delta CRL of that
//!   complete CRL lists with removeFromCRL ([`delta`]). Otherwise the certificate is good when the complete CRLs that count
//!   and are current cover every reason (onlySomeReasons, and the reasons of the distribution
//!   point they were matched through); when only CRLs past their `nextUpdate` (plus the grace
//!   the trust domain's [`NextUpdate`] gives; never, under `ignore`) complete the cover, the
//!   status is expired (reason `crl_expired`); otherwise it is unknown (what happens then is
//!   the trust domain's choice, [`mtls_policy::CrlOptions`]; refused by default). A delta CRL
//!   never makes a certificate good on its own.

mod crl;
mod delta;
mod error;
mod release;
mod signature;
mod signer;

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;
use std::time::{SystemTime, UNIX_EPOCH};

use mtls_core::CrlSet;
use mtls_policy::trust::NextUpdate;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, TrustAnchor, UnixTime};
use webpki::RevocationReason;

use crl::{ALL_REASONS, DistributionPoint, Scope};

pub use error::CrlError;
pub(crate) use signature::verify_signature;

/// How many signer keys a CRL remembers its signature result for.
const KEY_CACHE: usize = 8;

/// One indexed CRL.
struct IndexedCrl {
    der: CertificateRevocationListDer<'static>,
    /// The issuer (RFC 4514), for logs.
    issuer: String,
    issuer_der: Box<[u8]>,
    next_update: Option<UnixTime>,
    scope: Scope,
    /// The cRLNumber.
    number: Option<Box<[u8]>>,
    /// A delta CRL's BaseCRLNumber.
    delta_base: Option<Box<[u8]>>,
    unusable: Option<String>,
    /// Signature results by the full SPKI of a signer.
    keys: RwLock<Vec<(Box<[u8]>, bool)>>,
}

/// A serial's entry in one CRL: the CRL's index and the reason given.
type Listing = (usize, Option<RevocationReason>);

/// The listings of one certificate issuer's serials.
type Serials = HashMap<Box<[u8]>, Vec<Listing>>;

/// The revocation state of one trust domain, built once from its CRLs and anchors, answering
/// "is this certificate revoked?" with hash lookups.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let pki = mtls_testkit::Pki::shared();
/// # let revoked = pki.client().issue();
/// let crls = mtls_core::CrlSet::from_bytes(
///     pki.crls().revoke(&revoked).build().pem().as_bytes(),
///     "crl.pem",
/// )?;
/// let anchors = mtls_core::CaBundle::from_bytes(pki.root().cert_pem().as_bytes(), "ca.pem")?
///     .trust_anchors();
/// let provider = mtls_verify::crypto::default_provider();
/// let index = mtls_verify::RevocationIndex::new(
///     &crls,
///     &anchors,
///     &provider.signature_verification_algorithms,
/// )?;
/// assert_eq!(index.crl_count(), 2);
/// assert_eq!(index.revoked_count(), 1);
/// # Ok(()) }
/// ```
pub struct RevocationIndex {
    crls: Vec<IndexedCrl>,
    /// The CRLs each issuer name issued.
    by_issuer: HashMap<Box<[u8]>, Vec<usize>>,
    /// Listings by the revoked certificate's issuer, then its serial.
    revoked: HashMap<Box<[u8]>, Serials>,
    /// Whether some CRL is indirect (certificates' cRLDistributionPoints are then read).
    any_indirect: bool,
    revoked_count: usize,
}

impl fmt::Debug for RevocationIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationIndex")
            .field(
                "crls",
                &self.crls.iter().map(|c| &c.issuer).collect::<Vec<_>>(),
            )
            .field("revoked", &self.revoked_count)
            .finish()
    }
}

/// The revocation status of one certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// A current CRL of its issuer does not list it.
    Good,
    /// Listed.
    Revoked(Option<RevocationReason>),
    /// The CRLs that count do not cover every reason (none counts, or only partial ones).
    Unknown,
    /// Only CRLs past their `nextUpdate` cover it.
    Expired(UnixTime),
}

/// The certificate whose status is asked, and the CA certificates of its verified path.
pub(crate) struct Subject<'a> {
    pub(crate) issuer_name: &'a [u8],
    pub(crate) serial: &'a [u8],
    pub(crate) is_leaf: bool,
    /// The certificate (read for its cRLDistributionPoints only when a CRL's scope needs them).
    pub(crate) cert: &'a [u8],
    /// Every CA of the verified path, anchor included: the keys a CRL may be signed with.
    pub(crate) signers: &'a [Signer<'a>],
    /// The certificates the peer presented besides its own: where a CRL-signing certificate
    /// outside the path is looked for ([`signer`]); empty when none may be.
    pub(crate) presented: &'a [CertificateDer<'a>],
}

/// When a status is asked, and with what.
pub(crate) struct Ctx<'a> {
    pub(crate) now: UnixTime,
    pub(crate) next_update: NextUpdate,
    pub(crate) algs: &'a WebPkiSupportedAlgorithms,
}

/// A CA of a verified path, as a possible CRL signer.
#[derive(Clone, Copy)]
pub(crate) struct Signer<'a> {
    /// Its subject Name.
    pub(crate) name: &'a [u8],
    /// Its full SPKI.
    pub(crate) spki: &'a [u8],
    /// Its certificate when it is an intermediate (for its keyUsage).
    pub(crate) cert: Option<&'a [u8]>,
}

impl RevocationIndex {
    /// Indexes `crls`, verifying at once the signature of every CRL issued by one of `anchors`.
    ///
    /// # Errors
    /// A CRL that cannot be read, one with a critical cRLNumber, or one naming an anchor but
    /// not signed by it; see [`CrlError`].
    pub fn new(
        crls: &CrlSet,
        anchors: &[TrustAnchor<'_>],
        algs: &WebPkiSupportedAlgorithms,
    ) -> Result<Self, CrlError> {
        let mut index = Self {
            crls: Vec::with_capacity(crls.len()),
            by_issuer: HashMap::new(),
            revoked: HashMap::new(),
            any_indirect: false,
            revoked_count: 0,
        };
        for (i, crl) in crls.crls().iter().enumerate() {
            let issuer = crl.issuer().to_owned();
            let facts = crl::read(crl.der()).map_err(|detail| CrlError::Unreadable {
                index: i,
                issuer: issuer.clone(),
                detail,
            })?;
            match &facts.number {
                // RFC 5280 5.2.3 says every CRL MUST carry one, but OpenSSL `ca -gencrl`
                // writes none unless configured to, rustls and nginx accept such CRLs, and
                // refusing one would refuse the whole trust domain: accept it, say so.
                None => tracing::warn!(
                    crl = i,
                    %issuer,
                    "CRL has no cRLNumber extension (RFC 5280 5.2.3); accepted, but reissue it with a CRL number"
                ),
                Some((_, true)) => return Err(CrlError::CriticalCrlNumber { index: i, issuer }),
                Some((_, false)) => {}
            }
            if let Some(why) = &facts.unusable {
                tracing::warn!(crl = i, %issuer, "CRL loaded but answers for no certificate: {why}");
            }

            // Anchors of that name must have signed it.
            let mut keys = Vec::new();
            let mut refusal = None;
            for anchor in anchors
                .iter()
                .filter(|a| a.subject.as_ref() == &*facts.issuer)
            {
                let spki = webpki::spki_for_anchor(anchor);
                match verify_signature(crl.der(), spki.as_ref(), algs) {
                    Ok(()) => keys.push((Box::from(spki.as_ref()), true)),
                    Err(e) => refusal = Some(e),
                }
            }
            if keys.is_empty()
                && let Some(detail) = refusal
            {
                return Err(CrlError::BadSignature {
                    index: i,
                    issuer,
                    detail,
                });
            }

            index
                .by_issuer
                .entry(facts.issuer.clone())
                .or_default()
                .push(i);
            index.any_indirect |= facts.scope.indirect;
            for entry in facts.entries {
                index
                    .revoked
                    .entry(entry.cert_issuer)
                    .or_default()
                    .entry(entry.serial)
                    .or_default()
                    .push((i, entry.reason));
                index.revoked_count += 1;
            }
            index.crls.push(IndexedCrl {
                der: crl.der().clone(),
                issuer,
                issuer_der: facts.issuer,
                next_update: crl.next_update().map(unix_time),
                scope: facts.scope,
                number: facts.number.map(|(n, _)| n),
                delta_base: facts.delta_base,
                unusable: facts.unusable,
                keys: RwLock::new(keys),
            });
        }
        Ok(index)
    }

    /// Refuses a CRL without a cRLNumber extension, as the strict certificate profile does
    /// (RFC 5280 5.2.3; [`new`](Self::new) accepts one with a warning).
    ///
    /// # Errors
    /// [`CrlError::MissingCrlNumber`] for the first such CRL.
    pub fn require_crl_numbers(&self) -> Result<(), CrlError> {
        match self
            .crls
            .iter()
            .enumerate()
            .find(|(_, crl)| crl.number.is_none())
        {
            Some((index, crl)) => Err(CrlError::MissingCrlNumber {
                index,
                issuer: crl.issuer.clone(),
            }),
            None => Ok(()),
        }
    }

    /// How many CRLs are indexed.
    pub fn crl_count(&self) -> usize {
        self.crls.len()
    }

    /// The DER of every indexed CRL, in load order.
    pub fn crl_ders(&self) -> impl Iterator<Item = &[u8]> {
        self.crls.iter().map(|c| c.der.as_ref())
    }

    /// Each indexed CRL's issuer (RFC 4514) and `nextUpdate`, in load order; CRLs without a
    /// `nextUpdate` are left out.
    pub fn next_updates(&self) -> impl Iterator<Item = (&str, SystemTime)> {
        self.crls.iter().filter_map(|c| {
            c.next_update.map(|t| {
                (
                    c.issuer.as_str(),
                    UNIX_EPOCH + std::time::Duration::from_secs(t.as_secs()),
                )
            })
        })
    }

    /// How many revoked entries (serials, over all CRLs) are indexed.
    pub fn revoked_count(&self) -> usize {
        self.revoked_count
    }

    /// The revocation status of `subject` at `now`, a CRL past its `nextUpdate` counting as
    /// `next_update` says.
    pub(crate) fn status(
        &self,
        subject: &Subject<'_>,
        now: UnixTime,
        next_update: NextUpdate,
        algs: &WebPkiSupportedAlgorithms,
    ) -> Status {
        let ctx = Ctx {
            now,
            next_update,
            algs,
        };
        let direct = self
            .by_issuer
            .get(subject.issuer_name)
            .map_or(&[][..], Vec::as_slice);
        let needs_points = self.any_indirect
            || direct
                .iter()
                .any(|&i| self.crls.get(i).is_some_and(|c| !c.scope.names.is_empty()));
        let points = if needs_points {
            crl::distribution_points(subject.cert, subject.issuer_name).unwrap_or_default()
        } else {
            Vec::new()
        };
        // (CRL, reasons it covers for this certificate).
        let mut counting: Vec<(usize, u16)> = Vec::new();
        for &i in direct {
            if let Some(reasons) = self.covers(i, subject, &points, None, &ctx) {
                counting.push((i, reasons));
            }
        }
        if self.any_indirect {
            for point in &points {
                for name in point
                    .crl_issuer
                    .iter()
                    .filter_map(|n| crl::directory_name_of(n))
                {
                    if name == subject.issuer_name {
                        continue;
                    }
                    for &i in self.by_issuer.get(name).map_or(&[][..], Vec::as_slice) {
                        if counting.iter().any(|(c, _)| *c == i) {
                            continue;
                        }
                        if let Some(reasons) = self.covers(i, subject, &points, Some(point), &ctx) {
                            counting.push((i, reasons));
                        }
                    }
                }
            }
        }

        let listings = self
            .revoked
            .get(subject.issuer_name)
            .and_then(|serials| serials.get(subject.serial));
        let stale = |next: UnixTime| {
            next_update
                .usable_until(next.as_secs())
                .is_some_and(|until| now.as_secs() > until)
        };
        if let Some(listed) = listings {
            let counts = |i: usize| counting.iter().any(|(c, _)| *c == i);
            let revoked = listed.iter().find(|(i, reason)| {
                *reason != Some(RevocationReason::RemoveFromCrl)
                    && counts(*i)
                    && !(*reason == Some(RevocationReason::CertificateHold)
                        && self.hold_released(*i, listed, &counts, &stale))
            });
            if let Some((_, reason)) = revoked {
                return Status::Revoked(*reason);
            }
        }

        let (mut current, mut any, mut latest_expiry) = (0u16, 0u16, None);
        for &(i, reasons) in &counting {
            let Some(crl) = self.crls.get(i).filter(|c| c.delta_base.is_none()) else {
                continue;
            };
            any |= reasons;
            match crl.next_update {
                Some(next) if stale(next) => latest_expiry = latest_expiry.max(Some(next)),
                _ => current |= reasons,
            }
        }
        match latest_expiry {
            _ if current == ALL_REASONS => Status::Good,
            Some(next) if any == ALL_REASONS => Status::Expired(next),
            _ => Status::Unknown,
        }
    }

    /// The reasons CRL `i` answers for about `subject` (RFC 5280 6.3.3 (b), (d), (f)), or
    /// `None` when it does not count. `via`: the distribution point naming it as cRLIssuer,
    /// for an indirect CRL.
    fn covers(
        &self,
        i: usize,
        subject: &Subject<'_>,
        points: &[DistributionPoint],
        via: Option<&DistributionPoint>,
        ctx: &Ctx<'_>,
    ) -> Option<u16> {
        let crl = self.crls.get(i)?;
        let scope = &crl.scope;
        if crl.unusable.is_some()
            || scope.only_attribute
            || (scope.only_user && !subject.is_leaf)
            || (scope.only_ca && subject.is_leaf)
            || (via.is_some() && !scope.indirect)
        {
            return None;
        }
        let shares = |point: &DistributionPoint| {
            let names = if point.names.is_empty() {
                &point.crl_issuer
            } else {
                &point.names
            };
            names.iter().any(|n| scope.names.contains(n))
        };
        let reasons = match via {
            Some(point) if scope.names.is_empty() || shares(point) => point.reasons,
            Some(_) => return None,
            None if scope.names.is_empty() => ALL_REASONS,
            None => points
                .iter()
                .filter(|p| p.crl_issuer.is_empty() && shares(p))
                .fold(0, |acc, p| acc | p.reasons),
        } & scope.reasons;
        if reasons == 0 {
            return None;
        }
        let by_path = subject
            .signers
            .iter()
            .filter(|s| s.name == &*crl.issuer_der)
            .any(|s| self.signed_by(crl, s, ctx.algs));
        (by_path || self.signed_by_presented(crl, subject, ctx)).then_some(reasons)
    }
}

fn unix_time(t: SystemTime) -> UnixTime {
    UnixTime::since_unix_epoch(t.duration_since(UNIX_EPOCH).unwrap_or_default())
}
