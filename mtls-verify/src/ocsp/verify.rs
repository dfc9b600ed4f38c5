//! Judging an OCSP response: who signed it, whether it answers for the certificate asked
//! about, whether it is current, whether it echoes the nonce.

use std::time::Duration;

use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls_pki_types::UnixTime;
use webpki::RevocationReason;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::error::{Delegation, OcspError, hex, name};
use super::request::{OcspRequest, digest};
use super::response::{self, BasicResponse, RawStatus, ResponderId, SingleResponse};
use crate::der;

/// The largest response accepted by default.
pub const DEFAULT_MAX_RESPONSE_LEN: usize = 64 * 1024;
/// The clock skew allowed by default, as OpenSSL's `OCSP_check_validity` does.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
/// How long a response without nextUpdate counts after its thisUpdate, by default.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60 * 60);

/// SHA-1's OID (DER contents): a responderID byKey is the SHA-1 of the responder's key.
const SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];

/// The status of a certificate in a verified OCSP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OcspStatus {
    /// Not revoked; the status holds until `next_update` (when the responder gave one).
    Good {
        /// nextUpdate of the response.
        next_update: Option<UnixTime>,
    },
    /// Revoked at `time`, for `reason` when the responder gave one.
    Revoked {
        /// revocationTime.
        time: UnixTime,
        /// revocationReason.
        reason: Option<RevocationReason>,
    },
    /// The responder does not know the certificate.
    Unknown,
}

/// Verifies OCSP responses against the [`OcspRequest`] they answer, with the signature
/// algorithms of a rustls [`CryptoProvider`].
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let (cert, issuer, response): (Vec<u8>, Vec<u8>, Vec<u8>) = (vec![], vec![], vec![]);
/// use mtls_verify::ocsp::{OcspRequest, OcspStatus, OcspVerifier};
/// use rustls_pki_types::UnixTime;
/// use std::time::Duration;
///
/// let provider = mtls_verify::crypto::default_provider();
/// let verifier = OcspVerifier::new(&provider).max_age(Duration::from_secs(600));
/// let request = OcspRequest::new(&cert, &issuer)?;
/// // `response`: the responder's answer to `request.der()`.
/// match verifier.verify(&request, &response, UnixTime::now())? {
///     OcspStatus::Good { .. } => println!("good"),
///     OcspStatus::Revoked { reason, .. } => println!("revoked ({reason:?})"),
///     OcspStatus::Unknown => println!("unknown to the responder"),
///     _ => {}
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct OcspVerifier {
    algs: WebPkiSupportedAlgorithms,
    skew: Duration,
    max_age: Duration,
    max_len: usize,
}

impl OcspVerifier {
    /// A verifier with the provider's signature algorithms and the default skew
    /// ([`DEFAULT_CLOCK_SKEW`]), maximum age ([`DEFAULT_MAX_AGE`]) and size
    /// ([`DEFAULT_MAX_RESPONSE_LEN`]).
    pub fn new(provider: &CryptoProvider) -> Self {
        Self {
            algs: provider.signature_verification_algorithms,
            skew: DEFAULT_CLOCK_SKEW,
            max_age: DEFAULT_MAX_AGE,
            max_len: DEFAULT_MAX_RESPONSE_LEN,
        }
    }

