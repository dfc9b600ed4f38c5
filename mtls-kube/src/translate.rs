//! The translation: options, the shared state every vendor module fills, and the result.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use mtls_policy::{
    Answers, ClientValidation, PeerAuthentication, PeerAuthentications, PeerMode, RouteConfig,
    Scope,
};

use crate::build;
use crate::manifest::{Kind, Object};
use crate::model::{
    Backend, Certificate, Condition, ConditionStatus, CredentialRef, ForwardIdentity,
    GatewayConfig, Listener, MinTlsVersion, ObjectRef, ObjectStatus, Purpose, RefState, Route,
    Translation, UnknownSni, Warning,
};
use crate::secrets::SecretIndex;
use crate::{gateway_api, istio, nginx, osm};

/// Translation options: where credentials are mounted, and defaults the manifests leave open.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Where Secrets and ConfigMaps are mounted: `<root>/secrets/<namespace>/<name>/<key>` and
    /// `<root>/configmaps/<namespace>/<name>/<key>` (default `/etc/mtls`).
    pub mount_root: PathBuf,
    /// The address listeners bind (default `0.0.0.0`).
    pub bind_address: String,
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
    /// The gateway's own workload (its pod's namespace and labels), when known: each listener
    /// then takes the peer mode the `PeerAuthentication`s give this workload on its port (Istio
    /// precedence: mesh, namespace, workload, port), so STRICT closes plaintext and PERMISSIVE
    /// admits it. `None` (the default): listeners keep their own mode (TLS only).
    pub workload: Option<Workload>,
}

/// A workload: the namespace and labels of the gateway's pods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Workload {
    /// The namespace.
    pub namespace: String,
    /// The pod labels (what `PeerAuthentication` selectors match).
    pub labels: BTreeMap<String, String>,
}

impl Workload {
    /// A workload in `namespace` with `labels`.
    pub fn new(namespace: impl Into<String>, labels: BTreeMap<String, String>) -> Self {
        Self {
            namespace: namespace.into(),
            labels,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            mount_root: PathBuf::from("/etc/mtls"),
            bind_address: "0.0.0.0".into(),
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
        }
    }
}

/// A host of a listener being built.
#[derive(Clone, Debug)]
pub(crate) struct HostDraft {
    pub(crate) hostnames: Vec<String>,
    pub(crate) certificate: Certificate,
    pub(crate) validation: Option<ClientValidation>,
    pub(crate) routes: Vec<RouteConfig>,
    pub(crate) origin: ObjectRef,
}

/// A listener being built.
#[derive(Clone, Debug)]
pub(crate) struct ListenerDraft {
    pub(crate) name: String,
    pub(crate) port: u16,
    pub(crate) unknown_sni: UnknownSni,
    pub(crate) min_tls: MinTlsVersion,
    pub(crate) answers: Answers,
    pub(crate) peer_mode: Option<PeerMode>,
    pub(crate) hosts: Vec<HostDraft>,
}

/// The state every vendor module adds to.
pub(crate) struct Ctx<'a> {
    pub(crate) opts: &'a Options,
    pub(crate) secrets: SecretIndex,
    pub(crate) listeners: Vec<ListenerDraft>,
    pub(crate) routes: Vec<Route>,
    pub(crate) backends: BTreeMap<String, Backend>,
    pub(crate) forward: ForwardIdentity,
    pub(crate) peer_auth: Vec<PeerAuthentication>,
    credentials: Vec<CredentialRef>,
    warnings: Vec<Warning>,
    status: Vec<ObjectStatus>,
}

