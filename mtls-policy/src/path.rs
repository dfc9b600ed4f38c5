//! Request paths: the one normalisation and the one route matcher.
//!
//! A request is matched on its path in normal form, and that same path is what a proxy
//! forwards, so what was authorised is what the upstream serves. [`normalize_path`]:
//!
//! - the query is never part of the path (give the path alone);
//! - percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded, other
//!   escapes keep their encoding with uppercase hex (`%7e` → `~`, `%3a` → `%3A`);
//! - repeated slashes are merged (`//a///b` → `/a/b`);
//! - dot segments are removed (RFC 3986 section 5.2.4: `/a/./b/../c` → `/a/c`), after decoding,
//!   so `%2e%2e` is `..`; `..` at the root stays at the root;
//! - refused as ambiguous (an upstream could read them either way): an encoded slash or
//!   backslash (`%2F`, `%5C`), a raw backslash, a malformed escape (`%zz`, `%4`), a path that
//!   does not start with `/`.
//!
//! Routes match paths in normal form ([`PathMatch`]): a prefix on segment boundaries
//! (`/api` matches `/api`, `/api/` and `/api/x`, never `/apix`), or an exact path. Among a
//! host's routes an exact match wins, then the longest prefix, then the first written.
//!
//! ```
//! use mtls_policy::path::{PathMatch, normalize_path};
//!
//! assert_eq!(normalize_path("/public/%2e%2e//admin").unwrap(), "/admin");
//! assert!(normalize_path("/a%2Fb").is_err());
//! assert!(PathMatch::prefix("/api")?.matches("/api/users"));
//! assert!(!PathMatch::prefix("/api")?.matches("/apix"));
//! # Ok::<(), mtls_policy::path::PathError>(())
//! ```

use std::borrow::Cow;
use std::fmt;

use crate::FastMap;

/// Why a path is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path does not start with `/` (authority-form, asterisk-form or empty).
    #[error("the path {0:?} does not start with `/`")]
    NotAbsolute(String),
    /// An encoded `/` or `\` (`%2F`, `%5C`): one segment or two, depending on who decodes.
    #[error("the path {0:?} has an encoded slash or backslash")]
    EncodedSlash(String),
    /// A raw `\`: a separator for some servers, a character for others.
    #[error("the path {0:?} has a backslash")]
    Backslash(String),
    /// A `%` not followed by two hex digits.
    #[error("the path {0:?} has a malformed percent-encoding")]
    BadEscape(String),
    /// A configured path that is not in normal form: it would not mean what it says.
    #[error("the path {path:?} is not in normal form (write {normal:?})")]
    NotNormal {
        /// The path as written.
        path: String,
        /// Its normal form.
        normal: String,
    },
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Whether `path` is certainly in normal form, by a quick scan (the common case).
fn plainly_normal(path: &[u8]) -> bool {
    let mut prev = 0u8;
    for &b in path {
        match b {
            b'%' | b'\\' => return false,
            b'/' if prev == b'/' => return false,
            b'.' if prev == b'/' => return false,
            _ => {}
        }
        prev = b;
    }
    true
}

/// The path in normal form (see the module doc), borrowed when already normal.
pub fn normalize_path(path: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute(path.to_owned()));
    }
    if plainly_normal(bytes) {
        return Ok(Cow::Borrowed(path));
    }
    // Decode: unreserved characters become literal; other escapes stay, uppercased.
    let mut decoded = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let pair = (bytes.get(i + 1).copied(), bytes.get(i + 2).copied());
                let (Some(h), Some(l)) = (pair.0.and_then(hex), pair.1.and_then(hex)) else {
                    return Err(PathError::BadEscape(path.to_owned()));
                };
                let c = h * 16 + l;
                if c == b'/' || c == b'\\' {
                    return Err(PathError::EncodedSlash(path.to_owned()));
                }
                if unreserved(c) {
                    decoded.push(char::from(c));
                } else {
                    decoded.push('%');
                    decoded.push(char::from(b"0123456789ABCDEF"[usize::from(h)]));
                    decoded.push(char::from(b"0123456789ABCDEF"[usize::from(l)]));
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash(path.to_owned())),
            _ => {
                // Copy up to the next byte that needs attention, as a whole UTF-8 run.
                let end = bytes[i..]
                    .iter()
                    .position(|&b| b == b'%' || b == b'\\')
                    .map_or(bytes.len(), |n| i + n);
                decoded.push_str(&path[i..end]);
                i = end;
            }
        }
    }
    // Merge slashes and remove dot segments.
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = decoded[1..].split('/').collect();
    let last = segments.len() - 1;
    let mut trailing_slash = false;
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "" | "." => trailing_slash = i == last,
            ".." => {
                out.pop();
                trailing_slash = i == last;
            }
            s => {
                out.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut normal = String::with_capacity(decoded.len());
    for s in &out {
        normal.push('/');
        normal.push_str(s);
    }
    if trailing_slash || normal.is_empty() {
        normal.push('/');
    }
    Ok(if normal == path {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(normal)
    })
}

