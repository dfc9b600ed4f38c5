//! Istio `networking.istio.io` Gateway and `security.istio.io` PeerAuthentication.
//!
//! | Istio | ours |
//! |---|---|
//! | a `Gateway` server | a host of listener `istio-<port>` |
//! | `hosts` (`ns/` prefixes dropped; `*` = the default host) | `hostnames` |
//! | `tls.mode` SIMPLE / MUTUAL / OPTIONAL_MUTUAL | `client_validation.mode` none / required / optional |
//! | `credentialName(s)`, `serverCertificate` + `privateKey` | the host's certificate |
//! | the secret's `ca.crt` / `cacert`, `<name>-cacert`, `caCertCredentialName`, `caCertificates` | `trust[].ca` |
//! | the secret's `ca.crl` / `crl`, `caCrl` | `trust[].crl` |
//! | `subjectAltNames` | `trust[].may_vouch_for` (exact SANs) |
//! | `verifyCertificateHash` / `verifyCertificateSpki` | `pins` |
//! | `minProtocolVersion: TLSV1_3` | `min_tls_version: tls13` |
//! | `PeerAuthentication` | `peer_authentication` (oldest first, as Istio decides), and the peer mode of each listener of the workload's own ports ([`Workload::ports`](crate::Workload::ports), `workload-<port>`); a Gateway server's listener keeps its `tls` settings, as in Istio (a policy selecting the gateway's workload there is warned about) |
//!
//! `credentialName` (and `caCertCredentialName`, `<name>-cacert`) is a Secret of the gateway
//! workload's namespace, as Istio reads it: [`Options::gateway_namespace`](crate::Options::gateway_namespace),
//! else the workload's namespace, else the Gateway's own (warned about when it is not the root
//! namespace, where Istio's ingress gateway runs).
//!
//! VirtualServices bound to a Gateway give its hosts their routes: see [`virtual_service`].

use std::collections::BTreeMap;

use mtls_policy::{
    CertificateSource, ClientCertMode, ClientValidation, CrlOptions, IdentityMatchSpec,
    IdentityRule, Pins, StringMatch, TlsVersion, TrustDomain, TrustSource, UnknownSni,
};
use serde::Deserialize;

use crate::manifest::{Kind, Object};
use crate::model::{Condition, ConditionStatus, ObjectRef, Purpose, RefState};
use crate::translate::{Ctx, HostDraft, Refused, accepted, resolved_refs};

mod peer_authentication;
pub mod virtual_service;

use peer_authentication::peer_authentication;
pub(crate) use peer_authentication::{
    PeerAuthenticationSpec, gateway_listeners, workload_listeners,
};
pub(crate) use virtual_service::VirtualServiceSpec;
use virtual_service::{Served, Servers};

