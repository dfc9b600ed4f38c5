//! Chains verified before: a chain presented again, byte for byte, to the trust domain that
//! verified it is not built and its signatures are not checked again; what time, revocation
//! and the domain's options decide is.
//!
//! A domain lives as long as one snapshot (a reload, or a fetched CRL, builds a new one with
//! empty caches), so what is remembered here is what this snapshot decided. Only paths
//! accepted at the time of their verification are remembered ([`remember`]); a refusal is
//! never remembered, and a chain that fails anything on its return is verified in full
//! ([`recheck`]), which gives the authoritative answer.

use std::ops::Range;

use mtls_core::CertificatePolicies;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_parser::certificate::Validity;
use x509_parser::prelude::FromDer as _;

use super::Usage;
use super::links::{Link, recheck_links};
use super::shortcut::UsageKey;
use crate::der;
use crate::trust::LoadedTrustDomain;

/// A chain this domain accepted: the chain as presented (the cache's key, compared in full),
/// the path verification took through it up to an anchor, and what the structure of that
/// path decided once and for all.
///
/// What is not checked again on its return, and why that holds: the signatures of the path,
/// the basicConstraints, path lengths, name constraints, critical extensions, RFC 5280
/// profile and certificate policies of its certificates, and the extended key usage for
/// [`usage`](Self::usage). Each is a property of the certificates' bytes, of the anchor and
/// of the domain's options, none of which changes for the life of the domain.
///
/// What is checked again on every return ([`recheck`]): the validity period of every
/// certificate of the path and the anchor's `notAfter` at the time of the verification, the
/// depth limit, and revocation (the CRL index, with its `nextUpdate` rule). OCSP statuses are
/// read by the verifier after every path verification, this one included.
#[derive(Debug)]
pub(crate) struct KnownChain {
    /// The presented chain, leaf first.
    certs: Box<[Box<[u8]>]>,
    /// The purpose the path was verified for.
    usage: UsageKey,
    /// The certificates of the path, the leaf first, then its issuers up to the anchor.
    path: Box<[PathCert]>,
    /// Index in `domain.anchors` of the path's anchor.
    anchor: usize,
    /// The certificate policies valid for the path.
    policies: CertificatePolicies,
}

/// One certificate of a remembered path: where it is in the presented chain, where the
/// fields the rechecks read are in its encoding, and its validity period.
#[derive(Debug)]
struct PathCert {
    /// Index in [`KnownChain::certs`].
    index: usize,
    subject: Range<usize>,
    issuer: Range<usize>,
    serial: Range<usize>,
    spki: Range<usize>,
    not_before: u64,
    not_after: u64,
}

impl KnownChain {
    /// The presented chain, leaf first.
    pub(crate) fn certs(&self) -> impl Iterator<Item = &[u8]> {
        self.certs.iter().map(AsRef::as_ref)
    }

    /// Whether this is the chain `end_entity`, `intermediates`, byte for byte.
    pub(crate) fn is(&self, end_entity: &[u8], intermediates: &[CertificateDer<'_>]) -> bool {
        self.certs.len() == intermediates.len() + 1
            && self.certs.first().is_some_and(|c| **c == *end_entity)
            && self
                .certs
                .iter()
                .skip(1)
                .zip(intermediates)
                .all(|(known, presented)| **known == *presented.as_ref())
    }

    /// The link of the path's certificate `cert`, read from the chain's own bytes.
    fn link(&self, cert: &PathCert) -> Option<Link<'_>> {
        let der = self.certs.get(cert.index)?;
        Some(Link {
            subject: der.get(cert.subject.clone())?,
            issuer: der.get(cert.issuer.clone())?,
            serial: der.get(cert.serial.clone())?,
            der,
            spki: der.get(cert.spki.clone())?,
        })
    }
}

