//! Why an OCSP request could not be built, or a response was not accepted.

use std::fmt;

use rustls_pki_types::UnixTime;

use super::time::Rfc3339;

/// Why an [`OcspRequest`](super::OcspRequest) could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OcspRequestError {
    /// The certificate or its issuer's certificate is not a readable X.509 certificate.
    #[error("the {which} certificate is unreadable: {detail}")]
    Certificate {
        /// `"client"` or `"issuer"`.
        which: &'static str,
        /// What the parser said.
        detail: String,
    },
    /// The certificate's issuer name is not the subject name of the issuer certificate given.
    #[error(
        "the certificate was issued by {cert_issuer}, not by {issuer_subject} (the issuer \
         certificate given)"
    )]
    IssuerMismatch {
        /// The certificate's issuer (RFC 4514).
        cert_issuer: String,
        /// The subject of the issuer certificate given (RFC 4514).
        issuer_subject: String,
    },
    /// A nonce must be 1 to 32 bytes long (RFC 8954).
    #[error("an OCSP nonce must be 1 to 32 bytes long, not {len}")]
    NonceLength {
        /// The length given.
        len: usize,
    },
    /// The crypto provider gave no random bytes for a nonce.
    #[error("the crypto provider gave no random bytes for the OCSP nonce")]
    Random,
    /// No certificate was given to take as the certificate's issuer.
    #[error("no issuer certificate to build the OCSP request with")]
    NoIssuer,
}

/// The responseStatus of an OCSP response that carries no certificate status (RFC 6960 4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponderStatus {
    /// `malformedRequest` (1): the responder could not read the request.
    MalformedRequest,
    /// `internalError` (2).
    InternalError,
    /// `tryLater` (3).
    TryLater,
    /// `sigRequired` (5): the responder wants signed requests.
    SigRequired,
    /// `unauthorized` (6): the responder does not answer for this issuer.
    Unauthorized,
    /// A value RFC 6960 does not define.
    Other(u8),
}

impl ResponderStatus {
    /// The status of a responseStatus value other than `successful` (0).
    pub(crate) fn from_value(value: u8) -> Self {
        match value {
            1 => Self::MalformedRequest,
            2 => Self::InternalError,
            3 => Self::TryLater,
            5 => Self::SigRequired,
            6 => Self::Unauthorized,
            other => Self::Other(other),
        }
    }
}

impl fmt::Display for ResponderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MalformedRequest => f.write_str("malformedRequest (1)"),
            Self::InternalError => f.write_str("internalError (2)"),
            Self::TryLater => f.write_str("tryLater (3)"),
            Self::SigRequired => f.write_str("sigRequired (5)"),
            Self::Unauthorized => f.write_str("unauthorized (6)"),
            Self::Other(value) => write!(f, "an undefined status ({value})"),
        }
    }
}

/// Why a delegated responder certificate may not sign responses for the issuer (RFC 6960
/// 4.2.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delegation {
    /// The responder certificate was not issued (signed) by the certificate's issuer.
    NotIssuedByIssuer,
    /// Its extendedKeyUsage does not include id-kp-OCSPSigning.
    NoOcspSigning,
    /// It is outside its validity period at the time of verification.
    OutsideValidity,
}

impl fmt::Display for Delegation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotIssuedByIssuer => "it was not issued by the certificate's issuer",
            Self::NoOcspSigning => "its extendedKeyUsage lacks id-kp-OCSPSigning",
            Self::OutsideValidity => "it is outside its validity period",
        })
    }
}

