//! An Ingress's upstream: `backend-protocol` and the `proxy-ssl-*` annotations (CA, client
//! certificate, name), also as a configuration snippet writes them.

use super::*;

/// The upstream scheme per `backend-protocol`, and whether it is HTTP/2 only (gRPC).
pub(super) fn backend_scheme(
    ctx: &mut Ctx<'_>,
    r: &ObjectRef,
    ann: &Ann<'_>,
) -> Option<(&'static str, bool)> {
    match ann
        .get("backend-protocol")
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("HTTP") => Some(("http", false)),
        Some("HTTPS") => Some(("https", false)),
        Some("GRPC") => Some(("http", true)),
        Some("GRPCS") => Some(("https", false)),
        Some(other) => {
            ctx.warn(r, field("backend-protocol"), format!("{other} is not supported (HTTP, HTTPS, GRPC, GRPCS are): its paths are not translated"));
            None
        }
    }
}

pub(super) fn upstream_tls(
    ctx: &mut Ctx<'_>,
    r: &ObjectRef,
    ann: &Ann<'_>,
    states: &mut Vec<(String, RefState)>,
) -> BackendTls {
    let verify = ann.get("proxy-ssl-verify").unwrap_or("off");
    let secret = match ann.get("proxy-ssl-secret") {
        Some(s) => secret_ref(s, r.ns()),
        None => {
            let placeholder = ObjectRef::new("Secret", r.ns(), format!("{}-upstream-ca", r.name));
            ctx.warn(r, field("backend-protocol"), format!(
                "HTTPS upstreams are always verified here, and no proxy-ssl-secret names a CA: create {placeholder} with ca.crt"
            ));
            placeholder
        }
    };
    if verify != "on" {
        ctx.warn(r, field("proxy-ssl-verify"), format!(
            "{verify:?}: the gateway always verifies the upstream's certificate, against ca.crt of {secret}"
        ));
    }
    let found = ctx.ca_bundle(&secret, Purpose::UpstreamCa, false, r);
    states.push((format!("CA {}", secret.name), found.state));
    let missing = ctx.missing_state();
    let mut tls = BackendTls::new(found.ca);
    if ann.get("proxy-ssl-secret").is_some() {
        let (keys, state) = ctx.secrets.certificate(&secret, &missing);
        let has_cert = !matches!(state, RefState::Invalid { .. });
        if has_cert {
            ctx.credential(
                &secret,
                Purpose::UpstreamClientCertificate,
                &keys,
                r,
                &state,
            );
            tls.client_certificate = Some(CertificateSource::files(
                ctx.file(&secret, keys[0]),
                ctx.file(&secret, keys[1]),
            ));
        }
    }
    tls.expected_name = ann.get("proxy-ssl-name").map(str::to_string).or_else(|| {
        let snippet = ann.get("configuration-snippet")?;
        snippet_ssl_name(snippet)
    });
    if let Some(snippet) = ann.get("configuration-snippet") {
        let rest: Vec<&str> = snippet
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("proxy_ssl_name"))
            .collect();
        if !rest.is_empty() {
            ctx.warn(
                r,
                field("configuration-snippet"),
                format!(
                    "not translated (only proxy_ssl_name is read): {}",
                    rest.join(" ")
                ),
            );
        }
    }
    if ann.get("proxy-ssl-server-name") == Some("off") {
        ctx.warn(
            r,
            field("proxy-ssl-server-name"),
            "the gateway always sends the expected name as SNI",
        );
    }
    tls
}

/// `proxy_ssl_name "name";` in a configuration snippet.
pub(super) fn snippet_ssl_name(snippet: &str) -> Option<String> {
    snippet.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("proxy_ssl_name")?;
        let name = rest
            .trim()
            .trim_end_matches(';')
            .trim()
            .trim_matches('"')
            .trim_matches('\'');
        (!name.is_empty()).then(|| name.to_string())
    })
}
