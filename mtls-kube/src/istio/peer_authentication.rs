//! Istio `PeerAuthentication`: the policies as Istio orders them (`peer_authentication`), and
//! the listeners of the workload being translated ([`Options::workload`](crate::Options::workload)).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use mtls_policy::{
    BackendConfig, ClientCertMode, ClientValidation, HostConfig, ListenerConfig,
    PeerAuthentication, PeerAuthentications, PeerMode, PolicyConfig, RouteConfig, Scope,
    TrustDomain,
};
use serde::Deserialize;

use crate::de::IntOrString;
use crate::manifest::Object;
use crate::model::{Condition, ConditionStatus, ObjectRef, Purpose, Warning};
use crate::options::Options;
use crate::translate::{Ctx, accepted};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PeerAuthenticationSpec {
    #[serde(default)]
    selector: Option<Selector>,
    #[serde(default)]
    mtls: Option<Mtls>,
    #[serde(default)]
    port_level_mtls: BTreeMap<IntOrString, Mtls>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Selector {
    #[serde(default)]
    match_labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct Mtls {
    #[serde(default)]
    mode: Option<String>,
}

fn peer_mode(ctx: &mut Ctx<'_>, r: &ObjectRef, field: &str, mtls: Option<&Mtls>) -> PeerMode {
    let Some(mode) = mtls.and_then(|m| m.mode.as_deref()) else {
        return PeerMode::Unset;
    };
    match mode.to_ascii_uppercase().as_str() {
        "UNSET" => PeerMode::Unset,
        "STRICT" => PeerMode::Strict,
        "PERMISSIVE" => PeerMode::Permissive,
        "DISABLE" => PeerMode::Disable,
        other => {
            ctx.warn(
                r,
                field,
                format!("unknown mode {other:?}: treated as UNSET (inherit)"),
            );
            PeerMode::Unset
        }
    }
}

pub(crate) fn peer_authentication(ctx: &mut Ctx<'_>, o: &Object, spec: &PeerAuthenticationSpec) {
    let r = &o.reference;
    let mut pa = PeerAuthentication::new(
        r.ns(),
        peer_mode(ctx, r, "spec.mtls.mode", spec.mtls.as_ref()),
    );
    pa.name = r.name.clone();
    match &spec.selector {
        Some(s) if s.match_labels.is_empty() => ctx.warn(
            r,
            "spec.selector",
            "an empty selector selects every workload: treated as namespace-wide",
        ),
        Some(s) => pa.selector = Some(s.match_labels.clone()),
        None => {}
    }
    for (port, mtls) in &spec.port_level_mtls {
        let field = format!("spec.portLevelMtls[{port}]");
        if pa.selector.is_none() {
            ctx.warn(
                r,
                field,
                "ignored: Istio applies portLevelMtls only to a policy with a selector",
            );
            continue;
        }
        let Some(p) = port.port() else {
            ctx.warn(r, field, "not a port number: ignored");
            continue;
        };
        let mode = peer_mode(ctx, r, &format!("{field}.mode"), Some(mtls));
        pa.port_level.insert(p, mode);
    }
    if pa.selector.is_none()
        && let Some(first) = ctx
            .peer_auth
            .iter()
            .find(|p| p.selector.is_none() && p.namespace == pa.namespace)
    {
        let scope = if pa.namespace == ctx.opts.root_namespace {
            "mesh"
        } else {
            "namespace"
        };
        let first = first.name.clone();
        ctx.warn(
                r,
                "metadata.name",
                format!("a second {scope}-wide policy: Istio applies the oldest, {first:?}; this one is ignored"),
            );
        ctx.status(
            r,
            None,
            vec![Condition::new(
                "Accepted",
                ConditionStatus::False,
                "Conflicted",
                format!("{first:?} applies"),
            )],
        );
        return;
    }
    ctx.peer_auth.push(pa);
    ctx.status(r, None, vec![accepted()]);
}

/// The backend the workload listeners forward to ([`Workload::backend`](crate::Workload::backend)).
const WORKLOAD_BACKEND: &str = "workload";

/// What each workload listener serves when the workload's credential is given
/// ([`Workload::credential`](crate::Workload::credential)): a default host with the Secret's
/// certificate, peers verified against the Secret's CA (required where the peer mode is
/// STRICT, by the policy's decision), and every path forwarded to the workload's backend
/// (registered in `ctx`). `None` without a workload, a credential or a PeerAuthentication.
pub(crate) fn workload_host(ctx: &mut Ctx<'_>) -> Option<HostConfig> {
    let opts = ctx.opts;
    let workload = opts.workload.as_ref()?;
    let name = workload.credential.as_ref()?;
    let first = ctx.peer_auth.first()?;
    let used_by = ObjectRef::new("PeerAuthentication", &first.namespace, &first.name);
    let secret = ObjectRef::new("Secret", &workload.namespace, name);
    let (certificate, _) = ctx.server_certificate(&secret, &used_by);
    let ca = ctx
        .ca_bundle(&secret, Purpose::ClientCa, false, &used_by)
        .ca;
    let mut validation = ClientValidation::default();
    validation.mode = ClientCertMode::Optional;
    validation.trust = vec![TrustDomain::new("workload", ca)];
    let mut host = HostConfig::new(Vec::<String>::new())
        .certificate(certificate)
        .client_validation(validation);
    if let Some(url) = &workload.backend {
        ctx.backends
            .insert(WORKLOAD_BACKEND.into(), BackendConfig::new(url.clone()));
        host = host.route(
            RouteConfig::prefix("/")
                .named(WORKLOAD_BACKEND)
                .backend(WORKLOAD_BACKEND),
        );
    }
    Some(host)
}

/// The listeners of the workload's own ports ([`Workload::ports`](crate::Workload::ports)) that
/// no vendor object gives one, each with the peer mode the PeerAuthentications give the
/// workload there and `host` (see [`workload_host`]); without a workload, PeerAuthentications
/// are warned about (they then select nothing to enforce on).
pub(crate) fn workload_listeners(
    config: &mut PolicyConfig,
    opts: &Options,
    scopes: Option<&PeerAuthentications>,
    host: Option<&HostConfig>,
    warnings: &mut Vec<Warning>,
) {
    let Some(first) = config.peer_authentication.first() else {
        return;
    };
    let object = ObjectRef::new("PeerAuthentication", &first.namespace, &first.name);
    let mut warn = |message: &str| {
        warnings.push(Warning {
            object: object.clone(),
            field: "spec".into(),
            message: message.into(),
        });
    };
    let Some(workload) = &opts.workload else {
        warn(
            "PeerAuthentications apply to a workload, and none is given: no listener takes its peer mode from them. Give the gateway workload's namespace, labels and ports (translate --workload-namespace NS --workload-label KEY=VALUE --workload-port PORT)",
        );
        return;
    };
    let Some(scopes) = scopes else {
        // An invalid set: the policy loader says why.
        return;
    };
    if workload.ports.is_empty() && config.listeners.is_empty() {
        warn(
            "the workload serves no port, and no Gateway or Ingress gives it a listener: give its ports (translate --workload-port PORT)",
        );
    }
    for &port in &workload.ports {
        if config.listeners.iter().any(|l| l.port() == port) {
            continue;
        }
        let resolved = scopes.resolve(&workload.namespace, &workload.labels, port);
        let mode = match resolved.mode {
            PeerMode::Unset => PeerMode::Permissive,
            mode => mode,
        };
        let address = SocketAddr::new(opts.bind_address, port);
        let mut listener = ListenerConfig::on_address(format!("workload-{port}"), address);
        listener.hosts.extend(host.cloned());
        config.listeners.push(listener.peer_mode(mode));
    }
}

/// Warns about each listener translated from a Gateway server (or an Ingress) on whose port
/// the PeerAuthentications select the gateway's workload: as in Istio, they do not change it.
/// PeerAuthentication governs the workload's mesh traffic (its own ports, the `workload-<port>`
/// listeners); a Gateway server port is governed by the server's `tls` settings: TLS only,
/// and a client certificate where its hosts require one. `config` holds only the translated
/// listeners.
pub(crate) fn gateway_listeners(
    config: &PolicyConfig,
    opts: &Options,
    scopes: Option<&PeerAuthentications>,
    warnings: &mut Vec<Warning>,
) {
    let (Some(workload), Some(scopes)) = (&opts.workload, scopes) else {
        return;
    };
    for l in &config.listeners {
        let resolved = scopes.resolve(&workload.namespace, &workload.labels, l.port());
        if resolved.scope == Scope::Default {
            continue;
        }
        let mutual = l.hosts.iter().any(|h| {
            h.client_validation
                .as_ref()
                .is_some_and(|v| v.mode == ClientCertMode::Required)
        });
        let serves = if mutual {
            "TLS only, with the client certificate its hosts require"
        } else {
            "TLS only"
        };
        let namespace = match resolved.scope {
            Scope::Mesh => opts.root_namespace.as_str(),
            _ => workload.namespace.as_str(),
        };
        let field = match resolved.scope {
            Scope::Port => format!("spec.portLevelMtls[{}].mode", l.port()),
            _ => "spec.mtls.mode".to_string(),
        };
        warnings.push(Warning {
            object: ObjectRef::new("PeerAuthentication", namespace, &resolved.policy),
            field,
            message: format!(
                "{} does not change listener {} (port {}): it is a Gateway server (or Ingress) port, which its own TLS settings govern, not PeerAuthentication (the workload's mesh traffic); it serves {serves}",
                resolved.mode,
                l.name,
                l.port()
            ),
        });
    }
}
