//! Upstreams as data: where a route's requests go and how (URL, upstream TLS, timeouts,
//! protocol), and which identity headers travel with them. A proxy turns these into
//! connections; this crate only checks them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::certificate::CertificateSource;
use crate::identity::{IdentityMatchSpec, IdentityMatcher, IdentityRule};
use crate::matcher::StringMatch;
use crate::settings::Span;
use crate::trust::TrustSource;

/// An upstream a route forwards to (`backends.<name>`).
///
/// ```yaml
/// backends:
///   api:
///     url: https://api.internal:8443
///     tls:
///       ca: upstream-ca.pem            # or { file: … }, { pem: … }, { secret: { name: … } }
///       expected_name: api.internal
///       client_certificate: { chain: gateway.pem, key: gateway.key }  # or { secret: … }
///       subject_alt_names:
///         match: [{ spiffe: { trust_domain: cluster.local, path: { prefix: /ns/api/ } } }]
///     request_timeout: 10s
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BackendConfig {
    /// `http://host:port[/base]` or `https://host:port[/base]`; the base path is put before
    /// every forwarded path.
    pub url: String,
    /// How the upstream is verified and authenticated to; needed for `https`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<BackendTls>,
    /// TCP connect timeout (default `5s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<Span>,
    /// Time to the response head (default `30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<Span>,
    /// Speak HTTP/2 to the upstream: with prior knowledge (h2c) on `http`, by ALPN (`h2`
    /// only) on `https` (gRPC). Default: HTTP/1.1.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub http2_only: bool,
    /// Send the URL's authority as `Host` instead of the client's (nginx `proxy_set_header
    /// Host $proxy_host`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rewrite_host: bool,
}

impl BackendConfig {
    /// A backend at `url` with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            tls: None,
            connect_timeout: None,
            request_timeout: None,
            http2_only: false,
            rewrite_host: false,
        }
    }

    /// Checks what can be checked without I/O; `Err((field, message))`, the field relative
    /// to the backend (`url`, `tls.subject_alt_names.match[0].ip`).
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        let url = |message: String| ("url".to_owned(), message);
        let (scheme, rest) = self
            .url
            .split_once("://")
            .ok_or_else(|| url(format!("{:?} is not a URL", self.url)))?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.is_empty() {
            return Err(url(format!("{:?} has no host", self.url)));
        }
        if rest.contains(['?', '#']) {
            return Err(url("a query or fragment is not allowed".into()));
        }
        match scheme {
            "http" | "https" => {}
            _ => return Err(url("the scheme must be http or https".into())),
        }
        match &self.tls {
            Some(tls) => tls
                .validate()
                .map_err(|(field, message)| (format!("tls.{field}"), message)),
            None if scheme == "https" => Err((
                "tls".into(),
                "an https backend needs `tls` (at least `ca`)".into(),
            )),
            None => Ok(()),
        }
    }
}

/// How the gateway verifies an upstream's certificate, and its own client certificate for
/// upstream mTLS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BackendTls {
    /// The CA bundle for the upstream's certificate: a file (`ca: upstream-ca.pem`, or
    /// `{ file: … }`), inline PEM (`{ pem: … }`) or a secret (`{ secret: { name: … } }`, read
    /// through the serving process's secret resolver).
    #[serde(serialize_with = "ca_out", deserialize_with = "ca_in")]
    pub ca: TrustSource,
    /// The SNI sent; without `subject_alt_names`, also the name the upstream certificate must
    /// carry. The URL's host when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_name: Option<String>,
    /// The client certificate presented upstream: files (`{ chain: …, key: … }`), a mounted
    /// secret (`{ secret_dir: … }`) or a secret (`{ secret: { name: … } }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<CertificateSource>,
    /// The identities the upstream certificate may carry, instead of `expected_name`: exact
    /// `principals` and `match` rules on its DNS, URI, IP or email SANs, SPIFFE ID, common
    /// name or subject, as in a route's `authorization` (Istio `DestinationRule`
    /// `subjectAltNames`, Gateway API `BackendTLSPolicy` `validation.subjectAltNames`). The
    /// certificate must still chain to `ca`; one matching principal or rule admits it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_alt_names: Option<IdentityMatchSpec>,
}

