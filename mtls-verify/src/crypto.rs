//! The crypto provider chosen by this crate's features, and a server credential's key loaded by
//! a provider.
//!
//! Nothing in `mtls` uses rustls' process-wide default provider: every function that needs one
//! takes it as an argument. This module offers the one the crate features select, for callers
//! that do not bring their own.

use std::sync::Arc;

use mtls_core::{Error, ErrorKind, ServerCredential};
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer as _;

/// The provider selected by the crate features: aws-lc-rs when the `aws-lc-rs` feature is on
/// (the default), else ring.
///
/// Its cipher suites are rustls' own, with `TLS13_AES_128_GCM_SHA256` moved first, as Go and
/// BoringSSL order them: HKDF and the transcript hash then use SHA-256, which CPUs accelerate
/// where SHA-384 is not (10–17 % less server CPU per handshake here, `BENCHMARKS.md`). The
/// server snapshot picks suites in this order by default (`server_cipher_order`).
///
/// ```
/// let provider = mtls_verify::crypto::default_provider();
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
/// let provider = mtls_verify::crypto::default_provider();
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

/// Loads `credential`'s private key with `provider` and pairs it with the chain, as rustls
/// serves them (or presents them as a client certificate).
///
/// Fails, naming the credential's origin (the key file or secret key), when the provider cannot
/// use the key ([`ErrorKind::UnsupportedKey`]: algorithm or parameters unsupported, or invalid
/// key bytes) or when the key does not belong to the leaf ([`ErrorKind::KeyMismatch`]). The
/// `mtls-tower` snapshot and upstream builders call it when they are built, so a bad pair is
/// refused with the configuration that names it, never at a handshake.
///
/// ```
/// # fn main() -> Result<(), mtls_core::Error> {
/// # let server = mtls_testkit::Pki::shared().default_server();
/// # let (chain_pem, key_pem) = (server.chain_pem(), server.key_pem());
/// let chain = mtls_core::CertificateChain::from_bytes(chain_pem.as_bytes(), "tls.crt")?;
/// let key = mtls_core::PrivateKey::from_bytes(key_pem.as_bytes(), "tls.key")?;
/// let credential = mtls_core::ServerCredential::new(chain, key)?;
/// let provider = mtls_verify::crypto::default_provider();
/// let certified = mtls_verify::crypto::certified_key(&credential, &provider)?;
/// assert_eq!(certified.cert.len(), 2);
/// # Ok(()) }
/// ```
pub fn certified_key(
    credential: &ServerCredential,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, Error> {
    let err = |kind| Error::new(credential.origin().clone(), kind);
    let key = credential.key();
    let signing_key = provider
        .key_provider
        .load_private_key(key.der().clone_key())
        .map_err(|e| {
            err(ErrorKind::UnsupportedKey {
                format: key.format().name(),
                detail: e.to_string(),
            })
        })?;
    let certified = CertifiedKey::new(credential.chain().as_slice().to_vec(), signing_key);
    let leaf = X509Certificate::from_der(credential.chain().leaf()).map(|(_, leaf)| leaf);
    let matches = match (certified.key.public_key(), leaf) {
        (Some(key), Ok(leaf)) => key.as_ref() == leaf.tbs_certificate.subject_pki.raw,
        _ => false,
    };
    if !matches {
        return Err(err(ErrorKind::KeyMismatch {
            leaf_subject: credential.leaf_subject().to_owned(),
        }));
    }
    Ok(Arc::new(certified))
}
