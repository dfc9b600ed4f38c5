//! ingress-nginx: `Ingress` objects and their `nginx.ingress.kubernetes.io/*` annotations.
//!
//! | ingress-nginx | ours |
//! |---|---|
//! | every Ingress host, on port 443 | a host of listener `ingress-nginx` |
//! | `spec.tls[].secretName` (else the default certificate) | the host's certificate |
//! | `auth-tls-secret` (`ca.crt`, `ca.crl`) | `trust[].ca`, `trust[].crl` |
//! | `auth-tls-verify-client` on / optional / optional_no_ca / off | mode required / optional / optional + `danger.skip_client_cert_validation` / none |
//! | `auth-tls-verify-depth` | `trust[].max_chain_depth` |
//! | `auth-tls-match-cn` | an `authorization` on the subject over every path of the host (403) |
//! | failed verification: 400 "The SSL certificate error" / "No required SSL certificate was sent" | listener `answers` |
//! | `auth-tls-pass-certificate-to-upstream` | `forward_identity.rfc9440` |
//! | `backend-protocol: HTTPS` + `proxy-ssl-secret` / `proxy-ssl-name` | backend `tls` (`ca`, `client_certificate`, `expected_name`) |

use std::collections::BTreeMap;

use mtls_policy::{
    Answer, Authorization, BackendConfig, BackendTls, CertificateSource, ClientCertMode,
    ClientValidation, CrlOptions, DenyCode, HttpAnswer, IdentityRule, RouteConfig, StringMatch,
    TrustDomain,
};
use serde::Deserialize;
use serde_json::Value;

use crate::manifest::{Kind, Object};
use crate::model::{ObjectRef, Purpose, RefState};
use crate::routes::path_route;
use crate::translate::{Ctx, HostDraft, accepted, normalize, resolved_refs};

mod upstream;
mod validation;

use upstream::*;
use validation::*;

/// A rule's host and its paths (with their field paths).
type RuleHost<'a> = (Option<String>, Vec<(String, &'a HttpPath)>);

