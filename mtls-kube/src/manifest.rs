//! Kubernetes objects from YAML or JSON: multi-document manifest files, `kind: List`, and
//! single values (as a watcher receives them), dispatched on `apiVersion` and `kind`.

use std::fmt;

use serde_json::Value;

use crate::de::{Metadata, typed};
use crate::model::ObjectRef;
use crate::{gateway_api, istio, nginx, osm, secrets};

/// A parsed object of a kind we translate (or one we only report as not translated).
///
/// ```
/// let objects = mtls_kube::parse_manifests(
///     "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ca, namespace: web }\ndata: {}\n",
///     "ca.yaml",
/// )?;
/// assert_eq!(objects[0].reference().to_string(), "ConfigMap web/ca");
/// # Ok::<(), mtls_kube::ParseError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Object {
    pub(crate) reference: ObjectRef,
    pub(crate) api_version: String,
    pub(crate) meta: Metadata,
    /// Paths of fields we do not read (relative to the object).
    pub(crate) ignored: Vec<String>,
    pub(crate) kind: Kind,
}

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Secret(secrets::SecretObject),
    ConfigMap(secrets::ConfigMapObject),
    IstioGateway(istio::GatewaySpec),
    PeerAuthentication(istio::PeerAuthenticationSpec),
    VirtualService(istio::VirtualServiceSpec),
    Gateway(gateway_api::GatewaySpec),
    HttpRoute(gateway_api::HttpRouteSpec),
    BackendTlsPolicy(gateway_api::BackendTlsPolicySpec),
    DestinationRule(crate::destination_rule::DestinationRuleSpec),
    FrontendTlsPolicy(gateway_api::FrontendTlsPolicySpec),
    IngressBackend(osm::IngressBackendSpec),
    Ingress(nginx::IngressSpec),
    /// A kind we do not translate.
    Other,
}

impl Object {
    /// The object's kind, namespace and name.
    pub fn reference(&self) -> &ObjectRef {
        &self.reference
    }

    /// The `apiVersion`.
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// Whether it is of a kind this crate translates.
    pub fn is_translated_kind(&self) -> bool {
        !matches!(self.kind, Kind::Other)
    }

    /// Reads one object from a JSON value (as the Kubernetes API returns it).
    pub fn from_json(value: &Value) -> Result<Self, ParseError> {
        Self::from_value(value, "json", 0)
    }

    /// Reads one object from a value (a YAML document as JSON); `source` and `document` name it
    /// in errors.
    pub fn from_value(value: &Value, source: &str, document: usize) -> Result<Self, ParseError> {
        let fail = |object: Option<ObjectRef>, field: &str, message: String| {
            ParseError::new(source, document, object, field, message)
        };
        let Value::Object(map) = value else {
            return Err(fail(None, "", "not a mapping (a Kubernetes object)".into()));
        };
        let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_string);
        let api_version =
            text("apiVersion").ok_or_else(|| fail(None, "apiVersion", "missing".into()))?;
        let kind_name = text("kind").ok_or_else(|| fail(None, "kind", "missing".into()))?;
        let meta_value = map.get("metadata").cloned().unwrap_or(Value::Null);
        let (meta, _) = typed::<Metadata>(&meta_value)
            .map_err(|(p, m)| fail(None, &join("metadata", &p), m))?;
        let reference = ObjectRef {
            kind: kind_name.clone(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone(),
        };
        if meta.name.is_empty() {
            return Err(fail(None, "metadata.name", "missing".into()));
        }
        let group = api_version.split_once('/').map_or("", |(g, _)| g);
        let whole = |v: &Value| ("", v.clone());
        let spec = || ("spec", map.get("spec").cloned().unwrap_or(Value::Null));
        macro_rules! read {
            ($variant:ident, $ty:ty, $part:expr) => {{
                let (prefix, part): (&str, Value) = $part;
                let (spec, ignored) = typed::<$ty>(&part)
                    .map_err(|(p, m)| fail(Some(reference.clone()), &join(prefix, &p), m))?;
                (Kind::$variant(spec), ignored)
            }};
        }
        let (kind, ignored) = match (group, kind_name.as_str()) {
            ("", "Secret") => read!(Secret, secrets::SecretObject, whole(value)),
            ("", "ConfigMap") => read!(ConfigMap, secrets::ConfigMapObject, whole(value)),
            ("networking.istio.io", "Gateway") => read!(IstioGateway, istio::GatewaySpec, spec()),
            ("networking.istio.io", "VirtualService") => {
                read!(VirtualService, istio::VirtualServiceSpec, spec())
            }
            ("security.istio.io", "PeerAuthentication") => {
                read!(PeerAuthentication, istio::PeerAuthenticationSpec, spec())
            }
            ("gateway.networking.k8s.io", "Gateway") => {
                read!(Gateway, gateway_api::GatewaySpec, spec())
            }
            ("gateway.networking.k8s.io", "HTTPRoute") => {
                read!(HttpRoute, gateway_api::HttpRouteSpec, spec())
            }
            ("networking.istio.io", "DestinationRule") => {
                read!(
                    DestinationRule,
                    crate::destination_rule::DestinationRuleSpec,
                    spec()
                )
            }
            ("gateway.networking.k8s.io", "BackendTLSPolicy") => {
                read!(BackendTlsPolicy, gateway_api::BackendTlsPolicySpec, spec())
            }
            ("alb.networking.azure.io", "FrontendTLSPolicy") => {
                read!(
                    FrontendTlsPolicy,
                    gateway_api::FrontendTlsPolicySpec,
                    spec()
                )
            }
            ("policy.openservicemesh.io", "IngressBackend") => {
                read!(IngressBackend, osm::IngressBackendSpec, spec())
            }
            ("networking.k8s.io", "Ingress") => read!(Ingress, nginx::IngressSpec, spec()),
            _ => (Kind::Other, Vec::new()),
        };
        let ignored = match &kind {
            Kind::Secret(_) | Kind::ConfigMap(_) | Kind::Other => Vec::new(),
            _ => ignored.into_iter().map(|p| join("spec", &p)).collect(),
        };
        Ok(Self {
            reference,
            api_version,
            meta,
            ignored,
            kind,
        })
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (false, true) => a.to_string(),
        (false, false) if b.starts_with('[') => format!("{a}{b}"),
        (false, false) => format!("{a}.{b}"),
    }
}

