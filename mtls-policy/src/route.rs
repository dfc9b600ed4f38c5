//! Routes: a path match, who may use it, and what to do with its requests (a backend or a
//! fixed answer). The decision names the route it decided on by its [`RouteId`]; whoever
//! serves the request (a proxy, an application) reads the route from the same policy
//! snapshot, so what was authorised is what is served.

use serde::{Deserialize, Serialize};

use crate::config::Authorization;
use crate::identity::IdentityMatcher;
use crate::path::PathMatch;

/// A route as written.
///
/// ```yaml
/// routes:
///   - path_prefix: /api               # or path_exact: /ping; neither: every path
///     authorization: { principals: [spiffe://example.org/ns/web/sa/frontend] }
///     backend: api                    # or respond: { status: 200, body: "ok\n" }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RouteConfig {
    /// A name for reasons and logs (the path match when empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The path prefix, on segment boundaries (`/` for everything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// The exact path (the query is never part of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_exact: Option<String>,
    /// Who may use the route; anyone the host lets in when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// The backend its requests go to (`backends.<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// A fixed answer instead of a backend (Envoy `direct_response`, nginx `return`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respond: Option<RespondConfig>,
}

impl RouteConfig {
    /// A route for `prefix` and everything under it.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self {
            name: String::new(),
            path_prefix: Some(prefix.into()),
            path_exact: None,
            authorization: None,
            backend: None,
            respond: None,
        }
    }

    /// A route for exactly `path`.
    pub fn exact(path: impl Into<String>) -> Self {
        Self {
            path_prefix: None,
            path_exact: Some(path.into()),
            ..Self::prefix("/")
        }
    }

    /// Names the route.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Lets only these identities use the route.
    pub fn authorization(mut self, authorization: Authorization) -> Self {
        self.authorization = Some(authorization);
        self
    }

    /// Sends the route's requests to `backend`.
    pub fn backend(mut self, backend: impl Into<String>) -> Self {
        self.backend = Some(backend.into());
        self
    }

    /// Answers the route's requests with `respond`.
    pub fn respond(mut self, respond: RespondConfig) -> Self {
        self.respond = Some(respond);
        self
    }

    /// The path match; `Err((field, message))`.
    pub(crate) fn path_match(&self) -> Result<PathMatch, (&'static str, String)> {
        match (&self.path_prefix, &self.path_exact) {
            (Some(_), Some(_)) => Err((
                "path_exact",
                "conflicting settings: `path_prefix` and `path_exact`".into(),
            )),
            (Some(p), None) => PathMatch::prefix(p).map_err(|e| ("path_prefix", e.to_string())),
            (None, Some(p)) => PathMatch::exact(p).map_err(|e| ("path_exact", e.to_string())),
            (None, None) => Ok(PathMatch::Prefix(String::new())),
        }
    }
}

/// A fixed answer (`respond`): sent as is to every request of the route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RespondConfig {
    /// The status, 200 to 599 (default 200).
    #[serde(default = "ok_status")]
    pub status: u16,
    /// The body, sent verbatim (default empty; must be empty for 204 and 304).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
    /// The `Content-Type`. Default: `text/plain; charset=utf-8` with a body, none without.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

fn ok_status() -> u16 {
    200
}

impl RespondConfig {
    /// Answers `status` with `body`.
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            body: body.into(),
            content_type: None,
        }
    }

    /// The `Content-Type` value: the configured one, else the default.
    pub fn content_type(&self) -> Option<&str> {
        match &self.content_type {
            Some(t) => Some(t),
            None if self.body.is_empty() => None,
            None => Some("text/plain; charset=utf-8"),
        }
    }

    /// Checks every field; `Err((field, message))`.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(200..=599).contains(&self.status) {
            return Err((
                "status",
                format!("{} is not an HTTP status from 200 to 599", self.status),
            ));
        }
        if matches!(self.status, 204 | 304) && !self.body.is_empty() {
            return Err(("body", format!("a {} answer has no body", self.status)));
        }
        if let Some(text) = &self.content_type {
            if text.trim().is_empty() {
                return Err(("content_type", "must not be empty".into()));
            }
            // RFC 9110 field-value: visible ASCII, space and tab.
            if !text
                .bytes()
                .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
            {
                return Err((
                    "content_type",
                    format!("{text:?} is not a valid header value"),
                ));
            }
        }
        Ok(())
    }
}

/// A route of a compiled [`Policy`](crate::Policy), named in its decisions. Valid for that
/// policy only: a reload hands out new ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteId(pub(crate) u32);

impl RouteId {
    /// A dense index, from 0 to the number of routes of the policy: for tables a consumer
    /// builds alongside the policy (one entry per route).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What a route does with the requests it lets through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteAction<'a> {
    /// Forward to this backend (`backends.<name>`).
    Backend(&'a str),
    /// Answer with this fixed response.
    Respond(&'a RespondConfig),
    /// Nothing configured: the application behind the layer serves it.
    Application,
}

/// A compiled route.
#[derive(Clone, Debug)]
pub struct Route {
    pub(crate) id: RouteId,
    pub(crate) name: String,
    pub(crate) listener: usize,
    pub(crate) host: usize,
    pub(crate) path: PathMatch,
    pub(crate) allow: Option<IdentityMatcher>,
    pub(crate) audit: bool,
    pub(crate) config: RouteConfig,
}

impl Route {
    /// Its id.
    pub fn id(&self) -> RouteId {
        self.id
    }

    /// Its name (the path match when none is written).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its path match.
    pub fn path(&self) -> &PathMatch {
        &self.path
    }

    /// What it does with its requests.
    pub fn action(&self) -> RouteAction<'_> {
        match (&self.config.backend, &self.config.respond) {
            (Some(b), _) => RouteAction::Backend(b),
            (None, Some(r)) => RouteAction::Respond(r),
            (None, None) => RouteAction::Application,
        }
    }

    /// Whether it has an allow-list.
    pub fn is_restricted(&self) -> bool {
        self.allow.is_some()
    }

    /// The index of its listener in the configuration (`listeners[i]`).
    pub fn listener_index(&self) -> usize {
        self.listener
    }

    /// The index of its host in its listener (`hosts[i]`).
    pub fn host_index(&self) -> usize {
        self.host
    }

    /// The route as written.
    pub fn config(&self) -> &RouteConfig {
        &self.config
    }
}
