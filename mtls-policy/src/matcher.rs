//! String matchers, compiled once into sets whose lookup cost does not grow with the number of
//! patterns.
//!
//! | pattern | compiled into | lookup |
//! |---|---|---|
//! | `exact` | hash set | one hash |
//! | `prefix` ending with `.` `/` `:` `@` | hash set, by length | one hash per separator of the value where a pattern of that length ends |
//! | other `prefix` | sorted, prefix-free table | one binary search |
//! | `suffix` starting with `.` `/` `:` `@` | hash set, by length | one hash per separator of the value where a pattern of that length starts |
//! | other `suffix` | table sorted by reversed bytes, suffix-free | one binary search |
//! | `wildcard` (`*.example.com`) | hash set of parent domains | one hash |
//! | `contains` | one Aho-Corasick automaton | one scan of the value |
//! | `regex`, `glob` | one [`regex::RegexSet`] | one scan of the value |

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use aho_corasick::AhoCorasick;
use regex::{Regex, RegexSet, RegexSetBuilder};
use serde::{Deserialize, Serialize};

use crate::FastSet;

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

fn anchored(re: &str) -> String {
    format!("^(?:{re})$")
}

fn glob_to_regex(glob: &str) -> String {
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

fn wildcard_parent(p: &str) -> Option<&str> {
    let parent = p.strip_prefix("*.")?;
    (!parent.is_empty() && !parent.contains('*') && !parent.starts_with('.')).then_some(parent)
}

fn one_label_then(value: &str) -> Option<&str> {
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
    /// [`StringSet`] compiles. Invalid patterns match nothing.
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

fn rev_cmp(a: &str, b: &str) -> Ordering {
    a.bytes().rev().cmp(b.bytes().rev())
}

/// Where a prefix may end or a suffix may start to be looked up by hash: `.` (DNS labels),
/// `/` (URI paths, SPIFFE IDs), `:` (schemes, ports) and `@` (e-mail domains).
fn is_separator(b: u8) -> bool {
    matches!(b, b'.' | b'/' | b':' | b'@')
}

/// Prefixes that end (or suffixes that start) with a separator, in a hash set, with the
/// lengths they come in. A value is looked up only at its separators, and only where a
/// pattern of that length exists: a few hashes at most, whatever the number of patterns
/// (a sorted table would take a binary search, which grows with it).
#[derive(Clone, Debug, Default)]
struct Segments {
    set: FastSet<Box<str>>,
    /// `lengths[n]`: a pattern of `n` bytes exists.
    lengths: Vec<bool>,
}

impl Segments {
    fn insert(&mut self, pattern: Box<str>) {
        let n = pattern.len();
        if self.lengths.len() <= n {
            self.lengths.resize(n + 1, false);
        }
        self.lengths[n] = true;
        self.set.insert(pattern);
    }

    fn has_length(&self, n: usize) -> bool {
        self.lengths.get(n).copied().unwrap_or(false)
    }

    /// Whether a pattern is a prefix of `value`: one ends at a separator of `value`, at a
    /// length some pattern has (only the first `lengths.len()` bytes can qualify).
    fn matches_prefix_of(&self, value: &str) -> bool {
        if self.set.is_empty() {
            return false;
        }
        let window = value.len().min(self.lengths.len());
        value.as_bytes()[..window]
            .iter()
            .enumerate()
            .any(|(i, &b)| {
                is_separator(b) && self.has_length(i + 1) && self.set.contains(&value[..=i])
            })
    }

    /// Whether a pattern is a suffix of `value`: one starts at a separator of `value`, at a
    /// length some pattern has (only the last `lengths.len()` bytes can qualify).
    fn matches_suffix_of(&self, value: &str) -> bool {
        if self.set.is_empty() {
            return false;
        }
        let start = value.len().saturating_sub(self.lengths.len());
        value.as_bytes()[start..].iter().enumerate().any(|(i, &b)| {
            let at = start + i;
            is_separator(b) && self.has_length(value.len() - at) && self.set.contains(&value[at..])
        })
    }
}

/// Files a prefix (or suffix) whose inner `edge` (its last, or first, byte) is a separator in
/// `segments`, any other in `table`.
fn file_by_edge(
    pattern: Box<str>,
    edge: Option<u8>,
    segments: &mut Segments,
    table: &mut Vec<Box<str>>,
) {
    if edge.is_some_and(is_separator) {
        segments.insert(pattern);
    } else {
        table.push(pattern);
    }
}

/// A compiled set of [`StringMatch`] patterns: `is_match` answers whether any pattern matches,
/// at a cost that does not grow with the number of patterns (see the module table).
#[derive(Clone, Debug, Default)]
pub struct StringSet {
    fold: bool,
    len: usize,
    exact: FastSet<Box<str>>,
    /// Prefixes ending with a separator (`/api/`, `spiffe://td/ns/`), hashed.
    prefix_segments: Segments,
    /// The other prefixes, sorted and prefix-free.
    prefixes: Vec<Box<str>>,
    /// Suffixes starting with a separator (`.example.com`, `@example.com`), hashed.
    suffix_segments: Segments,
    /// The other suffixes, sorted by reversed bytes and suffix-free.
    suffixes: Vec<Box<str>>,
    wildcard_parents: FastSet<Box<str>>,
    contains: Option<AhoCorasick>,
    regex: Option<RegexSet>,
}

impl StringSet {
    /// Compiles patterns. With [`Case::Insensitive`] every pattern ignores ASCII case.
    pub fn new<'a>(
        patterns: impl IntoIterator<Item = &'a StringMatch>,
        case: Case,
    ) -> Result<Self, PatternError> {
        let fold = case == Case::Insensitive;
        let norm = |s: &str| -> Box<str> {
            if fold {
                s.to_ascii_lowercase().into()
            } else {
                s.into()
            }
        };
        let mut set = Self {
            fold,
            ..Self::default()
        };
        let (mut contains, mut regexes) = (Vec::new(), Vec::new());
        for p in patterns {
            p.validate()?;
            set.len += 1;
            match p {
                StringMatch::Exact(s) => {
                    set.exact.insert(norm(s));
                }
                StringMatch::Prefix(s) => {
                    let s = norm(s);
                    let edge = s.bytes().next_back();
                    file_by_edge(s, edge, &mut set.prefix_segments, &mut set.prefixes);
                }
                StringMatch::Suffix(s) => {
                    let s = norm(s);
                    let edge = s.bytes().next();
                    file_by_edge(s, edge, &mut set.suffix_segments, &mut set.suffixes);
                }
                StringMatch::Contains(s) => contains.push(norm(s)),
                StringMatch::Wildcard(s) => {
                    if let Some(parent) = wildcard_parent(s) {
                        set.wildcard_parents
                            .insert(parent.to_ascii_lowercase().into());
                    }
                }
                StringMatch::Regex(s) => regexes.push(anchored(s)),
                StringMatch::Glob(s) => regexes.push(anchored(&glob_to_regex(s))),
            }
        }
        set.prefixes.sort_unstable();
        set.prefixes
            .dedup_by(|later, kept| later.starts_with(&**kept));
        set.suffixes.sort_unstable_by(|a, b| rev_cmp(a, b));
        set.suffixes
            .dedup_by(|later, kept| later.ends_with(&**kept));
        if !contains.is_empty() {
            let ac = AhoCorasick::new(contains.iter().map(|s| s.as_bytes()))
                .map_err(|e| PatternError::SetTooLarge(e.to_string()))?;
            set.contains = Some(ac);
        }
        if !regexes.is_empty() {
            let rs = RegexSetBuilder::new(&regexes)
                .case_insensitive(fold)
                .size_limit(1 << 30)
                .dfa_size_limit(64 << 20)
                .build()
                .map_err(|e| PatternError::SetTooLarge(e.to_string()))?;
            set.regex = Some(rs);
        }
        Ok(set)
    }

    /// How many patterns were compiled.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set has no pattern (and so matches nothing).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether any pattern matches the value.
    pub fn is_match(&self, value: &str) -> bool {
        if self.len == 0 {
            return false;
        }
        let v: Cow<'_, str> = if self.fold && value.bytes().any(|b| b.is_ascii_uppercase()) {
            value.to_ascii_lowercase().into()
        } else {
            value.into()
        };
        let v = &*v;
        if self.exact.contains(v) {
            return true;
        }
        if self.prefix_segments.matches_prefix_of(v) || self.suffix_segments.matches_suffix_of(v) {
            return true;
        }
        if !self.prefixes.is_empty() {
            let i = self.prefixes.partition_point(|p| &**p <= v);
            if i > 0 && v.starts_with(&*self.prefixes[i - 1]) {
                return true;
            }
        }
        if !self.suffixes.is_empty() {
            let i = self
                .suffixes
                .partition_point(|p| rev_cmp(p, v) != Ordering::Greater);
            if i > 0 && v.ends_with(&*self.suffixes[i - 1]) {
                return true;
            }
        }
        if !self.wildcard_parents.is_empty() {
            if let Some(parent) = one_label_then(v) {
                let parent: Cow<'_, str> = if parent.bytes().any(|b| b.is_ascii_uppercase()) {
                    parent.to_ascii_lowercase().into()
                } else {
                    parent.into()
                };
                if self.wildcard_parents.contains(&*parent) {
                    return true;
                }
            }
        }
        if self.contains.as_ref().is_some_and(|ac| ac.is_match(v)) {
            return true;
        }
        self.regex.as_ref().is_some_and(|rs| rs.is_match(v))
    }
}

#[cfg(test)]
#[path = "matcher_tests.rs"]
mod tests;
