//! Why a peer is denied: typed reasons with stable snake_case codes.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::mode::PeerMode;
use crate::verification::VerifyError;

/// The stable code of a [`DenyReason`], for log fields, metric labels and the `answers` map of
/// the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DenyCode {
    /// No client certificate where one is required.
    NoCertificate,
    /// No trusted CA issued the chain.
    UnknownIssuer,
    /// Verified by a trust domain the host does not trust.
    UntrustedTrustDomain,
    /// The certificate is expired.
    Expired,
    /// The certificate is not yet valid.
    NotYetValid,
    /// The certificate is revoked.
    Revoked,
    /// No CRL covers the certificate.
    RevocationUnknown,
    /// The covering CRL is expired.
    CrlExpired,
    /// The EKU does not allow client auth.
    BadEku,
    /// The chain is too long.
    ChainTooLong,
    /// A signature does not verify.
    BadSignature,
    /// Any other verification failure.
    InvalidCertificate,
    /// No certificate or SPKI pin matches.
    PinMismatch,
    /// The identity is not in the route allow-list.
    IdentityNotAllowed,
    /// The trust domain may not vouch for the identity.
    IssuerNotAllowedForIdentity,
    /// Plaintext where mTLS is required.
    PlaintextNotAllowed,
    /// SNI and Host disagree.
    SniHostMismatch,
    /// No listener on the port.
    NoListener,
    /// The request's host name or path is malformed or ambiguous.
    BadRequest,
}

impl DenyCode {
    /// Every code, in declaration order.
    pub const ALL: [Self; 19] = [
        Self::NoCertificate,
        Self::UnknownIssuer,
        Self::UntrustedTrustDomain,
        Self::Expired,
        Self::NotYetValid,
        Self::Revoked,
        Self::RevocationUnknown,
        Self::CrlExpired,
        Self::BadEku,
        Self::ChainTooLong,
        Self::BadSignature,
        Self::InvalidCertificate,
        Self::PinMismatch,
        Self::IdentityNotAllowed,
        Self::IssuerNotAllowedForIdentity,
        Self::PlaintextNotAllowed,
        Self::SniHostMismatch,
        Self::NoListener,
        Self::BadRequest,
    ];

    /// The snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoCertificate => "no_certificate",
            Self::UnknownIssuer => "unknown_issuer",
            Self::UntrustedTrustDomain => "untrusted_trust_domain",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Revoked => "revoked",
            Self::RevocationUnknown => "revocation_unknown",
            Self::CrlExpired => "crl_expired",
            Self::BadEku => "bad_eku",
            Self::ChainTooLong => "chain_too_long",
            Self::BadSignature => "bad_signature",
            Self::InvalidCertificate => "invalid_certificate",
            Self::PinMismatch => "pin_mismatch",
            Self::IdentityNotAllowed => "identity_not_allowed",
            Self::IssuerNotAllowedForIdentity => "issuer_not_allowed_for_identity",
            Self::PlaintextNotAllowed => "plaintext_not_allowed",
            Self::SniHostMismatch => "sni_host_mismatch",
            Self::NoListener => "no_listener",
            Self::BadRequest => "bad_request",
        }
    }
}

impl std::str::FromStr for DenyCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = Self::ALL.iter().map(|c| c.as_str()).collect();
                format!(
                    "unknown deny code `{s}`, expected one of `{}`",
                    all.join("`, `")
                )
            })
    }
}

