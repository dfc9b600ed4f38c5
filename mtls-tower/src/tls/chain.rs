//! Path verification in one trust domain: rustls-webpki builds and checks the path (signatures,
//! validity, EKU, name constraints, path length) without CRLs; a `verify_path` callback then
//! checks the depth limit, the trust anchor's own `notAfter` (which webpki does not keep), the
//! RFC 5280 profile rules webpki does not check (below), and answers revocation from the
//! domain's [`RevocationIndex`].
//!
//! # Profile checks (RFC 5280), on the verified path
//!
//! Each fails the path closed with a message naming the certificate and the rule:
//! - the end-entity certificate has no nameConstraints (4.2.1.10: CA certificates only) and
//!   does not assert keyCertSign without cA=TRUE (4.2.1.3, 4.2.1.9);
//! - no certificate of the path (trust anchor included) has a nameConstraints extension with
//!   neither permittedSubtrees nor excludedSubtrees, or one that does not parse (4.2.1.10);
//! - no CA of the path (trust anchor included) has an empty subject (4.1.2.6);
//! - no certificate of the path has an authorityInfoAccess / subjectInfoAccess extension whose
//!   value is not the DER of its syntax (4.2.2.1, 4.2.2.2);
//! - the trust anchor's bundle certificate has no critical extension other than those
//!   rustls-webpki processes in a CA certificate (keyUsage, subjectAltName, basicConstraints,
//!   nameConstraints, cRLDistributionPoints, extKeyUsage, SCT list): a critical extension a
//!   verifier does not process MUST make it reject the certificate (4.2). rustls-webpki
//!   already applies that rule to intermediates and leaves, but never reads an anchor's
//!   extensions. Computed once per trust domain ([`anchor_fault`]).
//!
//! [`RevocationIndex`]: crate::tls::RevocationIndex

use std::cell::RefCell;
use std::sync::Arc;

use mtls_policy::{CrlScope, Treatment, VerifyError};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{CertificateError, OtherError};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter, KeyUsage, VerifiedPath};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{ParsedExtension, X509Extension};
use x509_parser::prelude::FromDer as _;

