//! `BackendTLSPolicy`: upstream TLS (CA, SNI, `subjectAltNames`) for the Services it targets.

use super::*;

#[derive(Clone, Debug, Default, Deserialize)]
pub(super) struct BackendRef {
    #[serde(default)]
    pub(super) kind: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // Services are core ("").
    pub(super) group: Option<String>,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) namespace: Option<String>,
    #[serde(default)]
    pub(super) port: Option<u16>,
    #[serde(default)]
    pub(super) weight: Option<i64>,
    #[serde(default)]
    pub(super) filters: Vec<Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BackendTlsPolicySpec {
    #[serde(default)]
    pub(super) target_refs: Vec<TargetRef>,
    #[serde(default)]
    pub(super) validation: BackendValidation,
    #[serde(default)]
    pub(super) options: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TargetRef {
    #[serde(default)]
    pub(super) kind: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // Services are core ("").
    pub(super) group: Option<String>,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) section_name: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BackendValidation {
    #[serde(default)]
    pub(super) ca_certificate_refs: Vec<Ref>,
    #[serde(default)]
    pub(super) hostname: Option<String>,
    #[serde(default)]
    pub(super) well_known_ca_certificates: Option<String>,
    #[serde(default)]
    pub(super) subject_alt_names: Vec<SubjectAltName>,
}

/// One of `BackendTLSPolicy` `validation.subjectAltNames`: `type: Hostname` with `hostname`,
/// or `type: URI` with `uri`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SubjectAltName {
    #[serde(default, rename = "type")]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) hostname: Option<String>,
    #[serde(default)]
    pub(super) uri: Option<String>,
}

/// Translates `validation.subjectAltNames` into the backend's allow-list: `Hostname` → a
/// `dns` rule (exact, or `wildcard` for `*.`), `URI` → an exact `uri` rule. An entry of
/// another type or without its value is warned about and left out.
pub(super) fn backend_sans(
    ctx: &mut Ctx<'_>,
    r: &ObjectRef,
    sans: &[SubjectAltName],
) -> IdentityMatchSpec {
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

/// BackendTLSPolicies by (namespace, Service).
pub(super) fn backend_policies(
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
            let found = ctx.ca_bundle(&target, Purpose::UpstreamCa, false, r);
            states.push((format!("CA {}", target.name), found.state));
            ca = Some(found.ca);
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
        let mut tls = BackendTls::new(ca);
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
