//! A compiled policy: listeners by port, hosts by name, routes, matchers.

use crate::FastMap;
use crate::answer::Answers;
use crate::config::{ConfigError, ConfigErrorKind, PolicyConfig};
use crate::danger::DangerousClientValidation;
use crate::identity::{IdentityMatcher, Pins};
use crate::mode::{ClientCertMode, PeerMode};
use crate::scope::PeerAuthentications;
use crate::trust::{Treatment, TrustDomain};

/// A compiled policy, ready for [`Policy::decide`](crate::Policy::decide).
///
/// Build it once per configuration snapshot; deciding never allocates on the allow path
/// (beyond what an audit note needs) and costs the same with 10 or 100,000 allow-list entries.
#[derive(Clone, Debug)]
pub struct Policy {
    pub(crate) config: PolicyConfig,
    pub(crate) mesh: PeerAuthentications,
    pub(crate) by_port: FastMap<u16, usize>,
    pub(crate) listeners: Vec<Listener>,
}

#[derive(Clone, Debug)]
pub(crate) struct Listener {
    pub(crate) name: String,
    pub(crate) peer_mode: Option<PeerMode>,
    pub(crate) audit: bool,
    pub(crate) sni_host_match: bool,
    pub(crate) answers: Answers,
    pub(crate) hosts: Vec<Host>,
    exact: FastMap<Box<str>, usize>,
    wildcard: FastMap<Box<str>, usize>,
    default_host: Option<usize>,
}

#[derive(Clone, Debug)]
pub(crate) struct Host {
    pub(crate) mode: ClientCertMode,
    pub(crate) trust: Vec<Trust>,
    pub(crate) pins: Pins,
    pub(crate) danger: DangerousClientValidation,
    /// Sorted by path prefix length, longest first.
    pub(crate) routes: Vec<Route>,
}

#[derive(Clone, Debug)]
pub(crate) struct Trust {
    pub(crate) name: String,
    pub(crate) unknown_status: Treatment,
    pub(crate) expired_crl: Treatment,
    pub(crate) may_vouch_for: Option<IdentityMatcher>,
}

#[derive(Clone, Debug)]
pub(crate) struct Route {
    pub(crate) name: String,
    pub(crate) path_prefix: String,
    pub(crate) allow: Option<IdentityMatcher>,
    pub(crate) audit: bool,
}

fn invalid(path: String, e: impl std::fmt::Display) -> ConfigError {
    ConfigError::new(ConfigErrorKind::Invalid, path, e.to_string())
}

fn compile_trust(t: &TrustDomain, path: &str) -> Result<Trust, ConfigError> {
    let (unknown_status, expired_crl) = match &t.crl {
        Some(c) => (c.unknown_status, c.expired_crl),
        None => (Treatment::Deny, Treatment::Allow),
    };
    let may_vouch_for = match &t.may_vouch_for {
        Some(spec) => Some(
            IdentityMatcher::new(spec).map_err(|e| invalid(format!("{path}.may_vouch_for"), e))?,
        ),
        None => None,
    };
    Ok(Trust {
        name: t.name.clone(),
        unknown_status,
        expired_crl,
        may_vouch_for,
    })
}

