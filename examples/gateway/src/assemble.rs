//! Turning a loaded configuration into what serves: a TLS snapshot per listener (certificates,
//! verifiers), the backends, and the target of each route, attached to the policy. Everything
//! is built and checked before any of it replaces what is serving.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mtls_policy::{ConnectionLimits, Policy, PolicyConfig, RouteAction, SecretRef};
use mtls_tower::layer::ForwardIdentity;
use mtls_tower::tls::{FetchedCrls, ResolveError};
use mtls_tower::{
    SharedPolicy, TlsSnapshot, UpstreamConnector, UpstreamTls, load_ca_bundle, load_certificate,
    snapshot_for,
};
use rustls::crypto::CryptoProvider;

use crate::proxy::{Backend, BackendTimeouts, DirectResponse, Target, Targets};

/// Why a configuration cannot be served (the message names the listener, host or backend).
#[derive(Debug)]
pub(crate) struct AssembleError {
    what: String,
    detail: String,
}

impl std::fmt::Display for AssembleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.what.is_empty() {
            f.write_str(&self.detail)
        } else {
            write!(f, "{}: {}", self.what, self.detail)
        }
    }
}

impl std::error::Error for AssembleError {}

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
    pub(crate) limits: ConnectionLimits,
}

/// A whole configuration, ready to serve or to swap in: the policy carries the targets of its
/// routes ([`Targets`], attached), so a request is forwarded by the snapshot that authorised it.
pub(crate) struct Plan {
    pub(crate) listeners: Vec<ListenerPlan>,
    pub(crate) policy: Policy,
    pub(crate) forward: ForwardIdentity,
    pub(crate) admin: Option<SocketAddr>,
    /// The entries `/strict-readiness` keeps per PERMISSIVE listener.
    pub(crate) readiness_capacity: usize,
}

/// Reads the bytes of a `secret:` source (a host's certificate, a CA or CRL): the
/// configuration's secrets when they are held in memory (`run --kube`).
pub(crate) type SecretResolver =
    Arc<dyn Fn(&SecretRef) -> Result<Vec<u8>, ResolveError> + Send + Sync>;

/// A [`SecretResolver`] borrowed, as the loaders take it.
type Resolve<'a> = &'a dyn Fn(&SecretRef) -> Result<Vec<u8>, ResolveError>;

/// Builds every listener's TLS snapshot, the backends and the route targets. `policy_slot` is
/// the slot the running gateway decides with: verifiers consult it to tell which failures the
/// policy answers over HTTP (those let the handshake complete). `secrets` reads the `secret:`
/// sources (without it they are an error). Trust domains that fetch CRLs from distribution
/// points get those of `fetched`.
pub(crate) fn assemble(
    mut policy: Policy,
    provider: &Arc<CryptoProvider>,
    policy_slot: &SharedPolicy,
    secrets: Option<&SecretResolver>,
    fetched: &FetchedCrls,
) -> Result<Plan, AssembleError> {
    let config = policy.config();
    let resolve = secrets.map(|s| &**s as Resolve<'_>);
    let backends = build_backends(config, provider, resolve)?;
    let mut listeners = Vec::new();
    for listener in &config.listeners {
        let (port, snapshot) = snapshot_for(
            &policy,
            &listener.name,
            policy_slot,
            provider,
            None,
            resolve,
            fetched,
        )
        .map_err(|e| fail("", e))?;
        listeners.push(ListenerPlan {
            name: listener.name.clone(),
            address: listener
                .address
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], port))),
            port,
            snapshot,
            limits: listener.limits.clone(),
        });
    }
    let mut targets = Vec::with_capacity(policy.routes().len());
    for route in policy.routes() {
        let what = || {
            format!(
                "listeners[{}].hosts[{}].routes {:?}",
                route.listener_index(),
                route.host_index(),
                route.name()
            )
        };
        targets.push(match route.action() {
            RouteAction::Backend(name) => backends
                .get(name)
                .map(|backend| Target::Backend(Arc::clone(backend)))
                .ok_or_else(|| fail(what(), format!("no backend named {name:?}")))?,
            RouteAction::Respond(respond) => {
                let status =
                    http::StatusCode::from_u16(respond.status).map_err(|e| fail(what(), e))?;
                let content_type = respond
                    .content_type()
                    .map(http::HeaderValue::from_str)
                    .transpose()
                    .map_err(|e| fail(what(), e))?;
                Target::Respond(DirectResponse::new(
                    format!("respond:{}", route.name()),
                    status,
                    Bytes::from(respond.body.clone()),
                    content_type,
                ))
            }
            _ => return Err(fail(what(), "no `backend` or `respond`")),
        });
    }
    let forward = ForwardIdentity::from_config(&config.forward_identity);
    let admin = config.admin.as_ref().map(|a| a.address);
    let readiness_capacity = readiness_capacity(config);
    policy.attach(Arc::new(Targets::new(targets)));
    Ok(Plan {
        listeners,
        policy,
        forward,
        admin,
        readiness_capacity,
    })
}

fn build_backends(
    config: &PolicyConfig,
    provider: &Arc<CryptoProvider>,
    secrets: Option<Resolve<'_>>,
) -> Result<BTreeMap<String, Arc<Backend>>, AssembleError> {
    let no_secrets = |secret: &SecretRef| -> Result<Vec<u8>, ResolveError> {
        Err(format!("secret {:?}: no secret resolver is configured", secret.name).into())
    };
    let secrets = secrets.unwrap_or(&no_secrets);
    let mut backends = BTreeMap::new();
    for (name, backend) in &config.backends {
        let what = format!("backends.{name}");
        let base: http::Uri = backend.url.parse().map_err(|e| fail(&what, e))?;
        let connector = match &backend.tls {
            None => UpstreamConnector::plain(),
            Some(tls) => {
                let ca = load_ca_bundle(&tls.ca, secrets)
                    .map_err(|e| fail(format!("{what}.tls.ca"), e))?;
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
                if let Some(allowed) = &tls.subject_alt_names {
                    builder = builder.subject_alt_names(allowed.clone());
                }
                if let Some(client) = &tls.client_certificate {
                    let key = load_certificate(client, secrets)
                        .and_then(|credential| {
                            mtls_verify::crypto::certified_key(&credential, provider)
                                .map_err(|e| e.to_string())
                        })
                        .map_err(|e| fail(format!("{what}.tls.client_certificate"), e))?;
                    builder = builder.client_certificate(key);
                }
                UpstreamConnector::new(builder.build().map_err(|e| fail(&what, e))?)
            }
        };
        let connector = connector.connect_timeout(
            backend
                .connect_timeout
                .map_or(Duration::from_secs(5), |s| s.0),
        );
        let timeouts = BackendTimeouts {
            request: backend
                .request_timeout
                .map_or(Duration::from_secs(30), |s| s.0),
        };
        let built = Backend::new(name.clone(), base, connector, timeouts, backend.http2_only)
            .map_err(|e| fail(&what, e))?
            .rewrite_host(backend.rewrite_host);
        backends.insert(name.clone(), Arc::new(built));
    }
    Ok(backends)
}

/// The entries `/strict-readiness` keeps per PERMISSIVE listener: the admin's
/// `strict_readiness_capacity`, else 1,024.
pub(crate) fn readiness_capacity(config: &PolicyConfig) -> usize {
    config
        .admin
        .as_ref()
        .and_then(|a| a.strict_readiness_capacity)
        .and_then(|c| usize::try_from(c).ok())
        .unwrap_or(mtls_tower::DEFAULT_READINESS_CAPACITY)
}
