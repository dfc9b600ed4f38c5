//! YAML, read the same way wherever the crates read it (the configuration, a trust domain,
//! Kubernetes manifests), and its errors as a [`ConfigError`] with the field path, the line
//! and the column.
//!
//! The parser is pure Rust (no unsafe code). What it accepts, for a configuration:
//! - booleans are YAML 1.2's `true` and `false` only: `yes`, `no`, `on` and `off` are strings,
//!   so a boolean field given one is an error rather than a guess;
//! - a key given twice in one mapping is an error;
//! - anchors and aliases are read, bounded: an alias expanding into more than 100,000 nodes
//!   in total (a "billion laughs" document) is refused;
//! - a stream of several documents is an error where one is expected ([`from_str`]), and read
//!   document by document by [`documents`].
//!
//! ```
//! use mtls_policy::{ConfigErrorKind, TrustDomain};
//!
//! let domain: TrustDomain = mtls_policy::yaml::from_str("name: mesh\nca: [{ file: ca.pem }]\n")?;
//! assert_eq!(domain.name, "mesh");
//!
//! let err = mtls_policy::yaml::from_str::<TrustDomain>("name: a\nname: b\nca: []\n").unwrap_err();
//! assert_eq!(err.kind(), ConfigErrorKind::Syntax);
//! assert_eq!((err.line(), err.column()), (Some(2), Some(1)));
//! # Ok::<(), mtls_policy::ConfigError>(())
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_saphyr::{DefaultMessageFormatter, MessageFormatter};

use crate::config::{ConfigError, ConfigErrorKind};

/// How many nodes aliases may expand into, over a whole document stream: far more than a
/// configuration repeats, far less than an alias bomb asks for.
const MAX_ALIAS_NODES: usize = 100_000;

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_ALIAS_NODES,
        },
        with_snippet: false,
    }
}

/// Reads one YAML document as `T`. A `T` with `deny_unknown_fields` names an unknown key in
/// the error.
///
/// # Errors
/// Not YAML, not of `T`'s shape, a key given twice, an alias bomb, more than one document, or a
/// value `T` refuses: the error names the field path and, when known, the line and column.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    let mut track = serde_path_to_error::Track::new();
    serde_saphyr::with_deserializer_from_str_with_options(text, options(), |de| {
        T::deserialize(serde_path_to_error::Deserializer::new(de, &mut track))
    })
    .map_err(|e| config_error(text, track.path().to_string(), &e))
}

/// Reads a stream of YAML documents (separated by `---`), each as a JSON value, as Kubernetes
/// manifests are. Empty documents are left out.
///
/// # Errors
/// The first document that is not YAML (or holds an alias bomb, a key given twice): its line
/// and column.
pub fn documents(text: &str) -> Result<Vec<serde_json::Value>, ConfigError> {
    serde_saphyr::from_multiple_with_options(text, options())
        .map_err(|e| config_error(text, ".".to_owned(), &e))
}

/// Writes `value` as YAML that [`from_str`] reads back.
///
/// # Errors
/// A value without a YAML form.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, ConfigError> {
    // Multi-line strings (inline PEM) as `|` blocks; single-line ones (pins, regexes) on their
    // line, never folded.
    let options = serde_saphyr::ser_options! { folded_wrap_chars: 4096 };
    serde_saphyr::to_string_with_options(value, options)
        .map_err(|e| ConfigError::new(ConfigErrorKind::Invalid, ".", e.to_string()))
}

/// The one conversion of a YAML error into a [`ConfigError`]: the path, the cause without its
/// location, and the location as a line and a column.
fn config_error(text: &str, path: String, e: &serde_saphyr::Error) -> ConfigError {
    use serde_saphyr::Error as E;
    // The error itself, out of the wrappers that say it came through an alias or add a
    // snippet: its location is where the faulty value is written, except for an alias bomb,
    // located where it is used.
    let used_at = e.location();
    let mut e = e;
    while let E::AliasError { error, .. } | E::WithSnippet { error, .. } = e {
        e = error;
    }
    let message = message(text, e);
    // serde_path_to_error writes `?` for a key not read yet: the duplicate's name, or nothing.
    let path = match (path.strip_suffix('?'), e) {
        (Some(parent), E::DuplicateMappingKey { key: Some(k), .. }) => format!("{parent}{k}"),
        (Some(parent), _) => match parent.strip_suffix('.') {
            Some(p) if !p.is_empty() => p.to_owned(),
            _ => ".".to_owned(),
        },
        (None, _) => path,
    };
    let kind = match e {
        E::SerdeInvalidValue { .. } | E::InvalidScalar { .. } | E::InvalidBooleanStrict { .. } => {
            ConfigErrorKind::Invalid
        }
        E::Message { .. } => ConfigError::kind_of_message(&message),
        _ => ConfigErrorKind::Syntax,
    };
    let at = match e {
        E::AliasReplayLimitExceeded { .. } | E::AliasExpansionLimitExceeded { .. } => used_at,
        _ => e.location(),
    };
    let position = at
        .filter(|l| l.line() > 0)
        .map(|l| (to_usize(l.line()), to_usize(l.column())));
    ConfigError::located(kind, path, message, position)
}

/// Serde's wording for what serde reports (the text every serde format writes), ours for a key
/// given twice and a scalar out of its type's range (with the scalar as written), the parser's
/// for the rest.
fn message(text: &str, e: &serde_saphyr::Error) -> String {
    use serde_saphyr::Error as E;
    match e {
        E::InvalidScalar { ty, location } => invalid_value(text, location, ty),
        E::InvalidBooleanStrict { location } => {
            invalid_value(text, location, "a boolean (`true` or `false`)")
        }
        E::SerdeUnknownField {
            field, expected, ..
        } => format!("unknown field `{field}`, {}", one_of(expected, "fields")),
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => format!(
            "unknown variant `{variant}`, {}",
            one_of(expected, "variants")
        ),
        E::AliasReplayLimitExceeded { .. } | E::AliasExpansionLimitExceeded { .. } => format!(
            "aliases expand into more than {MAX_ALIAS_NODES} nodes: refused (an alias bomb?)"
        ),
        E::MultipleDocuments { .. } => {
            "more than one YAML document (`---`) where one is expected".to_owned()
        }
        E::DuplicateMappingKey { key: Some(k), .. } => format!("`{k}` is given twice"),
        E::DuplicateMappingKey { key: None, .. } => "a key is given twice".to_owned(),
        _ => DefaultMessageFormatter.format_message(e).into_owned(),
    }
}

/// `invalid value: `70000`, expected u16`, with the scalar as written when its span is known.
fn invalid_value(text: &str, at: &serde_saphyr::Location, expected: &str) -> String {
    let span = at.span();
    let written = span
        .byte_offset()
        .zip(span.byte_len())
        .and_then(|(start, len)| {
            let start = usize::try_from(start).ok()?;
            text.get(start..start.checked_add(usize::try_from(len).ok()?)?)
        })
        .filter(|s| !s.is_empty());
    match written {
        Some(w) => format!("invalid value: `{w}`, expected {expected}"),
        None => format!("invalid value, expected {expected}"),
    }
}

/// `expected `a` or `b``, as serde writes it.
fn one_of(names: &[&str], what: &str) -> String {
    match names {
        [] => format!("there are no {what}"),
        [one] => format!("expected `{one}`"),
        [a, b] => format!("expected `{a}` or `{b}`"),
        _ => {
            let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            format!("expected one of {}", quoted.join(", "))
        }
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
