//! A compiled policy: listeners by port, hosts by name, routes by path, matchers.

use std::any::Any;
use std::sync::Arc;

use crate::FastMap;
use crate::answer::Answers;
use crate::config::{ConfigError, ConfigErrorKind, HostConfig, ListenerConfig, PolicyConfig};
use crate::danger::DangerousClientValidation;
use crate::enforce::{self, EnforceAt};
use crate::host::{HostIndex, HostNameError};
use crate::identity::{IdentityMatcher, Pins};
use crate::mode::{ClientCertMode, PeerMode};
use crate::path::PathTable;
use crate::reason::DenyCode;
use crate::route::{Route, RouteId};
use crate::scope::PeerAuthentications;
use crate::trust::{Treatment, TrustDomain};

/// A compiled policy, ready for [`Policy::decide`](crate::Policy::decide).
///
/// Build it once per configuration snapshot; deciding never allocates on the allow path
/// (beyond what an audit note needs) and costs the same with 10 or 100,000 allow-list entries,
/// host names or routes.
#[derive(Clone, Debug)]
pub struct Policy {
    pub(crate) config: PolicyConfig,
    pub(crate) mesh: PeerAuthentications,
    pub(crate) by_port: FastMap<u16, usize>,
    pub(crate) listeners: Vec<Listener>,
    pub(crate) routes: Vec<Route>,
    /// The candidate of shadow trust ([`crate::shadow`]).
    pub(crate) candidate: Option<Arc<Self>>,
    attachment: Option<Arc<dyn Any + Send + Sync>>,
}

#[derive(Clone, Debug)]
pub(crate) struct Listener {
    pub(crate) name: String,
    pub(crate) peer_mode: Option<PeerMode>,
    pub(crate) audit: bool,
    pub(crate) sni_host_match: bool,
    pub(crate) answers: Answers,
    pub(crate) hosts: Vec<Host>,
    pub(crate) index: HostIndex,
}

#[derive(Clone, Debug)]
pub(crate) struct Host {
    pub(crate) mode: ClientCertMode,
    pub(crate) trust: Vec<Trust>,
    pub(crate) pins: Pins,
    pub(crate) danger: DangerousClientValidation,
    pub(crate) enforce_at: EnforceAt,
    /// Path → index into `Policy::routes`.
    pub(crate) routes: PathTable,
}

#[derive(Clone, Debug)]
pub(crate) struct Trust {
    pub(crate) name: String,
    pub(crate) unknown_status: Treatment,
    pub(crate) may_vouch_for: Option<IdentityMatcher>,
}

fn invalid(path: String, e: impl std::fmt::Display) -> ConfigError {
    ConfigError::new(ConfigErrorKind::Invalid, path, e.to_string())
}

fn conflict(path: String, e: impl std::fmt::Display) -> ConfigError {
    ConfigError::new(ConfigErrorKind::Conflict, path, e.to_string())
}

fn compile_trust(t: &TrustDomain, path: &str) -> Result<Trust, ConfigError> {
    let unknown_status = t.crl.as_ref().map_or(Treatment::Deny, |c| c.unknown_status);
    if let Some(dp) = t.crl.as_ref().and_then(|c| c.distribution_points.as_ref()) {
        dp.validate()
            .map_err(|(field, e)| invalid(format!("{path}.crl.distribution_points.{field}"), e))?;
    }
    if let Some(ocsp) = &t.ocsp {
        ocsp.validate()
            .map_err(|(field, e)| invalid(format!("{path}.ocsp.{field}"), e))?;
    }
    let may_vouch_for = match &t.may_vouch_for {
        Some(spec) => Some(
            IdentityMatcher::new(spec).map_err(|e| invalid(format!("{path}.may_vouch_for"), e))?,
        ),
        None => None,
    };
    Ok(Trust {
        name: t.name.clone(),
        unknown_status,
        may_vouch_for,
    })
}

