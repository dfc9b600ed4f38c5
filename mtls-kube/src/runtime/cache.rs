//! The objects a follower has seen, as the API returned them and as last read successfully:
//! pure state, fed by watch events, read into the translation's input.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::manifest::{Object, ParseError};
use crate::model::ObjectRef;
use crate::runtime::WatchedKind;

/// One object: its latest version, and the last one that could be read.
#[derive(Clone, Debug)]
struct Entry {
    latest: Result<(), ParseError>,
    good: Option<(Object, Value)>,
}

/// An object whose latest version cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Broken {
    /// The object.
    pub object: ObjectRef,
    /// Why it cannot be read (field path and message).
    pub error: ParseError,
    /// Whether an earlier version that could be read is still in use (else the object is left
    /// out of the translation).
    pub kept_last_good: bool,
}

/// Objects by kind, namespace and name.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cache {
    entries: BTreeMap<(&'static str, String, String), Entry>,
}

fn key_of(kind: &WatchedKind, value: &Value) -> (&'static str, String, String) {
    let meta = &value["metadata"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (kind.key(), text(&meta["namespace"]), text(&meta["name"]))
}

/// The object with its `apiVersion` and `kind` (list items come without them).
fn typed(kind: &WatchedKind, mut value: Value) -> Value {
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), kind.api_version.into());
        map.insert("kind".into(), kind.kind.into());
    }
    value
}

/// The core (`v1`) kind of `r`: Secret or ConfigMap.
fn core_kind(r: &ObjectRef) -> Option<&'static WatchedKind> {
    WatchedKind::all()
        .iter()
        .find(|k| k.kind == r.kind && k.api_version == "v1")
}

impl Cache {
    /// An object was added or modified.
    pub(crate) fn apply(&mut self, kind: &WatchedKind, value: Value) {
        let value = typed(kind, value);
        let key = key_of(kind, &value);
        let entry = self.entries.entry(key).or_insert(Entry {
            latest: Ok(()),
            good: None,
        });
        match Object::from_json(&value) {
            Ok(object) => {
                entry.latest = Ok(());
                entry.good = Some((object, value));
            }
            Err(e) => entry.latest = Err(e),
        }
    }

    /// An object was deleted.
    pub(crate) fn delete(&mut self, kind: &WatchedKind, value: &Value) {
        self.entries.remove(&key_of(kind, value));
    }

    /// A (re)list of `kind` in `namespace` (all when `None`): objects not in it are gone.
    pub(crate) fn replace(
        &mut self,
        kind: &WatchedKind,
        namespace: Option<&str>,
        items: Vec<Value>,
    ) {
        let listed: Vec<_> = items.iter().map(|v| key_of(kind, v)).collect();
        self.entries.retain(|(k, ns, name), _| {
            *k != kind.key()
                || namespace.is_some_and(|n| n != ns)
                || listed
                    .iter()
                    .any(|(_, lns, lname)| lns == ns && lname == name)
        });
        for item in items {
            self.apply(kind, item);
        }
    }

    /// The objects to translate (the last readable version of each), in a stable order.
    pub(crate) fn objects(&self) -> Vec<Object> {
        self.entries
            .values()
            .filter_map(|e| e.good.as_ref().map(|(o, _)| o.clone()))
            .collect()
    }

    /// The raw object last read successfully (a Secret's or ConfigMap's data).
    pub(crate) fn raw(&self, r: &ObjectRef) -> Option<&Value> {
        let kind = core_kind(r)?;
        let key = (kind.key(), r.ns().to_string(), r.name.clone());
        self.entries.get(&key)?.good.as_ref().map(|(_, v)| v)
    }

    /// Puts `value`, a version of the Secret or ConfigMap `r` read before, in place of the
    /// current one (deleted or invalid).
    pub(crate) fn restore(&mut self, r: &ObjectRef, value: Value) {
        if let Some(kind) = core_kind(r) {
            self.apply(kind, value);
        }
    }

    /// The objects whose latest version cannot be read.
    pub(crate) fn broken(&self) -> Vec<Broken> {
        self.entries
            .iter()
            .filter_map(|((kind, ns, name), e)| {
                let error = e.latest.as_ref().err()?.clone();
                let kind = kind.rsplit('/').next().unwrap_or(kind);
                let object = error
                    .object()
                    .cloned()
                    .unwrap_or_else(|| ObjectRef::new(kind, ns.clone(), name.clone()));
                Some(Broken {
                    object,
                    error,
                    kept_last_good: e.good.is_some(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn kind(name: &str) -> &'static WatchedKind {
        WatchedKind::all().iter().find(|k| k.kind == name).unwrap()
    }

    fn pa(name: &str, mode: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": "web"}, "spec": {"mtls": {"mode": mode}}})
    }

    #[test]
    fn a_broken_update_keeps_the_last_good_version_and_is_reported() {
        let pa_kind = kind("PeerAuthentication");
        let mut cache = Cache::default();
        cache.apply(pa_kind, pa("default", json!("STRICT")));
        assert!(cache.broken().is_empty());
        // `mtls` must be a mapping with a string mode.
        cache.apply(pa_kind, pa("default", json!(["not", "a", "mode"])));
        let broken = cache.broken();
        assert_eq!(broken.len(), 1);
        assert_eq!(
            broken[0].object.to_string(),
            "PeerAuthentication web/default"
        );
        assert_eq!(broken[0].error.field(), "spec.mtls.mode");
        assert!(broken[0].kept_last_good);
        assert_eq!(cache.objects().len(), 1, "the last good version stays");
        // A new object that is broken from the start is left out.
        cache.apply(pa_kind, pa("other", json!(7)));
        assert_eq!(cache.objects().len(), 1);
        assert!(
            !cache
                .broken()
                .iter()
                .find(|b| b.object.name == "other")
                .unwrap()
                .kept_last_good
        );
        // Fixed: no longer reported.
        cache.apply(pa_kind, pa("default", json!("PERMISSIVE")));
        cache.delete(pa_kind, &pa("other", json!(7)));
        assert!(cache.broken().is_empty());
    }

    #[test]
    fn a_relist_drops_what_it_does_not_list_in_its_namespace_only() {
        let cm = kind("ConfigMap");
        let object =
            |ns: &str, name: &str| json!({"metadata": {"name": name, "namespace": ns}, "data": {}});
        let mut cache = Cache::default();
        cache.apply(cm, object("a", "one"));
        cache.apply(cm, object("a", "two"));
        cache.apply(cm, object("b", "three"));
        cache.replace(cm, Some("a"), vec![object("a", "two")]);
        let names: Vec<String> = cache
            .objects()
            .iter()
            .map(|o| o.reference().name.clone())
            .collect();
        assert_eq!(names, ["two", "three"]);
        cache.replace(cm, None, vec![]);
        assert!(cache.objects().is_empty());
        assert!(
            cache
                .raw(&ObjectRef::new("ConfigMap", "a", "two"))
                .is_none()
        );
    }
}
