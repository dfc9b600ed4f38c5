//! Turning a loaded configuration into what serves: a TLS snapshot per listener (certificates,
//! verifiers), the policy, and the route tables. Everything is built and checked before any of
//! it replaces what is serving.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mtls_core::{CaBundle, CertificateChain, PrivateKey, SecretMaterial, ServerCredential};
use mtls_policy::{HostConfig, Policy};
use mtls_tower::layer::{ForwardIdentity, XfccConfig as TowerXfcc};
use mtls_tower::{
    MinTlsVersion, SharedPolicy, TlsSnapshot, UnknownSni, UpstreamConnector, UpstreamTls,
    snapshot_for,
};
use rustls::crypto::CryptoProvider;

use crate::config::{
    CertificateConfig, ForwardConfig, GatewayConfig, ListenerConfig, Loaded, MinTlsConfig,
    RouteConfig, UnknownSniConfig,
};
use crate::proxy::{
    Backend, BackendTimeouts, DirectResponse, PathMatch, Route, RouteTable, Target,
};

/// Why a configuration cannot be served (the message names the listener, host or backend).
#[derive(Debug, thiserror::Error)]
#[error("{what}: {detail}")]
pub(crate) struct AssembleError {
    what: String,
    detail: String,
}

fn fail(what: impl Into<String>, detail: impl ToString) -> AssembleError {
    AssembleError {
        what: what.into(),
        detail: detail.to_string(),
    }
}

/// One listener, ready to serve.
pub(crate) struct ListenerPlan {
    pub(crate) name: String,
    pub(crate) address: SocketAddr,
    pub(crate) port: u16,
    pub(crate) snapshot: TlsSnapshot,
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_handshakes: usize,
    /// How long a connection may carry no request (an HTTP/1 one wait for a request head);
    /// `None`: mtls-tower's default (30 s).
    pub(crate) request_header_timeout: Option<Duration>,
    /// The grace period after which connections of newly revoked clients are closed; `None`:
    /// left open.
    pub(crate) close_revoked: Option<Duration>,
    pub(crate) routes: RouteTable,
}

/// A whole configuration, ready to serve or to swap in.
pub(crate) struct Plan {
    pub(crate) listeners: Vec<ListenerPlan>,
    pub(crate) policy: Policy,
    pub(crate) forward: ForwardIdentity,
    pub(crate) admin: Option<SocketAddr>,
}

/// Builds every listener's snapshot and route table. `policy_slot` is the slot the running
/// gateway decides with: verifiers consult it to tell which failures the policy answers over
/// HTTP (those let the handshake complete).
pub(crate) fn assemble(
    loaded: Loaded,
    provider: &Arc<CryptoProvider>,
    policy_slot: &SharedPolicy,
) -> Result<Plan, AssembleError> {
    let Loaded { config, policy } = loaded;
    let backends = build_backends(&config, provider)?;
    let mut listeners = Vec::new();
    for listener in &config.listeners {
        let Some(policy_listener) = config
            .policy
            .listeners
            .iter()
            .find(|l| l.name == listener.name)
        else {
            return Err(fail(
                format!("listener {:?}", listener.name),
                "no policy listener of that name",
            ));
        };
        let snapshot = build_snapshot(listener, &policy, provider, policy_slot)?;
        let routes = config
            .routes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.listener == listener.name)
            .map(|(index, r)| {
                let path = match (&r.path_exact, &r.path_prefix) {
                    (Some(exact), _) => PathMatch::Exact(exact.clone()),
                    (None, Some(prefix)) => PathMatch::Prefix(prefix.clone()),
                    (None, None) => PathMatch::Prefix("/".into()),
                };
                Ok(Route {
                    host: r.host.clone(),
                    path,
                    target: route_target(index, r, &backends)?,
                })
            })
            .collect::<Result<Vec<Route>, AssembleError>>()?;
        listeners.push(ListenerPlan {
            name: listener.name.clone(),
            address: listener.address,
            port: policy_listener.port,
            snapshot,
            handshake_timeout: listener
                .handshake_timeout
                .unwrap_or(Duration::from_secs(10)),
            max_handshakes: listener.max_handshakes.unwrap_or(1024),
            request_header_timeout: listener.request_header_timeout,
            close_revoked: listener.close_revoked_connections,
            routes: RouteTable::new(routes)
                .map_err(|e| fail(format!("listener {:?} routes", listener.name), e))?,
        });
    }
    Ok(Plan {
        listeners,
        policy,
        forward: forward_identity(&config.forward_identity),
        admin: config.admin.as_ref().map(|a| a.address),
    })
}

/// The TLS snapshot of one listener: one host per policy host, each with its certificate and
/// (when it validates clients) its own verifier; see [`mtls_tower::snapshot_for`].
pub(crate) fn build_snapshot(
    listener: &ListenerConfig,
    policy: &Policy,
    provider: &Arc<CryptoProvider>,
    policy_slot: &SharedPolicy,
) -> Result<TlsSnapshot, AssembleError> {
    let normalized = |names: &[String]| -> BTreeSet<String> {
        names
            .iter()
            .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
            .collect()
    };
    let certificates = |host: &HostConfig| -> Result<ServerCredential, String> {
        let wanted = normalized(&host.hostnames);
        let cert = listener
            .certificates
            .iter()
            .find(|c| normalized(&c.hostnames) == wanted)
            .ok_or_else(|| format!("no certificate with hostnames {:?}", host.hostnames))?;
        load_credential(cert, provider).map_err(|e| e.to_string())
    };
    let unknown_sni = match listener.unknown_sni {
        UnknownSniConfig::Default => UnknownSni::UseDefault,
        UnknownSniConfig::Refuse => UnknownSni::Refuse,
    };
    let min_tls = match listener.min_tls_version {
        MinTlsConfig::Tls12 => MinTlsVersion::Tls12,
        MinTlsConfig::Tls13 => MinTlsVersion::Tls13,
    };
    snapshot_for(
        policy,
        &listener.name,
        policy_slot,
        provider,
        &certificates,
        None,
        unknown_sni,
        min_tls,
    )
    .map(|(_, snapshot)| snapshot)
    .map_err(|e| fail("configuration", e))
}

