//! Scope resolution of [`PeerAuthentication`]s, with Istio's precedence.
//!
//! # Rules
//!
//! 1. **Mesh**: a policy in the root namespace (default `istio-system`) without a selector.
//! 2. **Namespace**: a policy in the workload's namespace without a selector.
//! 3. **Workload**: a policy in the workload's namespace whose selector's labels are all
//!    present, with equal values, on the workload.
//! 4. **Port**: an entry of the workload policy's `port_level` for the port asked about. Port
//!    overrides exist only on workload policies (Istio ignores them elsewhere; we reject them).
//!
//! The most specific level whose mode is not `UNSET` wins; `UNSET` (or no policy) at a level
//! inherits from the level above; if every level is `UNSET` the mode is `PERMISSIVE`
//! (Istio's default). When several policies compete at one level, Istio takes the oldest; we
//! take the first in configuration order.
//!
//! ```
//! use std::collections::BTreeMap;
//! use mtls_policy::{PeerAuthentication, PeerAuthentications, PeerMode, Scope};
//!
//! let mut mesh = PeerAuthentication::new("istio-system", PeerMode::Strict);
//! mesh.name = "default".into();
//! let legacy = PeerAuthentication::new("legacy", PeerMode::Permissive);
//! let mut web = PeerAuthentication::new("legacy", PeerMode::Unset);
//! web.selector = Some(BTreeMap::from([("app".into(), "web".into())]));
//! web.port_level.insert(9000, PeerMode::Disable);
//! let pas = PeerAuthentications::new("istio-system", vec![mesh, legacy, web])?;
//!
//! let web_labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
//! let none = BTreeMap::new();
//! // Mesh STRICT applies where nothing more specific says otherwise.
//! assert_eq!(pas.resolve("prod", &none, 443).mode, PeerMode::Strict);
//! // The namespace policy overrides the mesh.
//! assert_eq!(pas.resolve("legacy", &none, 443).mode, PeerMode::Permissive);
//! // The workload policy is UNSET: it inherits PERMISSIVE from the namespace ...
//! assert_eq!(pas.resolve("legacy", &web_labels, 443).mode, PeerMode::Permissive);
//! // ... except on its port 9000.
//! let r = pas.resolve("legacy", &web_labels, 9000);
//! assert_eq!((r.mode, r.scope), (PeerMode::Disable, Scope::Port));
//! # Ok::<(), mtls_policy::ScopeError>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::mode::PeerMode;

/// One Istio `PeerAuthentication`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PeerAuthentication {
    /// A name for reports (`metadata.name`).
    #[serde(default)]
    pub name: String,
    /// The namespace the policy lives in; the root namespace makes it mesh-wide.
    pub namespace: String,
    /// `matchLabels` of the workload selector; `None` for a namespace- or mesh-wide policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<BTreeMap<String, String>>,
    /// The mode.
    #[serde(default)]
    pub mode: PeerMode,
    /// Per-port overrides (workload policies only), Istio `portLevelMtls`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub port_level: BTreeMap<u16, PeerMode>,
}

impl PeerAuthentication {
    /// A namespace-wide (or, in the root namespace, mesh-wide) policy.
    pub fn new(namespace: impl Into<String>, mode: PeerMode) -> Self {
        Self {
            namespace: namespace.into(),
            mode,
            ..Self::default()
        }
    }
}

/// The level a resolved mode came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Scope {
    /// No policy set a mode: Istio's default, PERMISSIVE.
    Default,
    /// The mesh-wide policy.
    Mesh,
    /// The namespace-wide policy.
    Namespace,
    /// The workload policy.
    Workload,
    /// A port-level override of the workload policy.
    Port,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Default => "default",
            Self::Mesh => "mesh",
            Self::Namespace => "namespace",
            Self::Workload => "workload",
            Self::Port => "port",
        })
    }
}

/// The outcome of [`PeerAuthentications::resolve`]: never [`PeerMode::Unset`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resolved {
    /// The effective mode.
    pub mode: PeerMode,
    /// The level it came from.
    pub scope: Scope,
    /// The name of the policy it came from (empty for [`Scope::Default`]).
    pub policy: String,
}

/// A [`PeerAuthentication`] that cannot be honoured as written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// `port_level` on a policy without selector.
    #[error(
        "peer_authentication[{index}]: `port_level` requires `selector` (port-level mTLS applies only to a selected workload)"
    )]
    PortLevelWithoutSelector {
        /// Position in the list.
        index: usize,
    },
    /// `selector: {}`.
    #[error("peer_authentication[{index}]: empty `selector`; omit it for a namespace-wide policy")]
    EmptySelector {
        /// Position in the list.
        index: usize,
    },
}

#[derive(Clone, Debug, Default)]
struct Namespace {
    wide: Option<usize>,
    selected: Vec<usize>,
}

/// A compiled set of [`PeerAuthentication`]s, answering "which mode applies to this workload
/// and port" (see the module docs for the rules).
#[derive(Clone, Debug, Default)]
pub struct PeerAuthentications {
    policies: Vec<PeerAuthentication>,
    mesh: Option<usize>,
    namespaces: HashMap<String, Namespace>,
}

impl PeerAuthentications {
    /// Compiles policies; `root_namespace` is Istio's (usually `istio-system`).
    pub fn new(
        root_namespace: &str,
        policies: Vec<PeerAuthentication>,
    ) -> Result<Self, ScopeError> {
        let mut this = Self {
            mesh: None,
            namespaces: HashMap::new(),
            policies: Vec::new(),
        };
        for (index, p) in policies.iter().enumerate() {
            match &p.selector {
                Some(sel) if sel.is_empty() => return Err(ScopeError::EmptySelector { index }),
                None if !p.port_level.is_empty() => {
                    return Err(ScopeError::PortLevelWithoutSelector { index });
                }
                _ => {}
            }
            let ns = this.namespaces.entry(p.namespace.clone()).or_default();
            if p.selector.is_some() {
                ns.selected.push(index);
            } else if p.namespace == root_namespace {
                this.mesh.get_or_insert(index);
                ns.wide.get_or_insert(index);
            } else {
                ns.wide.get_or_insert(index);
            }
        }
        this.policies = policies;
        Ok(this)
    }

    /// Whether no policy was given.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// The effective mode for a workload (namespace, labels) on a port.
    pub fn resolve(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        port: u16,
    ) -> Resolved {
        let mut out = Resolved {
            mode: PeerMode::Permissive,
            scope: Scope::Default,
            policy: String::new(),
        };
        let mut apply = |idx: Option<usize>, mode: Option<PeerMode>, scope| {
            if let (Some(i), Some(m)) = (idx, mode)
                && m != PeerMode::Unset
            {
                out = Resolved {
                    mode: m,
                    scope,
                    policy: self.policies[i].name.clone(),
                };
            }
        };
        let mode_of = |i: Option<usize>| i.map(|i| self.policies[i].mode);
        apply(self.mesh, mode_of(self.mesh), Scope::Mesh);
        let Some(ns) = self.namespaces.get(namespace) else {
            return out;
        };
        if self.mesh != ns.wide {
            apply(ns.wide, mode_of(ns.wide), Scope::Namespace);
        }
        let workload = ns.selected.iter().copied().find(|&i| {
            self.policies[i]
                .selector
                .as_ref()
                .is_some_and(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
        });
        apply(workload, mode_of(workload), Scope::Workload);
        let port_mode = workload.and_then(|i| self.policies[i].port_level.get(&port).copied());
        apply(workload, port_mode, Scope::Port);
        out
    }
}
