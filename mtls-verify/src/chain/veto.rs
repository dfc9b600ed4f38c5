//! rustls-webpki's veto, and the explicit list of its refusals our own path validation may
//! overrule.
//!
//! rustls-webpki verifies every chain first; a chain it refuses stays refused, except when its
//! refusal is one of the cases it documents as unsupported and that our own path building
//! ([`build`](super::build)) and processing ([`process`](super::process),
//! [`policy`](super::policy)) cover, each with tests ([`Unsupported`]). Then the chain is
//! accepted only when a path we build and validate completely (the same checks after path
//! building as webpki's paths: [`links`](super::links)) *is such a case*: a refusal for another
//! reason, or a path that is not one of these cases, keeps webpki's answer.

use std::sync::Arc;
use std::time::Duration;

use mtls_core::CertificatePolicies;
use mtls_policy::VerifyError;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{CertificateError, OtherError};
use rustls_pki_types::{CertificateDer, UnixTime};

use super::Usage;
use super::build::{Anchor, Candidate, Cert, NoPath, Search};
use super::constraints::{encoded_has_form_webpki_refuses, has_form_webpki_refuses};
use super::failure::{Failure, anchored};
use super::links::{Checked, Link, check_links};
use super::policy::is_policy_extension;
use super::process::{Fault, process};
use super::profile::ProfileViolation;
use crate::trust::LoadedTrustDomain;

/// The refusals of rustls-webpki our engine may overrule: the cases webpki documents as not
/// supported, which our engine implements and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unsupported {
    /// webpki found no path (`UnknownIssuer`, or the last candidate's `BadSignature`): it
    /// chains names byte for byte, not per RFC 5280 7.1, and does not build paths through
    /// self-issued intermediates (key rollover). Overruled only by a path with a name link
    /// equal per 7.1 but not in bytes, or with a self-issued intermediate.
    PathBuilding,
    /// `NameConstraintViolation`: webpki refuses every name of the directoryName, rfc822Name
    /// and URI forms under a constraint of its form. Overruled only by a path whose anchor or
    /// CA certificates carry such a constraint.
    NameConstraintForm,
    /// `UnsupportedCriticalExtension`: webpki does no policy processing, so refuses critical
    /// certificatePolicies, policyMappings, policyConstraints and inhibitAnyPolicy. Overruled
    /// only by a path with such a critical extension.
    PolicyExtension,
}

impl Unsupported {
    /// The case a webpki error may be.
    pub(crate) fn of(e: &webpki::Error) -> Option<Self> {
        use webpki::Error as E;
        match e {
            E::UnknownIssuer | E::InvalidSignatureForPublicKey => Some(Self::PathBuilding),
            E::NameConstraintViolation => Some(Self::NameConstraintForm),
            E::UnsupportedCriticalExtension => Some(Self::PolicyExtension),
            _ => None,
        }
    }

