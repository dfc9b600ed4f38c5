//! Upstreams as data: where a route's requests go and how (URL, upstream TLS, timeouts,
//! protocol), and which identity headers travel with them. A proxy turns these into
//! connections; this crate only checks them.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::settings::Span;

/// An upstream a route forwards to (`backends.<name>`).
///
/// ```yaml
/// backends:
///   api:
///     url: https://api.internal:8443
///     tls:
///       ca: upstream-ca.pem
///       expected_name: api.internal
///       client_certificate: { chain: gateway.pem, key: gateway.key }
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

    /// Checks what can be checked without I/O; `Err((field, message))`.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        let (scheme, rest) = self
            .url
            .split_once("://")
            .ok_or(("url", format!("{:?} is not a URL", self.url)))?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.is_empty() {
            return Err(("url", format!("{:?} has no host", self.url)));
        }
        if rest.contains(['?', '#']) {
            return Err(("url", "a query or fragment is not allowed".into()));
        }
        match scheme {
            "http" => Ok(()),
            "https" if self.tls.is_some() => Ok(()),
            "https" => Err(("tls", "an https backend needs `tls` (at least `ca`)".into())),
            _ => Err(("url", "the scheme must be http or https".into())),
        }
    }
}

/// How the gateway verifies an upstream's certificate, and its own client certificate for
/// upstream mTLS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BackendTls {
    /// The CA bundle file for the upstream's certificate.
    pub ca: PathBuf,
    /// The name the upstream certificate must carry (also the SNI); the URL's host when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_name: Option<String>,
    /// The client certificate presented upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<ClientCertificate>,
}

impl BackendTls {
    /// Verifies the upstream with the CA bundle at `ca`.
    pub fn new(ca: impl Into<PathBuf>) -> Self {
        Self {
            ca: ca.into(),
            expected_name: None,
            client_certificate: None,
        }
    }
}

/// A certificate chain and key file, for upstream mTLS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ClientCertificate {
    /// The chain file (leaf first).
    pub chain: PathBuf,
    /// The key file.
    pub key: PathBuf,
}

impl ClientCertificate {
    /// A chain and key file.
    pub fn new(chain: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            chain: chain.into(),
            key: key.into(),
        }
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