impl BackendTls {
    /// Verifies the upstream with the CA bundle `ca`.
    ///
    /// ```
    /// use mtls_policy::{BackendTls, CertificateSource, TrustSource};
    /// let mut tls = BackendTls::new(TrustSource::File("upstream-ca.pem".into()));
    /// tls.client_certificate = Some(CertificateSource::files("gateway.pem", "gateway.key"));
    /// ```
    pub fn new(ca: TrustSource) -> Self {
        Self {
            ca,
            expected_name: None,
            client_certificate: None,
            subject_alt_names: None,
        }
    }

    /// Admits only upstream certificates matching `allowed` (see
    /// [`subject_alt_names`](Self::subject_alt_names)).
    pub fn subject_alt_names(mut self, allowed: IdentityMatchSpec) -> Self {
        self.subject_alt_names = Some(allowed);
        self
    }

    /// Checks the allow-list; `Err((field, message))`, the field relative to `tls`.
    fn validate(&self) -> Result<(), (String, String)> {
        let Some(allowed) = &self.subject_alt_names else {
            return Ok(());
        };
        let at = "subject_alt_names";
        if allowed.is_empty() {
            return Err((
                at.into(),
                "an empty allow-list admits no upstream: give `principals` or `match` rules".into(),
            ));
        }
        for (i, principal) in allowed.principals.iter().enumerate() {
            if principal.trim().is_empty() {
                return Err((format!("{at}.principals[{i}]"), "empty principal".into()));
            }
        }
        for (i, rule) in allowed.rules.iter().enumerate() {
            check_rule(rule).map_err(|(field, e)| (format!("{at}.match[{i}].{field}"), e))?;
        }
        IdentityMatcher::new(allowed).map_err(|e| (at.into(), e.to_string()))?;
        Ok(())
    }
}

/// What a pattern cannot say about an upstream's identity: an exact IP that is no address, a
/// SPIFFE trust domain written as an ID.
fn check_rule(rule: &IdentityRule) -> Result<(), (&'static str, String)> {
    match rule {
        IdentityRule::Ip(StringMatch::Exact(ip)) if ip.parse::<std::net::IpAddr>().is_err() => {
            Err(("ip", format!("{ip:?} is not an IP address")))
        }
        IdentityRule::Spiffe(s) => {
            let td = &s.trust_domain;
            let valid = !td.is_empty()
                && td
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
            if valid {
                Ok(())
            } else {
                Err((
                    "spiffe.trust_domain",
                    format!(
                        "{td:?} is not a SPIFFE trust domain (lowercase letters, digits, `-`, \
                         `.`, `_`; no `spiffe://` or path)"
                    ),
                ))
            }
        }
        _ => Ok(()),
    }
}

/// Which identity headers are sent upstream with an allowed request (inbound copies are
/// always removed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ForwardIdentityConfig {
    /// Envoy `x-forwarded-client-cert` (SANITIZE_SET), on by default; `xfcc: null` turns it
    /// off.
    #[serde(default = "xfcc_default")]
    pub xfcc: Option<XfccFields>,
    /// RFC 9440 `Client-Cert` / `Client-Cert-Chain`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rfc9440: bool,
    /// nginx-style `ssl-client-verify` and DN headers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ssl_client: bool,
}

impl Default for ForwardIdentityConfig {
    fn default() -> Self {
        Self {
            xfcc: xfcc_default(),
            rfc9440: false,
            ssl_client: false,
        }
    }
}

impl ForwardIdentityConfig {
    /// No identity header at all.
    pub fn none() -> Self {
        Self {
            xfcc: None,
            rfc9440: false,
            ssl_client: false,
        }
    }
}