impl Policy {
    /// Compiles a configuration: checks what spans several items (duplicate ports and host
    /// names, peer-authentication scopes) and compiles every matcher.
    pub fn new(config: PolicyConfig) -> Result<Self, ConfigError> {
        let mesh =
            PeerAuthentications::new(&config.root_namespace, config.peer_authentication.clone())
                .map_err(|e| {
                    let msg = e.to_string();
                    let (path, msg) = msg.split_once(": ").unwrap_or((".", &msg));
                    ConfigError::new(ConfigErrorKind::Conflict, path, msg)
                })?;
        let mut by_port = FastMap::default();
        let mut listeners = Vec::with_capacity(config.listeners.len());
        for (li, l) in config.listeners.iter().enumerate() {
            if let Some(prev) = by_port.insert(l.port, li) {
                return Err(ConfigError::new(
                    ConfigErrorKind::Conflict,
                    format!("listeners[{li}].port"),
                    format!(
                        "conflicting settings: port {} is also listeners[{prev}].port",
                        l.port
                    ),
                ));
            }
            let mut listener = Listener {
                name: l.name.clone(),
                peer_mode: l.peer_mode.filter(|m| *m != PeerMode::Unset),
                audit: l.audit,
                sni_host_match: l.sni_host_match,
                answers: l.answers.clone(),
                hosts: Vec::with_capacity(l.hosts.len()),
                exact: FastMap::default(),
                wildcard: FastMap::default(),
                default_host: None,
            };
            for (hi, h) in l.hosts.iter().enumerate() {
                let hpath = format!("listeners[{li}].hosts[{hi}]");
                let dup = |what: &str| {
                    ConfigError::new(
                        ConfigErrorKind::Conflict,
                        format!("{hpath}.hostnames"),
                        format!(
                            "conflicting settings: {what} is also served by another host of listener {}",
                            l.name
                        ),
                    )
                };
                if h.hostnames.is_empty() && listener.default_host.replace(hi).is_some() {
                    return Err(dup("the default host (no hostnames)"));
                }
                for name in &h.hostnames {
                    let lower = name.to_ascii_lowercase();
                    let clash = match lower.strip_prefix("*.") {
                        Some(parent) => listener.wildcard.insert(parent.into(), hi).is_some(),
                        None => listener.exact.insert(lower.into(), hi).is_some(),
                    };
                    if clash {
                        return Err(dup(&format!("host name {name:?}")));
                    }
                }
                let cv = h.client_validation.clone().unwrap_or_else(|| {
                    crate::config::ClientValidation {
                        mode: ClientCertMode::None,
                        ..Default::default()
                    }
                });
                let trust = cv
                    .trust
                    .iter()
                    .enumerate()
                    .map(|(ti, t)| {
                        compile_trust(t, &format!("{hpath}.client_validation.trust[{ti}]"))
                    })
                    .collect::<Result<_, _>>()?;
                let mut routes = Vec::with_capacity(h.routes.len());
                for (ri, r) in h.routes.iter().enumerate() {
                    let allow = match &r.authorization {
                        Some(a) => Some(IdentityMatcher::new(&a.spec()).map_err(|e| {
                            invalid(format!("{hpath}.routes[{ri}].authorization"), e)
                        })?),
                        None => None,
                    };
                    let name = if r.name.is_empty() {
                        r.path_prefix.clone()
                    } else {
                        r.name.clone()
                    };
                    let audit = r.authorization.as_ref().is_some_and(|a| a.audit);
                    routes.push(Route {
                        name,
                        path_prefix: r.path_prefix.clone(),
                        allow,
                        audit,
                    });
                }
                routes.sort_by_key(|r| std::cmp::Reverse(r.path_prefix.len()));
                listener.hosts.push(Host {
                    mode: cv.mode,
                    trust,
                    pins: cv.pins,
                    danger: cv.danger,
                    routes,
                });
            }
            listeners.push(listener);
        }
        Ok(Self {
            config,
            mesh,
            by_port,
            listeners,
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
}

impl Listener {
    /// The host serving a name (SNI or Host): exact, then one-label wildcard, then default.
    pub(crate) fn host_index(&self, name: Option<&str>) -> Option<usize> {
        let Some(name) = name else {
            return self.default_host;
        };
        let lower: std::borrow::Cow<'_, str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            name.to_ascii_lowercase().into()
        } else {
            name.into()
        };
        if let Some(&i) = self.exact.get(&*lower) {
            return Some(i);
        }
        if let Some((label, parent)) = lower.split_once('.') {
            if !label.is_empty() {
                if let Some(&i) = self.wildcard.get(parent) {
                    return Some(i);
                }
            }
        }
        self.default_host
    }
}

impl Host {
    pub(crate) fn route(&self, path: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| path.starts_with(&r.path_prefix))
    }

    pub(crate) fn trust(&self, name: &str) -> Option<&Trust> {
        self.trust.iter().find(|t| t.name == name)
    }
}