impl Ctx<'_> {
    pub(crate) fn warn(
        &mut self,
        object: &ObjectRef,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.warnings.push(Warning {
            object: object.clone(),
            field: field.into(),
            message: message.into(),
        });
    }

    /// The state of a referenced object absent from the input.
    pub(crate) fn missing_state(&self) -> RefState {
        if self.opts.secrets_complete {
            RefState::Invalid {
                reason: "not found".into(),
            }
        } else {
            RefState::NotInInput
        }
    }

    /// The mount directory of a Secret or ConfigMap.
    pub(crate) fn mount(&self, r: &ObjectRef) -> PathBuf {
        let dir = if r.kind == "ConfigMap" {
            "configmaps"
        } else {
            "secrets"
        };
        self.opts.mount_root.join(dir).join(r.ns()).join(&r.name)
    }

    /// Records a credential reference (merged with an earlier one of the same object and
    /// purpose).
    pub(crate) fn credential(
        &mut self,
        object: &ObjectRef,
        purpose: Purpose,
        keys: &[&str],
        used_by: &ObjectRef,
        state: &RefState,
    ) {
        let mount = self.mount(object);
        if let Some(c) = self
            .credentials
            .iter_mut()
            .find(|c| &c.object == object && c.purpose == purpose)
        {
            for k in keys {
                if !c.keys.iter().any(|have| have == k) {
                    c.keys.push((*k).to_string());
                }
            }
            if !c.used_by.contains(used_by) {
                c.used_by.push(used_by.clone());
            }
            return;
        }
        self.credentials.push(CredentialRef {
            object: object.clone(),
            purpose,
            keys: keys.iter().map(|k| (*k).to_string()).collect(),
            mount,
            used_by: vec![used_by.clone()],
            state: state.clone(),
        });
    }

    /// A server certificate from a Secret: the certificate entry and the reference's state.
    pub(crate) fn server_certificate(
        &mut self,
        hostnames: &[String],
        secret: &ObjectRef,
        used_by: &ObjectRef,
    ) -> (Certificate, RefState) {
        let missing = self.missing_state();
        let (keys, state) = self.secrets.certificate(secret, &missing);
        self.credential(secret, Purpose::ServerCertificate, &keys, used_by, &state);
        let cert = Certificate {
            hostnames: hostnames.to_vec(),
            chain: None,
            key: None,
            secret_dir: Some(self.mount(secret)),
        };
        (cert, state)
    }

    /// The listener named `name` on `port`, created if new.
    pub(crate) fn listener(&mut self, name: &str, port: u16) -> &mut ListenerDraft {
        let i = match self.listeners.iter().position(|l| l.name == name) {
            Some(i) => i,
            None => {
                self.listeners.push(ListenerDraft {
                    name: name.to_string(),
                    port,
                    unknown_sni: UnknownSni::Default,
                    min_tls: MinTlsVersion::Tls12,
                    answers: Answers::default(),
                    peer_mode: None,
                    hosts: Vec::new(),
                });
                self.listeners.len() - 1
            }
        };
        &mut self.listeners[i]
    }

    /// Adds a host to a listener unless one of its names is served there already (then warns
    /// and returns false).
    pub(crate) fn add_host(
        &mut self,
        listener: &str,
        port: u16,
        host: HostDraft,
        field: &str,
    ) -> bool {
        let names: BTreeSet<String> = host.hostnames.iter().map(|h| normalize(h)).collect();
        let clash = self.listener(listener, port).hosts.iter().find_map(|h| {
            let theirs: BTreeSet<String> = h.hostnames.iter().map(|n| normalize(n)).collect();
            let both_default = names.is_empty() && theirs.is_empty();
            let shared = names.intersection(&theirs).next().cloned();
            match (both_default, shared) {
                (true, _) => Some((
                    "the default host (no hostname)".to_string(),
                    h.origin.clone(),
                )),
                (false, Some(n)) => Some((format!("host {n:?}"), h.origin.clone())),
                (false, None) => None,
            }
        });
        if let Some((what, origin)) = clash {
            let origin_text = if origin == host.origin {
                "an earlier entry of this object".to_string()
            } else {
                origin.to_string()
            };
            let object = host.origin.clone();
            self.warn(
                &object,
                field,
                format!(
                    "{what} on port {port} is already served by {origin_text}; this one is ignored"
                ),
            );
            return false;
        }
        self.listener(listener, port).hosts.push(host);
        true
    }

    /// Adds a backend by name (the first definition of a name wins).
    pub(crate) fn backend(&mut self, name: &str, backend: Backend) {
        self.backends.entry(name.to_string()).or_insert(backend);
    }

    /// Sets the conditions of an object (section).
    pub(crate) fn status(
        &mut self,
        object: &ObjectRef,
        section: Option<&str>,
        conditions: Vec<Condition>,
    ) {
        self.status.push(ObjectStatus {
            object: object.clone(),
            section: section.map(str::to_string),
            conditions,
        });
    }

    /// A Service's in-cluster URL.
    pub(crate) fn service_url(
        &self,
        scheme: &str,
        namespace: &str,
        service: &str,
        port: u16,
    ) -> String {
        format!(
            "{scheme}://{service}.{namespace}.svc.{}:{port}",
            self.opts.cluster_domain
        )
    }

    /// The file of a key of a mounted Secret or ConfigMap.
    pub(crate) fn file(&self, r: &ObjectRef, key: &str) -> PathBuf {
        self.mount(r).join(key)
    }
}

