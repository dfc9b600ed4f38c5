//! Path verification in one trust domain: rustls-webpki builds and checks the path (signatures,
//! validity, EKU, name constraints, path length) without CRLs; a `verify_path` callback then
//! checks the depth limit and the trust anchor's own `notAfter` (which webpki does not keep),
//! and answers revocation from the domain's [`RevocationIndex`].
//!
//! [`RevocationIndex`]: crate::tls::RevocationIndex

use std::cell::RefCell;
use std::sync::Arc;

use mtls_policy::{CrlScope, Treatment, VerifyError};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{CertificateError, OtherError};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter, KeyUsage, VerifiedPath};

use crate::tls::revocation::{Status, Subject};
use crate::tls::trust::LoadedTrustDomain;

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
}

/// A passed chain: clean, or passed only because time was relaxed (allow-expired).
#[derive(Debug)]
pub(crate) enum Pass {
    Clean,
    Tolerated(Failure),
}

/// Which extended key usage the leaf must allow.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Usage {
    Client { require_eku: bool },
    Server,
}

/// Any EKU (or none) passes.
struct AnyEku;

impl ExtendedKeyUsageValidator for AnyEku {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        // Still reject a malformed extension.
        for id in iter {
            id?;
        }
        Ok(())
    }
}

/// Verifies a client (or server) chain in `domain`. `allow_expired` lets a chain whose only
/// fault is time through as [`Pass::Tolerated`].
pub(crate) fn verify(
    domain: &LoadedTrustDomain,
    algs: &WebPkiSupportedAlgorithms,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    now: UnixTime,
    usage: Usage,
    allow_expired: bool,
) -> Result<Pass, Failure> {
    let cert = EndEntityCert::try_from(end_entity).map_err(|e| from_webpki(&e))?;
    let first = match attempt(domain, algs, &cert, intermediates, now, now, usage, false) {
        Ok(()) => return Ok(Pass::Clean),
        Err(f) if f.anchored || !relaxable(&f) => return Err(f),
        Err(f) => f,
    };
    // webpki checks validity and EKU of each certificate before looking for its issuer, so an
    // expired certificate of another CA fails with "expired" in every domain. Relax time and
    // EKU to learn whether the chain belongs to this domain at all, and what else is wrong.
    let mut time = now;
    let mut any_eku = false;
    let mut last = first.clone();
    for _ in 0..4 {
        match &last.tls {
            rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
                not_after,
                ..
            }) => time = *not_after,
            rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext {
                not_before,
                ..
            }) => time = *not_before,
            _ if last.error == VerifyError::BadEku && !any_eku => any_eku = true,
            _ => break,
        }
        match attempt(
            domain,
            algs,
            &cert,
            intermediates,
            time,
            now,
            usage,
            any_eku,
        ) {
            Ok(()) => {
                let failure = Failure {
                    anchored: true,
                    ..first
                };
                let time_only = matches!(
                    failure.error,
                    VerifyError::Expired | VerifyError::NotYetValid
                ) && !any_eku;
                return if allow_expired && time_only {
                    Ok(Pass::Tolerated(failure))
                } else {
                    Err(failure)
                };
            }
            Err(f) if f.anchored => return Err(f),
            Err(f) => last = f,
        }
    }
    // Not this domain's chain: report what remains once time and EKU are relaxed.
    Err(last)
}

/// Verifies a server chain and its name.
pub(crate) fn verify_server(
    domain: &LoadedTrustDomain,
    algs: &WebPkiSupportedAlgorithms,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), Failure> {
    match verify(
        domain,
        algs,
        end_entity,
        intermediates,
        now,
        Usage::Server,
        false,
    )? {
        Pass::Clean => {}
        Pass::Tolerated(f) => return Err(f),
    }
    let cert = EndEntityCert::try_from(end_entity).map_err(|e| from_webpki(&e))?;
    cert.verify_is_valid_for_subject_name(server_name)
        .map_err(|e| Failure {
            anchored: true,
            ..from_webpki(&e)
        })
}

fn relaxable(f: &Failure) -> bool {
    matches!(
        f.error,
        VerifyError::Expired | VerifyError::NotYetValid | VerifyError::BadEku
    )
}

