//! The serde schema of a whole policy (YAML or JSON), and its errors.
//!
//! Unknown keys are rejected; errors carry the field path
//! (`listeners[1].hosts[0].client_validation.trust[0].ca`) and, when the source has them, the
//! line and column. `examples/policy.yaml` in this crate is a complete, commented example.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::answer::Answers;
use crate::danger::DangerousClientValidation;
use crate::identity::{IdentityMatchSpec, IdentityRule, Pins};
use crate::mode::{ClientCertMode, PeerMode};
use crate::scope::PeerAuthentication;
use crate::trust::TrustDomain;

fn istio_system() -> String {
    "istio-system".into()
}
fn yes() -> bool {
    true
}

/// A whole policy as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PolicyConfig {
    /// Istio's root namespace: its selector-less `PeerAuthentication` is mesh-wide.
    #[serde(default = "istio_system")]
    pub root_namespace: String,
    /// Mesh peer-authentication policies (see [`crate::scope`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peer_authentication: Vec<PeerAuthentication>,
    /// Answers per deny code for every listener.
    #[serde(default)]
    pub answers: Answers,
    /// The listeners.
    pub listeners: Vec<ListenerConfig>,
}

/// One listening port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ListenerConfig {
    /// A name for reasons and metrics.
    pub name: String,
    /// The port.
    pub port: u16,
    /// The listener's own peer mode, used when the decision has no workload context (or no
    /// `peer_authentication` is configured). Absent: TLS only, the hosts' client-cert modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_mode: Option<PeerMode>,
    /// Decide and report, but allow (migration to STRICT).
    #[serde(default)]
    pub audit: bool,
    /// Deny requests whose Host selects another host than the TLS SNI (default true).
    #[serde(default = "yes")]
    pub sni_host_match: bool,
    /// Answers per deny code, over the policy-wide ones.
    #[serde(default)]
    pub answers: Answers,
    /// Hosts by SNI / Host; one with no `hostnames` is the default.
    pub hosts: Vec<HostConfig>,
}

/// One host (or set of host names) of a listener: its client validation and routes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HostConfig {
    /// Exact names and `*.parent` wildcards; empty for the default host.
    #[serde(default)]
    pub hostnames: Vec<String>,
    /// Client-certificate validation; absent: no client certificate is requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_validation: Option<ClientValidation>,
    /// Routes by path prefix (longest wins).
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
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
    #[serde(skip_serializing)]
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

/// A route: a path prefix and who may use it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RouteConfig {
    /// A name for reasons (the path prefix when empty).
    #[serde(default)]
    pub name: String,
    /// The path prefix (`/` for everything).
    pub path_prefix: String,
    /// Who may use the route; anyone the host lets in when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
}

/// An allow-list of identities for a route.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Authorization {
    /// Exact principals (osm `AuthenticatedPrincipal`).
    #[serde(default)]
    pub principals: Vec<String>,
    /// Rules by field.
    #[serde(default, rename = "match")]
    pub rules: Vec<IdentityRule>,
    /// Decide and report, but allow.
    #[serde(default)]
    pub audit: bool,
}

impl Authorization {
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
