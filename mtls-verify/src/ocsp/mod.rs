//! OCSP (RFC 6960) for client certificates, synchronous and without I/O: build the request
//! for a certificate and its issuer, and verify the responder's answer.
//!
//! Fetching is the caller's: POST [`OcspRequest::der`] with content type
//! `application/ocsp-request` to the responder (the certificate's AIA `id-ad-ocsp` URI, or a
//! configured one), and give the body of the answer to [`OcspVerifier::verify`].
//!
//! # What a response must be to count
//!
//! - `responseStatus` successful, of type id-pkix-ocsp-basic, well-formed DER, no larger than
//!   [`OcspVerifier::max_response_len`] (64 KiB by default); no unknown critical extension.
//! - Signed by the certificate's issuer, or by a responder certificate carried in the response
//!   that the issuer signed, whose extendedKeyUsage holds id-kp-OCSPSigning and which is valid
//!   at the time of verification (RFC 6960 4.2.2.2). No other responder is trusted.
//! - It holds a status for this certificate: a CertID with the issuer's name and key hashes
//!   (SHA-1 or SHA-2) and the certificate's serial.
//! - thisUpdate is not after now plus the clock skew (5 minutes by default); nextUpdate is not
//!   before now minus the skew, or, when the responder gives none, thisUpdate plus
//!   [`OcspVerifier::max_age`] (one hour by default) is not.
//! - When the request carried a nonce, the response echoes it.
//!
//! The first check that fails is the error ([`OcspError`]); otherwise the status is
//! [`OcspStatus::Good`], [`OcspStatus::Revoked`] (time and reason) or [`OcspStatus::Unknown`].
//!
//! # Example
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let pki = mtls_testkit::Pki::shared();
//! # let client = pki.default_client();
//! use mtls_verify::ocsp::{OcspError, OcspRequest, OcspVerifier};
//! use rustls_pki_types::UnixTime;
//!
//! let provider = mtls_core::crypto::default_provider();
//! let request = OcspRequest::new(client.cert_der(), client.issuer_cert_der())?;
//! // POST request.der() to the responder; here, an answer that is not OCSP.
//! let answer = b"<html>502 Bad Gateway</html>";
//! let verifier = OcspVerifier::new(&provider);
//! assert_eq!(
//!     verifier.verify(&request, answer, UnixTime::now()),
//!     Err(OcspError::Malformed { what: "not a DER SEQUENCE" }),
//! );
//! # Ok(()) }
//! ```

mod error;
mod request;
mod response;
mod time;
mod verify;

pub use error::{Delegation, OcspError, OcspRequestError, ResponderStatus};
pub use request::{CertIdHash, OcspRequest, OcspRequestBuilder, random_nonce};
pub use verify::{
    DEFAULT_CLOCK_SKEW, DEFAULT_MAX_AGE, DEFAULT_MAX_RESPONSE_LEN, OcspStatus, OcspVerifier,
};
/// The reasons a revocation may give (RFC 5280 5.3.1), as rustls-webpki names them.
pub use webpki::RevocationReason;