/// One webpki path build at `chain_time` (CRL expiry is judged at `now`).
#[allow(clippy::too_many_arguments)]
fn attempt(
    domain: &LoadedTrustDomain,
    algs: &WebPkiSupportedAlgorithms,
    cert: &EndEntityCert<'_>,
    intermediates: &[CertificateDer<'_>],
    chain_time: UnixTime,
    now: UnixTime,
    usage: Usage,
    any_eku: bool,
) -> Result<(), Failure> {
    let rejected: RefCell<Option<Failure>> = RefCell::new(None);
    let callback = |path: &VerifiedPath<'_>| -> Result<(), webpki::Error> {
        check_path(domain, algs, path, now).map_err(|f| {
            *rejected.borrow_mut() = Some(f);
            // Any error: path building goes on with other candidates; `rejected` says why.
            webpki::Error::CertRevoked
        })
    };
    let result = match (usage, any_eku) {
        (_, true) | (Usage::Client { require_eku: false }, _) => cert
            .verify_for_usage(
                algs.all,
                &domain.anchors,
                intermediates,
                chain_time,
                AnyEku,
                None,
                Some(&callback),
            )
            .map(drop),
        (Usage::Client { require_eku: true }, false) => cert
            .verify_for_usage(
                algs.all,
                &domain.anchors,
                intermediates,
                chain_time,
                KeyUsage::client_auth(),
                None,
                Some(&callback),
            )
            .map(drop),
        (Usage::Server, false) => cert
            .verify_for_usage(
                algs.all,
                &domain.anchors,
                intermediates,
                chain_time,
                KeyUsage::server_auth(),
                None,
                Some(&callback),
            )
            .map(drop),
    };
    result.map_err(|e| rejected.take().unwrap_or_else(|| from_webpki(&e)))
}

/// Depth and revocation of a path webpki has verified up to an anchor of `domain`.
fn check_path(
    domain: &LoadedTrustDomain,
    algs: &WebPkiSupportedAlgorithms,
    path: &VerifiedPath<'_>,
    now: UnixTime,
) -> Result<(), Failure> {
    let options = &domain.options;
    let intermediates: Vec<_> = path.intermediate_certificates().collect();
    let depth = intermediates.len() + 1;
    if options
        .max_chain_depth
        .is_some_and(|max| depth > usize::from(max))
    {
        return Err(anchored(
            VerifyError::ChainTooLong { depth: Some(depth) },
            CertificateError::ApplicationVerificationFailure,
        ));
    }
    if let Some(not_after) = anchor_not_after(domain, path.anchor()) {
        if now.as_secs() > not_after.as_secs() {
            return Err(anchored(
                VerifyError::Expired,
                CertificateError::ExpiredContext {
                    time: now,
                    not_after,
                },
            ));
        }
    }
    let Some(index) = &domain.revocation else {
        return Ok(());
    };
    let anchor_spki = webpki::spki_for_anchor(path.anchor());
    let leaf = path.end_entity();
    let checked = match options.crl_scope {
        CrlScope::LeafOnly => 1,
        _ => depth,
    };
    for k in 0..checked {
        let (issuer_name, serial) = match k {
            0 => (leaf.issuer(), leaf.serial()),
            _ => match intermediates.get(k - 1) {
                Some(c) => (c.issuer(), c.serial()),
                None => break,
            },
        };
        let issuer = intermediates.get(k);
        let issuer_spki = issuer.map(|c| c.subject_public_key_info());
        let issuer_der = issuer.map(|c| c.der());
        let subject = Subject {
            issuer_name,
            serial,
            is_leaf: k == 0,
            issuer_spki: issuer_spki
                .as_ref()
                .map_or(anchor_spki.as_ref(), |s| s.as_ref()),
            issuer_cert: issuer_der.as_ref().map(|d| d.as_ref()),
        };
        match index.status(&subject, now, algs) {
            Status::Good => {}
            Status::Revoked(reason) => {
                return Err(anchored(
                    VerifyError::Revoked {
                        reason: reason.map(reason_name),
                    },
                    CertificateError::Revoked,
                ));
            }
            Status::Unknown if options.unknown_status == Treatment::Allow => {}
            Status::Unknown => {
                return Err(anchored(
                    VerifyError::RevocationUnknown,
                    CertificateError::UnknownRevocationStatus,
                ));
            }
            Status::Expired(_) if options.expired_crl == Treatment::Allow => {}
            Status::Expired(next_update) => {
                return Err(anchored(
                    VerifyError::CrlExpired,
                    CertificateError::ExpiredRevocationListContext {
                        time: now,
                        next_update,
                    },
                ));
            }
        }
    }
    Ok(())
}

/// The `notAfter` of the bundle certificate behind `anchor` (the latest, when the bundle holds
/// several certificates of that name and key). rustls-webpki takes an anchor as a name and a
/// key, without validity; the gateway refuses a path through an expired CA certificate of its
/// bundle, as OpenSSL and Go do (x509-limbo `rfc5280::validity::expired-root`).
fn anchor_not_after(
    domain: &LoadedTrustDomain,
    anchor: &rustls_pki_types::TrustAnchor<'_>,
) -> Option<UnixTime> {
    domain
        .anchors
        .iter()
        .zip(domain.bundle().certificates())
        .filter(|(a, _)| {
            a.subject.as_ref() == anchor.subject.as_ref()
                && a.subject_public_key_info.as_ref() == anchor.subject_public_key_info.as_ref()
        })
        .map(|(_, cert)| {
            let since = cert
                .not_after()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            UnixTime::since_unix_epoch(since)
        })
        .max_by_key(UnixTime::as_secs)
}

fn anchored(error: VerifyError, tls: CertificateError) -> Failure {
    Failure {
        error,
        tls: tls.into(),
        anchored: true,
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
    }
}

fn reason_name(reason: webpki::RevocationReason) -> String {
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
