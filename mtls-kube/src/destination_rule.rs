//! Istio `DestinationRule` (`networking.istio.io`): the TLS the gateway speaks to a destination
//! host, applied to the backends (of any vendor's routes) whose URL host the rule's `host`
//! names.
//!
//! | Istio `trafficPolicy.tls` (or `portLevelSettings[].tls` of the backend's port) | ours |
//! |---|---|
//! | `mode: DISABLE` | `http` backend, no `tls` |
//! | `mode: SIMPLE` | `https` backend, `tls.ca` |
//! | `mode: MUTUAL` | `https` backend, `tls.ca` and `tls.client_certificate` |
//! | `mode: ISTIO_MUTUAL` | not translated: the mesh's own certificates are not available |
//! | `caCertificates`, `clientCertificate`, `privateKey` | those files, as written |
//! | `credentialName` | the Secret (of the gateway's namespace) mounted (`tls.crt`/`tls.key`/`ca.crt` or `cert`/`key`/`cacert`; the CA else from `<name>-cacert`) |
//! | `sni` | `tls.expected_name` |
//! | `subjectAltNames` | `tls.subject_alt_names` (exact SANs); `sni` is then only the SNI |
//!
//! `host` is a service's cluster name, a short name (in the rule's namespace) or a `*.`
//! wildcard; an exact host wins over a wildcard, a longer wildcard over a shorter one, then the
//! first rule of the input.

use mtls_policy::{BackendTls, CertificateSource, IdentityMatchSpec, TrustSource};
use serde::Deserialize;

use crate::istio::san_rule;
use crate::manifest::{Kind, Object};
use crate::model::{ObjectRef, Purpose};
use crate::translate::{Ctx, normalize};

