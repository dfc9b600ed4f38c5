//! The translation: the shared state every vendor module fills, and the result.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;

use mtls_policy::{
    AdminConfig, Answers, BackendConfig, CertificateSource, ClientValidation,
    ForwardIdentityConfig, HostConfig, ListenerConfig, PeerAuthentication, PeerAuthentications,
    PeerMode, PolicyConfig, RouteConfig, TlsVersion, TrustSource, UnknownSni,
};

use crate::manifest::{Kind, Object};
use crate::model::{
    Condition, ConditionStatus, CredentialRef, ObjectRef, ObjectStatus, Purpose, RefState,
    Translation, Warning,
};
use crate::options::Options;
use crate::references::{self, SecretPaths};
use crate::routes::{RouteDraft, host_key};
use crate::secrets::SecretIndex;
use crate::{gateway_api, istio, nginx, osm, routes};

mod finish;

use finish::finish;

/// A host of a listener being built.
#[derive(Clone, Debug)]
pub(crate) struct HostDraft {
    pub(crate) hostnames: Vec<String>,
    pub(crate) certificate: CertificateSource,
    pub(crate) validation: Option<ClientValidation>,
    /// The host's own routes: allow-lists over the paths under them, with an action where the
    /// vendor ties one to the host.
    pub(crate) routes: Vec<RouteConfig>,
    pub(crate) origin: ObjectRef,
}

/// A listener being built.
#[derive(Clone, Debug)]
pub(crate) struct ListenerDraft {
    pub(crate) name: String,
    pub(crate) port: u16,
    pub(crate) unknown_sni: UnknownSni,
    pub(crate) min_tls: TlsVersion,
    pub(crate) answers: Answers,
    pub(crate) peer_mode: Option<PeerMode>,
    pub(crate) hosts: Vec<HostDraft>,
}

/// Why a host was not added to its listener (the warning is given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// One of its names (or the default host) is served there already.
    Taken,
    /// One of its names is not a host name or a `*.parent` wildcard.
    Invalid(String),
}

/// The state every vendor module adds to.
pub(crate) struct Ctx<'a> {
    pub(crate) opts: &'a Options,
    pub(crate) secrets: SecretIndex,
    pub(crate) listeners: Vec<ListenerDraft>,
    /// Routes by listener and host name, put into hosts at the end ([`routes::place`]).
    pub(crate) routes: Vec<RouteDraft>,
    pub(crate) backends: BTreeMap<String, BackendConfig>,
    pub(crate) forward: ForwardIdentityConfig,
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

    /// A server certificate from a Secret (its mount directory) and the reference's state.
    pub(crate) fn server_certificate(
        &mut self,
        secret: &ObjectRef,
        used_by: &ObjectRef,
    ) -> (CertificateSource, RefState) {
        let missing = self.missing_state();
        let (keys, state) = self.secrets.certificate(secret, &missing);
        self.credential(secret, Purpose::ServerCertificate, &keys, used_by, &state);
        (CertificateSource::SecretDir(self.mount(secret)), state)
    }

    /// A CA bundle from a Secret or ConfigMap, and with `crl` its CRL when it has one: the
    /// files where they are mounted, recorded as a credential read for `purpose` by
    /// `used_by`, and the reference's state.
    pub(crate) fn ca_bundle(
        &mut self,
        object: &ObjectRef,
        purpose: Purpose,
        crl: bool,
        used_by: &ObjectRef,
    ) -> CaFiles {
        let missing = self.missing_state();
        let found = self.secrets.ca(object, &missing);
        let crl_key = found.crl_key.filter(|_| crl);
        let mut keys = vec![found.ca_key];
        keys.extend(crl_key);
        self.credential(object, purpose, &keys, used_by, &found.state);
        CaFiles {
            ca: TrustSource::File(self.file(object, found.ca_key)),
            crl: crl_key.map(|k| TrustSource::File(self.file(object, k))),
            state: found.state,
        }
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
                    min_tls: TlsVersion::Tls12,
                    answers: Answers::default(),
                    peer_mode: None,
                    hosts: Vec::new(),
                });
                self.listeners.len() - 1
            }
        };
        &mut self.listeners[i]
    }

    /// Adds a host to a listener unless one of its names is not a host name or is served there
    /// already (then warns and says why).
    pub(crate) fn add_host(
        &mut self,
        listener: &str,
        port: u16,
        host: HostDraft,
        field: &str,
    ) -> Result<(), Refused> {
        let mut names = BTreeSet::new();
        for name in &host.hostnames {
            match host_key(name) {
                Ok(key) => names.insert(key),
                Err(e) => {
                    let why = e.to_string();
                    self.warn(
                        &host.origin,
                        field,
                        format!("{why}; this host is not translated"),
                    );
                    return Err(Refused::Invalid(why));
                }
            };
        }
        let clash = self.listener(listener, port).hosts.iter().find_map(|h| {
            let theirs: BTreeSet<String> = h
                .hostnames
                .iter()
                .filter_map(|n| host_key(n).ok())
                .collect();
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
            return Err(Refused::Taken);
        }
        self.listener(listener, port).hosts.push(host);
        Ok(())
    }

    /// Adds a backend by name (the first definition of a name wins).
    pub(crate) fn backend(&mut self, name: &str, backend: BackendConfig) {
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

/// A CA bundle (and CRL) where the translation mounts them ([`Ctx::ca_bundle`]).
pub(crate) struct CaFiles {
    /// The CA bundle.
    pub(crate) ca: TrustSource,
    /// The CRL, when asked for and present.
    pub(crate) crl: Option<TrustSource>,
    /// Whether the object was found and holds a CA.
    pub(crate) state: RefState,
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
        forward: ForwardIdentityConfig::default(),
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
    crate::destination_rule::translate(&mut ctx, &objects);
    finish(ctx)
}
