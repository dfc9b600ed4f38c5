//! The translation's last step: listeners merged by port, routes placed, the configuration
//! assembled with the workload's listeners and the backends the routes use.

use super::*;

/// Listeners of different objects on one port become one: one socket serves all their hosts
/// by SNI (the later listener's name is rewritten in routes; clashing hosts are warned about).
pub(super) fn merge_ports(ctx: &mut Ctx<'_>) {
    let mut i = 0;
    while i < ctx.listeners.len() {
        let port = ctx.listeners[i].port;
        let Some(first) = ctx.listeners[..i].iter().position(|l| l.port == port) else {
            i += 1;
            continue;
        };
        let later = ctx.listeners.remove(i);
        let (first_name, later_name) = (ctx.listeners[first].name.clone(), later.name.clone());
        for route in ctx.routes.iter_mut().filter(|r| r.listener == later_name) {
            route.listener = first_name.clone();
        }
        {
            let l = &mut ctx.listeners[first];
            for (code, answer) in later.answers.0 {
                l.answers.0.entry(code).or_insert(answer);
            }
            if later.min_tls == TlsVersion::Tls13 {
                l.min_tls = TlsVersion::Tls13;
            }
            if later.unknown_sni == UnknownSni::Default {
                l.unknown_sni = UnknownSni::Default;
            }
            l.peer_mode = l.peer_mode.or(later.peer_mode);
        }
        for host in later.hosts {
            // Refused hosts are warned about.
            let _ = ctx.add_host(&first_name, port, host, "port");
        }
    }
}

pub(super) fn finish(mut ctx: Ctx<'_>) -> Translation {
    merge_ports(&mut ctx);
    routes::place(&mut ctx);
    let workload_host = istio::workload_host(&mut ctx);
    let Ctx {
        opts,
        listeners,
        backends,
        forward,
        peer_auth,
        credentials,
        mut warnings,
        status,
        ..
    } = ctx;
    let mut config = PolicyConfig::new();
    config.admin = opts.admin.map(AdminConfig::new);
    config.root_namespace = opts.root_namespace.clone();
    config.forward_identity = forward;
    // The PeerAuthentications as they apply to this gateway's workload (invalid sets are
    // warned about by the policy loader). They give the workload's own ports their listeners'
    // peer modes; the listeners translated here (Gateway servers, Ingress) keep their own TLS
    // settings, as in Istio.
    let scopes = opts
        .workload
        .as_ref()
        .filter(|_| !peer_auth.is_empty())
        .and_then(|w| {
            PeerAuthentications::new(&opts.root_namespace, peer_auth.clone())
                .ok()
                .map(|s| (w, s))
        });
    config.peer_authentication = peer_auth.clone();
    // A listener whose hosts were all refused serves nothing.
    for l in listeners.into_iter().filter(|l| !l.hosts.is_empty()) {
        let address = SocketAddr::new(opts.bind_address, l.port);
        let mut listener = ListenerConfig::on_address(&l.name, address);
        listener.peer_mode = l.peer_mode;
        listener.unknown_sni = l.unknown_sni;
        listener.min_tls_version = l.min_tls;
        listener.answers = l.answers;
        for h in l.hosts {
            let mut host = HostConfig::new(h.hostnames).certificate(h.certificate);
            host.client_validation = h.validation;
            host.routes = h.routes;
            listener = listener.host(host);
        }
        config = config.listener(listener);
    }
    let scopes = scopes.as_ref().map(|(_, s)| s);
    istio::gateway_listeners(&config, opts, scopes, &mut warnings);
    istio::workload_listeners(
        &mut config,
        opts,
        scopes,
        workload_host.as_ref(),
        &mut warnings,
    );
    // The backends the routes use (those of routes not translated are left out).
    let used: BTreeSet<&str> = config
        .listeners
        .iter()
        .flat_map(|l| &l.hosts)
        .flat_map(|h| &h.routes)
        .filter_map(|r| r.backend.as_deref())
        .collect();
    config.backends = backends
        .into_iter()
        .filter(|(name, _)| used.contains(name.as_str()))
        .collect();
    if opts.secret_paths == SecretPaths::References {
        references::to_references(&mut config, &opts.mount_root);
    }
    Translation {
        config,
        credentials,
        warnings,
        status,
    }
}
