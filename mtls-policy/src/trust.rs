//! Trust material, referenced as data: the TLS layer loads and enforces it and reports the
//! outcome as a [`crate::PeerVerification`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::identity::IdentityMatchSpec;
use crate::settings::Span;

/// Where a CA bundle or CRL comes from.
///
/// In YAML: `{ file: /etc/mtls/ca.pem }`, `{ pem: "-----BEGIN CERTIFICATE-----..." }` or
/// `{ secret: { name: partner-ca, namespace: ingress, key: ca.crt } }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TrustSourceRepr", into = "TrustSourceRepr")]
#[non_exhaustive]
pub enum TrustSource {
    /// A PEM file.
    File(PathBuf),
    /// Inline PEM.
    Pem(String),
    /// A Kubernetes secret (layouts `ca.crt`, `cacert`, `<name>-cacert`; see mtls-core).
    Secret(SecretRef),
}

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustSourceRepr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<SecretRef>,
}

impl TryFrom<TrustSourceRepr> for TrustSource {
    type Error = String;
    fn try_from(r: TrustSourceRepr) -> Result<Self, String> {
        crate::one_of::exactly_one(vec![
            ("file", r.file.map(Self::File)),
            ("pem", r.pem.map(Self::Pem)),
            ("secret", r.secret.map(Self::Secret)),
        ])
    }
}

impl From<TrustSource> for TrustSourceRepr {
    fn from(s: TrustSource) -> Self {
        match s {
            TrustSource::File(m) => Self {
                file: Some(m),
                ..Self::default()
            },
            TrustSource::Pem(m) => Self {
                pem: Some(m),
                ..Self::default()
            },
            TrustSource::Secret(m) => Self {
                secret: Some(m),
                ..Self::default()
            },
        }
    }
}

/// A reference to a Kubernetes secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SecretRef {
    /// The secret's name.
    pub name: String,
    /// Its namespace; the gateway's own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The key; guessed from the known layouts when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl SecretRef {
    /// The secret `name` in `namespace` (`None`: the gateway's own), reading `key` (`None`:
    /// guessed from the known layouts).
    ///
    /// ```
    /// let r = mtls_policy::SecretRef::new("web-ca", Some("web".into()), Some("ca.crt".into()));
    /// assert_eq!((r.name.as_str(), r.key.as_deref()), ("web-ca", Some("ca.crt")));
    /// ```
    pub fn new(name: impl Into<String>, namespace: Option<String>, key: Option<String>) -> Self {
        Self {
            name: name.into(),
            namespace,
            key,
        }
    }
}

/// Allow or deny, for a situation an option governs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Treatment {
    /// Let the peer through (with an audit note).
    Allow,
    /// Deny the peer.
    Deny,
}

/// Which certificates of the chain are checked against the CRLs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CrlScope {
    /// Every certificate of the chain (rustls' default).
    #[default]
    WholeChain,
    /// The leaf only.
    LeafOnly,
}

/// The certificate profile a trust domain holds its chains to, beyond RFC 5280 path
/// validation.
///
/// In YAML: `profile: default` or `profile: strict`.
///
/// ```
/// use mtls_policy::CertificateProfile;
///
/// let strict: CertificateProfile = mtls_policy::yaml::from_str("strict").unwrap();
/// assert_eq!(strict, CertificateProfile::Strict);
/// assert_eq!(CertificateProfile::default(), CertificateProfile::Default);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CertificateProfile {
    /// What mainstream relying parties (rustls-webpki, Go, BoringSSL, OpenSSL by default)
    /// enforce, plus the RFC 5280 checks on the verified path they miss: private PKIs whose
    /// CA tooling omits key identifiers or marks extensions non-critical keep working.
    #[default]
    Default,
    /// [`Default`](Self::Default), plus the rules RFC 5280 sets for *issuing* CAs (key
    /// identifiers, serial numbers, DNS name syntax, criticality of nameConstraints and
    /// basicConstraints, a cRLNumber in every CRL) and, for server certificates, the CA/Browser
    /// Forum Baseline Requirements on extended key usage and RSA key sizes: OpenSSL's
    /// `-x509_strict` and then some. For compliance-minded deployments whose CAs conform.
    Strict,
}

