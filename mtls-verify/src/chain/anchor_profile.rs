//! The checks of a trust anchor's own certificate, computed once per trust domain
//! ([`anchor_faults`]) beside those every CA of a path gets ([`profile`](super::profile)):
//! - the trust anchor's bundle certificate has no critical extension other than those
//!   rustls-webpki processes in a CA certificate (keyUsage, subjectAltName, basicConstraints,
//!   nameConstraints, cRLDistributionPoints, extKeyUsage, SCT list): a critical extension a
//!   verifier does not process MUST make it reject the certificate (4.2). rustls-webpki
//!   already applies that rule to intermediates and leaves, but never reads an anchor's
//!   extensions;
//! - a self-issued trust anchor with an authorityKeyIdentifier identifies its own key there:
//!   the keyIdentifier is present (4.2.1.1: it MUST be; a self-signed certificate may omit the
//!   whole extension instead) and equal to its subjectKeyIdentifier, and neither
//!   authorityCertIssuer nor authorityCertSerialNumber is present (CA/Browser Forum Baseline
//!   Requirements 7.1.2.1.3, the root CA profile);
//! - under the strict profile, the rules of [`strict`] for CA certificates, and
//!   apart those for the server purpose ([`AnchorFaults::server`]).

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;

use mtls_policy::CertificateProfile;

use super::profile::{check_common, extension_name, parse};
use super::strict::{self, Role};
use crate::der;

/// The signed certificate timestamp list (1.3.6.1.4.1.11129.2.4.2), which webpki also reads.
const SCT_LIST: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02];

/// The id-ce extensions rustls-webpki processes in a CA certificate (so may be critical there):
/// keyUsage, subjectAltName, basicConstraints, nameConstraints, cRLDistributionPoints,
/// extKeyUsage.
fn processed_by_webpki(oid: &[u8]) -> bool {
    matches!(oid, [0x55, 0x1d, 15 | 17 | 19 | 30 | 31 | 37]) || oid == SCT_LIST
}

/// Why a CA certificate of a bundle may not serve as a trust anchor ([`anchor_faults`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AnchorFaults {
    /// For any purpose (`None`: it may).
    pub(crate) any: Option<String>,
    /// For the server purpose, beyond `any` (the strict profile's CA/Browser Forum rules).
    pub(crate) server: Option<String>,
}

/// Why the CA certificate `der` of a bundle may not serve as a trust anchor under the checks
/// of the module documentation and `profile`. Computed once per trust domain.
pub(crate) fn anchor_faults(der: &[u8], profile: CertificateProfile) -> AnchorFaults {
    let cert = match parse(der, "the trust anchor's certificate") {
        Ok(cert) => cert,
        Err(e) => {
            return AnchorFaults {
                any: Some(e),
                server: None,
            };
        }
    };
    let what = || format!("the trust anchor (subject \"{}\")", cert.subject());
    let mut faults = AnchorFaults {
        any: anchor_fault(&cert, &what),
        server: None,
    };
    if profile == CertificateProfile::Strict {
        if faults.any.is_none() {
            faults.any = strict::check_certificate(&cert, Role::Anchor, &what).err();
        }
        faults.server = strict::anchor_server_problem(&cert, &what);
    }
    faults
}

/// The checks of the module documentation but the strict profile's.
fn anchor_fault(cert: &X509Certificate<'_>, what: &dyn Fn() -> String) -> Option<String> {
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
    if let Some(problem) = self_issued_aki_problem(cert) {
        return Some(format!("{} {problem}", what()));
    }
    check_common(cert, what).err()
}

/// Whether `value` is an AuthorityKeyIdentifier SEQUENCE of keyIdentifier `[0]`,
/// authorityCertIssuer `[1]` and authorityCertSerialNumber `[2]`, each optional, in that order and
/// nothing else (read from the DER: x509-parser skips what it does not know).
fn aki_well_formed(value: &[u8]) -> bool {
    let Some((seq, [])) = der::read(value) else {
        return false;
    };
    if seq.tag != der::SEQUENCE {
        return false;
    }
    let mut fields = seq.contents;
    let mut allowed: &[u8] = &[0x80, 0xa1, 0x82];
    while !fields.is_empty() {
        let Some((field, rest)) = der::read(fields) else {
            return false;
        };
        let Some(at) = allowed.iter().position(|&tag| tag == field.tag) else {
            return false;
        };
        allowed = &allowed[at + 1..];
        fields = rest;
    }
    true
}

/// What is wrong with the authorityKeyIdentifier of `cert` when it is self-issued (its issuer
/// is itself, so the extension can only identify its own key).
fn self_issued_aki_problem(cert: &X509Certificate<'_>) -> Option<String> {
    if cert.subject().as_raw() != cert.issuer().as_raw() {
        return None;
    }
    let mut aki = None;
    let mut ski = None;
    for ext in cert.extensions() {
        match (ext.oid.as_bytes(), ext.parsed_extension()) {
            (_, ParsedExtension::AuthorityKeyIdentifier(a)) if aki_well_formed(ext.value) => {
                aki = Some(a);
            }
            (_, ParsedExtension::SubjectKeyIdentifier(k)) => ski = Some(k.0),
            ([0x55, 0x1d, 35], _) => {
                return Some(
                    "has a malformed authorityKeyIdentifier extension (RFC 5280 4.2.1.1)".into(),
                );
            }
            _ => {}
        }
    }
    let aki = aki?;
    let Some(key_id) = &aki.key_identifier else {
        return Some(
            "has an authorityKeyIdentifier without keyIdentifier; the keyIdentifier MUST be \
             present (RFC 5280 4.2.1.1; a self-signed certificate may omit the whole extension)"
                .into(),
        );
    };
    if ski.is_some_and(|ski| ski != key_id.0) {
        return Some(
            "is self-issued but the keyIdentifier of its authorityKeyIdentifier differs from \
             its subjectKeyIdentifier: it MUST identify the certificate's own key (RFC 5280 \
             4.2.1.1, CA/Browser Forum Baseline Requirements 7.1.2.1.3)"
                .into(),
        );
    }
    if aki.authority_cert_issuer.is_some() || aki.authority_cert_serial.is_some() {
        return Some(
            "is a root CA certificate whose authorityKeyIdentifier has an authorityCertIssuer \
             or authorityCertSerialNumber, which MUST NOT be present (CA/Browser Forum Baseline \
             Requirements 7.1.2.1.3)"
                .into(),
        );
    }
    None
}
