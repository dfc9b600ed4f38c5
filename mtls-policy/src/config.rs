//! The serde schema of a whole policy (YAML or JSON), and its errors.
//!
//! Unknown keys are rejected; errors carry the field path
//! (`listeners[1].hosts[0].client_validation.trust[0].ca`) and, when the source has them, the
//! line and column. `examples/policy.yaml` in this crate is a complete, commented example.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::answer::Answers;
use crate::backend::{BackendConfig, ForwardIdentityConfig};
use crate::certificate::CertificateSource;
use crate::danger::DangerousClientValidation;
use crate::identity::{IdentityMatchSpec, IdentityRule, Pins};
use crate::mode::{ClientCertMode, PeerMode};
pub use crate::route::RouteConfig;
use crate::scope::PeerAuthentication;
use crate::settings::{AdminConfig, ConnectionLimits, TlsVersion, UnknownSni};
use crate::trust::TrustDomain;

fn istio_system() -> String {
    "istio-system".into()
}
fn yes() -> bool {
    true
}

/// A whole configuration as written: the listeners, their hosts and routes, the backends
/// those routes forward to, and the settings around them.
///
/// Build it from YAML or JSON ([`from_yaml`](Self::from_yaml)), or in code:
///
/// ```
/// use mtls_policy::{
///     Authorization, BackendConfig, ClientValidation, HostConfig, ListenerConfig, Policy,
///     PolicyConfig, RouteConfig, TrustDomain, TrustSource,
/// };
///
/// let partners = TrustDomain::new("partners", TrustSource::File("partners-ca.pem".into()));
/// let host = HostConfig::new(["api.example.com"])
///     .client_validation(ClientValidation::required(vec![partners]))
///     .route(
///         RouteConfig::prefix("/admin")
///             .authorization(Authorization::principals(["spiffe://partners.example/ops"]))
///             .backend("api"),
///     )
///     .route(RouteConfig::prefix("/").backend("api"));
/// let config = PolicyConfig::new()
///     .listener(ListenerConfig::on_port("public", 8443).host(host))
///     .backend("api", BackendConfig::new("http://127.0.0.1:3000"));
/// let policy = Policy::new(config)?;
/// assert_eq!(policy.routes().len(), 2);
/// # Ok::<(), mtls_policy::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PolicyConfig {
    /// The admin endpoint of the process serving this configuration (the gateway's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<AdminConfig>,
    /// Istio's root namespace: its selector-less `PeerAuthentication` is mesh-wide.
    #[serde(default = "istio_system")]
    pub root_namespace: String,
    /// Mesh peer-authentication policies (see [`crate::scope`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peer_authentication: Vec<PeerAuthentication>,
    /// Answers per deny code for every listener.
    #[serde(default, skip_serializing_if = "Answers::is_empty")]
    pub answers: Answers,
    /// Which identity headers go upstream with an allowed request.
    #[serde(default)]
    pub forward_identity: ForwardIdentityConfig,
    /// The listeners.
    pub listeners: Vec<ListenerConfig>,
    /// Upstreams by name, for the routes' `backend`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub backends: BTreeMap<String, BackendConfig>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl PolicyConfig {
    /// An empty configuration.
    pub fn new() -> Self {
        Self {
            admin: None,
            root_namespace: istio_system(),
            peer_authentication: Vec::new(),
            answers: Answers::default(),
            forward_identity: ForwardIdentityConfig::default(),
            listeners: Vec::new(),
            backends: BTreeMap::new(),
        }
    }

    /// Adds a listener.
    pub fn listener(mut self, listener: ListenerConfig) -> Self {
        self.listeners.push(listener);
        self
    }

    /// Adds (or replaces) a backend.
    pub fn backend(mut self, name: impl Into<String>, backend: BackendConfig) -> Self {
        self.backends.insert(name.into(), backend);
        self
    }
}

/// One listening socket: where, with which hosts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ListenerConfig {
    /// A name for reasons, logs and metrics.
    pub name: String,
    /// The socket address to listen on (its port is the listener's port). Or give `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<SocketAddr>,
    /// The port, when the address is not given (a library serving on its own socket, or a
    /// server listening on every address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The listener's own peer mode, used when the decision has no workload context (or no
    /// `peer_authentication` is configured). Absent: TLS only, the hosts' client-cert modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_mode: Option<PeerMode>,
    /// Decide and report, but allow (migration to STRICT).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub audit: bool,
    /// Deny requests whose Host selects another host than the TLS SNI (default true).
    #[serde(default = "yes")]
    pub sni_host_match: bool,
    /// What a ClientHello whose SNI no host serves gets (default: the default host).
    #[serde(default)]
    pub unknown_sni: UnknownSni,
    /// The oldest TLS version accepted (default TLS 1.2).
    #[serde(default)]
    pub min_tls_version: TlsVersion,
    /// Time and count limits of the listener's connections.
    #[serde(default)]
    pub limits: ConnectionLimits,
    /// Answers per deny code, over the policy-wide ones.
    #[serde(default, skip_serializing_if = "Answers::is_empty")]
    pub answers: Answers,
    /// Hosts by SNI / Host; one with no `hostnames` is the default.
    pub hosts: Vec<HostConfig>,
}

