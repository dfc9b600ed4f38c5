//! SPIFFE IDs (`spiffe://trust-domain/path`), validated per the SPIFFE ID and X509-SVID specs.

use std::fmt;
use std::str::FromStr;

/// The scheme every SPIFFE ID starts with, exactly (lowercase).
const SCHEME: &str = "spiffe://";

/// The longest SPIFFE ID accepted, in bytes (SPIFFE ID spec, "Maximum SPIFFE ID Length").
pub const MAX_SPIFFE_ID_LEN: usize = 2048;

/// A valid SPIFFE ID.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpiffeId {
    id: String,
    /// Length of `spiffe://` + trust domain, i.e. where the path starts.
    path_start: usize,
}

impl SpiffeId {
    /// Parses and validates a SPIFFE ID as the SPIFFE ID spec defines it.
    ///
    /// - the scheme is exactly `spiffe://` (lowercase);
    /// - the trust domain is non-empty and holds only lowercase letters, digits, `.`, `-` and
    ///   `_` (so no port, no userinfo, no uppercase);
    /// - the path is empty or `/segment/segment...`, every segment non-empty, not `.` or `..`,
    ///   and made of letters, digits, `.`, `-` and `_` (so no trailing `/`, no query, no
    ///   fragment, no percent-encoding);
    /// - the whole ID is at most 2048 bytes.
    ///
    /// ```
    /// use mtls_core::SpiffeId;
    ///
    /// let id = SpiffeId::parse("spiffe://cluster.local/ns/default/sa/web").unwrap();
    /// assert_eq!(id.trust_domain(), "cluster.local");
    /// assert_eq!(id.path(), "/ns/default/sa/web");
    ///
    /// assert!(SpiffeId::parse("spiffe://Cluster.local/ns").is_err());
    /// assert!(SpiffeId::parse("spiffe://cluster.local/ns/").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Self, SpiffeIdError> {
        if s.is_empty() {
            return Err(SpiffeIdError::Empty);
        }
        if s.len() > MAX_SPIFFE_ID_LEN {
            return Err(SpiffeIdError::TooLong(s.len()));
        }
        let rest = s.strip_prefix(SCHEME).ok_or(SpiffeIdError::WrongScheme)?;
        let td_len = rest.find('/').unwrap_or(rest.len());
        let (trust_domain, path) = rest.split_at(td_len);
        if trust_domain.is_empty() {
            return Err(SpiffeIdError::EmptyTrustDomain);
        }
        if let Some(c) = trust_domain.chars().find(|&c| !is_trust_domain_char(c)) {
            return Err(SpiffeIdError::BadTrustDomainChar(c));
        }
        if let Some(segments) = path.strip_prefix('/') {
            let count = segments.split('/').count();
            for (i, segment) in segments.split('/').enumerate() {
                if let Some(c) = segment.chars().find(|&c| !is_path_char(c)) {
                    return Err(SpiffeIdError::BadPathChar(c));
                }
                match segment {
                    "" if i + 1 == count => return Err(SpiffeIdError::TrailingSlash),
                    "" => return Err(SpiffeIdError::EmptySegment),
                    "." | ".." => return Err(SpiffeIdError::DotSegment(segment.to_owned())),
                    _ => {}
                }
            }
        }
        Ok(Self {
            id: s.to_owned(),
            path_start: SCHEME.len() + td_len,
        })
    }

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

fn is_trust_domain_char(c: char) -> bool {
    matches!(c, 'a'..='z' | '0'..='9' | '.' | '-' | '_')
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}

impl FromStr for SpiffeId {
    type Err = SpiffeIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for SpiffeId {
    type Error = SpiffeIdError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

impl AsRef<str> for SpiffeId {
    fn as_ref(&self) -> &str {
        &self.id
    }
}

/// Why a string or certificate is not a valid SPIFFE ID / X509-SVID.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpiffeIdError {
    /// The string is empty.
    #[error("empty SPIFFE ID")]
    Empty,
    /// The scheme is not exactly `spiffe://` (lowercase).
    #[error("scheme is not spiffe:// (exactly, lowercase)")]
    WrongScheme,
    /// The trust domain is empty.
    #[error("empty trust domain")]
    EmptyTrustDomain,
    /// The trust domain holds a character other than lowercase letters, digits, `.`, `-`, `_`
    /// (this includes the `:` of a port, the `@` of userinfo, `?`, `#` and `%`).
    #[error(
        "trust domain has invalid character {0:?} (allowed: lowercase letters, digits, '.', '-', '_')"
    )]
    BadTrustDomainChar(char),
    /// A path segment is empty (`//`).
    #[error("empty path segment")]
    EmptySegment,
    /// The path ends with `/`.
    #[error("path has a trailing '/'")]
    TrailingSlash,
    /// A path segment is `.` or `..`.
    #[error("path segment {0:?} is not allowed")]
    DotSegment(String),
    /// The path holds a character other than letters, digits, `.`, `-`, `_` (this includes
    /// `?` of a query, `#` of a fragment and `%` of percent-encoding).
    #[error("path has invalid character {0:?} (allowed: letters, digits, '.', '-', '_')")]
    BadPathChar(char),
    /// The ID is longer than 2048 bytes; holds the length.
    #[error("{0} bytes long, longer than the 2048 allowed")]
    TooLong(usize),
    /// A certificate carries more than one `spiffe://` URI SAN.
    #[error("{0} spiffe:// URI SANs, an X509-SVID has exactly one")]
    MultipleSpiffeUris(usize),
}
