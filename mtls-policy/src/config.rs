//! The serde schema of a whole policy (YAML or JSON), and its errors.
//!
//! Unknown keys are rejected; errors carry the field path
//! (`listeners[1].hosts[0].client_validation.trust[0].ca`) and, when the source has them, the
//! line and column. `examples/policy.yaml` in this crate is a complete, commented example.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::access_log::AccessLogConfig;
use crate::answer::Answers;
use crate::backend::{BackendConfig, ForwardIdentityConfig};
use crate::certificate::CertificateSource;
use crate::mode::PeerMode;
pub use crate::route::RouteConfig;
use crate::scope::PeerAuthentication;
use crate::settings::{AdminConfig, ConnectionLimits, SessionTickets, TlsVersion, UnknownSni};

mod error;
mod validation;

pub use error::{ConfigError, ConfigErrorKind};
pub use validation::{Authorization, ClientValidation};

fn istio_system() -> String {
    "istio-system".into()
}
fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}
fn is_istio_system(ns: &str) -> bool {
    ns == "istio-system"
}
/// Written only when it differs from the default.
pub(crate) fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
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
    /// The access log of the process serving this configuration; absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log: Option<AccessLogConfig>,
    /// Istio's root namespace: its selector-less `PeerAuthentication` is mesh-wide.
    #[serde(default = "istio_system", skip_serializing_if = "is_istio_system")]
    pub root_namespace: String,
    /// Mesh peer-authentication policies (see [`crate::scope`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peer_authentication: Vec<PeerAuthentication>,
    /// Answers per deny code for every listener.
    #[serde(default, skip_serializing_if = "Answers::is_empty")]
    pub answers: Answers,
    /// Which identity headers go upstream with an allowed request.
    #[serde(default, skip_serializing_if = "is_default")]
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
            access_log: None,
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
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub sni_host_match: bool,
    /// What a ClientHello whose SNI no host serves gets (default: the default host).
    #[serde(default, skip_serializing_if = "is_default")]
    pub unknown_sni: UnknownSni,
    /// The oldest TLS version accepted (default TLS 1.2).
    #[serde(default, skip_serializing_if = "is_default")]
    pub min_tls_version: TlsVersion,
    /// Time and count limits of the listener's connections.
    #[serde(default, skip_serializing_if = "is_default")]
    pub limits: ConnectionLimits,
    /// Session-ticket keys shared with the listener's other replicas (default: random keys of
    /// this process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_tickets: Option<SessionTickets>,
    /// Answers per deny code, over the policy-wide ones.
    #[serde(default, skip_serializing_if = "Answers::is_empty")]
    pub answers: Answers,
    /// A candidate client validation evaluated beside the active one of each host that has
    /// none of its own (see [`HostConfig::shadow_client_validation`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_client_validation: Option<ClientValidation>,
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
            session_tickets: None,
            answers: Answers::default(),
            shadow_client_validation: None,
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

    /// Shares session-ticket keys with the listener's other replicas.
    pub fn session_tickets(mut self, tickets: SessionTickets) -> Self {
        self.session_tickets = Some(tickets);
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
    /// Shadow trust: a candidate client validation (its own trust domains, CRLs, issuer
    /// scopes, pins, mode) evaluated beside `client_validation` on every handshake and
    /// request, by the same verifier and decision, and never enforced. Where the two
    /// disagree, the gateway counts and logs it (`mtls_shadow_disagreements_total`).
    /// Promoting the candidate is a reload: move it to `client_validation`. Overrides the
    /// listener's `shadow_client_validation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_client_validation: Option<ClientValidation>,
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
            shadow_client_validation: None,
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

    /// Sets the candidate client validation of shadow trust, evaluated beside the active one
    /// and never enforced.
    pub fn shadow_client_validation(mut self, validation: ClientValidation) -> Self {
        self.shadow_client_validation = Some(validation);
        self
    }

    /// Adds a route.
    pub fn route(mut self, route: RouteConfig) -> Self {
        self.routes.push(route);
        self
    }
}
