//! CA bundles: the certificates a verifier trusts as anchors.

use std::collections::HashSet;
use std::path::Path;
use std::time::SystemTime;

use rustls_pki_types::pem::SectionKind;
use rustls_pki_types::{CertificateDer, TrustAnchor};
use x509_parser::certificate::X509Certificate;
use x509_parser::x509::X509Version;

use crate::cert::{earliest, not_after_of, parse_certificate, subject_of};
use crate::error::{Error, ErrorKind, Expected, Origin};
use crate::pem;

/// One trusted CA certificate with the facts read from it at load time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaCertificate {
    der: CertificateDer<'static>,
    subject: String,
    not_after: SystemTime,
}

impl CaCertificate {
    /// The certificate, DER encoded.
    pub fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }

    /// Its subject (RFC 4514).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// End of its validity period.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// The certificate as a rustls-webpki trust anchor.
    pub fn trust_anchor(&self) -> TrustAnchor<'static> {
        // Checked at load time; a certificate that parsed then cannot fail now. If it ever did,
        // an anchor that matches nothing fails closed.
        webpki::anchor_from_trusted_cert(&self.der)
            .map(|a| a.to_owned())
            .unwrap_or(TrustAnchor {
                subject: Vec::new().into(),
                subject_public_key_info: Vec::new().into(),
                name_constraints: None,
            })
    }
}

/// A non-empty, duplicate-free set of CA certificates, each checked to be usable as a trust
/// anchor.
///
/// PEM input may hold any number of `CERTIFICATE` blocks with text between them (comments,
/// OpenSSL's `subject=` lines); blocks of other types are ignored; a certificate that appears
/// twice is kept once. An empty bundle is an error: it never silently means "trust nobody".
///
/// ```
/// # fn main() -> Result<(), mtls_core::Error> {
/// # let pem = mtls_testkit::Pki::shared().root().cert_pem();
/// let bundle = mtls_core::CaBundle::from_bytes(pem.as_bytes(), "ca.crt")?;
/// assert_eq!(bundle.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaBundle {
    certs: Vec<CaCertificate>,
    duplicates: usize,
}

impl CaBundle {
    /// Reads a bundle from PEM (many blocks) or one DER certificate.
    pub fn from_bytes(input: &[u8], origin: impl Into<Origin>) -> Result<Self, Error> {
        let origin = origin.into();
        let mut bundle = Self {
            certs: Vec::new(),
            duplicates: 0,
        };
        let mut seen = HashSet::new();
        bundle
            .add(input, &mut seen)
            .map_err(|kind| Error::new(origin, kind))?;
        Ok(bundle)
    }

    /// Reads a bundle from a file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        Self::from_bytes(&pem::read_file(path)?, path)
    }

    /// Reads every file of a directory (sorted by name; names starting with `.` skipped) into one
    /// bundle. Each file must hold at least one CA certificate.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, Error> {
        let mut bundle = Self {
            certs: Vec::new(),
            duplicates: 0,
        };
        let mut seen = HashSet::new();
        pem::for_each_file(dir.as_ref(), Expected::CaCertificate, |input| {
            bundle.add(input, &mut seen)
        })?;
        Ok(bundle)
    }

    fn add(&mut self, input: &[u8], seen: &mut HashSet<Vec<u8>>) -> Result<(), ErrorKind> {
        let blocks = match pem::read_blocks(input, Expected::CaCertificate) {
            Err(ErrorKind::Empty(_)) => return Err(ErrorKind::EmptyBundle),
            other => other?,
        };
        let mut found = false;
        for block in blocks {
            if !matches!(block.kind, None | Some(SectionKind::Certificate)) {
                continue;
            }
            found = true;
            let cert = parse_certificate(&block.der, block.index)?;
            check_ca(&cert, &block.der, block.index)?;
            let subject = subject_of(&cert);
            let not_after = not_after_of(&cert);
            if seen.insert(block.der.clone()) {
                self.certs.push(CaCertificate {
                    der: CertificateDer::from(block.der),
                    subject,
                    not_after,
                });
            } else {
                self.duplicates += 1;
            }
        }
        if found {
            Ok(())
        } else if pem::labels_seen(input) == "none" {
            Err(ErrorKind::EmptyBundle)
        } else {
            Err(ErrorKind::NoMatchingPemBlock {
                expected: Expected::CaCertificate,
                seen: pem::labels_seen(input),
            })
        }
    }

    /// Adds the certificates of `other`, skipping duplicates.
    pub fn merge(&mut self, other: &Self) {
        let mut seen: HashSet<&[u8]> = self.certs.iter().map(|c| c.der.as_ref()).collect();
        let mut added = Vec::new();
        for cert in &other.certs {
            if seen.insert(cert.der.as_ref()) {
                added.push(cert.clone());
            } else {
                self.duplicates += 1;
            }
        }
        self.certs.extend(added);
    }

    /// The CA certificates, in input order.
    pub fn certificates(&self) -> &[CaCertificate] {
        &self.certs
    }

    /// How many CA certificates (duplicates removed).
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Always false: an empty bundle cannot be built.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// How many duplicate certificates were dropped while loading.
    pub fn duplicates_removed(&self) -> usize {
        self.duplicates
    }

    /// The earliest `notAfter` of the bundle: when the first anchor expires.
    pub fn earliest_not_after(&self) -> SystemTime {
        self.certs
            .iter()
            .fold(None, |acc, c| earliest(acc, c.not_after))
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }

    /// The bundle as rustls-webpki trust anchors.
    pub fn trust_anchors(&self) -> Vec<TrustAnchor<'static>> {
        self.certs.iter().map(CaCertificate::trust_anchor).collect()
    }
}

/// A CA certificate must be usable as a webpki trust anchor and must be a CA: basicConstraints
/// with `cA` true, and keyCertSign when it has a keyUsage. Version 1 certificates (no extensions
/// at all) are accepted as legacy roots, as OpenSSL does.
fn check_ca(cert: &X509Certificate<'_>, der: &[u8], index: usize) -> Result<(), ErrorKind> {
    let not_ca = |detail: String| ErrorKind::NotACa {
        index,
        subject: subject_of(cert),
        detail,
    };
    if let Err(e) = webpki::anchor_from_trusted_cert(&CertificateDer::from(der)) {
        return Err(not_ca(format!("unusable as a trust anchor: {e}")));
    }
    if cert.version() == X509Version::V1 {
        return Ok(());
    }
    match cert.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => {}
        Ok(Some(_)) => return Err(not_ca("basicConstraints has CA:FALSE".into())),
        Ok(None) => return Err(not_ca("no basicConstraints extension".into())),
        Err(e) => return Err(not_ca(format!("bad basicConstraints: {e}"))),
    }
    match cert.key_usage() {
        Ok(Some(ku)) if !ku.value.key_cert_sign() => {
            Err(not_ca("keyUsage lacks keyCertSign".into()))
        }
        Ok(_) => Ok(()),
        Err(e) => Err(not_ca(format!("bad keyUsage: {e}"))),
    }
}