/// Certificate revocation lists and how to treat their gaps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CrlOptions {
    /// The CRLs read from files, inline PEM or secrets (may be empty when
    /// [`distribution_points`](Self::distribution_points) is set).
    #[serde(default)]
    pub sources: Vec<TrustSource>,
    /// Which certificates are checked.
    #[serde(default)]
    pub check: CrlScope,
    /// A certificate whose status the CRLs cannot tell (none of its issuer, or only CRLs whose
    /// scope or reasons leave it out): denied by default (rustls' default).
    #[serde(default = "deny")]
    pub unknown_status: Treatment,
    /// What a CRL past its `nextUpdate` is worth (default [`NextUpdate::Enforce`]).
    #[serde(default)]
    pub next_update: NextUpdate,
    /// CRLs fetched over HTTP from distribution points, in the background, and merged with
    /// `sources` (off when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution_points: Option<DistributionPoints>,
}

/// CRLs fetched from distribution points: the `http://` URIs of the cRLDistributionPoints of
/// the trust domain's CA certificates, and the `urls` listed (where a CA's leaves point: their
/// issuing CA's CRL).
///
/// Each CRL is fetched in the background, bounded by `timeout` and `max_bytes`, checked once
/// as a file CRL is (signed by the CA it names), and fetched again after `refresh` or before
/// its `nextUpdate`, whichever comes first, with `If-None-Match` / `If-Modified-Since`. A fetch
/// that fails keeps the last good CRL, which counts as the domain's
/// [`next_update`](CrlOptions::next_update) says.
///
/// In YAML: `distribution_points: { urls: [http://pki.example.com/issuing.crl], refresh: 1h,
/// timeout: 5s, max_bytes: 10485760 }`, every key optional (`distribution_points: {}`).
///
/// ```
/// use std::time::Duration;
/// use mtls_policy::trust::DistributionPoints;
///
/// let dp: DistributionPoints = serde_json::from_str(r#"{ "refresh": "10m" }"#).unwrap();
/// assert_eq!(dp.refresh.0, Duration::from_secs(600));
/// assert_eq!(dp.timeout.0, Duration::from_secs(5));
/// assert_eq!(dp.max_bytes, 10 * 1024 * 1024);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DistributionPoints {
    /// `http://` URLs of CRLs fetched besides those the CA certificates name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// The longest time between two fetches of a CRL (default 1h, at least 1s).
    #[serde(default = "default_refresh")]
    pub refresh: Span,
    /// How long one fetch may take, from resolving the host to the last byte (default 5s,
    /// at most 5m).
    #[serde(default = "default_fetch_timeout")]
    pub timeout: Span,
    /// The largest CRL accepted, in bytes (default 10 MiB, at most 256 MiB).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
}

impl Default for DistributionPoints {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            refresh: default_refresh(),
            timeout: default_fetch_timeout(),
            max_bytes: default_max_bytes(),
        }
    }
}

impl DistributionPoints {
    /// The largest `max_bytes`.
    pub const MAX_BYTES: u64 = 256 * 1024 * 1024;

