//! `check --config`: a chain checked for one request exactly as a running gateway would check
//! it: the configuration loaded by the gateway's loader, the host's own verifier, the same
//! decision, and its trace (listener, host, route, trust domain, allow-list).

use std::path::Path;
use std::sync::Arc;

use mtls_core::{CaBundle, CertificateChain, PeerIdentity};
use mtls_policy::{
    ClientCertMode, ClientValidation, Context, Decision, HostConfig, PeerVerification, Policy,
    RouteAction, SecretRef, VerifyError,
};
use mtls_tower::tls::{ChainOutcome, FetchedCrls, LoadedTrustDomain, PolicyVerifier, ResolveError};
use rustls_pki_types::UnixTime;

use super::Outcome;
use super::cdp::{self, FetchArgs};
use super::ocsp::{self, OcspOptions};

/// What to explain: the request's listener (default: the first), host and path.
pub(super) struct Request<'a> {
    pub(super) listener: Option<&'a str>,
    pub(super) host: Option<&'a str>,
    pub(super) path: &'a str,
    /// `--ocsp`: ask the leaf's responder once the chain verifies.
    pub(super) ocsp: Option<&'a OcspOptions<'a>>,
    /// `--fetch-crls`: the CRLs of the chain's distribution points join the host's trust
    /// domains.
    pub(super) fetch: &'a FetchArgs,
}

pub(super) fn explain(
    config: &Path,
    request: &Request<'_>,
    chain: &CertificateChain,
    now: UnixTime,
) -> Result<Outcome, String> {
    let policy = crate::config::load(config).map_err(|e| e.to_string())?;
    let listener = match request.listener {
        Some(name) => policy.listener(name).ok_or_else(|| {
            format!("--listener {name:?}: the configuration has no such listener")
        })?,
        None => policy
            .config()
            .listeners
            .first()
            .ok_or("the configuration has no listener")?,
    };
    let port = listener.port();
    let mut trace = vec![(
        "listener".to_owned(),
        format!("{} (port {port})", listener.name),
    )];
    let nothing = PeerVerification::NoCertificate;
    let mut ctx = Context::new(port, &nothing).path(request.path);
    if let Some(host) = request.host {
        ctx = ctx.sni(host).host(host);
    }
    let location = match policy.locate(&ctx) {
        Ok(location) => location,
        Err(reason) => {
            return Ok(Outcome::rejected(
                reason.code(),
                reason.to_string(),
                None,
                trace,
            ));
        }
    };
    let host = &listener.hosts[location.host];
    trace.push(("host".into(), describe_host(location.host, host)));
    trace.push(("route".into(), describe_route(&policy, location.route)));
    let provider = mtls_verify::crypto::default_provider();
    let fetched = match &host.client_validation {
        Some(validation) => match cdp::fetching(request.fetch, validation, chain, &provider) {
            Ok(fetched) => fetched,
            Err(why) => {
                trace.push(("crls".into(), why.clone()));
                let identity = PeerIdentity::from_der(chain.leaf()).ok();
                return Ok(Outcome::rejected(
                    "revocation_unknown",
                    why,
                    identity,
                    trace,
                ));
            }
        },
        None => None,
    };
    if let Some((_, _, line)) = &fetched {
        trace.push(("crls".into(), line.clone()));
    }
    let fetched = fetched.as_ref().map(|(v, f, _)| (v, f));
    let ChainOutcome {
        mut verification,
        policies,
        ..
    } = verify(host, fetched, chain, now)?;
    trace.push(("certificate".into(), describe_verification(&verification)));
    if let (Some(options), PeerVerification::Verified { trust_domain }) =
        (request.ocsp, &verification)
    {
        let domain = trust_domain.clone();
        let bundle = domain_bundle(host, &domain)?;
        match ocsp::status(chain, &bundle, options, &provider, now) {
            Ok(good) => trace.push(("ocsp".into(), good)),
            Err(no) => {
                // The decision sees the failure the gateway would record; the trace says why.
                let error = if no.code == "revoked" {
                    VerifyError::Revoked { reason: None }
                } else {
                    VerifyError::RevocationUnknown
                };
                trace.push(("ocsp".into(), no.reason));
                verification = PeerVerification::failed(Some(&domain), error);
            }
        }
    }
    let identity = PeerIdentity::from_der(chain.leaf())
        .ok()
        .map(|id| match &verification {
            PeerVerification::Verified { .. } => id.with_certificate_policies(policies),
            _ => id,
        });
    let mut ctx = Context::new(port, &verification).path(request.path);
    if let Some(host) = request.host {
        ctx = ctx.sni(host).host(host);
    }
    if let Some(id) = &identity {
        ctx = ctx.identity(id);
    }
    Ok(match policy.decide(&ctx) {
        Decision::Allow { audit_notes, .. } => {
            for note in audit_notes {
                trace.push(("audit".into(), format!("{note:?}")));
            }
            let reason = match &verification {
                PeerVerification::Verified { trust_domain } => {
                    format!("verified by trust domain {trust_domain:?}, allowed")
                }
                _ => "allowed".to_owned(),
            };
            Outcome::accepted(reason, identity, trace)
        }
        Decision::Deny { reason, answer } => {
            trace.push(("answer".into(), answer.to_string()));
            Outcome::rejected(reason.code(), reason.to_string(), identity, trace)
        }
        other => Outcome::rejected("unknown", format!("{other:?}"), identity, trace),
    })
}

