//! The hashed lookup of prefixes that end (and suffixes that start) with a separator (`.`
//! `/` `:` `@`): a value is looked up only at its own separators, a few hashes whatever the
//! number of patterns ([`Segments`]).

use crate::FastSet;

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
pub(super) struct Segments {
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
    pub(super) fn matches_prefix_of(&self, value: &str) -> bool {
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
    pub(super) fn matches_suffix_of(&self, value: &str) -> bool {
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
pub(super) fn file_by_edge(
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
