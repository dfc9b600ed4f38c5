//! Identity matchers: principals, SAN / subject rules, SPIFFE IDs and certificate pins.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;

use mtls_core::PeerIdentity;
use serde::{Deserialize, Serialize};

use crate::matcher::{Case, PatternError, StringMatch, StringSet};
use crate::{FastMap, FastSet};

/// A rule on one field of a peer's certificate.
///
/// In YAML: `- dns: { wildcard: "*.clients.example.com" }`, `- uri: { prefix: "spiffe://td/" }`,
/// `- spiffe: { trust_domain: cluster.local, path: { prefix: /ns/prod/ } }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "IdentityRuleRepr", into = "IdentityRuleRepr")]
#[non_exhaustive]
pub enum IdentityRule {
    /// Any DNS SAN (ASCII case-insensitive).
    Dns(StringMatch),
    /// Any URI SAN.
    Uri(StringMatch),
    /// Any IP SAN, in its canonical text form (`10.0.0.1`, `2001:db8::1`).
    Ip(StringMatch),
    /// Any email (rfc822Name) SAN.
    Email(StringMatch),
    /// The subject's common name.
    Cn(StringMatch),
    /// The whole subject, RFC 4514 (`CN=client,O=Example`).
    Subject(StringMatch),
    /// The SPIFFE ID of an X509-SVID.
    Spiffe(SpiffeMatch),
}

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityRuleRepr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dns: Option<StringMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    uri: Option<StringMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ip: Option<StringMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<StringMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cn: Option<StringMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subject: Option<StringMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spiffe: Option<SpiffeMatch>,
}

impl TryFrom<IdentityRuleRepr> for IdentityRule {
    type Error = String;
    fn try_from(r: IdentityRuleRepr) -> Result<Self, String> {
        crate::one_of::exactly_one(vec![
            ("dns", r.dns.map(Self::Dns)),
            ("uri", r.uri.map(Self::Uri)),
            ("ip", r.ip.map(Self::Ip)),
            ("email", r.email.map(Self::Email)),
            ("cn", r.cn.map(Self::Cn)),
            ("subject", r.subject.map(Self::Subject)),
            ("spiffe", r.spiffe.map(Self::Spiffe)),
        ])
    }
}

impl From<IdentityRule> for IdentityRuleRepr {
    fn from(r: IdentityRule) -> Self {
        match r {
            IdentityRule::Dns(m) => Self {
                dns: Some(m),
                ..Self::default()
            },
            IdentityRule::Uri(m) => Self {
                uri: Some(m),
                ..Self::default()
            },
            IdentityRule::Ip(m) => Self {
                ip: Some(m),
                ..Self::default()
            },
            IdentityRule::Email(m) => Self {
                email: Some(m),
                ..Self::default()
            },
            IdentityRule::Cn(m) => Self {
                cn: Some(m),
                ..Self::default()
            },
            IdentityRule::Subject(m) => Self {
                subject: Some(m),
                ..Self::default()
            },
            IdentityRule::Spiffe(m) => Self {
                spiffe: Some(m),
                ..Self::default()
            },
        }
    }
}

/// `dns exact "api.internal"`, `spiffe trust domain "cluster.local" path prefix "/ns/"`: the
/// rule as a reason or a log line quotes it.
impl fmt::Display for IdentityRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (field, m) = match self {
            Self::Dns(m) => ("dns", m),
            Self::Uri(m) => ("uri", m),
            Self::Ip(m) => ("ip", m),
            Self::Email(m) => ("email", m),
            Self::Cn(m) => ("cn", m),
            Self::Subject(m) => ("subject", m),
            Self::Spiffe(s) => {
                write!(f, "spiffe trust domain {:?}", s.trust_domain)?;
                return match &s.path {
                    Some(path) => write!(f, " path {path}"),
                    None => Ok(()),
                };
            }
        };
        write!(f, "{field} {m}")
    }
}

/// A SPIFFE trust domain, and optionally a pattern on the path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SpiffeMatch {
    /// The trust domain, e.g. `cluster.local`.
    pub trust_domain: String,
    /// A pattern on the path (`/ns/prod/sa/web`); any path when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<StringMatch>,
}

impl SpiffeMatch {
    /// A trust domain with an optional path pattern.
    pub fn new(trust_domain: impl Into<String>, path: Option<StringMatch>) -> Self {
        Self {
            trust_domain: trust_domain.into(),
            path,
        }
    }
}