const PREFIX: &str = "nginx.ingress.kubernetes.io/";
const LISTENER: &str = "ingress-nginx";

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IngressSpec {
    #[serde(default)]
    ingress_class_name: Option<String>,
    #[serde(default)]
    default_backend: Option<IngressBackend>,
    #[serde(default)]
    tls: Vec<IngressTls>,
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IngressTls {
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    secret_name: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct Rule {
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    http: Option<Http>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct Http {
    #[serde(default)]
    paths: Vec<HttpPath>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpPath {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    path_type: Option<String>,
    #[serde(default)]
    backend: IngressBackend,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct IngressBackend {
    #[serde(default)]
    service: Option<ServiceBackend>,
    #[serde(default)]
    resource: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct ServiceBackend {
    #[serde(default)]
    name: String,
    #[serde(default)]
    port: ServicePort,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct ServicePort {
    #[serde(default)]
    number: Option<u16>,
    #[serde(default)]
    name: Option<String>,
}

/// The annotations we read (the prefix stripped).
const KNOWN: [&str; 12] = [
    "auth-tls-secret",
    "auth-tls-verify-client",
    "auth-tls-verify-depth",
    "auth-tls-match-cn",
    "auth-tls-pass-certificate-to-upstream",
    "auth-tls-error-page",
    "backend-protocol",
    "proxy-ssl-secret",
    "proxy-ssl-verify",
    "proxy-ssl-name",
    "proxy-ssl-server-name",
    "configuration-snippet",
];

struct Ann<'a> {
    map: BTreeMap<&'a str, &'a str>,
}

impl Ann<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(|v| v.trim())
    }
}

fn field(key: &str) -> String {
    format!("metadata.annotations[{PREFIX}{key}]")
}

pub(crate) fn translate(ctx: &mut Ctx<'_>, objects: &[Object]) {
    for o in objects {
        if let Kind::Ingress(spec) = &o.kind {
            ingress(ctx, o, spec);
        }
    }
}

/// `ns/name` or `name` (in the Ingress's namespace).
fn secret_ref(value: &str, namespace: &str) -> ObjectRef {
    match value.split_once('/') {
        Some((ns, name)) => ObjectRef::new("Secret", ns, name),
        None => ObjectRef::new("Secret", namespace, value),
    }
}

fn ingress(ctx: &mut Ctx<'_>, o: &Object, spec: &IngressSpec) {
    let r = &o.reference;
    let ns = r.ns().to_string();
    let ann = Ann {
        map: o
            .meta
            .annotations
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(PREFIX).map(|k| (k, v.as_str())))
            .collect(),
    };
    for key in ann.map.keys() {
        if !KNOWN.contains(key) {
            let why = match *key {
                "proxy-ssl-verify-depth" | "proxy-ssl-ciphers" | "proxy-ssl-protocols" => {
                    "not supported: upstream TLS uses the provider's defaults and the chain length rustls allows"
                }
                _ => {
                    "not translated: mtls-kube reads the auth-tls-*, backend-protocol and proxy-ssl-* annotations"
                }
            };
            ctx.warn(r, field(key), why);
        }
    }
    if let Some(class) = &spec.ingress_class_name
        && !class.contains("nginx")
    {
        ctx.warn(
            r,
            "spec.ingressClassName",
            format!("class {class:?} is translated as ingress-nginx"),
        );
    }
    let mut states: Vec<(String, RefState)> = Vec::new();
    let validation = client_validation(ctx, r, &ann, &mut states);
    let match_cn = ann.get("auth-tls-match-cn").map(str::to_string);
    if match_cn.is_some() && validation.is_none() {
        ctx.warn(
            r,
            field("auth-tls-match-cn"),
            "ignored: no client certificate is verified (auth-tls-secret)",
        );
    }
    if let Some(page) = ann.get("auth-tls-error-page") {
        ctx.warn(r, field("auth-tls-error-page"), format!(
            "not supported: a failed verification answers 400 as ingress-nginx does without an error page, not a redirect to {page:?}"
        ));
    }
    if validation.is_some() {
        ctx.forward.ssl_client = true;
        nginx_answers(ctx);
        if ann.get("auth-tls-pass-certificate-to-upstream") == Some("true") {
            ctx.forward.rfc9440 = true;
            ctx.warn(r, field("auth-tls-pass-certificate-to-upstream"), "the certificate goes upstream as RFC 9440 `Client-Cert` (base64 DER), not as `ssl-client-cert` (URL-encoded PEM)");
        }
    }
    let scheme = backend_scheme(ctx, r, &ann);
    let upstream_tls = match scheme {
        Some(("https", _)) => Some(upstream_tls(ctx, r, &ann, &mut states)),
        _ => None,
    };

    // Hosts, each with its certificate and routes.
    let mut hosts: Vec<RuleHost<'_>> = Vec::new();
    for (i, rule) in spec.rules.iter().enumerate() {
        let paths = rule.http.iter().flat_map(|h| h.paths.iter()).enumerate();
        let paths: Vec<(String, &HttpPath)> = paths
            .map(|(j, p)| (format!("spec.rules[{i}].http.paths[{j}]"), p))
            .collect();
        hosts.push((rule.host.clone(), paths));
    }
    for (host, paths) in &hosts {
        let hostnames: Vec<String> = host.iter().cloned().collect();
        let secret = host.as_ref().and_then(|h| {
            spec.tls
                .iter()
                .find(|t| t.hosts.iter().any(|n| normalize(n) == normalize(h)))
        });
        let secret = match secret.and_then(|t| t.secret_name.as_ref()) {
            Some(name) => ObjectRef::new("Secret", &ns, name),
            None => {
                let d = ctx.opts.nginx_default_certificate.clone();
                ctx.warn(r, "spec.tls", format!(
                    "no spec.tls secret names host {:?}: it is served with the default certificate {d}",
                    host.as_deref().unwrap_or("*")
                ));
                d
            }
        };
        let port = ctx.opts.nginx_port;
        let (certificate, state) = ctx.server_certificate(&secret, r);
        states.push((format!("certificate {}", secret.name), state));
        let mut policy_routes = Vec::new();
        if let (Some(re), Some(_)) = (&match_cn, &validation) {
            let mut auth = Authorization::default();
            auth.rules = vec![IdentityRule::Subject(StringMatch::Regex(format!(
                ".*(?:{re}).*"
            )))];
            let route = RouteConfig::prefix("/").named("auth-tls-match-cn");
            policy_routes.push(route.authorization(auth));
        }
        let draft = HostDraft {
            hostnames: hostnames.clone(),
            certificate,
            validation: validation.clone(),
            routes: policy_routes,
            origin: r.clone(),
        };
        let exists = ctx
            .listener(LISTENER, port)
            .hosts
            .iter()
            .find(|h| h.hostnames == hostnames)
            .map(|h| h.origin.clone());
        match exists {
            // Several Ingresses share a host: ingress-nginx merges their paths; the host's TLS
            // settings come from the first.
            Some(first) if first != *r => {
                if validation.is_some() {
                    ctx.warn(r, field("auth-tls-secret"), format!(
                        "host {:?} is also defined by {first}, whose client-certificate settings apply to it",
                        host.as_deref().unwrap_or("*")
                    ));
                }
            }
            Some(_) => {}
            None => {
                // A refused host is warned about.
                let _ = ctx.add_host(LISTENER, port, draft, "spec.rules");
            }
        }
        for (at, path) in paths {
            route(
                ctx,
                r,
                at,
                host.as_deref(),
                path,
                scheme,
                upstream_tls.as_ref(),
            );
        }
    }
    if let Some(backend) = &spec.default_backend {
        ctx.warn(r, "spec.defaultBackend", "served for requests no rule matches on the hosts above; hosts no Ingress names are not served");
        let path = HttpPath {
            path: None,
            path_type: None,
            backend: backend.clone(),
        };
        route(
            ctx,
            r,
            "spec.defaultBackend",
            None,
            &path,
            scheme,
            upstream_tls.as_ref(),
        );
    }
    let reason = if states
        .iter()
        .any(|(w, s)| w.starts_with("certificate") && matches!(s, RefState::Invalid { .. }))
    {
        "InvalidCertificateRef"
    } else {
        "InvalidCACertificateRef"
    };
    ctx.status(r, None, vec![accepted(), resolved_refs(&states, reason)]);
}

fn route(
    ctx: &mut Ctx<'_>,
    r: &ObjectRef,
    at: &str,
    host: Option<&str>,
    path: &HttpPath,
    scheme: Option<(&'static str, bool)>,
    tls: Option<&BackendTls>,
) {
    let Some((scheme, http2_only)) = scheme else {
        return;
    };
    if path.backend.resource.is_some() {
        ctx.warn(
            r,
            format!("{at}.backend.resource"),
            "not supported: only Service backends are",
        );
        return;
    }
    let Some(service) = &path.backend.service else {
        ctx.warn(r, format!("{at}.backend"), "no service: not translated");
        return;
    };
    let Some(port) = service.port.number else {
        ctx.warn(
            r,
            format!("{at}.backend.service.port"),
            format!(
                "a port by name ({:?}) needs the Service to resolve: use the port number",
                service.port.name.as_deref().unwrap_or_default()
            ),
        );
        return;
    };
    let p = path.path.as_deref().unwrap_or("/");
    let exact = path.path_type.as_deref() == Some("Exact");
    let (route, path) = match path_route(p, exact) {
        Ok(route) => route,
        Err(e) => {
            ctx.warn(r, format!("{at}.path"), format!("{e}: not translated"));
            return;
        }
    };
    let ns = r.ns().to_string();
    let name = format!("{ns}-{}-{port}", service.name);
    let mut backend = BackendConfig::new(ctx.service_url(scheme, &ns, &service.name, port));
    backend.tls = tls.cloned();
    backend.http2_only = http2_only;
    ctx.backend(&name, backend);
    let route = (route.backend(&name), path);
    ctx.add_route(LISTENER, host, route, r, at.to_string());
}
