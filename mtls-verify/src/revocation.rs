//! Revocation answered from an index built once per snapshot, instead of rustls-webpki's
//! per-handshake CRL signature checks (rustls/webpki#81).
//!
//! # What is checked, and when
//!
//! - **At load** ([`RevocationIndex::new`]): every CRL is parsed by rustls-webpki (which rejects
//!   delta CRLs, indirect CRLs and reason-partitioned CRLs), and its revoked serials go into a
//!   hash index keyed by (issuer name, serial). A CRL with a critical cRLNumber is refused
//!   (RFC 5280 5.2.3; [`CrlError::CriticalCrlNumber`]); one without a cRLNumber is accepted with
//!   a warning (RFC 5280 requires it, but common CA tooling omits it and rustls accepts it). A CRL whose issuer name is the subject of one or
//!   more trust anchors must verify with one of them, else loading fails
//!   ([`CrlError::BadSignature`]). A CRL whose issuer is no anchor is taken to be issued by an
//!   intermediate CA.
//! - **Per handshake**, for each certificate of the verified path (or the leaf only): the CRLs
//!   naming its issuer are looked up; a CRL counts only if its signature verifies with the
//!   *issuing certificate of that path* (anchors: checked at load; intermediates: checked the
//!   first time the intermediate is seen, the result cached per (CRL, issuer key)) and, for an
//!   intermediate issuer with a keyUsage extension, that keyUsage asserts cRLSign (as
//!   rustls-webpki requires).
//! - A serial listed by any counting CRL is revoked. Otherwise, if no CRL counts, the status is
//!   unknown (what happens then is the trust domain's choice, [`mtls_policy::CrlOptions`]); if
//!   every counting CRL is past its `nextUpdate` (plus the grace the trust domain's
//!   [`NextUpdate`] gives; never, under `ignore`), the status is expired, and the certificate
//!   is refused with reason `crl_expired`.
//!
//! # issuingDistributionPoint
//!
//! Honoured as far as rustls-webpki does for CRLs without distribution point names:
//! `onlyContainsUserCerts` / `onlyContainsCACerts` restrict a CRL to leaves / CAs. A CRL whose
//! issuingDistributionPoint names a distribution point (a CRL partitioned by distribution point,
//! which webpki matches against the certificate's cRLDistributionPoints URIs) is rejected at load
//! ([`CrlError::Partitioned`]) rather than silently applied to certificates outside its scope.

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;
use std::time::{SystemTime, UNIX_EPOCH};

use mtls_core::CrlSet;
use mtls_policy::trust::NextUpdate;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls_pki_types::{CertificateRevocationListDer, TrustAnchor, UnixTime};
use webpki::{BorrowedCertRevocationList, CertRevocationList, RevocationReason};
use x509_parser::prelude::FromDer as _;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::der::{self, CrlSign, IdpScope};

/// How many issuer keys a CRL remembers its signature result for.
const KEY_CACHE: usize = 8;

/// Why a CRL could not be indexed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CrlError {
    /// rustls-webpki does not accept the CRL.
    #[error("CRL {index} (issuer {issuer}): unreadable: {detail}")]
    Unreadable {
        /// Zero-based index of the CRL in its set.
        index: usize,
        /// The CRL's issuer (RFC 4514).
        issuer: String,
        /// What rustls-webpki said.
        detail: String,
    },
    /// The CRL names a CA of the bundle as its issuer, but no CA of that name signed it.
    #[error(
        "CRL {index} (issuer {issuer}): signature does not verify with the CA certificate of \
         that name in the bundle ({detail}); the CRL was not issued by this CA"
    )]
    BadSignature {
        /// Zero-based index of the CRL in its set.
        index: usize,
        /// The CRL's issuer (RFC 4514).
        issuer: String,
        /// Why the signature was refused.
        detail: String,
    },
    /// The CRL's cRLNumber extension is marked critical (RFC 5280 5.2.3: non-critical).
    #[error(
        "CRL {index} (issuer {issuer}): its cRLNumber extension is marked critical, which it \
         MUST NOT be (RFC 5280 5.2.3)"
    )]
    CriticalCrlNumber {
        /// Zero-based index of the CRL in its set.
        index: usize,
        /// The CRL's issuer (RFC 4514).
        issuer: String,
    },
    /// The CRL's issuingDistributionPoint names a distribution point; such partitioned CRLs
    /// are not supported.
    #[error(
        "CRL {index} (issuer {issuer}): its issuingDistributionPoint names a distribution point \
         (a partitioned CRL), which is not supported: give the CA's full CRL"
    )]
    Partitioned {
        /// Zero-based index of the CRL in its set.
        index: usize,
        /// The CRL's issuer (RFC 4514).
        issuer: String,
    },
}

