//! The Secrets and ConfigMaps a translation reads, written where it expects them mounted
//! (`<mount_root>/secrets/<ns>/<name>/<key>`), so the gateway loads them as it loads files. A
//! reference that does not resolve leaves the last good files in place.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::Value;

use crate::model::{CredentialRef, ObjectRef, Purpose, RefState};
use crate::runtime::cache::Cache;

/// A credential whose Secret or ConfigMap is missing or invalid now, served from its last
/// good version (files, or keys held in memory).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Kept {
    /// The Secret or ConfigMap.
    pub object: ObjectRef,
    /// What it is used for.
    pub purpose: Purpose,
    /// Why the current version is not used (`deleted`, `not found`, a PEM error, ...).
    pub reason: String,
    /// Whether a last good version exists: its files under the mount root
    /// ([`SecretPaths::Files`](crate::SecretPaths::Files)), or its keys in
    /// [`Update::secrets`](super::Update::secrets). Else the configuration cannot load what it
    /// names, and the gateway keeps its whole running configuration.
    pub last_good: bool,
    /// The objects that reference it.
    pub used_by: Vec<ObjectRef>,
}

/// What a materialization did.
#[derive(Debug, Default)]
pub(crate) struct Written {
    pub(crate) changed: Vec<PathBuf>,
    pub(crate) kept: Vec<Kept>,
    pub(crate) errors: Vec<String>,
}

/// The key/value data of a Secret (`data` base64-decoded, `stringData` over it) or a ConfigMap
/// (`binaryData` decoded, `data` over it).
pub(crate) fn data_of(raw: &Value) -> BTreeMap<String, Vec<u8>> {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut out = BTreeMap::new();
    let kind = raw["kind"].as_str().unwrap_or_default();
    let (encoded, plain) = if kind == "ConfigMap" {
        ("binaryData", "data")
    } else {
        ("data", "stringData")
    };
    if let Some(map) = raw[encoded].as_object() {
        for (k, v) in map {
            let clean: String = v
                .as_str()
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            if let Ok(bytes) = engine.decode(clean) {
                out.insert(k.clone(), bytes);
            }
        }
    }
    if let Some(map) = raw[plain].as_object() {
        for (k, v) in map {
            out.insert(
                k.clone(),
                v.as_str().unwrap_or_default().as_bytes().to_vec(),
            );
        }
    }
    out
}

/// A Secret key usable as a file name in its directory.
fn safe_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with("..")
        && key != "."
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
}

/// Writes `bytes` to `path` unless it holds them already: a temporary file renamed over it
/// (readers see the old or the new content, never a part), owner-only on Unix.
fn write_if_changed(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    if std::fs::read(path).is_ok_and(|have| have == bytes) {
        return Ok(false);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{}.tmp", name.unwrap_or_default()));
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(true)
}

/// Writes every resolved credential's keys; reports the others (kept at their last good files).
pub(crate) fn materialize(credentials: &[CredentialRef], cache: &Cache) -> Written {
    let mut out = Written::default();
    for c in credentials {
        let reason = match &c.state {
            RefState::Resolved { .. } => None,
            RefState::NotInInput => Some("not found".to_string()),
            RefState::Invalid { reason } => Some(reason.clone()),
        };
        let data = match (&reason, cache.raw(&c.object)) {
            (None, Some(raw)) => data_of(raw),
            (None, None) => {
                out.errors
                    .push(format!("{}: resolved but not cached", c.object));
                continue;
            }
            (Some(reason), _) => {
                let last_good = c.keys.iter().any(|k| c.mount.join(k).is_file());
                out.kept.push(Kept {
                    object: c.object.clone(),
                    purpose: c.purpose,
                    reason: reason.clone(),
                    last_good,
                    used_by: c.used_by.clone(),
                });
                continue;
            }
        };
        for key in &c.keys {
            let Some(bytes) = data.get(key) else {
                continue;
            };
            if !safe_key(key) {
                out.errors
                    .push(format!("{}: key {key:?} is not a file name", c.object));
                continue;
            }
            let path = c.mount.join(key);
            match write_if_changed(&path, bytes) {
                Ok(true) => out.changed.push(path),
                Ok(false) => {}
                Err(e) => out
                    .errors
                    .push(format!("{}: {}: {e}", c.object, path.display())),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secret_and_config_map_data() {
        let secret = json!({"kind": "Secret", "data": {"a": "aGk=", "b": "aGk="}, "stringData": {"b": "yo"}});
        let data = data_of(&secret);
        assert_eq!(data["a"], b"hi");
        assert_eq!(data["b"], b"yo");
        let cm =
            json!({"kind": "ConfigMap", "data": {"ca.crt": "PEM"}, "binaryData": {"x": "aGk="}});
        let data = data_of(&cm);
        assert_eq!(data["ca.crt"], b"PEM");
        assert_eq!(data["x"], b"hi");
    }

    #[test]
    fn keys_are_file_names() {
        assert!(safe_key("tls.crt") && safe_key("ca.crl") && safe_key("cacert"));
        assert!(!safe_key("..data") && !safe_key("../x") && !safe_key("a/b") && !safe_key("."));
    }

    #[test]
    fn writes_only_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/ns/name/tls.crt");
        assert!(write_if_changed(&path, b"one").unwrap());
        assert!(!write_if_changed(&path, b"one").unwrap());
        assert!(write_if_changed(&path, b"two").unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
