//! Gateway API (`gateway.networking.k8s.io`): `Gateway` with frontend client-certificate
//! validation, `HTTPRoute`, `BackendTLSPolicy`; Istio's `gateway.istio.io/tls-terminate-mode`
//! option; and AGC's `alb.networking.azure.io/v1` `FrontendTLSPolicy`.
//!
//! | Gateway API | ours |
//! |---|---|
//! | an HTTPS listener (`tls.mode: Terminate`) | a host of listener `<gateway>-<port>` |
//! | `certificateRefs[0]` | the host's certificate |
//! | `spec.tls.frontend.perPort` / `.default` `validation.caCertificateRefs` | `trust[].ca` |
//! | `mode: AllowValidOnly` / `AllowInsecureFallback` | required / optional + `danger.skip_client_cert_validation` |
//! | `tls.options: gateway.istio.io/tls-terminate-mode: MUTUAL` | required, CA from the certificate's secret |
//! | AGC `FrontendTLSPolicy` `default.verify.caCertificateRef` | required; revoked → HTTP 400 |
//! | `HTTPRoute` hostnames, `PathPrefix` / `Exact`, `backendRefs[0]` | the routes of the hosts serving those names, `backends` |
//! | `BackendTLSPolicy` `caCertificateRefs`, `hostname` | backend `tls.ca`, `tls.expected_name` |
//! | `BackendTLSPolicy` `subjectAltNames` (`Hostname`, `URI`) | backend `tls.subject_alt_names` (`dns`, `uri`); `hostname` is then the SNI only |
//! | `spec.tls.backend.clientCertificateRef` | backend `tls.client_certificate` |

use std::collections::BTreeMap;

use mtls_policy::{
    Answer, BackendConfig, BackendTls, CertificateSource, ClientCertMode, ClientValidation,
    CrlOptions, DenyCode, HttpAnswer, IdentityMatchSpec, IdentityRule, StringMatch, TrustDomain,
    TrustSource,
};
use serde::Deserialize;
use serde_json::Value;

use crate::istio::san_rule;
use crate::manifest::{Kind, Object};
use crate::model::{Condition, ConditionStatus, ObjectRef, Purpose, RefState};
use crate::routes::{host_key, path_route};
use crate::translate::{Ctx, HostDraft, Refused, accepted, normalize, resolved_refs};

mod backend_tls;
mod frontend;
mod http_route;
mod listener;

