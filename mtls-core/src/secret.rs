//! Kubernetes and Istio secret layouts.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::bundle::CaBundle;
use crate::cert::CertificateChain;
use crate::credential::ServerCredential;
use crate::crl::CrlSet;
use crate::error::{Error, ErrorKind, Origin};
use crate::key::PrivateKey;
use crate::pem;

/// The key layout of a Kubernetes Secret or ConfigMap holding TLS material.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecretLayout {
    /// `kubernetes.io/tls` (also ingress-nginx): `tls.crt`, `tls.key`, optional `ca.crt`, `ca.crl`.
    KubernetesTls,
    /// Istio's generic layout: `cert`, `key`, optional `cacert`, `crl`.
    IstioGeneric,
    /// A CA-only secret: Istio's separate `<name>-cacert` secret (`cacert`, optional `crl`).
    IstioCaCert,
    /// A CA-only secret or ConfigMap with `ca.crt` (optional `ca.crl`): Gateway API
    /// `caCertificateRefs`, ingress-nginx `auth-tls-secret`, AGC `caCertificateRef`.
    CaOnly,
}

impl fmt::Display for SecretLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::KubernetesTls => "kubernetes.io/tls",
            Self::IstioGeneric => "Istio generic",
            Self::IstioCaCert => "Istio <name>-cacert",
            Self::CaOnly => "ca.crt",
        })
    }
}

/// The key names of one layout.
struct Keys {
    layout: SecretLayout,
    cert: Option<&'static str>,
    key: Option<&'static str>,
    ca: &'static str,
    crl: &'static str,
}

const KUBE: Keys = Keys {
    layout: SecretLayout::KubernetesTls,
    cert: Some("tls.crt"),
    key: Some("tls.key"),
    ca: "ca.crt",
    crl: "ca.crl",
};
const ISTIO: Keys = Keys {
    layout: SecretLayout::IstioGeneric,
    cert: Some("cert"),
    key: Some("key"),
    ca: "cacert",
    crl: "crl",
};
const ISTIO_CA: Keys = Keys {
    layout: SecretLayout::IstioCaCert,
    cert: None,
    key: None,
    ca: "cacert",
    crl: "crl",
};
const CA_ONLY: Keys = Keys {
    layout: SecretLayout::CaOnly,
    cert: None,
    key: None,
    ca: "ca.crt",
    crl: "ca.crl",
};

const KUBE_FAMILY: [&str; 4] = ["tls.crt", "tls.key", "ca.crt", "ca.crl"];
const ISTIO_FAMILY: [&str; 4] = ["cert", "key", "cacert", "crl"];

/// The TLS material of one Kubernetes Secret or ConfigMap, in any layout Istio, ingress-nginx,
/// Gateway API or AGC read.
///
/// The layout is recognised from the keys; keys of two layouts in one secret are an error
/// (which one was meant is not ours to guess), and so are a certificate without its key, an empty
/// value, and a secret with no known key. Unknown keys are ignored.
///
/// ```
/// # fn main() -> Result<(), mtls_core::Error> {
/// # let pki = mtls_testkit::Pki::shared();
/// # let server = pki.default_server();
/// use std::collections::BTreeMap;
/// let data = BTreeMap::from([
///     ("tls.crt", server.chain_pem().into_bytes()),
///     ("tls.key", server.key_pem().into_bytes()),
///     ("ca.crt", pki.root().cert_pem().into_bytes()),
/// ]);
/// let secret = mtls_core::SecretMaterial::from_map("default/gateway-tls", &data)?;
/// assert_eq!(secret.layout(), mtls_core::SecretLayout::KubernetesTls);
/// assert!(secret.server_credential()?.is_some());
/// assert_eq!(secret.ca().map(|ca| ca.len()), Some(1));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SecretMaterial {
    name: Arc<str>,
    layout: SecretLayout,
    chain: Option<CertificateChain>,
    key: Option<PrivateKey>,
    key_name: Option<&'static str>,
    ca: Option<CaBundle>,
    crls: Option<CrlSet>,
}