/// One indexed CRL.
struct IndexedCrl {
    der: CertificateRevocationListDer<'static>,
    issuer: String,
    next_update: Option<UnixTime>,
    scope: IdpScope,
    /// Signature results by the full SPKI of an issuer.
    keys: RwLock<Vec<(Box<[u8]>, bool)>>,
}

/// A serial's entry in one CRL: the CRL's index and the reason given.
type Listing = (usize, Option<RevocationReason>);

/// The CRLs and revoked serials of one issuer name.
#[derive(Default)]
struct IssuerEntry {
    crls: Vec<usize>,
    revoked: HashMap<Box<[u8]>, Vec<Listing>>,
}

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
/// let provider = mtls_core::crypto::default_provider();
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
    by_issuer: HashMap<Box<[u8]>, IssuerEntry>,
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
    /// No CRL of its issuer counts.
    Unknown,
    /// Only CRLs past their `nextUpdate` cover it.
    Expired(UnixTime),
}

/// The certificate whose status is asked, and the certificate (or anchor) that issued it.
pub(crate) struct Subject<'a> {
    pub(crate) issuer_name: &'a [u8],
    pub(crate) serial: &'a [u8],
    pub(crate) is_leaf: bool,
    /// Full SPKI of the issuer.
    pub(crate) issuer_spki: &'a [u8],
    /// The issuer's certificate when it is an intermediate (for its keyUsage).
    pub(crate) issuer_cert: Option<&'a [u8]>,
}

