//! osm-edge `policy.openservicemesh.io/v1alpha1` IngressBackend: a backend that accepts only
//! its ingress controller.
//!
//! | osm-edge | ours |
//! |---|---|
//! | `backends[]` (`port.number`, protocol `https`) | listener `osm-<name>-<port>`, client certificate required, CA `Options::osm_ca_bundle` |
//! | `backends[].tls.sniHosts` | the host's `hostnames` (other SNIs refused) |
//! | `backends[].tls.skipClientCertValidation` | `danger.skip_client_cert_validation` |
//! | `sources[kind: AuthenticatedPrincipal].name` | the host's route `authorization.principals` (else HTTP 403), to the backend's Service |
//! | `sources[kind: Service / IPRange]` | not supported (authorization is by certificate identity) |

use mtls_policy::{
    Authorization, BackendConfig, ClientCertMode, ClientValidation, RouteConfig, TrustDomain,
    UnknownSni,
};
use serde::Deserialize;

use crate::manifest::{Kind, Object};
use crate::model::{ObjectRef, Purpose};
use crate::translate::{Ctx, HostDraft, accepted, resolved_refs};

#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct IngressBackendSpec {
    #[serde(default)]
    backends: Vec<OsmBackend>,
    #[serde(default)]
    sources: Vec<Source>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct OsmBackend {
    #[serde(default)]
    name: String,
    #[serde(default)]
    port: OsmPort,
    #[serde(default)]
    tls: Option<OsmTls>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct OsmPort {
    #[serde(default)]
    number: u32,
    #[serde(default)]
    protocol: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OsmTls {
    #[serde(default)]
    skip_client_cert_validation: bool,
    #[serde(default)]
    sni_hosts: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct Source {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    #[allow(dead_code)] // Service sources are not translated.
    namespace: Option<String>,
}

pub(crate) fn translate(ctx: &mut Ctx<'_>, objects: &[Object]) {
    for o in objects {
        if let Kind::IngressBackend(spec) = &o.kind {
            ingress_backend(ctx, o, spec);
        }
    }
}

fn ingress_backend(ctx: &mut Ctx<'_>, o: &Object, spec: &IngressBackendSpec) {
    let r = &o.reference;
    let ns = r.ns().to_string();
    let mut principals = Vec::new();
    for (i, s) in spec.sources.iter().enumerate() {
        match s.kind.as_str() {
            "AuthenticatedPrincipal" => principals.push(s.name.clone()),
            "Service" | "IPRange" => ctx.warn(r, format!("spec.sources[{i}]"), format!(
                "{} sources authorize by client IP address, which is not supported: clients are authorized by their certificate's identity (AuthenticatedPrincipal)", s.kind
            )),
            other => ctx.warn(r, format!("spec.sources[{i}].kind"), format!("unknown kind {other:?}: not translated")),
        }
    }
    let mut states = Vec::new();
    for (i, b) in spec.backends.iter().enumerate() {
        let at = format!("spec.backends[{i}]");
        let Some(port) = u16::try_from(b.port.number).ok().filter(|p| *p != 0) else {
            ctx.warn(
                r,
                format!("{at}.port.number"),
                "not a port number: this backend is not translated",
            );
            continue;
        };
        let protocol = b
            .port
            .protocol
            .clone()
            .unwrap_or_else(|| "http".into())
            .to_ascii_lowercase();
        if protocol != "https" {
            ctx.warn(r, format!("{at}.port.protocol"), format!(
                "{protocol} ingress is authorized by source IP in osm-edge, which is not supported: only https backends are translated"
            ));
            continue;
        }
        let tls = b.tls.clone().unwrap_or_default();
        let listener = format!("osm-{}-{port}", b.name);
        let cert_secret = ObjectRef::new("Secret", &ns, format!("{}-osm-server-cert", b.name));
        ctx.warn(r, format!("{at}.tls"), format!(
            "osm-edge's sidecar serves a mesh-issued certificate; the gateway reads it from {cert_secret} (tls.crt, tls.key)"
        ));
        let (certificate, state) = ctx.server_certificate(&cert_secret, r);
        states.push((format!("certificate {}", cert_secret.name), state));
        let ca = ctx.opts.osm_ca_bundle.clone();
        let found = ctx.ca_bundle(&ca, Purpose::ClientCa, false, r);
        states.push((format!("CA {}", ca.name), found.state));
        let mut v = ClientValidation::default();
        v.mode = ClientCertMode::Required;
        v.trust = vec![TrustDomain::new("osm-mesh", found.ca)];
        v.danger.skip_client_cert_validation = tls.skip_client_cert_validation;
        if tls.skip_client_cert_validation {
            ctx.warn(r, format!("{at}.tls.skipClientCertValidation"), "any client certificate passes unverified (danger.skip_client_cert_validation); the principals still apply");
        }
        // The application behind osm's sidecar, which this listener stands in for.
        let backend = format!("osm-{ns}-{}-{port}", b.name);
        let mut route = RouteConfig::prefix("/").named(&b.name).backend(&backend);
        if principals.is_empty() {
            ctx.warn(
                r,
                "spec.sources",
                "no AuthenticatedPrincipal: any client with a verified certificate is let in",
            );
        } else {
            route = route.authorization(Authorization::principals(principals.clone()));
        }
        let host = HostDraft {
            hostnames: tls.sni_hosts.clone(),
            certificate,
            validation: Some(v),
            routes: vec![route],
            origin: r.clone(),
        };
        if ctx.add_host(&listener, port, host, &at).is_err() {
            continue;
        }
        if !tls.sni_hosts.is_empty() {
            ctx.listener(&listener, port).unknown_sni = UnknownSni::Refuse;
        }
        let url = ctx.service_url("http", &ns, &b.name, port);
        ctx.backend(&backend, BackendConfig::new(url));
    }
    ctx.status(
        r,
        None,
        vec![
            accepted(),
            resolved_refs(&states, "InvalidCACertificateRef"),
        ],
    );
}
