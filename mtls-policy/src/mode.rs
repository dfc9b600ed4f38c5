//! Peer modes (Istio `PeerAuthentication`) and client-certificate requirements.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Whether a port takes mTLS, plaintext or both, as Istio `PeerAuthentication.mtls.mode`.
///
/// Written `STRICT` / `PERMISSIVE` / `DISABLE` / `UNSET` (Istio spelling) or lowercase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PeerMode {
    /// Inherit from the enclosing scope; at the top, Istio's default [`PeerMode::Permissive`].
    #[default]
    #[serde(alias = "UNSET")]
    Unset,
    /// mTLS only: plaintext is refused and a verified client certificate is required.
    #[serde(alias = "STRICT")]
    Strict,
    /// Plaintext and mTLS on the same port.
    #[serde(alias = "PERMISSIVE")]
    Permissive,
    /// No mTLS: plaintext, or TLS without asking for a client certificate.
    #[serde(alias = "DISABLE")]
    Disable,
}

impl PeerMode {
    /// The Istio spelling (`STRICT`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unset => "UNSET",
            Self::Strict => "STRICT",
            Self::Permissive => "PERMISSIVE",
            Self::Disable => "DISABLE",
        }
    }
}

impl fmt::Display for PeerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a listener (or one of its hosts) asks of the client certificate.
///
/// | ours | Istio Gateway | nginx `ssl_verify_client` | Gateway API | Traefik |
/// |---|---|---|---|---|
/// | `Required` | `MUTUAL` | `on` | `AllowValidOnly` | `RequireAndVerifyClientCert` |
/// | `Optional` | `OPTIONAL_MUTUAL` | `optional` | | `VerifyClientCertIfGiven` |
/// | `None` | `SIMPLE` | `off` | | `NoClientCert` |
///
/// "Accept any certificate" (osm `skipClientCertValidation`, Gateway API
/// `AllowInsecureFallback`, nginx `optional_no_ca`) is a sharp tool: it lives in
/// [`crate::danger::DangerousClientValidation::skip_client_cert_validation`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientCertMode {
    /// A verified client certificate is required.
    #[default]
    Required,
    /// A client certificate is verified if presented; without one the peer is anonymous.
    Optional,
    /// No client certificate is requested.
    None,
}

impl ClientCertMode {
    /// The snake_case spelling used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::Optional => "optional",
            Self::None => "none",
        }
    }
}

impl fmt::Display for ClientCertMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