    /// Checks the values; `Err((field, message))`, the field relative to
    /// `distribution_points`.
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        if self.refresh.0 < Duration::from_secs(1) {
            return Err(("refresh".into(), "must be at least 1s".into()));
        }
        if self.timeout.0.is_zero() || self.timeout.0 > Duration::from_secs(300) {
            return Err((
                "timeout".into(),
                "must be longer than 0 and at most 5m".into(),
            ));
        }
        if self.max_bytes == 0 || self.max_bytes > Self::MAX_BYTES {
            return Err((
                "max_bytes".into(),
                format!("must be between 1 and {}", Self::MAX_BYTES),
            ));
        }
        for (i, url) in self.urls.iter().enumerate() {
            if !url
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
            {
                return Err((
                    format!("urls[{i}]"),
                    format!(
                        "{url:?} is not an http:// URL (CRLs are signed; https is not fetched)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn default_refresh() -> Span {
    Span(Duration::from_secs(3600))
}

fn default_fetch_timeout() -> Span {
    Span(Duration::from_secs(5))
}

fn default_max_bytes() -> u64 {
    10 * 1024 * 1024
}

/// What a CRL past its `nextUpdate` is worth to a trust domain.
///
/// In YAML: `next_update: enforce` (the default), `next_update: ignore`, or
/// `next_update: { grace: 6h }` (a duration: `ms`, `s`, `m`, `h`).
///
/// ```
/// use std::time::Duration;
/// use mtls_policy::trust::NextUpdate;
///
/// let grace: NextUpdate = serde_json::from_str(r#"{ "grace": "6h" }"#).unwrap();
/// assert_eq!(grace, NextUpdate::Grace(Duration::from_secs(6 * 3600)));
/// assert_eq!(grace.usable_until(1_000), Some(1_000 + 6 * 3600));
/// assert_eq!(NextUpdate::Enforce.usable_until(1_000), Some(1_000));
/// assert_eq!(NextUpdate::Ignore.usable_until(1_000), None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "NextUpdateRepr", into = "NextUpdateRepr")]
#[non_exhaustive]
pub enum NextUpdate {
    /// A CRL past its `nextUpdate` no longer counts: a certificate it alone covers is refused
    /// with reason `crl_expired` (RFC 5280 6.3.3, as OpenSSL and NIST PKITS).
    #[default]
    Enforce,
    /// A CRL counts until this long after its `nextUpdate` (a late CRL publisher is not an
    /// outage); past that, as [`Enforce`](Self::Enforce).
    Grace(Duration),
    /// `nextUpdate` is not read: a CRL counts however old it is (as rustls and nginx).
    Ignore,
}

impl NextUpdate {
    /// The last second (Unix time) at which a CRL whose `nextUpdate` is `next_update` (Unix
    /// seconds) still counts; `None`: always.
    pub fn usable_until(self, next_update: u64) -> Option<u64> {
        match self {
            Self::Enforce => Some(next_update),
            Self::Grace(grace) => Some(next_update.saturating_add(grace.as_secs())),
            Self::Ignore => None,
        }
    }
}

impl fmt::Display for NextUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Enforce => f.write_str("enforce"),
            Self::Grace(d) => write!(f, "grace {}", Span(*d)),
            Self::Ignore => f.write_str("ignore"),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum NextUpdateRepr {
    Word(String),
    Grace(GraceRepr),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GraceRepr {
    grace: Span,
}

impl TryFrom<NextUpdateRepr> for NextUpdate {
    type Error = String;
    fn try_from(r: NextUpdateRepr) -> Result<Self, String> {
        match r {
            NextUpdateRepr::Word(w) if w == "enforce" => Ok(Self::Enforce),
            NextUpdateRepr::Word(w) if w == "ignore" => Ok(Self::Ignore),
            NextUpdateRepr::Word(w) => Err(format!(
                "unknown next_update {w:?}: expected enforce, ignore or {{ grace: <duration> }}"
            )),
            NextUpdateRepr::Grace(g) => Ok(Self::Grace(g.grace.0)),
        }
    }
}

impl From<NextUpdate> for NextUpdateRepr {
    fn from(n: NextUpdate) -> Self {
        match n {
            NextUpdate::Enforce => Self::Word("enforce".into()),
            NextUpdate::Ignore => Self::Word("ignore".into()),
            NextUpdate::Grace(d) => Self::Grace(GraceRepr { grace: Span(d) }),
        }
    }
}

impl CrlOptions {
    /// These CRLs, checked on the whole chain, with the default treatment of their gaps.
    pub fn new(sources: Vec<TrustSource>) -> Self {
        Self {
            sources,
            check: CrlScope::default(),
            unknown_status: deny(),
            next_update: NextUpdate::default(),
            distribution_points: None,
        }
    }
}

fn deny() -> Treatment {
    Treatment::Deny
}
fn is_true(b: &bool) -> bool {
    *b
}

fn yes() -> bool {
    true
}

/// The certificate policies a trust domain requires of its chains: RFC 5280's
/// user-initial-policy-set (`initial`) and initial-explicit-policy (`require_explicit`). With
/// `initial: [2.16.840.1.101.3.2.1.3.13]` (PIV authentication) a chain is accepted only when
/// that policy (or one its CAs map to it) is valid along the whole path.
///
/// ```
/// use mtls_policy::trust::CertificatePolicies;
///
/// let p: CertificatePolicies =
///     mtls_policy::yaml::from_str("initial: [\"2.16.840.1.101.3.2.1.3.13\"]").unwrap();
/// assert!(p.require_explicit);
/// assert_eq!(p.initial[0].to_string(), "2.16.840.1.101.3.2.1.3.13");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CertificatePolicies {
    /// The acceptable policies (dotted OIDs); empty: any policy (anyPolicy).
    #[serde(default)]
    pub initial: Vec<PolicyOid>,
    /// Whether a chain must be valid for one of them (default true); false only narrows the
    /// policies reported valid, as RFC 5280 does.
    #[serde(default = "yes")]
    pub require_explicit: bool,
}

impl CertificatePolicies {
    /// `initial` required explicitly.
    pub fn new(initial: Vec<PolicyOid>) -> Self {
        Self {
            initial,
            require_explicit: true,
        }
    }
}

/// A certificate policy OID in dotted form (`2.16.840.1.101.3.2.1.3.13`), checked when read.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PolicyOid {
    text: String,
    arcs: Vec<u64>,
}

impl PolicyOid {
    /// The DER contents of the OBJECT IDENTIFIER (what certificates carry).
    pub fn der_contents(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let (first, rest) = match self.arcs.as_slice() {
            [a, b, rest @ ..] => (a * 40 + b, rest),
            _ => return out, // parsing guarantees two arcs
        };
        for arc in std::iter::once(&first).chain(rest) {
            let mut groups = vec![(arc & 0x7f) as u8];
            let mut v = arc >> 7;
            while v > 0 {
                groups.push((v & 0x7f) as u8 | 0x80);
                v >>= 7;
            }
            out.extend(groups.iter().rev());
        }
        out
    }
}

impl TryFrom<String> for PolicyOid {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let bad = || {
            format!(
                "{text:?} is not an object identifier (dotted decimal arcs, e.g. \
                 2.16.840.1.101.3.2.1.3.13)"
            )
        };
        let arcs: Vec<u64> = text
            .split('.')
            .map(|a| {
                (!a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| a.parse::<u64>().ok())
                    .flatten()
            })
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        let valid = match arcs.as_slice() {
            [0 | 1, second, ..] => *second < 40,
            [2, second, ..] => *second <= u64::MAX - 80,
            _ => false,
        };
        if !valid {
            return Err(bad());
        }
        Ok(Self { text, arcs })
    }
}

impl From<PolicyOid> for String {
    fn from(oid: PolicyOid) -> Self {
        oid.text
    }
}

impl fmt::Display for PolicyOid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One isolated trust domain: a CA bundle of its own, so a client of domain A is never vouched
/// for by the CA of domain B, and what this domain may vouch for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TrustDomain {
    /// The name the TLS layer reports in [`crate::PeerVerification::Verified`].
    pub name: String,
    /// CA bundles (many PEM blocks each allowed).
    pub ca: Vec<TrustSource>,
    /// Revocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl: Option<CrlOptions>,
    /// Longest accepted chain, leaf included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chain_depth: Option<u8>,
    /// Require the clientAuth extended key usage (default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub require_client_auth_eku: bool,
    /// Issuer-scoped rule: this domain's CAs may vouch only for identities matching this.
    /// Enforced by [`Policy::decide`](crate::Policy::decide) (a certificate outside it is
    /// refused as `issuer_not_allowed`), not by the TLS verifier alone: code that uses only the
    /// verifier checks the peer's identity with an [`IdentityMatcher`](crate::IdentityMatcher).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub may_vouch_for: Option<IdentityMatchSpec>,
    /// Certificate policies every chain of this domain must be valid for (RFC 5280 6.1.1 (c),
    /// (f)); absent: any policy, none required (the RFC's defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_policies: Option<CertificatePolicies>,
    /// The certificate profile chains of this domain are held to (default
    /// [`CertificateProfile::Default`]).
    #[serde(default, skip_serializing_if = "is_default_profile")]
    pub profile: CertificateProfile,
    /// OCSP for the leaves of this domain ([`OcspOptions`](crate::ocsp::OcspOptions)); off
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ocsp: Option<crate::ocsp::OcspOptions>,
}

impl TrustDomain {
    /// A trust domain with one CA source and default options.
    pub fn new(name: impl Into<String>, ca: TrustSource) -> Self {
        Self {
            name: name.into(),
            ca: vec![ca],
            crl: None,
            max_chain_depth: None,
            require_client_auth_eku: true,
            may_vouch_for: None,
            certificate_policies: None,
            profile: CertificateProfile::Default,
            ocsp: None,
        }
    }
}

fn is_default_profile(profile: &CertificateProfile) -> bool {
    *profile == CertificateProfile::Default
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_oids_encode_as_certificates_carry_them() {
        let oid = PolicyOid::try_from("2.16.840.1.101.3.2.1.48.1".to_owned()).unwrap();
        assert_eq!(
            oid.der_contents(),
            [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x02, 0x01, 0x30, 0x01]
        );
        let any = PolicyOid::try_from("2.5.29.32.0".to_owned()).unwrap();
        assert_eq!(any.der_contents(), [0x55, 0x1d, 0x20, 0x00]);
    }

    #[test]
    fn malformed_policy_oids_are_refused_with_the_value() {
        for bad in ["", "2", "1.40", "3.1", "2..1", "2.16.x", "-1.2"] {
            let e = PolicyOid::try_from(bad.to_owned()).unwrap_err();
            assert!(e.contains("not an object identifier"), "{bad}: {e}");
        }
        let e = crate::yaml::from_str::<CertificatePolicies>("initial: [\"1.2.three\"]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("1.2.three"), "{e}");
    }
}
