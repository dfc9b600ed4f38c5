//! One pattern ([`StringMatch`]): its YAML form, its validation ([`PatternError`]), and the
//! reference semantics of matching one value against it, which
//! [`StringSet`](super::StringSet) compiles for many patterns at once.

use std::borrow::Cow;
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// One way of matching a string value (a SAN, a common name, a subject, a SPIFFE path).
///
/// In YAML: `{ exact: web }`, `{ prefix: "spiffe://cluster.local/ns/prod/" }`,
/// `{ suffix: ".example.com" }`, `{ contains: "-canary-" }`, `{ regex: "client-[0-9]+" }`,
/// `{ wildcard: "*.example.com" }`, `{ glob: "client-*.example.com" }`.
///
/// ```
/// use mtls_policy::{Case, StringMatch};
/// let m: StringMatch = "*.example.com".parse::<StringMatch>().unwrap_or_else(|_| unreachable!());
/// assert!(m.is_match("api.example.com", Case::Insensitive));
/// assert!(!m.is_match("a.b.example.com", Case::Insensitive));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "StringMatchRepr", into = "StringMatchRepr")]
#[non_exhaustive]
pub enum StringMatch {
    /// The whole value equals the pattern.
    Exact(String),
    /// The value starts with the pattern.
    Prefix(String),
    /// The value ends with the pattern.
    Suffix(String),
    /// The value contains the pattern.
    Contains(String),
    /// The whole value matches the regular expression (Rust `regex` syntax, anchored at both
    /// ends like Envoy's `safe_regex`).
    Regex(String),
    /// `*.parent`: exactly one non-empty label (no `.`) followed by `.parent`. DNS matching,
    /// always ASCII case-insensitive.
    Wildcard(String),
    /// The whole value matches a glob: `*` any run of characters, `?` one character.
    Glob(String),
}

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StringMatchRepr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    suffix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wildcard: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    glob: Option<String>,
}

/// Why a pattern is not valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// The regular expression does not compile.
    #[error("invalid regex {pattern:?}: {message}")]
    Regex {
        /// The pattern as written.
        pattern: String,
        /// The regex crate's explanation.
        message: String,
    },
    /// A wildcard is not of the form `*.parent.domain`.
    #[error("invalid wildcard {0:?}: expected `*.` followed by a domain without `*`")]
    Wildcard(String),
    /// The combined regex set is too large.
    #[error("regex set too large: {0}")]
    SetTooLarge(String),
}

impl TryFrom<StringMatchRepr> for StringMatch {
    type Error = String;
    fn try_from(r: StringMatchRepr) -> Result<Self, String> {
        let m = crate::one_of::exactly_one(vec![
            ("exact", r.exact.map(Self::Exact)),
            ("prefix", r.prefix.map(Self::Prefix)),
            ("suffix", r.suffix.map(Self::Suffix)),
            ("contains", r.contains.map(Self::Contains)),
            ("regex", r.regex.map(Self::Regex)),
            ("wildcard", r.wildcard.map(Self::Wildcard)),
            ("glob", r.glob.map(Self::Glob)),
        ])?;
        m.validate().map_err(|e| e.to_string())?;
        Ok(m)
    }
}

impl From<StringMatch> for StringMatchRepr {
    fn from(m: StringMatch) -> Self {
        match m {
            StringMatch::Exact(s) => Self {
                exact: Some(s),
                ..Self::default()
            },
            StringMatch::Prefix(s) => Self {
                prefix: Some(s),
                ..Self::default()
            },
            StringMatch::Suffix(s) => Self {
                suffix: Some(s),
                ..Self::default()
            },
            StringMatch::Contains(s) => Self {
                contains: Some(s),
                ..Self::default()
            },
            StringMatch::Regex(s) => Self {
                regex: Some(s),
                ..Self::default()
            },
            StringMatch::Wildcard(s) => Self {
                wildcard: Some(s),
                ..Self::default()
            },
            StringMatch::Glob(s) => Self {
                glob: Some(s),
                ..Self::default()
            },
        }
    }
}

