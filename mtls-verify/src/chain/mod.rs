//! Path verification in one trust domain: rustls-webpki builds and checks the path (signatures,
//! validity, EKU, name constraints, path length) without CRLs; a `verify_path` callback then
//! checks the depth limit, the trust anchor's own `notAfter` (which webpki does not keep), the
//! RFC 5280 profile rules webpki does not check ([`profile`]), and answers revocation from the
//! domain's [`RevocationIndex`](crate::RevocationIndex).
//!
//! - [`failure`]: why a chain failed, for the policy and for rustls;
//! - [`profile`]: the RFC 5280 profile checks on the verified path;
//! - [`policy`]: certificate policies, when the path requires an explicit one;
//! - [`shortcut`](mod@shortcut): verification from a remembered intermediate.

mod failure;
mod policy;
mod profile;
mod shortcut;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::sync::Arc;

use mtls_policy::{CrlScope, Treatment, VerifyError};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{CertificateError, OtherError};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter, KeyUsage, VerifiedPath};

use crate::revocation::{Signer, Status, Subject};
use crate::trust::LoadedTrustDomain;

pub(crate) use failure::{Failure, from_webpki};
pub(crate) use policy::PolicyFacts;
pub(crate) use profile::anchor_fault;
pub(crate) use shortcut::VerifiedIssuer;

use failure::{anchored, foreign_anchor, reason_name};
use profile::{ProfileViolation, check_profile};
use shortcut::{remember_issuer, shortcut};

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
    if let Some((issuer_der, issuer)) = intermediates
        .first()
        .and_then(|der| Some((der, domain.verified_issuers.get(der.as_ref())?)))
    {
        // Any failure here (a leaf another CA of the same name signed, an expired leaf, ...)
        // goes on to the full path build below, which gives the authoritative answer.
        if shortcut(domain, algs, &cert, issuer_der, &issuer, now, usage).is_ok() {
            #[cfg(test)]
            tests::SHORTCUTS.with(|n| n.set(n.get() + 1));
            return Ok(Pass::Clean);
        }
    }
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
        Pass::Clean => {}
        Pass::Tolerated(f) => return Err(f),
    }
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
        check_path(domain, algs, path, intermediates, now).map_err(|f| {
            *rejected.borrow_mut() = Some(f);
            // Any error: path building goes on with other candidates; `rejected` says why.
            webpki::Error::CertRevoked
        })
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
    if chain_time.as_secs() == now.as_secs() && !any_eku {
        remember_issuer(domain, &path, usage);
    }
    Ok(())
}

/// A CA certificate of a path, below its anchor, as the checks after path building read it.
struct Link<'a> {
    subject: &'a [u8],
    issuer: &'a [u8],
    serial: &'a [u8],
    der: &'a [u8],
    /// Full SPKI (with its SEQUENCE header).
    spki: &'a [u8],
}

/// Depth, profile and revocation of a path webpki has verified up to an anchor of `domain`
/// (`presented`: the intermediates the peer sent, where CRL-signing certificates are looked for).
fn check_path(
    domain: &LoadedTrustDomain,
    algs: &WebPkiSupportedAlgorithms,
    path: &VerifiedPath<'_>,
    presented: &[CertificateDer<'_>],
    now: UnixTime,
) -> Result<(), Failure> {
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
    };
    check_links(
        domain,
        algs,
        path.end_entity(),
        &links,
        anchor,
        &checked,
        now,
    )
}

/// What [`check_links`] may skip and use.
struct Checked<'a> {
    /// The links are known to pass the profile checks (a remembered intermediate).
    links_profiled: bool,
    /// The intermediates the peer sent (CRL-signing certificates outside the path).
    presented: &'a [CertificateDer<'a>],
}

