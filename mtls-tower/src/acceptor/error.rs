//! Why a connection was not accepted.

use std::io;
use std::time::Duration;

use mtls_policy::DenyCode;

use crate::sources::SourceLimited;

/// Why a connection was not accepted. Each carries what a log line needs; the acceptor also
/// counts them (`mtls_accept_failures_total{reason}`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcceptError {
    /// More handshakes were in flight than allowed; the connection was shed at once.
    #[error("shed: {0} handshakes already in flight")]
    Overloaded(usize),
    /// The handshake (or the wait for the first byte) took longer than allowed.
    #[error("handshake not complete after {0:?}")]
    Timeout(Duration),
    /// A plaintext connection on a STRICT listener.
    #[error("plaintext connection refused: the listener is STRICT (mTLS only)")]
    PlaintextRefused,
    /// The client closed the connection before sending anything.
    #[error("connection closed before the first byte")]
    Closed,
    /// The ClientHello named a host this listener does not serve, and unknown names are refused.
    #[error("no host for SNI {0:?}")]
    UnknownSni(Option<String>),
    /// The TLS handshake failed (bad ClientHello, no common parameters, client certificate
    /// rejected: the alert was sent to the client).
    #[error("TLS handshake failed: {0}")]
    Handshake(#[source] io::Error),
    /// The client certificate ended the handshake: missing where required, or refused with
    /// the alert the policy answers `reason` with (the alert was sent to the client).
    #[error("client certificate refused ({reason}): {source}")]
    CertificateRefused {
        /// Why, in the vocabulary of the layer's denials.
        reason: DenyCode,
        /// The handshake's error.
        #[source]
        source: io::Error,
    },
    /// A socket error.
    #[error("socket error: {0}")]
    Io(#[source] io::Error),
    /// The client's address is over its per-source limits
    /// ([`with_source_limits`](crate::Acceptor::with_source_limits)); closed before any TLS work.
    #[error("source over its limit: {0}")]
    SourceLimited(#[source] SourceLimited),
}

impl AcceptError {
    /// A stable snake_case code for logs and metric labels: a refused certificate and
    /// plaintext on a STRICT listener by their [`DenyCode`] (`no_certificate`, `revoked`,
    /// `plaintext_not_allowed`, ...), as the layer counts its denials; the other causes by
    /// their own name (`handshake` for a handshake that failed for another cause).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Overloaded(_) => "overloaded",
            Self::Timeout(_) => "timeout",
            Self::PlaintextRefused => DenyCode::PlaintextNotAllowed.as_str(),
            Self::Closed => "closed",
            Self::UnknownSni(_) => "unknown_sni",
            Self::Handshake(_) => "handshake",
            Self::CertificateRefused { reason, .. } => reason.as_str(),
            Self::Io(_) => "io",
            Self::SourceLimited(SourceLimited::Connections(_)) => "source_connections",
            Self::SourceLimited(SourceLimited::HandshakeRate(_)) => "source_handshake_rate",
            Self::SourceLimited(SourceLimited::TableFull(_)) => "source_table_full",
        }
    }
}