/// The host's verifier, as the gateway builds it for the host's handshakes (with `fetched`:
/// the host's validation with the chain's distribution points, and the CRLs fetched from
/// them), and its outcome with the certificate policies valid for the verified path. Secrets
/// are not read here: a `secret:` trust source is an error naming it.
fn verify(
    host: &HostConfig,
    fetched: Option<(&ClientValidation, &FetchedCrls)>,
    chain: &CertificateChain,
    now: UnixTime,
) -> Result<ChainOutcome, String> {
    let none = FetchedCrls::default();
    let (validation, crls) = match fetched {
        Some((validation, crls)) => (Some(validation), crls),
        None => (host.client_validation.as_ref(), &none),
    };
    let Some(validation) = validation
        .filter(|v| v.mode != ClientCertMode::None || v.danger.skip_client_cert_validation)
    else {
        return Ok(ChainOutcome::new(PeerVerification::NoCertificate));
    };
    let provider = mtls_verify::crypto::default_provider();
    let verifier = PolicyVerifier::from_client_validation_fetched(
        validation,
        Arc::clone(&provider),
        &no_secrets,
        crls,
    )
    .map_err(|e| e.to_string())?
    .build()
    .map_err(|e| e.to_string())?;
    Ok(verifier.verify_chain_outcome(chain.leaf(), chain.intermediates(), now))
}

/// The anchors of the host's trust domain `name` (the one that verified the chain).
fn domain_bundle(host: &HostConfig, name: &str) -> Result<CaBundle, String> {
    let domain = host
        .client_validation
        .as_ref()
        .and_then(|v| v.trust.iter().find(|t| t.name == name))
        .ok_or_else(|| format!("the host has no trust domain {name:?}"))?;
    let provider = mtls_verify::crypto::default_provider();
    let loaded =
        LoadedTrustDomain::load_with(domain, &provider, &no_secrets).map_err(|e| e.to_string())?;
    Ok(loaded.bundle().clone())
}

/// Secrets are not read by `check`.
fn no_secrets(secret: &SecretRef) -> Result<Vec<u8>, ResolveError> {
    Err(format!("secret {:?}: `check` reads no secrets", secret.name).into())
}

fn describe_host(index: usize, host: &HostConfig) -> String {
    let names = if host.hostnames.is_empty() {
        "the default host".to_owned()
    } else {
        host.hostnames.join(", ")
    };
    let validation = match &host.client_validation {
        None => "no client certificate asked".to_owned(),
        Some(v) => {
            let domains: Vec<&str> = v.trust.iter().map(|t| t.name.as_str()).collect();
            format!(
                "client certificate {} (trust {})",
                v.mode,
                domains.join(", ")
            )
        }
    };
    format!("hosts[{index}]: {names}; {validation}")
}

fn describe_route(policy: &Policy, route: Option<mtls_policy::RouteId>) -> String {
    let Some(route) = route.and_then(|id| policy.route(id)) else {
        return "none matches the path (the gateway answers 404)".to_owned();
    };
    let action = match route.action() {
        RouteAction::Backend(name) => format!("backend {name}"),
        RouteAction::Respond(r) => format!("respond {}", r.status),
        _ => "no action".to_owned(),
    };
    let who = match &route.config().authorization {
        None => "anyone the host lets in".to_owned(),
        Some(a) => {
            let mut parts = Vec::new();
            if !a.principals.is_empty() {
                parts.push(format!("principals {}", a.principals.join(", ")));
            }
            if !a.rules.is_empty() {
                parts.push(format!("{} match rule(s)", a.rules.len()));
            }
            if a.audit {
                parts.push("audit only".to_owned());
            }
            parts.join("; ")
        }
    };
    format!(
        "{} ({}) → {action}; allowed: {who}",
        route.name(),
        route.path()
    )
}

fn describe_verification(verification: &PeerVerification) -> String {
    match verification {
        PeerVerification::Verified { trust_domain } => {
            format!("verified by trust domain {trust_domain}")
        }
        PeerVerification::Failed {
            trust_domain,
            error,
        } => match trust_domain {
            Some(td) => format!("failed in trust domain {td}: {error}"),
            None => format!("failed: {error}"),
        },
        PeerVerification::NoCertificate => "not asked for by this host".to_owned(),
        other => format!("{other:?}"),
    }
}
