//! The keys of the Secrets and ConfigMaps a translation reads, held in memory: what a serving
//! process resolves `secret:` references with ([`Secrets::resolve`]). A reference that does not
//! resolve now keeps the last good version of its keys.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use mtls_policy::{PolicyConfig, SecretRef, TrustSource};

use crate::model::{CredentialRef, ObjectRef, RefState};
use crate::references::{mounted, rewrite};
use crate::runtime::cache::Cache;
use crate::runtime::materialize::{Kept, data_of};

/// `(namespace, name, key)`.
type Key = (String, String, String);

/// The keys the translation of an [`Update`](super::Update) reads, by Secret; cheap to clone
/// (shared), immutable: each update carries its own. `Debug` names the keys, never their
/// bytes.
#[derive(Clone, Default)]
pub struct Secrets {
    secrets: Arc<BTreeMap<Key, Vec<u8>>>,
    config_maps: Arc<BTreeMap<Key, Vec<u8>>>,
    default_namespace: String,
}

/// A `secret:` reference the [`Secrets`] of an update cannot resolve: the Secret or the key is
/// not among those its configuration reads.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("secret {namespace}/{name}: no key {}", key.as_deref().unwrap_or("of a known CA layout (ca.crt, cacert, <name>-cacert)"))]
#[non_exhaustive]
pub struct MissingSecret {
    /// The Secret's namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The key asked for (`None`: a CA in one of the known layouts).
    pub key: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |map: &BTreeMap<Key, Vec<u8>>| -> Vec<String> {
            map.keys()
                .map(|(ns, name, key)| format!("{ns}/{name}:{key}"))
                .collect()
        };
        f.debug_struct("Secrets")
            .field("secrets", &names(&self.secrets))
            .field("config_maps", &names(&self.config_maps))
            .finish_non_exhaustive()
    }
}

impl Secrets {
    /// The bytes of `key` of the Secret `namespace/name`, if the configuration reads it.
    pub fn get(&self, namespace: &str, name: &str, key: &str) -> Option<&[u8]> {
        let k = (namespace.to_owned(), name.to_owned(), key.to_owned());
        self.secrets.get(&k).map(Vec::as_slice)
    }

    /// Resolves a `secret:` reference of the configuration: its namespace defaults to the
    /// follower's default namespace; a missing `key` reads the CA of the known layouts
    /// (`ca.crt`, `cacert`, `<name>-cacert`); `tls.crt`/`tls.key` read Istio's generic layout
    /// (`cert`/`key`) when that is what the Secret holds.
    ///
    /// # Errors
    /// [`MissingSecret`] when the Secret or key is not one the configuration reads.
    pub fn resolve(&self, secret: &SecretRef) -> Result<Vec<u8>, MissingSecret> {
        let namespace = secret
            .namespace
            .as_deref()
            .unwrap_or(&self.default_namespace);
        let name = &secret.name;
        let cacert = format!("{name}-cacert");
        let candidates: Vec<&str> = match secret.key.as_deref() {
            None => vec!["ca.crt", "cacert", &cacert],
            Some("tls.crt") => vec!["tls.crt", "cert"],
            Some("tls.key") => vec!["tls.key", "key"],
            Some(key) => vec![key],
        };
        candidates
            .iter()
            .find_map(|key| self.get(namespace, name, key))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| MissingSecret {
                namespace: namespace.to_owned(),
                name: name.clone(),
                key: secret.key.clone(),
            })
    }

    /// How many keys are held (of Secrets and ConfigMaps).
    pub fn len(&self) -> usize {
        self.secrets.len() + self.config_maps.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys `credentials` read, from `cache` where they resolve, else their last good
    /// version in `previous` (reported as [`Kept`]).
    pub(crate) fn collect(
        credentials: &[CredentialRef],
        cache: &Cache,
        previous: &Self,
        default_namespace: &str,
    ) -> (Self, Vec<Kept>) {
        let mut secrets = BTreeMap::new();
        let mut config_maps = BTreeMap::new();
        let mut kept = Vec::new();
        for c in credentials {
            let config_map = c.object.kind == "ConfigMap";
            let (into, before) = if config_map {
                (&mut config_maps, &previous.config_maps)
            } else {
                (&mut secrets, &previous.secrets)
            };
            let key = |k: &str| {
                (
                    c.object.ns().to_owned(),
                    c.object.name.clone(),
                    k.to_owned(),
                )
            };
            let reason = match &c.state {
                RefState::Resolved { .. } => None,
                RefState::NotInInput => Some("not found".to_owned()),
                RefState::Invalid { reason } => Some(reason.clone()),
            };
            let data = match (reason, cache.raw(&c.object)) {
                (None, Some(raw)) => data_of(raw),
                (reason, _) => {
                    let mut last_good = false;
                    for k in &c.keys {
                        if let Some(bytes) = before.get(&key(k)) {
                            into.insert(key(k), bytes.clone());
                            last_good = true;
                        }
                    }
                    kept.push(Kept::new(
                        &c.object,
                        c,
                        reason.unwrap_or_else(|| "resolved but not cached".into()),
                        last_good,
                    ));
                    continue;
                }
            };
            for k in &c.keys {
                if let Some(bytes) = data.get(k) {
                    into.insert(key(k), bytes.clone());
                }
            }
        }
        let store = Self {
            secrets: Arc::new(secrets),
            config_maps: Arc::new(config_maps),
            default_namespace: default_namespace.to_owned(),
        };
        (store, kept)
    }

    /// Replaces the CA files (client validation, backends) of ConfigMaps mounted under `root` with their PEM
    /// (a ConfigMap is public: a CA bundle inline says what it is). A key not held stays a
    /// file: loading it then names what is missing.
    pub(crate) fn inline_config_maps(&self, config: &mut PolicyConfig, root: &Path) {
        rewrite(config, &mut |_| None, &mut |source| {
            let TrustSource::File(file) = source else {
                return None;
            };
            let m = mounted(root, file).filter(|m| m.config_map)?;
            let k = (m.namespace.into(), m.name.into(), m.key?.into());
            let pem = String::from_utf8(self.config_maps.get(&k)?.clone()).ok()?;
            Some(TrustSource::Pem(pem))
        });
    }
}

