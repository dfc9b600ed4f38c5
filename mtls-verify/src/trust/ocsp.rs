//! A trust domain's OCSP check in the handshake.

use mtls_policy::VerifyError;
use rustls::CertificateError;
use rustls_pki_types::{CertificateDer, UnixTime};

use super::LoadedTrustDomain;
use crate::chain::{Failure, reason_name};
use crate::ocsp::{OcspCheck, OcspLookup, OcspPending, OcspStatus};

impl LoadedTrustDomain {
    /// Reads the OCSP status of each leaf this domain verifies from `check`: a leaf cached as
    /// revoked is refused (reason `revoked`, with the responder's revocation reason), one
    /// cached as good or unknown, or not cached yet, is accepted, and one not cached is handed
    /// to the check's fetcher. Without it (the default) no OCSP status is read.
    #[must_use]
    pub fn with_ocsp(mut self, check: OcspCheck) -> Self {
        self.ocsp = Some(check);
        self
    }

    /// The OCSP check, when the domain reads OCSP statuses.
    pub fn ocsp(&self) -> Option<&OcspCheck> {
        self.ocsp.as_ref()
    }

    /// In `hard` mode, the OCSP status a connection whose chain this domain verified waits
    /// for ([`OcspCheck::pending`]); `None` when the domain reads no statuses or does not wait.
    pub fn ocsp_pending(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Option<OcspPending> {
        let check = self.ocsp.as_ref().filter(|c| c.waits())?;
        check.pending(end_entity.as_ref(), intermediates, self.anchor_ders(), now)
    }

    fn anchor_ders(&self) -> impl Iterator<Item = &[u8]> {
        self.bundle()
            .certificates()
            .iter()
            .map(|c| c.der().as_ref())
    }

    /// Why a chain this domain verified is refused by its OCSP status, if it is.
    pub(crate) fn ocsp_refusal(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Option<Failure> {
        let check = self.ocsp.as_ref()?;
        match check.lookup(end_entity.as_ref(), intermediates, self.anchor_ders(), now) {
            OcspLookup::Cached(OcspStatus::Revoked { reason, .. }) => Some(Failure {
                error: VerifyError::Revoked {
                    reason: reason.map(reason_name),
                },
                tls: CertificateError::Revoked.into(),
                anchored: true,
                unsupported: None,
            }),
            _ => None,
        }
    }
}
