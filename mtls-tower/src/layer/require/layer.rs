//! [`RequireIdentityLayer`]: an allow-list of identities, compiled once.

use std::sync::Arc;

use mtls_policy::{Authorization, IdentityMatchSpec, IdentityMatcher, PatternError};
use tower_layer::Layer;

use super::service::RequireIdentity;

/// What every [`RequireIdentity`] of one layer shares.
#[derive(Clone, Debug)]
pub(super) struct Rule {
    pub(super) allow: IdentityMatcher,
    pub(super) audit: bool,
    pub(super) name: Option<Arc<str>>,
}

/// A tower [`Layer`] that lets a request through only when the client identity
/// [`MtlsLayer`](crate::MtlsLayer) verified is in an allow-list: authorization attached to the
/// route it guards, like tower-http's `RequireAuthorizationLayer`. See [`RequireIdentity`] for
/// what happens per request.
///
/// The allow-list is an [`Authorization`] (principals and rules, as a policy route writes it)
/// or an [`IdentityMatchSpec`], compiled once into an [`IdentityMatcher`]: a lookup costs the
/// same for two principals or two thousand.
///
/// With axum, the layer goes on the route, and `MtlsLayer` in front of the whole router:
///
/// ```
/// # #[cfg(feature = "axum")] {
/// use axum::{Router, routing::get};
/// use mtls_policy::Authorization;
/// use mtls_tower::layer::{Peer, RequireIdentityLayer};
///
/// const ADMIN: &str = "spiffe://example.org/ns/ops/sa/admin";
///
/// async fn hello(Peer(peer): Peer) -> String {
///     format!("hello {}\n", peer.subject())
/// }
///
/// let admins = Authorization::principals([ADMIN]);
/// let app: Router = Router::new()
///     .route("/", get(hello))
///     .route("/admin", get(hello).layer(RequireIdentityLayer::new(&admins)?));
/// // mtls_tower::serve(listener, mtls.acceptor(), mtls.layer().layer(app), shutdown)
/// # let _ = app;
/// # }
/// # Ok::<(), mtls_policy::PatternError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RequireIdentityLayer {
    rule: Arc<Rule>,
}

impl RequireIdentityLayer {
    /// Allows the identities `authorization` names. With `audit: true`, a request it would
    /// refuse goes through, with a WARN event and an
    /// [`AuditNote`](mtls_policy::AuditNote) in the request's
    /// [`AuditNotes`](crate::layer::AuditNotes).
    ///
    /// `Err` when a rule's pattern does not compile (a bad regex, a malformed wildcard).
    ///
    /// ```
    /// use mtls_policy::{Authorization, IdentityRule, StringMatch};
    /// use mtls_tower::layer::RequireIdentityLayer;
    ///
    /// // The admin, and any client whose DNS SAN is under partners.example.com.
    /// let mut partners = Authorization::principals(["spiffe://example.org/ns/ops/sa/admin"]);
    /// let wildcard = StringMatch::Wildcard("*.partners.example.com".into());
    /// partners.rules.push(IdentityRule::Dns(wildcard));
    /// let layer = RequireIdentityLayer::new(&partners)?;
    /// # let _ = layer;
    /// # Ok::<(), mtls_policy::PatternError>(())
    /// ```
    pub fn new(authorization: &Authorization) -> Result<Self, PatternError> {
        let allow = IdentityMatcher::new(&authorization.spec())?;
        Ok(Self::from_rule(allow, authorization.audit))
    }

    /// Allows exactly these principals: SPIFFE IDs, URI, DNS, email or IP SANs, or common
    /// names (see [`IdentityMatchSpec`]).
    ///
    /// ```
    /// use mtls_tower::layer::RequireIdentityLayer;
    ///
    /// let layer = RequireIdentityLayer::principals(["spiffe://example.org/ns/ops/sa/admin"]);
    /// # let _ = layer;
    /// ```
    pub fn principals<I, S>(principals: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let spec = Authorization::principals(principals).spec();
        // Principals are compared as they are, never compiled as patterns: this cannot fail.
        // Were it to, the empty matcher allows no one.
        Self::from_rule(IdentityMatcher::new(&spec).unwrap_or_default(), false)
    }

    /// Allows the identities `spec` names. `Err` when a rule's pattern does not compile.
    pub fn from_spec(spec: &IdentityMatchSpec) -> Result<Self, PatternError> {
        Ok(Self::from_rule(IdentityMatcher::new(spec)?, false))
    }

    /// The name of the guarded route in reasons and logs (`… not in allow-list of route
    /// <name>`). By default: with the `axum` feature, the pattern axum matched
    /// (`axum::extract::MatchedPath`, such as `/users/{id}`); else the request's path.
    ///
    /// ```
    /// use mtls_tower::layer::RequireIdentityLayer;
    ///
    /// let layer = RequireIdentityLayer::principals(["spiffe://example.org/ns/ops/sa/admin"])
    ///     .name("admin");
    /// # let _ = layer;
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.rule).name = Some(name.into().into());
        self
    }

    fn from_rule(allow: IdentityMatcher, audit: bool) -> Self {
        Self {
            rule: Arc::new(Rule {
                allow,
                audit,
                name: None,
            }),
        }
    }
}

impl From<IdentityMatcher> for RequireIdentityLayer {
    /// Allows the identities an already compiled matcher matches.
    fn from(allow: IdentityMatcher) -> Self {
        Self::from_rule(allow, false)
    }
}

impl<S> Layer<S> for RequireIdentityLayer {
    type Service = RequireIdentity<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireIdentity::from_rule(inner, Arc::clone(&self.rule))
    }
}
