//! Client validation asked for a Gateway listener: Gateway API frontend validation, Istio's
//! `tls-terminate-mode` option, AGC `FrontendTLSPolicy`.

use super::*;

/// AGC `FrontendTLSPolicy`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FrontendTlsPolicySpec {
    #[serde(default)]
    pub(super) target_ref: AgcTargetRef,
    #[serde(default)]
    pub(super) default: Option<AgcDefault>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AgcTargetRef {
    #[serde(default)]
    pub(super) kind: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // Gateways of gateway.networking.k8s.io.
    pub(super) group: Option<String>,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) namespace: Option<String>,
    #[serde(default)]
    pub(super) section_names: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AgcDefault {
    #[serde(default)]
    pub(super) verify: Option<AgcVerify>,
    #[serde(default)]
    pub(super) policy_type: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AgcVerify {
    #[serde(default)]
    pub(super) ca_certificate_ref: Option<Ref>,
    #[serde(default)]
    pub(super) subject_alt_name: Option<String>,
    #[serde(default)]
    pub(super) subject_alt_names: Vec<String>,
}

/// Client validation asked for a Gateway listener, from one of the sources, with what to
/// report it under.
pub(super) struct Asked {
    pub(super) object: ObjectRef,
    pub(super) field: String,
    pub(super) refs: Vec<Ref>,
    pub(super) default_kind: &'static str,
    pub(super) mode: ClientCertMode,
    pub(super) skip: bool,
    pub(super) sans: Vec<String>,
    pub(super) agc: bool,
}

pub(super) fn agc_asked(ctx: &mut Ctx<'_>, o: &Object, p: &FrontendTlsPolicySpec) -> Option<Asked> {
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
pub(super) fn frontend_asked(
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