/// How a route matches a path in normal form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum PathMatch {
    /// The path or anything under it, on segment boundaries. Kept without its trailing `/`
    /// (`/api/` is `/api`; `/` is the empty prefix and matches every path).
    Prefix(String),
    /// Exactly this path.
    Exact(String),
}

impl PathMatch {
    /// A prefix match; the prefix must be a path in normal form (a trailing `/` is allowed
    /// and ignored).
    pub fn prefix(prefix: &str) -> Result<Self, PathError> {
        let normal = checked(prefix)?;
        Ok(Self::Prefix(normal.trim_end_matches('/').to_owned()))
    }

    /// An exact match; the path must be in normal form.
    pub fn exact(path: &str) -> Result<Self, PathError> {
        Ok(Self::Exact(checked(path)?.into_owned()))
    }

    /// Whether `path` (in normal form) matches.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            Self::Exact(p) => p == path,
            Self::Prefix(p) => path
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
        }
    }
}

/// A configured path must already be normal: a route written `/api/../admin` would not mean
/// what it says.
fn checked(path: &str) -> Result<Cow<'_, str>, PathError> {
    let normal = normalize_path(path)?;
    if normal != path && normal.trim_end_matches('/') != path.trim_end_matches('/') {
        return Err(PathError::NotNormal {
            path: path.to_owned(),
            normal: normal.into_owned(),
        });
    }
    Ok(normal)
}

impl fmt::Debug for PathMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for PathMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Prefix(p) if p.is_empty() => f.write_str("prefix /"),
            Self::Prefix(p) => write!(f, "prefix {p}"),
            Self::Exact(p) => write!(f, "exact {p}"),
        }
    }
}

/// One host's routes, for lookup in time independent of their number: an exact match, else
/// the longest prefix (one hash probe per segment of the path), else none. Of two identical
/// matches the first inserted wins.
#[derive(Clone, Debug, Default)]
pub struct PathTable {
    exact: FastMap<Box<str>, usize>,
    prefix: FastMap<Box<str>, usize>,
}

impl PathTable {
    /// Adds a route's match with its value (a route index); `false` when an identical match
    /// was inserted before (that one keeps the path).
    pub fn insert(&mut self, path: &PathMatch, value: usize) -> bool {
        let (map, key) = match path {
            PathMatch::Exact(p) => (&mut self.exact, p),
            PathMatch::Prefix(p) => (&mut self.prefix, p),
        };
        let mut fresh = false;
        map.entry(key.as_str().into()).or_insert_with(|| {
            fresh = true;
            value
        });
        fresh
    }

    /// The value of the route matching `path` (in normal form).
    pub fn lookup(&self, path: &str) -> Option<usize> {
        if let Some(&v) = self.exact.get(path) {
            return Some(v);
        }
        if self.prefix.is_empty() {
            return None;
        }
        // The path itself (without a trailing `/`), then each shorter segment boundary.
        let mut candidate = path.strip_suffix('/').unwrap_or(path);
        loop {
            if let Some(&v) = self.prefix.get(candidate) {
                return Some(v);
            }
            candidate = &candidate[..candidate.rfind('/')?];
        }
    }
}
