//! Certificates and CA bundles from where the model says they are ([`CertificateSource`],
//! [`TrustSource`]).

use std::collections::BTreeMap;

use mtls_core::{CaBundle, SecretMaterial, ServerCredential};
use mtls_policy::{CertificateSource, SecretRef, TrustSource};

use crate::tls::ResolveError;

/// Reads a `secret:` reference's keys (see [`MtlsListenerBuilder::secrets`]).
///
/// [`MtlsListenerBuilder::secrets`]: crate::MtlsListenerBuilder::secrets
pub(crate) type Secrets<'a> = dyn Fn(&SecretRef) -> Result<Vec<u8>, ResolveError> + 'a;

/// Loads the server certificate `source` names: PEM files, a mounted secret directory
/// (`tls.crt`/`tls.key` or `cert`/`key`), or a secret read through `secrets`. The error names
/// the file or secret and the cause. The key is loaded by a crypto provider, and checked
/// against the leaf, by [`mtls_verify::crypto::certified_key`], which the listener calls on
/// what this returns.
pub fn load_certificate(
    source: &CertificateSource,
    secrets: &Secrets<'_>,
) -> Result<ServerCredential, String> {
    let material = match source {
        CertificateSource::Files { chain, key } => {
            return ServerCredential::from_files(chain, key).map_err(|e| e.to_string());
        }
        CertificateSource::SecretDir(dir) => {
            SecretMaterial::from_dir(dir).map_err(|e| e.to_string())?
        }
        CertificateSource::Secret(secret) => {
            let mut data = BTreeMap::new();
            for key in ["tls.crt", "tls.key"] {
                let mut one = secret.clone();
                one.key = Some(key.to_owned());
                let value = secrets(&one)
                    .map_err(|e| format!("secret {:?} key {key}: {e}", secret.name))?;
                data.insert(key.to_owned(), value);
            }
            SecretMaterial::from_map(&secret.name, &data).map_err(|e| e.to_string())?
        }
        other => return Err(format!("unsupported certificate source {other:?}")),
    };
    match material.server_credential() {
        Ok(Some(credential)) => Ok(credential),
        Ok(None) => Err(format!(
            "{}: no certificate and key ({} layout)",
            material.name(),
            material.layout()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Loads the CA bundle `source` names: a PEM file, inline PEM, or a secret read through
/// `secrets` (its key guessed from the known layouts when the reference names none), with
/// [`mtls_verify::read_ca_source`], the reader trust domains use. The error names the file or
/// secret and the cause.
pub fn load_ca_bundle(source: &TrustSource, secrets: &Secrets<'_>) -> Result<CaBundle, String> {
    mtls_verify::read_ca_source(source, secrets).map_err(|e| e.to_string())
}
