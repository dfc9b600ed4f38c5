//! Name constraints (RFC 5280 4.2.1.10, 6.1.3 (b)-(c), 6.1.4 (g)) of every name form a
//! certificate of a mutual-TLS peer carries:
//! - directoryName: the subject DN (and directoryName SANs) within a subtree, RDNs compared per
//!   RFC 5280 7.1 ([`Name`]);
//! - rfc822Name: a mailbox (`user@host`, host case-insensitive), every mailbox of a host
//!   (`host`), or of the hosts below a domain (`.domain`); applied to rfc822Name SANs, and to the
//!   emailAddress attributes of the subject DN of a certificate without subjectAltName;
//! - uniformResourceIdentifier: the URI's host equals the constraint, or (`.domain`) is below
//!   it; a URI without a host is never within a subtree. `spiffe://example.org/...` is within
//!   `example.org`: a CA constrained to its SPIFFE trust domain;
//! - dNSName: the name or a name with labels added on its left (`.domain`: only below it);
//! - iPAddress: the address within the network of the constraint (same family).
//!
//! Each certificate's constraints stay a set of their own: a name must be within the permitted
//! subtrees of its form of *every* set that has some (the intersection of 6.1.4 (g)) and in
//! no excluded subtree of any. A name of a form no set constrains is unconstrained; a name of a
//! form this module cannot compare (otherName, x400Address, ediPartyName, registeredID) that
//! meets a constraint of its form is refused.

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, GeneralSubtree, NameConstraints, ParsedExtension};
use x509_parser::prelude::FromDer as _;

use super::name_forms::{
    dns_name, dns_within, email_within, host_within, ip_within, mailbox, uri_host,
};
use super::names::Name;

/// emailAddress (1.2.840.113549.1.9.1), OID contents.
const EMAIL_ADDRESS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];

/// One name of a certificate, or one subtree's base.
#[derive(Debug)]
enum General {
    Dns(String),
    Email(String),
    Uri(String),
    Ip(Vec<u8>),
    Dn(Name),
    /// A form not compared, by its GeneralName tag number.
    Other(u32),
}

impl General {
    fn form(&self) -> u32 {
        match self {
            Self::Email(_) => 1,
            Self::Dns(_) => 2,
            Self::Dn(_) => 4,
            Self::Uri(_) => 6,
            Self::Ip(_) => 7,
            Self::Other(tag) => *tag,
        }
    }

    fn from(name: &GeneralName<'_>) -> Result<Self, String> {
        Ok(match name {
            GeneralName::DNSName(s) => Self::Dns(s.to_ascii_lowercase()),
            GeneralName::RFC822Name(s) => Self::Email((*s).to_owned()),
            GeneralName::URI(s) => Self::Uri((*s).to_owned()),
            GeneralName::IPAddress(b) => Self::Ip(b.to_vec()),
            GeneralName::DirectoryName(n) => Self::Dn(Name::of(n)),
            GeneralName::OtherName(..) => Self::Other(0),
            GeneralName::X400Address(_) => Self::Other(3),
            GeneralName::EDIPartyName(_) => Self::Other(5),
            GeneralName::RegisteredID(_) => Self::Other(8),
            GeneralName::Invalid(tag, _) => {
                return Err(format!("a malformed name (GeneralName tag {})", tag.0));
            }
        })
    }

    /// Whether `self`, a certificate's name, can be compared with subtrees of its form: an
    /// rfc822Name must be a mailbox, a URI must have a host, a dNSName must be a host name
    /// (a leading `*.` label allowed), an iPAddress 4 or 16 bytes. A name that cannot be is within
    /// no subtree, and refused under any excluded subtree of its form.
    fn comparable(&self) -> bool {
        match self {
            Self::Email(s) => mailbox(s).is_some(),
            Self::Uri(s) => uri_host(s).is_some(),
            Self::Dns(s) => dns_name(s),
            Self::Ip(b) => b.len() == 4 || b.len() == 16,
            Self::Other(_) => false,
            _ => true,
        }
    }

    /// Whether `self`, a certificate's name, is within the subtree `base` (of the same form).
    fn within(&self, base: &Self) -> bool {
        match (self, base) {
            (Self::Dns(name), Self::Dns(base)) => dns_within(name, base),
            (Self::Email(name), Self::Email(base)) => email_within(name, base),
            (Self::Uri(name), Self::Uri(base)) => {
                uri_host(name).is_some_and(|host| host_within(host, base))
            }
            (Self::Ip(name), Self::Ip(base)) => ip_within(name, base),
            (Self::Dn(name), Self::Dn(base)) => name.within(base),
            _ => false,
        }
    }
}

impl std::fmt::Display for General {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dns(s) => write!(f, "dNSName \"{s}\""),
            Self::Email(s) => write!(f, "rfc822Name \"{s}\""),
            Self::Uri(s) => write!(f, "URI \"{s}\""),
            Self::Ip(b) => write!(f, "iPAddress {b:02x?}"),
            Self::Dn(_) => f.write_str("directoryName"),
            Self::Other(tag) => write!(f, "a name of GeneralName form [{tag}]"),
        }
    }
}