#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct GatewaySpec {
    #[serde(default)]
    #[allow(dead_code)] // Which pods serve it: this gateway is the one selected.
    selector: BTreeMap<String, String>,
    #[serde(default)]
    servers: Vec<Server>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Server {
    #[serde(default)]
    port: Option<Port>,
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    tls: Option<ServerTls>,
    #[serde(default)]
    #[allow(dead_code)] // A label only.
    name: Option<String>,
    #[serde(default)]
    bind: Option<String>,
    #[serde(default)]
    default_endpoint: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Port {
    #[serde(default)]
    number: Option<u32>,
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // A label only.
    name: Option<String>,
    #[serde(default)]
    target_port: Option<u32>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerTls {
    #[serde(default)]
    https_redirect: bool,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    server_certificate: Option<String>,
    #[serde(default)]
    private_key: Option<String>,
    #[serde(default)]
    ca_certificates: Option<String>,
    #[serde(default)]
    credential_name: Option<String>,
    #[serde(default)]
    credential_names: Vec<String>,
    #[serde(default)]
    ca_cert_credential_name: Option<String>,
    #[serde(default)]
    subject_alt_names: Vec<String>,
    #[serde(default)]
    verify_certificate_spki: Vec<String>,
    #[serde(default)]
    verify_certificate_hash: Vec<String>,
    #[serde(default)]
    min_protocol_version: Option<String>,
    #[serde(default)]
    max_protocol_version: Option<String>,
    #[serde(default)]
    cipher_suites: Vec<String>,
    #[serde(default)]
    ca_crl: Option<String>,
}

pub(crate) fn translate(ctx: &mut Ctx<'_>, objects: &[Object]) {
    let mut servers = Servers::new();
    for o in objects {
        if let Kind::IstioGateway(spec) = &o.kind {
            let served = gateway(ctx, o, spec);
            servers.insert(o.reference.clone(), served);
        }
    }
    let bound = virtual_service::translate(ctx, objects, &servers);
    for (gateway, served) in &servers {
        if !served.is_empty() && !bound.contains(gateway) {
            ctx.warn(
                gateway,
                "spec.servers",
                "no VirtualService of the input binds to this Gateway (spec.gateways): its hosts have no routes, every request answers 404",
            );
        }
    }
    let mut pas: Vec<(&Object, &PeerAuthenticationSpec)> = objects
        .iter()
        .filter_map(|o| match &o.kind {
            Kind::PeerAuthentication(s) => Some((o, s)),
            _ => None,
        })
        .collect();
    // Istio: when policies compete, the oldest wins; mtls-policy takes the first.
    pas.sort_by(|a, b| {
        a.0.meta
            .creation_timestamp
            .cmp(&b.0.meta.creation_timestamp)
    });
    for (o, spec) in pas {
        peer_authentication(ctx, o, spec);
    }
}

/// Translates a Gateway; returns its translated servers.
fn gateway(ctx: &mut Ctx<'_>, o: &Object, spec: &GatewaySpec) -> Vec<Served> {
    let r = &o.reference;
    let mut served = Vec::new();
    let named = spec.servers.iter().position(|s| {
        s.tls.as_ref().is_some_and(|t| {
            t.credential_name.is_some()
                || !t.credential_names.is_empty()
                || t.ca_cert_credential_name.is_some()
        })
    });
    let namespace = match named {
        Some(i) => credential_namespace(ctx, r, &format!("servers[{i}]")),
        None => r.ns().to_string(),
    };
    for (i, server) in spec.servers.iter().enumerate() {
        let section = format!("servers[{i}]");
        let conditions = match self::server(ctx, r, &section, server, &namespace) {
            Ok((states, s)) => {
                served.push(s);
                vec![accepted(), resolved_refs(&states, reason_of(&states))]
            }
            Err(message) => vec![Condition::new(
                "Accepted",
                ConditionStatus::False,
                "UnsupportedValue",
                message,
            )],
        };
        ctx.status(r, Some(&section), conditions);
    }
    for l in ctx
        .listeners
        .iter_mut()
        .filter(|l| l.name.starts_with("istio-"))
    {
        l.unknown_sni = if l.hosts.iter().any(|h| h.hostnames.is_empty()) {
            UnknownSni::Default
        } else {
            UnknownSni::Refuse
        };
    }
    served
}

/// The namespace of the Secrets a Gateway's `credentialName`s name: the gateway workload's.
fn credential_namespace(ctx: &mut Ctx<'_>, r: &ObjectRef, at: &str) -> String {
    if let Some(ns) = &ctx.opts.gateway_namespace {
        return ns.clone();
    }
    if let Some(w) = &ctx.opts.workload {
        return w.namespace.clone();
    }
    let ns = r.ns().to_string();
    if ns != ctx.opts.root_namespace {
        let message = format!(
            "Istio reads this Secret from the namespace of the gateway workload (its pods), not the Gateway's: assumed to be {ns:?}; if the ingress gateway runs elsewhere (often {:?}), give its namespace (translate --gateway-namespace)",
            ctx.opts.root_namespace
        );
        ctx.warn(r, format!("spec.{at}.tls.credentialName"), message);
    }
    ns
}

fn reason_of(states: &[(String, RefState)]) -> &'static str {
    let bad_cert = states
        .iter()
        .any(|(w, s)| w.starts_with("certificate") && matches!(s, RefState::Invalid { .. }));
    if bad_cert {
        "InvalidCertificateRef"
    } else {
        "InvalidCACertificateRef"
    }
}

/// Translates one server; `Err` says why it is not served.
fn server(
    ctx: &mut Ctx<'_>,
    r: &ObjectRef,
    at: &str,
    server: &Server,
    namespace: &str,
) -> Result<(Vec<(String, RefState)>, Served), String> {
    let f = |field: &str| format!("spec.{at}.{field}");
    let skip = |ctx: &mut Ctx<'_>, field: &str, why: String| {
        ctx.warn(r, f(field), format!("{why}; this server is not translated"));
        Err(why)
    };
    let Some(port) = server
        .port
        .as_ref()
        .and_then(|p| p.number)
        .and_then(|n| u16::try_from(n).ok())
        .filter(|p| *p != 0)
    else {
        return skip(ctx, "port.number", "missing or not a port number".into());
    };
    let protocol = server
        .port
        .as_ref()
        .and_then(|p| p.protocol.clone())
        .unwrap_or_default()
        .to_ascii_uppercase();
    for (field, set) in [
        ("bind", server.bind.is_some()),
        ("defaultEndpoint", server.default_endpoint.is_some()),
        (
            "port.targetPort",
            server
                .port
                .as_ref()
                .is_some_and(|p| p.target_port.is_some()),
        ),
    ] {
        if set {
            ctx.warn(
                r,
                f(field),
                "not supported: the listener binds the configured address and port",
            );
        }
    }
    let Some(tls) = &server.tls else {
        return skip(
            ctx,
            "tls",
            format!(
                "a {protocol} server without `tls` is plaintext: the gateway serves TLS listeners only"
            ),
        );
    };
    if tls.https_redirect {
        ctx.warn(
            r,
            f("tls.httpsRedirect"),
            "not supported: the gateway serves no plaintext port to redirect from",
        );
    }
    let mode = tls
        .mode
        .clone()
        .unwrap_or_else(|| "SIMPLE".into())
        .to_ascii_uppercase();
    let client_mode = match mode.as_str() {
        "SIMPLE" => ClientCertMode::None,
        "MUTUAL" => ClientCertMode::Required,
        "OPTIONAL_MUTUAL" => ClientCertMode::Optional,
        "PASSTHROUGH" | "AUTO_PASSTHROUGH" => {
            return skip(
                ctx,
                "tls.mode",
                format!(
                    "{mode} is not supported: it forwards the TLS stream by SNI without terminating it, and this gateway terminates TLS to enforce client-certificate policy"
                ),
            );
        }
        "ISTIO_MUTUAL" => {
            return skip(ctx, "tls.mode", "ISTIO_MUTUAL is not supported: it uses the mesh workload certificate istiod issues over SDS, which this gateway does not get; use MUTUAL with a credentialName".into());
        }
        other => return skip(ctx, "tls.mode", format!("unknown mode {other:?}")),
    };
    match protocol.as_str() {
        "HTTPS" | "HTTP2" | "GRPC" => {}
        "TLS" => ctx.warn(
            r,
            f("port.protocol"),
            "TLS (TCP after termination) is served as HTTPS: the gateway proxies HTTP only",
        ),
        "HTTP" if tls.https_redirect => {
            return skip(
                ctx,
                "port.protocol",
                "an HTTP server that only redirects has no TLS to translate".into(),
            );
        }
        other => {
            return skip(
                ctx,
                "port.protocol",
                format!("protocol {other:?} is not supported with TLS termination"),
            );
        }
    }
    let hostnames = hostnames(&server.hosts);
    let listener = format!("istio-{port}");
    let mut states = Vec::new();

    // The certificate.
    let mut credential_names: Vec<String> = tls.credential_name.iter().cloned().collect();
    credential_names.extend(tls.credential_names.iter().cloned());
    if credential_names.len() > 1 {
        ctx.warn(
            r,
            f("tls.credentialNames"),
            format!(
                "one certificate per host is served: {:?}; the others ({}) are not (no RSA + ECDSA pairs yet)",
                credential_names[0],
                credential_names[1..].join(", ")
            ),
        );
    }
    let credential = credential_names
        .first()
        .map(|n| ObjectRef::new("Secret", namespace, n));
    let certificate = match (&credential, &tls.server_certificate, &tls.private_key) {
        (Some(secret), _, _) => {
            if tls.server_certificate.is_some() || tls.private_key.is_some() {
                ctx.warn(
                    r,
                    f("tls.serverCertificate"),
                    "ignored: credentialName takes precedence, as in Istio",
                );
            }
            let (cert, state) = ctx.server_certificate(secret, r);
            states.push((format!("certificate {}", secret.name), state));
            cert
        }
        (None, Some(chain), Some(key)) => CertificateSource::files(chain, key),
        _ => {
            return skip(
                ctx,
                "tls.credentialName",
                "no certificate: set credentialName (or serverCertificate and privateKey)".into(),
            );
        }
    };

    // Client validation.
    let validation = if client_mode == ClientCertMode::None {
        for (field, set) in [
            ("subjectAltNames", !tls.subject_alt_names.is_empty()),
            (
                "verifyCertificateSpki",
                !tls.verify_certificate_spki.is_empty(),
            ),
            (
                "verifyCertificateHash",
                !tls.verify_certificate_hash.is_empty(),
            ),
            ("caCertificates", tls.ca_certificates.is_some()),
            (
                "caCertCredentialName",
                tls.ca_cert_credential_name.is_some(),
            ),
            ("caCrl", tls.ca_crl.is_some()),
        ] {
            if set {
                ctx.warn(
                    r,
                    f(&format!("tls.{field}")),
                    "ignored: SIMPLE mode requests no client certificate",
                );
            }
        }
        None
    } else {
        let (ca, crl) = client_ca(ctx, r, at, tls, credential.as_ref(), namespace, &mut states)?;
        let name = credential_names
            .first()
            .cloned()
            .unwrap_or_else(|| format!("{}-{at}", r.name));
        let mut domain = TrustDomain::new(name, ca);
        let mut crls: Vec<TrustSource> = crl.into_iter().collect();
        if let Some(file) = &tls.ca_crl {
            crls.push(TrustSource::File(file.into()));
        }
        if !crls.is_empty() {
            domain.crl = Some(CrlOptions::new(crls));
        }
        if !tls.subject_alt_names.is_empty() {
            let mut spec = IdentityMatchSpec::default();
            spec.rules = tls.subject_alt_names.iter().map(|s| san_rule(s)).collect();
            domain.may_vouch_for = Some(spec);
        }
        let pins = serde_json::json!({
            "cert_sha256": tls.verify_certificate_hash,
            "spki_sha256": tls.verify_certificate_spki,
        });
        let pins: Pins = match serde_json::from_value(pins) {
            Ok(p) => p,
            Err(e) => return skip(ctx, "tls.verifyCertificateHash", e.to_string()),
        };
        let mut v = ClientValidation::default();
        v.mode = client_mode;
        v.trust = vec![domain];
        v.pins = pins;
        Some(v)
    };

    // TLS versions and suites.
    let min = tls
        .min_protocol_version
        .as_deref()
        .map(str::to_ascii_uppercase);
    match min.as_deref() {
        None | Some("TLS_AUTO" | "TLSV1_2") => {}
        Some("TLSV1_3") => ctx.listener(&listener, port).min_tls = TlsVersion::Tls13,
        Some(other) => ctx.warn(
            r,
            f("tls.minProtocolVersion"),
            format!("{other} is not supported: the minimum is TLS 1.2"),
        ),
    }
    if let Some(max) = tls.max_protocol_version.as_deref()
        && !matches!(max.to_ascii_uppercase().as_str(), "TLS_AUTO" | "TLSV1_3")
    {
        ctx.warn(
            r,
            f("tls.maxProtocolVersion"),
            format!("{max} is not supported: TLS 1.3 stays enabled"),
        );
    }
    if !tls.cipher_suites.is_empty() {
        ctx.warn(
            r,
            f("tls.cipherSuites"),
            "not supported: the crypto provider's default TLS 1.2 and 1.3 suites are used",
        );
    }

    let served = Served {
        listener: listener.clone(),
        hostnames: hostnames.clone(),
    };
    let host = HostDraft {
        hostnames,
        certificate,
        validation,
        routes: Vec::new(),
        origin: r.clone(),
    };
    match ctx.add_host(&listener, port, host, &f("hosts")) {
        Ok(()) => Ok((states, served)),
        Err(Refused::Taken) => Err("its hosts are already served on this port".into()),
        Err(Refused::Invalid(why)) => Err(why),
    }
}

