//! The kinds of object a follower watches: their API versions and resource names.

use kube::api::{ApiResource, GroupVersionKind};

/// A kind of object the follower watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchedKind {
    /// `v1`, `networking.istio.io/v1`, ...
    pub api_version: &'static str,
    /// `Secret`, `Gateway`, ...
    pub kind: &'static str,
    /// The resource name in URLs (and RBAC rules): `secrets`, `gateways`, ...
    pub plural: &'static str,
}

const KINDS: &[WatchedKind] = &[
    kind("v1", "Secret", "secrets"),
    kind("v1", "ConfigMap", "configmaps"),
    kind("networking.istio.io/v1", "Gateway", "gateways"),
    kind(
        "security.istio.io/v1",
        "PeerAuthentication",
        "peerauthentications",
    ),
    kind("gateway.networking.k8s.io/v1", "Gateway", "gateways"),
    kind("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes"),
    kind(
        "gateway.networking.k8s.io/v1",
        "BackendTLSPolicy",
        "backendtlspolicies",
    ),
    kind(
        "alb.networking.azure.io/v1",
        "FrontendTLSPolicy",
        "frontendtlspolicies",
    ),
    kind(
        "policy.openservicemesh.io/v1alpha1",
        "IngressBackend",
        "ingressbackends",
    ),
    kind("networking.k8s.io/v1", "Ingress", "ingresses"),
];

const fn kind(api_version: &'static str, kind: &'static str, plural: &'static str) -> WatchedKind {
    WatchedKind {
        api_version,
        kind,
        plural,
    }
}

impl WatchedKind {
    /// Every kind the translation reads: Secrets, ConfigMaps, Istio `Gateway` and
    /// `PeerAuthentication`, Gateway API `Gateway`, `HTTPRoute` and `BackendTLSPolicy`, AGC
    /// `FrontendTLSPolicy`, osm-edge `IngressBackend`, `Ingress`. A deployment's RBAC rules
    /// grant `get`, `list` and `watch` on exactly these.
    pub fn all() -> &'static [Self] {
        KINDS
    }

    /// The API group (`""` for the core group).
    pub fn group(&self) -> &'static str {
        self.api_version.rsplit_once('/').map_or("", |(g, _)| g)
    }

    /// The version.
    pub fn version(&self) -> &'static str {
        self.api_version
            .rsplit_once('/')
            .map_or(self.api_version, |(_, v)| v)
    }

    /// `group/Kind`, unique per kind.
    pub(crate) fn key(&self) -> &'static str {
        // A leaked string per distinct kind would do; a table is simpler.
        match (self.group(), self.kind) {
            ("", "Secret") => "Secret",
            ("", "ConfigMap") => "ConfigMap",
            ("networking.istio.io", _) => "networking.istio.io/Gateway",
            ("security.istio.io", _) => "security.istio.io/PeerAuthentication",
            ("gateway.networking.k8s.io", "Gateway") => "gateway.networking.k8s.io/Gateway",
            ("gateway.networking.k8s.io", "HTTPRoute") => "gateway.networking.k8s.io/HTTPRoute",
            ("gateway.networking.k8s.io", _) => "gateway.networking.k8s.io/BackendTLSPolicy",
            ("alb.networking.azure.io", _) => "alb.networking.azure.io/FrontendTLSPolicy",
            ("policy.openservicemesh.io", _) => "policy.openservicemesh.io/IngressBackend",
            _ => "networking.k8s.io/Ingress",
        }
    }

    pub(crate) fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(self.group(), self.version(), self.kind),
            self.plural,
        )
    }
}
