//! Certificate revocation lists.

use std::path::Path;
use std::time::SystemTime;

use rustls_pki_types::CertificateRevocationListDer;
use rustls_pki_types::pem::SectionKind;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer as _;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::error::{Error, ErrorKind, Expected, Origin};
use crate::pem;

/// One CRL, structurally checked at load time (by x509-parser and by rustls-webpki, which
/// refuses what is malformed or of an unknown version; issuingDistributionPoint scopes, reason
/// partitions, indirect and delta CRLs, and CRLs with critical extensions webpki does not know,
/// load, and the verifier decides which certificates such a CRL answers for). Its signature is
/// *not* checked here: that needs the issuing CA, which the verifier has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crl {
    der: CertificateRevocationListDer<'static>,
    issuer: String,
    issuer_der: Vec<u8>,
    this_update: SystemTime,
    next_update: Option<SystemTime>,
    revoked_serials: Vec<Vec<u8>>,
}

impl Crl {
    fn parse(der: Vec<u8>, index: usize) -> Result<Self, ErrorKind> {
        let bad = |detail: String| ErrorKind::BadCrl { index, detail };
        let (issuer, issuer_der, this_update, next_update, revoked_serials) =
            match CertificateRevocationList::from_der(&der) {
                Ok((rest, _)) if !rest.is_empty() => {
                    return Err(bad(format!(
                        "{} unexpected bytes after the CRL",
                        rest.len()
                    )));
                }
                Ok((_, crl)) if crl.version().is_none() => {
                    return Err(ErrorKind::CrlVersion1 {
                        index,
                        issuer: crate::name::rfc4514(crl.issuer()),
                    });
                }
                Ok((_, crl)) => (
                    crate::name::rfc4514(crl.issuer()),
                    crl.issuer().as_raw().to_vec(),
                    pem::system_time(crl.last_update().timestamp()),
                    crl.next_update().map(|t| pem::system_time(t.timestamp())),
                    crl.iter_revoked_certificates()
                        .map(|r| r.raw_serial().to_vec())
                        .collect(),
                ),
                Err(_) if X509Certificate::from_der(&der).is_ok() => {
                    return Err(ErrorKind::CertificateNotCrl {
                        found: "DER input".into(),
                    });
                }
                Err(e) => return Err(bad(e.to_string())),
            };
        match webpki::BorrowedCertRevocationList::from_der(&der) {
            // Forms of RFC 5280 5.2 that rustls-webpki does not implement but a verifier may
            // (scoped, reason-partitioned, indirect and delta CRLs), and critical extensions it
            // does not know: the CRL loads, and the verifier decides which certificates it can
            // answer for (none, for a CRL with a critical extension it does not know either).
            Ok(_)
            | Err(
                webpki::Error::UnsupportedCrlIssuingDistributionPoint
                | webpki::Error::UnsupportedRevocationReasonsPartitioning
                | webpki::Error::UnsupportedIndirectCrl
                | webpki::Error::UnsupportedDeltaCrl
                | webpki::Error::UnsupportedCriticalExtension,
            ) => {}
            Err(e) => return Err(bad(format!("rejected by rustls-webpki: {e}"))),
        }
        Ok(Self {
            der: CertificateRevocationListDer::from(der),
            issuer,
            issuer_der,
            this_update,
            next_update,
            revoked_serials,
        })
    }

    /// The CRL, DER encoded.
    pub fn der(&self) -> &CertificateRevocationListDer<'static> {
        &self.der
    }

    /// The issuer (RFC 4514).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The issuer's DER-encoded Name, to match it against a CA certificate's subject.
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer_der
    }

    /// When the CRL was issued.
    pub fn this_update(&self) -> SystemTime {
        self.this_update
    }

    /// When the next CRL is due (after that, this one is stale), if the CRL says.
    pub fn next_update(&self) -> Option<SystemTime> {
        self.next_update
    }

    /// The serial numbers of the revoked certificates, as the big-endian bytes encoded in the CRL.
    pub fn revoked_serials(&self) -> &[Vec<u8>] {
        &self.revoked_serials
    }
}

/// Zero or more CRLs, read from PEM (`X509 CRL` blocks) or DER.
///
/// ```
/// # fn main() -> Result<(), mtls_core::Error> {
/// # let pem = mtls_testkit::Pki::shared().crls().build().pem();
/// let crls = mtls_core::CrlSet::from_bytes(pem.as_bytes(), "ca.crl")?;
/// assert_eq!(crls.len(), 2); // the root's and the intermediate's
/// assert!(crls.earliest_next_update().is_some());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrlSet {
    crls: Vec<Crl>,
}

impl CrlSet {
    /// Reads one or more CRLs from PEM or one from DER. Input without any CRL is an error.
    pub fn from_bytes(input: &[u8], origin: impl Into<Origin>) -> Result<Self, Error> {
        let origin = origin.into();
        let mut set = Self::default();
        set.add(input).map_err(|kind| Error::new(origin, kind))?;
        Ok(set)
    }

    /// Reads CRLs from a file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        Self::from_bytes(&pem::read_file(path)?, path)
    }

    /// Reads every file of a directory (sorted; names starting with `.` skipped).
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, Error> {
        let mut set = Self::default();
        pem::for_each_file(dir.as_ref(), Expected::Crl, |input| set.add(input))?;
        Ok(set)
    }

    fn add(&mut self, input: &[u8]) -> Result<(), ErrorKind> {
        let before = self.crls.len();
        let blocks = pem::read_blocks(input, Expected::Crl).map_err(|e| match e {
            ErrorKind::Empty(_) => ErrorKind::EmptyCrl,
            other => other,
        })?;
        let mut certificate = None;
        for block in blocks {
            match block.kind {
                None | Some(SectionKind::Crl) => {
                    self.crls.push(Crl::parse(block.der, block.index)?);
                }
                Some(SectionKind::Certificate) => {
                    certificate.get_or_insert(block.index);
                }
                Some(_) => {}
            }
        }
        if let (true, Some(index)) = (self.crls.len() == before, certificate) {
            return Err(ErrorKind::CertificateNotCrl {
                found: format!("PEM block {index} (CERTIFICATE)"),
            });
        }
        if self.crls.len() == before {
            return Err(ErrorKind::NoMatchingPemBlock {
                expected: Expected::Crl,
                seen: pem::labels_seen(input),
            });
        }
        Ok(())
    }

    /// Adds the CRLs of `other`.
    pub fn extend(&mut self, other: Self) {
        self.crls.extend(other.crls);
    }

    /// The CRLs, in input order.
    pub fn crls(&self) -> &[Crl] {
        &self.crls
    }

    /// How many CRLs.
    pub fn len(&self) -> usize {
        self.crls.len()
    }

    /// Whether there is no CRL.
    pub fn is_empty(&self) -> bool {
        self.crls.is_empty()
    }

    /// The CRLs as DER, e.g. for `WebPkiClientVerifier::builder(..).with_crls(..)` (which
    /// refuses the scoped, reason-partitioned, indirect and delta CRLs this set also holds).
    pub fn ders(&self) -> Vec<CertificateRevocationListDer<'static>> {
        self.crls.iter().map(|c| c.der.clone()).collect()
    }

    /// The earliest `nextUpdate`: when the first CRL goes stale (`None` if no CRL says).
    pub fn earliest_next_update(&self) -> Option<SystemTime> {
        self.crls.iter().filter_map(Crl::next_update).min()
    }
}
