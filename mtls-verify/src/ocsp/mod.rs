//! OCSP (RFC 6960) for client certificates, synchronous and without I/O: build the request
//! for a certificate and its issuer, and verify the responder's answer.
//!
//! Fetching is the caller's: POST [`OcspRequest::der`] with content type
//! `application/ocsp-request` to the responder (the certificate's AIA `id-ad-ocsp` URI,
//! [`OcspRequest::responder_uris`], or a configured one), and give the body of the answer to
//! [`OcspVerifier::verify`].
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
//! # How a status reaches the decision
//!
//! A rustls client-certificate verifier is synchronous and runs inside the handshake, so it
//! must never wait for a responder. The status therefore travels through an [`OcspCache`]:
//!
//! 1. **Prefetch and cache.** A background task (in `mtls-tower`, the only crate with
//!    sockets) asks the responder of each client certificate it sees (the AIA `id-ad-ocsp`
//!    URI, or the one the trust domain configures), bounded in time, size and concurrency,
//!    verifies the answer with [`OcspVerifier`] and inserts the status under the certificate's
//!    [`OcspKey`]. A status counts until its nextUpdate, or for the configured TTL when the
//!    responder gives none; [`OcspCache::expiring_before`] names what to refresh before it
//!    expires, so a client that keeps connecting is answered from the cache. A fetch or
//!    verification that fails leaves the entry to expire and is counted by its
//!    [`OcspError`].
//! 2. **In the handshake**, the verifier reads the cache: `Revoked` refuses the certificate
//!    like a CRL entry (reason `revoked`); `Good` accepts; `Unknown` from the responder is
//!    treated as the trust domain treats an unknown CRL status; no entry means "not yet known",
//!    and the handshake completes with that recorded in the peer's verification, and a fetch
//!    is queued.
//! 3. **In the layer**, per trust domain:
//!    - `hard`: a request from a client whose status is not yet known waits before it is
//!      forwarded, up to a bound, for the queued fetch; if a status arrives it decides as in
//!      the handshake, otherwise the request is answered with the policy's answer for
//!      "revocation unknown". Nothing waits in the handshake loop.
//!    - `soft`: the request is allowed, and counted (a metric per trust domain and outcome),
//!      so operators see how often status was missing before turning `hard` on.
//! 4. When a refreshed status turns to `Revoked`, the open connections of that client are
//!    rechecked and closed, as a CRL reload does.
//!
//! This module holds the synchronous pieces: request, verification, cache. The fetcher, the
//! handshake lookup and the `hard` / `soft` modes belong in `mtls-tower` and the gateway, which
//! do not have them yet; `mtls-gateway check --ocsp` asks a certificate's responder once, with
//! [`OcspRequest`] and [`OcspVerifier`].
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

mod cache;
mod error;
mod request;
mod response;
mod time;
mod verify;

pub use cache::{OcspCache, OcspKey};
pub use error::{Delegation, OcspError, OcspRequestError, ResponderStatus};
pub use request::{CertIdHash, MAX_RESPONDER_URIS, OcspRequest, OcspRequestBuilder, random_nonce};
pub use verify::{
    DEFAULT_CLOCK_SKEW, DEFAULT_MAX_AGE, DEFAULT_MAX_RESPONSE_LEN, OcspStatus, OcspVerifier,
};
/// The reasons a revocation may give (RFC 5280 5.3.1), as rustls-webpki names them.
pub use webpki::RevocationReason;