/// Parses a YAML (or JSON) text of one or many documents (`---`), each an object or a
/// `kind: List` of them. Empty documents are skipped, and not counted in the document numbers
/// errors give. The YAML is read as [`mtls_policy::yaml`] says (a key given twice and alias
/// bombs are refused).
pub fn parse_manifests(text: &str, source: &str) -> Result<Vec<Object>, ParseError> {
    let documents = mtls_policy::yaml::documents(text)
        .map_err(|e| ParseError::new(source, 0, None, "", e.to_string()))?;
    let mut out = Vec::new();
    for (index, value) in documents.iter().enumerate() {
        let is_list = value.get("kind").and_then(Value::as_str) == Some("List");
        match (is_list, value.get("items")) {
            (true, Some(Value::Array(items))) => {
                for item in items {
                    out.push(Object::from_value(item, source, index + 1)?);
                }
            }
            _ => out.push(Object::from_value(value, source, index + 1)?),
        }
    }
    Ok(out)
}

/// An object that cannot be read: where (file, document, object, field) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(Box<Inner>);

#[derive(Clone, Debug, PartialEq, Eq)]
struct Inner {
    file: String,
    document: usize,
    object: Option<ObjectRef>,
    field: String,
    message: String,
}

impl ParseError {
    fn new(
        file: &str,
        document: usize,
        object: Option<ObjectRef>,
        field: &str,
        message: String,
    ) -> Self {
        Self(Box::new(Inner {
            file: file.into(),
            document,
            object,
            field: field.into(),
            message,
        }))
    }

    /// The file (or `json`).
    pub fn file(&self) -> &str {
        &self.0.file
    }
    /// The 1-based index of the document among the file's non-empty ones (0 for a single value,
    /// or a file that is not YAML: the message then gives the line and column).
    pub fn document(&self) -> usize {
        self.0.document
    }
    /// The object, when its kind and name could be read.
    pub fn object(&self) -> Option<&ObjectRef> {
        self.0.object.as_ref()
    }
    /// The field path (`spec.servers[0].port.number`), empty for the whole document.
    pub fn field(&self) -> &str {
        &self.0.field
    }
    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.0.message
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        write!(f, "{}", e.file)?;
        if e.document > 0 {
            write!(f, ": document {}", e.document)?;
        }
        if let Some(o) = &e.object {
            write!(f, " ({o})")?;
        }
        if !e.field.is_empty() {
            write!(f, ": {}", e.field)?;
        }
        write!(f, ": {}", e.message)
    }
}

impl std::error::Error for ParseError {}