impl Kept {
    pub(crate) fn new(
        object: &ObjectRef,
        c: &CredentialRef,
        reason: String,
        last_good: bool,
    ) -> Self {
        Self {
            object: object.clone(),
            purpose: c.purpose,
            reason,
            last_good,
            used_by: c.used_by.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(entries: &[(&str, &str, &str, &str)]) -> Secrets {
        let map = entries
            .iter()
            .map(|(ns, name, key, value)| {
                (
                    ((*ns).into(), (*name).into(), (*key).into()),
                    value.as_bytes().to_vec(),
                )
            })
            .collect();
        Secrets {
            secrets: Arc::new(map),
            config_maps: Arc::default(),
            default_namespace: "default".into(),
        }
    }

    fn resolve(
        s: &Secrets,
        ns: Option<&str>,
        name: &str,
        key: Option<&str>,
    ) -> Result<String, String> {
        let r = SecretRef::new(name, ns.map(Into::into), key.map(Into::into));
        s.resolve(&r)
            .map(|b| String::from_utf8(b).unwrap())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn resolves_the_known_layouts_and_names_what_is_missing() {
        let s = held(&[
            ("web", "istio", "cert", "CERT"),
            ("web", "istio", "key", "KEY"),
            ("web", "ca", "ca-cacert", "CA"),
            ("default", "plain", "ca.crt", "PLAIN"),
        ]);
        assert_eq!(
            resolve(&s, Some("web"), "istio", Some("tls.crt")),
            Ok("CERT".into())
        );
        assert_eq!(
            resolve(&s, Some("web"), "istio", Some("tls.key")),
            Ok("KEY".into())
        );
        assert_eq!(resolve(&s, Some("web"), "ca", None), Ok("CA".into()));
        assert_eq!(resolve(&s, None, "plain", None), Ok("PLAIN".into()));
        assert_eq!(
            resolve(&s, Some("web"), "istio", Some("ca.crt")),
            Err("secret web/istio: no key ca.crt".into())
        );
        assert_eq!(
            resolve(&s, Some("other"), "plain", None),
            Err(
                "secret other/plain: no key of a known CA layout (ca.crt, cacert, <name>-cacert)"
                    .into()
            )
        );
        let debug = format!("{s:?}");
        assert!(
            debug.contains("web/istio:key") && !debug.contains("KEY"),
            "{debug}"
        );
    }
}