    /// How far thisUpdate may be ahead of the verifier's clock, and nextUpdate behind it.
    #[must_use]
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }

    /// How long after its thisUpdate a status without nextUpdate counts.
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The largest response accepted, in bytes.
    #[must_use]
    pub fn max_response_len(mut self, len: usize) -> Self {
        self.max_len = len;
        self
    }

    /// Verifies `response` (DER) as the answer to `request` at `now`, and gives the
    /// certificate's status.
    ///
    /// The response must be successful and basic, signed by the certificate's issuer or by a
    /// responder certificate it carries that the issuer issued with id-kp-OCSPSigning (and
    /// valid at `now`); it must hold a status for the certificate's CertID (any of SHA-1 and
    /// SHA-2), whose thisUpdate is not after `now` (plus the skew) and whose nextUpdate (or,
    /// without one, thisUpdate plus the maximum age) is not before `now` (minus the skew);
    /// and it must echo the request's nonce, when there is one.
    ///
    /// # Errors
    /// The first of those checks that fails, in that order; see [`OcspError`].
    pub fn verify(
        &self,
        request: &OcspRequest,
        response: &[u8],
        now: UnixTime,
    ) -> Result<OcspStatus, OcspError> {
        if response.len() > self.max_len {
            return Err(OcspError::TooLarge {
                len: response.len(),
                max: self.max_len,
            });
        }
        let basic = response::parse(response)?;
        self.check_signer(request, &basic, now)?;
        let single = matching(request, &basic)?;
        self.check_time(single, now)?;
        if let Some(sent) = &request.nonce {
            let echoed = basic.nonce.ok_or(OcspError::NonceMissing)?;
            // The value is an OCTET STRING holding the nonce (RFC 8954); some responders put
            // the bare bytes.
            let wrapped = der::read(echoed)
                .filter(|(tlv, rest)| tlv.tag == 0x04 && rest.is_empty())
                .map(|(tlv, _)| tlv.contents);
            if wrapped != Some(sent.as_slice()) && echoed != sent.as_slice() {
                return Err(OcspError::NonceMismatch);
            }
        }
        Ok(match single.status {
            RawStatus::Good => OcspStatus::Good {
                next_update: single.next_update,
            },
            RawStatus::Revoked { time, reason } => OcspStatus::Revoked {
                time,
                reason: reason.and_then(|r| RevocationReason::try_from(r).ok()),
            },
            RawStatus::Unknown => OcspStatus::Unknown,
        })
    }

    /// The response was signed by the issuer, or by a delegated responder the issuer issued.
    fn check_signer(
        &self,
        request: &OcspRequest,
        basic: &BasicResponse<'_>,
        now: UnixTime,
    ) -> Result<(), OcspError> {
        let names = |key: &[u8], subject: &[u8]| match basic.responder {
            ResponderId::ByName(name) => name == subject,
            ResponderId::ByKey(hash) => digest(SHA1, key).is_some_and(|h| h == hash),
        };
        if names(&request.issuer_key, &request.issuer_subject) {
            return verify_signature(
                basic.tbs,
                basic.algorithm,
                basic.signature,
                &request.issuer_spki,
                &self.algs,
            )
            .map_err(|detail| OcspError::BadSignature {
                signer: "the issuer".into(),
                detail,
            });
        }
        // Every certificate the responderID names is tried (at most MAX_CERTS are read), so a
        // look-alike placed first does not hide the real responder certificate.
        let mut refusal = None;
        for der in &basic.certs {
            let Ok((_, cert)) = X509Certificate::from_der(der) else {
                continue;
            };
            if !names(
                &cert.public_key().subject_public_key.data,
                cert.subject().as_raw(),
            ) {
                continue;
            }
            match self.check_delegate(request, basic, der, &cert, now) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    refusal.get_or_insert(e);
                }
            }
        }
        Err(refusal.unwrap_or_else(|| OcspError::UnknownResponder {
            responder: match basic.responder {
                ResponderId::ByName(n) => name(n),
                ResponderId::ByKey(k) => format!("key {}", hex(k)),
            },
        }))
    }

    /// `cert` (DER `der`), named by the responderID, was issued by the certificate's issuer
    /// with id-kp-OCSPSigning, is valid at `now`, and signed the response.
    fn check_delegate(
        &self,
        request: &OcspRequest,
        basic: &BasicResponse<'_>,
        der: &[u8],
        cert: &X509Certificate<'_>,
        now: UnixTime,
    ) -> Result<(), OcspError> {
        let responder = cert.subject().to_string();
        let refuse = |why| OcspError::UnauthorizedResponder {
            responder: responder.clone(),
            why,
        };
        let issued = cert.issuer().as_raw() == request.issuer_subject.as_slice()
            && der::signed(der).is_some_and(|signed| {
                verify_signature(
                    signed.tbs,
                    signed.algorithm,
                    signed.signature,
                    &request.issuer_spki,
                    &self.algs,
                )
                .is_ok()
            });
        if !issued {
            return Err(refuse(Delegation::NotIssuedByIssuer));
        }
        let ocsp_signing =
            matches!(cert.extended_key_usage(), Ok(Some(eku)) if eku.value.ocsp_signing);
        if !ocsp_signing {
            return Err(refuse(Delegation::NoOcspSigning));
        }
        let validity = cert.validity();
        let at = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        if at < validity.not_before.timestamp() || at > validity.not_after.timestamp() {
            return Err(refuse(Delegation::OutsideValidity));
        }
        verify_signature(
            basic.tbs,
            basic.algorithm,
            basic.signature,
            cert.public_key().raw,
            &self.algs,
        )
        .map_err(|detail| OcspError::BadSignature {
            signer: responder.clone(),
            detail,
        })
    }

    /// thisUpdate is not in the future, nextUpdate (or the maximum age) not past.
    fn check_time(&self, single: &SingleResponse<'_>, now: UnixTime) -> Result<(), OcspError> {
        let (now_secs, skew) = (now.as_secs(), self.skew.as_secs());
        if single.this_update.as_secs() > now_secs.saturating_add(skew) {
            return Err(OcspError::NotYetValid {
                this_update: single.this_update,
                now,
            });
        }
        let valid_until = single.next_update.unwrap_or_else(|| {
            UnixTime::since_unix_epoch(Duration::from_secs(
                single
                    .this_update
                    .as_secs()
                    .saturating_add(self.max_age.as_secs()),
            ))
        });
        if valid_until.as_secs().saturating_add(skew) < now_secs {
            return Err(OcspError::Stale {
                valid_until,
                next_update_given: single.next_update.is_some(),
                now,
            });
        }
        Ok(())
    }
}

