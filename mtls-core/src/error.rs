//! Load errors: every one names where the bad input came from and what was wrong with it.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a piece of material came from.
///
/// Every [`Error`] carries one, so that a message such as
/// `secret "istio-system/httpbin-credential" key "ca.crt": PEM block 2: not a CA certificate`
/// tells the operator which file or key to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// Bytes handed to a `from_*bytes` constructor; the label is the caller's name for them.
    Memory(Arc<str>),
    /// A file on disk.
    File(PathBuf),
    /// One key of a Kubernetes Secret or ConfigMap (a map or a mounted directory).
    SecretKey {
        /// The secret's name (or the directory it is mounted at).
        secret: Arc<str>,
        /// The key inside the secret, e.g. `tls.crt`.
        key: Arc<str>,
    },
}

impl Origin {
    /// Bytes from memory, with a label naming them.
    pub fn memory(label: impl Into<Arc<str>>) -> Self {
        Self::Memory(label.into())
    }

    /// A file path.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self::File(path.into())
    }

    /// A key of a secret.
    pub fn secret_key(secret: impl Into<Arc<str>>, key: impl Into<Arc<str>>) -> Self {
        Self::SecretKey {
            secret: secret.into(),
            key: key.into(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory(label) => write!(f, "{label}"),
            Self::File(path) => write!(f, "file {}", path.display()),
            Self::SecretKey { secret, key } => write!(f, "secret {secret:?} key {key:?}"),
        }
    }
}

/// What kind of material a loader expected; used in messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Expected {
    /// One or more X.509 certificates.
    Certificate,
    /// Exactly one private key.
    PrivateKey,
    /// One or more CA certificates.
    CaCertificate,
    /// One or more certificate revocation lists.
    Crl,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Certificate => "certificate",
            Self::PrivateKey => "private key",
            Self::CaCertificate => "CA certificate",
            Self::Crl => "certificate revocation list",
        })
    }
}

