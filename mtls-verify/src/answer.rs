//! How the verifier refuses a certificate: with the TLS alert the policy configured, sent by
//! returning the rustls error that rustls turns into that alert, and with the reason kept for
//! the acceptor's counters.

use std::cell::Cell;
use std::sync::Arc;

use mtls_policy::{DenyCode, TlsAlert};
use rustls::{CertificateError, Error};

/// What a [`PolicyVerifier`](crate::PolicyVerifier) does with a certificate that fails
/// verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnFailure {
    /// End the handshake with the alert rustls sends for the failure (`unknown_ca`,
    /// `certificate_expired`, `certificate_revoked`, ...).
    Reject,
    /// Complete the handshake and report the failure through
    /// [`outcome_for_chain`](crate::PolicyVerifier::outcome_for_chain), for a policy that
    /// answers it over HTTP.
    Defer,
    /// End the handshake with this alert ([`alert_error`] must know it).
    Alert(TlsAlert),
}

/// The error a client-certificate verifier returns to make rustls 0.23 end the handshake with
/// `alert` (rustls' `From<CertificateError> for AlertDescription`; any error that is not a
/// certificate error gives `handshake_failure`). `None` for `certificate_required`, which
/// rustls sends only for a missing certificate, never for a verifier's error.
///
/// ```
/// use mtls_policy::TlsAlert;
/// use rustls::{AlertDescription, CertificateError, Error};
///
/// let error = mtls_verify::alert_error(TlsAlert::BadCertificate);
/// assert!(matches!(error, Some(Error::InvalidCertificate(e)) if AlertDescription::from(e.clone()) == AlertDescription::BadCertificate));
/// assert!(mtls_verify::alert_error(TlsAlert::CertificateRequired).is_none());
/// ```
pub fn alert_error(alert: TlsAlert) -> Option<Error> {
    let certificate = |e: CertificateError| Some(Error::InvalidCertificate(e));
    match alert {
        TlsAlert::BadCertificate => certificate(CertificateError::NotValidForName),
        TlsAlert::UnsupportedCertificate => certificate(CertificateError::InvalidPurpose),
        TlsAlert::CertificateRevoked => certificate(CertificateError::Revoked),
        TlsAlert::CertificateExpired => certificate(CertificateError::Expired),
        TlsAlert::CertificateUnknown => certificate(CertificateError::Other(rustls::OtherError(
            Arc::new(Refused),
        ))),
        TlsAlert::UnknownCa => certificate(CertificateError::UnknownIssuer),
        TlsAlert::AccessDenied => certificate(CertificateError::ApplicationVerificationFailure),
        TlsAlert::DecryptError => certificate(CertificateError::BadSignature),
        TlsAlert::HandshakeFailure => Some(Error::General(
            "client certificate refused by policy".into(),
        )),
        _ => None,
    }
}

/// The cause carried by `certificate_unknown`'s error.
#[derive(Debug, thiserror::Error)]
#[error("client certificate refused by policy")]
struct Refused;

thread_local! {
    static LAST_REJECTION: Cell<Option<DenyCode>> = const { Cell::new(None) };
}

/// Notes why this thread's verifier refused a certificate.
pub(crate) fn note_rejection(code: DenyCode) {
    LAST_REJECTION.with(|last| last.set(Some(code)));
}

/// Why the last client certificate a [`PolicyVerifier`](crate::PolicyVerifier) refused on this
/// thread was refused, and forgets it.
///
/// rustls calls the verifier inside the poll of the handshake that then fails with its error,
/// so code that takes this right after a handshake failed with
/// `Error::InvalidCertificate` (same task, no await in between) reads its own handshake's
/// reason. Take it once before the handshake too, so that a reason left by another user of
/// the verifier on this thread is not read.
pub fn take_rejection() -> Option<DenyCode> {
    LAST_REJECTION.with(Cell::take)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// rustls sends `certificate_required` only for a missing certificate; every other alert
    /// is sent by a handshake in `tests/answers.rs`.
    #[test]
    fn certificate_required_has_no_error() {
        assert!(alert_error(TlsAlert::CertificateRequired).is_none());
    }

    #[test]
    fn a_rejection_is_read_once() {
        note_rejection(DenyCode::Revoked);
        assert_eq!(take_rejection(), Some(DenyCode::Revoked));
        assert_eq!(take_rejection(), None);
    }
}