impl Policy {
    /// Compiles a configuration: checks what spans several items (duplicate ports and host
    /// names, backends the routes name, peer-authentication scopes) and compiles every
    /// matcher. Errors name the field path.
    pub fn new(config: PolicyConfig) -> Result<Self, ConfigError> {
        let mesh =
            PeerAuthentications::new(&config.root_namespace, config.peer_authentication.clone())
                .map_err(|e| {
                    let msg = e.to_string();
                    let (path, msg) = msg.split_once(": ").unwrap_or((".", &msg));
                    ConfigError::new(ConfigErrorKind::Conflict, path, msg)
                })?;
        if let Some(log) = &config.access_log {
            log.validate()
                .map_err(|(field, e)| invalid(format!("access_log.{field}"), e))?;
        }
        for (name, backend) in &config.backends {
            backend
                .validate()
                .map_err(|(field, e)| invalid(format!("backends.{name}.{field}"), e))?;
        }
        let mut by_port = FastMap::default();
        let mut listeners = Vec::with_capacity(config.listeners.len());
        let mut routes = Vec::new();
        let mut names = FastMap::default();
        for (li, l) in config.listeners.iter().enumerate() {
            let at = format!("listeners[{li}]");
            if let Some(prev) = names.insert(l.name.as_str(), li) {
                return Err(conflict(
                    format!("{at}.name"),
                    format!(
                        "conflicting settings: listener {:?} is also listeners[{prev}]",
                        l.name
                    ),
                ));
            }
            if l.address.is_some() == l.port.is_some() {
                return Err(invalid(
                    at,
                    "give the listener's `address` or its `port` (one of the two)",
                ));
            }
            if let Some(prev) = by_port.insert(l.port(), li) {
                return Err(conflict(
                    format!("{at}.{}", if l.port.is_some() { "port" } else { "address" }),
                    format!(
                        "conflicting settings: port {} is also the port of listeners[{prev}]",
                        l.port()
                    ),
                ));
            }
            l.limits
                .validate()
                .map_err(|(field, e)| invalid(format!("{at}.limits.{field}"), e))?;
            listeners.push(compile_listener(&config, l, li, &mut routes)?);
        }
        let candidate = crate::shadow::compile(&config)?.map(Arc::new);
        Ok(Self {
            config,
            mesh,
            by_port,
            listeners,
            routes,
            candidate,
            attachment: None,
        })
    }

    /// Parses and compiles YAML.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        Self::new(PolicyConfig::from_yaml(text)?)
    }

    /// Parses and compiles JSON.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        Self::new(PolicyConfig::from_json(text)?)
    }

    /// The configuration this policy was compiled from (the TLS layer reads the trust
    /// material references from it).
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// The compiled peer-authentication scopes.
    pub fn peer_authentications(&self) -> &PeerAuthentications {
        &self.mesh
    }

    /// Every route of every listener, indexed by [`RouteId::index`].
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// A route of this policy.
    pub fn route(&self, id: RouteId) -> Option<&Route> {
        self.routes.get(id.index())
    }

    /// The configuration of the listener named `name`.
    pub fn listener(&self, name: &str) -> Option<&ListenerConfig> {
        self.config.listeners.iter().find(|l| l.name == name)
    }

    /// The index of the host of listener `listener` (by name) that serves `name` (a normal
    /// host name: [`normalize_host`](crate::host::normalize_host); `None` for no name): the
    /// same lookup the decision makes. The index is into the listener's `hosts`.
    pub fn host_index(&self, listener: &str, name: Option<&str>) -> Option<usize> {
        let li = self
            .config
            .listeners
            .iter()
            .position(|l| l.name == listener)?;
        self.listeners[li].index.lookup(name)
    }

    /// Attaches what a consumer built from this policy (a proxy's connection pools by
    /// [`RouteId`], a TLS configuration), so that it is swapped together with the policy
    /// and a request is never served by one snapshot's decision and another's forwarding.
    /// One attachment per policy; attaching again replaces it.
    pub fn attach<T: Any + Send + Sync>(&mut self, value: Arc<T>) {
        self.attachment = Some(value);
    }

    /// The attachment, if it is a `T`.
    pub fn attachment<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.attachment.as_deref()?.downcast_ref()
    }
}

fn compile_listener(
    config: &PolicyConfig,
    l: &ListenerConfig,
    li: usize,
    routes: &mut Vec<Route>,
) -> Result<Listener, ConfigError> {
    let index = HostIndex::new(l.hosts.iter().map(|h| &h.hostnames)).map_err(|e| {
        let host = match &e {
            HostNameError::Invalid { name, .. } | HostNameError::Duplicate(name) => l
                .hosts
                .iter()
                .rposition(|h| h.hostnames.contains(name))
                .unwrap_or(0),
            _ => l
                .hosts
                .iter()
                .rposition(|h| h.hostnames.is_empty())
                .unwrap_or(0),
        };
        let path = format!("listeners[{li}].hosts[{host}].hostnames");
        match e {
            HostNameError::Invalid { .. } => invalid(path, e),
            _ => conflict(path, format!("conflicting settings: {e}")),
        }
    })?;
    let mut hosts = Vec::with_capacity(l.hosts.len());
    for (hi, h) in l.hosts.iter().enumerate() {
        hosts.push(compile_host(config, h, li, hi, routes)?);
    }
    check_answers(config, l, li, &hosts)?;
    let answer_of = |code| {
        l.answers
            .0
            .get(&code)
            .map(|a| (format!("listeners[{li}].answers.{code}"), a.clone()))
            .or_else(|| {
                let a = config.answers.0.get(&code)?;
                Some((format!("answers.{code}"), a.clone()))
            })
    };
    let enforced = l.hosts.iter().zip(hosts.iter().map(|h| h.enforce_at));
    if let Some((field, why)) = crate::ocsp::hard_mode_refusal(&l.name, li, enforced, answer_of) {
        return Err(invalid(field, why));
    }
    Ok(Listener {
        name: l.name.clone(),
        peer_mode: l.peer_mode.filter(|m| *m != PeerMode::Unset),
        audit: l.audit,
        sni_host_match: l.sni_host_match,
        answers: l.answers.clone(),
        hosts,
        index,
    })
}

