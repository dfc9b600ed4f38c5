//! `check`: verify a certificate chain exactly as the gateway would, and explain the decision.
//!
//! The command line is a contract scripts depend on:
//! `mtls-gateway check --ca ROOTS.pem --chain CHAIN.pem [--crl CRLS.pem]... [--time RFC3339|@UNIX]
//! [--purpose client|server] [--name dns:NAME|ip:ADDR|email:ADDR]... [--max-depth N]
//! [--profile default|strict] [--policy FILE] [--ocsp [--ocsp-url URL] [--ocsp-timeout SECS]] [--fetch-crls
//! [--crl-timeout SECS]] [--json]`; exit 0 accepted, 1 rejected (with the reason), 77 a case
//! `check` cannot express (a `--name` of a form it does not match, such as `uri:`), 2 usage or
//! configuration error. A CRL the trust domain cannot use (its signature does not verify, its
//! issuer may not sign CRLs) is left out and named in the reason: the status it would have given
//! stays unknown, a rejection. `--purpose server` without `--name` verifies the chain without a
//! name check, and its reasons speak of serverAuth. `--ocsp`
//! asks the leaf's OCSP responder once the chain verifies, and accepts only a good status (see
//! the `ocsp` module); `--fetch-crls` adds the CRLs of the chain's distribution points (`cdp`).
//!
//! With a gateway configuration instead of `--ca`:
//! `mtls-gateway check --config gateway.yaml [--listener L] [--host H] [--path P] --chain
//! CHAIN.pem [--time ...] [--ocsp ...] [--fetch-crls ...] [--json]` checks the chain for that
//! request through the same model, verifier and decision as the running gateway, and prints the
//! trace: listener, host, route (its match, target and allow-list), the CRLs fetched from the
//! chain's distribution points (added to the host's trust domains), certificate verification,
//! OCSP status (the issuer found among the anchors of the trust domain that verified the
//! chain), decision.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mtls_core::{CaBundle, CertificateChain, CertificatePolicies, CrlSet, PeerIdentity};
use mtls_policy::{CertificateProfile, Context, Decision, PeerVerification, Policy, VerifyError};
use mtls_tower::fetch::HttpUrl;
use mtls_tower::tls::{DomainOptions, PolicyVerifier};
use rustls_pki_types::UnixTime;
use serde_json::json;

mod cdp;
mod chain;
mod explain;
mod load;
mod names;
mod ocsp;

use chain::built_chain;

use load::{load_domain, with_unusable};
use names::{Name, name_problem, parse_name, unsupported_name};

