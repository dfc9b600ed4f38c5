//! Placement of routes into hosts: by name, tier by tier, with the hosts' own allow-lists.

use mtls_policy::{
    Answers, Authorization, CertificateSource, RespondConfig, RouteConfig, TlsVersion, UnknownSni,
};

use super::*;

fn origin(name: &str) -> ObjectRef {
    ObjectRef::new("HTTPRoute", "ns", name)
}

fn host(names: &[&str], own: Vec<RouteConfig>) -> HostDraft {
    HostDraft {
        hostnames: names.iter().map(|n| (*n).to_string()).collect(),
        certificate: CertificateSource::files("server.pem", "server.key"),
        validation: None,
        routes: own,
        origin: ObjectRef::new("Gateway", "ns", "gw"),
    }
}

fn listener(hosts: Vec<HostDraft>) -> ListenerDraft {
    ListenerDraft {
        name: "gw-443".into(),
        port: 443,
        unknown_sni: UnknownSni::Default,
        min_tls: TlsVersion::Tls12,
        answers: Answers::default(),
        peer_mode: None,
        hosts,
    }
}

/// A recorded route: `host` (every host when `None`), a prefix (an exact path when it ends
/// with `$`), to `backend`, from the HTTPRoute `from`.
fn route(host: Option<&str>, path: &str, backend: &str, from: &str) -> RouteDraft {
    let (path, exact) = match path.strip_suffix('$') {
        Some(p) => (p, true),
        None => (path, false),
    };
    let (route, path) = path_route(path, exact).unwrap();
    RouteDraft {
        listener: "gw-443".into(),
        host: host.map(str::to_string),
        path,
        route: route.backend(backend),
        origin: origin(from),
        field: "spec.rules[0]".into(),
    }
}

fn place(mut l: ListenerDraft, drafts: &[RouteDraft]) -> (ListenerDraft, Vec<String>) {
    let mut said = Vec::new();
    place_in(&mut l, drafts, &mut said);
    let said = said
        .into_iter()
        .map(|(o, f, m)| format!("{o}: {f}: {m}"))
        .collect();
    (l, said)
}

/// A host's names and its routes as `(path, backend)`.
type Row = (Vec<String>, Vec<(String, String)>);

/// Each host's row.
fn table(l: &ListenerDraft) -> Vec<Row> {
    let path = |r: &RouteConfig| match (&r.path_prefix, &r.path_exact) {
        (Some(p), _) => p.clone(),
        (_, Some(p)) => format!("{p}$"),
        _ => String::new(),
    };
    l.hosts
        .iter()
        .map(|h| {
            let routes = h.routes.iter();
            let routes = routes.map(|r| (path(r), r.backend.clone().unwrap_or_default()));
            (h.hostnames.clone(), routes.collect())
        })
        .collect()
}

fn row(names: &[&str], routes: &[(&str, &str)]) -> Row {
    (
        names.iter().map(|n| (*n).to_string()).collect(),
        routes
            .iter()
            .map(|(p, b)| ((*p).to_string(), (*b).to_string()))
            .collect(),
    )
}

#[test]
fn routes_go_to_the_hosts_serving_their_names_exact_then_wildcard_then_every_host() {
    let l = listener(vec![
        host(&["a.example.com"], vec![]),
        host(&["*.example.com"], vec![]),
        host(&[], vec![]),
    ]);
    let (l, said) = place(
        l,
        &[
            route(Some("A.example.com."), "/a", "a", "r1"),
            route(Some("*.example.com"), "/w", "w", "r2"),
            route(None, "/", "d", "r3"),
            route(Some("b.example.com"), "/b", "b", "r4"),
            route(Some("x.y.example.com"), "/xy", "xy", "r5"),
        ],
    );
    assert_eq!(said, Vec::<String>::new());
    assert_eq!(
        table(&l),
        [
            row(&["a.example.com"], &[("/a", "a"), ("/w", "w"), ("/", "d")]),
            row(&["*.example.com"], &[("/w", "w"), ("/", "d")]),
            row(&[], &[("/", "d")]),
            // Served by the wildcard: a copy of it, with the wildcard's routes under its own.
            row(&["b.example.com"], &[("/b", "b"), ("/w", "w"), ("/", "d")]),
            // Two labels under the wildcard: the default host's copy; the wildcard's routes
            // do not reach it.
            row(&["x.y.example.com"], &[("/xy", "xy"), ("/", "d")]),
        ]
    );
    // The copies keep the certificate of the host they come from.
    assert_eq!(l.hosts[3].certificate, l.hosts[1].certificate);
}

#[test]
fn a_route_of_an_earlier_tier_covering_a_path_shadows_the_later_ones() {
    let l = listener(vec![host(&["a.example.com"], vec![]), host(&[], vec![])]);
    let (l, said) = place(
        l,
        &[
            route(None, "/api", "every", "r1"),
            route(Some("a.example.com"), "/", "a", "r2"),
            route(None, "/health$", "every", "r1"),
        ],
    );
    assert_eq!(said, Vec::<String>::new());
    assert_eq!(
        table(&l),
        [
            row(&["a.example.com"], &[("/", "a")]),
            row(&[], &[("/api", "every"), ("/health$", "every")]),
        ]
    );
}

