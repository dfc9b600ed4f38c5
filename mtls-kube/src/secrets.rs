//! Secrets and ConfigMaps: their data decoded and read with mtls-core's [`SecretMaterial`] in
//! every layout (`kubernetes.io/tls`, Istio generic, Istio `<name>-cacert`, `ca.crt`).

use std::collections::BTreeMap;

use base64::Engine as _;
use mtls_core::{SecretLayout, SecretMaterial};
use serde::Deserialize;

use crate::manifest::{Kind, Object};
use crate::model::{ObjectRef, RefState};

/// A `v1` Secret, as we read it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SecretObject {
    /// The keys are read by name, whatever the type says; the type is reported.
    #[serde(default, rename = "type")]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) data: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) string_data: BTreeMap<String, String>,
}

/// A `v1` ConfigMap, as we read it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConfigMapObject {
    #[serde(default)]
    pub(crate) data: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) binary_data: BTreeMap<String, String>,
}

/// One Secret or ConfigMap of the input, read.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) material: Result<SecretMaterial, String>,
    /// The layout as written: the Secret's type (`Opaque` when none is given, as the API
    /// server defaults it) or `ConfigMap`, and its keys.
    pub(crate) layout: String,
}

/// The Secrets and ConfigMaps of the input, by kind, namespace and name.
#[derive(Clone, Debug, Default)]
pub(crate) struct SecretIndex {
    entries: BTreeMap<(String, String, String), Entry>,
}

fn decode(map: &BTreeMap<String, String>) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let engine = base64::engine::general_purpose::STANDARD;
    map.iter()
        .map(|(k, v)| {
            let clean: String = v.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            engine
                .decode(clean)
                .map(|b| (k.clone(), b))
                .map_err(|e| format!("data[{k:?}] is not base64: {e}"))
        })
        .collect()
}

impl SecretIndex {
    pub(crate) fn build(objects: &[Object], default_namespace: &str) -> Self {
        let mut entries = BTreeMap::new();
        for o in objects {
            let kind = match &o.kind {
                Kind::Secret(s) => s.kind.clone().unwrap_or_else(|| "Opaque".into()),
                _ => "ConfigMap".into(),
            };
            let data = match &o.kind {
                Kind::Secret(s) => decode(&s.data).map(|mut d| {
                    // `stringData` wins over `data`, as the API server merges them.
                    for (k, v) in &s.string_data {
                        d.insert(k.clone(), v.clone().into_bytes());
                    }
                    d
                }),
                Kind::ConfigMap(c) => decode(&c.binary_data).map(|mut d| {
                    for (k, v) in &c.data {
                        d.insert(k.clone(), v.clone().into_bytes());
                    }
                    d
                }),
                _ => continue,
            };
            let r = o.reference();
            let ns = r
                .namespace
                .clone()
                .unwrap_or_else(|| default_namespace.to_string());
            let label = format!("{ns}/{}", r.name);
            let layout = match &data {
                Ok(d) => format!(
                    "{kind} ({})",
                    d.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
                Err(_) => kind,
            };
            let material =
                data.and_then(|d| SecretMaterial::from_map(&label, &d).map_err(|e| e.to_string()));
            entries.insert(
                (r.kind.clone(), ns, r.name.clone()),
                Entry { material, layout },
            );
        }
        Self { entries }
    }

    pub(crate) fn get(&self, r: &ObjectRef) -> Option<&Entry> {
        self.entries
            .get(&(r.kind.clone(), r.ns().to_string(), r.name.clone()))
    }
}

/// The CA and CRL keys of a layout.
pub(crate) fn ca_keys(layout: SecretLayout) -> (&'static str, &'static str) {
    match layout {
        SecretLayout::IstioGeneric | SecretLayout::IstioCaCert => ("cacert", "crl"),
        _ => ("ca.crt", "ca.crl"),
    }
}

/// The certificate and key keys of a layout.
pub(crate) fn cert_keys(layout: SecretLayout) -> [&'static str; 2] {
    match layout {
        SecretLayout::IstioGeneric => ["cert", "key"],
        _ => ["tls.crt", "tls.key"],
    }
}

/// A CA found in a Secret or ConfigMap: the keys to read, and whether it resolved.
#[derive(Clone, Debug)]
pub(crate) struct CaLookup {
    pub(crate) ca_key: &'static str,
    pub(crate) crl_key: Option<&'static str>,
    pub(crate) state: RefState,
}

impl SecretIndex {
    /// Looks up the CA of `r`; `missing` is the state of an object absent from the input.
    pub(crate) fn ca(&self, r: &ObjectRef, missing: &RefState) -> CaLookup {
        let mut out = CaLookup {
            ca_key: "ca.crt",
            crl_key: None,
            state: missing.clone(),
        };
        let Some(entry) = self.get(r) else {
            return out;
        };
        match &entry.material {
            Err(reason) => {
                out.state = RefState::Invalid {
                    reason: reason.clone(),
                }
            }
            Ok(m) => {
                let (ca, crl) = ca_keys(m.layout());
                out.ca_key = ca;
                out.crl_key = m.crls().map(|_| crl);
                out.state = if m.ca().is_some() {
                    RefState::Resolved {
                        layout: entry.layout.clone(),
                    }
                } else {
                    RefState::Invalid {
                        reason: format!("{} has no CA certificate (key ca.crt or cacert)", r.name),
                    }
                };
            }
        }
        out
    }

    /// Whether `r` is present with a CA.
    pub(crate) fn has_ca(&self, r: &ObjectRef) -> bool {
        matches!(self.get(r).map(|e| &e.material), Some(Ok(m)) if m.ca().is_some())
    }

    /// Looks up the server certificate of `r`: its keys and state.
    pub(crate) fn certificate(
        &self,
        r: &ObjectRef,
        missing: &RefState,
    ) -> ([&'static str; 2], RefState) {
        let Some(entry) = self.get(r) else {
            return (cert_keys(SecretLayout::KubernetesTls), missing.clone());
        };
        match &entry.material {
            Err(reason) => (
                cert_keys(SecretLayout::KubernetesTls),
                RefState::Invalid {
                    reason: reason.clone(),
                },
            ),
            Ok(m) => (cert_keys(m.layout()), check_credential(m, &entry.layout)),
        }
    }
}

/// The state of a server certificate: resolved when the secret holds a certificate with its key
/// (paired as `ServerCredential` checks them from their encodings; the crypto provider checks
/// the pair again where the snapshot is built).
fn check_credential(m: &SecretMaterial, layout: &str) -> RefState {
    match m.server_credential() {
        Ok(Some(_)) => RefState::Resolved {
            layout: layout.to_string(),
        },
        Ok(None) => no_credential(m),
        Err(e) => RefState::Invalid {
            reason: e.to_string(),
        },
    }
}

fn no_credential(m: &SecretMaterial) -> RefState {
    RefState::Invalid {
        reason: format!(
            "{} holds no certificate and key (tls.crt/tls.key or cert/key), only a {} layout",
            m.name(),
            m.layout()
        ),
    }
}