/// The CA (and CRL) for client validation, per Istio's lookup: `caCertificates`,
/// `caCertCredentialName`, the credential's own `ca.crt` / `cacert`, or `<name>-cacert`.
fn client_ca(
    ctx: &mut Ctx<'_>,
    r: &ObjectRef,
    at: &str,
    tls: &ServerTls,
    credential: Option<&ObjectRef>,
    ns: &str,
    states: &mut Vec<(String, RefState)>,
) -> Result<(TrustSource, Option<TrustSource>), String> {
    let secret = match (
        &tls.ca_cert_credential_name,
        credential,
        &tls.ca_certificates,
    ) {
        (Some(name), _, _) => ObjectRef::new("Secret", ns, name),
        (None, Some(cred), _) => {
            let cacert = ObjectRef::new("Secret", ns, format!("{}-cacert", cred.name));
            if ctx.secrets.has_ca(cred) || ctx.secrets.get(&cacert).is_none() {
                cred.clone()
            } else {
                cacert
            }
        }
        (None, None, Some(file)) => return Ok((TrustSource::File(file.into()), None)),
        (None, None, None) => {
            let why =
                "MUTUAL needs a CA: set credentialName (with ca.crt) or caCertificates".to_string();
            ctx.warn(
                r,
                format!("spec.{at}.tls.mode"),
                format!("{why}; this server is not translated"),
            );
            return Err(why);
        }
    };
    let missing = ctx.missing_state();
    let found = ctx.secrets.ca(&secret, &missing);
    let mut keys = vec![found.ca_key];
    keys.extend(found.crl_key);
    ctx.credential(&secret, Purpose::ClientCa, &keys, r, &found.state);
    states.push((format!("CA {}", secret.name), found.state.clone()));
    let ca = TrustSource::File(ctx.file(&secret, found.ca_key));
    let crl = found
        .crl_key
        .map(|k| TrustSource::File(ctx.file(&secret, k)));
    Ok((ca, crl))
}

/// An exact SAN, by the type its text shows.
pub(crate) fn san_rule(san: &str) -> IdentityRule {
    let exact = StringMatch::Exact(san.to_string());
    if san.parse::<std::net::IpAddr>().is_ok() {
        IdentityRule::Ip(exact)
    } else if san.contains("://") {
        IdentityRule::Uri(exact)
    } else if san.contains('@') {
        IdentityRule::Email(exact)
    } else {
        IdentityRule::Dns(exact)
    }
}

/// Istio hosts: `ns/name` → `name`; `*` → the default host.
fn hostnames(hosts: &[String]) -> Vec<String> {
    let names: Vec<String> = hosts
        .iter()
        .map(|h| {
            h.rsplit_once('/')
                .map_or(h.as_str(), |(_, n)| n)
                .to_string()
        })
        .collect();
    if names.iter().any(|n| n == "*") {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}
