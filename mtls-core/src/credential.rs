//! A server credential: a certificate chain and the private key of its leaf.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::sign::{CertifiedKey, SigningKey};
use rustls_pki_types::PrivateKeyDer;

use crate::cert::{CertificateChain, parse_certificate, subject_of};
use crate::error::{Error, ErrorKind, Origin};
use crate::key::PrivateKey;

/// A certificate chain with the private key of its leaf, checked at load time to belong
/// together: a mismatched pair is a load error, not a handshake failure later.
///
/// ```
/// # fn main() -> Result<(), mtls_core::Error> {
/// # let server = mtls_testkit::Pki::shared().default_server();
/// # let (chain_pem, key_pem) = (server.chain_pem(), server.key_pem());
/// let provider = mtls_core::crypto::default_provider();
/// let chain = mtls_core::CertificateChain::from_bytes(chain_pem.as_bytes(), "tls.crt")?;
/// let key = mtls_core::PrivateKey::from_bytes(key_pem.as_bytes(), "tls.key")?;
/// let credential = mtls_core::ServerCredential::new(chain, key, &provider)?;
/// let _for_rustls = credential.certified_key();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ServerCredential {
    chain: CertificateChain,
    key: PrivateKey,
    signing_key: Arc<dyn SigningKey>,
}

impl ServerCredential {
    /// Pairs a chain with a key, checking with `provider` that the key is usable and belongs to
    /// the leaf.
    pub fn new(
        chain: CertificateChain,
        key: PrivateKey,
        provider: &CryptoProvider,
    ) -> Result<Self, Error> {
        Self::with_origin(chain, key, provider, Origin::memory("server credential"))
    }

    /// Loads the chain and the key from two files (the same file may hold both).
    pub fn from_files(
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
        provider: &CryptoProvider,
    ) -> Result<Self, Error> {
        let key_path = key.as_ref();
        let chain = CertificateChain::from_file(chain)?;
        let key = PrivateKey::from_file(key_path)?;
        Self::with_origin(chain, key, provider, Origin::file(key_path))
    }

    pub(crate) fn with_origin(
        chain: CertificateChain,
        key: PrivateKey,
        provider: &CryptoProvider,
        origin: Origin,
    ) -> Result<Self, Error> {
        let err = |kind| Error::new(origin.clone(), kind);
        let signing_key = provider
            .key_provider
            .load_private_key(key.der().clone_key())
            .map_err(|e| {
                err(ErrorKind::UnsupportedKey {
                    format: key.format().name(),
                    detail: e.to_string(),
                })
            })?;
        let leaf = parse_certificate(chain.leaf(), 0).map_err(err)?;
        let matches = signing_key
            .public_key()
            .is_some_and(|spki| spki.as_ref() == leaf.tbs_certificate.subject_pki.raw);
        if !matches {
            return Err(err(ErrorKind::KeyMismatch {
                leaf_subject: subject_of(&leaf),
            }));
        }
        Ok(Self {
            chain,
            key,
            signing_key,
        })
    }

    /// The certificate chain, leaf first.
    pub fn chain(&self) -> &CertificateChain {
        &self.chain
    }

    /// The private key.
    pub fn key(&self) -> &PrivateKeyDer<'static> {
        self.key.der()
    }

    /// The pair as rustls serves it.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        Arc::new(CertifiedKey::new(
            self.chain.as_slice().to_vec(),
            Arc::clone(&self.signing_key),
        ))
    }

    /// When the chain stops being usable (its earliest `notAfter`).
    pub fn not_after(&self) -> SystemTime {
        self.chain.not_after()
    }
}

impl fmt::Debug for ServerCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCredential")
            .field("chain_len", &self.chain.as_slice().len())
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}
