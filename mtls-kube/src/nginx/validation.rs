//! An Ingress host's client validation: the `auth-tls-*` annotations, and the answers
//! ingress-nginx gives a failed verification.

use super::*;

pub(super) fn client_validation(
    ctx: &mut Ctx<'_>,
    r: &ObjectRef,
    ann: &Ann<'_>,
    states: &mut Vec<(String, RefState)>,
) -> Option<ClientValidation> {
    let verify = ann.get("auth-tls-verify-client");
    let Some(secret) = ann.get("auth-tls-secret") else {
        for key in ["auth-tls-verify-client", "auth-tls-verify-depth"] {
            if ann.get(key).is_some() {
                ctx.warn(
                    r,
                    field(key),
                    "ignored: ingress-nginx verifies client certificates only with auth-tls-secret",
                );
            }
        }
        return None;
    };
    let (mode, skip) = match verify.unwrap_or("on") {
        "on" => (ClientCertMode::Required, false),
        "optional" => (ClientCertMode::Optional, false),
        "optional_no_ca" => (ClientCertMode::Optional, true),
        "off" => return None,
        other => {
            ctx.warn(
                r,
                field("auth-tls-verify-client"),
                format!("unknown value {other:?}: treated as \"on\""),
            );
            (ClientCertMode::Required, false)
        }
    };
    let secret = secret_ref(secret, r.ns());
    let found = ctx.ca_bundle(&secret, Purpose::ClientCa, true, r);
    states.push((format!("CA {}", secret.name), found.state));
    let mut domain = TrustDomain::new(secret.name.clone(), found.ca);
    domain.crl = found.crl.map(|crl| CrlOptions::new(vec![crl]));
    // ingress-nginx's default depth is 1: the client certificate signed by a CA of the bundle.
    let depth = ann.get("auth-tls-verify-depth").unwrap_or("1");
    match depth.parse::<u8>() {
        Ok(d) if d >= 1 => domain.max_chain_depth = Some(d),
        _ => ctx.warn(
            r,
            field("auth-tls-verify-depth"),
            format!("{depth:?} is not a depth of at least 1: no limit is set"),
        ),
    }
    if skip {
        ctx.warn(r, field("auth-tls-verify-client"), "optional_no_ca: any client certificate passes unverified (danger.skip_client_cert_validation)");
    }
    let mut v = ClientValidation::default();
    v.mode = mode;
    v.trust = vec![domain];
    v.danger.skip_client_cert_validation = skip;
    Some(v)
}

/// ingress-nginx answers a failed verification with HTTP 400 and a fixed text.
pub(super) fn nginx_answers(ctx: &mut Ctx<'_>) {
    let port = ctx.opts.nginx_port;
    let answers = &mut ctx.listener(LISTENER, port).answers.0;
    let http = |message: &str| {
        let mut a = HttpAnswer::new(400);
        a.message = Some(message.into());
        Answer::Http(a)
    };
    answers.insert(
        DenyCode::NoCertificate,
        http("No required SSL certificate was sent"),
    );
    for code in [
        DenyCode::UnknownIssuer,
        DenyCode::UntrustedTrustDomain,
        DenyCode::Expired,
        DenyCode::NotYetValid,
        DenyCode::Revoked,
        DenyCode::RevocationUnknown,
        DenyCode::BadEku,
        DenyCode::ChainTooLong,
        DenyCode::BadSignature,
        DenyCode::InvalidCertificate,
    ] {
        answers.insert(code, http("The SSL certificate error"));
    }
}