impl ListenerConfig {
    fn with(name: String, address: Option<SocketAddr>, port: Option<u16>) -> Self {
        Self {
            name,
            address,
            port,
            peer_mode: None,
            audit: false,
            sni_host_match: true,
            unknown_sni: UnknownSni::default(),
            min_tls_version: TlsVersion::default(),
            limits: ConnectionLimits::default(),
            answers: Answers::default(),
            hosts: Vec::new(),
        }
    }

    /// A listener named `name` on `port` (the address is the serving code's choice).
    pub fn on_port(name: impl Into<String>, port: u16) -> Self {
        Self::with(name.into(), None, Some(port))
    }

    /// A listener named `name` on `address`.
    pub fn on_address(name: impl Into<String>, address: SocketAddr) -> Self {
        Self::with(name.into(), Some(address), None)
    }

    /// Adds a host.
    pub fn host(mut self, host: HostConfig) -> Self {
        self.hosts.push(host);
        self
    }

    /// Sets the peer mode.
    pub fn peer_mode(mut self, mode: PeerMode) -> Self {
        self.peer_mode = Some(mode);
        self
    }

    /// The listener's port: its address's, or `port`.
    pub fn port(&self) -> u16 {
        self.address.map(|a| a.port()).or(self.port).unwrap_or(0)
    }
}

/// One host (or set of host names) of a listener: its certificate, client validation and
/// routes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HostConfig {
    /// Exact names and `*.parent` wildcards; empty for the default host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hostnames: Vec<String>,
    /// The server certificate (a library may supply certificates in code instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateSource>,
    /// Client-certificate validation; absent: no client certificate is requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_validation: Option<ClientValidation>,
    /// Routes: an exact path wins, then the longest prefix (on segment boundaries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteConfig>,
}

impl HostConfig {
    /// A host serving `hostnames` (none: the default host).
    pub fn new<I, S>(hostnames: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            hostnames: hostnames.into_iter().map(Into::into).collect(),
            certificate: None,
            client_validation: None,
            routes: Vec::new(),
        }
    }

    /// Sets the server certificate.
    pub fn certificate(mut self, certificate: CertificateSource) -> Self {
        self.certificate = Some(certificate);
        self
    }

    /// Sets the client validation.
    pub fn client_validation(mut self, validation: ClientValidation) -> Self {
        self.client_validation = Some(validation);
        self
    }

    /// Adds a route.
    pub fn route(mut self, route: RouteConfig) -> Self {
        self.routes.push(route);
        self
    }
}

/// How a host validates client certificates.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ClientValidationRepr")]
#[non_exhaustive]
pub struct ClientValidation {
    /// Required (default), optional or none.
    pub mode: ClientCertMode,
    /// Isolated trust domains.
    pub trust: Vec<TrustDomain>,
    /// Certificate / SPKI pins.
    #[serde(skip_serializing_if = "Pins::is_empty")]
    pub pins: Pins,
    /// Sharp tools.
    pub danger: DangerousClientValidation,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientValidationRepr {
    #[serde(default)]
    mode: ClientCertMode,
    #[serde(default)]
    trust: Vec<TrustDomain>,
    #[serde(default)]
    pins: Pins,
    #[serde(default)]
    danger: DangerousClientValidation,
}

impl ClientValidation {
    /// Requires a client certificate that one of `trust` verifies.
    pub fn required(trust: Vec<TrustDomain>) -> Self {
        Self {
            mode: ClientCertMode::Required,
            trust,
            ..Self::default()
        }
    }