impl SecretMaterial {
    /// Reads a secret's data (key → bytes; a Secret's `data` after base64 decoding, or a
    /// ConfigMap's `data`). `name` names the secret in errors, e.g. `istio-system/httpbin-credential`.
    pub fn from_map<K, V>(name: &str, data: &BTreeMap<K, V>) -> Result<Self, Error>
    where
        K: AsRef<str> + Ord,
        V: AsRef<[u8]>,
    {
        let name: Arc<str> = name.into();
        let data: BTreeMap<&str, &[u8]> =
            data.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
        let origin = |key: &str| Origin::secret_key(Arc::clone(&name), key);
        let whole = Origin::Memory(Arc::clone(&name));
        let present = || {
            if data.is_empty() {
                "none".to_string()
            } else {
                data.keys().copied().collect::<Vec<_>>().join(", ")
            }
        };
        let kube = KUBE_FAMILY.iter().find(|k| data.contains_key(**k));
        let istio = ISTIO_FAMILY.iter().find(|k| data.contains_key(**k));
        let has = |k: &str| data.contains_key(k);
        let keys = match (kube, istio) {
            (Some(a), Some(b)) => {
                return Err(Error::new(
                    whole,
                    ErrorKind::ConflictingLayouts {
                        first: (*a).into(),
                        second: (*b).into(),
                    },
                ));
            }
            (Some(_), None) if has("tls.crt") || has("tls.key") => &KUBE,
            (Some(_), None) => &CA_ONLY,
            (None, Some(_)) if has("cert") || has("key") => &ISTIO,
            (None, Some(_)) => &ISTIO_CA,
            (None, None) => {
                return Err(Error::new(
                    whole,
                    ErrorKind::UnknownLayout { present: present() },
                ));
            }
        };
        let required: Vec<&'static str> = match (keys.cert, keys.key) {
            (Some(c), Some(k)) => vec![c, k],
            _ => vec![keys.ca],
        };
        for key in required {
            if !has(key) {
                return Err(Error::new(
                    whole,
                    ErrorKind::MissingKey {
                        key,
                        layout: keys.layout,
                        present: present(),
                    },
                ));
            }
        }
        for (key, value) in &data {
            let known = KUBE_FAMILY.contains(key) || ISTIO_FAMILY.contains(key);
            if known && value.iter().all(u8::is_ascii_whitespace) {
                return Err(Error::new(
                    origin(key),
                    ErrorKind::EmptyValue { key: (*key).into() },
                ));
            }
        }
        let value = |key: &'static str| data.get(key).copied();
        let chain = match keys.cert.and_then(value) {
            Some(v) => Some(
                CertificateChain::parse(v)
                    .map_err(|k| Error::new(origin(keys.cert.unwrap_or_default()), k))?,
            ),
            None => None,
        };
        let key = match keys.key.and_then(value) {
            Some(v) => Some(
                PrivateKey::parse(v)
                    .map_err(|k| Error::new(origin(keys.key.unwrap_or_default()), k))?,
            ),
            None => None,
        };
        let ca = match value(keys.ca) {
            Some(v) => Some(CaBundle::from_bytes(v, origin(keys.ca))?),
            None => None,
        };
        let crls = match value(keys.crl) {
            Some(v) => Some(CrlSet::from_bytes(v, origin(keys.crl))?),
            None => None,
        };
        Ok(Self {
            name,
            layout: keys.layout,
            chain,
            key,
            key_name: keys.key,
            ca,
            crls,
        })
    }

    /// Reads a secret mounted as a directory: one file per key. Kubernetes' `..data` and
    /// timestamped directories are skipped; the key files (symlinks into `..data`) are followed,
    /// so a read after Kubernetes swaps `..data` sees the new secret whole.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, Error> {
        let dir = dir.as_ref();
        let mut data = BTreeMap::new();
        for (name, path) in pem::dir_files(dir)? {
            data.insert(name, pem::read_file(&path)?);
        }
        Self::from_map(&dir.display().to_string(), &data)
    }

    /// Adds the CA (and CRL) of a separate CA-only secret: Istio's `<credentialName>-cacert`.
    /// Fails when `ca_secret` is not CA-only or when this secret already has a CA.
    pub fn with_ca_secret(mut self, ca_secret: Self) -> Result<Self, Error> {
        let conflict = |first: String, second: String| {
            Error::new(
                Origin::Memory(Arc::clone(&self.name)),
                ErrorKind::ConflictingLayouts { first, second },
            )
        };
        if ca_secret.chain.is_some() {
            return Err(conflict(
                format!("a CA secret {:?}", ca_secret.name),
                format!("its certificate ({} layout)", ca_secret.layout),
            ));
        }
        if self.ca.is_some() {
            return Err(conflict(
                format!("a CA in secret {:?}", self.name),
                format!("a CA in secret {:?}", ca_secret.name),
            ));
        }
        self.ca = ca_secret.ca;
        match (&mut self.crls, ca_secret.crls) {
            (Some(mine), Some(theirs)) => mine.extend(theirs),
            (slot @ None, theirs) => *slot = theirs,
            (Some(_), None) => {}
        }
        Ok(self)
    }

    /// The secret's name, as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The layout recognised from its keys.
    pub fn layout(&self) -> SecretLayout {
        self.layout
    }

    /// The certificate chain (`tls.crt` / `cert`), if the layout has one.
    pub fn chain(&self) -> Option<&CertificateChain> {
        self.chain.as_ref()
    }

    /// The CA bundle (`ca.crt` / `cacert`), if present.
    pub fn ca(&self) -> Option<&CaBundle> {
        self.ca.as_ref()
    }

    /// The CRLs (`ca.crl` / `crl`), if present.
    pub fn crls(&self) -> Option<&CrlSet> {
        self.crls.as_ref()
    }

    /// The server credential (chain + key, paired as [`ServerCredential::new`] checks), if the
    /// layout has one. Its origin is the secret's key (`tls.key` or `key`).
    pub fn server_credential(&self) -> Result<Option<ServerCredential>, Error> {
        match (&self.chain, &self.key, self.key_name) {
            (Some(chain), Some(key), Some(key_name)) => ServerCredential::with_origin(
                chain.clone(),
                key.clone(),
                Origin::secret_key(Arc::clone(&self.name), key_name),
            )
            .map(Some),
            _ => Ok(None),
        }
    }
}