/// One certificate's nameConstraints.
#[derive(Debug)]
struct Subtrees {
    permitted: Vec<General>,
    excluded: Vec<General>,
}

/// The name constraints of the CAs above a certificate of the path.
#[derive(Debug, Default)]
pub(crate) struct Constraints {
    sets: Vec<Subtrees>,
}

impl Constraints {
    /// Adds the nameConstraints of `cert` (a CA of the path).
    pub(crate) fn add(&mut self, cert: &X509Certificate<'_>) -> Result<(), String> {
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::NameConstraints(nc) => self.add_parsed(nc)?,
                ParsedExtension::ParseError { error } if ext.oid.as_bytes() == [0x55, 0x1d, 30] => {
                    return Err(format!(
                        "has a malformed nameConstraints extension: {error}"
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Adds encoded nameConstraints (a trust anchor's).
    pub(crate) fn add_encoded(&mut self, der: &[u8]) -> Result<(), String> {
        let (_, nc) = NameConstraints::from_der(der)
            .map_err(|e| format!("has a malformed nameConstraints extension: {e}"))?;
        self.add_parsed(&nc)
    }

    fn add_parsed(&mut self, nc: &NameConstraints<'_>) -> Result<(), String> {
        let read = |trees: &Option<Vec<GeneralSubtree<'_>>>| -> Result<Vec<General>, String> {
            trees
                .iter()
                .flatten()
                .map(|t| match General::from(&t.base)? {
                    General::Ip(b) if b.len() != 8 && b.len() != 32 => Err(format!(
                        "has an iPAddress name constraint of {} bytes (RFC 5280 4.2.1.10: an \
                         address and a mask, 8 or 32)",
                        b.len()
                    )),
                    base => Ok(base),
                })
                .collect()
        };
        self.sets.push(Subtrees {
            permitted: read(&nc.permitted_subtrees)?,
            excluded: read(&nc.excluded_subtrees)?,
        });
        Ok(())
    }

    /// Whether the names of `cert` are within the constraints; the error names the first
    /// name that is not.
    pub(crate) fn check(&self, cert: &X509Certificate<'_>) -> Result<(), String> {
        if self.sets.is_empty() {
            return Ok(());
        }
        for name in names(cert)? {
            for set in &self.sets {
                let excluded = set
                    .excluded
                    .iter()
                    .find(|b| b.form() == name.form() && (!name.comparable() || name.within(b)));
                if let Some(base) = excluded {
                    return Err(format!(
                        "has the {name}, within a subtree a CA of the path excludes ({base}; \
                         RFC 5280 4.2.1.10)"
                    ));
                }
                let mut of_form = set
                    .permitted
                    .iter()
                    .filter(|b| b.form() == name.form())
                    .peekable();
                if of_form.peek().is_some() && !of_form.any(|b| name.within(b)) {
                    return Err(format!(
                        "has the {name}, outside the subtrees of its form a CA of the path \
                         permits (RFC 5280 4.2.1.10)"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Whether `cert` has a nameConstraints subtree of a form rustls-webpki does not process
/// (directoryName, rfc822Name, uniformResourceIdentifier).
pub(crate) fn has_form_webpki_refuses(cert: &X509Certificate<'_>) -> bool {
    cert.extensions()
        .iter()
        .any(|ext| match ext.parsed_extension() {
            ParsedExtension::NameConstraints(nc) => form_webpki_refuses(nc),
            _ => false,
        })
}

/// [`has_form_webpki_refuses`] for encoded nameConstraints (a trust anchor's).
pub(crate) fn encoded_has_form_webpki_refuses(der: &[u8]) -> bool {
    NameConstraints::from_der(der).is_ok_and(|(_, nc)| form_webpki_refuses(&nc))
}

fn form_webpki_refuses(nc: &NameConstraints<'_>) -> bool {
    [&nc.permitted_subtrees, &nc.excluded_subtrees]
        .into_iter()
        .flatten()
        .flatten()
        .any(|t| {
            matches!(
                t.base,
                GeneralName::DirectoryName(_) | GeneralName::RFC822Name(_) | GeneralName::URI(_)
            )
        })
}

/// The names of `cert` that name constraints apply to.
fn names(cert: &X509Certificate<'_>) -> Result<Vec<General>, String> {
    let mut names = Vec::new();
    let subject = Name::of(cert.subject());
    if !subject.is_empty() {
        names.push(General::Dn(subject));
    }
    let mut has_san = false;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                has_san = true;
                for n in &san.general_names {
                    names.push(General::from(n)?);
                }
            }
            ParsedExtension::ParseError { error } if ext.oid.as_bytes() == [0x55, 0x1d, 17] => {
                return Err(format!("has a malformed subjectAltName extension: {error}"));
            }
            _ => {}
        }
    }
    if !has_san {
        for atv in cert.subject().iter_attributes() {
            if atv.attr_type().as_bytes() == EMAIL_ADDRESS {
                let email = atv
                    .as_str()
                    .map_err(|_| "has an emailAddress attribute that is not text".to_owned())?;
                names.push(General::Email(email.to_owned()));
            }
        }
    }
    Ok(names)
}