/// Why an OCSP response was not accepted as the status of a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OcspError {
    /// The response is larger than the verifier accepts.
    #[error("OCSP response of {len} bytes is larger than the {max} bytes accepted")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The response is not a well-formed OCSP response.
    #[error("malformed OCSP response: {what}")]
    Malformed {
        /// The part that could not be read.
        what: &'static str,
    },
    /// The responder answered without a certificate status.
    #[error("the OCSP responder answered {status}, with no certificate status")]
    Unsuccessful {
        /// The responseStatus.
        status: ResponderStatus,
    },
    /// The response is not a basic OCSP response (id-pkix-ocsp-basic).
    #[error("unsupported OCSP response type {oid}; only id-pkix-ocsp-basic is read")]
    UnsupportedResponseType {
        /// The responseType OID (dotted).
        oid: String,
    },
    /// The response carries an extension marked critical that is not understood.
    #[error("the OCSP response carries an unknown critical extension {oid}")]
    UnknownCriticalExtension {
        /// The extension's OID (dotted).
        oid: String,
    },
    /// The responderID names neither the issuer nor a certificate included in the response.
    #[error(
        "the OCSP response was signed by {responder}, which is neither the certificate's \
         issuer nor a responder certificate included in the response"
    )]
    UnknownResponder {
        /// The responderID: a name (RFC 4514) or `key <SHA-1 hex>`.
        responder: String,
    },
    /// The response was signed by a delegated responder the issuer did not authorise.
    #[error(
        "the OCSP response was signed by {responder}, which may not sign for the issuer: {why}"
    )]
    UnauthorizedResponder {
        /// The responder certificate's subject (RFC 4514).
        responder: String,
        /// What its certificate lacks.
        why: Delegation,
    },
    /// The response's signature does not verify with the signer's key.
    #[error("the OCSP response's signature by {signer} does not verify: {detail}")]
    BadSignature {
        /// `the issuer` or the delegated responder's subject (RFC 4514).
        signer: String,
        /// Why.
        detail: String,
    },
    /// The response gives no status for the certificate asked about.
    #[error(
        "the OCSP response is for another certificate: asked about serial {serial}, answered \
         for {answered}"
    )]
    ForAnotherCertificate {
        /// The serial asked about (hex).
        serial: String,
        /// What the response's certIDs name (serials in hex, `serial (other issuer)` when the
        /// issuer hashes differ).
        answered: String,
    },
    /// The status's thisUpdate is later than now plus the allowed clock skew.
    #[error("the OCSP response is not yet valid: thisUpdate {} is after {}", Rfc3339(*this_update), Rfc3339(*now))]
    NotYetValid {
        /// thisUpdate.
        this_update: UnixTime,
        /// The time of verification.
        now: UnixTime,
    },
    /// The status is past its nextUpdate (or, without one, older than the maximum age).
    #[error(
        "the OCSP response is stale: {} {} is before {}",
        if *next_update_given { "nextUpdate" } else { "thisUpdate plus the maximum age," },
        Rfc3339(*valid_until),
        Rfc3339(*now)
    )]
    Stale {
        /// nextUpdate, or thisUpdate plus the maximum age.
        valid_until: UnixTime,
        /// Whether the response gave a nextUpdate.
        next_update_given: bool,
        /// The time of verification.
        now: UnixTime,
    },
    /// A nonce was sent and the response does not echo one.
    #[error("the OCSP request carried a nonce and the response has none (a replayed response?)")]
    NonceMissing,
    /// The response echoes a nonce other than the one sent.
    #[error("the OCSP response's nonce is not the one sent (a replayed response?)")]
    NonceMismatch,
}

/// Dotted form of an OID's DER contents, or its hex when it does not decode.
pub(crate) fn dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &b in oid {
        if value > u64::MAX >> 8 {
            return hex(oid);
        }
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    if arcs.is_empty() || oid.last().is_some_and(|b| b & 0x80 != 0) {
        return hex(oid);
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// Lower-case hex of `bytes`, colon-free.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An X.501 Name's DER as RFC 4514, or its hex when unreadable.
pub(crate) fn name(der: &[u8]) -> String {
    use x509_parser::prelude::FromDer as _;
    match x509_parser::x509::X509Name::from_der(der) {
        Ok((_, name)) => name.to_string(),
        Err(_) => format!("a name that does not decode ({})", hex(der)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_read_dotted() {
        assert_eq!(
            dotted(&[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01]),
            "1.3.6.1.5.5.7.48.1.1"
        );
        assert_eq!(
            dotted(&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01]),
            "2.16.840.1.101.3.4.2.1"
        );
        assert_eq!(dotted(&[0x2b, 0x86]), "2b86");
        assert_eq!(dotted(&[]), "");
    }
}
