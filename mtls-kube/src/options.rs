//! Translation options: where credentials are mounted, where listeners bind, and the
//! defaults the manifests leave open.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use crate::model::ObjectRef;
use crate::references::SecretPaths;

/// Translation options: where credentials are mounted, and defaults the manifests leave open.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Where Secrets and ConfigMaps are mounted: `<root>/secrets/<namespace>/<name>/<key>` and
    /// `<root>/configmaps/<namespace>/<name>/<key>` (default `/etc/mtls`).
    pub mount_root: PathBuf,
    /// How the configuration names the Secrets it reads: files under `mount_root` (the
    /// default) or `secret:` references a serving process resolves in memory.
    pub secret_paths: SecretPaths,
    /// The address listeners bind (default `0.0.0.0`).
    pub bind_address: IpAddr,
    /// The admin endpoint written into the configuration (`admin.address`) for the process
    /// serving it; `None` (the default): none.
    pub admin: Option<SocketAddr>,
    /// The namespace of objects that name none (default `default`).
    pub default_namespace: String,
    /// Istio's root namespace (default `istio-system`).
    pub root_namespace: String,
    /// The cluster DNS domain for Service URLs (default `cluster.local`).
    pub cluster_domain: String,
    /// The input holds every Secret and ConfigMap (a live cluster): a reference to one that is
    /// absent is an error. Otherwise (manifest files, the default) it is expected to exist.
    pub secrets_complete: bool,
    /// The port ingress-nginx serves TLS on (default 443).
    pub nginx_port: u16,
    /// ingress-nginx's `--default-ssl-certificate`, for Ingress hosts without `spec.tls`
    /// (default `ingress-nginx/ingress-nginx-default-certificate`).
    pub nginx_default_certificate: ObjectRef,
    /// osm-edge's mesh CA bundle, which verifies the ingress's client certificate (default
    /// `osm-system/osm-ca-bundle`).
    pub osm_ca_bundle: ObjectRef,
    /// The gateway's own workload (its pod's namespace, labels and ports), when known: each of
    /// its ports ([`Workload::ports`]) gets a listener with the peer mode the
    /// `PeerAuthentication`s give this workload there (Istio precedence: mesh, namespace,
    /// workload, port), so STRICT closes plaintext and PERMISSIVE admits it. The listeners of
    /// Gateway servers and Ingresses keep their own TLS settings (TLS only, the hosts'
    /// client-certificate modes), as Istio's ingress gateway does: a PeerAuthentication never
    /// opens them to plaintext. `None` (the default): no workload listener.
    pub workload: Option<Workload>,
    /// The namespace of the Istio gateway workload (the ingress gateway's pods), where Istio
    /// reads a Gateway's `credentialName` Secrets. `None` (the default): the workload's
    /// namespace when [`Options::workload`] is given, else the Gateway's own namespace.
    pub gateway_namespace: Option<String>,
}

/// A workload: the namespace and labels of the gateway's pods, and the ports it serves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Workload {
    /// The namespace.
    pub namespace: String,
    /// The pod labels (what `PeerAuthentication` selectors match).
    pub labels: BTreeMap<String, String>,
    /// The ports the workload serves: each one no vendor object gives a listener gets one of
    /// its own (`workload-<port>`), with the peer mode the `PeerAuthentication`s give it there.
    /// Empty (the default): only the listeners of the vendor objects.
    pub ports: Vec<u16>,
    /// A Secret of the workload's namespace holding its own certificate, key and the CA its
    /// peers' certificates chain to (`tls.crt`, `tls.key`, `ca.crt`, as cert-manager and
    /// istio-csr write them; or Istio's `cert`, `key`, `cacert`). With it, each workload
    /// listener serves a default host with that certificate and verifies its peers against
    /// that CA (required where the peer mode is STRICT). `None` (the default): the workload
    /// listeners have no host, and `translate` says the result enforces nothing there.
    pub credential: Option<String>,
    /// Where the workload listeners forward what they admit (the application behind them, as
    /// an Istio sidecar forwards inbound traffic to its app): a URL such as
    /// `http://127.0.0.1:8080`. `None` (the default): requests are answered 404, no route.
    pub backend: Option<String>,
}

impl Workload {
    /// A workload in `namespace` with `labels`, serving no port of its own.
    pub fn new(namespace: impl Into<String>, labels: BTreeMap<String, String>) -> Self {
        Self {
            namespace: namespace.into(),
            labels,
            ports: Vec::new(),
            credential: None,
            backend: None,
        }
    }

    /// The ports it serves ([`Workload::ports`]).
    ///
    /// ```
    /// let w = mtls_kube::Workload::new("foo", Default::default()).with_ports([8080, 9000]);
    /// assert_eq!(w.ports, [8080, 9000]);
    /// ```
    pub fn with_ports(mut self, ports: impl IntoIterator<Item = u16>) -> Self {
        self.ports = ports.into_iter().collect();
        self
    }

    /// Serves the workload listeners with the certificate and CA of the Secret `name`
    /// ([`Workload::credential`]), forwarding to `backend` ([`Workload::backend`]).
    ///
    /// ```
    /// let w = mtls_kube::Workload::new("foo", Default::default())
    ///     .with_ports([8080])
    ///     .with_credential("httpbin-mtls", Some("http://127.0.0.1:8000".into()));
    /// assert_eq!(w.credential.as_deref(), Some("httpbin-mtls"));
    /// ```
    pub fn with_credential(mut self, name: impl Into<String>, backend: Option<String>) -> Self {
        self.credential = Some(name.into());
        self.backend = backend;
        self
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            mount_root: PathBuf::from("/etc/mtls"),
            secret_paths: SecretPaths::Files,
            bind_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            admin: None,
            default_namespace: "default".into(),
            root_namespace: "istio-system".into(),
            cluster_domain: "cluster.local".into(),
            secrets_complete: false,
            nginx_port: 443,
            nginx_default_certificate: ObjectRef::new(
                "Secret",
                "ingress-nginx",
                "ingress-nginx-default-certificate",
            ),
            osm_ca_bundle: ObjectRef::new("Secret", "osm-system", "osm-ca-bundle"),
            workload: None,
            gateway_namespace: None,
        }
    }
}
