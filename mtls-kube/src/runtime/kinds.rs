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
    key: &'static str,
}

const KINDS: &[WatchedKind] = &[
    kind("v1", "Secret", "secrets", "Secret"),
    kind("v1", "ConfigMap", "configmaps", "ConfigMap"),
    kind(
        "networking.istio.io/v1",
        "Gateway",
        "gateways",
        "networking.istio.io/Gateway",
    ),
    kind(
        "networking.istio.io/v1",
        "VirtualService",
        "virtualservices",
        "networking.istio.io/VirtualService",
    ),
    kind(
        "networking.istio.io/v1",
        "DestinationRule",
        "destinationrules",
        "networking.istio.io/DestinationRule",
    ),
    kind(
        "security.istio.io/v1",
        "PeerAuthentication",
        "peerauthentications",
        "security.istio.io/PeerAuthentication",
    ),
    kind(
        "gateway.networking.k8s.io/v1",
        "Gateway",
        "gateways",
        "gateway.networking.k8s.io/Gateway",
    ),
    kind(
        "gateway.networking.k8s.io/v1",
        "HTTPRoute",
        "httproutes",
        "gateway.networking.k8s.io/HTTPRoute",
    ),
    kind(
        "gateway.networking.k8s.io/v1",
        "BackendTLSPolicy",
        "backendtlspolicies",
        "gateway.networking.k8s.io/BackendTLSPolicy",
    ),
    kind(
        "alb.networking.azure.io/v1",
        "FrontendTLSPolicy",
        "frontendtlspolicies",
        "alb.networking.azure.io/FrontendTLSPolicy",
    ),
    kind(
        "policy.openservicemesh.io/v1alpha1",
        "IngressBackend",
        "ingressbackends",
        "policy.openservicemesh.io/IngressBackend",
    ),
    kind(
        "networking.k8s.io/v1",
        "Ingress",
        "ingresses",
        "networking.k8s.io/Ingress",
    ),
];

/// `key` is `group/Kind` (`Kind` for the core group), unique per kind (checked by a test).
const fn kind(
    api_version: &'static str,
    kind: &'static str,
    plural: &'static str,
    key: &'static str,
) -> WatchedKind {
    WatchedKind {
        api_version,
        kind,
        plural,
        key,
    }
}

impl WatchedKind {
    /// Every kind the translation reads: Secrets, ConfigMaps, Istio `Gateway`,
    /// `VirtualService`, `DestinationRule` and `PeerAuthentication`, Gateway API `Gateway`, `HTTPRoute` and `BackendTLSPolicy`, AGC
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
        self.key
    }

    pub(crate) fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(self.group(), self.version(), self.kind),
            self.plural,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_is_the_group_and_kind() {
        let mut keys = Vec::new();
        for k in WatchedKind::all() {
            let want = match k.group() {
                "" => k.kind.to_owned(),
                group => format!("{group}/{}", k.kind),
            };
            assert_eq!(k.key(), want);
            keys.push(k.key());
        }
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), WatchedKind::all().len());
    }
}
