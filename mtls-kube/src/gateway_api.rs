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
use serde_norway::Value;

use crate::istio::san_rule;
use crate::manifest::{Kind, Object};
use crate::model::{Condition, ConditionStatus, ObjectRef, Purpose, RefState};
use crate::routes::{host_key, path_route};
use crate::translate::{Ctx, HostDraft, Refused, accepted, normalize, resolved_refs};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GatewaySpec {
    #[serde(default)]
    #[allow(dead_code)] // Which controller serves it: this one.
    gateway_class_name: Option<String>,
    #[serde(default)]
    listeners: Vec<GwListener>,
    #[serde(default)]
    addresses: Vec<Value>,
    #[serde(default)]
    tls: Option<GatewayTls>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GwListener {
    #[serde(default)]
    name: String,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    port: u32,
    #[serde(default)]
    protocol: String,
    #[serde(default)]
    tls: Option<ListenerTls>,
    #[serde(default)]
    #[allow(dead_code)] // Routes attach by their parentRefs.
    allowed_routes: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListenerTls {
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    certificate_refs: Vec<Ref>,
    #[serde(default)]
    options: BTreeMap<String, String>,
    /// Gateway API v1.3's experimental place of frontend validation.
    #[serde(default)]
    frontend_validation: Option<Validation>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct Ref {
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct GatewayTls {
    #[serde(default)]
    frontend: Option<Frontend>,
    #[serde(default)]
    backend: Option<GatewayBackendTls>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GatewayBackendTls {
    #[serde(default)]
    client_certificate_ref: Option<Ref>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Frontend {
    #[serde(default)]
    default: Option<FrontendConfig>,
    #[serde(default)]
    per_port: Vec<PerPort>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct PerPort {
    #[serde(default)]
    port: u32,
    #[serde(default)]
    tls: FrontendConfig,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct FrontendConfig {
    #[serde(default)]
    validation: Option<Validation>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Validation {
    #[serde(default)]
    ca_certificate_refs: Vec<Ref>,
    #[serde(default)]
    mode: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HttpRouteSpec {
    #[serde(default)]
    parent_refs: Vec<ParentRef>,
    #[serde(default)]
    hostnames: Vec<String>,
    #[serde(default)]
    rules: Vec<HttpRule>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ParentRef {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // Only Gateways of this group are translated.
    group: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    section_name: Option<String>,
    #[serde(default)]
    port: Option<u32>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpRule {
    #[serde(default)]
    #[allow(dead_code)] // A label only.
    name: Option<String>,
    #[serde(default)]
    matches: Vec<HttpMatch>,
    #[serde(default)]
    backend_refs: Vec<BackendRef>,
    #[serde(default)]
    filters: Vec<Value>,
    #[serde(default)]
    timeouts: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpMatch {
    #[serde(default)]
    path: Option<PathMatch>,
    #[serde(default)]
    headers: Vec<Value>,
    #[serde(default)]
    query_params: Vec<Value>,
    #[serde(default)]
    method: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct PathMatch {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct BackendRef {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // Services are core ("").
    group: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    weight: Option<i64>,
    #[serde(default)]
    filters: Vec<Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BackendTlsPolicySpec {
    #[serde(default)]
    target_refs: Vec<TargetRef>,
    #[serde(default)]
    validation: BackendValidation,
    #[serde(default)]
    options: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetRef {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // Services are core ("").
    group: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    section_name: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BackendValidation {
    #[serde(default)]
    ca_certificate_refs: Vec<Ref>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    well_known_ca_certificates: Option<String>,
    #[serde(default)]
    subject_alt_names: Vec<SubjectAltName>,
}

/// One of `BackendTLSPolicy` `validation.subjectAltNames`: `type: Hostname` with `hostname`,
/// or `type: URI` with `uri`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubjectAltName {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    uri: Option<String>,
}

/// Translates `validation.subjectAltNames` into the backend's allow-list: `Hostname` → a
/// `dns` rule (exact, or `wildcard` for `*.`), `URI` → an exact `uri` rule. An entry of
/// another type or without its value is warned about and left out.
fn backend_sans(ctx: &mut Ctx<'_>, r: &ObjectRef, sans: &[SubjectAltName]) -> IdentityMatchSpec {
    let mut spec = IdentityMatchSpec::default();
    for (i, san) in sans.iter().enumerate() {
        let at = format!("spec.validation.subjectAltNames[{i}]");
        let (field, value) = match san.kind.as_deref() {
            Some("Hostname") => ("hostname", &san.hostname),
            Some("URI") => ("uri", &san.uri),
            other => {
                let kind = other.unwrap_or_default();
                let message =
                    format!("type {kind:?} is not supported (Hostname, URI are): left out");
                ctx.warn(r, format!("{at}.type"), message);
                continue;
            }
        };
        let Some(value) = value.as_deref().filter(|v| !v.trim().is_empty()) else {
            ctx.warn(r, format!("{at}.{field}"), "missing: left out");
            continue;
        };
        let rule = match field {
            "uri" => IdentityRule::Uri(StringMatch::Exact(value.to_string())),
            _ if value.starts_with("*.") => {
                if let Err(e) = StringMatch::Wildcard(value.to_string()).validate() {
                    ctx.warn(r, format!("{at}.hostname"), format!("{e}: left out"));
                    continue;
                }
                IdentityRule::Dns(StringMatch::Wildcard(normalize(value)))
            }
            _ => IdentityRule::Dns(StringMatch::Exact(normalize(value))),
        };
        spec.rules.push(rule);
    }
    spec
}

/// AGC `FrontendTLSPolicy`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FrontendTlsPolicySpec {
    #[serde(default)]
    target_ref: AgcTargetRef,
    #[serde(default)]
    default: Option<AgcDefault>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgcTargetRef {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // Gateways of gateway.networking.k8s.io.
    group: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    section_names: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgcDefault {
    #[serde(default)]
    verify: Option<AgcVerify>,
    #[serde(default)]
    policy_type: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgcVerify {
    #[serde(default)]
    ca_certificate_ref: Option<Ref>,
    #[serde(default)]
    subject_alt_name: Option<String>,
    #[serde(default)]
    subject_alt_names: Vec<String>,
}

/// Client validation asked for a Gateway listener, from one of the sources, with what to
/// report it under.
struct Asked {
    object: ObjectRef,
    field: String,
    refs: Vec<Ref>,
    default_kind: &'static str,
    mode: ClientCertMode,
    skip: bool,
    sans: Vec<String>,
    agc: bool,
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

fn agc_asked(ctx: &mut Ctx<'_>, o: &Object, p: &FrontendTlsPolicySpec) -> Option<Asked> {
    let r = &o.reference;
    let d = p.default.as_ref()?;
    if d.policy_type.is_some() {
        ctx.warn(
            r,
            "spec.default.policyType",
            "not supported: TLS versions and suites are the gateway's defaults (TLS 1.2 and 1.3)",
        );
    }
    let v = d.verify.as_ref()?;
    let Some(ca) = &v.ca_certificate_ref else {
        ctx.warn(
            r,
            "spec.default.verify",
            "no caCertificateRef: no client certificate is verified",
        );
        return None;
    };
    let mut sans = v.subject_alt_names.clone();
    sans.extend(v.subject_alt_name.clone());
    Some(Asked {
        object: r.clone(),
        field: "spec.default.verify.caCertificateRef".into(),
        refs: vec![ca.clone()],
        default_kind: "Secret",
        mode: ClientCertMode::Required,
        skip: false,
        sans,
        agc: true,
    })
}

/// Gateway API frontend validation for a listener: `perPort`, else `default`, else v1.3's
/// listener `frontendValidation`, else Istio's `tls-terminate-mode: MUTUAL` option.
fn frontend_asked(
    ctx: &mut Ctx<'_>,
    o: &Object,
    spec: &GatewaySpec,
    l: &GwListener,
    at: &str,
) -> Option<Asked> {
    let r = &o.reference;
    let frontend = spec.tls.as_ref().and_then(|t| t.frontend.as_ref());
    let per_port = frontend.and_then(|f| f.per_port.iter().position(|p| p.port == l.port));
    let (field, validation) = match (per_port, frontend.and_then(|f| f.default.as_ref())) {
        (Some(i), _) => (
            format!("spec.tls.frontend.perPort[{i}].tls.validation"),
            frontend.and_then(|f| f.per_port[i].tls.validation.as_ref()),
        ),
        (None, Some(d)) => (
            "spec.tls.frontend.default.validation".to_string(),
            d.validation.as_ref(),
        ),
        (None, None) => (
            format!("{at}.tls.frontendValidation"),
            l.tls.as_ref().and_then(|t| t.frontend_validation.as_ref()),
        ),
    };
    if let Some(v) = validation {
        let (mode, skip) = match v.mode.as_deref().unwrap_or("AllowValidOnly") {
            "AllowValidOnly" => (ClientCertMode::Required, false),
            "AllowInsecureFallback" => {
                ctx.warn(r, format!("{field}.mode"), "AllowInsecureFallback: clients without a certificate or with one that does not verify are let through (optional + danger.skip_client_cert_validation)");
                (ClientCertMode::Optional, true)
            }
            other => {
                ctx.warn(
                    r,
                    format!("{field}.mode"),
                    format!("unknown mode {other:?}: AllowValidOnly is applied"),
                );
                (ClientCertMode::Required, false)
            }
        };
        return Some(Asked {
            object: r.clone(),
            field: format!("{field}.caCertificateRefs"),
            refs: v.ca_certificate_refs.clone(),
            default_kind: "ConfigMap",
            mode,
            skip,
            sans: Vec::new(),
            agc: false,
        });
    }
    let tls = l.tls.as_ref()?;
    let mode = tls.options.get("gateway.istio.io/tls-terminate-mode")?;
    let field = format!("{at}.tls.options[gateway.istio.io/tls-terminate-mode]");
    let mode = match mode.as_str() {
        "MUTUAL" => ClientCertMode::Required,
        "OPTIONAL_MUTUAL" => ClientCertMode::Optional,
        "SIMPLE" => return None,
        other => {
            ctx.warn(
                r,
                field,
                format!("{other:?} is not supported (SIMPLE, MUTUAL, OPTIONAL_MUTUAL are)"),
            );
            return None;
        }
    };
    // Istio reads the CA from the certificate's own secret (`ca.crt`, or `<name>-cacert`).
    let cert = tls.certificate_refs.first()?;
    let own = object_ref(cert, "Secret", r.ns());
    let cacert = ObjectRef::new("Secret", own.ns(), format!("{}-cacert", own.name));
    let mut ca = cert.clone();
    if !ctx.secrets.has_ca(&own) && ctx.secrets.get(&cacert).is_some() {
        ca.name = cacert.name;
    }
    Some(Asked {
        object: r.clone(),
        field,
        refs: vec![ca],
        default_kind: "Secret",
        mode,
        skip: false,
        sans: Vec::new(),
        agc: false,
    })
}

/// Translates one Gateway listener; returns our listener's name and port.
fn listener(
    ctx: &mut Ctx<'_>,
    o: &Object,
    l: &GwListener,
    at: &str,
    asked: Option<Asked>,
) -> Option<(String, u16)> {
    let r = &o.reference;
    let section = Some(l.name.as_str());
    let reject = |ctx: &mut Ctx<'_>, field: String, reason: &str, why: String| {
        ctx.warn(r, field, format!("{why}; this listener is not translated"));
        ctx.status(
            r,
            section,
            vec![Condition::new(
                "Accepted",
                ConditionStatus::False,
                reason,
                why,
            )],
        );
        None
    };
    let Some(port) = u16::try_from(l.port).ok().filter(|p| *p != 0) else {
        return reject(
            ctx,
            format!("{at}.port"),
            "UnsupportedValue",
            format!("{} is not a port", l.port),
        );
    };
    if l.protocol != "HTTPS" {
        return reject(
            ctx,
            format!("{at}.protocol"),
            "UnsupportedProtocol",
            format!(
                "protocol {:?} is not supported: the gateway terminates TLS for HTTP (HTTPS listeners)",
                l.protocol
            ),
        );
    }
    let Some(tls) = &l.tls else {
        return reject(
            ctx,
            format!("{at}.tls"),
            "Invalid",
            "an HTTPS listener needs `tls`".into(),
        );
    };
    if let Some(mode) = tls.mode.as_deref().filter(|m| *m != "Terminate") {
        return reject(
            ctx,
            format!("{at}.tls.mode"),
            "UnsupportedValue",
            format!(
                "{mode} is not supported: the gateway terminates TLS to enforce client-certificate policy"
            ),
        );
    }
    for key in tls
        .options
        .keys()
        .filter(|k| *k != "gateway.istio.io/tls-terminate-mode")
    {
        ctx.warn(r, format!("{at}.tls.options[{key}]"), "not translated");
    }
    let Some(cert_ref) = tls.certificate_refs.first() else {
        return reject(
            ctx,
            format!("{at}.tls.certificateRefs"),
            "InvalidCertificateRef",
            "no certificateRefs".into(),
        );
    };
    if tls.certificate_refs.len() > 1 {
        ctx.warn(
            r,
            format!("{at}.tls.certificateRefs"),
            "one certificate per host is served: the first; the others are not",
        );
    }
    let name = format!("{}-{port}", r.name);
    let hostnames: Vec<String> = l.hostname.iter().cloned().collect();
    let mut states = Vec::new();
    let secret = object_ref(cert_ref, "Secret", r.ns());
    if secret.ns() != r.ns() {
        ctx.warn(
            r,
            format!("{at}.tls.certificateRefs[0]"),
            "a cross-namespace reference: the ReferenceGrant that must allow it is not checked",
        );
    }
    let (certificate, state) = ctx.server_certificate(&secret, r);
    let cert_ok = !matches!(state, RefState::Invalid { .. });
    states.push((format!("certificate {}", secret.name), state));
    let mut ca_reason = "InvalidCACertificateRef";
    let mut accepted_cond = accepted();
    let validation = asked.map(|a| {
        let mut sources = Vec::new();
        let mut crls = Vec::new();
        let mut valid = 0;
        for (i, cref) in a.refs.iter().enumerate() {
            let target = object_ref(cref, a.default_kind, r.ns());
            if !matches!(target.kind.as_str(), "ConfigMap" | "Secret")
                || cref.group.as_deref().is_some_and(|g| !g.is_empty())
            {
                ctx.warn(
                    &a.object,
                    format!("{}[{i}].kind", a.field),
                    format!(
                        "kind {} is not supported (ConfigMap, Secret are)",
                        target.kind
                    ),
                );
                ca_reason = "InvalidCACertificateKind";
                states.push((
                    format!("CA {}", target.name),
                    RefState::Invalid {
                        reason: format!("kind {}", target.kind),
                    },
                ));
                continue;
            }
            let missing = ctx.missing_state();
            let found = ctx.secrets.ca(&target, &missing);
            let mut keys = vec![found.ca_key];
            keys.extend(found.crl_key);
            ctx.credential(&target, Purpose::ClientCa, &keys, &a.object, &found.state);
            if !matches!(found.state, RefState::Invalid { .. }) {
                valid += 1;
            }
            states.push((format!("CA {}", target.name), found.state.clone()));
            sources.push(TrustSource::File(ctx.file(&target, found.ca_key)));
            crls.extend(
                found
                    .crl_key
                    .map(|k| TrustSource::File(ctx.file(&target, k))),
            );
        }
        if valid == 0 {
            accepted_cond = Condition::new(
                "Accepted",
                ConditionStatus::False,
                "NoValidCACertificate",
                "no CA certificate reference is valid",
            );
        }
        let mut domain = TrustDomain::new(
            a.refs
                .first()
                .map_or_else(|| "clients".to_string(), |c| c.name.clone()),
            TrustSource::Pem(String::new()),
        );
        domain.ca = sources;
        if !crls.is_empty() {
            domain.crl = Some(CrlOptions::new(crls));
        }
        if !a.sans.is_empty() {
            let mut spec = IdentityMatchSpec::default();
            spec.rules = a.sans.iter().map(|s| san_rule(s)).collect();
            domain.may_vouch_for = Some(spec);
        }
        if a.agc {
            // AGC answers a revoked certificate with HTTP 400 and the reason.
            ctx.listener(&name, port)
                .answers
                .0
                .insert(DenyCode::Revoked, Answer::Http(HttpAnswer::new(400)));
        }
        let mut v = ClientValidation::default();
        v.mode = a.mode;
        v.trust = if domain.ca.is_empty() {
            Vec::new()
        } else {
            vec![domain]
        };
        v.danger.skip_client_cert_validation = a.skip;
        if v.trust.is_empty() && !a.skip {
            // Nothing to verify against: refuse every client certificate rather than none.
            v.mode = ClientCertMode::Required;
            v.trust = vec![TrustDomain::new(
                "no-valid-ca",
                TrustSource::File(ctx.opts.mount_root.join("no-valid-ca.pem")),
            )];
        }
        v
    });
    let host = HostDraft {
        hostnames,
        certificate,
        validation,
        routes: Vec::new(),
        origin: r.clone(),
    };
    let refused = match ctx.add_host(&name, port, host, &format!("{at}.hostname")) {
        Ok(()) => None,
        Err(Refused::Taken) => Some((
            "HostnameConflict",
            "another listener serves this hostname on this port".to_string(),
        )),
        Err(Refused::Invalid(why)) => Some(("UnsupportedValue", why)),
    };
    if let Some((reason, message)) = refused {
        let condition = Condition::new("Accepted", ConditionStatus::False, reason, message);
        ctx.status(r, section, vec![condition]);
        return None;
    }
    let reason = if cert_ok {
        ca_reason
    } else {
        "InvalidCertificateRef"
    };
    ctx.status(
        r,
        section,
        vec![accepted_cond, resolved_refs(&states, reason)],
    );
    Some((name, port))
}

/// BackendTLSPolicies by (namespace, Service).
fn backend_policies(
    ctx: &mut Ctx<'_>,
    objects: &[Object],
) -> BTreeMap<(String, String), BackendTls> {
    let mut out = BTreeMap::new();
    for o in objects {
        let Kind::BackendTlsPolicy(p) = &o.kind else {
            continue;
        };
        let r = &o.reference;
        let v = &p.validation;
        if v.well_known_ca_certificates.is_some() {
            ctx.warn(
                r,
                "spec.validation.wellKnownCACertificates",
                "not supported: name a CA in caCertificateRefs",
            );
        }
        let sans = backend_sans(ctx, r, &v.subject_alt_names);
        if !v.subject_alt_names.is_empty() && sans.is_empty() {
            ctx.warn(
                r,
                "spec.validation.subjectAltNames",
                "no usable entry: the upstream is verified against `hostname` only",
            );
        }
        for key in p.options.keys() {
            ctx.warn(r, format!("spec.options[{key}]"), "not translated");
        }
        let mut states = Vec::new();
        let mut ca = None;
        for (i, c) in v.ca_certificate_refs.iter().enumerate() {
            let target = object_ref(c, "ConfigMap", r.ns());
            if i > 0 {
                ctx.warn(
                    r,
                    format!("spec.validation.caCertificateRefs[{i}]"),
                    "one CA bundle per upstream: only the first is used",
                );
                continue;
            }
            let missing = ctx.missing_state();
            let found = ctx.secrets.ca(&target, &missing);
            ctx.credential(
                &target,
                Purpose::UpstreamCa,
                &[found.ca_key],
                r,
                &found.state,
            );
            states.push((format!("CA {}", target.name), found.state.clone()));
            ca = Some(ctx.file(&target, found.ca_key));
        }
        let Some(ca) = ca else {
            ctx.warn(
                r,
                "spec.validation.caCertificateRefs",
                "no CA: the policy is not translated",
            );
            ctx.status(
                r,
                None,
                vec![Condition::new(
                    "Accepted",
                    ConditionStatus::False,
                    "NoValidCACertificate",
                    "no caCertificateRefs",
                )],
            );
            continue;
        };
        let mut tls = BackendTls::new(TrustSource::File(ca));
        tls.expected_name = v.hostname.clone();
        if !sans.is_empty() {
            tls.subject_alt_names = Some(sans);
        }
        for (i, t) in p.target_refs.iter().enumerate() {
            if t.kind.as_deref().unwrap_or("Service") != "Service" {
                ctx.warn(
                    r,
                    format!("spec.targetRefs[{i}].kind"),
                    "only Services are supported",
                );
                continue;
            }
            if t.section_name.is_some() {
                ctx.warn(
                    r,
                    format!("spec.targetRefs[{i}].sectionName"),
                    "applies to every port of the Service",
                );
            }
            out.insert((r.ns().to_string(), t.name.clone()), tls.clone());
        }
        ctx.status(
            r,
            None,
            vec![
                accepted(),
                resolved_refs(&states, "InvalidCACertificateRef"),
            ],
        );
    }
    out
}

type Attached = BTreeMap<(String, String), Vec<(String, u16, String, Option<String>)>>;

fn http_route(
    ctx: &mut Ctx<'_>,
    o: &Object,
    spec: &HttpRouteSpec,
    attached: &Attached,
    backend_tls: &BTreeMap<(String, String), BackendTls>,
    client_certs: &BTreeMap<(String, String), CertificateSource>,
) {
    let r = &o.reference;
    let mut parents = Vec::new();
    for (i, p) in spec.parent_refs.iter().enumerate() {
        let ns = p.namespace.clone().unwrap_or_else(|| r.ns().to_string());
        if p.kind.as_deref().unwrap_or("Gateway") != "Gateway" {
            ctx.warn(
                r,
                format!("spec.parentRefs[{i}]"),
                "only Gateway parents are translated",
            );
            continue;
        }
        let Some(listeners) = attached.get(&(ns.clone(), p.name.clone())) else {
            ctx.warn(
                r,
                format!("spec.parentRefs[{i}]"),
                format!(
                    "Gateway {ns}/{} is not part of the input (or has no translated listener)",
                    p.name
                ),
            );
            continue;
        };
        for (gw_name, port, ours, hostname) in listeners {
            let section_ok = p.section_name.as_ref().is_none_or(|s| s == gw_name);
            let port_ok = p.port.is_none_or(|x| x == u32::from(*port));
            if section_ok && port_ok {
                parents.push(((ns.clone(), p.name.clone()), ours.clone(), hostname.clone()));
            }
        }
    }
    if parents.is_empty() {
        ctx.status(
            r,
            None,
            vec![Condition::new(
                "Accepted",
                ConditionStatus::False,
                "NoMatchingParent",
                "no translated Gateway listener matches the parentRefs",
            )],
        );
        return;
    }
    let mut rules = Vec::new();
    for (i, rule) in spec.rules.iter().enumerate() {
        let at = format!("spec.rules[{i}]");
        for (field, set) in [
            ("filters", !rule.filters.is_empty()),
            ("timeouts", rule.timeouts.is_some()),
        ] {
            if set {
                ctx.warn(r, format!("{at}.{field}"), "not translated");
            }
        }
        let Some(b) = rule.backend_refs.first() else {
            ctx.warn(r, format!("{at}.backendRefs"), "no backend: not translated");
            continue;
        };
        if rule.backend_refs.len() > 1 {
            ctx.warn(
                r,
                format!("{at}.backendRefs"),
                "traffic splitting is not supported: every request goes to the first backend",
            );
        } else if b.weight == Some(0) {
            ctx.warn(
                r,
                format!("{at}.backendRefs[0].weight"),
                "weight 0 is served anyway",
            );
        }
        if !b.filters.is_empty() {
            ctx.warn(r, format!("{at}.backendRefs[0].filters"), "not translated");
        }
        if b.kind.as_deref().unwrap_or("Service") != "Service" {
            ctx.warn(
                r,
                format!("{at}.backendRefs[0].kind"),
                "only Service backends are supported",
            );
            continue;
        }
        let Some(port) = b.port else {
            ctx.warn(
                r,
                format!("{at}.backendRefs[0].port"),
                "missing: not translated",
            );
            continue;
        };
        let ns = b.namespace.clone().unwrap_or_else(|| r.ns().to_string());
        let mut paths = Vec::new();
        for (j, m) in rule.matches.iter().enumerate() {
            let mf = format!("{at}.matches[{j}]");
            for (field, set) in [
                ("headers", !m.headers.is_empty()),
                ("queryParams", !m.query_params.is_empty()),
                ("method", m.method.is_some()),
            ] {
                if set {
                    ctx.warn(
                        r,
                        format!("{mf}.{field}"),
                        "not supported: requests are matched on host and path only",
                    );
                }
            }
            let value = m
                .path
                .as_ref()
                .and_then(|p| p.value.clone())
                .unwrap_or_else(|| "/".into());
            let exact = match m
                .path
                .as_ref()
                .and_then(|p| p.kind.as_deref())
                .unwrap_or("PathPrefix")
            {
                "PathPrefix" => false,
                "Exact" => true,
                other => {
                    ctx.warn(r, format!("{mf}.path.type"), format!("{other} is not supported (PathPrefix, Exact are): this match is not translated"));
                    continue;
                }
            };
            match path_route(&value, exact) {
                Ok(route) => paths.push((route, format!("{mf}.path.value"))),
                Err(e) => ctx.warn(
                    r,
                    format!("{mf}.path.value"),
                    format!("{e}: this match is not translated"),
                ),
            }
        }
        if rule.matches.is_empty()
            && let Ok(route) = path_route("/", false)
        {
            paths.push((route, at.clone()));
        }
        rules.push((ns, b.name.clone(), port, paths));
    }
    let mut names = Vec::new();
    for (k, name) in spec.hostnames.iter().enumerate() {
        match host_key(name) {
            Ok(_) => names.push(name.clone()),
            Err(e) => ctx.warn(
                r,
                format!("spec.hostnames[{k}]"),
                format!("{e}: not translated"),
            ),
        }
    }
    for (gateway, listener, hostname) in &parents {
        let hosts: Vec<Option<String>> = match (&spec.hostnames[..], hostname) {
            ([], h) => vec![h.clone()],
            (_, None) => names.iter().cloned().map(Some).collect(),
            (_, Some(h)) => names
                .iter()
                .filter(|n| hostname_matches(h, n))
                .cloned()
                .map(Some)
                .collect(),
        };
        for (ns, service, port, paths) in &rules {
            let tls = backend_tls
                .get(&(ns.clone(), service.clone()))
                .cloned()
                .map(|mut t| {
                    t.client_certificate = client_certs.get(gateway).cloned();
                    t
                });
            let scheme = if tls.is_some() { "https" } else { "http" };
            let name = format!("{ns}-{service}-{port}");
            let url = ctx.service_url(scheme, ns, service, *port);
            let mut backend = BackendConfig::new(url);
            backend.tls = tls;
            ctx.backend(&name, backend);
            for host in &hosts {
                for ((route, path), field) in paths {
                    let route = (route.clone().backend(&name), path.clone());
                    ctx.add_route(listener, host.as_deref(), route, r, field.clone());
                }
            }
        }
    }
    ctx.status(r, None, vec![accepted()]);
}

/// Whether a route hostname falls under a listener hostname (exact or `*.` wildcard).
fn hostname_matches(listener: &str, route: &str) -> bool {
    let (l, r) = (normalize(listener), normalize(route));
    if l == r {
        return true;
    }
    match l.strip_prefix("*.") {
        Some(suffix) => r.ends_with(&format!(".{suffix}")),
        None => false,
    }
}
