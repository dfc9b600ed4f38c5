//! The decision: context in, [`Decision`] out.

use std::collections::BTreeMap;

use mtls_core::PeerIdentity;

use crate::answer::Answer;
use crate::enforce::EnforceAt;
use crate::host::{normalize_authority, normalize_host};
use crate::identity::identity_label;
use crate::mode::{ClientCertMode, PeerMode};
use crate::path::normalize_path;
use crate::policy::{Host, Listener, Policy};
use crate::reason::{DenyCode, DenyReason};
use crate::route::{Route, RouteId};
use crate::trust::Treatment;
use crate::verification::{PeerVerification, VerifyError};

/// A workload, for [`crate::scope`] resolution.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Workload<'a> {
    /// Its namespace.
    pub namespace: &'a str,
    /// Its labels.
    pub labels: &'a BTreeMap<String, String>,
}

/// What is known about a connection or request when deciding.
///
/// At handshake time leave `host` and `path` unset; per request, set them.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Context<'a> {
    /// The local port.
    pub port: u16,
    /// What the TLS layer reports.
    pub verification: &'a PeerVerification,
    /// The peer's identity, when it presented a certificate.
    pub identity: Option<&'a PeerIdentity>,
    /// The TLS server name.
    pub sni: Option<&'a str>,
    /// The HTTP Host or authority (a `:port` suffix is ignored; read by
    /// [`normalize_authority`]).
    pub host: Option<&'a str>,
    /// The request path, without the query (read by [`normalize_path`]).
    pub path: Option<&'a str>,
    /// The workload served, for peer-authentication scopes.
    pub workload: Option<Workload<'a>>,
}

impl<'a> Context<'a> {
    /// A context with a port and a verification outcome.
    pub fn new(port: u16, verification: &'a PeerVerification) -> Self {
        Self {
            port,
            verification,
            identity: None,
            sni: None,
            host: None,
            path: None,
            workload: None,
        }
    }
    /// Sets the peer identity.
    pub fn identity(mut self, identity: &'a PeerIdentity) -> Self {
        self.identity = Some(identity);
        self
    }
    /// Sets the TLS server name.
    pub fn sni(mut self, sni: &'a str) -> Self {
        self.sni = Some(sni);
        self
    }
    /// Sets the HTTP Host.
    pub fn host(mut self, host: &'a str) -> Self {
        self.host = Some(host);
        self
    }
    /// Sets the request path.
    pub fn path(mut self, path: &'a str) -> Self {
        self.path = Some(path);
        self
    }
    /// Sets the workload.
    pub fn workload(mut self, namespace: &'a str, labels: &'a BTreeMap<String, String>) -> Self {
        self.workload = Some(Workload { namespace, labels });
        self
    }
}

/// Something the decision let through that a stricter policy would not have.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditNote {
    /// An option tolerated this reason (`by` names the option, e.g.
    /// `danger.skip_client_cert_validation`).
    Tolerated {
        /// What would have been denied.
        reason: DenyReason,
        /// The option that tolerated it.
        by: &'static str,
    },
    /// Audit mode: this would have been denied.
    WouldDeny(DenyReason),
}

/// The outcome of [`Policy::decide`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Let the peer through.
    Allow {
        /// Its identity (`None`: anonymous, plaintext or no certificate).
        identity: Option<PeerIdentity>,
        /// What was tolerated or audited.
        audit_notes: Vec<AuditNote>,
        /// The route the request was decided on (`None` at handshake time, or when no route
        /// of the host matches the path).
        route: Option<RouteId>,
    },
    /// Refuse the peer.
    Deny {
        /// Why.
        reason: DenyReason,
        /// What to answer.
        answer: Answer,
    },
}

impl Decision {
    /// Whether the peer is let through.
    pub fn is_allow(&self) -> bool {
        matches!(self, Self::Allow { .. })
    }
    /// The route an allowed request was decided on.
    pub fn route(&self) -> Option<RouteId> {
        match self {
            Self::Allow { route, .. } => *route,
            Self::Deny { .. } => None,
        }
    }

    /// The deny reason, if denied.
    pub fn reason(&self) -> Option<&DenyReason> {
        match self {
            Self::Deny { reason, .. } => Some(reason),
            Self::Allow { .. } => None,
        }
    }
}

fn verification_reason(error: &VerifyError, id: Option<&PeerIdentity>) -> DenyReason {
    DenyReason::Verification {
        error: error.clone(),
        subject: id.map(|i| i.subject().to_owned()),
        serial: id.map(|i| i.serial_hex().to_owned()),
    }
}

/// Where a request lands: its host, and the route its path matches.
struct Located<'p> {
    index: usize,
    host: &'p Host,
    route: Option<&'p Route>,
}

/// Where [`Policy::decide`] places a request: the listener (by port), the host (by SNI, else
/// Host) and the route (by path), as indexes into the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Location {
    /// The listener: `listeners[listener]`.
    pub listener: usize,
    /// The host: `listeners[listener].hosts[host]`.
    pub host: usize,
    /// The route its path matches, if any.
    pub route: Option<RouteId>,
}

