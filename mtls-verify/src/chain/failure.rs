//! Why a chain failed: the policy's [`VerifyError`] and the rustls error (and so the TLS alert)
//! for it, and rustls' own mapping of webpki errors.

use std::sync::Arc;

use mtls_policy::VerifyError;
use rustls::{CertificateError, OtherError};

use super::veto::Unsupported;

/// Why a chain failed in one domain.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    /// For the policy.
    pub(crate) error: VerifyError,
    /// For rustls (and so the TLS alert).
    pub(crate) tls: rustls::Error,
    /// Whether the chain builds to an anchor of this domain (so the domain is the one to
    /// report), as opposed to not belonging to it at all.
    pub(crate) anchored: bool,
    /// The refusal is webpki's, in a case our own path validation may overrule.
    pub(crate) unsupported: Option<Unsupported>,
}

/// A path whose anchor is not one of the domain's (webpki returns one of the anchors it was
/// given, so this cannot happen; it fails closed all the same).
pub(super) fn foreign_anchor() -> Failure {
    anchored(
        VerifyError::Other("the path's trust anchor is not one of the trust domain's".into()),
        CertificateError::UnknownIssuer,
    )
}

pub(super) fn anchored(error: VerifyError, tls: CertificateError) -> Failure {
    Failure {
        error,
        tls: tls.into(),
        anchored: true,
        unsupported: None,
    }
}

/// rustls' own mapping of webpki errors (`rustls::webpki::pki_error`), plus the policy's view.
pub(crate) fn from_webpki(e: &webpki::Error) -> Failure {
    use webpki::Error as E;
    let other = || CertificateError::Other(OtherError(Arc::new(e.clone())));
    let (error, tls) = match e {
        E::CertExpired { time, not_after } => (
            VerifyError::Expired,
            CertificateError::ExpiredContext {
                time: *time,
                not_after: *not_after,
            },
        ),
        E::CertNotValidYet { time, not_before } => (
            VerifyError::NotYetValid,
            CertificateError::NotValidYetContext {
                time: *time,
                not_before: *not_before,
            },
        ),
        E::InvalidCertValidity => (VerifyError::Expired, CertificateError::Expired),
        E::UnknownIssuer => (VerifyError::UnknownIssuer, CertificateError::UnknownIssuer),
        E::CertRevoked => (
            VerifyError::Revoked { reason: None },
            CertificateError::Revoked,
        ),
        E::InvalidSignatureForPublicKey => {
            (VerifyError::BadSignature, CertificateError::BadSignature)
        }
        #[allow(deprecated)]
        E::RequiredEkuNotFound | E::RequiredEkuNotFoundContext(_) => {
            (VerifyError::BadEku, CertificateError::InvalidPurpose)
        }
        E::BadDer | E::BadDerTime | E::TrailingData(_) => (
            VerifyError::Other(format!("malformed certificate: {e}")),
            CertificateError::BadEncoding,
        ),
        E::CertNotValidForName(_) => (
            VerifyError::Other(format!("certificate not valid for the expected name: {e}")),
            CertificateError::NotValidForName,
        ),
        #[allow(deprecated)]
        E::UnsupportedSignatureAlgorithm
        | E::UnsupportedSignatureAlgorithmForPublicKey
        | E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => (
            VerifyError::Other(format!("unsupported signature algorithm: {e}")),
            CertificateError::UnsupportedSignatureAlgorithm,
        ),
        _ => (VerifyError::Other(e.to_string()), other()),
    };
    Failure {
        error,
        tls: tls.into(),
        anchored: false,
        unsupported: Unsupported::of(e),
    }
}

pub(crate) fn reason_name(reason: webpki::RevocationReason) -> String {
    use webpki::RevocationReason as R;
    match reason {
        R::Unspecified => "unspecified",
        R::KeyCompromise => "keyCompromise",
        R::CaCompromise => "cACompromise",
        R::AffiliationChanged => "affiliationChanged",
        R::Superseded => "superseded",
        R::CessationOfOperation => "cessationOfOperation",
        R::CertificateHold => "certificateHold",
        R::RemoveFromCrl => "removeFromCRL",
        R::PrivilegeWithdrawn => "privilegeWithdrawn",
        R::AaCompromise => "aACompromise",
    }
    .to_owned()
}
