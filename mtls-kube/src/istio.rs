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
//! | `PeerAuthentication` | `peer_authentication` (oldest first, as Istio decides), and the peer mode of each listener of the workload's own ports ([`Workload::ports`](crate::Workload::ports), `workload-<port>`), serving the workload's certificate and verifying peers against its CA with [`Workload::credential`](crate::Workload::credential); a Gateway server's listener keeps its `tls` settings, as in Istio (a policy selecting the gateway's workload there is warned about) |
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
mod server;
pub mod virtual_service;

use peer_authentication::peer_authentication;
pub(crate) use peer_authentication::{
    PeerAuthenticationSpec, gateway_listeners, workload_host, workload_listeners,
};
use server::*;
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