/// A set of acceptable identities: exact principals plus rules. A peer matches if any
/// principal or any rule does.
///
/// A principal (osm `AuthenticatedPrincipal`, Istio `principals` without `*`) equals the SPIFFE
/// ID, a URI, DNS, email or IP SAN, or the common name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IdentityMatchSpec {
    /// Exact principals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    /// Rules by field.
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<IdentityRule>,
}

impl IdentityMatchSpec {
    /// Whether the spec names nothing (and so matches nothing).
    pub fn is_empty(&self) -> bool {
        self.principals.is_empty() && self.rules.is_empty()
    }
}

/// The principals (quoted) then the rules, comma-separated:
/// `"spiffe://td/ns/a/sa/b", dns wildcard "*.internal"`.
impl fmt::Display for IdentityMatchSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let principals = self.principals.iter().map(|p| format!("{p:?}"));
        let rules = self.rules.iter().map(ToString::to_string);
        let all: Vec<String> = principals.chain(rules).collect();
        f.write_str(&all.join(", "))
    }
}

#[derive(Clone, Debug, Default)]
struct SpiffePaths {
    any: bool,
    paths: StringSet,
}

/// An [`IdentityMatchSpec`] compiled for lookups whose cost does not grow with its size.
#[derive(Clone, Debug, Default)]
pub struct IdentityMatcher {
    len: usize,
    principals: FastSet<Box<str>>,
    principal_ips: FastSet<IpAddr>,
    dns: StringSet,
    uri: StringSet,
    ip: StringSet,
    email: StringSet,
    cn: StringSet,
    subject: StringSet,
    spiffe: FastMap<Box<str>, SpiffePaths>,
}

impl IdentityMatcher {
    /// Compiles a spec.
    pub fn new(spec: &IdentityMatchSpec) -> Result<Self, PatternError> {
        let mut by_field: [Vec<StringMatch>; 6] = Default::default();
        let mut spiffe: HashMap<Box<str>, (bool, Vec<StringMatch>)> = HashMap::new();
        for rule in &spec.rules {
            let (i, m) = match rule {
                IdentityRule::Dns(m) => (0, m.clone()),
                IdentityRule::Uri(m) => (1, m.clone()),
                IdentityRule::Ip(m) => (2, canonical_ip(m)),
                IdentityRule::Email(m) => (3, m.clone()),
                IdentityRule::Cn(m) => (4, m.clone()),
                IdentityRule::Subject(m) => (5, m.clone()),
                IdentityRule::Spiffe(s) => {
                    let e = spiffe.entry(s.trust_domain.as_str().into()).or_default();
                    match &s.path {
                        Some(p) => e.1.push(p.clone()),
                        None => e.0 = true,
                    }
                    continue;
                }
            };
            by_field[i].push(m);
        }
        let [dns, uri, ip, email, cn, subject] = by_field;
        let sensitive = |v: &[StringMatch]| StringSet::new(v, Case::Sensitive);
        let mut compiled_spiffe = FastMap::default();
        for (td, (any, paths)) in spiffe {
            compiled_spiffe.insert(
                td,
                SpiffePaths {
                    any,
                    paths: sensitive(&paths)?,
                },
            );
        }
        let mut principals = FastSet::default();
        let mut principal_ips = FastSet::default();
        for p in &spec.principals {
            match p.parse::<IpAddr>() {
                Ok(ip) => principal_ips.insert(ip),
                Err(_) => principals.insert(p.as_str().into()),
            };
        }
        Ok(Self {
            len: spec.principals.len() + spec.rules.len(),
            principals,
            principal_ips,
            dns: StringSet::new(&dns, Case::Insensitive)?,
            uri: sensitive(&uri)?,
            ip: sensitive(&ip)?,
            email: sensitive(&email)?,
            cn: sensitive(&cn)?,
            subject: sensitive(&subject)?,
            spiffe: compiled_spiffe,
        })
    }

    /// How many principals and rules were compiled.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was compiled (and so nothing matches).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the identity matches any principal or rule.
    pub fn matches(&self, id: &PeerIdentity) -> bool {
        if let Some(sid) = id.spiffe_id() {
            if self.principals.contains(sid.as_str()) {
                return true;
            }
            if let Some(td) = self.spiffe.get(sid.trust_domain())
                && (td.any || td.paths.is_match(sid.path()))
            {
                return true;
            }
        }
        let p = &self.principals;
        let any = |set: &StringSet, vals: &[String]| {
            vals.iter()
                .any(|v| p.contains(v.as_str()) || set.is_match(v))
        };
        if any(&self.uri, id.uris())
            || any(&self.dns, id.dns_names())
            || any(&self.email, id.emails())
        {
            return true;
        }
        if let Some(cn) = id.common_name()
            && (p.contains(cn) || self.cn.is_match(cn))
        {
            return true;
        }
        if self.subject.is_match(id.subject()) {
            return true;
        }
        id.ip_addresses().iter().any(|ip| {
            self.principal_ips.contains(ip)
                || (!self.ip.is_empty() && self.ip.is_match(&ip.to_string()))
        })
    }
}

