//! Session tickets shared by the replicas of a listener: [`TicketKeys`], the keys of a key file,
//! and the rustls `ProducesTickets` each host's `ServerConfig` gets from them.
//!
//! Every replica that reads the same key file encrypts and decrypts the same tickets, so a
//! client resumes whichever replica a balancer sends it to. rustls does not verify the client
//! certificate again on resumption, so a ticket is bound to the trust state that verified it:
//! the ticket key of a host is derived (HKDF-SHA256) from the shared key *and* a SHA-256
//! digest of that host's names and everything that decides whether a client chain is accepted
//! (each trust domain's name, options, CA certificates and CRLs, the client-certificate mode;
//! [`ReportingVerifier::trust_state`]). A reload that changes any of them (a new CRL revoking a
//! client) changes the key: tickets issued before no longer decrypt, and the client makes a
//! full handshake, verified under the new CRLs. Replicas holding the same material derive the
//! same key; a replica the update has not reached yet neither accepts tickets issued under the
//! new material nor issues tickets the updated replicas accept. A verifier that cannot describe
//! its trust state gets a random binding: its tickets resume on that snapshot only.
//!
//! Ticket format: `version (1) | key id (8) | salt (16) | AES-256-GCM(issued-at (8) |
//! rustls' session state) | tag (16)`. Each ticket is encrypted with its own key, expanded from
//! the host's ticket key and the random salt, so no nonce is ever reused whatever the number
//! of tickets; the header is the associated data. A ticket older than the lifetime is refused
//! by the replica that reads it, whatever the client says.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rustls::server::ProducesTickets;

use crate::tls::server::ReportingVerifier;

/// The shortest key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 32;

/// Why ticket keys could not be loaded, or tickets not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TicketKeyError {
    /// The key file could not be read.
    #[error("session ticket keys {}: {source}", path.display())]
    Read {
        /// The key file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is not a key.
    #[error("{file}:{line}: {detail}")]
    BadKey {
        /// The key file (or the label of the text).
        file: String,
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        detail: String,
    },
    /// The file holds no key.
    #[error(
        "{file}: no session ticket key (one base64 key of {MIN_KEY_LEN} bytes or more per line)"
    )]
    NoKey {
        /// The key file (or the label of the text).
        file: String,
    },
    /// The lifetime is zero or longer than TLS 1.3 allows.
    #[error("session ticket lifetime {0:?} must be between 1s and 7 days (RFC 8446)")]
    Lifetime(Duration),
    /// mtls-tower was built without a crypto feature.
    #[error("session tickets need the `aws-lc-rs` or `ring` feature of mtls-tower")]
    NoCrypto,
}

/// The session-ticket keys of a listener, shared by its replicas: the first key encrypts new
/// tickets, every key decrypts (rotation: prepend a new key, drop the oldest later).
///
/// ```
/// use std::time::Duration;
/// use mtls_tower::tls::TicketKeys;
///
/// // `openssl rand -base64 32`, one per line.
/// let text = "# newest first\ncWYEoxb96BtCjmSsRFmoBkUibz/58eUILsZeHBDsvcc=\n";
/// let keys = TicketKeys::parse(text, "tickets.key")?.lifetime(Duration::from_secs(3600))?;
/// assert_eq!(keys.len(), 1);
///
/// let err = TicketKeys::parse("c2hvcnQ=\n", "tickets.key").unwrap_err();
/// assert_eq!(err.to_string(), "tickets.key:1: the key is 5 bytes; at least 32 are needed");
/// # Ok::<(), mtls_tower::tls::TicketKeyError>(())
/// ```
#[derive(Clone)]
pub struct TicketKeys {
    keys: Vec<Arc<[u8]>>,
    lifetime: Duration,
}

impl fmt::Debug for TicketKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketKeys")
            .field("keys", &self.keys.len())
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

impl TicketKeys {
    /// The default ticket lifetime: 4 hours.
    pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(4 * 3600);

