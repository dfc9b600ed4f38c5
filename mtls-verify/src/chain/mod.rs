//! Path verification in one trust domain: rustls-webpki builds and checks the path (signatures,
//! validity, EKU, name constraints, path length) without CRLs; a `verify_path` callback then
//! checks the depth limit, the trust anchor's own `notAfter` (which webpki does not keep), the
//! RFC 5280 profile rules webpki does not check ([`profile`]), and answers revocation from the
//! domain's [`RevocationIndex`](crate::RevocationIndex).
//!
//! - [`failure`]: why a chain failed, for the policy and for rustls;
//! - [`profile`]: the RFC 5280 profile checks on the verified path;
//! - [`policy`]: certificate policies: whether the path holds one it must, and which hold;
//! - [`shortcut`](mod@shortcut): verification from a remembered intermediate.

mod anchor_profile;
mod build;
mod constraints;
mod failure;
mod known;
mod links;
mod name_forms;
mod names;
mod policy;
mod policy_tree;
mod process;
mod profile;
mod shortcut;
mod strict;
#[cfg(test)]
mod tests;
mod veto;

use mtls_core::CertificatePolicies;
use mtls_policy::VerifyError;
use rustls::CertificateError;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::cell::RefCell;
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter, KeyUsage, VerifiedPath};

use crate::trust::LoadedTrustDomain;

pub(crate) use anchor_profile::{AnchorFaults, anchor_faults};
pub(crate) use failure::{Failure, from_webpki, reason_name};
pub(crate) use known::KnownChain;
pub(crate) use names::AnchorNames;
pub(crate) use policy::{InitialPolicies, PolicyFacts};
pub(crate) use shortcut::VerifiedIssuer;

use failure::foreign_anchor;
use links::{Checked, Link, anchor_index, check_links};
use shortcut::{remember_issuer, shortcut};