fn xfcc_default() -> Option<XfccFields> {
    Some(XfccFields::default())
}

fn yes() -> bool {
    true
}

/// The fields of the `x-forwarded-client-cert` element.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct XfccFields {
    /// `By=`: this proxy's own identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// `Hash=` (default on).
    #[serde(default = "yes")]
    pub hash: bool,
    /// `Subject=` (default on).
    #[serde(default = "yes")]
    pub subject: bool,
    /// `URI=` (default on).
    #[serde(default = "yes")]
    pub uri: bool,
    /// `DNS=` (default on).
    #[serde(default = "yes")]
    pub dns: bool,
    /// `Cert=`, the URL-encoded PEM leaf.
    #[serde(default)]
    pub cert: bool,
    /// `Chain=`, the URL-encoded PEM chain.
    #[serde(default)]
    pub chain: bool,
}

impl Default for XfccFields {
    fn default() -> Self {
        Self {
            by: None,
            hash: true,
            subject: true,
            uri: true,
            dns: true,
            cert: false,
            chain: false,
        }
    }
}

/// `ca` in YAML: a bare string is a file; a map is a [`TrustSource`] (`file`, `pem`, `secret`),
/// with its own errors.
fn ca_in<'de, D: Deserializer<'de>>(d: D) -> Result<TrustSource, D::Error> {
    struct Ca;
    impl<'de> serde::de::Visitor<'de> for Ca {
        type Value = TrustSource;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a CA bundle file, or one of `file`, `pem`, `secret`")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TrustSource, E> {
            Ok(TrustSource::File(v.into()))
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<TrustSource, A::Error> {
            TrustSource::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(Ca)
}

/// `ca` written back as it is read: a file as a bare string.
fn ca_out<S: Serializer>(ca: &TrustSource, s: S) -> Result<S::Ok, S::Error> {
    match ca {
        TrustSource::File(path) => path.serialize(s),
        other => other.serialize(s),
    }
}

#[cfg(test)]
mod tests {
    use crate::Policy;

    /// The error of a configuration whose backend `api` has `tls` followed by `extra`.
    fn error(extra: &str) -> String {
        let text = format!(
            "listeners: []\nbackends:\n  api:\n    url: https://api.internal\n    tls:\n      \
             ca: ca.pem\n{extra}"
        );
        match Policy::from_yaml(&text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    /// The `tls` of backend `api` written as `tls`, and how it reads back.
    fn tls(tls: &str) -> Result<(crate::BackendTls, String), String> {
        let text = format!(
            "listeners: []\nbackends:\n  api:\n    url: https://api.internal\n    tls: {tls}\n"
        );
        let policy = Policy::from_yaml(&text).map_err(|e| e.to_string())?;
        let config = policy.config();
        let yaml = config.to_yaml().map_err(|e| e.to_string())?;
        Ok((config.backends["api"].tls.clone().unwrap(), yaml))
    }

    #[test]
    fn a_ca_is_a_file_inline_pem_or_a_secret_and_reads_back_as_written() {
        use crate::{CertificateSource, SecretRef, TrustSource};
        let (t, yaml) = tls("{ ca: /etc/ca.pem }").unwrap();
        assert_eq!(t.ca, TrustSource::File("/etc/ca.pem".into()));
        assert!(yaml.contains("ca: /etc/ca.pem\n"), "{yaml}");
        let (t, _) = tls("{ ca: { file: /etc/ca.pem } }").unwrap();
        assert_eq!(t.ca, TrustSource::File("/etc/ca.pem".into()));
        let (t, _) = tls("{ ca: { pem: PEM } }").unwrap();
        assert_eq!(t.ca, TrustSource::Pem("PEM".into()));
        let secret = "{ ca: { secret: { name: up, key: ca.crt } }, client_certificate: { secret: { name: up } } }";
        let (t, yaml) = tls(secret).unwrap();
        assert_eq!(
            t.ca,
            TrustSource::Secret(SecretRef::new("up", None, Some("ca.crt".into())))
        );
        assert_eq!(
            t.client_certificate,
            Some(CertificateSource::Secret(SecretRef::new("up", None, None)))
        );
        assert_eq!(tls(&yaml_tls(&yaml)).unwrap().0, t, "{yaml}");
    }

    /// The `tls` value of backend `api` in a configuration's YAML, as a flow mapping.
    fn yaml_tls(yaml: &str) -> String {
        let config: crate::PolicyConfig = crate::yaml::from_str(yaml).unwrap();
        serde_json::to_string(&config.backends["api"].tls).unwrap()
    }

    #[test]
    fn a_ca_that_is_neither_names_what_fits() {
        let e = tls("{ ca: { file: a.pem, secret: { name: up } } }").unwrap_err();
        assert!(e.contains("backends.api.tls.ca"), "{e}");
        assert!(e.contains("file") && e.contains("secret"), "{e}");
        let e = tls("{ ca: [a.pem] }").unwrap_err();
        assert!(
            e.contains("a CA bundle file, or one of `file`, `pem`, `secret`"),
            "{e}"
        );
        let e = tls("{ ca: a.pem, client_certificate: { chain: a.pem } }").unwrap_err();
        assert!(e.contains("`chain` needs `key`"), "{e}");
    }

    #[test]
    fn an_allow_list_loads_and_reads_as_written() {
        let text = "listeners: []\nbackends:\n  api:\n    url: https://api.internal\n    tls:\n      \
                    ca: ca.pem\n      subject_alt_names:\n        principals: [api.internal]\n        \
                    match:\n          - spiffe: { trust_domain: cluster.local, path: { prefix: /ns/api/ } }\n          \
                    - ip: { exact: \"2001:db8::1\" }\n";
        let policy = Policy::from_yaml(text).unwrap();
        let tls = policy.config().backends["api"].tls.as_ref().unwrap();
        let allowed = tls.subject_alt_names.as_ref().unwrap();
        assert_eq!(
            allowed.to_string(),
            "\"api.internal\", spiffe trust domain \"cluster.local\" path prefix \"/ns/api/\", \
             ip exact \"2001:db8::1\""
        );
    }

    #[test]
    fn bad_allow_lists_name_the_field() {
        assert_eq!(
            error("      subject_alt_names: {}\n"),
            "backends.api.tls.subject_alt_names: an empty allow-list admits no upstream: give \
             `principals` or `match` rules"
        );
        assert_eq!(
            error("      subject_alt_names: { principals: [\" \"] }\n"),
            "backends.api.tls.subject_alt_names.principals[0]: empty principal"
        );
        assert_eq!(
            error(
                "      subject_alt_names:\n        match: [{ dns: { exact: a } }, { ip: { exact: \
                 10.0.0.256 } }]\n"
            ),
            "backends.api.tls.subject_alt_names.match[1].ip: \"10.0.0.256\" is not an IP address"
        );
        assert_eq!(
            error(
                "      subject_alt_names:\n        match: [{ spiffe: { trust_domain: \
                 \"spiffe://cluster.local\" } }]\n"
            ),
            "backends.api.tls.subject_alt_names.match[0].spiffe.trust_domain: \
             \"spiffe://cluster.local\" is not a SPIFFE trust domain (lowercase letters, digits, \
             `-`, `.`, `_`; no `spiffe://` or path)"
        );
    }

    #[test]
    fn bad_patterns_and_unknown_fields_fail_where_they_are_written() {
        let e = error("      subject_alt_names:\n        match: [{ dns: { regex: \"(\" } }]\n");
        assert!(
            e.starts_with("backends.api.tls.subject_alt_names.match[0].dns: invalid regex \"(\""),
            "{e}"
        );
        assert_eq!(
            error("      subject_alt_names:\n        allow: [a]\n"),
            "backends.api.tls.subject_alt_names.allow: unknown field `allow`, expected \
             `principals` or `match` at line 8 column 9"
        );
    }
}