    /// Whether `path` (the leaf first) below `anchor` is a case of `self`.
    fn covers(self, path: &[&Cert<'_>], anchor: &Anchor<'_>) -> bool {
        match self {
            Self::PathBuilding => {
                let issuers = path
                    .iter()
                    .skip(1)
                    .map(|c| c.subject_contents)
                    .chain([anchor.subject_contents]);
                path.iter().skip(1).any(|c| c.self_issued)
                    || path
                        .iter()
                        .zip(issuers)
                        .any(|(c, issuer)| c.issuer_contents != issuer)
            }
            Self::NameConstraintForm => {
                path.iter()
                    .skip(1)
                    .any(|c| has_form_webpki_refuses(&c.x509))
                    || anchor
                        .name_constraints
                        .as_deref()
                        .is_some_and(encoded_has_form_webpki_refuses)
            }
            Self::PolicyExtension => path.iter().any(|c| {
                c.x509
                    .extensions()
                    .iter()
                    .any(|e| e.critical && is_policy_extension(e.oid.as_bytes()))
            }),
        }
    }
}

/// Our own path building and validation of a chain webpki refused as `why`. `Ok`: a path is
/// a case of `why` and valid (the certificate policies valid for it); `Err(Some)`: a path that is a case of `why` reaches an anchor of
/// the domain and fails (the reason to report); `Err(None)`: webpki's refusal stands.
#[allow(clippy::too_many_arguments)]
pub(super) fn overrule(
    domain: &LoadedTrustDomain,
    algs: &WebPkiSupportedAlgorithms,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    now: UnixTime,
    usage: Usage,
    why: Unsupported,
) -> Result<CertificatePolicies, Option<Failure>> {
    let leaf = Cert::parse(end_entity.as_ref()).map_err(|_| None)?;
    let presented: Vec<Cert<'_>> = intermediates
        .iter()
        .filter_map(|c| Cert::parse(c.as_ref()).ok())
        .collect();
    // The anchors named as the issuer of a certificate of the chain, per RFC 5280 7.1, from
    // the index built at load.
    let mut indices: Vec<usize> = std::iter::once(&leaf)
        .chain(&presented)
        .flat_map(|c| domain.anchor_names.get(&c.issuer).iter().copied())
        .collect();
    indices.sort_unstable();
    indices.dedup();
    let anchors: Vec<Anchor<'_>> = indices
        .into_iter()
        .filter_map(|k| Anchor::of(k, domain.anchors.get(k)?))
        .collect();
    if anchors.is_empty() {
        return Err(None);
    }
    let mut search = Search::new(algs, &presented, &anchors);
    let mut policies = CertificatePolicies::None;
    let mut accept = |candidate: Candidate<'_>| -> Result<(), Option<Failure>> {
        let anchor = anchors.get(candidate.anchor).ok_or(None)?;
        let mut path: Vec<&Cert<'_>> = vec![&leaf];
        path.extend(
            candidate
                .intermediates
                .iter()
                .filter_map(|&k| presented.get(k)),
        );
        if !why.covers(&path, anchor) {
            return Err(None);
        }
        process(&path, now.as_secs(), usage).map_err(|f| Some(failure(f, now)))?;
        // A certificate's issuer and its CA's subject are the same name per RFC 5280 7.1, but
        // CRLs are found and matched to their signer by a name's bytes: each CA is named as
        // it names itself, then (the status left unknown) as the certificate below it names
        // it.
        let link = |k: usize, as_below: bool| {
            let cert = path[k];
            let issuer = match path.get(k + 1) {
                _ if as_below => cert.issuer_contents,
                Some(ca) => ca.subject_contents,
                None => anchor.subject_contents,
            };
            let subject = match k.checked_sub(1).and_then(|below| path.get(below)) {
                Some(below) if as_below => below.issuer_contents,
                _ => cert.subject_contents,
            };
            Link {
                subject,
                issuer,
                serial: cert.x509.raw_serial(),
                der: cert.der,
                spki: cert.spki(),
            }
        };
        let checked = Checked {
            links_profiled: false,
            presented: intermediates,
            usage,
        };
        let check = |as_below: bool| {
            let links: Vec<Link<'_>> = (1..path.len()).map(|k| link(k, as_below)).collect();
            let leaf = link(0, as_below);
            check_links(domain, algs, &leaf, &links, anchor.index, &checked, now)
        };
        let valid = match check(false) {
            Err(f)
                if f.error == VerifyError::RevocationUnknown
                    && why == Unsupported::PathBuilding =>
            {
                check(true).map_err(Some)
            }
            other => other.map_err(Some),
        }?;
        policies = valid;
        Ok(())
    };
    match search.run(&leaf, &mut accept) {
        Ok(()) => Ok(policies),
        Err(NoPath::NotFound) => Err(None),
        Err(NoPath::Rejected(f)) => Err(f),
    }
}

fn failure(fault: Fault, now: UnixTime) -> Failure {
    let at = |secs| UnixTime::since_unix_epoch(Duration::from_secs(secs));
    match fault {
        Fault::Expired(t) => anchored(
            VerifyError::Expired,
            CertificateError::ExpiredContext {
                time: now,
                not_after: at(t),
            },
        ),
        Fault::NotYetValid(t) => anchored(
            VerifyError::NotYetValid,
            CertificateError::NotValidYetContext {
                time: now,
                not_before: at(t),
            },
        ),
        Fault::Rule(message) => anchored(
            VerifyError::Other(message.clone()),
            CertificateError::Other(OtherError(Arc::new(ProfileViolation(message)))),
        ),
    }
}