/// `ResolvedRefs` from the states of the references of an object: `False` with `reason` if any
/// is invalid, `Unknown` if any is not in the input, else `True`.
pub(crate) fn resolved_refs(states: &[(String, RefState)], reason: &str) -> Condition {
    let invalid: Vec<String> = states
        .iter()
        .filter_map(|(what, s)| match s {
            RefState::Invalid { reason } => Some(format!("{what}: {reason}")),
            _ => None,
        })
        .collect();
    if !invalid.is_empty() {
        return Condition::new(
            "ResolvedRefs",
            ConditionStatus::False,
            reason,
            invalid.join("; "),
        );
    }
    let absent: Vec<&str> = states
        .iter()
        .filter(|(_, s)| *s == RefState::NotInInput)
        .map(|(what, _)| what.as_str())
        .collect();
    if !absent.is_empty() {
        return Condition::new(
            "ResolvedRefs",
            ConditionStatus::Unknown,
            "NotInInput",
            format!("not part of the input: {}", absent.join(", ")),
        );
    }
    Condition::new(
        "ResolvedRefs",
        ConditionStatus::True,
        "ResolvedRefs",
        "all references resolved",
    )
}

/// `Accepted: True`.
pub(crate) fn accepted() -> Condition {
    Condition::new("Accepted", ConditionStatus::True, "Accepted", "translated")
}