impl RevocationIndex {
    /// Indexes `crls`, verifying at once the signature of every CRL issued by one of `anchors`.
    ///
    /// # Errors
    /// A CRL that rustls-webpki rejects, one naming an anchor but not signed by it, or a
    /// partitioned CRL; see [`CrlError`].
    pub fn new(
        crls: &CrlSet,
        anchors: &[TrustAnchor<'_>],
        algs: &WebPkiSupportedAlgorithms,
    ) -> Result<Self, CrlError> {
        let mut index = Self {
            crls: Vec::with_capacity(crls.len()),
            by_issuer: HashMap::new(),
            revoked_count: 0,
        };
        for (i, crl) in crls.crls().iter().enumerate() {
            let issuer = crl.issuer().to_owned();
            let unreadable = |detail: String| CrlError::Unreadable {
                index: i,
                issuer: issuer.clone(),
                detail,
            };
            let borrowed = BorrowedCertRevocationList::from_der(crl.der())
                .map_err(|e| unreadable(e.to_string()))?;
            // `issuer()` and `issuing_distribution_point()` live on the enum.
            let parsed = CertRevocationList::from(
                BorrowedCertRevocationList::from_der(crl.der())
                    .map_err(|e| unreadable(e.to_string()))?,
            );
            let scope = match parsed.issuing_distribution_point() {
                None => IdpScope::default(),
                Some(idp) => der::idp_scope(idp)
                    .ok_or_else(|| unreadable("malformed issuingDistributionPoint".into()))?,
            };
            if scope.partitioned {
                return Err(CrlError::Partitioned { index: i, issuer });
            }
            match crl_number_critical(crl.der()).map_err(unreadable)? {
                // RFC 5280 5.2.3 says every CRL MUST carry one, but OpenSSL `ca -gencrl`
                // writes none unless configured to, rustls and nginx accept such CRLs, and
                // refusing one would refuse the whole trust domain: accept it, say so.
                None => tracing::warn!(
                    crl = i,
                    %issuer,
                    "CRL has no cRLNumber extension (RFC 5280 5.2.3); accepted, but reissue it with a CRL number"
                ),
                Some(true) => return Err(CrlError::CriticalCrlNumber { index: i, issuer }),
                Some(false) => {}
            }

            // Anchors of that name must have signed it.
            let mut keys = Vec::new();
            let mut refusal = None;
            for anchor in anchors
                .iter()
                .filter(|a| a.subject.as_ref() == parsed.issuer())
            {
                let spki = webpki::spki_for_anchor(anchor);
                match verify_signature(crl.der(), spki.as_ref(), algs) {
                    Ok(()) => keys.push((Box::from(spki.as_ref()), true)),
                    Err(e) => refusal = Some(e),
                }
            }
            if keys.is_empty() {
                if let Some(detail) = refusal {
                    return Err(CrlError::BadSignature {
                        index: i,
                        issuer,
                        detail,
                    });
                }
            }

            let entry = index
                .by_issuer
                .entry(Box::from(parsed.issuer()))
                .or_default();
            entry.crls.push(i);
            for revoked in &borrowed {
                let revoked = revoked.map_err(|e| unreadable(e.to_string()))?;
                entry
                    .revoked
                    .entry(Box::from(revoked.serial_number))
                    .or_default()
                    .push((i, revoked.reason_code));
                index.revoked_count += 1;
            }
            index.crls.push(IndexedCrl {
                der: crl.der().clone(),
                issuer,
                next_update: crl.next_update().map(unix_time),
                scope,
                keys: RwLock::new(keys),
            });
        }
        Ok(index)
    }

    /// How many CRLs are indexed.
    pub fn crl_count(&self) -> usize {
        self.crls.len()
    }

    /// The DER of every indexed CRL, in load order.
    pub fn crl_ders(&self) -> impl Iterator<Item = &[u8]> {
        self.crls.iter().map(|c| c.der.as_ref())
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
        let Some(entry) = self.by_issuer.get(subject.issuer_name) else {
            return Status::Unknown;
        };
        let counts = |i: usize| {
            let Some(crl) = self.crls.get(i) else {
                return false;
            };
            let in_scope = if subject.is_leaf {
                !crl.scope.only_ca
            } else {
                !crl.scope.only_user
            };
            in_scope && self.signed_by(crl, subject, algs)
        };
        let mut any = false;
        let mut current = false;
        let mut latest_expiry = None;
        for &i in &entry.crls {
            if !counts(i) {
                continue;
            }
            any = true;
            let stale = |next: UnixTime| {
                next_update
                    .usable_until(next.as_secs())
                    .is_some_and(|until| now.as_secs() > until)
            };
            match self.crls.get(i).and_then(|c| c.next_update) {
                Some(next) if stale(next) => {
                    latest_expiry = latest_expiry.max(Some(next));
                }
                _ => current = true,
            }
        }
        if !any {
            return Status::Unknown;
        }
        if let Some(listed) = entry.revoked.get(subject.serial) {
            if let Some((_, reason)) = listed.iter().find(|(i, _)| counts(*i)) {
                return Status::Revoked(*reason);
            }
        }
        match (current, latest_expiry) {
            (false, Some(next)) => Status::Expired(next),
            _ => Status::Good,
        }
    }

    /// Whether `crl` was signed by the issuer of `subject` (cached per issuer key).
    fn signed_by(
        &self,
        crl: &IndexedCrl,
        subject: &Subject<'_>,
        algs: &WebPkiSupportedAlgorithms,
    ) -> bool {
        if let Ok(keys) = crl.keys.read() {
            if let Some((_, ok)) = keys.iter().find(|(k, _)| **k == *subject.issuer_spki) {
                return *ok;
            }
        }
        let crl_signer = subject
            .issuer_cert
            .is_none_or(|cert| der::crl_sign(cert) != CrlSign::Missing);
        let ok = crl_signer && verify_signature(&crl.der, subject.issuer_spki, algs).is_ok();
        if !ok {
            tracing::warn!(
                crl_issuer = %crl.issuer,
                crl_signer,
                "a CRL naming this issuer is not signed by the issuing certificate presented in a \
                 verified path; it is ignored for that issuer"
            );
        }
        if let Ok(mut keys) = crl.keys.write() {
            if keys.len() < KEY_CACHE && !keys.iter().any(|(k, _)| **k == *subject.issuer_spki) {
                keys.push((Box::from(subject.issuer_spki), ok));
            }
        }
        ok
    }
}

/// Verifies the signature of a CRL with the full SPKI of its issuer, using the provider's
/// algorithms (the same matching rustls-webpki does: signature algorithm identifier and public
/// key algorithm identifier).
pub(crate) fn verify_signature(
    crl: &[u8],
    issuer_spki: &[u8],
    algs: &WebPkiSupportedAlgorithms,
) -> Result<(), String> {
    let signed = der::signed(crl).ok_or("malformed CRL")?;
    let (key_alg, key) = der::spki(issuer_spki).ok_or("malformed issuer public key")?;
    let mut found = false;
    for alg in algs.all {
        if alg.signature_alg_id().as_ref() != signed.algorithm {
            continue;
        }
        found = true;
        if alg.public_key_alg_id().as_ref() != key_alg {
            continue;
        }
        return alg
            .verify_signature(key, signed.tbs, signed.signature)
            .map_err(|_| "invalid signature for the CA's public key".to_owned());
    }
    Err(if found {
        "the signature algorithm does not match the CA's key type".to_owned()
    } else {
        "unsupported signature algorithm".to_owned()
    })
}

/// Whether the CRL's cRLNumber extension is critical (`None`: it has none).
fn crl_number_critical(der: &[u8]) -> Result<Option<bool>, String> {
    /// id-ce-cRLNumber (2.5.29.20), DER contents.
    const CRL_NUMBER: &[u8] = &[0x55, 0x1d, 0x14];
    let (_, crl) = CertificateRevocationList::from_der(der).map_err(|e| e.to_string())?;
    Ok(crl
        .extensions()
        .iter()
        .find(|e| e.oid.as_bytes() == CRL_NUMBER)
        .map(|e| e.critical))
}

fn unix_time(t: SystemTime) -> UnixTime {
    UnixTime::since_unix_epoch(t.duration_since(UNIX_EPOCH).unwrap_or_default())
}
