//! Private keys: PKCS#8, PKCS#1 (RSA) and SEC1 (EC), in PEM or DER.

use std::fmt;
use std::path::Path;

use rustls_pki_types::pem::SectionKind;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};

use crate::error::{Error, ErrorKind, Expected, Origin};
use crate::pem;

/// The container format of a private key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyFormat {
    /// PKCS#8 (`BEGIN PRIVATE KEY`), any algorithm.
    Pkcs8,
    /// PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    Pkcs1Rsa,
    /// SEC1 (`BEGIN EC PRIVATE KEY`).
    Sec1Ec,
}

impl KeyFormat {
    /// A short human name, e.g. `PKCS#8`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pkcs8 => "PKCS#8",
            Self::Pkcs1Rsa => "PKCS#1 RSA",
            Self::Sec1Ec => "SEC1 EC",
        }
    }
}

/// A private key. Its `Debug` output never shows the key material.
pub struct PrivateKey {
    der: PrivateKeyDer<'static>,
}

impl PrivateKey {
    /// Reads exactly one private key from PEM (`PRIVATE KEY`, `RSA PRIVATE KEY` or
    /// `EC PRIVATE KEY`; certificate blocks in the same file are ignored) or from DER (the format
    /// is recognised from the structure).
    pub fn from_bytes(input: &[u8], origin: impl Into<Origin>) -> Result<Self, Error> {
        let origin = origin.into();
        Self::parse(input).map_err(|kind| Error::new(origin, kind))
    }

    /// Reads a private key from a file (PEM or DER).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        Self::from_bytes(&pem::read_file(path)?, path)
    }

    pub(crate) fn parse(input: &[u8]) -> Result<Self, ErrorKind> {
        let blocks = pem::read_blocks(input, Expected::PrivateKey)?;
        let mut keys = Vec::new();
        for block in blocks {
            let der = match block.kind {
                Some(SectionKind::PrivateKey) => PrivatePkcs8KeyDer::from(block.der).into(),
                Some(SectionKind::RsaPrivateKey) => PrivatePkcs1KeyDer::from(block.der).into(),
                Some(SectionKind::EcPrivateKey) => PrivateSec1KeyDer::from(block.der).into(),
                Some(_) => continue,
                None => PrivateKeyDer::try_from(block.der.as_slice())
                    .map_err(|detail| ErrorKind::NotPemOrDer {
                        expected: Expected::PrivateKey,
                        detail: detail.into(),
                    })?
                    .clone_key(),
            };
            keys.push(der);
        }
        match keys.len() {
            1 => Ok(Self {
                der: keys.remove(0),
            }),
            0 => Err(ErrorKind::NoMatchingPemBlock {
                expected: Expected::PrivateKey,
                seen: pem::labels_seen(input),
            }),
            count => Err(ErrorKind::MultiplePrivateKeys { count }),
        }
    }

    /// The key, DER encoded.
    pub fn der(&self) -> &PrivateKeyDer<'static> {
        &self.der
    }

    /// The key's container format.
    pub fn format(&self) -> KeyFormat {
        match &self.der {
            PrivateKeyDer::Pkcs1(_) => KeyFormat::Pkcs1Rsa,
            PrivateKeyDer::Sec1(_) => KeyFormat::Sec1Ec,
            _ => KeyFormat::Pkcs8,
        }
    }
}

impl Clone for PrivateKey {
    fn clone(&self) -> Self {
        Self {
            der: self.der.clone_key(),
        }
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("format", &self.format())
            .finish_non_exhaustive()
    }
}

impl From<PrivateKeyDer<'static>> for PrivateKey {
    fn from(der: PrivateKeyDer<'static>) -> Self {
        Self { der }
    }
}
