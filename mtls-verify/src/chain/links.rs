//! The checks after path building, over a path's leaf, CA certificates and anchor: depth, the
//! anchor's `notAfter`, the RFC 5280 profile ([`profile`](super::profile)), certificate
//! policies ([`policy`](super::policy)) and revocation from the domain's
//! [`RevocationIndex`](crate::RevocationIndex). Both path builders (webpki's and
//! [`build`](super::build)) end here.

use mtls_core::CertificatePolicies;
use mtls_policy::{CertificateProfile, CrlScope, Treatment, VerifyError};
use rustls::CertificateError;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};

use super::build::Cert;
use super::failure::{Failure, anchored, foreign_anchor, reason_name};
use super::names::sequence;
use super::policy::{self, PolicyFacts};
use super::process::name_constraints;
use super::profile::{check_profile, violation};
use super::{Usage, strict};
use crate::der;
use crate::revocation::{Signer, Status, Subject};
use crate::trust::{AnchorFacts, LoadedTrustDomain};

/// A CA certificate of a path, below its anchor, as the checks after path building read it.
pub(super) struct Link<'a> {
    pub(super) subject: &'a [u8],
    pub(super) issuer: &'a [u8],
    pub(super) serial: &'a [u8],
    pub(super) der: &'a [u8],
    /// Full SPKI (with its SEQUENCE header).
    pub(super) spki: &'a [u8],
}

impl<'a> Link<'a> {
    /// The end-entity certificate of a webpki path (`der` and `spki`: its encodings, which
    /// webpki hands out by value).
    pub(super) fn of_end_entity(
        cert: &'a webpki::EndEntityCert<'_>,
        der: &'a CertificateDer<'_>,
        spki: &'a rustls_pki_types::SubjectPublicKeyInfoDer<'_>,
    ) -> Self {
        Self {
            subject: cert.subject(),
            issuer: cert.issuer(),
            serial: cert.serial(),
            der: der.as_ref(),
            spki: spki.as_ref(),
        }
    }
}

/// What [`check_links`] may skip and use.
pub(super) struct Checked<'a> {
    /// The links are known to pass the profile checks (a remembered intermediate).
    pub(super) links_profiled: bool,
    /// The intermediates the peer sent (CRL-signing certificates outside the path).
    pub(super) presented: &'a [CertificateDer<'a>],
    /// The purpose the path is verified for (the strict profile has server-only rules).
    pub(super) usage: Usage,
}

