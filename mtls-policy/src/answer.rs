//! What a denial answers the client: a TLS alert, a closed connection, or an HTTP status.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::reason::{DenyCode, DenyReason};

/// A TLS alert, named as in RFC 8446 (our own type: no rustls type in this API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TlsAlert {
    /// `certificate_required` (116): TLS 1.3, no client certificate.
    CertificateRequired,
    /// `bad_certificate` (42).
    BadCertificate,
    /// `unsupported_certificate` (43).
    UnsupportedCertificate,
    /// `certificate_revoked` (44).
    CertificateRevoked,
    /// `certificate_expired` (45).
    CertificateExpired,
    /// `certificate_unknown` (46).
    CertificateUnknown,
    /// `unknown_ca` (48).
    UnknownCa,
    /// `access_denied` (49).
    AccessDenied,
    /// `decrypt_error` (51).
    DecryptError,
    /// `handshake_failure` (40).
    HandshakeFailure,
}

impl TlsAlert {
    /// The alert's code point.
    pub fn code(self) -> u8 {
        match self {
            Self::CertificateRequired => 116,
            Self::BadCertificate => 42,
            Self::UnsupportedCertificate => 43,
            Self::CertificateRevoked => 44,
            Self::CertificateExpired => 45,
            Self::CertificateUnknown => 46,
            Self::UnknownCa => 48,
            Self::AccessDenied => 49,
            Self::DecryptError => 51,
            Self::HandshakeFailure => 40,
        }
    }
}

/// The body format of an HTTP answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BodyFormat {
    /// `text/plain`: the reason's sentence.
    #[default]
    Text,
    /// `application/problem+json` (RFC 9457) with the code and the sentence.
    ProblemJson,
}

/// An HTTP answer: status and body format. Over TLS it needs a completed handshake (AGC
/// completes it to answer a revoked certificate with 400).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpAnswer {
    /// The status (400, 403, 421, nginx's 495 / 496, ...).
    pub status: u16,
    /// The body format.
    #[serde(default)]
    pub format: BodyFormat,
    /// A fixed message instead of the reason's sentence (nginx: `The SSL certificate error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl HttpAnswer {
    /// A status with a text body stating the reason.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            format: BodyFormat::Text,
            message: None,
        }
    }
}

/// What a denial answers.
///
/// In YAML: `{ tls_alert: certificate_required }`, `{ close: true }`, `{ http: { status: 400 } }`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "AnswerRepr", into = "AnswerRepr")]
#[non_exhaustive]
pub enum Answer {
    /// Abort the handshake with this alert.
    TlsAlert(TlsAlert),
    /// Close the connection without a word.
    Close,
    /// Answer with an HTTP response.
    Http(HttpAnswer),
}

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerRepr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls_alert: Option<TlsAlert>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    close: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http: Option<HttpAnswer>,
}

impl TryFrom<AnswerRepr> for Answer {
    type Error = String;
    fn try_from(r: AnswerRepr) -> Result<Self, String> {
        crate::one_of::exactly_one(vec![
            ("tls_alert", r.tls_alert.map(Self::TlsAlert)),
            ("close", r.close.then_some(Self::Close)),
            ("http", r.http.map(Self::Http)),
        ])
    }
}

impl From<Answer> for AnswerRepr {
    fn from(a: Answer) -> Self {
        match a {
            Answer::TlsAlert(t) => Self {
                tls_alert: Some(t),
                ..Self::default()
            },
            Answer::Close => Self {
                close: true,
                ..Self::default()
            },
            Answer::Http(h) => Self {
                http: Some(h),
                ..Self::default()
            },
        }
    }
}

impl Answer {
    /// The default answer for a code, following the seeds: missing certificate under
    /// `required` → alert `certificate_required` (AGC); revoked → HTTP 400 with the reason
    /// (AGC); identity not allowed → HTTP 403 (osm-edge); SNI/Host mismatch → HTTP 421;
    /// plaintext under STRICT → close. A host with
    /// [`EnforceAt::Request`](crate::EnforceAt::Request) answers the certificate reasons whose
    /// default is an alert with [`default_at_request`](Self::default_at_request) instead.
    pub fn default_for(code: DenyCode) -> Self {
        use DenyCode as C;
        let alert = Self::TlsAlert;
        match code {
            C::NoCertificate => alert(TlsAlert::CertificateRequired),
            C::UnknownIssuer | C::UntrustedTrustDomain | C::ChainTooLong => {
                alert(TlsAlert::UnknownCa)
            }
            C::Expired => alert(TlsAlert::CertificateExpired),
            C::NotYetValid | C::InvalidCertificate => alert(TlsAlert::BadCertificate),
            C::Revoked => Self::Http(HttpAnswer::new(400)),
            C::RevocationUnknown | C::CrlExpired => alert(TlsAlert::CertificateUnknown),
            C::BadEku => alert(TlsAlert::UnsupportedCertificate),
            C::BadSignature => alert(TlsAlert::DecryptError),
            C::PinMismatch | C::IssuerNotAllowedForIdentity => alert(TlsAlert::AccessDenied),
            C::IdentityNotAllowed => Self::Http(HttpAnswer::new(403)),
            C::SniHostMismatch => Self::Http(HttpAnswer::new(421)),
            C::BadRequest => Self::Http(HttpAnswer::new(400)),
            C::PlaintextNotAllowed | C::NoListener => Self::Close,
        }
    }

    /// The HTTP response for a reason, if this answer is HTTP.
    pub fn http_response(&self, reason: &DenyReason) -> Option<HttpResponse> {
        let Self::Http(h) = self else { return None };
        let detail = h.message.clone().unwrap_or_else(|| reason.to_string());
        let (content_type, body) = match h.format {
            BodyFormat::Text => ("text/plain; charset=utf-8", format!("{detail}\n")),
            BodyFormat::ProblemJson => {
                let v = serde_json::json!({
                    "type": format!("urn:mtls:deny:{}", reason.code()),
                    "title": reason.code().replace('_', " "),
                    "status": h.status,
                    "detail": detail,
                    "code": reason.code(),
                });
                ("application/problem+json", v.to_string())
            }
        };
        Some(HttpResponse {
            status: h.status,
            content_type,
            body,
        })
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TlsAlert(a) => write!(f, "TLS alert {a:?} ({})", a.code()),
            Self::Close => f.write_str("close"),
            Self::Http(h) => write!(f, "HTTP {}", h.status),
        }
    }
}

/// A rendered HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpResponse {
    /// The status.
    pub status: u16,
    /// The `content-type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

/// Answers chosen per code: overrides on top of [`Answer::default_for`]. An answer the TLS
/// layer or the layer could not give is refused when the policy is compiled
/// ([`crate::enforce`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Answers(pub BTreeMap<DenyCode, Answer>);

impl<'de> Deserialize<'de> for Answers {
    /// Keys are read as strings first, so error paths name them (`answers.revoked`).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, Answer>::deserialize(d)?;
        let mut out = BTreeMap::new();
        for (k, v) in raw {
            let code = k.parse::<DenyCode>().map_err(serde::de::Error::custom)?;
            out.insert(code, v);
        }
        Ok(Self(out))
    }
}

impl Answers {
    /// Whether no answer is overridden.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The answer for a code: the override, else `fallback`'s, else the default.
    pub fn get(&self, code: DenyCode, fallback: &Self) -> Answer {
        self.0
            .get(&code)
            .or_else(|| fallback.0.get(&code))
            .cloned()
            .unwrap_or_else(|| Answer::default_for(code))
    }
}