/// Lowercase, without a trailing dot.
pub(crate) fn normalize(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Translates objects into a gateway configuration, with credential references, warnings for
/// everything not translated as written, and status conditions.
pub fn translate(objects: &[Object], options: &Options) -> Translation {
    let mut ctx = Ctx {
        opts: options,
        secrets: SecretIndex::build(objects, &options.default_namespace),
        listeners: Vec::new(),
        routes: Vec::new(),
        backends: BTreeMap::new(),
        forward: ForwardIdentity::default(),
        peer_auth: Vec::new(),
        credentials: Vec::new(),
        warnings: Vec::new(),
        status: Vec::new(),
    };
    // Objects with no namespace get the default one.
    let objects: Vec<Object> = objects
        .iter()
        .cloned()
        .map(|mut o| {
            if o.reference.namespace.is_none() {
                o.reference.namespace = Some(options.default_namespace.clone());
            }
            o
        })
        .collect();
    for o in &objects {
        for path in &o.ignored {
            ctx.warn(
                &o.reference,
                path.clone(),
                "not translated: mtls-kube does not read this field",
            );
        }
        if let Kind::Other = o.kind {
            ctx.warn(
                &o.reference,
                "kind",
                format!("{} {} is not translated", o.api_version, o.reference.kind),
            );
        }
    }
    istio::translate(&mut ctx, &objects);
    nginx::translate(&mut ctx, &objects);
    gateway_api::translate(&mut ctx, &objects);
    osm::translate(&mut ctx, &objects);
    finish(ctx)
}

/// Listeners of different objects on one port become one: one socket serves all their hosts
/// by SNI (the later listener's name is rewritten in routes; clashing hosts are warned about).
fn merge_ports(ctx: &mut Ctx<'_>) {
    let mut i = 0;
    while i < ctx.listeners.len() {
        let port = ctx.listeners[i].port;
        let Some(first) = ctx.listeners[..i].iter().position(|l| l.port == port) else {
            i += 1;
            continue;
        };
        let later = ctx.listeners.remove(i);
        let (first_name, later_name) = (ctx.listeners[first].name.clone(), later.name.clone());
        for route in ctx.routes.iter_mut().filter(|r| r.listener == later_name) {
            route.listener = first_name.clone();
        }
        {
            let l = &mut ctx.listeners[first];
            for (code, answer) in later.answers.0 {
                l.answers.0.entry(code).or_insert(answer);
            }
            if later.min_tls == MinTlsVersion::Tls13 {
                l.min_tls = MinTlsVersion::Tls13;
            }
            if later.unknown_sni == UnknownSni::Default {
                l.unknown_sni = UnknownSni::Default;
            }
            l.peer_mode = l.peer_mode.or(later.peer_mode);
        }
        for host in later.hosts {
            ctx.add_host(&first_name, port, host, "port");
        }
    }
}

fn finish(mut ctx: Ctx<'_>) -> Translation {
    merge_ports(&mut ctx);
    let Ctx {
        opts,
        listeners,
        routes,
        backends,
        forward,
        peer_auth,
        credentials,
        warnings,
        status,
        ..
    } = ctx;
    let mut policy = build::policy();
    policy.root_namespace = opts.root_namespace.clone();
    // The PeerAuthentications as they apply to this gateway's workload (invalid sets are
    // warned about by the policy loader; they then leave listeners as they are).
    let scopes = opts
        .workload
        .as_ref()
        .filter(|_| !peer_auth.is_empty())
        .and_then(|w| {
            PeerAuthentications::new(&opts.root_namespace, peer_auth.clone())
                .ok()
                .map(|s| (w, s))
        });
    policy.peer_authentication = peer_auth;
    let mut out_listeners = Vec::new();
    for l in listeners {
        let mut pl = build::listener(&l.name, l.port);
        pl.peer_mode = l.peer_mode;
        if let Some((w, scopes)) = &scopes {
            let resolved = scopes.resolve(&w.namespace, &w.labels, l.port);
            if resolved.scope != Scope::Default && resolved.mode != PeerMode::Unset {
                pl.peer_mode = Some(resolved.mode);
            }
        }
        pl.answers = l.answers;
        let mut certificates = Vec::new();
        for h in l.hosts {
            let mut certificate = h.certificate;
            certificate.hostnames = h.hostnames.clone();
            let mut host = build::host(h.hostnames);
            host.client_validation = h.validation;
            host.routes = h.routes;
            pl.hosts.push(host);
            certificates.push(certificate);
        }
        policy.listeners.push(pl);
        out_listeners.push(Listener {
            name: l.name,
            address: format!("{}:{}", bracket_ipv6(&opts.bind_address), l.port),
            certificates,
            unknown_sni: l.unknown_sni,
            min_tls_version: l.min_tls,
        });
    }
    Translation {
        config: GatewayConfig {
            listeners: out_listeners,
            routes,
            backends,
            forward_identity: forward,
            policy,
        },
        credentials,
        warnings,
        status,
    }
}

fn bracket_ipv6(address: &str) -> String {
    if address.contains(':') && !address.starts_with('[') {
        format!("[{address}]")
    } else {
        address.to_string()
    }
}
