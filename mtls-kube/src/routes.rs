//! Routes into hosts. The vendors route by host name and path, apart from TLS; the model keeps
//! routes inside the hosts of a listener. The translators record each route for a listener
//! and a host name (or every host); here each goes into the hosts that serve its name, with
//! the meaning it had:
//!
//! - A request is routed by its host name first: the routes for its exact name, else those of
//!   the `*.parent` wildcard covering it, else the routes for every host; among these, an exact
//!   path beats a prefix and the longest prefix wins. Of two routes with the same name and
//!   path the first wins (a second one to another backend is warned about).
//! - A host whose names are routed differently is split into hosts with the same certificate
//!   and client validation, one per routing. A name routed on a listener whose hosts do not
//!   list it gets such a host of its own, copied from the host that serves it (a wildcard or
//!   the default host).
//! - A host's own routes (allow-lists, with a backend where the vendor ties one to the host)
//!   come before any other, and each allow-list covers the paths under it: every path gets the
//!   allow-list of the own route that covers it and the backend it is routed to. A path with
//!   an allow-list and no backend answers 404, as a request without a route does.

use mtls_policy::host::HostError;
use mtls_policy::path::PathError;
use mtls_policy::{HostIndex, PathMatch, RespondConfig, RouteConfig, normalize_host};

use crate::model::ObjectRef;
use crate::translate::{Ctx, HostDraft, ListenerDraft};

/// A route as a vendor gives it: for a listener and a host name (`None`: every host).
#[derive(Clone, Debug)]
pub(crate) struct RouteDraft {
    pub(crate) listener: String,
    pub(crate) host: Option<String>,
    pub(crate) path: PathMatch,
    pub(crate) route: RouteConfig,
    pub(crate) origin: ObjectRef,
    pub(crate) field: String,
}

/// A host name's key: its normal form; a wildcard is `*.` and its parent's normal form.
pub(crate) fn host_key(name: &str) -> Result<String, HostError> {
    match name.strip_prefix("*.") {
        Some(parent) => Ok(format!("*.{}", normalize_host(parent)?)),
        None => Ok(normalize_host(name)?.into_owned()),
    }
}

/// A route for a path prefix (`exact: false`) or an exact path, with its match; the path must
/// be in normal form.
pub(crate) fn path_route(path: &str, exact: bool) -> Result<(RouteConfig, PathMatch), PathError> {
    if exact {
        Ok((RouteConfig::exact(path), PathMatch::exact(path)?))
    } else {
        Ok((RouteConfig::prefix(path), PathMatch::prefix(path)?))
    }
}

/// The path match of a route the translation wrote.
fn path_of(route: &RouteConfig) -> Option<PathMatch> {
    match (&route.path_prefix, &route.path_exact) {
        (Some(p), None) => PathMatch::prefix(p).ok(),
        (None, Some(p)) => PathMatch::exact(p).ok(),
        (None, None) => Some(PathMatch::Prefix(String::new())),
        (Some(_), Some(_)) => None,
    }
}

impl Ctx<'_> {
    /// Records `route` (with its `path`) for `host` (every host when `None`) of `listener`;
    /// a host that is not a host name is warned about at `field`.
    pub(crate) fn add_route(
        &mut self,
        listener: &str,
        host: Option<&str>,
        (route, path): (RouteConfig, PathMatch),
        origin: &ObjectRef,
        field: String,
    ) {
        if let Some(Err(e)) = host.map(host_key) {
            let message = format!("{e}: this route is not translated");
            self.warn(origin, field, message);
            return;
        }
        self.routes.push(RouteDraft {
            listener: listener.to_string(),
            host: host.map(str::to_string),
            path,
            route,
            origin: origin.clone(),
            field,
        });
    }
}

/// A route with its host key.
struct Keyed {
    key: Option<String>,
    draft: RouteDraft,
}

/// A warning: object, field, message.
type Said = (ObjectRef, String, String);

/// Puts the recorded routes into the hosts of their listeners (see the module doc).
pub(crate) fn place(ctx: &mut Ctx<'_>) {
    let drafts = std::mem::take(&mut ctx.routes);
    let mut said: Vec<Said> = Vec::new();
    for listener in &mut ctx.listeners {
        place_in(listener, &drafts, &mut said);
    }
    for (object, field, message) in said {
        ctx.warn(&object, field, message);
    }
}

/// Puts the routes recorded for `listener` into its hosts.
fn place_in(listener: &mut ListenerDraft, drafts: &[RouteDraft], said: &mut Vec<Said>) {
    let mine = drafts.iter().filter(|r| r.listener == listener.name);
    let mut routes = first_of_each(mine, said);
    add_named_hosts(listener, &mut routes, said);
    if listener.hosts.is_empty() {
        for r in &routes {
            let why = format!("no host is served on port {}", listener.port);
            said.push(not_translated(&r.draft, &why));
        }
    }
    split_hosts(listener, &routes);
    for host in &mut listener.hosts {
        host.routes = combine(host, &routes);
    }
}