use crate::tls::der;
use crate::tls::revocation::{Status, Subject};
use crate::tls::trust::{AnchorFacts, LoadedTrustDomain};

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
        check_path(domain, algs, path, now).map_err(|f| {
            *rejected.borrow_mut() = Some(f);
            // Any error: path building goes on with other candidates; `rejected` says why.
            webpki::Error::CertRevoked
        })
    };
    let result = match (usage, any_eku) {
        (_, true) | (Usage::Client { require_eku: false }, _) => cert.verify_for_usage(
            algs.all,
            &domain.anchors,
            intermediates,
            chain_time,
            AnyEku,
            None,
            Some(&callback),
        ),
        (Usage::Client { require_eku: true }, false) => cert.verify_for_usage(
            algs.all,
            &domain.anchors,
            intermediates,
            chain_time,
            KeyUsage::client_auth(),
            None,
            Some(&callback),
        ),
        (Usage::Server, false) => cert.verify_for_usage(
            algs.all,
            &domain.anchors,
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
    issuer: &'a [u8],
    serial: &'a [u8],
    der: &'a [u8],
    /// Full SPKI (with its SEQUENCE header).
    spki: &'a [u8],
}

/// Depth, profile and revocation of a path webpki has verified up to an anchor of `domain`.
fn check_path(
    domain: &LoadedTrustDomain,
    algs: &WebPkiSupportedAlgorithms,
    path: &VerifiedPath<'_>,
    now: UnixTime,
) -> Result<(), Failure> {
    let certs: Vec<_> = path
        .intermediate_certificates()
        .map(|c| (c, c.subject_public_key_info(), c.der()))
        .collect();
    let links: Vec<_> = certs
        .iter()
        .map(|(c, spki, der)| Link {
            issuer: c.issuer(),
            serial: c.serial(),
            der: der.as_ref(),
            spki: spki.as_ref(),
        })
        .collect();
    let anchor = anchor_index(domain, path.anchor()).ok_or_else(foreign_anchor)?;
    check_links(domain, algs, path.end_entity(), &links, anchor, false, now)
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
/// the index of the anchor in `domain.anchors`. `links_profiled`: the links are known to pass
/// the profile checks (a remembered intermediate), so they are not looked up again.
fn check_links(
    domain: &LoadedTrustDomain,
    algs: &WebPkiSupportedAlgorithms,
    leaf: &EndEntityCert<'_>,
    links: &[Link<'_>],
    anchor: usize,
    links_profiled: bool,
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
    let links_to_check = if links_profiled { &[][..] } else { links };
    check_profile(domain, &leaf.der(), links_to_check, facts).map_err(|message| {
        anchored(
            VerifyError::Other(message.clone()),
            CertificateError::Other(OtherError(Arc::new(ProfileViolation(message)))),
        )
    })?;
    let Some(index) = &domain.revocation else {
        return Ok(());
    };
    let anchor_spki = webpki::spki_for_anchor(anchor);
    let checked = match options.crl_scope {
        CrlScope::LeafOnly => 1,
        _ => depth,
    };
    for k in 0..checked {
        let (issuer_name, serial) = match k {
            0 => (leaf.issuer(), leaf.serial()),
            _ => match links.get(k - 1) {
                Some(c) => (c.issuer, c.serial),
                None => break,
            },
        };
        let issuer = links.get(k);
        let subject = Subject {
            issuer_name,
            serial,
            is_leaf: k == 0,
            issuer_spki: issuer.map_or(anchor_spki.as_ref(), |c| c.spki),
            issuer_cert: issuer.map(|c| c.der),
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
enum UsageKey {
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
fn remember_issuer(domain: &LoadedTrustDomain, path: &VerifiedPath<'_>, usage: Usage) {
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

/// Verifies `cert` from a remembered intermediate (`issuer_der`, the presented copy the cache was
/// keyed by): webpki checks the leaf (its signature by
/// the intermediate, validity, EKU, basicConstraints, the intermediate's nameConstraints), then
/// [`check_links`] the depth, the profile and the revocation of the whole path up to the real
/// anchor.
fn shortcut(
    domain: &LoadedTrustDomain,
    algs: &WebPkiSupportedAlgorithms,
    cert: &EndEntityCert<'_>,
    issuer_der: &CertificateDer<'_>,
    issuer: &VerifiedIssuer,
    now: UnixTime,
    usage: Usage,
) -> Result<(), ()> {
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
        issuer: &issuer.issuer,
        serial: &issuer.serial,
        der: issuer_der.as_ref(),
        spki: &issuer.spki,
    };
    // The intermediate passed the profile checks when it was remembered.
    check_links(domain, algs, cert, &[link], issuer.root, true, now).map_err(drop)
}

/// A certificate of a verified path breaks an RFC 5280 rule the gateway enforces (the message
/// says which); carried to rustls as [`CertificateError::Other`] (alert `bad_certificate`).
#[derive(Debug)]
struct ProfileViolation(String);

impl std::fmt::Display for ProfileViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProfileViolation {}

/// The RFC 5280 profile checks of the module documentation, over the leaf, the intermediates
/// and (resolved at load) the anchor of a verified path.
fn check_profile(
    domain: &LoadedTrustDomain,
    leaf_der: &[u8],
    links: &[Link<'_>],
    anchor: &AnchorFacts,
) -> Result<(), String> {
    if !domain.profile_passed.contains(true, leaf_der) {
        check_leaf_profile(leaf_der)?;
        domain.profile_passed.insert(true, leaf_der);
    }
    for (k, link) in links.iter().enumerate() {
        if !domain.profile_passed.contains(false, link.der) {
            check_intermediate_profile(link.der, k)?;
            domain.profile_passed.insert(false, link.der);
        }
    }
    match &anchor.fault {
        Some(fault) => Err(fault.clone()),
        None => Ok(()),
    }
}

/// The profile checks of the end-entity certificate.
fn check_leaf_profile(leaf_der: &[u8]) -> Result<(), String> {
    let leaf = parse(leaf_der, "the end-entity certificate")?;
    let what = || {
        format!(
            "the end-entity certificate (subject \"{}\")",
            leaf.subject()
        )
    };
    for ext in leaf.extensions() {
        if ext.oid.as_bytes() == NAME_CONSTRAINTS {
            return Err(format!(
                "{} has a nameConstraints extension, which only a CA certificate may carry \
                 (RFC 5280 4.2.1.10)",
                what()
            ));
        }
        if let ParsedExtension::KeyUsage(ku) = ext.parsed_extension() {
            if ku.key_cert_sign() && !leaf.is_ca() {
                return Err(format!(
                    "{} asserts keyCertSign in its keyUsage without basicConstraints cA=TRUE \
                     (RFC 5280 4.2.1.3, 4.2.1.9)",
                    what()
                ));
            }
        }
    }
    check_common(&leaf, &what)
}

/// The profile checks of the `k`-th intermediate (0-based) of a path.
fn check_intermediate_profile(der: &[u8], k: usize) -> Result<(), String> {
    let label = format!("intermediate CA certificate {}", k + 1);
    let cert = parse(der, &label)?;
    let what = || format!("{label} (subject \"{}\")", cert.subject());
    if cert.subject().iter().next().is_none() {
        return Err(format!(
            "{} has an empty subject; a CA's subject MUST be a non-empty distinguished name \
             (RFC 5280 4.1.2.6)",
            what()
        ));
    }
    check_common(&cert, &what)
}

/// The checks made on every certificate of the path: nameConstraints not empty, AIA / SIA
/// well-formed.
fn check_common(cert: &X509Certificate<'_>, what: &dyn Fn() -> String) -> Result<(), String> {
    for ext in cert.extensions() {
        if let Some(problem) = name_constraints_problem(ext) {
            return Err(format!("{} {problem}", what()));
        }
        if matches!(
            ext.oid.as_bytes(),
            AUTHORITY_INFO_ACCESS | SUBJECT_INFO_ACCESS
        ) {
            if let ParsedExtension::ParseError { .. } = ext.parsed_extension() {
                return Err(format!(
                    "{} has a malformed {} extension (RFC 5280 4.2.2: not the DER of its syntax)",
                    what(),
                    extension_name(ext.oid.as_bytes()).unwrap_or("access information")
                ));
            }
        }
    }
    Ok(())
}

/// What is wrong with `ext` if it is a nameConstraints extension that is empty or malformed.
/// Read from the DER (x509-parser tolerates empty and trailing subtrees).
fn name_constraints_problem(ext: &X509Extension<'_>) -> Option<&'static str> {
    const MALFORMED: &str = "has a malformed nameConstraints extension (RFC 5280 4.2.1.10)";
    if ext.oid.as_bytes() != NAME_CONSTRAINTS {
        return None;
    }
    let Some((seq, rest)) = der::read(ext.value) else {
        return Some(MALFORMED);
    };
    if seq.tag != der::SEQUENCE || !rest.is_empty() {
        return Some(MALFORMED);
    }
    // permittedSubtrees [0] and excludedSubtrees [1], each optional, in that order.
    let mut fields = seq.contents;
    let mut next_tag = 0xa0;
    while !fields.is_empty() {
        let Some((field, rest)) = der::read(fields) else {
            return Some(MALFORMED);
        };
        fields = rest;
        if field.tag < next_tag || field.tag > 0xa1 {
            return Some(MALFORMED);
        }
        next_tag = field.tag + 1;
        if field.contents.is_empty() {
            return Some(
                "has a nameConstraints extension with an empty permittedSubtrees or \
                 excludedSubtrees (RFC 5280 4.2.1.10: GeneralSubtrees ::= SEQUENCE SIZE (1..MAX))",
            );
        }
    }
    if next_tag == 0xa0 {
        return Some(
            "has a nameConstraints extension with neither permittedSubtrees nor \
             excludedSubtrees (RFC 5280 4.2.1.10: it MUST NOT be empty)",
        );
    }
    match ext.parsed_extension() {
        ParsedExtension::NameConstraints(_) => None,
        _ => Some(MALFORMED),
    }
}

fn parse<'a>(der: &'a [u8], label: &str) -> Result<X509Certificate<'a>, String> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok((rest, _)) => Err(format!(
            "{label} is malformed: {} bytes after the certificate",
            rest.len()
        )),
        Err(e) => Err(format!("{label} is malformed: {e}")),
    }
}

/// id-ce-nameConstraints (2.5.29.30), DER contents.
const NAME_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x1e];
/// id-pe-authorityInfoAccess (1.3.6.1.5.5.7.1.1).
const AUTHORITY_INFO_ACCESS: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01];
/// id-pe-subjectInfoAccess (1.3.6.1.5.5.7.1.11).
const SUBJECT_INFO_ACCESS: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x0b];
/// The signed certificate timestamp list (1.3.6.1.4.1.11129.2.4.2), which webpki also reads.
const SCT_LIST: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02];

