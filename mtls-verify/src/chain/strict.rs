//! The strict certificate profile (`profile: strict`, [`CertificateProfile::Strict`]): the
//! rules RFC 5280 sets for *issuing* CAs, which mainstream relying parties do not enforce, and
//! for server certificates the CA/Browser Forum Baseline Requirements. Each fails the path
//! closed with a message naming the certificate, the rule and the profile.
//!
//! On the certificates of the verified path (the trust anchor's checked once at load; leaves'
//! and intermediates' once per certificate, beside the [`profile`](super::profile) checks and
//! in the same cache):
//! - every CA certificate, trust anchor included, has a subjectKeyIdentifier (4.2.1.2) and
//!   marks its basicConstraints critical (4.2.1.9);
//! - every certificate, trust anchor included, has its dNSName subjectAltNames (4.2.1.6) and
//!   dNSName constraints (4.2.1.10) in the preferred name syntax: labels of letters, digits
//!   and hyphens, no empty label (so no leading or trailing period), a leftmost `*` label
//!   allowed in an end entity's names only;
//! - every certificate the path's CAs issued (leaf and intermediates) that is not
//!   self-issued has an authorityKeyIdentifier with a keyIdentifier (4.2.1.1), and a positive
//!   serial number of at most 20 octets (4.1.2.2);
//! - every intermediate CA marks its nameConstraints critical (4.2.1.10).
//!
//! The trust anchor's certificate is the relying party's configuration (RFC 5280 6.1.1 (d)),
//! issued outside the path: how it was issued (its authorityKeyIdentifier, its serial number)
//! is not held against it. Deployed roots break those rules (Starfield Root Certificate
//! Authority - G2 has serial number 0), and x509-limbo expects a cross-signed anchor without
//! authorityKeyIdentifier (`cve::cve-2024-0567`) and a root with non-critical nameConstraints
//! (`webpki::nc::permitted-dns-match-noncritical`) to be accepted.
//!
//! For the server purpose (serverAuth: `verify_server`, `check --purpose server`) also:
//! - the end entity's extendedKeyUsage, when present, is not critical and does not assert
//!   anyExtendedKeyUsage (BR 7.1.2.7.6, 7.1.2.7.10; [`check_server_leaf`]). A leaf without
//!   one stays valid for any purpose (RFC 5280 4.2.1.12, as limbo's
//!   `rfc5280::eku::ee-without-eku` expects);
//! - the trust anchor has no extendedKeyUsage (BR 7.1.2.1.2);
//! - every RSA modulus of the path has a size in bits divisible by 8 (BR 6.1.5).
//!
//! CRLs without a cRLNumber are refused at load under the strict profile (RFC 5280 5.2.3,
//! [`RevocationIndex::require_crl_numbers`](crate::RevocationIndex)).
//!
//! [`CertificateProfile::Strict`]: mtls_policy::CertificateProfile::Strict

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};

use super::Link;
use crate::der;
use crate::trust::AnchorFacts;

/// Which certificate of a path a rule is checked on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    EndEntity,
    Intermediate,
    Anchor,
}

