//! One host lookup and one path matcher: request variants (case, trailing dots, ports, dot
//! segments, encodings) that a second matcher could route differently from the decision, and
//! properties over random models and requests.

use mtls_policy::{
    Context, Decision, HostConfig, ListenerConfig, PeerVerification, Policy, PolicyConfig,
    RouteConfig, normalize_host, normalize_path,
};
use proptest::prelude::*;

const POLICY: &str = r#"
listeners:
  - name: edge
    port: 443
    peer_mode: permissive
    hosts:
      - routes:
          - { name: open, path_prefix: / }
          - name: api
            path_prefix: /api/
            authorization: { principals: [spiffe://example.org/x] }
          - { name: ping, path_exact: /api/ping }
      - hostnames: [admin.example.com]
        routes:
          - name: admin
            path_prefix: /
            authorization: { principals: [spiffe://example.org/x] }
"#;

fn decide(host: Option<&str>, sni: Option<&str>, path: &str) -> Decision {
    let policy = Policy::from_yaml(POLICY).unwrap();
    let plaintext = PeerVerification::Plaintext;
    let mut ctx = Context::new(443, &plaintext).path(path);
    if let Some(h) = host {
        ctx = ctx.host(h);
    }
    if let Some(s) = sni {
        ctx = ctx.sni(s);
    }
    policy.decide(&ctx)
}

/// The route a request is decided on (`-` none), or the deny code.
fn outcome(host: Option<&str>, sni: Option<&str>, path: &str) -> String {
    let policy = Policy::from_yaml(POLICY).unwrap();
    match decide(host, sni, path) {
        Decision::Allow { route, .. } => route
            .and_then(|id| policy.route(id))
            .map_or("-".into(), |r| r.name().to_owned()),
        d => d.reason().map_or("?".into(), |r| r.code().to_owned()),
    }
}

#[test]
fn every_request_variant_lands_on_one_route() {
    let rows: &[(Option<&str>, Option<&str>, &str, &str)] = &[
        // Segment-aware prefixes; the query is never part of the path.
        (None, None, "/api", "identity_not_allowed"),
        (None, None, "/api/", "identity_not_allowed"),
        (None, None, "/api/users", "identity_not_allowed"),
        (None, None, "/apix", "open"),
        (None, None, "/api/ping", "ping"),
        (None, None, "/api/ping/", "identity_not_allowed"),
        // Dot segments, duplicate slashes, encoded unreserved characters.
        (None, None, "/public/../api/x", "identity_not_allowed"),
        (None, None, "//api//x", "identity_not_allowed"),
        (None, None, "/%61pi/x", "identity_not_allowed"),
        (None, None, "/x/%2e%2e/api", "identity_not_allowed"),
        (None, None, "/../../api", "identity_not_allowed"),
        // Ambiguous: refused, not guessed.
        (None, None, "/x%2f..%2fapi", "bad_request"),
        (None, None, "/x%5Capi", "bad_request"),
        (None, None, "/x\\api", "bad_request"),
        (None, None, "/x%zz", "bad_request"),
        (None, None, "*", "bad_request"),
        // Host names: case, port, trailing dot; refused when malformed.
        (Some("admin.example.com"), None, "/", "identity_not_allowed"),
        (
            Some("ADMIN.example.com:443"),
            None,
            "/",
            "identity_not_allowed",
        ),
        (
            Some("admin.example.com."),
            None,
            "/",
            "identity_not_allowed",
        ),
        (
            Some("admin.example.com.:8443"),
            None,
            "/",
            "identity_not_allowed",
        ),
        (Some("admin.example.com.."), None, "/", "bad_request"),
        (Some(".admin.example.com"), None, "/", "bad_request"),
        (Some("other.example.com"), None, "/", "open"),
        // SNI and Host: the SNI selects; a Host of another host is refused.
        (
            Some("admin.example.com"),
            Some("admin.example.com."),
            "/",
            "identity_not_allowed",
        ),
        (
            Some("admin.example.com"),
            Some("other.example.com"),
            "/",
            "sni_host_mismatch",
        ),
        (None, Some("Admin.Example.com"), "/", "identity_not_allowed"),
        (Some(""), None, "/", "open"),
    ];
    for &(host, sni, path, want) in rows {
        assert_eq!(
            outcome(host, sni, path),
            want,
            "host {host:?} sni {sni:?} path {path:?}"
        );
    }
}

#[test]
fn configured_paths_must_be_normal() {
    let err = Policy::from_yaml(
        "listeners: [{ name: l, port: 1, hosts: [{ routes: [{ path_prefix: /a/../b }] }] }]",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "listeners[0].hosts[0].routes[0].path_prefix: the path \"/a/../b\" is not in normal form (write \"/b\")"
    );
    let err = Policy::from_yaml(
        "listeners: [{ name: l, port: 1, hosts: [{ routes: [{ path_prefix: /a }, { path_prefix: /a/ }] }] }]",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "listeners[0].hosts[0].routes[1]: conflicting settings: another route of this host matches prefix /a"
    );
}

/// Path segments that exercise the normaliser: dots, empty segments, escapes, a query-like
/// character, upper and lower case.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("%2e".to_owned()),
        Just("%2E%2e".to_owned()),
        Just("%41".to_owned()),
        Just("%7e".to_owned()),
        Just("%3a".to_owned()),
        Just("a".to_owned()),
        Just("api".to_owned()),
        Just("B".to_owned()),
        Just("x;y".to_owned()),
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 0..6).prop_map(|segs| format!("/{}", segs.join("/")))
}

fn host_name() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["a", "B", "api", "x-1"]),
        prop::sample::select(vec!["example.com", "Example.COM", "svc"]),
        prop::sample::select(vec!["", "."]),
    )
        .prop_map(|(l, p, dot)| format!("{l}.{p}{dot}"))
}

