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
/// ```
/// let provider = mtls_core::crypto::default_provider();
/// assert!(!provider.cipher_suites.is_empty());
/// ```
#[cfg(feature = "aws-lc-rs")]
pub fn default_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The provider selected by the crate features: aws-lc-rs when the `aws-lc-rs` feature is on
/// (the default), else ring.
///
/// ```
/// let provider = mtls_core::crypto::default_provider();
/// assert!(!provider.cipher_suites.is_empty());
/// ```
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
pub fn default_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