fn load_credential(
    cert: &CertificateConfig,
    provider: &CryptoProvider,
) -> Result<ServerCredential, mtls_core::Error> {
    match (&cert.chain, &cert.key, &cert.secret_dir) {
        (_, _, Some(dir)) => {
            let secret = SecretMaterial::from_dir(dir)?;
            match secret.server_credential(provider)? {
                Some(credential) => Ok(credential),
                None => Err(mtls_core::Error::new(
                    mtls_core::Origin::file(dir),
                    mtls_core::ErrorKind::MissingKey {
                        key: "tls.crt",
                        layout: secret.layout(),
                        present: "no certificate and key".into(),
                    },
                )),
            }
        }
        (Some(chain), Some(key), None) => ServerCredential::from_files(chain, key, provider),
        _ => Err(mtls_core::Error::new(
            mtls_core::Origin::memory("certificate"),
            mtls_core::ErrorKind::Empty(mtls_core::Expected::Certificate),
        )),
    }
}

/// What `routes[index]` sends its requests to: its backend, or its fixed answer (built here,
/// once; the access log names it `routes[<index>].respond`).
fn route_target(
    index: usize,
    route: &RouteConfig,
    backends: &BTreeMap<String, Arc<Backend>>,
) -> Result<Target, AssembleError> {
    let what = format!("routes[{index}]");
    match (&route.backend, &route.respond) {
        (Some(name), None) => backends
            .get(name)
            .map(|backend| Target::Backend(Arc::clone(backend)))
            .ok_or_else(|| fail(what, format!("no backend named {name:?}"))),
        (None, Some(respond)) => {
            let status = respond.status_code().map_err(|e| fail(&what, e))?;
            let content_type = respond.content_type_value().map_err(|e| fail(&what, e))?;
            Ok(Target::Respond(DirectResponse::new(
                format!("{what}.respond"),
                status,
                Bytes::from(respond.body.clone()),
                content_type,
            )))
        }
        _ => Err(fail(
            what,
            "exactly one of `backend` and `respond` is needed",
        )),
    }
}

fn build_backends(
    config: &GatewayConfig,
    provider: &Arc<CryptoProvider>,
) -> Result<BTreeMap<String, Arc<Backend>>, AssembleError> {
    let mut backends = BTreeMap::new();
    for (name, backend) in &config.backends {
        let what = format!("backend {name:?}");
        let base: http::Uri = backend.url.parse().map_err(|e| fail(&what, e))?;
        let connector = match &backend.tls {
            None => UpstreamConnector::plain(),
            Some(tls) => {
                let ca = CaBundle::from_file(&tls.ca).map_err(|e| fail(&what, e))?;
                // HTTP/1.1 unless HTTP/2 is asked for, as Envoy and nginx do: an upstream's
                // ALPN choice does not switch the protocol behind the configuration's back.
                let alpn: &[u8] = if backend.http2_only {
                    b"h2"
                } else {
                    b"http/1.1"
                };
                let mut builder =
                    UpstreamTls::builder(Arc::clone(provider), &ca).alpn(vec![alpn.to_vec()]);
                if let Some(name) = &tls.expected_name {
                    builder = builder.expected_name(name.clone());
                }
                if let Some(client) = &tls.client_certificate {
                    let chain =
                        CertificateChain::from_file(&client.chain).map_err(|e| fail(&what, e))?;
                    let key = PrivateKey::from_file(&client.key).map_err(|e| fail(&what, e))?;
                    let credential =
                        ServerCredential::new(chain, key, provider).map_err(|e| fail(&what, e))?;
                    builder = builder.client_certificate(credential);
                }
                UpstreamConnector::new(builder.build().map_err(|e| fail(&what, e))?)
            }
        };
        let connector =
            connector.connect_timeout(backend.connect_timeout.unwrap_or(Duration::from_secs(5)));
        let timeouts = BackendTimeouts {
            request: backend.request_timeout.unwrap_or(Duration::from_secs(30)),
        };
        let built = Backend::new(name.clone(), base, connector, timeouts, backend.http2_only)
            .map_err(|e| fail(&what, e))?
            .rewrite_host(backend.rewrite_host);
        backends.insert(name.clone(), Arc::new(built));
    }
    Ok(backends)
}

fn forward_identity(config: &ForwardConfig) -> ForwardIdentity {
    let mut forward = ForwardIdentity::none();
    if let Some(x) = &config.xfcc {
        let mut xfcc = TowerXfcc::default()
            .hash(x.hash)
            .subject(x.subject)
            .uri(x.uri)
            .dns(x.dns)
            .cert(x.cert)
            .chain(x.chain);
        if let Some(by) = &x.by {
            xfcc = xfcc.by(by.clone());
        }
        forward = forward.xfcc(xfcc);
    }
    if config.rfc9440 {
        forward = forward.rfc9440();
    }
    if config.ssl_client {
        forward = forward.ssl_client();
    }
    forward
}
