//! The crypto provider chosen by this crate's features.
//!
//! Nothing in `mtls` uses rustls' process-wide default provider: every function that needs one
//! takes it as an argument. This module offers the one the crate features select, for callers that
//! do not bring their own.

#[cfg(any(feature = "aws-lc-rs", feature = "ring"))]
use std::sync::Arc;

#[cfg(any(feature = "aws-lc-rs", feature = "ring"))]
use rustls::crypto::CryptoProvider;

/// The provider selected by the crate features: aws-lc-rs when the `aws-lc-rs` feature is on
/// (the default), else ring.
///
/// Its cipher suites are rustls' own, with `TLS13_AES_128_GCM_SHA256` moved first, as Go and
/// BoringSSL order them: HKDF and the transcript hash then use SHA-256, which CPUs accelerate
/// where SHA-384 is not (10–17 % less server CPU per handshake here, `BENCHMARKS.md`). The
/// server snapshot picks suites in this order by default (`server_cipher_order`).
///
/// ```
/// let provider = mtls_core::crypto::default_provider();
/// assert_eq!(
///     provider.cipher_suites[0].suite(),
///     rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
/// );
/// ```
#[cfg(feature = "aws-lc-rs")]
#[cfg_attr(docsrs, doc(cfg(any(feature = "aws-lc-rs", feature = "ring"))))]
pub fn default_provider() -> Arc<CryptoProvider> {
    Arc::new(aes128_first(rustls::crypto::aws_lc_rs::default_provider()))
}

/// The provider selected by the crate features: aws-lc-rs when the `aws-lc-rs` feature is on
/// (the default), else ring.
///
/// Its cipher suites are rustls' own, with `TLS13_AES_128_GCM_SHA256` moved first, as Go and
/// BoringSSL order them: HKDF and the transcript hash then use SHA-256, which CPUs accelerate
/// where SHA-384 is not (10–17 % less server CPU per handshake here, `BENCHMARKS.md`). The
/// server snapshot picks suites in this order by default (`server_cipher_order`).
///
/// ```
/// let provider = mtls_core::crypto::default_provider();
/// assert_eq!(
///     provider.cipher_suites[0].suite(),
///     rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
/// );
/// ```
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "aws-lc-rs", feature = "ring"))))]
pub fn default_provider() -> Arc<CryptoProvider> {
    Arc::new(aes128_first(rustls::crypto::ring::default_provider()))
}

#[cfg(any(feature = "aws-lc-rs", feature = "ring"))]
fn aes128_first(mut provider: CryptoProvider) -> CryptoProvider {
    // A stable sort: the other suites keep rustls' order.
    provider
        .cipher_suites
        .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    provider
}
