//! Typed reading of vendor objects: the field path of an error, and the path of every field we
//! do not read (so it can be warned about).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Reads `value` as `T`; returns it and the paths of the fields `T` does not read, or the path
/// and message of the first error.
pub(crate) fn typed<T: DeserializeOwned>(
    value: &Value,
) -> Result<(T, Vec<String>), (String, String)> {
    let mut ignored = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let result = {
        let mut note = |p: serde_ignored::Path<'_>| ignored.push(path_text(&p));
        let de = serde_ignored::Deserializer::new(value.clone(), &mut note);
        T::deserialize(serde_path_to_error::Deserializer::new(de, &mut track))
    };
    match result {
        Ok(v) => Ok((v, ignored)),
        Err(e) => {
            let path = track.path().to_string();
            Err((bracketed(&path), e.to_string()))
        }
    }
}

fn path_text(p: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path as P;
    match p {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", path_text(parent)),
        P::Map { parent, key } => {
            let parent = path_text(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            path_text(parent)
        }
    }
}

/// `spec.servers[0].port` as serde_path_to_error writes it; `.` for the root → empty.
fn bracketed(path: &str) -> String {
    if path == "." {
        String::new()
    } else {
        path.to_string()
    }
}

/// A port or number written as an integer or a string (YAML map keys, `targetPort`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum IntOrString {
    Int(i64),
    Str(String),
}

impl fmt::Display for IntOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(i) => write!(f, "{i}"),
            Self::Str(s) => f.write_str(s),
        }
    }
}

impl IntOrString {
    /// A port number (1..=65535), from an integer or a string of digits.
    pub(crate) fn port(&self) -> Option<u16> {
        match self {
            Self::Int(i) => u16::try_from(*i).ok().filter(|p| *p != 0),
            Self::Str(s) => s.trim().parse::<u16>().ok().filter(|p| *p != 0),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Int(i64),
            Str(String),
        }
        Ok(match Repr::deserialize(d)? {
            Repr::Int(i) => Self::Int(i),
            Repr::Str(s) => Self::Str(s),
        })
    }
}

/// Standard Kubernetes metadata (what we read of it).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Metadata {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) creation_timestamp: Option<String>,
}
