//! Istio `VirtualService`: the routes of the hosts of the Gateways it binds to.
//!
//! | Istio | ours |
//! |---|---|
//! | `gateways` (`ns/name`, or a name in the VirtualService's namespace) | the listeners of that Gateway's translated servers |
//! | `hosts` (`*` = every host of the server) | the host names the routes are for (those the server serves) |
//! | `http[].match[].uri.prefix` / `.exact` | `path_prefix` / `path_exact` (no `match`: `/`) |
//! | `http[].route[0].destination` (`host`, `port.number`) | a backend `http://HOST:PORT` (a short name is a Service of the VirtualService's namespace) |
//! | `http[].directResponse` (`status`, `body.string`) | `respond` |
//!
//! Istio takes the first `http` entry that matches; the model takes the longest prefix. A match
//! an earlier entry of the same VirtualService already covers is never reached in Istio: it is
//! warned about and left out, so the two agree. Istio's `prefix` compares strings (`/status`
//! also matches `/statusx`); the model's compares path segments (`/status` and `/status/...`).
//! `uri.regex`, several weighted destinations, and
//! every other field (`rewrite`, `retries`, `timeout`, `headers`, `fault`, `mirror`,
//! `corsPolicy`, `tls`, `tcp`, ...) are warned about, each with its field path.

use std::collections::BTreeMap;

use mtls_policy::{BackendConfig, PathMatch, RespondConfig, RouteConfig};
use serde::Deserialize;

use crate::manifest::{Kind, Object};
use crate::model::{Condition, ConditionStatus, ObjectRef};
use crate::routes::path_route;
use crate::translate::{Ctx, accepted, normalize};