pub(crate) use backend_tls::BackendTlsPolicySpec;
use backend_tls::*;
pub(crate) use frontend::FrontendTlsPolicySpec;
use frontend::*;
pub(crate) use http_route::HttpRouteSpec;
use http_route::*;
use listener::*;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GatewaySpec {
    #[serde(default)]
    #[allow(dead_code)] // Which controller serves it: this one.
    pub(super) gateway_class_name: Option<String>,
    #[serde(default)]
    pub(super) listeners: Vec<GwListener>,
    #[serde(default)]
    pub(super) addresses: Vec<Value>,
    #[serde(default)]
    pub(super) tls: Option<GatewayTls>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GwListener {
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) hostname: Option<String>,
    #[serde(default)]
    pub(super) port: u32,
    #[serde(default)]
    pub(super) protocol: String,
    #[serde(default)]
    pub(super) tls: Option<ListenerTls>,
    #[serde(default)]
    #[allow(dead_code)] // Routes attach by their parentRefs.
    pub(super) allowed_routes: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListenerTls {
    #[serde(default)]
    pub(super) mode: Option<String>,
    #[serde(default)]
    pub(super) certificate_refs: Vec<Ref>,
    #[serde(default)]
    pub(super) options: BTreeMap<String, String>,
    /// Gateway API v1.3's experimental place of frontend validation.
    #[serde(default)]
    pub(super) frontend_validation: Option<Validation>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct Ref {
    #[serde(default)]
    pub(super) group: Option<String>,
    #[serde(default)]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) namespace: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub(super) struct GatewayTls {
    #[serde(default)]
    pub(super) frontend: Option<Frontend>,
    #[serde(default)]
    pub(super) backend: Option<GatewayBackendTls>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GatewayBackendTls {
    #[serde(default)]
    pub(super) client_certificate_ref: Option<Ref>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Frontend {
    #[serde(default)]
    pub(super) default: Option<FrontendConfig>,
    #[serde(default)]
    pub(super) per_port: Vec<PerPort>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub(super) struct PerPort {
    #[serde(default)]
    pub(super) port: u32,
    #[serde(default)]
    pub(super) tls: FrontendConfig,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub(super) struct FrontendConfig {
    #[serde(default)]
    pub(super) validation: Option<Validation>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Validation {
    #[serde(default)]
    pub(super) ca_certificate_refs: Vec<Ref>,
    #[serde(default)]
    pub(super) mode: Option<String>,
}

pub(crate) fn translate(ctx: &mut Ctx<'_>, objects: &[Object]) {
    let backend_tls = backend_policies(ctx, objects);
    let agc: Vec<(&Object, &FrontendTlsPolicySpec)> = objects
        .iter()
        .filter_map(|o| match &o.kind {
            Kind::FrontendTlsPolicy(s) => Some((o, s)),
            _ => None,
        })
        .collect();
    let mut agc_used = vec![false; agc.len()];
    // (gateway ns, gateway name) → its listeners: (Gateway API name, port, our listener, hostname).
    let mut attached: Attached = BTreeMap::new();
    let mut client_certs: BTreeMap<(String, String), CertificateSource> = BTreeMap::new();
    for o in objects {
        let Kind::Gateway(spec) = &o.kind else {
            continue;
        };
        let r = &o.reference;
        if !spec.addresses.is_empty() {
            ctx.warn(
                r,
                "spec.addresses",
                "not supported: listeners bind the configured address",
            );
        }
        if let Some(c) = spec
            .tls
            .as_ref()
            .and_then(|t| t.backend.as_ref())
            .and_then(|b| b.client_certificate_ref.as_ref())
        {
            let secret = object_ref(c, "Secret", r.ns());
            let missing = ctx.missing_state();
            let (keys, state) = ctx.secrets.certificate(&secret, &missing);
            ctx.credential(
                &secret,
                Purpose::UpstreamClientCertificate,
                &keys,
                r,
                &state,
            );
            client_certs.insert(
                (r.ns().into(), r.name.clone()),
                CertificateSource::files(ctx.file(&secret, keys[0]), ctx.file(&secret, keys[1])),
            );
        }
        let mut listeners = Vec::new();
        for (i, l) in spec.listeners.iter().enumerate() {
            let at = format!("spec.listeners[{i}]");
            let mut asked = None;
            for (k, (policy, p)) in agc.iter().enumerate() {
                let t = &p.target_ref;
                let ns = t.namespace.as_deref().unwrap_or(policy.reference.ns());
                let targets = t.kind.as_deref().unwrap_or("Gateway") == "Gateway"
                    && t.name == r.name
                    && ns == r.ns();
                if targets && (t.section_names.is_empty() || t.section_names.contains(&l.name)) {
                    agc_used[k] = true;
                    if let Some(a) = agc_asked(ctx, policy, p) {
                        asked = Some(a);
                    }
                }
            }
            let asked = asked.or_else(|| frontend_asked(ctx, o, spec, l, &at));
            match listener(ctx, o, l, &at, asked) {
                Some((name, port)) => {
                    listeners.push((l.name.clone(), port, name, l.hostname.clone()))
                }
                None => continue,
            }
        }
        attached.insert((r.ns().into(), r.name.clone()), listeners);
    }
    for (k, (policy, p)) in agc.iter().enumerate() {
        if !agc_used[k] {
            let t = &p.target_ref;
            ctx.warn(
                &policy.reference,
                "spec.targetRef",
                format!(
                    "no Gateway {:?} with those listeners is part of the input",
                    t.name
                ),
            );
            ctx.status(
                &policy.reference,
                None,
                vec![Condition::new(
                    "Accepted",
                    ConditionStatus::False,
                    "TargetNotFound",
                    "the target Gateway listener is not part of the input",
                )],
            );
        }
    }
    for o in objects {
        if let Kind::HttpRoute(spec) = &o.kind {
            http_route(ctx, o, spec, &attached, &backend_tls, &client_certs);
        }
    }
}

fn object_ref(r: &Ref, default_kind: &str, namespace: &str) -> ObjectRef {
    ObjectRef::new(
        r.kind.clone().unwrap_or_else(|| default_kind.into()),
        r.namespace.clone().unwrap_or_else(|| namespace.into()),
        r.name.clone(),
    )
}