fn not_translated(r: &RouteDraft, why: &str) -> Said {
    let message = format!("{why}: {} is not translated", r.path);
    (r.origin.clone(), r.field.clone(), message)
}

fn action(route: &RouteConfig) -> String {
    match (&route.backend, &route.respond) {
        (Some(b), _) => format!("backend {b:?}"),
        (None, Some(r)) => format!("a fixed {} answer", r.status),
        (None, None) => "nothing".into(),
    }
}

/// The routes with their keys, the first of each host and path; a later one with another
/// action is warned about.
fn first_of_each<'a>(
    drafts: impl Iterator<Item = &'a RouteDraft>,
    said: &mut Vec<Said>,
) -> Vec<Keyed> {
    let mut out: Vec<Keyed> = Vec::new();
    for d in drafts {
        let key = d.host.as_deref().and_then(|h| host_key(h).ok());
        let earlier = out.iter().find(|k| k.key == key && k.draft.path == d.path);
        match earlier {
            None => out.push(Keyed {
                key,
                draft: d.clone(),
            }),
            Some(e) if e.draft.route.backend == d.route.backend => {}
            Some(e) => {
                let host = match &d.host {
                    Some(h) => format!("host {h:?}"),
                    None => "every host".to_string(),
                };
                let by = if e.draft.origin == d.origin {
                    "an earlier rule of this object".to_string()
                } else {
                    e.draft.origin.to_string()
                };
                let message = format!(
                    "{} of {host} is already routed to {} by {by}; this one is ignored",
                    d.path,
                    action(&e.draft.route)
                );
                said.push((d.origin.clone(), d.field.clone(), message));
            }
        }
    }
    out
}

fn keys(host: &HostDraft) -> Vec<String> {
    host.hostnames
        .iter()
        .filter_map(|n| host_key(n).ok())
        .collect()
}

/// Gives every routed name a host that lists it: a copy of the host that serves the name. A
/// wildcard gets a copy of the default host (which serves the names under it that no host
/// lists); without one, only the hosts listing names under it take its routes. Routes for a
/// name no host serves are warned about and dropped.
fn add_named_hosts(listener: &mut ListenerDraft, routes: &mut Vec<Keyed>, said: &mut Vec<Said>) {
    let mut unserved = Vec::new();
    for r in routes.iter() {
        let (Some(key), Some(name)) = (&r.key, &r.draft.host) else {
            continue;
        };
        if unserved.contains(key) || listener.hosts.iter().any(|h| keys(h).contains(key)) {
            continue;
        }
        let index = HostIndex::new(listener.hosts.iter().map(|h| &h.hostnames));
        let serving = index.ok().and_then(|index| match key.strip_prefix("*.") {
            Some(_) => index.default_host(),
            None => index.lookup(Some(key)),
        });
        // A name under the wildcard that a host lists.
        let under = |h: &HostDraft| keys(h).iter().any(|k| tiers(k)[1].as_ref() == Some(key));
        match serving {
            Some(s) => {
                let mut host = listener.hosts[s].clone();
                host.hostnames = vec![name.clone()];
                listener.hosts.push(host);
            }
            None if listener.hosts.iter().any(under) => {}
            None => unserved.push(key.clone()),
        }
    }
    routes.retain(|r| {
        let lost = r.key.as_ref().is_some_and(|k| unserved.contains(k));
        if lost {
            let name = r.draft.host.as_deref().unwrap_or_default();
            let why = format!("no host on port {} serves {name:?}", listener.port);
            said.push(not_translated(&r.draft, &why));
        }
        !lost
    });
}

/// The keys whose routes a request for `key` takes: its exact name's and its wildcard's.
fn tiers(key: &str) -> [Option<String>; 2] {
    match key.strip_prefix("*.") {
        Some(_) => [None, Some(key.to_string())],
        None => {
            let wildcard = match key.split_once('.') {
                Some((label, parent)) if !label.is_empty() => Some(format!("*.{parent}")),
                _ => None,
            };
            [Some(key.to_string()), wildcard]
        }
    }
}

/// The routes (by index) that requests for `key` take, tier by tier.
fn signature(key: &str, routes: &[Keyed]) -> Vec<Vec<usize>> {
    tiers(key)
        .iter()
        .map(|tier| {
            let ids = routes.iter().enumerate();
            ids.filter(|(_, r)| tier.is_some() && r.key == *tier)
                .map(|(i, _)| i)
                .collect()
        })
        .collect()
}

