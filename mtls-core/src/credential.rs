//! A server credential: a certificate chain and the private key of its leaf.

use std::fmt;
use std::path::Path;
use std::time::SystemTime;

use crate::cert::{CertificateChain, parse_certificate, subject_of};
use crate::error::{Error, ErrorKind, Origin};
use crate::key::PrivateKey;
use crate::pairing::key_matches;

/// A certificate chain with the private key of its leaf, as loaded: the material a TLS stack
/// serves, before any crypto provider has seen the key.
///
/// Pairing them is checked as far as the encodings allow without cryptography: an RSA key
/// carries its modulus, and EC and Ed25519 keys usually carry their public key (OpenSSL, ring,
/// aws-lc-rs and rcgen write it), so a key of another certificate or of another algorithm is a
/// load error here. The authoritative check is made where a crypto provider loads the key:
/// `mtls_verify::crypto::certified_key`, which every `mtls` server and upstream builder calls
/// when it is built, so a mismatched pair is refused when the configuration is loaded, never at
/// a handshake.
///
/// ```
/// # fn main() -> Result<(), mtls_core::Error> {
/// # let server = mtls_testkit::Pki::shared().default_server();
/// # let (chain_pem, key_pem) = (server.chain_pem(), server.key_pem());
/// let chain = mtls_core::CertificateChain::from_bytes(chain_pem.as_bytes(), "tls.crt")?;
/// let key = mtls_core::PrivateKey::from_bytes(key_pem.as_bytes(), "tls.key")?;
/// let credential = mtls_core::ServerCredential::new(chain, key)?;
/// assert_eq!(credential.chain().as_slice().len(), 2);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ServerCredential {
    chain: CertificateChain,
    key: PrivateKey,
    origin: Origin,
    leaf_subject: String,
}

impl ServerCredential {
    /// Pairs a chain with a key, refusing a key whose encoding shows it belongs to another
    /// certificate.
    pub fn new(chain: CertificateChain, key: PrivateKey) -> Result<Self, Error> {
        Self::with_origin(chain, key, Origin::memory("server credential"))
    }

    /// Loads the chain and the key from two files (the same file may hold both).
    pub fn from_files(chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, Error> {
        let key_path = key.as_ref();
        let chain = CertificateChain::from_file(chain)?;
        let key = PrivateKey::from_file(key_path)?;
        Self::with_origin(chain, key, Origin::file(key_path))
    }

    pub(crate) fn with_origin(
        chain: CertificateChain,
        key: PrivateKey,
        origin: Origin,
    ) -> Result<Self, Error> {
        let leaf = parse_certificate(chain.leaf(), 0).map_err(|k| Error::new(origin.clone(), k))?;
        let leaf_subject = subject_of(&leaf);
        if key_matches(key.der(), &leaf.tbs_certificate.subject_pki) == Some(false) {
            return Err(Error::new(origin, ErrorKind::KeyMismatch { leaf_subject }));
        }
        Ok(Self {
            chain,
            key,
            origin,
            leaf_subject,
        })
    }

    /// The certificate chain, leaf first.
    pub fn chain(&self) -> &CertificateChain {
        &self.chain
    }

    /// The private key, with its format.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// Where the key came from: the file, the secret key, or `server credential` for material
    /// handed over in memory. Errors of later checks of the pair name it.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The subject of the leaf certificate (RFC 4514), for messages about the pair.
    pub fn leaf_subject(&self) -> &str {
        &self.leaf_subject
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
            .field("origin", &self.origin)
            .finish()
    }
}