fn bad_request(what: &str, e: impl std::fmt::Display) -> DenyReason {
    DenyReason::BadRequest {
        detail: format!("{what}: {e}"),
    }
}

impl Policy {
    /// Decides on a connection or request. Pure: same context, same decision.
    ///
    /// Names are read by [`normalize_host`] and paths by [`normalize_path`]; a name or path
    /// they refuse is denied as [`DenyCode::BadRequest`](crate::DenyCode::BadRequest).
    ///
    /// Order: listener by port → host by SNI (else Host) → SNI/Host agreement → route by
    /// path → peer mode (peer-authentication scopes when a workload is given, else the
    /// listener's) → client certificate (requirement, verification outcome and its tolerated
    /// gaps, trust domain, issuer scope, pins) → route allow-list. In audit mode (listener
    /// `audit`, route `authorization.audit`) a deny becomes an allow with an
    /// [`AuditNote::WouldDeny`]; a malformed request is denied all the same.
    pub fn decide(&self, ctx: &Context<'_>) -> Decision {
        let Some(listener) = self.by_port.get(&ctx.port).map(|&i| &self.listeners[i]) else {
            let reason = DenyReason::NoListener {
                port: ctx.port,
                host: None,
            };
            let answer = self.config.answers.get(reason.kind(), &self.config.answers);
            return Decision::Deny { reason, answer };
        };
        let mut notes = Vec::new();
        let located = self.locate_in(listener, ctx);
        let route = located.as_ref().ok().and_then(|l| l.route).map(Route::id);
        let enforce_at = located
            .as_ref()
            .map_or(EnforceAt::Handshake, |l| l.host.enforce_at);
        let decided = located.and_then(|at| self.decide_in(listener, &at, ctx, &mut notes));
        match decided {
            Ok(identity) => Decision::Allow {
                identity: identity.cloned(),
                audit_notes: notes,
                route,
            },
            Err(reason) if listener.audit && reason.kind() != DenyCode::BadRequest => {
                notes.push(AuditNote::WouldDeny(reason));
                Decision::Allow {
                    identity: ctx.identity.cloned(),
                    audit_notes: notes,
                    route,
                }
            }
            Err(reason) => {
                let code = reason.kind();
                let mut answer = listener.answers.get(code, &self.config.answers);
                // A host answering at the request turns the alerts of its defaults into HTTP
                // (a configured alert is refused at load).
                if enforce_at == EnforceAt::Request && matches!(answer, Answer::TlsAlert(_)) {
                    answer = Answer::default_at_request(code);
                }
                Decision::Deny { reason, answer }
            }
        }
    }

    /// The effective peer mode for a context: the peer-authentication scopes when a workload
    /// is given and any are configured, else the listener's own; `None` for a TLS-only
    /// listener without peer mode (or an unknown port).
    pub fn peer_mode(&self, ctx: &Context<'_>) -> Option<PeerMode> {
        match ctx.workload {
            Some(w) if !self.mesh.is_empty() => {
                Some(self.mesh.resolve(w.namespace, w.labels, ctx.port).mode)
            }
            _ => self
                .by_port
                .get(&ctx.port)
                .and_then(|&i| self.listeners[i].peer_mode),
        }
    }

    /// Where the decision places a request (for explaining a decision: `mtls-gateway check`),
    /// or why it has no place (no listener on the port, no host for the name, SNI and Host
    /// disagreeing, a malformed name or path). The peer's certificate plays no part.
    pub fn locate(&self, ctx: &Context<'_>) -> Result<Location, DenyReason> {
        let Some(&li) = self.by_port.get(&ctx.port) else {
            return Err(DenyReason::NoListener {
                port: ctx.port,
                host: None,
            });
        };
        let at = self.locate_in(&self.listeners[li], ctx)?;
        Ok(Location {
            listener: li,
            host: at.index,
            route: at.route.map(Route::id),
        })
    }