impl std::str::FromStr for StringMatch {
    type Err = PatternError;
    /// `*.x` is a wildcard, anything else holding `*` or `?` a glob, the rest exact.
    fn from_str(s: &str) -> Result<Self, PatternError> {
        let m = if s.starts_with("*.") && !s[2..].contains(['*', '?']) {
            Self::Wildcard(s.to_owned())
        } else if s.contains(['*', '?']) {
            Self::Glob(s.to_owned())
        } else {
            Self::Exact(s.to_owned())
        };
        m.validate()?;
        Ok(m)
    }
}

impl fmt::Display for StringMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, p) = match self {
            Self::Exact(p) => ("exact", p),
            Self::Prefix(p) => ("prefix", p),
            Self::Suffix(p) => ("suffix", p),
            Self::Contains(p) => ("contains", p),
            Self::Regex(p) => ("regex", p),
            Self::Wildcard(p) => ("wildcard", p),
            Self::Glob(p) => ("glob", p),
        };
        write!(f, "{kind} {p:?}")
    }
}

/// Whether a match ignores ASCII case (DNS names) or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Case {
    /// Byte-exact comparison.
    Sensitive,
    /// ASCII letters compare equal regardless of case (DNS).
    Insensitive,
}

pub(super) fn anchored(re: &str) -> String {
    format!("^(?:{re})$")
}

pub(super) fn glob_to_regex(glob: &str) -> String {
    let mut re = String::with_capacity(glob.len() + 8);
    re.push_str("(?s)");
    for c in glob.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    re
}

pub(super) fn wildcard_parent(p: &str) -> Option<&str> {
    let parent = p.strip_prefix("*.")?;
    (!parent.is_empty() && !parent.contains('*') && !parent.starts_with('.')).then_some(parent)
}

pub(super) fn one_label_then(value: &str) -> Option<&str> {
    let (label, parent) = value.split_once('.')?;
    (!label.is_empty()).then_some(parent)
}

impl StringMatch {
    /// Checks the pattern itself (regex syntax, wildcard form).
    pub fn validate(&self) -> Result<(), PatternError> {
        match self {
            Self::Regex(p) => Regex::new(&anchored(p))
                .map(drop)
                .map_err(|e| PatternError::Regex {
                    pattern: p.clone(),
                    message: e.to_string(),
                }),
            Self::Wildcard(p) => wildcard_parent(p)
                .map(drop)
                .ok_or_else(|| PatternError::Wildcard(p.clone())),
            _ => Ok(()),
        }
    }

    /// Matches one value against this one pattern: the slow reference semantics that
    /// [`StringSet`](super::StringSet) compiles. Invalid patterns match nothing.
    pub fn is_match(&self, value: &str, case: Case) -> bool {
        let fold = case == Case::Insensitive;
        let (v, p): (Cow<'_, str>, Cow<'_, str>) = match self {
            Self::Exact(p) | Self::Prefix(p) | Self::Suffix(p) | Self::Contains(p) if fold => (
                value.to_ascii_lowercase().into(),
                p.to_ascii_lowercase().into(),
            ),
            Self::Exact(p) | Self::Prefix(p) | Self::Suffix(p) | Self::Contains(p) => {
                (value.into(), p.as_str().into())
            }
            Self::Regex(p) | Self::Glob(p) => {
                let re = match self {
                    Self::Glob(_) => glob_to_regex(p),
                    _ => p.clone(),
                };
                let re = if fold { format!("(?i){re}") } else { re };
                return Regex::new(&anchored(&re)).is_ok_and(|r| r.is_match(value));
            }
            Self::Wildcard(p) => {
                return match (wildcard_parent(p), one_label_then(value)) {
                    (Some(want), Some(got)) => want.eq_ignore_ascii_case(got),
                    _ => false,
                };
            }
        };
        match self {
            Self::Exact(_) => v == p,
            Self::Prefix(_) => v.starts_with(&*p),
            Self::Suffix(_) => v.ends_with(&*p),
            _ => v.contains(&*p),
        }
    }
}
