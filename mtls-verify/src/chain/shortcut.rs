//! Verification from a remembered intermediate: an intermediate CA certificate verified up to
//! an anchor becomes the only anchor of the next chain through it, so one signature less is
//! checked per handshake; everything about the leaf, time and revocation is checked again.

use mtls_core::CertificatePolicies;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{EndEntityCert, KeyUsage, VerifiedPath};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer as _;

use super::{AnyEku, Checked, Link, Usage, anchor_index, check_links, known};
use crate::trust::LoadedTrustDomain;

/// An intermediate CA certificate this domain has verified up to one of its anchors, kept so
/// that the next chain through it is verified from it instead of from the anchor: the
/// intermediate becomes the (only) anchor of a second webpki build, so one signature less is
/// checked per handshake.
///
/// Only what does not depend on the leaf is taken from the earlier verification, and only
/// under conditions that make that sound (see [`remember_issuer`]); everything about the leaf
/// and time is checked again on every chain.
#[derive(Debug)]
pub(crate) struct VerifiedIssuer {
    /// The intermediate as a webpki anchor: its subject, its key and its nameConstraints,
    /// which webpki then applies to the leaf exactly as it does to the leaf below an
    /// intermediate.
    anchor: rustls_pki_types::TrustAnchor<'static>,
    subject: Vec<u8>,
    issuer: Vec<u8>,
    serial: Vec<u8>,
    spki: Vec<u8>,
    not_before: u64,
    not_after: u64,
    /// Index in `domain.anchors` of the anchor the intermediate was verified against.
    root: usize,
    /// The usage it was verified for (webpki checks an intermediate's EKU against it).
    usage: UsageKey,
}

/// [`Usage`] as a key: the EKU an intermediate was checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum UsageKey {
    ClientRequired,
    AnyEku,
    Server,
}

impl From<Usage> for UsageKey {
    fn from(usage: Usage) -> Self {
        match usage {
            Usage::Client { require_eku: true } => Self::ClientRequired,
            Usage::Client { require_eku: false } => Self::AnyEku,
            Usage::Server => Self::Server,
        }
    }
}

/// After a clean verification at the current time: remembers the path's intermediate when the
/// path is leaf → one intermediate → anchor and the anchor has no nameConstraints (which would
/// apply to the leaf too, and the shortcut anchor cannot carry them).
///
/// What the shortcut then relies on, and why it holds:
/// - the intermediate's signature by the anchor, its basicConstraints (a CA; pathLen cannot be
///   exceeded by a leaf right below it), its own EKU for this usage, its critical extensions
///   and the RFC 5280 profile checks: properties of the intermediate and the anchor alone,
///   unchanged for the life of this domain (a reload builds a new domain, and a new cache);
/// - its validity: kept and checked against the time of every chain;
/// - the anchor's `notAfter`, its profile fault and the revocation of the intermediate: checked
///   again on every chain by the same [`check_links`].
pub(super) fn remember_issuer(domain: &LoadedTrustDomain, path: &VerifiedPath<'_>, usage: Usage) {
    let mut intermediates = path.intermediate_certificates();
    let (Some(intermediate), None) = (intermediates.next(), intermediates.next()) else {
        return;
    };
    let anchor = path.anchor();
    if anchor.name_constraints.is_some() {
        return;
    }
    let der = intermediate.der();
    if domain.verified_issuers.get(der.as_ref()).is_some() {
        return;
    }
    let Some(root) = anchor_index(domain, anchor) else {
        return;
    };
    let Ok((_, parsed)) = X509Certificate::from_der(der.as_ref()) else {
        return;
    };
    let (Ok(not_before), Ok(not_after)) = (
        u64::try_from(parsed.validity().not_before.timestamp()),
        u64::try_from(parsed.validity().not_after.timestamp()),
    ) else {
        return;
    };
    let Ok(as_anchor) = webpki::anchor_from_trusted_cert(&der) else {
        return;
    };
    domain.verified_issuers.insert(
        der.as_ref(),
        VerifiedIssuer {
            anchor: as_anchor.to_owned(),
            subject: intermediate.subject().to_vec(),
            issuer: intermediate.issuer().to_vec(),
            serial: intermediate.serial().to_vec(),
            spki: intermediate.subject_public_key_info().as_ref().to_vec(),
            not_before,
            not_after,
            root,
            usage: usage.into(),
        },
    );
}

/// Verifies `cert` from a remembered intermediate (the first of `presented`, the copy the cache
/// was keyed by), and remembers the chain when it passes ([`known`]): webpki checks the leaf (its signature by
/// the intermediate, validity, EKU, basicConstraints, the intermediate's nameConstraints), then
/// [`check_links`] the depth, the profile, the policies and the revocation of the whole path up
/// to the real anchor (whose valid policies it gives).
pub(super) fn shortcut(
    domain: &LoadedTrustDomain,
    algs: &WebPkiSupportedAlgorithms,
    cert: &EndEntityCert<'_>,
    presented: &[CertificateDer<'_>],
    issuer: &VerifiedIssuer,
    now: UnixTime,
    usage: Usage,
) -> Result<CertificatePolicies, ()> {
    let issuer_der = presented.first().ok_or(())?;
    let secs = now.as_secs();
    if issuer.usage != UsageKey::from(usage) || secs < issuer.not_before || secs > issuer.not_after
    {
        return Err(());
    }
    let anchors = std::slice::from_ref(&issuer.anchor);
    let verified = match usage {
        Usage::Client { require_eku: false } => {
            cert.verify_for_usage(algs.all, anchors, &[], now, AnyEku, None, None)
        }
        Usage::Client { require_eku: true } => cert.verify_for_usage(
            algs.all,
            anchors,
            &[],
            now,
            KeyUsage::client_auth(),
            None,
            None,
        ),
        Usage::Server => cert.verify_for_usage(
            algs.all,
            anchors,
            &[],
            now,
            KeyUsage::server_auth(),
            None,
            None,
        ),
    };
    verified.map_err(drop)?;
    let link = Link {
        subject: &issuer.subject,
        issuer: &issuer.issuer,
        serial: &issuer.serial,
        der: issuer_der.as_ref(),
        spki: &issuer.spki,
    };
    // The intermediate passed the profile checks when it was remembered.
    // A CRL-signing certificate outside the path is not looked for here: a status left
    // unknown sends the chain through full path building, which looks.
    let checked = Checked {
        links_profiled: true,
        presented: &[],
        usage,
    };
    let (leaf_der, leaf_spki) = (cert.der(), cert.subject_public_key_info());
    let leaf = Link::of_end_entity(cert, &leaf_der, &leaf_spki);
    let links = [link];
    let policies =
        check_links(domain, algs, &leaf, &links, issuer.root, &checked, now).map_err(drop)?;
    known::remember(
        domain,
        leaf_der.as_ref(),
        presented,
        &leaf,
        &links,
        issuer.root,
        usage,
        &policies,
    );
    Ok(policies)
}
