//! `HTTPRoute`: its rules become the routes of the hosts of the Gateway listeners it attaches to.

use super::*;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HttpRouteSpec {
    #[serde(default)]
    pub(super) parent_refs: Vec<ParentRef>,
    #[serde(default)]
    pub(super) hostnames: Vec<String>,
    #[serde(default)]
    pub(super) rules: Vec<HttpRule>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ParentRef {
    #[serde(default)]
    pub(super) kind: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // Only Gateways of this group are translated.
    pub(super) group: Option<String>,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) namespace: Option<String>,
    #[serde(default)]
    pub(super) section_name: Option<String>,
    #[serde(default)]
    pub(super) port: Option<u32>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct HttpRule {
    #[serde(default)]
    #[allow(dead_code)] // A label only.
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) matches: Vec<HttpMatch>,
    #[serde(default)]
    pub(super) backend_refs: Vec<BackendRef>,
    #[serde(default)]
    pub(super) filters: Vec<Value>,
    #[serde(default)]
    pub(super) timeouts: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct HttpMatch {
    #[serde(default)]
    pub(super) path: Option<PathMatch>,
    #[serde(default)]
    pub(super) headers: Vec<Value>,
    #[serde(default)]
    pub(super) query_params: Vec<Value>,
    #[serde(default)]
    pub(super) method: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub(super) struct PathMatch {
    #[serde(default, rename = "type")]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) value: Option<String>,
}

pub(super) type Attached = BTreeMap<(String, String), Vec<(String, u16, String, Option<String>)>>;

pub(super) fn http_route(
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
pub(super) fn hostname_matches(listener: &str, route: &str) -> bool {
    let (l, r) = (normalize(listener), normalize(route));
    if l == r {
        return true;
    }
    match l.strip_prefix("*.") {
        Some(suffix) => r.ends_with(&format!(".{suffix}")),
        None => false,
    }
}