    /// Reads a key file: one standard-base64 key of at least [`MIN_KEY_LEN`] bytes per line,
    /// newest first; blank lines and lines starting with `#` are skipped.
    ///
    /// # Errors
    /// [`TicketKeyError::Read`], or as [`parse`](Self::parse) with the file's path.
    pub fn from_file(path: &Path) -> Result<Self, TicketKeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| TicketKeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses the text of a key file; `file` names it in errors.
    ///
    /// # Errors
    /// [`TicketKeyError::BadKey`] naming the line, [`TicketKeyError::NoKey`].
    pub fn parse(text: &str, file: &str) -> Result<Self, TicketKeyError> {
        let mut keys = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |detail: String| TicketKeyError::BadKey {
                file: file.to_owned(),
                line: i + 1,
                detail,
            };
            let key = base64::engine::general_purpose::STANDARD
                .decode(line)
                .map_err(|e| bad(format!("not a base64 key: {e}")))?;
            if key.len() < MIN_KEY_LEN {
                return Err(bad(format!(
                    "the key is {} bytes; at least {MIN_KEY_LEN} are needed",
                    key.len()
                )));
            }
            keys.push(Arc::from(key));
        }
        if keys.is_empty() {
            return Err(TicketKeyError::NoKey {
                file: file.to_owned(),
            });
        }
        Ok(Self {
            keys,
            lifetime: Self::DEFAULT_LIFETIME,
        })
    }

    /// Sets how long a ticket resumes after it was issued (default
    /// [`DEFAULT_LIFETIME`](Self::DEFAULT_LIFETIME)).
    ///
    /// # Errors
    /// [`TicketKeyError::Lifetime`] when it is under a second or over 7 days.
    pub fn lifetime(mut self, lifetime: Duration) -> Result<Self, TicketKeyError> {
        if lifetime < Duration::from_secs(1) || lifetime > Duration::from_secs(7 * 24 * 3600) {
            return Err(TicketKeyError::Lifetime(lifetime));
        }
        self.lifetime = lifetime;
        Ok(self)
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there is no key (never true for keys that were parsed).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The ticketer of one host: these keys bound to `binding` (see [`host_binding`]).
    pub(crate) fn ticketer(
        &self,
        binding: &[u8],
    ) -> Result<Arc<dyn ProducesTickets>, TicketKeyError> {
        aead::ticketer(&self.keys, binding, self.lifetime)
    }
}

/// The digest a host's tickets are bound to: its names and the trust state of its verifier
/// (random when the verifier cannot describe it).
pub(crate) fn host_binding(
    names: &[String],
    verifier: Option<&dyn ReportingVerifier>,
) -> Result<Vec<u8>, TicketKeyError> {
    let mut input = Vec::new();
    let mut feed = |bytes: &[u8]| {
        input.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        input.extend_from_slice(bytes);
    };
    feed(&(names.len() as u64).to_be_bytes());
    for name in names {
        feed(name.as_bytes());
    }
    match verifier {
        None => feed(b"no client authentication"),
        Some(verifier) => {
            feed(b"client authentication");
            if !verifier.trust_state(&mut feed) {
                feed(&aead::random::<32>().ok_or(TicketKeyError::NoCrypto)?);
            }
        }
    }
    aead::digest(&input).ok_or(TicketKeyError::NoCrypto)
}

#[cfg(any(feature = "aws-lc-rs", feature = "ring"))]
#[path = "tickets_aead.rs"]
mod aead;

#[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
mod aead {
    use super::*;

    pub(super) fn ticketer(
        _: &[Arc<[u8]>],
        _: &[u8],
        _: Duration,
    ) -> Result<Arc<dyn ProducesTickets>, TicketKeyError> {
        Err(TicketKeyError::NoCrypto)
    }

    pub(super) fn random<const N: usize>() -> Option<[u8; N]> {
        None
    }

    pub(super) fn digest(_: &[u8]) -> Option<Vec<u8>> {
        None
    }
}