/// The id-ce extensions rustls-webpki processes in a CA certificate (so may be critical there):
/// keyUsage, subjectAltName, basicConstraints, nameConstraints, cRLDistributionPoints,
/// extKeyUsage.
fn processed_by_webpki(oid: &[u8]) -> bool {
    matches!(oid, [0x55, 0x1d, 15 | 17 | 19 | 30 | 31 | 37]) || oid == SCT_LIST
}

fn extension_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        [0x55, 0x1d, 14] => "subjectKeyIdentifier",
        [0x55, 0x1d, 16] => "privateKeyUsagePeriod",
        [0x55, 0x1d, 18] => "issuerAltName",
        [0x55, 0x1d, 9] => "subjectDirectoryAttributes",
        [0x55, 0x1d, 32] => "certificatePolicies",
        [0x55, 0x1d, 33] => "policyMappings",
        [0x55, 0x1d, 35] => "authorityKeyIdentifier",
        [0x55, 0x1d, 36] => "policyConstraints",
        [0x55, 0x1d, 46] => "freshestCRL",
        [0x55, 0x1d, 54] => "inhibitAnyPolicy",
        AUTHORITY_INFO_ACCESS => "authorityInfoAccess",
        SUBJECT_INFO_ACCESS => "subjectInfoAccess",
        _ => return None,
    })
}