/// The SingleResponse whose CertID names the requested certificate.
fn matching<'b, 'a>(
    request: &OcspRequest,
    basic: &'b BasicResponse<'a>,
) -> Result<&'b SingleResponse<'a>, OcspError> {
    let mut answered = Vec::new();
    for single in &basic.responses {
        let id = &single.cert_id;
        let same_issuer = digest(id.hash, &request.issuer_subject)
            .is_some_and(|h| h == id.name_hash)
            && digest(id.hash, &request.issuer_key).is_some_and(|h| h == id.key_hash);
        if same_issuer && id.serial == request.serial.as_slice() {
            return Ok(single);
        }
        answered.push(if same_issuer {
            hex(id.serial)
        } else {
            format!("{} (other issuer)", hex(id.serial))
        });
    }
    Err(OcspError::ForAnotherCertificate {
        serial: hex(&request.serial),
        answered: answered.join(", "),
    })
}

/// Verifies `signature` over `tbs` with the full SPKI `spki`, by the provider's algorithm
/// whose signature and public key identifiers match (as rustls-webpki matches them).
fn verify_signature(
    tbs: &[u8],
    algorithm: &[u8],
    signature: &[u8],
    spki: &[u8],
    algs: &WebPkiSupportedAlgorithms,
) -> Result<(), String> {
    let (key_alg, key) = der::spki(spki).ok_or("malformed signer public key")?;
    let mut found = false;
    for alg in algs.all {
        if alg.signature_alg_id().as_ref() != algorithm {
            continue;
        }
        found = true;
        if alg.public_key_alg_id().as_ref() != key_alg {
            continue;
        }
        return alg
            .verify_signature(key, tbs, signature)
            .map_err(|_| "invalid signature for the signer's public key".to_owned());
    }
    Err(if found {
        "the signature algorithm does not match the signer's key type".to_owned()
    } else {
        "unsupported signature algorithm".to_owned()
    })
}