#[test]
fn a_host_whose_names_are_routed_differently_is_split() {
    let l = listener(vec![host(
        &["a.example.com", "b.example.com", "c.example.com"],
        vec![],
    )]);
    let (l, said) = place(
        l,
        &[
            route(Some("b.example.com"), "/", "b", "r1"),
            route(None, "/every", "every", "r2"),
        ],
    );
    assert_eq!(said, Vec::<String>::new());
    assert_eq!(
        table(&l),
        [
            row(&["a.example.com", "c.example.com"], &[("/every", "every")]),
            row(&["b.example.com"], &[("/", "b")]),
        ]
    );
}

fn allow(principal: &str) -> Authorization {
    Authorization::principals([principal])
}

#[test]
fn a_hosts_own_allow_lists_cover_every_path_under_them() {
    let own = vec![
        RouteConfig::prefix("/")
            .named("cn")
            .authorization(allow("x")),
        RouteConfig::prefix("/admin").authorization(allow("y")),
    ];
    let l = listener(vec![host(&["a.example.com"], own)]);
    let (l, said) = place(
        l,
        &[
            route(Some("a.example.com"), "/api", "api", "r1"),
            route(Some("a.example.com"), "/admin/x$", "x", "r1"),
            route(None, "/", "every", "r2"),
        ],
    );
    assert_eq!(said, Vec::<String>::new());
    assert_eq!(
        l.hosts[0].routes,
        [
            RouteConfig::prefix("/")
                .named("cn")
                .authorization(allow("x"))
                .backend("every"),
            RouteConfig::prefix("/admin")
                .authorization(allow("y"))
                .backend("every"),
            RouteConfig::prefix("/api")
                .authorization(allow("x"))
                .backend("api"),
            RouteConfig::exact("/admin/x")
                .authorization(allow("y"))
                .backend("x"),
        ]
    );
}

#[test]
fn an_allow_list_without_a_backend_answers_404() {
    let own = vec![RouteConfig::prefix("/").authorization(allow("x"))];
    let l = listener(vec![host(&["a.example.com"], own)]);
    let (l, _) = place(l, &[route(Some("a.example.com"), "/api", "api", "r1")]);
    assert_eq!(
        l.hosts[0].routes,
        [
            RouteConfig::prefix("/")
                .authorization(allow("x"))
                .respond(RespondConfig::new(404, "no route\n")),
            RouteConfig::prefix("/api")
                .authorization(allow("x"))
                .backend("api"),
        ]
    );
}

#[test]
fn a_hosts_own_route_with_a_backend_comes_first() {
    let own = vec![
        RouteConfig::prefix("/")
            .named("web")
            .authorization(allow("x"))
            .backend("web"),
    ];
    let l = listener(vec![host(&[], own.clone())]);
    let (l, said) = place(l, &[route(None, "/other", "other", "r1")]);
    assert_eq!(said, Vec::<String>::new());
    assert_eq!(l.hosts[0].routes, own);
}

#[test]
fn the_first_of_two_routes_with_one_name_and_path_wins() {
    let l = listener(vec![host(&["a.example.com"], vec![])]);
    let (l, said) = place(
        l,
        &[
            route(Some("a.example.com"), "/api/", "one", "r1"),
            route(Some("a.example.com"), "/api", "one", "r2"),
            route(Some("a.example.com"), "/api", "two", "r2"),
            route(Some("a.example.com"), "/api", "three", "r1"),
            route(None, "/", "one", "r1"),
            route(None, "/", "two", "r1"),
        ],
    );
    assert_eq!(
        said,
        [
            "HTTPRoute ns/r2: spec.rules[0]: prefix /api of host \"a.example.com\" is already routed to backend \"one\" by HTTPRoute ns/r1; this one is ignored",
            "HTTPRoute ns/r1: spec.rules[0]: prefix /api of host \"a.example.com\" is already routed to backend \"one\" by an earlier rule of this object; this one is ignored",
            "HTTPRoute ns/r1: spec.rules[0]: prefix / of every host is already routed to backend \"one\" by an earlier rule of this object; this one is ignored",
        ]
    );
    assert_eq!(
        table(&l),
        [row(&["a.example.com"], &[("/api/", "one"), ("/", "one")])]
    );
}

#[test]
fn routes_no_host_serves_are_not_translated() {
    let l = listener(vec![host(&["a.example.com"], vec![])]);
    let (l, said) = place(
        l,
        &[
            route(Some("b.example.org"), "/", "b", "r1"),
            route(Some("*.example.org"), "/", "w", "r1"),
            // A host under the wildcard takes its routes: no copy is needed.
            route(Some("*.example.com"), "/w", "w", "r2"),
        ],
    );
    assert_eq!(
        said,
        [
            "HTTPRoute ns/r1: spec.rules[0]: no host on port 443 serves \"b.example.org\": prefix / is not translated",
            "HTTPRoute ns/r1: spec.rules[0]: no host on port 443 serves \"*.example.org\": prefix / is not translated",
        ]
    );
    assert_eq!(table(&l), [row(&["a.example.com"], &[("/w", "w")])]);

    let (l, said) = place(listener(vec![]), &[route(None, "/", "d", "r3")]);
    assert_eq!(
        said,
        [
            "HTTPRoute ns/r3: spec.rules[0]: no host is served on port 443: prefix / is not translated"
        ]
    );
    assert!(l.hosts.is_empty());
}