/// A passed chain: clean (with the certificate policies valid for its path), or passed only
/// because time was relaxed (allow-expired).
#[derive(Debug)]
pub(crate) enum Pass {
    Clean(CertificatePolicies),
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
    // A chain accepted before: time and revocation again, not its signatures. Any failure
    // goes on to the verification below, which gives the authoritative answer.
    if let Some(known) = domain.known_chains.get(end_entity.as_ref(), intermediates)
        && let Ok(policies) = known::recheck(domain, algs, &known, intermediates, now, usage)
    {
        #[cfg(test)]
        tests::RECHECKED.with(|n| n.set(n.get() + 1));
        return Ok(Pass::Clean(policies));
    }
    let cert = EndEntityCert::try_from(end_entity).map_err(|e| from_webpki(&e))?;
    if let Some(issuer) = intermediates
        .first()
        .and_then(|der| domain.verified_issuers.get(der.as_ref()))
    {
        // Any failure here (a leaf another CA of the same name signed, an expired leaf, ...)
        // goes on to the full path build below, which gives the authoritative answer.
        if let Ok(policies) = shortcut(domain, algs, &cert, intermediates, &issuer, now, usage) {
            #[cfg(test)]
            tests::SHORTCUTS.with(|n| n.set(n.get() + 1));
            return Ok(Pass::Clean(policies));
        }
    }
    let first = match attempt(domain, algs, &cert, intermediates, now, now, usage, false) {
        Ok(policies) => return Ok(Pass::Clean(policies)),
        Err(f) => f,
    };
    if let (Some(why), false) = (first.unsupported, first.anchored) {
        match veto::overrule(domain, algs, end_entity, intermediates, now, usage, why) {
            Ok(policies) => return Ok(Pass::Clean(policies)),
            Err(Some(ours)) => return Err(ours),
            Err(None) => {}
        }
    }
    if first.anchored || !relaxable(&first) {
        return Err(first);
    }
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
            Ok(_) => {
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

/// Verifies a server chain, the server profile of its leaf and its name.
pub(crate) fn verify_server(
    domain: &LoadedTrustDomain,
    algs: &WebPkiSupportedAlgorithms,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    server_name: Option<&ServerName<'_>>,
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
        Pass::Clean(_) => {}
        Pass::Tolerated(f) => return Err(f),
    }
    profile::check_server_leaf(end_entity.as_ref(), domain.options.profile)
        .map_err(profile::violation)?;
    let Some(server_name) = server_name else {
        return Ok(());
    };
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

/// One webpki path build at `chain_time` (CRL expiry is judged at `now`); the certificate
/// policies valid for the path it accepted.
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
) -> Result<CertificatePolicies, Failure> {
    let rejected: RefCell<Option<Failure>> = RefCell::new(None);
    // A path accepted at the time of the verification, for the purpose asked, is remembered.
    let remember = chain_time.as_secs() == now.as_secs() && !any_eku;
    // The policies of the path the callback accepted: the last it is called with.
    let accepted: RefCell<CertificatePolicies> = RefCell::default();
    let callback = |path: &VerifiedPath<'_>| -> Result<(), webpki::Error> {
        match check_path(domain, algs, path, intermediates, now, usage, remember) {
            Ok(policies) => {
                *accepted.borrow_mut() = policies;
                Ok(())
            }
            Err(f) => {
                *rejected.borrow_mut() = Some(f);
                // Any error: path building goes on with other candidates; `rejected` says why.
                Err(webpki::Error::CertRevoked)
            }
        }
    };
    // Only the anchors the chain names as an issuer: a lookup in the index built at load,
    // instead of webpki comparing the issuer with every anchor of the bundle.
    let anchors = domain.candidates_for_chain(cert.issuer(), intermediates);
    let result = match (usage, any_eku) {
        (_, true) | (Usage::Client { require_eku: false }, _) => cert.verify_for_usage(
            algs.all,
            anchors,
            intermediates,
            chain_time,
            AnyEku,
            None,
            Some(&callback),
        ),
        (Usage::Client { require_eku: true }, false) => cert.verify_for_usage(
            algs.all,
            anchors,
            intermediates,
            chain_time,
            KeyUsage::client_auth(),
            None,
            Some(&callback),
        ),
        (Usage::Server, false) => cert.verify_for_usage(
            algs.all,
            anchors,
            intermediates,
            chain_time,
            KeyUsage::server_auth(),
            None,
            Some(&callback),
        ),
    };
    let path = result.map_err(|e| rejected.take().unwrap_or_else(|| from_webpki(&e)))?;
    if remember {
        remember_issuer(domain, &path, usage);
    }
    Ok(accepted.take())
}

/// Depth, profile, policies and revocation of a path webpki has verified up to an anchor of
/// `domain` (`presented`: the intermediates the peer sent, where CRL-signing certificates are
/// looked for); the certificate policies valid for it. A path that passes is remembered with
/// its chain ([`known`]) when `remember`.
fn check_path(
    domain: &LoadedTrustDomain,
    algs: &WebPkiSupportedAlgorithms,
    path: &VerifiedPath<'_>,
    presented: &[CertificateDer<'_>],
    now: UnixTime,
    usage: Usage,
    remember: bool,
) -> Result<CertificatePolicies, Failure> {
    let certs: Vec<_> = path
        .intermediate_certificates()
        .map(|c| (c, c.subject_public_key_info(), c.der()))
        .collect();
    let links: Vec<_> = certs
        .iter()
        .map(|(c, spki, der)| Link {
            subject: c.subject(),
            issuer: c.issuer(),
            serial: c.serial(),
            der: der.as_ref(),
            spki: spki.as_ref(),
        })
        .collect();
    let anchor = anchor_index(domain, path.anchor()).ok_or_else(foreign_anchor)?;
    let checked = Checked {
        links_profiled: false,
        presented,
        usage,
    };
    let end_entity = path.end_entity();
    let (leaf_der, leaf_spki) = (end_entity.der(), end_entity.subject_public_key_info());
    let leaf = Link::of_end_entity(end_entity, &leaf_der, &leaf_spki);
    let policies = check_links(domain, algs, &leaf, &links, anchor, &checked, now)?;
    if remember {
        known::remember(
            domain,
            leaf_der.as_ref(),
            presented,
            &leaf,
            &links,
            anchor,
            usage,
            &policies,
        );
    }
    Ok(policies)
}
