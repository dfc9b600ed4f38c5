//! Client-certificate path validation for mutual TLS, synchronous (no async runtime): isolated
//! trust domains, RFC 5280 profile checks on every certificate of the path, revocation from a
//! CRL index whose signatures are checked once at load, and the rustls `ClientCertVerifier`
//! that puts them together.
//!
//! | piece | what it does |
//! |---|---|
//! | [`LoadedTrustDomain`] | one isolated trust domain loaded from a policy [`TrustDomain`](mtls_policy::TrustDomain): anchors, [`RevocationIndex`], [`DomainOptions`]; verifies client and server chains |
//! | [`RevocationIndex`] | CRL signatures checked once at load; revocation answered per handshake from a hash index keyed by (issuer, serial), with the scopes, reasons, indirect and delta CRLs of RFC 5280 6.3 |
//! | [`PolicyVerifier`] | the rustls `ClientCertVerifier` of a host: trust domains tried in order, required / optional / accept-any, failures deferred to HTTP when the policy says so, a [`PeerVerification`](mtls_policy::PeerVerification) per handshake |
//! | [`ocsp`] | OCSP requests, and responses verified per RFC 6960 (signer, CertID, freshness, nonce), with a cache |
//!
//! Every API that verifies a signature takes an explicit rustls
//! [`CryptoProvider`](rustls::crypto::CryptoProvider); the features `aws-lc-rs` (default) and
//! `ring` select the one `mtls_core::crypto::default_provider()` returns.
//!
//! # Example
//!
//! A trust domain from a CA bundle, and a client chain verified against it as a handshake
//! would verify it:
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let pki = mtls_testkit::Pki::shared();
//! # let client = pki.default_client();
//! # let ca_pem = pki.root().cert_pem();
//! use mtls_policy::{ClientCertMode, PeerVerification, TrustDomain, TrustSource};
//! use mtls_verify::{LoadedTrustDomain, PolicyVerifier};
//! use rustls_pki_types::UnixTime;
//!
//! let provider = mtls_core::crypto::default_provider();
//! let clients = LoadedTrustDomain::load(
//!     &TrustDomain::new("clients", TrustSource::Pem(ca_pem)),
//!     &provider,
//! )?;
//! let verifier = PolicyVerifier::builder(provider)
//!     .trust_domain(clients)
//!     .mode(ClientCertMode::Required)
//!     .build()?;
//!
//! let chain = client.chain_der(); // leaf first, as rustls hands it over
//! assert_eq!(
//!     verifier.verify_chain(&chain[0], &chain[1..], UnixTime::now()),
//!     PeerVerification::verified("clients"),
//! );
//! # Ok(()) }
//! ```
//!
//! Give the verifier to rustls (`ServerConfig::builder_with_provider(..)
//! .with_client_cert_verifier(Arc::new(verifier))`) and read each handshake's outcome with
//! [`PolicyVerifier::outcome_for_chain`]. (`mtls_testkit`, in the hidden lines, generates the
//! PKI at run time; use your own CA bundle and client chain.)
//!
//! # Features
//!
//! | feature | default | what it enables |
//! |---|---|---|
//! | `aws-lc-rs` | yes | aws-lc-rs as `mtls_core::crypto::default_provider()` |
//! | `ring` | no | ring instead, when `aws-lc-rs` is off |
//!
//! Either way the crate pulls no async runtime, hyper or tower.

// Library code never unwraps; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod answer;
mod builder;
mod chain;
mod der;
pub mod ocsp;
mod outcomes;
mod revocation;
mod trust;
mod verifier;

pub use answer::{OnFailure, alert_error, take_rejection};
pub use builder::{DEFAULT_OUTCOME_CAPACITY, PolicyVerifierBuilder, VerifierError};
pub use revocation::{CrlError, RevocationIndex};
pub use trust::{
    DomainOptions, FetchedCrls, LoadedTrustDomain, ResolveError, TrustError, crl_distribution_uris,
};
pub use verifier::PolicyVerifier;

/// The README's example, compiled by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;
