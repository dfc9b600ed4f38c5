//! Host names: the one normalisation and the one lookup (exact, `*.parent` wildcard, default)
//! that the TLS certificate selection, the decision and every other consumer share.
//!
//! A name is read the same way wherever it comes from (SNI, `Host`, HTTP/2 `:authority`, an
//! absolute-form request target, the configuration):
//!
//! - a `Host`/authority value loses its port (`api.example.com:8443`) and an IPv6 literal its
//!   brackets ([`host_without_port`]);
//! - ASCII letters are lowercased;
//! - one trailing dot is dropped (`api.example.com.` is the fully qualified form of the same
//!   name);
//! - anything ambiguous is refused rather than guessed: an empty label (`a..b`, `a.b..`, a
//!   leading dot), a character outside letters, digits, `-`, `_` and `.` (or hex digits and
//!   `:` for an IPv6 literal), or an empty name.
//!
//! ```
//! use mtls_policy::host::{HostIndex, normalize_host};
//!
//! assert_eq!(normalize_host("API.Example.com.").unwrap(), "api.example.com");
//! assert!(normalize_host("admin.example.com..").is_err());
//!
//! let index = HostIndex::new([vec!["api.example.com"], vec!["*.example.com"], vec![]])?;
//! assert_eq!(index.lookup(Some("api.example.com")), Some(0));
//! assert_eq!(index.lookup(Some("www.example.com")), Some(1));
//! assert_eq!(index.lookup(Some("example.org")), Some(2)); // the default host
//! assert_eq!(index.find("example.org"), None); // no default fallback
//! # Ok::<(), mtls_policy::host::HostNameError>(())
//! ```

use std::borrow::Cow;

use crate::FastMap;

/// Why a host name is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The name is empty.
    #[error("empty host name")]
    Empty,
    /// The name has an empty label (`a..b`, a leading dot, two trailing dots).
    #[error("host name {0:?} has an empty label")]
    EmptyLabel(String),
    /// The name has a character no host name has.
    #[error("host name {0:?} has a character other than letters, digits, `-`, `_` and `.`")]
    BadCharacter(String),
}

/// Why a set of host names cannot be indexed (the configuration's error names the field).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostNameError {
    /// A configured name is not a host name or a `*.parent` wildcard.
    #[error("{name:?} is not a host name or a `*.parent` wildcard: {cause}")]
    Invalid {
        /// The name as written.
        name: String,
        /// Why.
        cause: HostError,
    },
    /// Two hosts claim the same name.
    #[error("host name {0:?} is configured twice")]
    Duplicate(String),
    /// Two hosts have no names (each would be the default).
    #[error("two hosts have no `hostnames`: only one can be the default host")]
    TwoDefaults,
}

/// The host name of a `Host` header value or a URI authority's host: its port removed
/// (`api.example.com:8443` → `api.example.com`), and an IPv6 literal's brackets
/// (`[2001:db8::1]:8443` → `2001:db8::1`). Anything else is returned as it is.
///
/// ```
/// use mtls_policy::host_without_port;
///
/// assert_eq!(host_without_port("api.example.com:8443"), "api.example.com");
/// assert_eq!(host_without_port("[::1]:8443"), "::1");
/// assert_eq!(host_without_port("api.example.com"), "api.example.com");
/// ```
pub fn host_without_port(host: &str) -> &str {
    let bytes = host.as_bytes();
    if bytes.first() == Some(&b'[') {
        return match bytes.iter().position(|&b| b == b']') {
            Some(end) => &host[1..end],
            None => host,
        };
    }
    // Byte searches: this runs on every request, and `str`'s char patterns cost more.
    match bytes.iter().rposition(|&b| b == b':') {
        Some(colon)
            if !bytes[..colon].contains(&b':')
                && bytes[colon + 1..].iter().all(u8::is_ascii_digit) =>
        {
            &host[..colon]
        }
        _ => host,
    }
}

/// A host name (no port) in its one normal form: lowercase, without the trailing dot of a
/// fully qualified name. Borrowed when already normal (the usual case). See the module doc
/// for what is refused.
pub fn normalize_host(name: &str) -> Result<Cow<'_, str>, HostError> {
    if name.is_empty() {
        return Err(HostError::Empty);
    }
    // One pass over the bytes (this runs for every request): the characters, and an empty
    // label (a dot at the start or after a dot; one trailing dot is the FQDN form).
    let (mut upper, mut colon, mut dash) = (false, false, false);
    let mut after_dot = true;
    for &b in name.as_bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' => {}
            b'A'..=b'Z' => upper = true,
            b'-' | b'_' => dash = true,
            b':' => colon = true,
            b'.' if after_dot && !colon => return Err(HostError::EmptyLabel(name.to_owned())),
            b'.' => {}
            _ => return Err(HostError::BadCharacter(name.to_owned())),
        }
        after_dot = b == b'.';
    }
    // An IPv6 literal: hex digits, colons and dots (an IPv4 tail), nothing else.
    if colon && dash {
        return Err(HostError::BadCharacter(name.to_owned()));
    }
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    Ok(if upper {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    })
}

/// The normal form of a `Host` header value or an authority: [`host_without_port`], then
/// [`normalize_host`].
pub fn normalize_authority(value: &str) -> Result<Cow<'_, str>, HostError> {
    normalize_host(host_without_port(value.trim_ascii()))
}

/// Which hosts serve which names: exact names, then one-label `*.parent` wildcards, then the
/// default host (the one with no names). Built once from the configuration; a lookup costs
/// one or two hash probes, whatever the number of names.
#[derive(Clone, Debug, Default)]
pub struct HostIndex {
    exact: FastMap<Box<str>, usize>,
    wildcard: FastMap<Box<str>, usize>,
    default: Option<usize>,
    len: usize,
}

