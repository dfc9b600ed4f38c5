//! One Gateway listener: its hosts, certificate and client validation.

use super::*;

/// Translates one Gateway listener; returns our listener's name and port.
pub(super) fn listener(
    ctx: &mut Ctx<'_>,
    o: &Object,
    l: &GwListener,
    at: &str,
    asked: Option<Asked>,
) -> Option<(String, u16)> {
    let r = &o.reference;
    let section = Some(l.name.as_str());
    let reject = |ctx: &mut Ctx<'_>, field: String, reason: &str, why: String| {
        ctx.warn(r, field, format!("{why}; this listener is not translated"));
        ctx.status(
            r,
            section,
            vec![Condition::new(
                "Accepted",
                ConditionStatus::False,
                reason,
                why,
            )],
        );
        None
    };
    let Some(port) = u16::try_from(l.port).ok().filter(|p| *p != 0) else {
        return reject(
            ctx,
            format!("{at}.port"),
            "UnsupportedValue",
            format!("{} is not a port", l.port),
        );
    };
    if l.protocol != "HTTPS" {
        return reject(
            ctx,
            format!("{at}.protocol"),
            "UnsupportedProtocol",
            format!(
                "protocol {:?} is not supported: the gateway terminates TLS for HTTP (HTTPS listeners)",
                l.protocol
            ),
        );
    }
    let Some(tls) = &l.tls else {
        return reject(
            ctx,
            format!("{at}.tls"),
            "Invalid",
            "an HTTPS listener needs `tls`".into(),
        );
    };
    if let Some(mode) = tls.mode.as_deref().filter(|m| *m != "Terminate") {
        return reject(
            ctx,
            format!("{at}.tls.mode"),
            "UnsupportedValue",
            format!(
                "{mode} is not supported: the gateway terminates TLS to enforce client-certificate policy"
            ),
        );
    }
    for key in tls
        .options
        .keys()
        .filter(|k| *k != "gateway.istio.io/tls-terminate-mode")
    {
        ctx.warn(r, format!("{at}.tls.options[{key}]"), "not translated");
    }
    let Some(cert_ref) = tls.certificate_refs.first() else {
        return reject(
            ctx,
            format!("{at}.tls.certificateRefs"),
            "InvalidCertificateRef",
            "no certificateRefs".into(),
        );
    };
    if tls.certificate_refs.len() > 1 {
        ctx.warn(
            r,
            format!("{at}.tls.certificateRefs"),
            "one certificate per host is served: the first; the others are not",
        );
    }
    let name = format!("{}-{port}", r.name);
    let hostnames: Vec<String> = l.hostname.iter().cloned().collect();
    let mut states = Vec::new();
    let secret = object_ref(cert_ref, "Secret", r.ns());
    if secret.ns() != r.ns() {
        ctx.warn(
            r,
            format!("{at}.tls.certificateRefs[0]"),
            "a cross-namespace reference: the ReferenceGrant that must allow it is not checked",
        );
    }
    let (certificate, state) = ctx.server_certificate(&secret, r);
    let cert_ok = !matches!(state, RefState::Invalid { .. });
    states.push((format!("certificate {}", secret.name), state));
    let mut ca_reason = "InvalidCACertificateRef";
    let mut accepted_cond = accepted();
    let validation = asked.map(|a| {
        let mut sources = Vec::new();
        let mut crls = Vec::new();
        let mut valid = 0;
        for (i, cref) in a.refs.iter().enumerate() {
            let target = object_ref(cref, a.default_kind, r.ns());
            if !matches!(target.kind.as_str(), "ConfigMap" | "Secret")
                || cref.group.as_deref().is_some_and(|g| !g.is_empty())
            {
                ctx.warn(
                    &a.object,
                    format!("{}[{i}].kind", a.field),
                    format!(
                        "kind {} is not supported (ConfigMap, Secret are)",
                        target.kind
                    ),
                );
                ca_reason = "InvalidCACertificateKind";
                states.push((
                    format!("CA {}", target.name),
                    RefState::Invalid {
                        reason: format!("kind {}", target.kind),
                    },
                ));
                continue;
            }
            let found = ctx.ca_bundle(&target, Purpose::ClientCa, true, &a.object);
            if !matches!(found.state, RefState::Invalid { .. }) {
                valid += 1;
            }
            states.push((format!("CA {}", target.name), found.state));
            sources.push(found.ca);
            crls.extend(found.crl);
        }
        if valid == 0 {
            accepted_cond = Condition::new(
                "Accepted",
                ConditionStatus::False,
                "NoValidCACertificate",
                "no CA certificate reference is valid",
            );
        }
        let mut domain = TrustDomain::new(
            a.refs
                .first()
                .map_or_else(|| "clients".to_string(), |c| c.name.clone()),
            TrustSource::Pem(String::new()),
        );
        domain.ca = sources;
        if !crls.is_empty() {
            domain.crl = Some(CrlOptions::new(crls));
        }
        if !a.sans.is_empty() {
            let mut spec = IdentityMatchSpec::default();
            spec.rules = a.sans.iter().map(|s| san_rule(s)).collect();
            domain.may_vouch_for = Some(spec);
        }
        if a.agc {
            // AGC answers a revoked certificate with HTTP 400 and the reason.
            ctx.listener(&name, port)
                .answers
                .0
                .insert(DenyCode::Revoked, Answer::Http(HttpAnswer::new(400)));
        }
        let mut v = ClientValidation::default();
        v.mode = a.mode;
        v.trust = if domain.ca.is_empty() {
            Vec::new()
        } else {
            vec![domain]
        };
        v.danger.skip_client_cert_validation = a.skip;
        if v.trust.is_empty() && !a.skip {
            // Nothing to verify against: refuse every client certificate rather than none.
            v.mode = ClientCertMode::Required;
            v.trust = vec![TrustDomain::new(
                "no-valid-ca",
                TrustSource::File(ctx.opts.mount_root.join("no-valid-ca.pem")),
            )];
        }
        v
    });
    let host = HostDraft {
        hostnames,
        certificate,
        validation,
        routes: Vec::new(),
        origin: r.clone(),
    };
    let refused = match ctx.add_host(&name, port, host, &format!("{at}.hostname")) {
        Ok(()) => None,
        Err(Refused::Taken) => Some((
            "HostnameConflict",
            "another listener serves this hostname on this port".to_string(),
        )),
        Err(Refused::Invalid(why)) => Some(("UnsupportedValue", why)),
    };
    if let Some((reason, message)) = refused {
        let condition = Condition::new("Accepted", ConditionStatus::False, reason, message);
        ctx.status(r, section, vec![condition]);
        return None;
    }
    let reason = if cert_ok {
        ca_reason
    } else {
        "InvalidCertificateRef"
    };
    ctx.status(
        r,
        section,
        vec![accepted_cond, resolved_refs(&states, reason)],
    );
    Some((name, port))
}