/// The cause of an [`Error`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file or directory could not be read.
    #[error("cannot read: {0}")]
    Io(#[source] std::io::Error),
    /// The input is empty (or only whitespace).
    #[error("empty input, expected a {0}")]
    Empty(Expected),
    /// The input is neither PEM nor DER of the expected kind.
    #[error("not PEM and not a DER {expected}: {detail}")]
    NotPemOrDer {
        /// What was expected.
        expected: Expected,
        /// Why the DER reading failed.
        detail: String,
    },
    /// PEM framing is broken (a `BEGIN` without `END`, bad base64, ...).
    #[error("PEM block {index}: malformed PEM: {detail}")]
    MalformedPem {
        /// Zero-based index of the PEM block in the input.
        index: usize,
        /// What was wrong.
        detail: String,
    },
    /// The input is PEM, but holds no block of the expected type.
    #[error("no {expected} PEM block found (block types seen: {seen})")]
    NoMatchingPemBlock {
        /// What was expected.
        expected: Expected,
        /// The labels of the blocks that were present, comma separated, or `none`.
        seen: String,
    },
    /// A certificate could not be parsed.
    #[error("certificate {index}: not a valid X.509 certificate: {detail}")]
    BadCertificate {
        /// Zero-based index of the certificate in the input.
        index: usize,
        /// The parser's complaint.
        detail: String,
    },
    /// A certificate of a CA bundle cannot serve as a trust anchor.
    #[error("certificate {index} ({subject}): not a CA certificate: {detail}")]
    NotACa {
        /// Zero-based index of the certificate in the input.
        index: usize,
        /// The certificate's subject (RFC 4514).
        subject: String,
        /// Why it is not usable as a trust anchor.
        detail: String,
    },
    /// A CA bundle holds no certificate. An empty bundle never means "trust nothing".
    #[error("CA bundle is empty: it holds no certificate, and an empty bundle would trust nobody")]
    EmptyBundle,
    /// A CRL could not be parsed.
    #[error("CRL {index}: not a valid certificate revocation list: {detail}")]
    BadCrl {
        /// Zero-based index of the CRL in the input.
        index: usize,
        /// The parser's complaint.
        detail: String,
    },
    /// A CRL file or value is empty. An empty file never means "nothing revoked".
    #[error(
        "empty input, expected a certificate revocation list: a CA that revokes nothing still publishes a CRL (with no entries), and an empty file is refused rather than read as \"nothing revoked\""
    )]
    EmptyCrl,
    /// A certificate was given where a CRL was expected.
    #[error(
        "{found}: a certificate, not a certificate revocation list (a CRL's PEM block is \"X509 CRL\"; the CA's CRL comes from e.g. `openssl ca -gencrl`)"
    )]
    CertificateNotCrl {
        /// Where the certificate was: `PEM block N (CERTIFICATE)` or `DER input`.
        found: String,
    },
    /// A version 1 CRL: no extensions, so no CRL number and no authority key identifier.
    /// rustls-webpki reads only version 2 CRLs.
    #[error(
        "CRL {index} ({issuer}): a version 1 CRL, which rustls-webpki does not read; issue a version 2 CRL instead (with `openssl ca -gencrl`, set `crlnumber` in the CA section of its configuration to a file holding a serial such as 01)"
    )]
    CrlVersion1 {
        /// Zero-based index of the CRL in the input.
        index: usize,
        /// The CRL's issuer (RFC 4514).
        issuer: String,
    },
    /// More than one private key was found where exactly one is expected.
    #[error("{count} private keys found, expected exactly one")]
    MultiplePrivateKeys {
        /// How many keys were found.
        count: usize,
    },
    /// The crypto provider cannot use this key (algorithm or parameters unsupported, or the key
    /// bytes are invalid).
    #[error("unsupported or invalid private key ({format}): {detail}")]
    UnsupportedKey {
        /// The key's container format (`PKCS#8`, `PKCS#1 RSA`, `SEC1 EC`).
        format: &'static str,
        /// The provider's complaint.
        detail: String,
    },
    /// The private key does not belong to the leaf certificate.
    #[error("private key does not match the leaf certificate ({leaf_subject})")]
    KeyMismatch {
        /// Subject of the leaf certificate.
        leaf_subject: String,
    },
    /// A required key of a secret layout is absent.
    #[error("missing key {key:?} ({layout} layout; keys present: {present})")]
    MissingKey {
        /// The missing key.
        key: &'static str,
        /// The layout that requires it.
        layout: crate::SecretLayout,
        /// The keys that are present, comma separated, or `none`.
        present: String,
    },
    /// A key of a secret is present but empty.
    #[error("key {key:?} is present but empty")]
    EmptyValue {
        /// The empty key.
        key: String,
    },
    /// A secret mixes keys of different layouts.
    #[error("conflicting secret layouts: {first} and {second} are both present; keep one layout")]
    ConflictingLayouts {
        /// A key of the first layout.
        first: String,
        /// A key of the second layout.
        second: String,
    },
    /// A secret holds none of the keys of any known layout.
    #[error(
        "no known secret layout (expected tls.crt/tls.key/ca.crt/ca.crl or cert/key/cacert/crl; keys present: {present})"
    )]
    UnknownLayout {
        /// The keys that are present, comma separated, or `none`.
        present: String,
    },
    /// A directory holds no file to load.
    #[error("directory holds no {0} file")]
    EmptyDirectory(Expected),
}

/// A material loading error: where ([`Origin`]) and why ([`ErrorKind`]).
#[derive(Debug)]
pub struct Error {
    origin: Origin,
    kind: ErrorKind,
}

impl Error {
    /// Builds an error.
    pub fn new(origin: Origin, kind: ErrorKind) -> Self {
        Self { origin, kind }
    }

    /// Where the bad input came from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// What was wrong with it.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.kind)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<&str> for Origin {
    fn from(label: &str) -> Self {
        Self::Memory(label.into())
    }
}

impl From<String> for Origin {
    fn from(label: String) -> Self {
        Self::Memory(label.into())
    }
}

impl From<&std::path::Path> for Origin {
    fn from(path: &std::path::Path) -> Self {
        Self::File(path.to_path_buf())
    }
}

impl From<PathBuf> for Origin {
    fn from(path: PathBuf) -> Self {
        Self::File(path)
    }
}
