//! Certificate revocation lists for the whole chain.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    CertificateRevocationListParams, KeyIdMethod, RevocationReason, RevokedCertParams, SerialNumber,
};
use rustls_pki_types::CertificateRevocationListDer;

use crate::leaf::Leaf;
use crate::pki::{DAY, IssuedBy, Pki, to_time};

/// One signed CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crl {
    der: CertificateRevocationListDer<'static>,
}

impl Crl {
    /// The CRL, DER.
    pub fn der(&self) -> &CertificateRevocationListDer<'static> {
        &self.der
    }

    /// The CRL, PEM (`-----BEGIN X509 CRL-----`).
    pub fn pem(&self) -> String {
        crate::pem::encode("X509 CRL", &self.der)
    }
}

/// The two CRLs of a [`Pki`]: the root's (covering the intermediate and root-issued leaves)
/// and the intermediate's (covering the other leaves).
///
/// WebPKI, as rustls configures it by default, denies a certificate whose revocation status
/// is unknown, so give a verifier *both* ([`Crls::ders`]) unless it only checks end entities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crls {
    root: Crl,
    intermediate: Crl,
}

impl Crls {
    /// The CRL signed by the root CA.
    pub fn root(&self) -> &Crl {
        &self.root
    }

    /// The CRL signed by the intermediate CA.
    pub fn intermediate(&self) -> &Crl {
        &self.intermediate
    }

    /// Both CRLs, DER, root's first: what `WebPkiClientVerifier::builder(..).with_crls(..)`
    /// takes.
    pub fn ders(&self) -> Vec<CertificateRevocationListDer<'static>> {
        vec![self.root.der.clone(), self.intermediate.der.clone()]
    }

    /// Both CRLs as concatenated PEM blocks, root's first (a `crl.pem`).
    pub fn pem(&self) -> String {
        self.root.pem() + &self.intermediate.pem()
    }

    /// Writes [`Crls::pem`] to `<dir>/crl.pem` and returns the path.
    ///
    /// # Errors
    /// Any I/O error from writing the file.
    pub fn write_to(&self, dir: &Path) -> io::Result<PathBuf> {
        let path = dir.join("crl.pem");
        std::fs::write(&path, self.pem())?;
        Ok(path)
    }
}

/// Builds the [`Crls`] of a [`Pki`]; start with [`Pki::crls`].
///
/// By default the CRLs revoke nothing, were issued an hour ago (`thisUpdate`) and expire in a
/// week (`nextUpdate`).
#[derive(Debug, Clone)]
#[must_use = "a CrlBuilder does nothing until .build()"]
pub struct CrlBuilder<'a> {
    pki: &'a Pki,
    by_root: Vec<Vec<u8>>,
    by_intermediate: Vec<Vec<u8>>,
    this_update: SystemTime,
    next_update: SystemTime,
    crl_number: u64,
}

impl<'a> CrlBuilder<'a> {
    pub(crate) fn new(pki: &'a Pki) -> Self {
        let now = SystemTime::now();
        Self {
            pki,
            by_root: Vec::new(),
            by_intermediate: Vec::new(),
            this_update: now - Duration::from_secs(3600),
            next_update: now + 7 * DAY,
            crl_number: 1,
        }
    }

    /// Revokes `leaf` in the CRL of the CA that issued it.
    ///
    /// # Panics
    /// If `leaf` was not issued by this PKI.
    pub fn revoke(mut self, leaf: &Leaf) -> Self {
        let by = leaf.issued_by();
        assert!(
            leaf.issuer_cert == *self.pki.ca(by).cert_der(),
            "mtls-testkit: revoking a leaf that this Pki did not issue"
        );
        match by {
            IssuedBy::Root => self.by_root.push(leaf.serial().to_vec()),
            IssuedBy::Intermediate => self.by_intermediate.push(leaf.serial().to_vec()),
        }
        self
    }

    /// Revokes a serial number in the CRL of the CA `by`, for certificates made elsewhere.
    pub fn revoke_serial(mut self, by: IssuedBy, serial: &[u8]) -> Self {
        match by {
            IssuedBy::Root => self.by_root.push(serial.to_vec()),
            IssuedBy::Intermediate => self.by_intermediate.push(serial.to_vec()),
        }
        self
    }

    /// Revokes the intermediate CA in the root's CRL (so every leaf under it is rejected).
    pub fn revoke_intermediate(mut self) -> Self {
        self.by_root.push(self.pki.intermediate().serial().to_vec());
        self
    }

    /// Sets `thisUpdate` (default: an hour ago).
    pub fn this_update(mut self, at: SystemTime) -> Self {
        self.this_update = at;
        self
    }

    /// Sets `nextUpdate` (default: a week from now). Must be after `thisUpdate`.
    pub fn next_update(mut self, at: SystemTime) -> Self {
        self.next_update = at;
        self
    }

    /// `thisUpdate` 8 days ago, `nextUpdate` 1 day ago: rejected as expired by a verifier that
    /// enforces CRL expiry (`enforce_revocation_expiration()` in rustls).
    pub fn expired(self) -> Self {
        let now = SystemTime::now();
        self.this_update(now - 8 * DAY).next_update(now - DAY)
    }

    /// Sets the CRL number (default 1), for reload tests that issue newer CRLs.
    pub fn crl_number(mut self, n: u64) -> Self {
        self.crl_number = n;
        self
    }

    /// Signs both CRLs.
    ///
    /// # Panics
    /// If `nextUpdate` is not after `thisUpdate`.
    pub fn build(self) -> Crls {
        Crls {
            root: self.sign(IssuedBy::Root, &self.by_root),
            intermediate: self.sign(IssuedBy::Intermediate, &self.by_intermediate),
        }
    }

    fn sign(&self, by: IssuedBy, serials: &[Vec<u8>]) -> Crl {
        let params = CertificateRevocationListParams {
            this_update: to_time(self.this_update),
            next_update: to_time(self.next_update),
            crl_number: SerialNumber::from_slice(&crate::pki::serial_bytes(self.crl_number)),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|serial| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(serial),
                    revocation_time: to_time(self.this_update),
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params
            .signed_by(&self.pki.ca(by).issuer)
            .unwrap_or_else(|e| panic!("mtls-testkit: signing the {by:?} CRL failed: {e}"));
        Crl {
            der: crl.der().clone(),
        }
    }
}
