//! Certificate chains: a leaf, then the intermediates that lead to a trust anchor.

use std::path::Path;
use std::time::SystemTime;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::SectionKind;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer as _;

use crate::error::{Error, ErrorKind, Expected, Origin};
use crate::pem;

/// A certificate chain: the leaf first, then intermediates. Never empty.
///
/// ```
/// # fn main() -> Result<(), mtls_core::Error> {
/// # let pem = mtls_testkit::Pki::shared().default_server().chain_pem();
/// let chain = mtls_core::CertificateChain::from_bytes(pem.as_bytes(), "server chain")?;
/// assert_eq!(chain.intermediates().len(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateChain {
    certs: Vec<CertificateDer<'static>>,
    not_after: SystemTime,
}

impl CertificateChain {
    /// Reads a chain from PEM (every `CERTIFICATE` block, in order; other blocks such as a private
    /// key in the same file are ignored) or from one DER certificate.
    pub fn from_bytes(input: &[u8], origin: impl Into<Origin>) -> Result<Self, Error> {
        let origin = origin.into();
        Self::parse(input).map_err(|kind| Error::new(origin, kind))
    }

    /// Reads a chain from a file (PEM or DER).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        Self::from_bytes(&pem::read_file(path)?, path)
    }

    /// Builds a chain from DER certificates already in memory, checking each one parses.
    pub fn from_der(certs: Vec<CertificateDer<'static>>) -> Result<Self, Error> {
        let origin = Origin::memory("certificate chain");
        if certs.is_empty() {
            return Err(Error::new(origin, ErrorKind::Empty(Expected::Certificate)));
        }
        let mut not_after = None;
        for (index, der) in certs.iter().enumerate() {
            let cert = parse_certificate(der, index).map_err(|k| Error::new(origin.clone(), k))?;
            not_after = earliest(not_after, not_after_of(&cert));
        }
        Ok(Self {
            certs,
            not_after: not_after.unwrap_or(SystemTime::UNIX_EPOCH),
        })
    }

    pub(crate) fn parse(input: &[u8]) -> Result<Self, ErrorKind> {
        let blocks = pem::read_blocks(input, Expected::Certificate)?;
        let mut certs = Vec::new();
        let mut not_after = None;
        for block in blocks {
            if !matches!(block.kind, None | Some(SectionKind::Certificate)) {
                continue;
            }
            let cert = parse_certificate(&block.der, block.index)?;
            not_after = earliest(not_after, not_after_of(&cert));
            certs.push(CertificateDer::from(block.der));
        }
        match not_after {
            Some(not_after) => Ok(Self { certs, not_after }),
            None => Err(ErrorKind::NoMatchingPemBlock {
                expected: Expected::Certificate,
                seen: pem::labels_seen(input),
            }),
        }
    }

    /// The end-entity certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        &self.certs[0]
    }

    /// The certificates after the leaf.
    pub fn intermediates(&self) -> &[CertificateDer<'static>] {
        &self.certs[1..]
    }

    /// All certificates, leaf first.
    pub fn as_slice(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }

    /// All certificates, leaf first.
    pub fn into_vec(self) -> Vec<CertificateDer<'static>> {
        self.certs
    }

    /// The earliest `notAfter` of the chain: when it stops being usable.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }
}

/// Parses one DER certificate completely (no trailing bytes), naming it by `index` on failure.
pub(crate) fn parse_certificate(
    der: &[u8],
    index: usize,
) -> Result<X509Certificate<'_>, ErrorKind> {
    match X509Certificate::from_der(der) {
        Ok((rest, _)) if !rest.is_empty() => Err(ErrorKind::BadCertificate {
            index,
            detail: format!("{} unexpected bytes after the certificate", rest.len()),
        }),
        Ok((_, cert)) => Ok(cert),
        Err(e) => Err(ErrorKind::BadCertificate {
            index,
            detail: e.to_string(),
        }),
    }
}

pub(crate) fn not_after_of(cert: &X509Certificate<'_>) -> SystemTime {
    pem::system_time(cert.validity().not_after.timestamp())
}

pub(crate) fn subject_of(cert: &X509Certificate<'_>) -> String {
    crate::name::rfc4514(cert.subject())
}

pub(crate) fn earliest(a: Option<SystemTime>, b: SystemTime) -> Option<SystemTime> {
    Some(a.map_or(b, |a| a.min(b)))
}