/// After a path verification that accepted `end_entity`, `intermediates` at the time of the
/// verification for `usage`, through the path `leaf`, `links` to the anchor `anchor`:
/// remembers the chain. Nothing is remembered when a certificate of the path cannot be found
/// in the chain or its validity cannot be read: the chain is then verified in full each time.
#[allow(clippy::too_many_arguments)]
pub(super) fn remember(
    domain: &LoadedTrustDomain,
    end_entity: &[u8],
    intermediates: &[CertificateDer<'_>],
    leaf: &Link<'_>,
    links: &[Link<'_>],
    anchor: usize,
    usage: Usage,
    policies: &CertificatePolicies,
) {
    let certs: Box<[Box<[u8]>]> = std::iter::once(end_entity)
        .chain(intermediates.iter().map(AsRef::as_ref))
        .map(Box::from)
        .collect();
    let path = std::iter::once((0, leaf))
        .chain(links.iter().map(|link| {
            let index = intermediates
                .iter()
                .position(|c| c.as_ref() == link.der)
                .map_or(usize::MAX, |i| i + 1);
            (index, link)
        }))
        .map(|(index, link)| path_cert(certs.get(index)?, index, link))
        .collect::<Option<Box<[PathCert]>>>();
    let Some(path) = path else {
        return;
    };
    domain.known_chains.insert(KnownChain {
        certs,
        usage: usage.into(),
        path,
        anchor,
        policies: policies.clone(),
    });
}

/// Where the fields of `link` are in `der` (its encoding, found at `index` in the chain), and
/// its validity period (read alone: the path's verification parsed the rest).
fn path_cert(der: &[u8], index: usize, link: &Link<'_>) -> Option<PathCert> {
    let (_, validity) = Validity::from_der(der::cert_validity(der)?).ok()?;
    Some(PathCert {
        index,
        subject: find(der, link.subject)?,
        issuer: find(der, link.issuer)?,
        serial: find(der, link.serial)?,
        spki: find(der, link.spki)?,
        not_before: u64::try_from(validity.not_before.timestamp()).ok()?,
        not_after: u64::try_from(validity.not_after.timestamp()).ok()?,
    })
}

/// Where bytes equal to `part` are in `whole`: its own place when `part` is a slice of
/// `whole`, else the first occurrence. Either way, `whole[range] == part`.
fn find(whole: &[u8], part: &[u8]) -> Option<Range<usize>> {
    let inside = (part.as_ptr() as usize)
        .checked_sub(whole.as_ptr() as usize)
        .map(|start| start..start + part.len())
        .filter(|range| whole.get(range.clone()) == Some(part));
    inside.or_else(|| {
        if part.is_empty() {
            return None;
        }
        let start = whole.windows(part.len()).position(|w| w == part)?;
        Some(start..start + part.len())
    })
}

/// Accepts `known` again at `now` for `usage` when every certificate of its path is valid at
/// `now` and [`recheck_links`] passes (depth, the anchor's `notAfter`, revocation); gives
/// the certificate policies valid for the path. Any failure sends the chain through the full
/// verification, which says why.
pub(super) fn recheck(
    domain: &LoadedTrustDomain,
    algs: &WebPkiSupportedAlgorithms,
    known: &KnownChain,
    intermediates: &[CertificateDer<'_>],
    now: UnixTime,
    usage: Usage,
) -> Result<CertificatePolicies, ()> {
    let secs = now.as_secs();
    if known.usage != UsageKey::from(usage)
        || known
            .path
            .iter()
            .any(|c| secs < c.not_before || secs > c.not_after)
    {
        return Err(());
    }
    let (leaf, links) = known.path.split_first().ok_or(())?;
    let leaf = known.link(leaf).ok_or(())?;
    let links = links
        .iter()
        .map(|c| known.link(c))
        .collect::<Option<Vec<_>>>()
        .ok_or(())?;
    recheck_links(
        domain,
        algs,
        &leaf,
        &links,
        known.anchor,
        intermediates,
        now,
    )
    .map_err(drop)?;
    Ok(known.policies.clone())
}