impl fmt::Display for DenyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a peer was denied, with the facts a human needs. `Display` is a sentence; [`code`]
/// is stable.
///
/// [`code`]: DenyReason::code
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenyReason {
    /// No client certificate under a `required` host.
    NoCertificate {
        /// The listener's name.
        listener: String,
    },
    /// The chain failed verification (unknown issuer, expired, revoked, ...).
    Verification {
        /// Why.
        error: VerifyError,
        /// The peer's subject, when known.
        subject: Option<String>,
        /// The certificate serial (hex), when known.
        serial: Option<String>,
    },
    /// The chain was verified by a trust domain this host does not trust.
    UntrustedTrustDomain {
        /// The domain the TLS layer reported.
        trust_domain: String,
        /// The listener's name.
        listener: String,
    },
    /// The certificate matches neither the certificate nor the SPKI pins.
    PinMismatch {
        /// SHA-256 of the certificate, hex.
        cert_sha256: String,
    },
    /// The identity is not in the route's allow-list (or the peer is anonymous).
    IdentityNotAllowed {
        /// The peer's identity label, `anonymous` without certificate.
        identity: String,
        /// The route's name or path prefix.
        route: String,
    },
    /// The trust domain's CAs may not vouch for this identity.
    IssuerNotAllowedForIdentity {
        /// The peer's identity label.
        identity: String,
        /// The trust domain that verified it.
        trust_domain: String,
    },
    /// Plaintext on a port whose mode requires mTLS.
    PlaintextNotAllowed {
        /// The port.
        port: u16,
        /// The effective mode (`STRICT`) or `TLS-only listener`.
        mode: Option<PeerMode>,
    },
    /// The TLS SNI and the HTTP Host name different hosts.
    SniHostMismatch {
        /// The SNI.
        sni: String,
        /// The Host header (port stripped).
        host: String,
    },
    /// No listener is configured on the port, or none of its hosts serves the name.
    NoListener {
        /// The port.
        port: u16,
        /// The SNI or Host asked for, when the port has a listener.
        host: Option<String>,
    },
    /// The request's host name or path is malformed or ambiguous (see
    /// [`crate::host`] and [`crate::path`]): refused rather than guessed.
    BadRequest {
        /// What is wrong.
        detail: String,
    },
}

impl DenyReason {
    /// The typed code.
    pub fn kind(&self) -> DenyCode {
        match self {
            Self::NoCertificate { .. } => DenyCode::NoCertificate,
            Self::Verification { error, .. } => error.code(),
            Self::UntrustedTrustDomain { .. } => DenyCode::UntrustedTrustDomain,
            Self::PinMismatch { .. } => DenyCode::PinMismatch,
            Self::IdentityNotAllowed { .. } => DenyCode::IdentityNotAllowed,
            Self::IssuerNotAllowedForIdentity { .. } => DenyCode::IssuerNotAllowedForIdentity,
            Self::PlaintextNotAllowed { .. } => DenyCode::PlaintextNotAllowed,
            Self::SniHostMismatch { .. } => DenyCode::SniHostMismatch,
            Self::NoListener { .. } => DenyCode::NoListener,
            Self::BadRequest { .. } => DenyCode::BadRequest,
        }
    }

    /// The stable snake_case code (`revoked`, `identity_not_allowed`, ...).
    pub fn code(&self) -> &'static str {
        self.kind().as_str()
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCertificate { listener } => {
                write!(
                    f,
                    "no client certificate presented; listener {listener} requires one"
                )
            }
            Self::Verification {
                error,
                subject,
                serial,
            } => {
                write!(f, "client certificate {error}")?;
                if let Some(s) = subject {
                    write!(f, ": subject {s}")?;
                }
                if let Some(s) = serial {
                    write!(f, ", serial {s}")?;
                }
                Ok(())
            }
            Self::UntrustedTrustDomain {
                trust_domain,
                listener,
            } => write!(
                f,
                "client certificate verified by trust domain {trust_domain}, which listener {listener} does not trust"
            ),
            Self::PinMismatch { cert_sha256 } => {
                write!(f, "client certificate sha256 {cert_sha256} matches no pin")
            }
            Self::IdentityNotAllowed { identity, route } => {
                write!(f, "{identity} not in allow-list of route {route}")
            }
            Self::IssuerNotAllowedForIdentity {
                identity,
                trust_domain,
            } => {
                write!(
                    f,
                    "trust domain {trust_domain} may not vouch for {identity}"
                )
            }
            Self::PlaintextNotAllowed {
                port,
                mode: Some(m),
            } => {
                write!(f, "plaintext connection on port {port}, whose mode is {m}")
            }
            Self::PlaintextNotAllowed { port, mode: None } => {
                write!(f, "plaintext connection on TLS-only port {port}")
            }
            Self::SniHostMismatch { sni, host } => {
                write!(f, "TLS server name {sni} does not match Host {host}")
            }
            Self::NoListener { port, host: None } => write!(f, "no listener on port {port}"),
            Self::NoListener {
                port,
                host: Some(h),
            } => {
                write!(f, "no host of the listener on port {port} serves {h:?}")
            }
            Self::BadRequest { detail } => write!(f, "malformed request: {detail}"),
        }
    }
}