/// Arguments of `check`.
#[derive(clap::Args, Debug)]
pub(crate) struct CheckArgs {
    /// Trusted roots (PEM bundle or DER).
    #[arg(long, value_name = "ROOTS.pem", required_unless_present = "config")]
    ca: Option<PathBuf>,
    /// A gateway configuration: check the chain for one request as that gateway would
    /// (`--listener`, `--host`, `--path`), and print the decision's trace.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["ca", "policy", "crl", "max_depth", "name", "profile"])]
    config: Option<PathBuf>,
    /// With `--config`: the listener, by name (default: the first).
    #[arg(long, value_name = "NAME", requires = "config")]
    listener: Option<String>,
    /// With `--config`: the host name the client asks for (SNI and Host); none: the default
    /// host.
    #[arg(long, value_name = "HOST", requires = "config")]
    host: Option<String>,
    /// With `--config`: the request path.
    #[arg(long, value_name = "PATH", requires = "config", default_value = "/")]
    path: String,
    /// The chain to check: the leaf first, then intermediates.
    #[arg(long, value_name = "CHAIN.pem")]
    chain: PathBuf,
    /// CRLs (PEM or DER); may be given several times; an empty file means no CRL.
    #[arg(long, value_name = "CRLS.pem")]
    crl: Vec<PathBuf>,
    /// The verification time: RFC 3339 (`2026-01-01T00:00:00Z`) or `@` and Unix seconds.
    #[arg(long, value_name = "RFC3339|@UNIX")]
    time: Option<String>,
    /// `client` (clientAuth EKU, as for gateway clients) or `server` (serverAuth EKU and the
    /// names, as for upstreams).
    #[arg(long, value_enum, default_value_t = Purpose::Client)]
    purpose: Purpose,
    /// A name the leaf must be valid for: `dns:NAME`, `ip:ADDR` or `email:ADDR`.
    #[arg(long, value_name = "dns:NAME|ip:ADDR|email:ADDR")]
    name: Vec<String>,
    /// The most intermediates a chain may have.
    #[arg(long, value_name = "N")]
    max_depth: Option<u8>,
    /// The certificate profile, as a trust domain's `profile`: `strict` adds the RFC 5280
    /// rules for issuing CAs (and with `--purpose server` the CA/Browser Forum's).
    #[arg(long, value_enum, default_value_t = Profile::Default)]
    profile: Profile,
    /// A policy (mtls-policy YAML) to decide with after the chain verifies: its first listener,
    /// as a request without SNI would be decided.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// After the chain verifies, ask the leaf's OCSP responder (its authorityInfoAccess, or
    /// `--ocsp-url`); only a good status accepts.
    #[arg(long)]
    ocsp: bool,
    /// With `--ocsp`: the responder to ask instead of the certificate's (`http://` only).
    #[arg(long, value_name = "URL", requires = "ocsp")]
    ocsp_url: Option<String>,
    /// With `--ocsp`: seconds the exchange with the responder may take.
    #[arg(long, value_name = "SECS", requires = "ocsp", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    ocsp_timeout: u64,
    #[command(flatten)]
    fetch: cdp::FetchArgs,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    Client,
    Server,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Profile {
    Default,
    Strict,
}

impl From<Profile> for CertificateProfile {
    fn from(profile: Profile) -> Self {
        match profile {
            Profile::Default => Self::Default,
            Profile::Strict => Self::Strict,
        }
    }
}

/// The outcome, before printing.
struct Outcome {
    accepted: bool,
    code: String,
    reason: String,
    identity: Option<PeerIdentity>,
    chain: Vec<String>,
    /// What the decision went through, in order (`--config`): step and finding.
    trace: Vec<(String, String)>,
}

impl Outcome {
    fn accepted(
        reason: String,
        identity: Option<PeerIdentity>,
        trace: Vec<(String, String)>,
    ) -> Self {
        Self {
            accepted: true,
            code: "ok".into(),
            reason,
            identity,
            chain: Vec::new(),
            trace,
        }
    }

