//! Where a host answers its certificate reasons ([`EnforceAt`]), and which answer each reason
//! can be given: checked when a policy is compiled, so that every configured answer is the one
//! the client gets.

use serde::{Deserialize, Serialize};

use crate::answer::{Answer, HttpAnswer, TlsAlert};
use crate::reason::DenyCode;

/// Where a host answers the reasons of its client certificate (missing, failing verification,
/// pins, issuer scope).
///
/// In YAML, under `client_validation`: `enforce_at: handshake` (the default) or
/// `enforce_at: request`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EnforceAt {
    /// A reason answered by a TLS alert ends the handshake with that alert; a reason answered
    /// over HTTP lets the handshake complete and every request gets the answer.
    #[default]
    Handshake,
    /// The handshake accepts a missing or failing certificate and every request is answered
    /// over HTTP, per reason (nginx `ssl_verify_client optional_no_ca` with
    /// `$ssl_client_verify`). Reasons left to their default answer get `496` (no
    /// certificate), `495` (a certificate that failed verification) or `403` (pins, trust
    /// domain, issuer scope); a TLS alert configured for one of them is a load error.
    Request,
}

impl EnforceAt {
    /// `handshake` or `request`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Handshake => "handshake",
            Self::Request => "request",
        }
    }
}

/// When a reason is known, which bounds the answers it can get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Before any TLS: a plaintext connection, a port or name nobody serves.
    Connection,
    /// No client certificate in the handshake.
    NoCertificate,
    /// A presented certificate: its verification, trust domain, pins, issuer scope.
    Certificate,
    /// Only an HTTP request tells: its route, its Host, its path.
    Request,
}

fn stage(code: DenyCode) -> Stage {
    use DenyCode as C;
    match code {
        C::PlaintextNotAllowed | C::NoListener => Stage::Connection,
        C::NoCertificate => Stage::NoCertificate,
        C::IdentityNotAllowed | C::SniHostMismatch | C::BadRequest => Stage::Request,
        _ => Stage::Certificate,
    }
}

/// Whether `code` is a reason of the client certificate, which a host's [`EnforceAt`]
/// places at the handshake or at the request.
pub fn is_certificate_reason(code: DenyCode) -> bool {
    matches!(stage(code), Stage::NoCertificate | Stage::Certificate)
}

impl Answer {
    /// The answer a host with [`EnforceAt::Request`] gives a certificate reason whose answer
    /// is not configured: `496` without a certificate, `403` for pins, trust domain and issuer
    /// scope, `495` for a certificate that failed verification (nginx's codes).
    pub fn default_at_request(code: DenyCode) -> Self {
        use DenyCode as C;
        let status = match code {
            C::NoCertificate => 496,
            C::PinMismatch | C::IssuerNotAllowedForIdentity | C::UntrustedTrustDomain => 403,
            _ => 495,
        };
        Self::Http(HttpAnswer::new(status))
    }
}

/// Why `answer` cannot be given for `code` on a host enforcing at `at`, if it cannot. The
/// message says what the client would otherwise get, and what to write instead.
pub(crate) fn refusal(code: DenyCode, answer: &Answer, at: EnforceAt) -> Option<String> {
    let stage = stage(code);
    match answer {
        Answer::Http(_) => None,
        Answer::Close => match stage {
            Stage::Connection => None,
            Stage::NoCertificate | Stage::Certificate => Some(format!(
                "`close` cannot answer `{code}`: a TLS handshake ends with an alert or completes; \
                 answer with `tls_alert` or `http`"
            )),
            Stage::Request => Some(format!(
                "`close` cannot answer `{code}`: it is known at the HTTP request, which is \
                 answered over HTTP; answer with `http`"
            )),
        },
        Answer::TlsAlert(alert) => {
            let name = alert_name(*alert);
            let code_point = alert.code();
            match stage {
                Stage::Connection => Some(format!(
                    "TLS alert {name} ({code_point}) cannot answer `{code}`: it is known before \
                     any TLS handshake; answer with `close` or `http`"
                )),
                Stage::Request => Some(format!(
                    "TLS alert {name} ({code_point}) cannot answer `{code}`: it is known only at \
                     the HTTP request, after the handshake; answer with `http`"
                )),
                _ if at == EnforceAt::Request => Some(format!(
                    "TLS alert {name} ({code_point}) cannot answer `{code}` on a host with \
                     `enforce_at: request`, whose handshake accepts any certificate; answer with \
                     `http`, or enforce at the handshake"
                )),
                Stage::NoCertificate if *alert != TlsAlert::CertificateRequired => Some(format!(
                    "TLS alert {name} ({code_point}) cannot answer `{code}`: a handshake without a \
                     client certificate ends with certificate_required (116) only (rustls sends \
                     no other alert there); answer with `{{ tls_alert: certificate_required }}`, \
                     or with `http` (the handshake then completes and each request gets it)"
                )),
                Stage::Certificate if *alert == TlsAlert::CertificateRequired => Some(format!(
                    "TLS alert {name} ({code_point}) cannot answer `{code}`: it says no \
                     certificate was sent, and one was; choose another alert (bad_certificate, \
                     certificate_revoked, certificate_expired, certificate_unknown, unknown_ca, \
                     access_denied, ...) or `http`"
                )),
                _ => None,
            }
        }
    }
}

/// The alert's RFC 8446 name, as written in the configuration.
pub(crate) fn alert_name(alert: TlsAlert) -> String {
    serde_json::to_value(alert)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{alert:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_answer_can_be_given_at_the_handshake() {
        for code in DenyCode::ALL {
            let answer = Answer::default_for(code);
            assert_eq!(refusal(code, &answer, EnforceAt::Handshake), None, "{code}");
            if is_certificate_reason(code) {
                let at_request = Answer::default_at_request(code);
                assert_eq!(
                    refusal(code, &at_request, EnforceAt::Request),
                    None,
                    "{code}"
                );
            }
        }
    }
}