/// Splits each host whose names are routed differently into hosts routed alike.
fn split_hosts(listener: &mut ListenerDraft, routes: &[Keyed]) {
    let mut out = Vec::with_capacity(listener.hosts.len());
    for host in listener.hosts.drain(..) {
        let mut groups: Vec<(Vec<Vec<usize>>, Vec<String>)> = Vec::new();
        for name in &host.hostnames {
            let sig = host_key(name).map_or_else(|_| Vec::new(), |k| signature(&k, routes));
            match groups.iter_mut().find(|(s, _)| *s == sig) {
                Some((_, names)) => names.push(name.clone()),
                None => groups.push((sig, vec![name.clone()])),
            }
        }
        if groups.len() < 2 {
            out.push(host);
            continue;
        }
        for (_, names) in groups {
            let mut part = host.clone();
            part.hostnames = names;
            out.push(part);
        }
    }
    listener.hosts = out;
}

/// Whether every path `m` matches is matched by `r`.
fn covers(r: &PathMatch, m: &PathMatch) -> bool {
    match (r, m) {
        (PathMatch::Exact(_), _) => r == m,
        (PathMatch::Prefix(_), PathMatch::Exact(p) | PathMatch::Prefix(p)) => r.matches(p),
    }
}

/// The route that serves the paths of `m`: an exact match, else the longest covering prefix,
/// else the first written.
fn best<'a>(
    routes: impl Iterator<Item = (&'a PathMatch, &'a RouteConfig)>,
    m: &PathMatch,
) -> Option<&'a RouteConfig> {
    let rank = |p: &PathMatch| match p {
        PathMatch::Exact(_) => usize::MAX,
        PathMatch::Prefix(p) => p.len(),
    };
    let mut found: Option<(usize, &RouteConfig)> = None;
    for (p, r) in routes.filter(|(p, _)| covers(p, m)) {
        if found.is_none_or(|(rank_found, _)| rank(p) > rank_found) {
            found = Some((rank(p), r));
        }
    }
    found.map(|(_, r)| r)
}

/// The host's routes: its own, then the recorded ones that reach it, merged by path.
fn combine(host: &HostDraft, routes: &[Keyed]) -> Vec<RouteConfig> {
    let own: Vec<(PathMatch, &RouteConfig)> = host
        .routes
        .iter()
        .filter_map(|r| Some((path_of(r)?, r)))
        .collect();
    let with_action = |r: &&RouteConfig| r.backend.is_some() || r.respond.is_some();
    let mut layers: Vec<Vec<(&PathMatch, &RouteConfig)>> = vec![
        own.iter()
            .filter(|(_, r)| with_action(r))
            .map(|(p, r)| (p, *r))
            .collect(),
    ];
    let key = host.hostnames.first().and_then(|n| host_key(n).ok());
    let [exact, wildcard] = key.as_deref().map_or([None, None], tiers);
    for tier in [exact, wildcard] {
        let layer = routes.iter().filter(|r| tier.is_some() && r.key == tier);
        layers.push(layer.map(|r| (&r.draft.path, &r.draft.route)).collect());
    }
    let every = routes.iter().filter(|r| r.key.is_none());
    layers.push(every.map(|r| (&r.draft.path, &r.draft.route)).collect());

    let allow = |m: &PathMatch| best(own.iter().map(|(p, r)| (p, *r)), m);
    let mut out: Vec<(PathMatch, RouteConfig)> = Vec::new();
    let candidates = own.iter().map(|(p, r)| (None, p, *r));
    let recorded = layers.iter().enumerate().skip(1);
    let candidates = candidates
        .chain(recorded.flat_map(|(t, layer)| layer.iter().map(move |(p, r)| (Some(t), *p, *r))));
    for (tier, m, written) in candidates {
        if out.iter().any(|(p, _)| p == m) {
            continue;
        }
        // A route shadowed by a route of an earlier tier is never reached.
        let shadowed = |t: usize| {
            layers[..t]
                .iter()
                .any(|l| l.iter().any(|(p, _)| covers(p, m)))
        };
        if tier.is_some_and(shadowed) {
            continue;
        }
        let serving = layers.iter().find_map(|l| best(l.iter().copied(), m));
        let mut route = written.clone();
        route.backend = serving.and_then(|r| r.backend.clone());
        route.respond = serving.and_then(|r| r.respond.clone());
        if serving.is_none() {
            route.respond = Some(RespondConfig::new(404, "no route\n"));
        }
        route.authorization = allow(m).and_then(|r| r.authorization.clone());
        if let Some(named) = own.iter().find(|(p, r)| p == m && !r.name.is_empty()) {
            route.name = named.1.name.clone();
        }
        out.push((m.clone(), route));
    }
    out.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests;
