//! The RFC 5280 profile checks rustls-webpki does not make, on the certificates of a verified
//! path. Each fails the path closed with a message naming the certificate and the rule:
//! - the end-entity certificate has no nameConstraints (4.2.1.10: CA certificates only),
//!   does not assert keyCertSign without cA=TRUE (4.2.1.3, 4.2.1.9), and with an empty subject
//!   carries its names in a critical subjectAltName (4.1.2.6, 4.2.1.6);
//! - no certificate of the path (trust anchor included) has a nameConstraints extension with
//!   neither permittedSubtrees nor excludedSubtrees, or one that does not parse (4.2.1.10);
//! - no CA of the path (trust anchor included) has an empty subject (4.1.2.6);
//! - every intermediate CA with a keyUsage extension asserts keyCertSign (4.2.1.3, 6.1.4 (n));
//!   the trust anchors' keyUsage is checked when the CA bundle is loaded;
//! - no certificate of the path has an authorityInfoAccess / subjectInfoAccess extension whose
//!   value is not the DER of its syntax (4.2.2.1, 4.2.2.2);
//! - a server's end-entity certificate (verified for serverAuth) with a non-empty subject does
//!   not mark its subjectAltName critical (CA/Browser Forum Baseline Requirements 7.1.2.7.12,
//!   the TLS server certificate profile; [`check_server_leaf`]);
//! - the trust anchor's own checks are in [`anchor_profile`](super::anchor_profile), computed
//!   once per trust domain;
//! - under the strict profile, the rules of [`strict`] too, in the same cache.

use std::sync::Arc;

use mtls_policy::{CertificateProfile, VerifyError};
use rustls::{CertificateError, OtherError};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{ParsedExtension, X509Extension};
use x509_parser::prelude::FromDer as _;

use super::Link;
use super::failure::{Failure, anchored};
use super::strict::{self, Role};
use crate::der;
use crate::trust::{AnchorFacts, LoadedTrustDomain};

/// A certificate of a verified path breaks an RFC 5280 rule the gateway enforces (the message
/// says which); carried to rustls as `CertificateError::Other` (alert `certificate_unknown`).
#[derive(Debug)]
pub(super) struct ProfileViolation(pub(super) String);

impl std::fmt::Display for ProfileViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProfileViolation {}

