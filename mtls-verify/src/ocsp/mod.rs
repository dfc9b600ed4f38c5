//! OCSP (RFC 6960) for client certificates, synchronous and without I/O: build the request
//! for a certificate and its issuer, verify the responder's answer, and read cached statuses
//! in the handshake ([`OcspCheck`]).
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
//! never waits for a responder. The status travels through an [`OcspCache`], one per trust
//! domain, shared by the verifier and a background fetcher:
//!
//! 1. **In the handshake**, a trust domain given an [`OcspCheck`]
//!    ([`LoadedTrustDomain::with_ocsp`](crate::LoadedTrustDomain::with_ocsp); the loader gives
//!    it the check [`FetchedCrls`](crate::FetchedCrls) holds for a domain with `ocsp`) looks
//!    the leaf up by its [`OcspKey`] once the chain is verified: `Revoked` refuses the chain
//!    with reason `revoked` (the host's answer for it, as a CRL entry); `Good` and `Unknown`
//!    accept; no entry accepts and hands the leaf's [`OcspRequest`] to the check's fetcher,
//!    which must not block. A domain without a check costs one branch.
//! 2. **The fetcher** (`mtls_tower::fetch::OcspFetcher`, the only crate with sockets) takes
//!    requests off one bounded queue (a leaf already queued is not queued again; a full queue
//!    drops the request, asked again at the leaf's next handshake), asks at most a few
//!    responders at once (the configured one, else the leaf's AIA `id-ad-ocsp` URI) with a
//!    bounded blocking HTTP client, verifies each answer with one [`OcspVerifier`] and caches
//!    the status: until its nextUpdate, or for the domain's `cache_ttl`. A fetch or
//!    verification that fails caches nothing and is counted by its reason.
//! 3. **`soft` mode** (the trust domain's `ocsp.mode`): a request from a client whose status
//!    was not known at its handshake is forwarded; the missing status is counted per trust
//!    domain, so operators see how often status was missing.
//!    **`hard` mode**: the check is given an [`OcspWaiting`]
//!    ([`OcspCheck::with_waiting`]); a leaf handed to the fetcher is registered there first.
//!    Once the handshake completes, the acceptor takes the connection's [`OcspPending`]
//!    ([`LoadedTrustDomain::ocsp_pending`](crate::LoadedTrustDomain::ocsp_pending)): the
//!    status being fetched, or the cached one. The fetcher settles it when its answer, or its
//!    failure, comes. The layer (`mtls_tower::MtlsLayer`) holds the connection's first
//!    request until it is settled, at most the domain's `ocsp.timeout`, and decides every
//!    request of the connection with what it settled on ([`settled_refusal`]): good →
//!    forwarded, revoked → the host's answer for `revoked`, no status → its answer for
//!    `revocation_unknown` (both must be HTTP answers: the handshake is over). A domain
//!    without `hard` mode costs nothing there; a settled connection, one atomic load per
//!    request.
//!
//! 4. **A status fetched as revoked** is announced by the fetcher
//!    (`OcspFetcher::revocations`); the gateway installs its configuration again, and open
//!    connections are rechecked against the new verifier, which reads the cached `Revoked`:
//!    they are closed as at a CRL reload (`limits.close_revoked_connections`).
//!
//! The caches live as long as the fetcher, across configuration reloads while a domain's
//! settings stay the same. `mtls-gateway check --ocsp` asks a certificate's responder once,
//! with [`OcspRequest`] and [`OcspVerifier`].
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
//! let provider = mtls_verify::crypto::default_provider();
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
mod check;
mod error;
mod pending;
mod request;
mod response;
mod time;
mod verify;

pub use cache::{OcspCache, OcspKey};
pub use check::{OcspCheck, OcspLookup, request_for};
pub use error::{Delegation, OcspError, OcspRequestError, ResponderStatus};
pub use pending::{OcspPending, OcspSettled, OcspWaiting, settled_refusal};
pub use request::{CertIdHash, MAX_RESPONDER_URIS, OcspRequest, OcspRequestBuilder, random_nonce};
pub use verify::{
    DEFAULT_CLOCK_SKEW, DEFAULT_MAX_AGE, DEFAULT_MAX_RESPONSE_LEN, OcspStatus, OcspVerifier,
};
/// The reasons a revocation may give (RFC 5280 5.3.1), as rustls-webpki names them.
pub use webpki::RevocationReason;