/// Exact IP patterns are compared in canonical text form (`2001:db8::1`, not `2001:0db8:0::1`).
fn canonical_ip(m: &StringMatch) -> StringMatch {
    match m {
        StringMatch::Exact(s) => match s.parse::<IpAddr>() {
            Ok(ip) => StringMatch::Exact(ip.to_string()),
            Err(_) => m.clone(),
        },
        _ => m.clone(),
    }
}

/// A short human label of an identity for reasons and logs: the SPIFFE ID, else the first
/// URI, DNS or email SAN, else the subject.
pub fn identity_label(id: &PeerIdentity) -> String {
    if let Some(s) = id.spiffe_id() {
        return s.as_str().to_owned();
    }
    let first = id
        .uris()
        .first()
        .or(id.dns_names().first())
        .or(id.emails().first());
    match first {
        Some(s) => s.clone(),
        None => id.subject().to_owned(),
    }
}

/// A SHA-256 digest pinned in configuration: hex (colons and case ignored) for certificates,
/// standard base64 for SPKIs.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

fn parse_hex_pin(s: &str) -> Result<Sha256Digest, String> {
    let digits: Vec<u8> = s.bytes().filter(|&b| b != b':').collect();
    let bad = || {
        format!("invalid certificate SHA-256 pin {s:?}: expected 64 hex digits (colons allowed)")
    };
    if digits.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, pair) in digits.chunks(2).enumerate() {
        let txt = std::str::from_utf8(pair).map_err(|_| bad())?;
        out[i] = u8::from_str_radix(txt, 16).map_err(|_| bad())?;
    }
    Ok(Sha256Digest(out))
}

fn parse_b64_pin(s: &str) -> Result<Sha256Digest, String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(s.trim());
    match bytes.ok().and_then(|b| <[u8; 32]>::try_from(b).ok()) {
        Some(d) => Ok(Sha256Digest(d)),
        None => Err(format!(
            "invalid SPKI SHA-256 pin {s:?}: expected the base64 of 32 bytes"
        )),
    }
}

/// Certificate and SPKI pins, Istio `verifyCertificateHash` / `verifyCertificateSpki`: when
/// both lists are set, matching either passes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pins {
    /// SHA-256 digests of whole DER certificates.
    pub cert_sha256: HashSet<Sha256Digest>,
    /// SHA-256 digests of SubjectPublicKeyInfos.
    pub spki_sha256: HashSet<Sha256Digest>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct PinsRepr {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    cert_sha256: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    spki_sha256: Vec<String>,
}

/// Written as read: certificate digests in uppercase hex with colons, SPKI digests in standard
/// base64, each list sorted (a set has no order of its own).
impl Serialize for Pins {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        let hex = |d: &Sha256Digest| {
            let bytes: Vec<String> = d.0.iter().map(|b| format!("{b:02X}")).collect();
            bytes.join(":")
        };
        let b64 = |d: &Sha256Digest| base64::engine::general_purpose::STANDARD.encode(d.0);
        let mut repr = PinsRepr {
            cert_sha256: self.cert_sha256.iter().map(hex).collect(),
            spki_sha256: self.spki_sha256.iter().map(b64).collect(),
        };
        repr.cert_sha256.sort();
        repr.spki_sha256.sort();
        repr.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Pins {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = PinsRepr::deserialize(d)?;
        let cert = r
            .cert_sha256
            .iter()
            .map(|s| parse_hex_pin(s))
            .collect::<Result<_, _>>();
        let spki = r
            .spki_sha256
            .iter()
            .map(|s| parse_b64_pin(s))
            .collect::<Result<_, _>>();
        Ok(Self {
            cert_sha256: cert.map_err(serde::de::Error::custom)?,
            spki_sha256: spki.map_err(serde::de::Error::custom)?,
        })
    }
}

impl Pins {
    /// Whether no pin is set (and so every certificate passes).
    pub fn is_empty(&self) -> bool {
        self.cert_sha256.is_empty() && self.spki_sha256.is_empty()
    }

    /// Whether the identity passes the pins.
    pub fn allows(&self, id: &PeerIdentity) -> bool {
        self.is_empty()
            || self.cert_sha256.contains(&Sha256Digest(*id.cert_sha256()))
            || self.spki_sha256.contains(&Sha256Digest(*id.spki_sha256()))
    }
}
