//! SPIFFE IDs (`spiffe://trust-domain/path`), validated per the SPIFFE ID and X509-SVID specs.

/// A valid SPIFFE ID.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpiffeId {
    id: String,
    /// Length of `spiffe://` + trust domain, i.e. where the path starts.
    path_start: usize,
}

impl SpiffeId {
    /// The whole ID, e.g. `spiffe://cluster.local/ns/default/sa/web`.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// The trust domain, e.g. `cluster.local`.
    pub fn trust_domain(&self) -> &str {
        &self.id["spiffe://".len()..self.path_start]
    }

    /// The path, e.g. `/ns/default/sa/web`; empty for the trust domain's own ID.
    pub fn path(&self) -> &str {
        &self.id[self.path_start..]
    }
}

/// Why a string or certificate is not a valid SPIFFE ID / X509-SVID.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpiffeIdError {
    /// The scheme is not exactly `spiffe://` (lowercase).
    #[error("scheme is not spiffe://")]
    WrongScheme,
    /// The trust domain is empty.
    #[error("empty trust domain")]
    EmptyTrustDomain,
    /// The trust domain holds a character other than lowercase letters, digits, `.`, `-`, `_`.
    #[error("trust domain has invalid character {0:?}")]
    BadTrustDomainChar(char),
    /// A path segment is empty (`//` or a trailing `/`).
    #[error("empty path segment")]
    EmptySegment,
    /// A path segment is `.` or `..`.
    #[error("path segment {0:?} is not allowed")]
    DotSegment(String),
    /// The path holds a character other than letters, digits, `.`, `-`, `_`.
    #[error("path has invalid character {0:?}")]
    BadPathChar(char),
    /// The ID is longer than 2048 bytes.
    #[error("longer than 2048 bytes")]
    TooLong,
    /// A certificate carries more than one `spiffe://` URI SAN.
    #[error("{0} spiffe:// URI SANs, an X509-SVID has exactly one")]
    MultipleSpiffeUris(usize),
}
