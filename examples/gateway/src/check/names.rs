//! `check --name`: the names a leaf must be valid for, and the check.

use mtls_core::PeerIdentity;
use rustls_pki_types::{CertificateDer, ServerName};

pub(super) enum Name {
    Dns(String),
    Ip(std::net::IpAddr),
    Email(String),
}

impl Name {
    pub(super) fn server_name(&self) -> Option<ServerName<'static>> {
        match self {
            Self::Dns(n) => ServerName::try_from(n.clone()).ok(),
            Self::Ip(ip) => Some(ServerName::IpAddress((*ip).into())),
            Self::Email(_) => None,
        }
    }
}

/// The GeneralName forms (RFC 5280 4.2.1.6) a `--name` may be given in that `check` does not
/// match a leaf against: such a name makes the case unsupported (exit 77), not a usage error.
const UNSUPPORTED_FORMS: &[&str] = &["uri", "dirname", "othername", "rid"];

/// Why `text` is a name of a form `check` cannot check, if it is one.
pub(super) fn unsupported_name(text: &str) -> Option<String> {
    let (kind, _) = text.split_once(':')?;
    UNSUPPORTED_FORMS
        .contains(&kind.to_ascii_lowercase().as_str())
        .then(|| format!("--name {text:?}: a {kind}: name is not checked (dns, ip and email are)"))
}

pub(super) fn parse_name(text: &str) -> Result<Name, String> {
    let bad = || format!("--name {text:?}: expected dns:NAME, ip:ADDR or email:ADDR");
    let (kind, value) = text.split_once(':').ok_or_else(bad)?;
    match kind {
        "dns" => ServerName::try_from(value.to_string())
            .map(|_| Name::Dns(value.to_string()))
            .map_err(|_| format!("--name {text:?}: not a DNS name")),
        "ip" => value
            .parse()
            .map(Name::Ip)
            .map_err(|_| format!("--name {text:?}: not an IP address")),
        "email" if value.contains('@') => Ok(Name::Email(value.to_string())),
        _ => Err(bad()),
    }
}

/// Every name must be one the leaf is valid for: DNS and IP as webpki checks server names,
/// email against the rfc822Name SANs (case-insensitive domain part).
pub(super) fn name_problem(leaf: &CertificateDer<'_>, names: &[Name]) -> Option<String> {
    let cert = webpki::EndEntityCert::try_from(leaf).ok()?;
    for name in names {
        match name {
            Name::Dns(_) | Name::Ip(_) => {
                let server_name = name.server_name()?;
                if cert.verify_is_valid_for_subject_name(&server_name).is_err() {
                    return Some(format!("certificate is not valid for {}", describe(name)));
                }
            }
            Name::Email(wanted) => {
                let ok = PeerIdentity::from_der(leaf)
                    .map(|id| id.emails().iter().any(|e| email_eq(e, wanted)))
                    .unwrap_or(false);
                if !ok {
                    return Some(format!("certificate is not valid for {}", describe(name)));
                }
            }
        }
    }
    None
}

fn email_eq(a: &str, b: &str) -> bool {
    match (a.rsplit_once('@'), b.rsplit_once('@')) {
        (Some((la, da)), Some((lb, db))) => la == lb && da.eq_ignore_ascii_case(db),
        _ => false,
    }
}

fn describe(name: &Name) -> String {
    match name {
        Name::Dns(n) => format!("dns:{n}"),
        Name::Ip(ip) => format!("ip:{ip}"),
        Name::Email(e) => format!("email:{e}"),
    }
}