    /// The host (by SNI, else Host; the two must agree) and the route (by path).
    fn locate_in<'p>(
        &'p self,
        l: &'p Listener,
        ctx: &Context<'_>,
    ) -> Result<Located<'p>, DenyReason> {
        let sni = match ctx.sni {
            Some(sni) => Some(normalize_host(sni).map_err(|e| bad_request("server name", e))?),
            None => None,
        };
        let host_name = match ctx.host.filter(|h| !h.is_empty()) {
            Some(h) => Some(normalize_authority(h).map_err(|e| bad_request("Host", e))?),
            None => None,
        };
        let hi = l.index.lookup(sni.as_deref().or(host_name.as_deref()));
        if let (true, Some(sni), Some(host)) = (l.sni_host_match, &sni, &host_name) {
            // The usual case, the same name twice, needs no second lookup.
            if sni != host && l.index.lookup(Some(host)) != hi {
                return Err(DenyReason::SniHostMismatch {
                    sni: sni.clone().into_owned(),
                    host: host.clone().into_owned(),
                });
            }
        }
        let Some((index, host)) = hi.map(|i| (i, &l.hosts[i])) else {
            let name = sni.or(host_name).unwrap_or_default();
            return Err(DenyReason::NoListener {
                port: ctx.port,
                host: Some(name.into_owned()),
            });
        };
        let route = match ctx.path {
            Some(path) => {
                let path = normalize_path(path).map_err(|e| bad_request("path", e))?;
                host.routes.lookup(&path).map(|i| &self.routes[i])
            }
            None => None,
        };
        Ok(Located { index, host, route })
    }

    fn decide_in<'c>(
        &self,
        l: &Listener,
        at: &Located<'_>,
        ctx: &Context<'c>,
        notes: &mut Vec<AuditNote>,
    ) -> Result<Option<&'c PeerIdentity>, DenyReason> {
        let host = at.host;
        let mode = self.peer_mode(ctx);
        let requirement = match mode {
            Some(PeerMode::Strict) => ClientCertMode::Required,
            Some(PeerMode::Disable) => ClientCertMode::None,
            _ => host.mode,
        };
        let identity = match ctx.verification {
            PeerVerification::Plaintext => match mode {
                Some(PeerMode::Permissive | PeerMode::Disable) => None,
                _ => {
                    return Err(DenyReason::PlaintextNotAllowed {
                        port: ctx.port,
                        mode,
                    });
                }
            },
            PeerVerification::NoCertificate if requirement == ClientCertMode::Required => {
                return Err(DenyReason::NoCertificate {
                    listener: l.name.clone(),
                });
            }
            PeerVerification::NoCertificate => None,
            _ if requirement == ClientCertMode::None => None,
            PeerVerification::Failed {
                trust_domain,
                error,
            } => {
                self.tolerate(host, trust_domain.as_deref(), error, ctx.identity, notes)?;
                if let (Some(td), Some(id)) = (trust_domain, ctx.identity)
                    && !host.danger.skip_client_cert_validation
                {
                    check_trusted(l, host, td, id)?;
                }
                check_pins(host, ctx.identity)?;
                ctx.identity
            }
            PeerVerification::Verified { trust_domain } => {
                let Some(id) = ctx.identity else {
                    return Err(DenyReason::NoCertificate {
                        listener: l.name.clone(),
                    });
                };
                check_trusted(l, host, trust_domain, id)?;
                check_pins(host, Some(id))?;
                Some(id)
            }
        };
        if let Some(route) = at.route
            && let Some(allow) = &route.allow
            && !identity.is_some_and(|id| allow.matches(id))
        {
            let reason = DenyReason::IdentityNotAllowed {
                identity: identity.map_or_else(|| "anonymous".to_owned(), identity_label),
                route: route.name.clone(),
            };
            if !route.audit {
                return Err(reason);
            }
            notes.push(AuditNote::WouldDeny(reason));
        }
        Ok(identity)
    }

    /// Lets a verification failure through when an option says so, with a note; else denies.
    fn tolerate(
        &self,
        host: &Host,
        trust_domain: Option<&str>,
        error: &VerifyError,
        id: Option<&PeerIdentity>,
        notes: &mut Vec<AuditNote>,
    ) -> Result<(), DenyReason> {
        let reason = verification_reason(error, id);
        let treatment = |f: fn(&crate::policy::Trust) -> Treatment| {
            trust_domain.and_then(|td| host.trust(td)).map(f)
        };
        let by = if host.danger.skip_client_cert_validation {
            "danger.skip_client_cert_validation"
        } else {
            match error {
                VerifyError::Expired | VerifyError::NotYetValid if host.danger.allow_expired => {
                    "danger.allow_expired"
                }
                VerifyError::RevocationUnknown
                    if treatment(|t| t.unknown_status) == Some(Treatment::Allow) =>
                {
                    "crl.unknown_status"
                }
                _ => return Err(reason),
            }
        };
        notes.push(AuditNote::Tolerated { reason, by });
        Ok(())
    }
}

fn check_trusted(
    l: &Listener,
    host: &Host,
    trust_domain: &str,
    id: &PeerIdentity,
) -> Result<(), DenyReason> {
    let Some(trust) = host.trust(trust_domain) else {
        return Err(DenyReason::UntrustedTrustDomain {
            trust_domain: trust_domain.to_owned(),
            listener: l.name.clone(),
        });
    };
    if let Some(vouch) = &trust.may_vouch_for
        && !vouch.matches(id)
    {
        return Err(DenyReason::IssuerNotAllowedForIdentity {
            identity: identity_label(id),
            trust_domain: trust_domain.to_owned(),
        });
    }
    Ok(())
}

fn check_pins(host: &Host, id: Option<&PeerIdentity>) -> Result<(), DenyReason> {
    match id {
        Some(id) if !host.pins.allows(id) => Err(DenyReason::PinMismatch {
            cert_sha256: id.cert_sha256_hex(),
        }),
        _ => Ok(()),
    }
}