/// The RFC 5280 issuing-CA rules of the module documentation, over one certificate of a path
/// (`what`: how messages name it).
pub(super) fn check_certificate(
    cert: &X509Certificate<'_>,
    role: Role,
    what: &dyn Fn() -> String,
) -> Result<(), String> {
    let is_ca = role != Role::EndEntity;
    let issued_in_path = role != Role::Anchor;
    if issued_in_path && let Some(problem) = serial_problem(cert.raw_serial()) {
        return Err(format!(
            "{} {problem} (RFC 5280 4.1.2.2, profile strict)",
            what()
        ));
    }
    let mut key_identifier = false;
    let mut subject_key_identifier = false;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                key_identifier = aki.key_identifier.is_some();
            }
            ParsedExtension::SubjectKeyIdentifier(_) => subject_key_identifier = true,
            ParsedExtension::BasicConstraints(bc) if bc.ca && !ext.critical => {
                return Err(format!(
                    "{} has a basicConstraints extension that is not critical; a CA MUST mark \
                     it critical (RFC 5280 4.2.1.9, profile strict)",
                    what()
                ));
            }
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    if let GeneralName::DNSName(name) = name
                        && let Some(problem) = dns_name_problem(name, role == Role::EndEntity)
                    {
                        return Err(format!(
                            "{} has a dNSName subjectAltName \"{}\" not in the preferred name \
                             syntax: {problem} (RFC 5280 4.2.1.6, profile strict)",
                            what(),
                            name.escape_debug()
                        ));
                    }
                }
            }
            ParsedExtension::NameConstraints(nc) => {
                if role == Role::Intermediate && !ext.critical {
                    return Err(format!(
                        "{} has a nameConstraints extension that is not critical; a CA MUST \
                         mark it critical (RFC 5280 4.2.1.10, profile strict)",
                        what()
                    ));
                }
                let subtrees = nc.permitted_subtrees.iter().chain(&nc.excluded_subtrees);
                for subtree in subtrees.flatten() {
                    if let GeneralName::DNSName(name) = subtree.base
                        && let Some(problem) = dns_name_problem(name, false)
                    {
                        return Err(format!(
                            "{} has a dNSName name constraint \"{}\" not in the preferred name \
                             syntax: {problem} (RFC 5280 4.2.1.10, profile strict)",
                            what(),
                            name.escape_debug()
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    if issued_in_path && !key_identifier && cert.subject().as_raw() != cert.issuer().as_raw() {
        return Err(format!(
            "{} has no authorityKeyIdentifier with a keyIdentifier, which every certificate \
             but a self-issued one MUST carry (RFC 5280 4.2.1.1, profile strict)",
            what()
        ));
    }
    if is_ca && !subject_key_identifier {
        return Err(format!(
            "{} has no subjectKeyIdentifier, which every CA certificate MUST carry (RFC 5280 \
             4.2.1.2, profile strict)",
            what()
        ));
    }
    Ok(())
}

/// The server-purpose rules on the trust anchor's certificate: no extendedKeyUsage (BR
/// 7.1.2.1.2), an RSA modulus whose size is a multiple of 8 bits (BR 6.1.5). Computed at load.
pub(super) fn anchor_server_problem(
    cert: &X509Certificate<'_>,
    what: &dyn Fn() -> String,
) -> Option<String> {
    if cert
        .extensions()
        .iter()
        .any(|e| e.oid.as_bytes() == EXT_KEY_USAGE)
    {
        return Some(format!(
            "{} has an extendedKeyUsage extension, which a root CA certificate MUST NOT carry \
             (CA/Browser Forum Baseline Requirements 7.1.2.1.2, profile strict, server \
             certificates)",
            what()
        ));
    }
    rsa_problem(cert.public_key().raw, what)
}

/// The server-purpose rules on the end-entity certificate: its extendedKeyUsage, when
/// present, is not critical and does not assert anyExtendedKeyUsage (BR 7.1.2.7.6,
/// 7.1.2.7.10).
pub(super) fn check_server_leaf(
    leaf: &X509Certificate<'_>,
    what: &dyn Fn() -> String,
) -> Result<(), String> {
    let Some(ext) = leaf
        .extensions()
        .iter()
        .find(|e| e.oid.as_bytes() == EXT_KEY_USAGE)
    else {
        return Ok(());
    };
    if ext.critical {
        return Err(format!(
            "{} has a critical extendedKeyUsage extension, which a server certificate MUST NOT \
             mark critical (CA/Browser Forum Baseline Requirements 7.1.2.7.6, profile strict)",
            what()
        ));
    }
    if let ParsedExtension::ExtendedKeyUsage(eku) = ext.parsed_extension()
        && eku.any
    {
        return Err(format!(
            "{} asserts anyExtendedKeyUsage, which a server certificate MUST NOT (CA/Browser \
             Forum Baseline Requirements 7.1.2.7.10, profile strict)",
            what()
        ));
    }
    Ok(())
}

/// The server-purpose rules over a path: every RSA modulus (leaf and intermediates read from
/// their SPKI, no parse) a multiple of 8 bits, and the anchor's server fault from load.
pub(super) fn check_server_path(
    leaf: &Link<'_>,
    links: &[Link<'_>],
    anchor: &AnchorFacts,
) -> Result<(), String> {
    let leaf_what = || "the end-entity certificate".to_owned();
    if let Some(problem) = rsa_problem(leaf.spki, &leaf_what) {
        return Err(problem);
    }
    for (k, link) in links.iter().enumerate() {
        let what = || format!("intermediate CA certificate {}", k + 1);
        if let Some(problem) = rsa_problem(link.spki, &what) {
            return Err(problem);
        }
    }
    match &anchor.server_fault {
        Some(fault) => Err(fault.clone()),
        None => Ok(()),
    }
}

/// id-ce-extKeyUsage (2.5.29.37), DER contents.
const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
/// rsaEncryption (1.2.840.113549.1.1.1), DER contents.
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// Why the RSA key of the full SPKI `spki` breaks BR 6.1.5 (`None`: it does not, or it is not
/// an RSA key).
fn rsa_problem(spki: &[u8], what: &dyn Fn() -> String) -> Option<String> {
    let (algorithm, key) = der::spki(spki)?;
    let (oid, _) = der::read(algorithm)?;
    if oid.contents != RSA_ENCRYPTION {
        return None;
    }
    let (public_key, _) = der::read(key)?;
    let (modulus, _) = der::read(public_key.contents)?;
    let digits = modulus.contents;
    let start = digits.iter().position(|&b| b != 0)?;
    let top = digits[start];
    let bits = (digits.len() - start) * 8 - top.leading_zeros() as usize;
    (!bits.is_multiple_of(8)).then(|| {
        format!(
            "{} has an RSA modulus of {bits} bits, not a multiple of 8 (CA/Browser Forum \
             Baseline Requirements 6.1.5, profile strict, server certificates)",
            what()
        )
    })
}

/// What is wrong with a serialNumber's INTEGER contents under RFC 5280 4.1.2.2.
fn serial_problem(serial: &[u8]) -> Option<String> {
    match serial {
        [] => Some("has an empty serial number".into()),
        [first, ..] if first & 0x80 != 0 => {
            Some("has a negative serial number; it MUST be a positive integer".into())
        }
        _ if serial.iter().all(|&b| b == 0) => {
            Some("has a serial number of zero; it MUST be a positive integer".into())
        }
        // A leading zero octet only keeps a 20-octet value positive.
        [0, rest @ ..] if rest.len() <= 20 => None,
        _ if serial.len() <= 20 => None,
        _ => Some(format!(
            "has a serial number of {} octets; it MUST NOT be longer than 20 octets",
            serial.len()
        )),
    }
}

/// What breaks the preferred name syntax (RFC 1034 3.5 as RFC 1123 2.1 relaxes it, which RFC
/// 5280 4.2.1.6 requires of dNSNames) in `name`; `wildcard`: a leftmost `*` label is allowed.
fn dns_name_problem(name: &str, wildcard: bool) -> Option<&'static str> {
    if name.starts_with('.') {
        return Some("it starts with a period");
    }
    let mut labels = name.split('.').peekable();
    if wildcard && labels.peek() == Some(&"*") && name.len() > 1 {
        labels.next();
    }
    for label in labels {
        if label.is_empty() {
            return Some("it has an empty label");
        }
        if label.contains('_') {
            return Some("a label has an underscore");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Some("a label has a character other than a letter, digit or hyphen");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_numbers() {
        assert!(serial_problem(&[1]).is_none());
        assert!(serial_problem(&[0, 0x80]).is_none());
        assert!(serial_problem(&[0x7f; 20]).is_none());
        let twenty_high = [&[0][..], &[0xff; 20]].concat();
        assert!(serial_problem(&twenty_high).is_none());
        assert!(serial_problem(&[0]).unwrap().contains("zero"));
        assert!(serial_problem(&[0xff]).unwrap().contains("negative"));
        assert!(serial_problem(&[0x01; 21]).unwrap().contains("21 octets"));
    }

    fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let len = u16::try_from(contents.len()).unwrap();
        let mut out = vec![tag];
        match u8::try_from(len) {
            Ok(short) if short < 0x80 => out.push(short),
            Ok(one) => out.extend([0x81, one]),
            Err(_) => {
                out.push(0x82);
                out.extend(len.to_be_bytes());
            }
        }
        out.extend_from_slice(contents);
        out
    }

    /// An RSA SPKI whose modulus is `bits` bits long (not a real key: only its size is read).
    fn rsa_spki(bits: usize) -> Vec<u8> {
        let mut modulus = vec![0xff; bits.div_ceil(8)];
        modulus[0] = 0xff >> ((8 - bits % 8) % 8);
        modulus.insert(0, 0);
        let key = tlv(0x30, &[tlv(0x02, &modulus), tlv(0x02, &[1, 0, 1])].concat());
        let algorithm = tlv(
            0x30,
            &[tlv(0x06, RSA_ENCRYPTION), vec![0x05, 0x00]].concat(),
        );
        let bit_string = tlv(0x03, &[&[0][..], &key].concat());
        tlv(0x30, &[algorithm, bit_string].concat())
    }

    #[test]
    fn rsa_moduli_are_a_multiple_of_8_bits() {
        let what = || "the key".to_owned();
        assert_eq!(rsa_problem(&rsa_spki(2048), &what), None);
        assert_eq!(rsa_problem(&rsa_spki(3072), &what), None);
        let problem = rsa_problem(&rsa_spki(2047), &what).unwrap();
        assert!(
            problem.contains("2047 bits, not a multiple of 8"),
            "{problem}"
        );
        assert!(rsa_problem(&rsa_spki(2052), &what).is_some());
    }

    #[test]
    fn preferred_name_syntax() {
        assert_eq!(dns_name_problem("a-1.example.com", false), None);
        assert_eq!(dns_name_problem("*.example.com", true), None);
        assert!(dns_name_problem("*.example.com", false).is_some());
        assert!(dns_name_problem("a_b.example.com", true).is_some());
        assert!(dns_name_problem(".example.com", false).is_some());
        assert!(dns_name_problem("example.com.", false).is_some());
        assert!(dns_name_problem("a*.example.com", true).is_some());
    }
}