/// The index in `domain.anchors` of `anchor`, a reference into that slice (webpki returns the
/// anchor of a verified path from the slice it was given): found by address, in constant time
/// whatever the size of the bundle.
fn anchor_index(
    domain: &LoadedTrustDomain,
    anchor: &rustls_pki_types::TrustAnchor<'_>,
) -> Option<usize> {
    let size = size_of::<rustls_pki_types::TrustAnchor<'_>>();
    let offset = (anchor as *const rustls_pki_types::TrustAnchor<'_> as usize)
        .checked_sub(domain.anchors.as_ptr() as usize)?;
    let index = offset / size;
    let found = domain.anchors.get(index)?;
    std::ptr::eq(found, anchor).then_some(index)
}

/// [`check_path`] over its parts: the leaf, the CA certificates above it (nearest first) and
/// the index of the anchor in `domain.anchors`; `checked` says what may be skipped.
fn check_links(
    domain: &LoadedTrustDomain,
    algs: &WebPkiSupportedAlgorithms,
    leaf: &EndEntityCert<'_>,
    links: &[Link<'_>],
    anchor: usize,
    checked: &Checked<'_>,
    now: UnixTime,
) -> Result<(), Failure> {
    let (Some(facts), Some(anchor)) = (domain.anchor_facts.get(anchor), domain.anchors.get(anchor))
    else {
        return Err(foreign_anchor());
    };
    let options = &domain.options;
    let depth = links.len() + 1;
    if options
        .max_chain_depth
        .is_some_and(|max| depth > usize::from(max))
    {
        return Err(anchored(
            VerifyError::ChainTooLong { depth: Some(depth) },
            CertificateError::ApplicationVerificationFailure,
        ));
    }
    if now.as_secs() > facts.not_after.as_secs() {
        return Err(anchored(
            VerifyError::Expired,
            CertificateError::ExpiredContext {
                time: now,
                not_after: facts.not_after,
            },
        ));
    }
    let links_to_check = if checked.links_profiled {
        &[][..]
    } else {
        links
    };
    let violation = |message: String| {
        anchored(
            VerifyError::Other(message.clone()),
            CertificateError::Other(OtherError(Arc::new(ProfileViolation(message)))),
        )
    };
    check_profile(domain, &leaf.der(), links_to_check, facts).map_err(violation)?;
    check_policies(domain, &leaf.der(), links).map_err(violation)?;
    let Some(index) = &domain.revocation else {
        return Ok(());
    };
    let anchor_spki = webpki::spki_for_anchor(anchor);
    let crl_checked = match options.crl_scope {
        CrlScope::LeafOnly => 1,
        _ => depth,
    };
    let mut signers = Vec::with_capacity(depth);
    signers.push(Signer {
        name: anchor.subject.as_ref(),
        spki: anchor_spki.as_ref(),
        cert: None,
    });
    signers.extend(links.iter().map(|c| Signer {
        name: c.subject,
        spki: c.spki,
        cert: Some(c.der),
    }));
    let leaf_der = leaf.der();
    for k in 0..crl_checked {
        let (issuer_name, serial, cert) = match k {
            0 => (leaf.issuer(), leaf.serial(), leaf_der.as_ref()),
            _ => match links.get(k - 1) {
                Some(c) => (c.issuer, c.serial, c.der),
                None => break,
            },
        };
        let subject = Subject {
            issuer_name,
            serial,
            is_leaf: k == 0,
            cert,
            signers: &signers,
            presented: checked.presented,
        };
        match index.status(&subject, now, options.next_update, algs) {
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

/// The certificate policies of the path ([`policy`]): its certificates' facts, issued by the
/// anchor first, read from the domain's cache.
fn check_policies(
    domain: &LoadedTrustDomain,
    leaf_der: &[u8],
    links: &[Link<'_>],
) -> Result<(), String> {
    let mut facts = Vec::with_capacity(links.len() + 1);
    for (k, link) in links.iter().enumerate().rev() {
        let f = domain
            .policy_facts
            .facts(link.der)
            .map_err(|e| format!("intermediate CA certificate {} {e}", k + 1))?;
        facts.push(f);
    }
    let leaf = domain
        .policy_facts
        .facts(leaf_der)
        .map_err(|e| format!("the end-entity certificate {e}"))?;
    facts.push(leaf);
    let path: Vec<&PolicyFacts> = facts.iter().map(AsRef::as_ref).collect();
    policy::check(&path)
}