    fn rejected(
        code: &str,
        reason: String,
        identity: Option<PeerIdentity>,
        trace: Vec<(String, String)>,
    ) -> Self {
        Self {
            accepted: false,
            code: code.into(),
            reason,
            identity,
            chain: Vec::new(),
            trace,
        }
    }
}

/// Why `check` gives no decision.
enum Stop {
    /// A usage or configuration error (exit 2).
    Usage(String),
    /// A case `check` cannot express (exit 77).
    Unsupported(String),
}

impl From<String> for Stop {
    fn from(message: String) -> Self {
        Self::Usage(message)
    }
}

/// Exit status of a case `check` cannot express (as test harnesses read 77: skipped).
const EXIT_UNSUPPORTED: u8 = 77;

pub(crate) fn run(args: &CheckArgs) -> ExitCode {
    match check(args) {
        Ok(outcome) => {
            print(args, &outcome);
            if outcome.accepted {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(Stop::Usage(e)) => {
            if args.json {
                println!("{}", json!({ "decision": "error", "error": e }));
            } else {
                eprintln!("mtls-gateway check: {e}");
            }
            ExitCode::from(2)
        }
        Err(Stop::Unsupported(e)) => {
            if args.json {
                println!("{}", json!({ "decision": "unsupported", "error": e }));
            } else {
                eprintln!("mtls-gateway check: unsupported: {e}");
            }
            ExitCode::from(EXIT_UNSUPPORTED)
        }
    }
}

fn check(args: &CheckArgs) -> Result<Outcome, Stop> {
    let provider = mtls_verify::crypto::default_provider();
    let chain = CertificateChain::from_file(&args.chain).map_err(|e| e.to_string())?;
    let now = match &args.time {
        None => UnixTime::now(),
        Some(t) => parse_time(t)?,
    };
    let ocsp_url = match &args.ocsp_url {
        None => None,
        Some(url) => Some(HttpUrl::parse(url).map_err(|e| format!("--ocsp-url: {e}"))?),
    };
    let ocsp_options = ocsp::OcspOptions {
        url: ocsp_url.as_ref(),
        url_text: args.ocsp_url.as_deref(),
        timeout: Duration::from_secs(args.ocsp_timeout),
    };
    let (ca, config) = (args.ca.as_ref(), args.config.as_ref());
    let ca = match (ca, config) {
        (_, Some(config)) => {
            let request = explain::Request {
                listener: args.listener.as_deref(),
                host: args.host.as_deref(),
                path: &args.path,
                ocsp: args.ocsp.then_some(&ocsp_options),
                fetch: &args.fetch,
            };
            let mut outcome = explain::explain(config, &request, &chain, now)?;
            outcome.chain = built_chain(&chain, None);
            return Ok(outcome);
        }
        (Some(ca), None) => ca,
        (None, None) => return Err(Stop::Usage("give --ca ROOTS.pem or --config FILE".into())),
    };
    let bundle = CaBundle::from_file(ca).map_err(|e| e.to_string())?;
    let mut crls = CrlSet::default();
    for file in &args.crl {
        let bytes = std::fs::read(file)
            .map_err(|e| format!("file {}: cannot read: {e}", file.display()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue; // an empty file means no CRL
        }
        crls.extend(CrlSet::from_bytes(&bytes, file.as_path()).map_err(|e| e.to_string())?);
    }
    if let Err(rejected) = cdp::add_fetched(&args.fetch, &chain, &bundle, &provider, &mut crls) {
        return Ok(rejected);
    }
    if let Some(why) = args.name.iter().find_map(|n| unsupported_name(n)) {
        return Err(Stop::Unsupported(why));
    }
    let names = args
        .name
        .iter()
        .map(|n| parse_name(n))
        .collect::<Result<Vec<_>, _>>()?;
    let policy = match &args.policy {
        None => None,
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("file {}: cannot read: {e}", file.display()))?;
            Some(Policy::from_yaml(&text).map_err(|e| format!("{}: {e}", file.display()))?)
        }
    };
    // Name the trust domain as the policy does, so its decision sees the domain it expects.
    let domain_name = policy
        .as_ref()
        .and_then(|p| p.config().listeners.first())
        .and_then(|l| l.hosts.iter().find_map(|h| h.client_validation.as_ref()))
        .and_then(|v| v.trust.first())
        .map_or_else(|| "check".to_string(), |t| t.name.clone());
    let mut options = DomainOptions::default();
    // Ours counts intermediates; the domain's depth counts the leaf too.
    options.max_chain_depth = args.max_depth.map(|n| n.saturating_add(1));
    options.require_client_auth_eku = args.purpose == Purpose::Client;
    options.profile = args.profile.into();
    let crls = (!crls.is_empty()).then_some(crls);
    let load::Loaded { domain, unusable } =
        load_domain(&domain_name, &bundle, crls, options, &provider)?;
    let leaf = chain.leaf();
    let intermediates = chain.intermediates();
    let mut ocsp_failure = None;
    // The certificate policies valid for the verified path (client chains).
    let mut policies = CertificatePolicies::None;
    let mut verification = match args.purpose {
        Purpose::Client => {
            let outcome = PolicyVerifier::builder(Arc::clone(&provider))
                .trust_domain(domain)
                .build()
                .map_err(|e| e.to_string())?
                .verify_chain_outcome(leaf, intermediates, now);
            policies = outcome.policies;
            outcome.verification
        }
        Purpose::Server => match names.iter().find_map(Name::server_name) {
            Some(server_name) => {
                domain.verify_server(&provider, leaf, intermediates, &server_name, now)
            }
            None => domain.verify_server_chain(&provider, leaf, intermediates, now),
        },
    };
    if matches!(verification, PeerVerification::Verified { .. })
        && let Some(problem) = name_problem(leaf, &names)
    {
        verification = PeerVerification::failed(Some(&domain_name), VerifyError::Other(problem));
    }
    let mut trace = Vec::new();
    if args.ocsp && matches!(verification, PeerVerification::Verified { .. }) {
        match ocsp::status(&chain, &bundle, &ocsp_options, &provider, now) {
            Ok(good) => trace.push(("ocsp".to_string(), good)),
            Err(no) => {
                trace.push(("ocsp".to_string(), no.reason.clone()));
                // The policy (`--policy`) decides with the failure the gateway would record.
                let error = if no.code == "revoked" {
                    VerifyError::Revoked { reason: None }
                } else {
                    VerifyError::RevocationUnknown
                };
                verification = PeerVerification::failed(Some(&domain_name), error);
                ocsp_failure = Some(no);
            }
        }
    }
    let identity = PeerIdentity::from_der(leaf)
        .ok()
        .map(|id| match &verification {
            PeerVerification::Verified { .. } => id.with_certificate_policies(policies),
            _ => id,
        });
    let chain_subjects = built_chain(&chain, Some(&bundle));
    let (mut accepted, mut code, mut reason) = match &verification {
        PeerVerification::Verified { trust_domain } => (
            true,
            "ok".to_string(),
            format!("verified by trust domain {trust_domain:?}"),
        ),
        PeerVerification::Failed { error, .. } => match &ocsp_failure {
            Some(no) => (false, no.code.to_string(), no.reason.clone()),
            None => (
                false,
                error.code().as_str().to_string(),
                with_unusable(error, describe(error, args.purpose), &unusable),
            ),
        },
        other => (
            false,
            "invalid_certificate".to_string(),
            format!("{other:?}"),
        ),
    };
    if let Some(policy) = &policy {
        let port = policy.config().listeners.first().map_or(443, |l| l.port());
        let mut ctx = Context::new(port, &verification);
        if let Some(id) = &identity {
            ctx = ctx.identity(id);
        }
        match policy.decide(&ctx) {
            Decision::Allow { .. } => {}
            Decision::Deny { reason: r, .. } => {
                accepted = false;
                code = r.code().to_string();
                reason = r.to_string();
            }
            _ => {}
        }
    }
    Ok(Outcome {
        accepted,
        code,
        reason,
        identity,
        chain: chain_subjects,
        trace,
    })
}

/// A verification error as `purpose` reads it: a server's extended key usage lacks serverAuth.
fn describe(error: &VerifyError, purpose: Purpose) -> String {
    match (error, purpose) {
        (VerifyError::BadEku, Purpose::Server) => {
            "extended key usage does not allow server auth (no serverAuth)".to_string()
        }
        _ => error.to_string(),
    }
}

fn parse_time(text: &str) -> Result<UnixTime, String> {
    let time = if let Some(seconds) = text.strip_prefix('@') {
        let seconds: u64 = seconds
            .parse()
            .map_err(|_| format!("--time {text:?}: expected @ and Unix seconds"))?;
        UNIX_EPOCH + Duration::from_secs(seconds)
    } else {
        humantime::parse_rfc3339(text).map_err(|e| format!("--time {text:?}: not RFC 3339: {e}"))?
    };
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(UnixTime::since_unix_epoch(since))
}

fn print(args: &CheckArgs, outcome: &Outcome) {
    let identity = outcome.identity.as_ref().map(|id| {
        json!({
            "subject": id.subject(),
            "issuer": id.issuer(),
            "serial": id.serial_hex(),
            "spiffe_id": id.spiffe_id().map(|s| s.as_str()),
            "dns": id.dns_names(),
            "uri": id.uris(),
            "ip": id.ip_addresses().iter().map(ToString::to_string).collect::<Vec<_>>(),
            "email": id.emails(),
            "sha256": id.cert_sha256_hex(),
            "spki_sha256": id.spki_sha256_base64(),
            "certificate_policies": {
                "any": *id.certificate_policies() == CertificatePolicies::Any,
                "oids": id.certificate_policies().oids(),
            },
        })
    });
    if args.json {
        let mut value = json!({
            "decision": if outcome.accepted { "accepted" } else { "rejected" },
            "code": outcome.code,
            "reason": outcome.reason,
            "identity": identity,
            "chain": outcome.chain,
        });
        if !outcome.trace.is_empty() {
            let trace: serde_json::Map<String, serde_json::Value> = outcome
                .trace
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            value["trace"] = serde_json::Value::Object(trace);
        }
        println!("{value}");
        return;
    }
    if outcome.accepted {
        println!("ACCEPTED: {}", outcome.reason);
    } else {
        println!("REJECTED ({}): {}", outcome.code, outcome.reason);
    }
    for (step, finding) in &outcome.trace {
        println!("{step}: {finding}");
    }
    if let Some(id) = &outcome.identity {
        println!("identity: {id}");
        println!("certificate policies: {}", id.certificate_policies());
    }
    println!("chain:");
    for (i, subject) in outcome.chain.iter().enumerate() {
        println!("  {i}: {subject}");
    }
}