/// The route a naive reading of the rules picks: an exact match, else the longest prefix on a
/// segment boundary, else none.
fn reference(routes: &[(bool, String)], path: &str) -> Option<usize> {
    if let Some(i) = routes.iter().position(|(exact, p)| *exact && p == path) {
        return Some(i);
    }
    routes
        .iter()
        .enumerate()
        .filter(|(_, (exact, p))| {
            let p = p.trim_end_matches('/');
            !exact
                && path
                    .strip_prefix(p)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .max_by_key(|(i, (_, p))| (p.trim_end_matches('/').len(), std::cmp::Reverse(*i)))
        .map(|(i, _)| i)
}

proptest! {
    #[test]
    fn path_normalisation_is_idempotent(p in path()) {
        if let Ok(once) = normalize_path(&p) {
            let twice = normalize_path(&once).unwrap();
            prop_assert_eq!(&*twice, &*once);
            prop_assert!(!once.contains("//") && !once.contains("/./") && !once.contains("/../"));
        }
    }

    #[test]
    fn host_normalisation_is_idempotent(h in host_name()) {
        let once = normalize_host(&h).unwrap();
        prop_assert_eq!(&*normalize_host(&once).unwrap(), &*once);
        prop_assert_eq!(once.to_ascii_lowercase(), once.trim_end_matches('.'));
    }

    /// Random routes and requests: the route the decision names is the one the rules pick,
    /// for the path as sent and for its normal form alike.
    #[test]
    fn the_decided_route_is_the_rules_route(
        specs in prop::collection::vec((any::<bool>(), path()), 1..8),
        request in path(),
    ) {
        let mut routes: Vec<(bool, String)> = Vec::new();
        let mut host = HostConfig::new(Vec::<String>::new());
        for (exact, p) in specs {
            let Ok(p) = normalize_path(&p).map(|p| p.into_owned()) else { continue };
            let key = if exact { p.clone() } else { p.trim_end_matches('/').to_owned() };
            if routes.iter().any(|(e, q)| *e == exact && (if exact { q.clone() } else { q.trim_end_matches('/').to_owned() }) == key) {
                continue;
            }
            let route = if exact { RouteConfig::exact(&p) } else { RouteConfig::prefix(&p) };
            host = host.route(route.named(format!("r{}", routes.len())));
            routes.push((exact, p));
        }
        let config = PolicyConfig::new()
            .listener(ListenerConfig::on_port("l", 1).peer_mode(mtls_policy::PeerMode::Permissive).host(host));
        let policy = Policy::new(config).unwrap();
        let plaintext = PeerVerification::Plaintext;
        let decided = policy.decide(&Context::new(1, &plaintext).path(&request));
        match normalize_path(&request) {
            Ok(normal) => {
                let want = reference(&routes, &normal).map(|i| format!("r{i}"));
                let got = decided.route().and_then(|id| policy.route(id)).map(|r| r.name().to_owned());
                prop_assert_eq!(got, want);
                let again = policy.decide(&Context::new(1, &plaintext).path(&normal));
                prop_assert_eq!(again.route(), decided.route());
            }
            Err(_) => prop_assert_eq!(decided.reason().map(|r| r.code()), Some("bad_request")),
        }
    }
}
