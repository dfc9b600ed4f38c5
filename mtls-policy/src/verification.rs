//! What the TLS layer reports about the peer's transport and certificate.

use std::fmt;

/// The transport and certificate-verification outcome of a connection, as seen by the TLS
/// layer (which loads the trust material and checks chains).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerVerification {
    /// The connection is not TLS.
    Plaintext,
    /// TLS without a client certificate.
    NoCertificate,
    /// The chain was verified by the CA bundle of the named trust domain.
    Verified {
        /// [`crate::TrustDomain::name`].
        trust_domain: String,
    },
    /// The certificate failed verification.
    Failed {
        /// The trust domain checked, when known.
        trust_domain: Option<String>,
        /// Why.
        error: VerifyError,
    },
}

impl PeerVerification {
    /// Shorthand for [`PeerVerification::Verified`].
    pub fn verified(trust_domain: impl Into<String>) -> Self {
        Self::Verified {
            trust_domain: trust_domain.into(),
        }
    }

    /// Shorthand for [`PeerVerification::Failed`].
    pub fn failed(trust_domain: Option<&str>, error: VerifyError) -> Self {
        Self::Failed {
            trust_domain: trust_domain.map(str::to_owned),
            error,
        }
    }
}

/// Why a certificate failed verification.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// No trusted CA issued the chain.
    UnknownIssuer,
    /// Past `notAfter`.
    Expired,
    /// Before `notBefore`.
    NotYetValid,
    /// On a CRL.
    Revoked {
        /// The CRL's reason code, when given (`keyCompromise`, ...).
        reason: Option<String>,
    },
    /// No CRL covers the certificate's issuer.
    RevocationUnknown,
    /// Every CRL covering the certificate is past its `nextUpdate` (and the grace the trust
    /// domain's [`NextUpdate`](crate::trust::NextUpdate) policy gives).
    CrlExpired,
    /// The extended key usage does not allow client authentication.
    BadEku,
    /// The chain is longer than allowed.
    ChainTooLong {
        /// Its depth, leaf included, when known.
        depth: Option<usize>,
    },
    /// A signature of the chain does not verify.
    BadSignature,
    /// Anything else.
    Other(String),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownIssuer => f.write_str("unknown issuer"),
            Self::Expired => f.write_str("expired"),
            Self::NotYetValid => f.write_str("not yet valid"),
            Self::Revoked { reason: Some(r) } => write!(f, "revoked ({r})"),
            Self::Revoked { reason: None } => f.write_str("revoked"),
            Self::RevocationUnknown => f.write_str("revocation status unknown"),
            Self::CrlExpired => f.write_str(
                "CRL expired: every CRL of the certificate's issuer is past its nextUpdate, which \
                 the trust domain enforces",
            ),
            Self::BadEku => f.write_str("extended key usage does not allow client auth"),
            Self::ChainTooLong { depth: Some(d) } => write!(f, "chain too long ({d})"),
            Self::ChainTooLong { depth: None } => f.write_str("chain too long"),
            Self::BadSignature => f.write_str("bad signature"),
            Self::Other(m) => f.write_str(m),
        }
    }
}

impl VerifyError {
    /// The deny code a policy gives this failure (`unknown_issuer`, `revoked`, ...).
    pub fn code(&self) -> crate::DenyCode {
        use crate::DenyCode;
        match self {
            Self::UnknownIssuer => DenyCode::UnknownIssuer,
            Self::Expired => DenyCode::Expired,
            Self::NotYetValid => DenyCode::NotYetValid,
            Self::Revoked { .. } => DenyCode::Revoked,
            Self::RevocationUnknown => DenyCode::RevocationUnknown,
            Self::CrlExpired => DenyCode::CrlExpired,
            Self::BadEku => DenyCode::BadEku,
            Self::ChainTooLong { .. } => DenyCode::ChainTooLong,
            Self::BadSignature => DenyCode::BadSignature,
            Self::Other(_) => DenyCode::InvalidCertificate,
        }
    }
}
