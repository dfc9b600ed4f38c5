//! One Istio `Gateway` server: its hosts, certificate and client validation (the CA and CRL
//! of its Secrets, `subjectAltNames`, pins, TLS version).

use super::*;

/// The namespace of the Secrets a Gateway's `credentialName`s name: the gateway workload's.
pub(super) fn credential_namespace(ctx: &mut Ctx<'_>, r: &ObjectRef, at: &str) -> String {
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

pub(super) fn reason_of(states: &[(String, RefState)]) -> &'static str {
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
pub(super) fn server(
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
pub(super) fn client_ca(
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
    let found = ctx.ca_bundle(&secret, Purpose::ClientCa, true, r);
    states.push((format!("CA {}", secret.name), found.state));
    Ok((found.ca, found.crl))
}
