//! [`MtlsLayer`] and the hot-swappable [`SharedPolicy`] it reads.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use mtls_policy::Policy;
use tower_layer::Layer;

use super::forward::ForwardIdentity;
use super::service::MtlsService;

/// A [`Policy`] shared by every connection and swappable at run time: a reload
/// ([`store`](Self::store)) applies to the next request, on new and existing connections.
///
/// Cheap to clone (one reference count); clones share the same slot.
///
/// ```
/// use mtls_policy::Policy;
/// use mtls_tower::layer::SharedPolicy;
///
/// let yaml = "listeners: [{ name: web, port: 8443, hosts: [{ routes: [{ path_prefix: / }] }] }]";
/// let shared = SharedPolicy::new(Policy::from_yaml(yaml)?);
/// let for_the_reloader = shared.clone();
/// for_the_reloader.store(Policy::from_yaml(&yaml.replace("8443", "9443"))?);
/// assert_eq!(shared.load().config().listeners[0].port(), 9443);
/// # Ok::<(), mtls_policy::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct SharedPolicy(Arc<ArcSwap<Policy>>);

impl SharedPolicy {
    /// A slot holding `policy`.
    pub fn new(policy: Policy) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(policy)))
    }

    /// The current policy.
    pub fn load(&self) -> Arc<Policy> {
        self.0.load_full()
    }

    /// Replaces the policy for every later request.
    pub fn store(&self, policy: Policy) {
        self.0.store(Arc::new(policy));
    }

    /// Replaces the policy with one already shared.
    pub fn store_arc(&self, policy: Arc<Policy>) {
        self.0.store(policy);
    }

    /// The current policy without touching its reference count (the per-request path).
    pub(crate) fn guard(&self) -> arc_swap::Guard<Arc<Policy>> {
        self.0.load()
    }
}

impl From<Policy> for SharedPolicy {
    fn from(policy: Policy) -> Self {
        Self::new(policy)
    }
}

impl From<Arc<Policy>> for SharedPolicy {
    fn from(policy: Arc<Policy>) -> Self {
        Self(Arc::new(ArcSwap::new(policy)))
    }
}

impl fmt::Debug for SharedPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedPolicy")
            .field("listeners", &self.guard().config().listeners.len())
            .finish_non_exhaustive()
    }
}

/// What every [`MtlsService`] of one layer shares.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) policy: SharedPolicy,
    pub(crate) forward: ForwardIdentity,
    pub(crate) port: Option<u16>,
    /// Registered once, when the layer is built: the `metrics` macros would hash the key and
    /// look it up in the recorder on every request.
    pub(crate) counters: super::service::RequestCounters,
    /// XFCC values by certificate; shared by the clones of the layer's config (its `forward`
    /// does not change once built: [`MtlsLayer::forward`] starts a new one).
    pub(crate) xfcc_memo: Arc<super::forward::XfccMemo>,
}

/// A tower [`Layer`] that authorizes each request by its peer's client certificate, with a
/// [`Policy`] (see [`MtlsService`] for what happens per request).
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::BodyExt;
/// use mtls_policy::{PeerVerification, Policy};
/// use mtls_tower::ConnectionInfo;
/// use mtls_tower::layer::{ForwardIdentity, MtlsLayer, XfccConfig};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Plaintext allowed on 8080 (PERMISSIVE); /admin only for one SPIFFE ID.
/// let policy = Policy::from_yaml(r#"
/// listeners:
///   - name: web
///     port: 8080
///     peer_mode: permissive
///     hosts:
///       - routes:
///           - path_prefix: /admin
///             authorization: { principals: [spiffe://example.org/ops] }
///           - path_prefix: /
/// "#)?;
/// let service = ServiceBuilder::new()
///     .layer(MtlsLayer::new(policy).forward(ForwardIdentity::default().ssl_client()))
///     .service_fn(|req: Request<String>| async move {
///         let verify = req.headers()["ssl-client-verify"].to_str().unwrap_or_default().to_owned();
///         Ok::<_, Infallible>(Response::new(verify))
///     });
///
/// // The acceptor inserts a ConnectionInfo into each request; here, a plaintext one.
/// let conn = ConnectionInfo::plaintext(None, Some("127.0.0.1:8080".parse()?));
/// let mut req = Request::get("/").header("ssl-client-verify", "SUCCESS").body(String::new())?;
/// req.extensions_mut().insert(conn.clone());
/// let res = service.clone().oneshot(req).await?;
/// assert_eq!(res.status(), StatusCode::OK);
/// // The forged header was replaced: no client certificate on this connection.
/// assert_eq!(res.into_body().collect().await?.to_bytes(), "NONE");
///
/// let mut req = Request::get("/admin").body(String::new())?;
/// req.extensions_mut().insert(conn);
/// let res = service.oneshot(req).await?;
/// assert_eq!(res.status(), StatusCode::FORBIDDEN);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct MtlsLayer {
    config: Arc<Config>,
}

impl MtlsLayer {
    /// A layer deciding with `policy` (a [`Policy`], an `Arc<Policy>` or a [`SharedPolicy`]
    /// to swap it later), forwarding [`ForwardIdentity::default`] upstream.
    pub fn new(policy: impl Into<SharedPolicy>) -> Self {
        Self {
            config: Arc::new(Config {
                policy: policy.into(),
                forward: ForwardIdentity::default(),
                port: None,
                counters: super::service::RequestCounters::register(),
                xfcc_memo: Arc::default(),
            }),
        }
    }

    /// Which identity headers to set upstream (inbound ones are always removed).
    pub fn forward(mut self, forward: ForwardIdentity) -> Self {
        let config = Arc::make_mut(&mut self.config);
        config.forward = forward;
        // Values formatted under the previous configuration do not apply.
        config.xfcc_memo = Arc::default();
        self
    }

    /// Decide as if every request arrived on `port`, instead of the port of the connection's
    /// local address (behind a port mapping, or when the acceptor has no local address).
    pub fn port(mut self, port: u16) -> Self {
        Arc::make_mut(&mut self.config).port = Some(port);
        self
    }

    /// The policy slot, to swap the policy later.
    pub fn policy(&self) -> &SharedPolicy {
        &self.config.policy
    }
}

impl<S> Layer<S> for MtlsLayer {
    type Service = MtlsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MtlsService::from_config(inner, self.config.clone())
    }
}