impl HostIndex {
    /// Indexes hosts given as their lists of names (exact names or `*.parent` wildcards, any
    /// case, a trailing dot allowed); a host with no names is the default. Host `i` is the
    /// `i`-th list.
    pub fn new<H, N, S>(hosts: H) -> Result<Self, HostNameError>
    where
        H: IntoIterator<Item = N>,
        N: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut index = Self::default();
        for (i, names) in hosts.into_iter().enumerate() {
            index.len = i + 1;
            let mut any = false;
            for name in names {
                any = true;
                let name = name.as_ref();
                let (wild, rest) = match name.strip_prefix("*.") {
                    Some(parent) => (true, parent),
                    None => (false, name),
                };
                let key = normalize_host(rest).map_err(|cause| HostNameError::Invalid {
                    name: name.to_owned(),
                    cause,
                })?;
                let map = if wild {
                    &mut index.wildcard
                } else {
                    &mut index.exact
                };
                if map.insert(key.into(), i).is_some() {
                    return Err(HostNameError::Duplicate(name.to_owned()));
                }
            }
            if !any && index.default.replace(i).is_some() {
                return Err(HostNameError::TwoDefaults);
            }
        }
        Ok(index)
    }

    /// The host that serves `name` (already normal: [`normalize_host`]) by an exact name or a
    /// wildcard; `None` when no name matches (the default host is not consulted).
    pub fn find(&self, name: &str) -> Option<usize> {
        if let Some(&i) = self.exact.get(name) {
            return Some(i);
        }
        match name.split_once('.') {
            Some((label, parent)) if !label.is_empty() => self.wildcard.get(parent).copied(),
            _ => None,
        }
    }

    /// The host that serves `name` (already normal), else the default host; with no name,
    /// the default host.
    pub fn lookup(&self, name: Option<&str>) -> Option<usize> {
        name.and_then(|n| self.find(n)).or(self.default)
    }

    /// The host with no names, if there is one.
    pub fn default_host(&self) -> Option<usize> {
        self.default
    }

    /// How many hosts were indexed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no host was indexed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_stripped() {
        for (raw, want) in [
            ("a.example", "a.example"),
            ("a.example:8443", "a.example"),
            ("a.example:", "a.example"),
            ("a.example:x1", "a.example:x1"),
            ("[::1]:443", "::1"),
            ("[::1]", "::1"),
            ("[::1", "[::1"),
            ("::1", "::1"),
            ("a:b", "a:b"),
            ("", ""),
        ] {
            assert_eq!(host_without_port(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn names_are_normalized_or_refused() {
        for (raw, want) in [
            ("a.example", Ok("a.example")),
            ("A.Example.", Ok("a.example")),
            ("a.example.", Ok("a.example")),
            ("10.0.0.1", Ok("10.0.0.1")),
            ("2001:DB8::1", Ok("2001:db8::1")),
            ("localhost", Ok("localhost")),
            ("under_score.example", Ok("under_score.example")),
            ("", Err(HostError::Empty)),
            (".", Err(HostError::EmptyLabel(".".into()))),
            (
                "a.example..",
                Err(HostError::EmptyLabel("a.example..".into())),
            ),
            (
                "a..example",
                Err(HostError::EmptyLabel("a..example".into())),
            ),
            (
                ".a.example",
                Err(HostError::EmptyLabel(".a.example".into())),
            ),
            (
                "a example",
                Err(HostError::BadCharacter("a example".into())),
            ),
            (
                "a.example/x",
                Err(HostError::BadCharacter("a.example/x".into())),
            ),
            (
                "*.example",
                Err(HostError::BadCharacter("*.example".into())),
            ),
            (
                "é.example",
                Err(HostError::BadCharacter("é.example".into())),
            ),
        ] {
            assert_eq!(
                normalize_host(raw).as_deref().map_err(Clone::clone),
                want,
                "{raw:?}"
            );
        }
        assert!(matches!(normalize_host("a.example"), Ok(Cow::Borrowed(_))));
        assert_eq!(normalize_authority("A.example.:8443").unwrap(), "a.example");
    }

    #[test]
    fn lookup_prefers_exact_then_wildcard_then_default() {
        let index = HostIndex::new([
            vec!["A.example.com."],
            vec!["*.example.com"],
            vec![],
            vec!["*.b.example.com"],
        ])
        .unwrap();
        assert_eq!(index.lookup(Some("a.example.com")), Some(0));
        assert_eq!(index.lookup(Some("x.example.com")), Some(1));
        assert_eq!(index.lookup(Some("x.y.example.com")), Some(2));
        assert_eq!(index.lookup(Some("x.b.example.com")), Some(3));
        assert_eq!(index.lookup(Some("example.com")), Some(2));
        assert_eq!(index.lookup(None), Some(2));
        assert_eq!(index.find("example.com"), None);
        assert_eq!(index.len(), 4);
    }

    #[test]
    fn bad_indexes_are_refused_with_the_name() {
        let dup = HostIndex::new([vec!["a.example"], vec!["A.example."]]).unwrap_err();
        assert_eq!(dup, HostNameError::Duplicate("A.example.".into()));
        let two: [Vec<&str>; 2] = [vec![], vec![]];
        assert_eq!(HostIndex::new(two).unwrap_err(), HostNameError::TwoDefaults);
        let bad = HostIndex::new([vec!["a..example"]]).unwrap_err();
        assert_eq!(
            bad.to_string(),
            "\"a..example\" is not a host name or a `*.parent` wildcard: host name \"a..example\" has an empty label"
        );
    }
}
