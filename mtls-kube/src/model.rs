//! What a translation produces: the gateway configuration, the credentials it reads, warnings
//! and status conditions.

use std::collections::BTreeMap;
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
    /// `NotFound`, `Invalid`.
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
    /// Present in the input and valid; the layout recognised (`kubernetes.io/tls`, ...).
    Resolved {
        /// The layout.
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
    /// The gateway configuration (the YAML `mtls-gateway run --config` reads).
    pub config: GatewayConfig,
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
}

/// The gateway configuration: the shape of `examples/gateway`'s YAML.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GatewayConfig {
    /// Listeners: addresses and certificates.
    pub listeners: Vec<Listener>,
    /// Host + path → backend.
    pub routes: Vec<Route>,
    /// Upstreams by name.
    pub backends: BTreeMap<String, Backend>,
    /// Identity headers sent upstream.
    pub forward_identity: ForwardIdentity,
    /// Who gets in.
    pub policy: PolicyConfig,
}

/// The minimum TLS version of a listener.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MinTlsVersion {
    /// TLS 1.2 (the gateway's default).
    #[default]
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// What a listener does with an SNI no host has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UnknownSni {
    /// Serve the default host (the gateway's default).
    #[default]
    Default,
    /// Refuse the handshake (Istio: no server block for the SNI).
    Refuse,
}

/// A listener of the gateway: where, with which certificates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Listener {
    /// The policy listener's name.
    pub name: String,
    /// `ADDRESS:PORT`.
    pub address: String,
    /// One per policy host.
    pub certificates: Vec<Certificate>,
    /// Unknown SNI handling.
    #[serde(skip_serializing_if = "is_default")]
    pub unknown_sni: UnknownSni,
    /// Minimum TLS version.
    #[serde(skip_serializing_if = "is_default")]
    pub min_tls_version: MinTlsVersion,
}

/// A server certificate for the hosts with these names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Certificate {
    /// The policy host's names (empty: the default host).
    pub hostnames: Vec<String>,
    /// Chain file (with `key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<PathBuf>,
    /// Key file (with `chain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// A mounted Secret directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_dir: Option<PathBuf>,
}

/// A route: listener, host and path to a backend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Route {
    /// The listener.
    pub listener: String,
    /// Exact host or `*.parent`; any when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Path prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// Exact path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_exact: Option<String>,
    /// The backend's name.
    pub backend: String,
}

/// An upstream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Backend {
    /// `http://host:port` or `https://host:port`.
    pub url: String,
    /// For `https`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<BackendTls>,
    /// HTTP/2 with prior knowledge (gRPC).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub http2_only: bool,
}

/// How the gateway verifies (and authenticates to) an upstream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BackendTls {
    /// The CA bundle file for the upstream's certificate.
    pub ca: PathBuf,
    /// The name the upstream's certificate must carry (also the SNI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_name: Option<String>,
    /// The client certificate presented upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<ClientCertificate>,
}

/// A client certificate for upstream mTLS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ClientCertificate {
    /// The chain file.
    pub chain: PathBuf,
    /// The key file.
    pub key: PathBuf,
}

/// Which identity headers go upstream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ForwardIdentity {
    /// Envoy `x-forwarded-client-cert` (Istio's default: on). Written `xfcc: {}` (the
    /// gateway's default fields) or `xfcc: null`.
    #[serde(serialize_with = "xfcc_field")]
    pub xfcc: bool,
    /// RFC 9440 `Client-Cert` (nginx `auth-tls-pass-certificate-to-upstream`).
    pub rfc9440: bool,
    /// nginx-style `ssl-client-verify` / DN headers.
    pub ssl_client: bool,
}

impl Default for ForwardIdentity {
    fn default() -> Self {
        Self {
            xfcc: true,
            rfc9440: false,
            ssl_client: false,
        }
    }
}

fn xfcc_field<S: serde::Serializer>(on: &bool, s: S) -> Result<S::Ok, S::Error> {
    if *on {
        s.serialize_some(&BTreeMap::<String, String>::new())
    } else {
        s.serialize_none()
    }
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}
