//! Where a host's server certificate comes from.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::trust::SecretRef;

/// A host's server certificate and key.
///
/// In YAML: `{ chain: server.pem, key: server.key }`, `{ secret_dir: secrets/web }` (a
/// mounted Kubernetes TLS secret: `tls.crt`/`tls.key` or `cert`/`key`), or
/// `{ secret: { name: web-credential } }` (read through the secret resolver the serving
/// process has, such as the Kubernetes watcher).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Repr", into = "Repr")]
#[non_exhaustive]
pub enum CertificateSource {
    /// PEM files: the chain (leaf first) and the key.
    Files {
        /// The chain file.
        chain: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// A directory holding a secret's keys as files.
    SecretDir(PathBuf),
    /// A Kubernetes secret.
    Secret(SecretRef),
}

impl CertificateSource {
    /// A chain and key file.
    pub fn files(chain: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self::Files {
            chain: chain.into(),
            key: key.into(),
        }
    }
}

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Repr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chain: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_dir: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<SecretRef>,
}

impl TryFrom<Repr> for CertificateSource {
    type Error = String;
    fn try_from(r: Repr) -> Result<Self, String> {
        match (r.chain, r.key, r.secret_dir, r.secret) {
            (Some(chain), Some(key), None, None) => Ok(Self::Files { chain, key }),
            (None, None, Some(dir), None) => Ok(Self::SecretDir(dir)),
            (None, None, None, Some(secret)) => Ok(Self::Secret(secret)),
            (Some(_), None, None, None) => Err("`chain` needs `key`".into()),
            (None, Some(_), None, None) => Err("`key` needs `chain`".into()),
            (None, None, None, None) => {
                Err("give `chain` and `key`, `secret_dir` or `secret`".into())
            }
            _ => Err(
                "conflicting settings: give one of `chain`/`key`, `secret_dir` and `secret`".into(),
            ),
        }
    }
}

impl From<CertificateSource> for Repr {
    fn from(s: CertificateSource) -> Self {
        match s {
            CertificateSource::Files { chain, key } => Self {
                chain: Some(chain),
                key: Some(key),
                ..Self::default()
            },
            CertificateSource::SecretDir(dir) => Self {
                secret_dir: Some(dir),
                ..Self::default()
            },
            CertificateSource::Secret(secret) => Self {
                secret: Some(secret),
                ..Self::default()
            },
        }
    }
}