    /// Asks for a client certificate that one of `trust` verifies; lets clients without one
    /// through (Istio `OPTIONAL_MUTUAL`).
    pub fn optional(trust: Vec<TrustDomain>) -> Self {
        Self {
            mode: ClientCertMode::Optional,
            trust,
            ..Self::default()
        }
    }
}

impl TryFrom<ClientValidationRepr> for ClientValidation {
    type Error = String;
    fn try_from(r: ClientValidationRepr) -> Result<Self, String> {
        let skip = r.danger.skip_client_cert_validation;
        let conflict = |a: &str, b: &str| Err(format!("conflicting settings: {a} and {b}"));
        if r.mode == ClientCertMode::None && !r.trust.is_empty() {
            return conflict("`mode: none`", "`trust`");
        }
        if r.mode == ClientCertMode::None && skip {
            return conflict("`mode: none`", "`danger.skip_client_cert_validation`");
        }
        if r.mode != ClientCertMode::None && r.trust.is_empty() && !skip {
            return Err(format!(
                "`mode: {}` needs at least one `trust` domain",
                r.mode
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, t) in r.trust.iter().enumerate() {
            if !names.insert(t.name.as_str()) {
                return Err(format!("trust[{i}].name {:?} is used twice", t.name));
            }
            if t.ca.is_empty() {
                return Err(format!("trust[{i}].ca is empty"));
            }
            if t.max_chain_depth == Some(0) {
                return Err(format!("trust[{i}].max_chain_depth must be at least 1"));
            }
        }
        Ok(Self {
            mode: r.mode,
            trust: r.trust,
            pins: r.pins,
            danger: r.danger,
        })
    }
}

/// An allow-list of identities for a route.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Authorization {
    /// Exact principals (osm `AuthenticatedPrincipal`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    /// Rules by field.
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<IdentityRule>,
    /// Decide and report, but allow.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub audit: bool,
}

impl Authorization {
    /// Allows exactly these principals (SPIFFE IDs, URI or DNS SANs).
    pub fn principals<I, S>(principals: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            principals: principals.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// The identities this authorization allows.
    pub fn spec(&self) -> IdentityMatchSpec {
        IdentityMatchSpec {
            principals: self.principals.clone(),
            rules: self.rules.clone(),
        }
    }
}

/// What kind of problem a [`ConfigError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// Not YAML / JSON, or not of the schema's shape (unknown key, wrong type).
    Syntax,
    /// A value is invalid (bad regex, bad pin, missing trust).
    Invalid,
    /// Two settings contradict each other; the message names both.
    Conflict,
}

/// A configuration error: where (field path, line, column) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    kind: ConfigErrorKind,
    path: String,
    line: Option<usize>,
    column: Option<usize>,
    message: String,
}

impl ConfigError {
    pub(crate) fn new(
        kind: ConfigErrorKind,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            path: path.into(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    fn from_message(path: String, message: String, pos: Option<(usize, usize)>) -> Self {
        let kind = if message.starts_with("conflicting settings") {
            ConfigErrorKind::Conflict
        } else if message.starts_with("unknown field")
            || message.starts_with("missing field")
            || message.starts_with("invalid type")
            || message.starts_with("unknown variant")
            || message.starts_with("unknown deny code")
            || message.contains("while parsing")
        {
            ConfigErrorKind::Syntax
        } else {
            ConfigErrorKind::Invalid
        };
        let (line, column) = pos.unzip();
        Self {
            kind,
            path,
            line,
            column,
            message,
        }
    }

    /// The kind.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }
    /// The field path (`listeners[1].hosts[0].client_validation`), `.` for the root.
    pub fn path(&self) -> &str {
        &self.path
    }
    /// The 1-based line, when known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }
    /// The 1-based column, when known.
    pub fn column(&self) -> Option<usize> {
        self.column
    }
    /// What is wrong, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path != "." {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, " at line {l} column {c}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Strips the location (" at line L column C") and the path prefix ("a.b: ") that the YAML
/// crate adds to its messages, to keep only the cause.
fn bare_message(text: &str, yaml_path: Option<&str>, pos: Option<(usize, usize)>) -> String {
    let mut t = text;
    if let Some((l, c)) = pos {
        t = t
            .strip_suffix(&format!(" at line {l} column {c}"))
            .unwrap_or(t);
    }
    if let Some(p) = yaml_path {
        // The YAML crate's own path may stop short of ours (ours names an unknown key).
        let cuts = p
            .char_indices()
            .filter(|(_, c)| matches!(c, '.' | '['))
            .map(|(i, _)| i);
        for end in std::iter::once(p.len()).chain(cuts.collect::<Vec<_>>().into_iter().rev()) {
            if let Some(rest) = t.strip_prefix(&p[..end]).and_then(|r| r.strip_prefix(": ")) {
                t = rest;
                break;
            }
        }
    }
    t.to_owned()
}

impl PolicyConfig {
    /// Parses YAML.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let de = serde_norway::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let pos = inner.location().map(|l| (l.line(), l.column()));
            let msg = bare_message(&inner.to_string(), Some(&path), pos);
            ConfigError::from_message(path, msg, pos)
        })
    }

    /// Writes the configuration as YAML that [`from_yaml`](Self::from_yaml) reads back as the
    /// same configuration (pins included). Fails only if a value has no YAML form.
    ///
    /// ```
    /// use mtls_policy::{BackendConfig, HostConfig, ListenerConfig, PolicyConfig, RouteConfig};
    ///
    /// let host = HostConfig::new(["api.example.com"]).route(RouteConfig::prefix("/").backend("api"));
    /// let config = PolicyConfig::new()
    ///     .listener(ListenerConfig::on_port("public", 8443).host(host))
    ///     .backend("api", BackendConfig::new("http://127.0.0.1:3000"));
    /// let yaml = config.to_yaml()?;
    /// assert_eq!(PolicyConfig::from_yaml(&yaml)?, config);
    /// # Ok::<(), mtls_policy::ConfigError>(())
    /// ```
    pub fn to_yaml(&self) -> Result<String, ConfigError> {
        serde_norway::to_string(self)
            .map_err(|e| ConfigError::new(ConfigErrorKind::Invalid, ".", e.to_string()))
    }

    /// Parses JSON.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let pos = (inner.line() > 0).then(|| (inner.line(), inner.column()));
            let msg = bare_message(&inner.to_string(), None, pos);
            ConfigError::from_message(path, msg, pos)
        })
    }
}
