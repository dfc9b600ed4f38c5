//! What a translation produces besides the configuration: the credentials it reads, warnings
//! and status conditions.

use std::fmt;
use std::path::PathBuf;

use mtls_policy::PolicyConfig;
use serde::Serialize;

/// A Kubernetes object, by kind, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[non_exhaustive]
pub struct ObjectRef {
    /// The kind (`Gateway`, `Secret`, ...).
    pub kind: String,
    /// The namespace; `None` for cluster-scoped objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

impl ObjectRef {
    /// A namespaced object.
    pub fn new(
        kind: impl Into<String>,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            kind: kind.into(),
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }

    /// The namespace, or `""` for cluster-scoped objects.
    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Something of an object that is not translated as written: the object, the field and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Warning {
    /// The object.
    pub object: ObjectRef,
    /// The field path (`spec.servers[1].tls.mode`, `metadata.annotations[...]`).
    pub field: String,
    /// What happens instead, and why.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.object, self.field, self.message)
    }
}

/// The status of a condition (`True`, `False`, `Unknown`), as Kubernetes writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// It does not.
    False,
    /// Not known (a referenced Secret was not part of the input).
    Unknown,
}

/// A status condition (`Accepted`, `ResolvedRefs`), ready to be written back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Condition {
    /// `Accepted` or `ResolvedRefs`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status.
    pub status: ConditionStatus,
    /// `Accepted`, `ResolvedRefs`, `InvalidCertificateRef`, `InvalidCACertificateRef`,
    /// `InvalidCACertificateKind`, `NoValidCACertificate`, `UnsupportedValue`, `RefNotPermitted`,
    /// `NotFound`, `Invalid`, `Conflicted`, `NoGateway`.
    pub reason: String,
    /// A sentence for people.
    pub message: String,
}

impl Condition {
    /// A condition.
    pub fn new(
        kind: &str,
        status: ConditionStatus,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind: kind.into(),
            status,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// The conditions of one object, or of one section of it (a Gateway listener by name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ObjectStatus {
    /// The object.
    pub object: ObjectRef,
    /// The section (a Gateway API listener name, an Istio server index), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// The conditions, one per type.
    pub conditions: Vec<Condition>,
}

impl ObjectStatus {
    /// The condition of a type, if set.
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }
}

/// What a referenced credential is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Purpose {
    /// A listener's server certificate and key.
    ServerCertificate,
    /// The CA bundle client certificates must chain to.
    ClientCa,
    /// CRLs for client certificates.
    ClientCrl,
    /// The CA bundle an upstream's certificate must chain to.
    UpstreamCa,
    /// The certificate and key the gateway presents to an upstream.
    UpstreamClientCertificate,
}

/// Whether a referenced Secret or ConfigMap was found and holds what is needed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RefState {
    /// Present in the input and valid, with its layout as written: the Secret's `type` (or
    /// `ConfigMap`) and its keys (`Opaque (ca.crt, tls.crt, tls.key)`).
    Resolved {
        /// The type and keys.
        layout: String,
    },
    /// Not part of the input: it is expected to exist where the gateway runs.
    NotInInput,
    /// Missing (with `Options::secrets_complete`) or invalid: why.
    Invalid {
        /// The cause.
        reason: String,
    },
}

/// A Secret or ConfigMap the configuration reads, the keys it reads and where it is expected
/// to be mounted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CredentialRef {
    /// The Secret or ConfigMap.
    pub object: ObjectRef,
    /// What for.
    pub purpose: Purpose,
    /// The keys read.
    pub keys: Vec<String>,
    /// The directory the configuration expects it mounted at (one file per key).
    pub mount: PathBuf,
    /// The objects that reference it.
    pub used_by: Vec<ObjectRef>,
    /// Found and valid?
    pub state: RefState,
}

/// The translation of a set of objects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Translation {
    /// The configuration: listeners with their hosts (certificate, client validation, routes),
    /// backends, identity headers and peer authentication. Its YAML
    /// ([`PolicyConfig::to_yaml`]) is what `mtls-gateway run --config` reads.
    pub config: PolicyConfig,
    /// The Secrets and ConfigMaps it reads.
    pub credentials: Vec<CredentialRef>,
    /// Everything not translated as written.
    pub warnings: Vec<Warning>,
    /// Status conditions per object (and section).
    pub status: Vec<ObjectStatus>,
}

impl Translation {
    /// The status of an object (and section), if computed.
    pub fn status_of(&self, object: &ObjectRef, section: Option<&str>) -> Option<&ObjectStatus> {
        self.status
            .iter()
            .find(|s| &s.object == object && s.section.as_deref() == section)
    }

    /// Why the configuration enforces nothing, if it does not: it has no listener, or listeners
    /// without a host (no certificate to serve, so every connection fails its handshake).
    ///
    /// ```
    /// let t = mtls_kube::translate(&[], &mtls_kube::Options::default());
    /// assert_eq!(
    ///     t.enforces_nothing().as_deref(),
    ///     Some("no listener: the input has no Gateway, Ingress or workload port to serve")
    /// );
    /// ```
    pub fn enforces_nothing(&self) -> Option<String> {
        let listeners = &self.config.listeners;
        if listeners.is_empty() {
            return Some(
                "no listener: the input has no Gateway, Ingress or workload port to serve".into(),
            );
        }
        let empty: Vec<String> = listeners
            .iter()
            .filter(|l| l.hosts.is_empty())
            .map(|l| format!("listener {} (port {})", l.name, l.port()))
            .collect();
        if empty.is_empty() {
            return None;
        }
        Some(format!(
            "no host on {}: no certificate is served there, so every connection fails; give the workload's certificate and CA (translate --workload-credential SECRET), or a Gateway server (or an Ingress) on the port",
            empty.join(", ")
        ))
    }
}