/// The index in `domain.anchors` of `anchor`, a reference into that slice (webpki returns the
/// anchor of a verified path from the slice it was given): found by address, in constant time
/// whatever the size of the bundle.
pub(super) fn anchor_index(domain: &LoadedTrustDomain, anchor: &TrustAnchor<'_>) -> Option<usize> {
    let size = size_of::<TrustAnchor<'_>>();
    let offset =
        (anchor as *const TrustAnchor<'_> as usize).checked_sub(domain.anchors.as_ptr() as usize)?;
    let index = offset / size;
    let found = domain.anchors.get(index)?;
    std::ptr::eq(found, anchor).then_some(index)
}

/// [`check_path`] over its parts: the leaf, the CA certificates above it (nearest first) and
/// the index of the anchor in `domain.anchors`; `checked` says what may be skipped. A path
/// that passes gives the certificate policies valid for it.
pub(super) fn check_links(
    domain: &LoadedTrustDomain,
    algs: &WebPkiSupportedAlgorithms,
    leaf: &Link<'_>,
    links: &[Link<'_>],
    anchor: usize,
    checked: &Checked<'_>,
    now: UnixTime,
) -> Result<CertificatePolicies, Failure> {
    let (facts, anchor) = depth_and_anchor(domain, links.len() + 1, anchor, now)?;
    let options = &domain.options;
    let links_to_check = if checked.links_profiled {
        &[][..]
    } else {
        links
    };
    check_profile(domain, leaf.der, links_to_check, facts).map_err(violation)?;
    if options.profile == CertificateProfile::Strict && matches!(checked.usage, Usage::Server) {
        strict::check_server_path(leaf, links, facts).map_err(violation)?;
    }
    let policies = check_policies(domain, leaf.der, links).map_err(violation)?;
    check_name_constraints(leaf, links, anchor).map_err(violation)?;
    check_revocation(domain, algs, leaf, links, anchor, checked.presented, now)?;
    Ok(policies)
}

/// What a path verified before must pass again at `now`, the checks of [`check_links`] whose
/// answer time, revocation or the domain's options can change: the depth limit, the anchor's
/// `notAfter` and revocation (`presented`: the intermediates the peer sent).
pub(super) fn recheck_links(
    domain: &LoadedTrustDomain,
    algs: &WebPkiSupportedAlgorithms,
    leaf: &Link<'_>,
    links: &[Link<'_>],
    anchor: usize,
    presented: &[CertificateDer<'_>],
    now: UnixTime,
) -> Result<(), Failure> {
    let (_, anchor) = depth_and_anchor(domain, links.len() + 1, anchor, now)?;
    check_revocation(domain, algs, leaf, links, anchor, presented, now)
}

/// The depth limit of the domain and the `notAfter` of the anchor `anchor` (index in
/// `domain.anchors`), for a path of `depth` certificates below it; the anchor and its facts.
fn depth_and_anchor(
    domain: &LoadedTrustDomain,
    depth: usize,
    anchor: usize,
    now: UnixTime,
) -> Result<(&AnchorFacts, &TrustAnchor<'static>), Failure> {
    let (Some(facts), Some(anchor)) = (domain.anchor_facts.get(anchor), domain.anchors.get(anchor))
    else {
        return Err(foreign_anchor());
    };
    if domain
        .options
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
    Ok((facts, anchor))
}

/// The revocation of the path's certificates from the domain's index, as its options say
/// (`presented`: where CRL-signing certificates outside the path are looked for).
fn check_revocation(
    domain: &LoadedTrustDomain,
    algs: &WebPkiSupportedAlgorithms,
    leaf: &Link<'_>,
    links: &[Link<'_>],
    anchor: &TrustAnchor<'_>,
    presented: &[CertificateDer<'_>],
    now: UnixTime,
) -> Result<(), Failure> {
    let Some(index) = &domain.revocation else {
        return Ok(());
    };
    let options = &domain.options;
    let depth = links.len() + 1;
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
    for k in 0..crl_checked {
        let (issuer_name, serial, cert) = match k {
            0 => (leaf.issuer, leaf.serial, leaf.der),
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
            presented,
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

/// Our name constraints over a path (webpki leaves some names unchecked: the emailAddress of a
/// subject without subjectAltName), when a certificate of it carries nameConstraints: the
/// common path, without any, costs one extension lookup per CA.
fn check_name_constraints(
    leaf: &Link<'_>,
    links: &[Link<'_>],
    anchor: &TrustAnchor<'_>,
) -> Result<(), String> {
    const NAME_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x1e];
    if anchor.name_constraints.is_none()
        && links
            .iter()
            .all(|l| der::cert_extension(l.der, NAME_CONSTRAINTS).is_none())
    {
        return Ok(());
    }
    let certs = std::iter::once(leaf)
        .chain(links)
        .map(|l| Cert::parse(l.der))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("a certificate of the path {e}"))?;
    let path: Vec<&Cert<'_>> = certs.iter().collect();
    let anchor_nc = anchor
        .name_constraints
        .as_ref()
        .map(|nc| sequence(nc.as_ref()));
    name_constraints(&path, anchor_nc.as_deref())
}

/// The certificate policies of the path ([`policy`]): its certificates' facts, issued by the
/// anchor first, read from the domain's cache; the policies valid for it when it passes.
fn check_policies(
    domain: &LoadedTrustDomain,
    leaf_der: &[u8],
    links: &[Link<'_>],
) -> Result<CertificatePolicies, String> {
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
    policy::check(&path, domain.initial_policies.input())
}
