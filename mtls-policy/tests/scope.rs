//! Precedence properties of peer-authentication scope resolution.

use std::collections::BTreeMap;

use mtls_policy::{PeerAuthentication, PeerAuthentications, PeerMode, Scope};
use proptest::prelude::*;

fn mode() -> impl Strategy<Value = PeerMode> {
    prop_oneof![
        Just(PeerMode::Unset),
        Just(PeerMode::Strict),
        Just(PeerMode::Permissive),
        Just(PeerMode::Disable)
    ]
}

/// Optional policy at each level: mesh, namespace, workload (+ port 8080 override).
#[derive(Debug, Clone)]
struct Levels {
    mesh: Option<PeerMode>,
    ns: Option<PeerMode>,
    workload: Option<(PeerMode, Option<PeerMode>)>,
    /// Whether the workload's labels match the selector.
    selected: bool,
}

fn levels() -> impl Strategy<Value = Levels> {
    (
        proptest::option::of(mode()),
        proptest::option::of(mode()),
        proptest::option::of((mode(), proptest::option::of(mode()))),
        any::<bool>(),
    )
        .prop_map(|(mesh, ns, workload, selected)| Levels {
            mesh,
            ns,
            workload,
            selected,
        })
}

fn build(l: &Levels, mesh_first: bool) -> PeerAuthentications {
    let mut v = Vec::new();
    if let Some(m) = l.mesh {
        v.push(PeerAuthentication::new("istio-system", m));
    }
    if let Some(m) = l.ns {
        v.push(PeerAuthentication::new("app", m));
    }
    if let Some((m, port)) = l.workload {
        let mut p = PeerAuthentication::new("app", m);
        p.selector = Some(BTreeMap::from([("app".into(), "web".into())]));
        if let Some(pm) = port {
            p.port_level.insert(8080, pm);
        }
        v.push(p);
    }
    if !mesh_first {
        v.reverse();
    }
    PeerAuthentications::new("istio-system", v).unwrap()
}

/// The rules, restated naively: the most specific non-UNSET level wins, else PERMISSIVE.
fn reference(l: &Levels, port: u16) -> PeerMode {
    let workload = l.workload.filter(|_| l.selected);
    let chain = [
        workload.and_then(|(_, p)| p).filter(|_| port == 8080),
        workload.map(|(m, _)| m),
        l.ns,
        l.mesh,
    ];
    chain
        .into_iter()
        .flatten()
        .find(|m| *m != PeerMode::Unset)
        .unwrap_or(PeerMode::Permissive)
}

proptest! {
    #[test]
    fn resolution_matches_the_stated_rules(l in levels(), port in prop_oneof![Just(443u16), Just(8080u16)], mesh_first in any::<bool>()) {
        let pas = build(&l, mesh_first);
        let labels = if l.selected { BTreeMap::from([("app".to_string(), "web".to_string()), ("v".to_string(), "1".to_string())]) } else { BTreeMap::new() };
        let r = pas.resolve("app", &labels, port);
        prop_assert_eq!(r.mode, reference(&l, port));
        prop_assert_ne!(r.mode, PeerMode::Unset);
        // Another namespace sees only the mesh level.
        let other = pas.resolve("other", &labels, port).mode;
        prop_assert_eq!(other, l.mesh.filter(|m| *m != PeerMode::Unset).unwrap_or(PeerMode::Permissive));
    }

    #[test]
    fn unset_is_the_same_as_absent(l in levels(), port in prop_oneof![Just(443u16), Just(8080u16)]) {
        let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        let mut absent = l.clone();
        if absent.ns == Some(PeerMode::Unset) { absent.ns = None; }
        if absent.mesh == Some(PeerMode::Unset) { absent.mesh = None; }
        prop_assert_eq!(build(&l, true).resolve("app", &labels, port).mode, build(&absent, true).resolve("app", &labels, port).mode);
    }

    #[test]
    fn a_set_more_specific_level_hides_the_levels_above(l in levels(), m in mode().prop_filter("set", |m| *m != PeerMode::Unset)) {
        let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        let mut w = l.clone();
        w.workload = Some((m, None));
        let r = build(&w, true).resolve("app", &labels, 443);
        prop_assert_eq!((r.mode, r.scope), (m, Scope::Workload));
    }
}

#[test]
fn scopes_are_reported() {
    let l = Levels {
        mesh: Some(PeerMode::Strict),
        ns: Some(PeerMode::Unset),
        workload: Some((PeerMode::Unset, Some(PeerMode::Disable))),
        selected: true,
    };
    let pas = build(&l, true);
    let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
    assert_eq!(pas.resolve("app", &labels, 443).scope, Scope::Mesh);
    assert_eq!(pas.resolve("app", &labels, 8080).scope, Scope::Port);
    assert_eq!(
        pas.resolve("app", &BTreeMap::new(), 8080).scope,
        Scope::Mesh
    );
    assert_eq!(
        build(
            &Levels {
                mesh: None,
                ns: None,
                workload: None,
                selected: false
            },
            true
        )
        .resolve("x", &labels, 1)
        .scope,
        Scope::Default
    );
}