/// The RFC 5280 profile checks of the module documentation, over the leaf, the intermediates
/// and (resolved at load) the anchor of a verified path.
pub(super) fn check_profile(
    domain: &LoadedTrustDomain,
    leaf_der: &[u8],
    links: &[Link<'_>],
    anchor: &AnchorFacts,
) -> Result<(), String> {
    let strict = domain.options.profile == CertificateProfile::Strict;
    if !domain.profile_passed.contains(true, leaf_der) {
        check_leaf_profile(leaf_der, strict)?;
        domain.profile_passed.insert(true, leaf_der);
    }
    for (k, link) in links.iter().enumerate() {
        if !domain.profile_passed.contains(false, link.der) {
            check_intermediate_profile(link.der, k, strict)?;
            domain.profile_passed.insert(false, link.der);
        }
    }
    match &anchor.fault {
        Some(fault) => Err(fault.clone()),
        None => Ok(()),
    }
}

/// A profile violation as the failure of a path that reached an anchor of the domain.
pub(super) fn violation(message: String) -> Failure {
    anchored(
        VerifyError::Other(message.clone()),
        CertificateError::Other(OtherError(Arc::new(ProfileViolation(message)))),
    )
}

/// The profile check of a server's end-entity certificate beyond those of every leaf: with a
/// non-empty subject, its subjectAltName is not critical (CABF BR 7.1.2.7.12; RFC 5280 4.2.1.6
/// SHOULDs it); under the strict `profile`, [`strict::check_server_leaf`] too.
pub(super) fn check_server_leaf(
    leaf_der: &[u8],
    profile: CertificateProfile,
) -> Result<(), String> {
    let leaf = parse(leaf_der, "the end-entity certificate")?;
    if profile == CertificateProfile::Strict {
        let what = || {
            format!(
                "the server's end-entity certificate (subject \"{}\")",
                leaf.subject()
            )
        };
        strict::check_server_leaf(&leaf, &what)?;
    }
    if leaf.subject().iter().next().is_none() {
        return Ok(());
    }
    let critical_san = leaf
        .extensions()
        .iter()
        .any(|e| e.oid.as_bytes() == SUBJECT_ALT_NAME && e.critical);
    if critical_san {
        return Err(format!(
            "the server's end-entity certificate (subject \"{}\") has a non-empty subject and a \
             critical subjectAltName, which MUST NOT then be critical (CA/Browser Forum Baseline \
             Requirements 7.1.2.7.12)",
            leaf.subject()
        ));
    }
    Ok(())
}

/// The profile checks of the end-entity certificate (`strict`: and those of the strict
/// profile).
fn check_leaf_profile(leaf_der: &[u8], strict: bool) -> Result<(), String> {
    let leaf = parse(leaf_der, "the end-entity certificate")?;
    let what = || {
        format!(
            "the end-entity certificate (subject \"{}\")",
            leaf.subject()
        )
    };
    if leaf.subject().iter().next().is_none() {
        let san = leaf
            .extensions()
            .iter()
            .find(|e| e.oid.as_bytes() == SUBJECT_ALT_NAME);
        if !san.is_some_and(|e| e.critical) {
            return Err(format!(
                "{} has an empty subject without a critical subjectAltName; its names MUST then \
                 be in a subjectAltName marked critical (RFC 5280 4.1.2.6, 4.2.1.6)",
                what()
            ));
        }
    }
    for ext in leaf.extensions() {
        if ext.oid.as_bytes() == NAME_CONSTRAINTS {
            return Err(format!(
                "{} has a nameConstraints extension, which only a CA certificate may carry \
                 (RFC 5280 4.2.1.10)",
                what()
            ));
        }
        if let ParsedExtension::KeyUsage(ku) = ext.parsed_extension()
            && ku.key_cert_sign()
            && !leaf.is_ca()
        {
            return Err(format!(
                "{} asserts keyCertSign in its keyUsage without basicConstraints cA=TRUE \
                     (RFC 5280 4.2.1.3, 4.2.1.9)",
                what()
            ));
        }
    }
    check_common(&leaf, &what)?;
    if strict {
        strict::check_certificate(&leaf, Role::EndEntity, &what)?;
    }
    Ok(())
}

/// The profile checks of the `k`-th intermediate (0-based) of a path (`strict`: and those of
/// the strict profile).
fn check_intermediate_profile(der: &[u8], k: usize, strict: bool) -> Result<(), String> {
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
    for ext in cert.extensions() {
        if ext.oid.as_bytes() != KEY_USAGE {
            continue;
        }
        match ext.parsed_extension() {
            ParsedExtension::KeyUsage(ku) if ku.key_cert_sign() => {}
            ParsedExtension::KeyUsage(_) => {
                return Err(format!(
                    "{} has a keyUsage without keyCertSign, so it may not sign certificates \
                     (RFC 5280 4.2.1.3, 6.1.4 (n))",
                    what()
                ));
            }
            _ => {
                return Err(format!(
                    "{} has a malformed keyUsage extension (RFC 5280 4.2.1.3)",
                    what()
                ));
            }
        }
    }
    check_common(&cert, &what)?;
    if strict {
        strict::check_certificate(&cert, Role::Intermediate, &what)?;
    }
    Ok(())
}

/// The checks made on every certificate of the path: nameConstraints not empty, AIA / SIA
/// well-formed.
pub(super) fn check_common(
    cert: &X509Certificate<'_>,
    what: &dyn Fn() -> String,
) -> Result<(), String> {
    for ext in cert.extensions() {
        if let Some(problem) = name_constraints_problem(ext) {
            return Err(format!("{} {problem}", what()));
        }
        if matches!(
            ext.oid.as_bytes(),
            AUTHORITY_INFO_ACCESS | SUBJECT_INFO_ACCESS
        ) && let ParsedExtension::ParseError { .. } = ext.parsed_extension()
        {
            return Err(format!(
                "{} has a malformed {} extension (RFC 5280 4.2.2: not the DER of its syntax)",
                what(),
                extension_name(ext.oid.as_bytes()).unwrap_or("access information")
            ));
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

pub(super) fn parse<'a>(der: &'a [u8], label: &str) -> Result<X509Certificate<'a>, String> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok((rest, _)) => Err(format!(
            "{label} is malformed: {} bytes after the certificate",
            rest.len()
        )),
        Err(e) => Err(format!("{label} is malformed: {e}")),
    }
}

/// id-ce-keyUsage (2.5.29.15), DER contents.
const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
/// id-ce-subjectAltName (2.5.29.17), DER contents.
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
/// id-ce-nameConstraints (2.5.29.30), DER contents.
const NAME_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x1e];
/// id-pe-authorityInfoAccess (1.3.6.1.5.5.7.1.1).
const AUTHORITY_INFO_ACCESS: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01];
/// id-pe-subjectInfoAccess (1.3.6.1.5.5.7.1.11).
const SUBJECT_INFO_ACCESS: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x0b];
pub(super) fn extension_name(oid: &[u8]) -> Option<&'static str> {
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