/// The CA bundle used when a rule names none (Istio verifies with the system's roots then).
const SYSTEM_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DestinationRuleSpec {
    #[serde(default)]
    host: String,
    #[serde(default)]
    traffic_policy: Option<TrafficPolicy>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrafficPolicy {
    #[serde(default)]
    tls: Option<ClientTls>,
    #[serde(default)]
    port_level_settings: Vec<PortTrafficPolicy>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PortTrafficPolicy {
    #[serde(default)]
    port: Option<PortSelector>,
    #[serde(default)]
    tls: Option<ClientTls>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct PortSelector {
    #[serde(default)]
    number: Option<u16>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientTls {
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    client_certificate: Option<String>,
    #[serde(default)]
    private_key: Option<String>,
    #[serde(default)]
    ca_certificates: Option<String>,
    #[serde(default)]
    credential_name: Option<String>,
    #[serde(default)]
    subject_alt_names: Vec<String>,
    #[serde(default)]
    sni: Option<String>,
}

/// What a rule's TLS settings make of a backend.
enum Upstream {
    Plain,
    Tls(Box<BackendTls>),
}

/// Applies the DestinationRules to the backends the routes made so far.
pub(crate) fn translate(ctx: &mut Ctx<'_>, objects: &[Object]) {
    let mut rules: Vec<(&Object, &DestinationRuleSpec, String)> = objects
        .iter()
        .filter_map(|o| match &o.kind {
            Kind::DestinationRule(spec) => {
                let host = qualified(ctx, &spec.host, o.reference.ns());
                Some((o, spec, host))
            }
            _ => None,
        })
        .collect();
    // The most specific host first; the input's order among equals (a stable sort).
    rules.sort_by_key(|(_, _, host)| (host.starts_with('*'), usize::MAX - host.len()));
    let mut applied: Vec<(String, ObjectRef)> = Vec::new();
    for (o, spec, host) in rules {
        let r = &o.reference;
        if spec.host.trim().is_empty() {
            ctx.warn(r, "spec.host", "missing: the rule is not translated");
            continue;
        }
        let names: Vec<String> = ctx.backends.keys().cloned().collect();
        for name in names {
            let Some((backend_host, port)) =
                ctx.backends.get(&name).and_then(|b| authority(&b.url))
            else {
                continue;
            };
            if !host_matches(&host, &backend_host) {
                continue;
            }
            if let Some((_, first)) = applied.iter().find(|(n, _)| *n == name) {
                let message = format!(
                    "backend {name:?} takes its TLS from {first}, a rule for the same or a more specific host: not applied there"
                );
                ctx.warn(r, "spec.host", message);
                continue;
            }
            applied.push((name.clone(), r.clone()));
            let policy = spec.traffic_policy.as_ref();
            let by_port = policy.and_then(|p| {
                p.port_level_settings.iter().enumerate().find(|(_, s)| {
                    s.tls.is_some() && s.port.as_ref().and_then(|p| p.number) == Some(port)
                })
            });
            let (at, tls) = match by_port {
                Some((i, s)) => (
                    format!("spec.trafficPolicy.portLevelSettings[{i}].tls"),
                    s.tls.clone(),
                ),
                None => (
                    "spec.trafficPolicy.tls".to_string(),
                    policy.and_then(|p| p.tls.clone()),
                ),
            };
            let Some(tls) = tls else { continue };
            let Some(upstream) = upstream(ctx, r, &at, &tls) else {
                continue;
            };
            if let Some(backend) = ctx.backends.get_mut(&name) {
                let rest = backend.url.split_once("://").map_or("", |(_, rest)| rest);
                match upstream {
                    Upstream::Plain => {
                        backend.url = format!("http://{rest}");
                        backend.tls = None;
                    }
                    Upstream::Tls(tls) => {
                        backend.url = format!("https://{rest}");
                        backend.tls = Some(*tls);
                    }
                }
            }
        }
    }
}

/// The backend's upstream TLS from one `tls` block; `None` when it is not translated (warned).
fn upstream(ctx: &mut Ctx<'_>, r: &ObjectRef, at: &str, tls: &ClientTls) -> Option<Upstream> {
    let mutual = match tls.mode.as_deref().unwrap_or("DISABLE") {
        "DISABLE" => return Some(Upstream::Plain),
        "SIMPLE" => false,
        "MUTUAL" => true,
        "ISTIO_MUTUAL" => {
            ctx.warn(
                r,
                format!("{at}.mode"),
                "ISTIO_MUTUAL is not translated: it presents the mesh's own workload certificates (issued by istiod to each proxy), which are not available to this gateway; use MUTUAL with a credentialName",
            );
            return None;
        }
        other => {
            let message = format!(
                "mode {other:?} is not supported (DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL are): not translated"
            );
            ctx.warn(r, format!("{at}.mode"), message);
            return None;
        }
    };
    let (ca, client) = match &tls.credential_name {
        Some(name) => {
            if tls.client_certificate.is_some()
                || tls.private_key.is_some()
                || tls.ca_certificates.is_some()
            {
                ctx.warn(
                    r,
                    format!("{at}.credentialName"),
                    "clientCertificate, privateKey and caCertificates are ignored: credentialName takes precedence, as in Istio",
                );
            }
            credential(ctx, r, name, mutual)
        }
        None => {
            let client = match (&tls.client_certificate, &tls.private_key) {
                (Some(chain), Some(key)) => Some(CertificateSource::files(chain, key)),
                _ if mutual => {
                    ctx.warn(
                        r,
                        format!("{at}.clientCertificate"),
                        "MUTUAL needs clientCertificate and privateKey (or credentialName): not translated",
                    );
                    return None;
                }
                _ => None,
            };
            let ca = match &tls.ca_certificates {
                Some(ca) => TrustSource::File(ca.into()),
                None => {
                    let message = format!(
                        "no caCertificates: the upstream is verified with the system's CA bundle {SYSTEM_CA}, as Istio does"
                    );
                    ctx.warn(r, format!("{at}.caCertificates"), message);
                    TrustSource::File(SYSTEM_CA.into())
                }
            };
            (ca, client)
        }
    };
    let mut out = BackendTls::new(ca);
    out.client_certificate = client.filter(|_| mutual);
    out.expected_name = tls.sni.clone();
    if !tls.subject_alt_names.is_empty() {
        let mut allowed = IdentityMatchSpec::default();
        allowed.rules = tls.subject_alt_names.iter().map(|s| san_rule(s)).collect();
        out = out.subject_alt_names(allowed);
    }
    Some(Upstream::Tls(Box::new(out)))
}

/// The CA (and, for MUTUAL, the client certificate) of a `credentialName` Secret, recorded as
/// credentials to mount. Istio reads it from the namespace of the proxy using it, here the
/// gateway's: [`Options::gateway_namespace`](crate::Options::gateway_namespace), else the
/// workload's, else the rule's own.
fn credential(
    ctx: &mut Ctx<'_>,
    r: &ObjectRef,
    name: &str,
    mutual: bool,
) -> (TrustSource, Option<CertificateSource>) {
    let ns = match (&ctx.opts.gateway_namespace, &ctx.opts.workload) {
        (Some(ns), _) => ns.clone(),
        (None, Some(w)) => w.namespace.clone(),
        (None, None) => r.ns().to_string(),
    };
    let secret = ObjectRef::new("Secret", &ns, name);
    let separate = ObjectRef::new("Secret", &ns, format!("{name}-cacert"));
    let ca_secret = if !ctx.secrets.has_ca(&secret) && ctx.secrets.has_ca(&separate) {
        separate
    } else {
        secret.clone()
    };
    let ca = ctx.ca_bundle(&ca_secret, Purpose::UpstreamCa, false, r).ca;
    let missing = ctx.missing_state();
    if !mutual {
        return (ca, None);
    }
    let (keys, state) = ctx.secrets.certificate(&secret, &missing);
    ctx.credential(
        &secret,
        Purpose::UpstreamClientCertificate,
        &keys,
        r,
        &state,
    );
    let client = CertificateSource::files(ctx.file(&secret, keys[0]), ctx.file(&secret, keys[1]));
    (ca, Some(client))
}

/// `reviews` → `reviews.<ns>.svc.<cluster domain>`; other hosts as written (lowercase).
fn qualified(ctx: &Ctx<'_>, host: &str, ns: &str) -> String {
    let host = normalize(host.trim());
    if host.contains('.') || host.contains('*') || host.is_empty() {
        host
    } else {
        format!("{host}.{ns}.svc.{}", ctx.opts.cluster_domain)
    }
}

/// Whether a rule's host names a backend's host: equal, or under a `*.` wildcard (`*` alone:
/// every host).
fn host_matches(rule: &str, backend: &str) -> bool {
    match rule.strip_prefix('*') {
        Some("") => true,
        Some(suffix) => suffix.starts_with('.') && backend.ends_with(suffix),
        None => rule == backend,
    }
}

/// The host and port of a backend URL (`https://h:443/base` → `h`, 443; the scheme's port when
/// none is written).
fn authority(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let default = if scheme == "https" { 443 } else { 80 };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !authority.ends_with(']') => (host, port.parse().ok()?),
        _ => (authority, default),
    };
    Some((normalize(host), port))
}
