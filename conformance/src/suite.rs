//! The x509-limbo suite as data: `limbo.json` read with serde, tolerant of fields and feature
//! tags this version does not know (schema: `limbo-schema.json` beside the suite).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The environment variable that points the runner at another `limbo.json`.
pub const SUITE_ENV: &str = "MTLS_LIMBO";

/// Where the suite is in a checkout: `shared/` beside the repository, so
/// `../shared/conformance/limbo/limbo.json` from the workspace root.
pub const SUITE_RELATIVE_TO_WORKSPACE: &str = "../shared/conformance/limbo/limbo.json";

/// The suite to run: `$MTLS_LIMBO` when set, else [`SUITE_RELATIVE_TO_WORKSPACE`] resolved
/// from this crate's workspace root.
pub fn suite_path() -> PathBuf {
    match std::env::var_os(SUITE_ENV) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(SUITE_RELATIVE_TO_WORKSPACE),
    }
}

/// The environment variable that points the runner at another `pkits.json`.
pub const PKITS_ENV: &str = "MTLS_PKITS";

/// Where NIST PKITS, in the x509-limbo shape, is in a checkout:
/// `../shared/conformance/pkits/pkits.json` from the workspace root.
pub const PKITS_RELATIVE_TO_WORKSPACE: &str = "../shared/conformance/pkits/pkits.json";

/// The PKITS suite to run: `$MTLS_PKITS` when set, else [`PKITS_RELATIVE_TO_WORKSPACE`]
/// resolved from this crate's workspace root.
pub fn pkits_path() -> PathBuf {
    match std::env::var_os(PKITS_ENV) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(PKITS_RELATIVE_TO_WORKSPACE),
    }
}

/// The top-level container (`Limbo` in the schema).
#[derive(Debug, Deserialize)]
pub struct Limbo {
    /// Schema version; 1.
    pub version: u32,
    /// Every testcase, in file order.
    pub testcases: Vec<Testcase>,
}

/// Why the suite could not be read.
#[derive(Debug)]
pub struct SuiteError {
    path: PathBuf,
    detail: String,
}

impl fmt::Display for SuiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "x509-limbo suite {}: {}",
            self.path.display(),
            self.detail
        )
    }
}

impl std::error::Error for SuiteError {}

impl Limbo {
    /// Reads and parses `limbo.json`. A missing file is an error naming the path (and how to
    /// point elsewhere): the suite is never skipped silently.
    ///
    /// # Errors
    /// The file cannot be read, is not a limbo suite, or has an unknown schema version.
    pub fn load(path: &Path) -> Result<Self, SuiteError> {
        let error = |detail: String| SuiteError {
            path: path.to_path_buf(),
            detail,
        };
        let bytes = std::fs::read(path).map_err(|e| {
            error(format!(
                "cannot read: {e} (the suite lives in shared/ beside the repository; set \
                 {SUITE_ENV} to use another copy)"
            ))
        })?;
        let limbo: Self = serde_json::from_slice(&bytes).map_err(|e| error(e.to_string()))?;
        if limbo.version != 1 {
            return Err(error(format!(
                "schema version {} (this runner reads version 1)",
                limbo.version
            )));
        }
        Ok(limbo)
    }
}

/// One testcase (`Testcase` in the schema). Unknown fields are ignored; feature tags are kept
/// as strings so a new tag is reported rather than refused.
#[derive(Debug, Deserialize)]
pub struct Testcase {
    /// Unique id, `::`-separated (`rfc5280::nc::permitted-dn-match`).
    pub id: String,
    /// Optional-functionality tags (`max-chain-depth`, `has-crl`, `pedantic-*`, ...).
    #[serde(default)]
    pub features: Vec<String>,
    /// Markdown description.
    #[serde(default)]
    pub description: String,
    /// CLIENT (the peer is a client: our gateway's listeners) or SERVER (the peer is a server:
    /// our upstream connections).
    pub validation_kind: Kind,
    /// PEM CA certificates to trust.
    pub trusted_certs: Vec<String>,
    /// PEM intermediates the peer sends.
    pub untrusted_intermediates: Vec<String>,
    /// The PEM end-entity certificate.
    pub peer_certificate: String,
    /// The PEM private key of the peer certificate, when given (for the handshake's
    /// CertificateVerify).
    #[serde(default)]
    pub peer_certificate_key: Option<String>,
    /// RFC 3339; `None` means now.
    #[serde(default)]
    pub validation_time: Option<String>,
    /// Acceptable signature algorithms (empty: no constraint).
    #[serde(default)]
    pub signature_algorithms: Vec<String>,
    /// Key usages the leaf must assert (empty: no constraint).
    #[serde(default)]
    pub key_usage: Vec<String>,
    /// Extended key usages the leaf must allow (empty: no constraint).
    #[serde(default)]
    pub extended_key_usage: Vec<String>,
    /// SUCCESS or FAILURE.
    pub expected_result: Expected,
    /// SERVER: the name the client connects to.
    #[serde(default)]
    pub expected_peer_name: Option<PeerName>,
    /// CLIENT: the names the client certificate must hold.
    #[serde(default)]
    pub expected_peer_names: Vec<PeerName>,
    /// The most *intermediates* a path may have (0: the leaf is issued by an anchor).
    #[serde(default)]
    pub max_chain_depth: Option<u64>,
    /// PEM CRLs.
    #[serde(default)]
    pub crls: Vec<String>,
}

/// Whose certificate is verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Kind {
    /// A client certificate (gateway listener, client purpose).
    Client,
    /// A server certificate (upstream connection, server purpose).
    Server,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Client => "CLIENT",
            Self::Server => "SERVER",
        })
    }
}

/// The result the suite expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Expected {
    /// The chain must be accepted.
    Success,
    /// The chain must be rejected.
    Failure,
}

/// A name of the peer.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct PeerName {
    /// `DNS`, `IP` or `RFC822` (kept as text: an unknown kind is reported, not refused).
    pub kind: String,
    /// The name.
    pub value: String,
}

impl fmt::Display for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}
