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

mod pattern;
mod segments;

use std::borrow::Cow;
use std::cmp::Ordering;

use aho_corasick::AhoCorasick;
use regex::{RegexSet, RegexSetBuilder};

use crate::FastSet;
use pattern::{anchored, glob_to_regex, one_label_then, wildcard_parent};
use segments::{Segments, file_by_edge};

pub use pattern::{Case, PatternError, StringMatch};

fn rev_cmp(a: &str, b: &str) -> Ordering {
    a.bytes().rev().cmp(b.bytes().rev())
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
        if !self.wildcard_parents.is_empty()
            && let Some(parent) = one_label_then(v)
        {
            let parent: Cow<'_, str> = if parent.bytes().any(|b| b.is_ascii_uppercase()) {
                parent.to_ascii_lowercase().into()
            } else {
                parent.into()
            };
            if self.wildcard_parents.contains(&*parent) {
                return true;
            }
        }
        if self.contains.as_ref().is_some_and(|ac| ac.is_match(v)) {
            return true;
        }
        self.regex.as_ref().is_some_and(|rs| rs.is_match(v))
    }
}

#[cfg(test)]
mod tests;