/// Refuses an answer the listener could not give: every configured answer is the one the
/// client gets (see [`enforce`]). The error names the field that configures it (the
/// listener's `answers`, else the policy-wide ones), the listener and, when the host decides,
/// the host.
fn check_answers(
    config: &PolicyConfig,
    l: &ListenerConfig,
    li: usize,
    hosts: &[Host],
) -> Result<(), ConfigError> {
    let configured = |code| {
        l.answers
            .0
            .get(&code)
            .map(|a| (format!("listeners[{li}].answers.{code}"), a))
            .or_else(|| {
                config
                    .answers
                    .0
                    .get(&code)
                    .map(|a| (format!("answers.{code}"), a))
            })
    };
    for code in DenyCode::ALL {
        let Some((path, answer)) = configured(code) else {
            continue;
        };
        let at_handshake = enforce::refusal(code, answer, EnforceAt::Handshake);
        let refused = at_handshake.map(|why| (why, None)).or_else(|| {
            hosts.iter().enumerate().find_map(|(hi, h)| {
                enforce::refusal(code, answer, h.enforce_at).map(|why| (why, Some(hi)))
            })
        });
        if let Some((why, host)) = refused {
            let at = match host {
                Some(hi) => format!("listener {:?}, hosts[{hi}]", l.name),
                None => format!("listener {:?}", l.name),
            };
            return Err(invalid(path, format!("{why} ({at})")));
        }
    }
    Ok(())
}

fn compile_host(
    config: &PolicyConfig,
    h: &HostConfig,
    li: usize,
    hi: usize,
    routes: &mut Vec<Route>,
) -> Result<Host, ConfigError> {
    let hpath = format!("listeners[{li}].hosts[{hi}]");
    let cv = h
        .client_validation
        .clone()
        .unwrap_or_else(|| crate::config::ClientValidation {
            mode: ClientCertMode::None,
            ..Default::default()
        });
    let trust = cv
        .trust
        .iter()
        .enumerate()
        .map(|(ti, t)| compile_trust(t, &format!("{hpath}.client_validation.trust[{ti}]")))
        .collect::<Result<_, _>>()?;
    let mut table = PathTable::default();
    for (ri, r) in h.routes.iter().enumerate() {
        let rpath = format!("{hpath}.routes[{ri}]");
        let path = r
            .path_match()
            .map_err(|(field, e)| invalid(format!("{rpath}.{field}"), e))?;
        if let Some(backend) = &r.backend {
            if r.respond.is_some() {
                return Err(conflict(
                    format!("{rpath}.respond"),
                    "conflicting settings: `backend` and `respond`",
                ));
            }
            if !config.backends.contains_key(backend) {
                return Err(invalid(
                    format!("{rpath}.backend"),
                    format!("no backend named {backend:?} (see `backends`)"),
                ));
            }
        }
        if let Some(respond) = &r.respond {
            respond
                .validate()
                .map_err(|(field, e)| invalid(format!("{rpath}.respond.{field}"), e))?;
        }
        let allow = match &r.authorization {
            Some(a) => Some(
                IdentityMatcher::new(&a.spec())
                    .map_err(|e| invalid(format!("{rpath}.authorization"), e))?,
            ),
            None => None,
        };
        let id = u32::try_from(routes.len())
            .map(RouteId)
            .map_err(|_| invalid(rpath.clone(), "too many routes"))?;
        if !table.insert(&path, id.index()) {
            return Err(conflict(
                rpath,
                format!("conflicting settings: another route of this host matches {path}"),
            ));
        }
        routes.push(Route {
            id,
            name: match (r.name.is_empty(), &r.path_prefix, &r.path_exact) {
                (false, ..) => r.name.clone(),
                (true, Some(p), _) | (true, None, Some(p)) => p.clone(),
                (true, None, None) => "/".to_owned(),
            },
            listener: li,
            host: hi,
            path,
            allow,
            audit: r.authorization.as_ref().is_some_and(|a| a.audit),
            config: r.clone(),
        });
    }
    Ok(Host {
        mode: cv.mode,
        trust,
        pins: cv.pins,
        danger: cv.danger,
        enforce_at: cv.enforce_at,
        routes: table,
    })
}

impl Host {
    pub(crate) fn trust(&self, name: &str) -> Option<&Trust> {
        self.trust.iter().find(|t| t.name == name)
    }
}