/// Why the CA certificate `der` of a bundle may not serve as a trust anchor under the profile
/// checks of the module documentation (`None`: it may). Computed once per trust domain.
pub(crate) fn anchor_fault(der: &[u8]) -> Option<String> {
    let cert = match parse(der, "the trust anchor's certificate") {
        Ok(cert) => cert,
        Err(e) => return Some(e),
    };
    let what = || format!("the trust anchor (subject \"{}\")", cert.subject());
    if cert.subject().iter().next().is_none() {
        return Some(format!(
            "{} has an empty subject; a CA's subject MUST be a non-empty distinguished name \
             (RFC 5280 4.1.2.6)",
            what()
        ));
    }
    for ext in cert.extensions() {
        let oid = ext.oid.as_bytes();
        if ext.critical && !processed_by_webpki(oid) {
            let name = extension_name(oid)
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            return Some(format!(
                "{} has a critical extension {}{name} that is not processed; a certificate \
                 with an unprocessed critical extension MUST be rejected (RFC 5280 4.2)",
                what(),
                ext.oid.to_id_string()
            ));
        }
    }
    check_common(&cert, &what).err()
}

/// A path whose anchor is not one of the domain's (webpki returns one of the anchors it was
/// given, so this cannot happen; it fails closed all the same).
fn foreign_anchor() -> Failure {
    anchored(
        VerifyError::Other("the path's trust anchor is not one of the trust domain's".into()),
        CertificateError::UnknownIssuer,
    )
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

#[cfg(test)]
mod tests {
    //! The shortcut through a remembered intermediate ([`VerifiedIssuer`]) must answer exactly
    //! as the full path build would. Each test first verifies a good chain (which remembers its
    //! intermediate), checks that it was remembered, then shows a chain the shortcut must not
    //! let through.

    use std::time::{Duration, SystemTime};

    use mtls_core::{CaBundle, CrlSet};
    use mtls_policy::VerifyError;
    use rcgen::{
        BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
        ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyIdMethod, KeyPair,
        KeyUsagePurpose, NameConstraints, RevokedCertParams, SerialNumber,
    };
    use rustls_pki_types::{CertificateDer, UnixTime};

    use super::*;
    use crate::tls::DomainOptions;

    const DAY: Duration = Duration::from_secs(86_400);

    thread_local! {
        /// Chains this thread verified through the shortcut.
        pub(super) static SHORTCUTS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    fn shortcuts() -> usize {
        SHORTCUTS.with(std::cell::Cell::get)
    }

    struct Ca {
        der: CertificateDer<'static>,
        pem: String,
        issuer: Issuer<'static, KeyPair>,
    }

    fn ca(
        name: &str,
        parent: Option<&Ca>,
        until: SystemTime,
        constraints: Option<NameConstraints>,
    ) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = (SystemTime::now() - DAY).into();
        params.not_after = until.into();
        params.name_constraints = constraints;
        params.use_authority_key_identifier_extension = parent.is_some();
        let cert = match parent {
            Some(p) => params.signed_by(&key, &p.issuer).unwrap(),
            None => params.self_signed(&key).unwrap(),
        };
        Ca {
            der: cert.der().clone(),
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    fn leaf(dns: &str, by: &Ca, serial: u64, until: SystemTime) -> CertificateDer<'static> {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![dns.to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, dns);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = (SystemTime::now() - DAY).into();
        params.not_after = until.into();
        params.serial_number = Some(SerialNumber::from(serial));
        params.use_authority_key_identifier_extension = true;
        params.signed_by(&key, &by.issuer).unwrap().der().clone()
    }

    fn domain(root: &Ca, crls: Option<String>) -> LoadedTrustDomain {
        domain_with(root, crls, DomainOptions::default())
    }

    fn domain_with(root: &Ca, crls: Option<String>, options: DomainOptions) -> LoadedTrustDomain {
        let bundle = CaBundle::from_bytes(root.pem.as_bytes(), "root.pem").unwrap();
        let crls = crls.map(|pem| CrlSet::from_bytes(pem.as_bytes(), "crl.pem").unwrap());
        let provider = mtls_core::crypto::default_provider();
        LoadedTrustDomain::new("test", bundle, crls.as_ref(), options, &provider).unwrap()
    }

    fn check(
        domain: &LoadedTrustDomain,
        leaf: &CertificateDer<'_>,
        int: &Ca,
        at: SystemTime,
    ) -> Result<(), VerifyError> {
        let provider = mtls_core::crypto::default_provider();
        let now = UnixTime::since_unix_epoch(at.duration_since(SystemTime::UNIX_EPOCH).unwrap());
        verify(
            domain,
            &provider.signature_verification_algorithms,
            leaf,
            std::slice::from_ref(&int.der),
            now,
            Usage::Client { require_eku: true },
            false,
        )
        .map(drop)
        .map_err(|f| f.error)
    }

    /// A CRL of `by` revoking `serials` (big-endian bytes), valid for 30 days.
    fn crl(by: &Ca, serials: &[&[u8]]) -> String {
        let now = SystemTime::now();
        CertificateRevocationListParams {
            this_update: (now - DAY).into(),
            next_update: (now + 30 * DAY).into(),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(s),
                    revocation_time: (now - DAY).into(),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&by.issuer)
        .unwrap()
        .pem()
        .unwrap()
    }

    /// Permits only names under `good.example`.
    fn good_example_only() -> NameConstraints {
        NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::DnsName("good.example".into())],
            excluded_subtrees: vec![],
        }
    }

    fn assert_name_constraint_violation(result: Result<(), VerifyError>) {
        assert!(
            matches!(&result, Err(VerifyError::Other(m)) if m.contains("NameConstraintViolation")),
            "{result:?}"
        );
    }

    fn years(n: u64) -> SystemTime {
        SystemTime::now() + DAY * (365 * n as u32)
    }

    #[test]
    fn a_leaf_signed_by_another_key_under_the_same_name_is_refused() {
        let root = ca("Root", None, years(30), None);
        let int = ca("Issuing CA", Some(&root), years(5), None);
        let d = domain(&root, None);
        let good = leaf("a.example", &int, 1, years(1));
        assert_eq!(check(&d, &good, &int, SystemTime::now()), Ok(()));
        assert!(d.verified_issuers.get(&int.der).is_some(), "remembered");
        // Same subject name, another key: the leaf names "Issuing CA" as its issuer.
        let impostor = ca("Issuing CA", Some(&root), years(5), None);
        let forged = leaf("b.example", &impostor, 2, years(1));
        // Presented with the genuine intermediate: the shortcut must not accept it.
        let err = check(&d, &forged, &int, SystemTime::now()).unwrap_err();
        assert_eq!(err, VerifyError::BadSignature, "{err:?}");
        // And the good one still passes, from the shortcut.
        let before = shortcuts();
        assert_eq!(check(&d, &good, &int, SystemTime::now()), Ok(()));
        assert_eq!(shortcuts(), before + 1);
    }

    #[test]
    fn the_intermediate_s_name_constraints_still_apply_to_every_leaf() {
        let root = ca("Root", None, years(30), None);
        let int = ca(
            "Constrained CA",
            Some(&root),
            years(5),
            Some(good_example_only()),
        );
        let d = domain(&root, None);
        let inside = leaf("a.good.example", &int, 1, years(1));
        assert_eq!(check(&d, &inside, &int, SystemTime::now()), Ok(()));
        assert!(d.verified_issuers.get(&int.der).is_some(), "remembered");
        let outside = leaf("a.evil.example", &int, 2, years(1));
        assert_name_constraint_violation(check(&d, &outside, &int, SystemTime::now()));
    }

    #[test]
    fn an_anchor_with_name_constraints_is_never_shortcut() {
        let root = ca(
            "Constrained Root",
            None,
            years(30),
            Some(good_example_only()),
        );
        let int = ca("Issuing CA", Some(&root), years(5), None);
        let d = domain(&root, None);
        let inside = leaf("a.good.example", &int, 1, years(1));
        assert_eq!(check(&d, &inside, &int, SystemTime::now()), Ok(()));
        assert!(d.verified_issuers.get(&int.der).is_none(), "not remembered");
        let outside = leaf("a.evil.example", &int, 2, years(1));
        assert_name_constraint_violation(check(&d, &outside, &int, SystemTime::now()));
    }

    #[test]
    fn an_expired_intermediate_is_refused_even_when_the_leaf_outlives_it() {
        let root = ca("Root", None, years(30), None);
        let int = ca("Short-lived CA", Some(&root), years(2), None);
        let d = domain(&root, None);
        let long = leaf("a.example", &int, 1, years(10));
        assert_eq!(check(&d, &long, &int, SystemTime::now()), Ok(()));
        assert!(d.verified_issuers.get(&int.der).is_some(), "remembered");
        assert_eq!(
            check(&d, &long, &int, years(3)),
            Err(VerifyError::Expired),
            "the intermediate expired after two years"
        );
        assert_eq!(
            check(&d, &long, &int, SystemTime::now() - 2 * DAY),
            Err(VerifyError::NotYetValid)
        );
    }

    #[test]
    fn revocation_of_the_leaf_and_of_the_intermediate_is_checked_on_the_shortcut() {
        let root = ca("Root", None, years(30), None);
        let int = ca("Issuing CA", Some(&root), years(5), None);
        let revoked_int = ca("Revoked CA", Some(&root), years(5), None);
        let int_serial = {
            let (_, parsed) = X509Certificate::from_der(&revoked_int.der).unwrap();
            parsed.raw_serial().to_vec()
        };
        // The root's CRL revokes `revoked_int` (by its serial); the intermediate's revokes
        // leaf 2.
        let crls = format!(
            "{}{}{}",
            crl(&root, &[&int_serial]),
            crl(&int, &[&[2]]),
            crl(&revoked_int, &[])
        );
        let options = DomainOptions {
            expired_crl: Treatment::Deny,
            ..DomainOptions::default()
        };
        let d = domain_with(&root, Some(crls), options);
        let good = leaf("a.example", &int, 1, years(1));
        assert_eq!(check(&d, &good, &int, SystemTime::now()), Ok(()));
        assert!(d.verified_issuers.get(&int.der).is_some(), "remembered");
        let before = shortcuts();
        assert_eq!(check(&d, &good, &int, SystemTime::now()), Ok(()));
        assert_eq!(shortcuts(), before + 1, "verified through the shortcut");
        // The CRLs' nextUpdate is in 30 days: past it, the shortcut too must answer so.
        assert_eq!(
            check(&d, &good, &int, SystemTime::now() + 31 * DAY),
            Err(VerifyError::CrlExpired)
        );
        let revoked = leaf("b.example", &int, 2, years(1));
        assert!(matches!(
            check(&d, &revoked, &int, SystemTime::now()),
            Err(VerifyError::Revoked { .. })
        ));
        let under_revoked = leaf("c.example", &revoked_int, 3, years(1));
        assert!(matches!(
            check(&d, &under_revoked, &revoked_int, SystemTime::now()),
            Err(VerifyError::Revoked { .. })
        ));
        assert!(d.verified_issuers.get(&revoked_int.der).is_none());
    }
}