#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct VirtualServiceSpec {
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    gateways: Vec<String>,
    #[serde(default)]
    http: Vec<HttpRoute>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpRoute {
    #[serde(default, rename = "match")]
    matches: Vec<HttpMatch>,
    #[serde(default)]
    route: Vec<Destination>,
    #[serde(default)]
    direct_response: Option<DirectResponse>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct DirectResponse {
    #[serde(default)]
    status: u32,
    #[serde(default)]
    body: Option<ResponseBody>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct ResponseBody {
    #[serde(default)]
    string: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct HttpMatch {
    #[serde(default)]
    uri: Option<UriMatch>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct UriMatch {
    #[serde(default)]
    exact: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    regex: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct Destination {
    #[serde(default)]
    destination: Option<Target>,
    #[serde(default)]
    #[allow(dead_code)] // Only the first destination is routed to.
    weight: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct Target {
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: Option<TargetPort>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct TargetPort {
    #[serde(default)]
    number: Option<u32>,
}

/// A translated Gateway server: its listener and host names (empty: every host, `*`).
#[derive(Clone, Debug)]
pub(crate) struct Served {
    pub(crate) listener: String,
    pub(crate) hostnames: Vec<String>,
}

/// The translated servers of each Gateway.
pub(crate) type Servers = BTreeMap<ObjectRef, Vec<Served>>;

/// Translates every VirtualService; returns the Gateways some VirtualService binds to.
pub(crate) fn translate(
    ctx: &mut Ctx<'_>,
    objects: &[Object],
    servers: &Servers,
) -> Vec<ObjectRef> {
    let mut bound = Vec::new();
    for o in objects {
        if let Kind::VirtualService(spec) = &o.kind {
            virtual_service(ctx, o, spec, servers, &mut bound);
        }
    }
    bound
}

fn virtual_service(
    ctx: &mut Ctx<'_>,
    o: &Object,
    spec: &VirtualServiceSpec,
    servers: &Servers,
    bound: &mut Vec<ObjectRef>,
) {
    let r = &o.reference;
    let ns = r.ns().to_string();
    if spec.gateways.is_empty() {
        ctx.warn(
            r,
            "spec.gateways",
            "none given: it applies to the mesh's sidecars (`mesh`), not to a gateway; not translated",
        );
        let why = "it binds to no Gateway (spec.gateways is empty: the mesh)";
        let condition = Condition::new("Accepted", ConditionStatus::False, "NoGateway", why);
        ctx.status(r, None, vec![condition]);
        return;
    }
    let mut gateways = Vec::new();
    for (i, name) in spec.gateways.iter().enumerate() {
        let field = format!("spec.gateways[{i}]");
        if name == "mesh" {
            ctx.warn(r, field, "`mesh` (the sidecars) is not a gateway: ignored");
            continue;
        }
        let gateway = match name.split_once('/') {
            Some((gns, gname)) => ObjectRef::new("Gateway", gns, gname),
            None => ObjectRef::new("Gateway", &ns, name),
        };
        match servers.get(&gateway) {
            Some(s) => {
                if !bound.contains(&gateway) {
                    bound.push(gateway.clone());
                }
                gateways.push(s);
            }
            None => ctx.warn(
                r,
                field,
                format!("{gateway} is not part of the input (or serves no translated server): its routes are not translated"),
            ),
        }
    }
    if gateways.is_empty() {
        let why = "it binds to no Gateway of the input";
        let condition = Condition::new("Accepted", ConditionStatus::False, "NoGateway", why);
        ctx.status(r, None, vec![condition]);
        return;
    }
    let servers: Vec<(&Served, Vec<Option<String>>)> = gateways
        .iter()
        .flat_map(|g| g.iter())
        .map(|s| (s, hosts_for(&spec.hosts, &s.hostnames)))
        .collect();
    if servers.iter().all(|(_, hosts)| hosts.is_empty()) {
        let message = format!(
            "no server of its Gateways serves {:?}: not translated",
            spec.hosts
        );
        ctx.warn(r, "spec.hosts", message);
        return;
    }
    let paths = paths(ctx, r, &spec.http);
    for (i, http) in spec.http.iter().enumerate() {
        let action = match &http.direct_response {
            Some(direct) => respond(ctx, r, i, http, direct),
            None => backend(ctx, r, i, &ns, &http.route).map(Action::Backend),
        };
        let Some(action) = action else {
            continue;
        };
        for (s, hosts) in &servers {
            for host in hosts {
                for p in paths.iter().filter(|p| p.entry == i) {
                    let route = match &action {
                        Action::Backend(name) => p.route.clone().backend(name),
                        Action::Respond(answer) => p.route.clone().respond(answer.clone()),
                    };
                    let route = (route, p.path.clone());
                    let field = format!("spec.http[{i}].match[{}].uri", p.index);
                    ctx.add_route(&s.listener, host.as_deref(), route, r, field);
                }
            }
        }
    }
    ctx.status(r, None, vec![accepted()]);
}

/// A translated match: of `http[entry].match[index]`.
struct Matched {
    entry: usize,
    index: usize,
    route: RouteConfig,
    path: PathMatch,
}

/// The matches of every `http` entry. Regexes, paths not in normal form and matches an earlier
/// entry covers are warned about and left out.
fn paths(ctx: &mut Ctx<'_>, r: &ObjectRef, http: &[HttpRoute]) -> Vec<Matched> {
    let mut out: Vec<Matched> = Vec::new();
    let mut earlier: Vec<(usize, PathMatch)> = Vec::new();
    for (i, h) in http.iter().enumerate() {
        let mut mine = Vec::new();
        let matches: Vec<Option<&UriMatch>> = if h.matches.is_empty() {
            vec![None]
        } else {
            h.matches.iter().map(|m| m.uri.as_ref()).collect()
        };
        for (j, uri) in matches.into_iter().enumerate() {
            let field = format!("spec.http[{i}].match[{j}].uri");
            let (path, exact) = match uri {
                None => ("/".to_string(), false),
                Some(UriMatch { exact: Some(p), .. }) => (p.clone(), true),
                Some(UriMatch {
                    prefix: Some(p), ..
                }) => (p.clone(), false),
                Some(UriMatch { regex: Some(_), .. }) => {
                    let message = "a regular expression is not supported (prefix and exact are): this match is not translated";
                    ctx.warn(r, format!("{field}.regex"), message);
                    continue;
                }
                Some(_) => ("/".to_string(), false),
            };
            let (route, m) = match path_route(&path, exact) {
                Ok(found) => found,
                Err(e) => {
                    ctx.warn(r, field, format!("{e}: this match is not translated"));
                    continue;
                }
            };
            let covering = earlier.iter().find(|(_, p)| match p {
                PathMatch::Exact(_) => *p == m,
                PathMatch::Prefix(_) => match &m {
                    PathMatch::Exact(q) | PathMatch::Prefix(q) => p.matches(q),
                },
            });
            if let Some((k, _)) = covering {
                let message = format!(
                    "{m} is never reached: spec.http[{k}] comes first and matches it (Istio takes the first match); not translated"
                );
                ctx.warn(r, field, message);
                continue;
            }
            mine.push(m.clone());
            out.push(Matched {
                entry: i,
                index: j,
                route,
                path: m,
            });
        }
        earlier.extend(mine.into_iter().map(|m| (i, m)));
    }
    out
}

/// What an `http` entry does with the requests it matches.
enum Action {
    /// Forwards them to the backend of this name.
    Backend(String),
    /// Answers them.
    Respond(RespondConfig),
}

/// The fixed answer of an `http` entry's `directResponse`, or `None` (warned about).
fn respond(
    ctx: &mut Ctx<'_>,
    r: &ObjectRef,
    i: usize,
    http: &HttpRoute,
    direct: &DirectResponse,
) -> Option<Action> {
    let at = format!("spec.http[{i}]");
    if !http.route.is_empty() {
        let message =
            "ignored: the entry answers with its directResponse (Istio accepts one of the two)";
        ctx.warn(r, format!("{at}.route"), message);
    }
    let status = u16::try_from(direct.status)
        .ok()
        .filter(|s| (200..=599).contains(s));
    let Some(status) = status else {
        let message = format!(
            "{} is not supported (200 to 599 are): this entry is not translated",
            direct.status
        );
        ctx.warn(r, format!("{at}.directResponse.status"), message);
        return None;
    };
    let body = direct
        .body
        .as_ref()
        .and_then(|b| b.string.clone())
        .unwrap_or_default();
    if matches!(status, 204 | 304) && !body.is_empty() {
        let message = format!("a {status} answer has no body: this entry is not translated");
        ctx.warn(r, format!("{at}.directResponse.body"), message);
        return None;
    }
    Some(Action::Respond(RespondConfig::new(status, body)))
}

/// The backend of an `http` entry (added to the context), or `None` (warned about).
fn backend(
    ctx: &mut Ctx<'_>,
    r: &ObjectRef,
    i: usize,
    ns: &str,
    route: &[Destination],
) -> Option<String> {
    let at = format!("spec.http[{i}].route");
    let Some(first) = route.first() else {
        ctx.warn(
            r,
            at,
            "no destination: this entry is not translated (its paths answer 404)",
        );
        return None;
    };
    if route.len() > 1 {
        let message = format!(
            "{} weighted destinations: only the first, route[0], is used (no traffic splitting)",
            route.len()
        );
        ctx.warn(r, format!("{at}[1]"), message);
    }
    let Some(target) = first.destination.as_ref().filter(|t| !t.host.is_empty()) else {
        ctx.warn(
            r,
            format!("{at}[0].destination.host"),
            "missing: this entry is not translated",
        );
        return None;
    };
    let port = target
        .port
        .as_ref()
        .and_then(|p| p.number)
        .and_then(|n| u16::try_from(n).ok())
        .filter(|p| *p != 0);
    let Some(port) = port else {
        ctx.warn(
            r,
            format!("{at}[0].destination.port.number"),
            "missing or not a port number (the Service's only port is not known here): this entry is not translated",
        );
        return None;
    };
    let host = normalize(&target.host);
    let url = if host.contains('.') {
        format!("http://{host}:{port}")
    } else {
        ctx.service_url("http", ns, &host, port)
    };
    let name = match host.split_once('.') {
        Some(_) => format!("{host}-{port}"),
        None => format!("{ns}-{host}-{port}"),
    };
    ctx.backend(&name, BackendConfig::new(url));
    Some(name)
}

/// The host names a VirtualService's routes are for on a server serving `served` (empty: every
/// host): the names both allow (`None`: every host of the server).
fn hosts_for(hosts: &[String], served: &[String]) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = Vec::new();
    let mut add = |h: Option<String>| {
        if !out.contains(&h) {
            out.push(h);
        }
    };
    for h in hosts {
        let h = normalize(h);
        if served.is_empty() {
            add((h != "*").then_some(h));
            continue;
        }
        for s in served.iter().map(|s| normalize(s)) {
            if h == "*" || h == s || covers(&h, &s) {
                add(Some(s));
            } else if covers(&s, &h) {
                add(Some(h.clone()));
            }
        }
    }
    out
}

/// Whether the wildcard `pattern` (`*.parent`) covers `name`.
fn covers(pattern: &str, name: &str) -> bool {
    pattern
        .strip_prefix("*.")
        .is_some_and(|parent| name.ends_with(&format!(".{parent}")))
}
