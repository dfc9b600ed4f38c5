//! `check`'s trust domain: the roots and the CRLs given, where a CRL the domain cannot use is
//! left out (its status for the chain stays unknown, a rejection), not a configuration error.

use mtls_core::{CaBundle, CrlSet};
use mtls_policy::VerifyError;
use mtls_tower::tls::{CrlError, DomainOptions, LoadedTrustDomain, TrustError};
use rustls::crypto::CryptoProvider;

/// The trust domain, and why each CRL left out was (empty when every CRL is used).
pub(super) struct Loaded {
    pub(super) domain: LoadedTrustDomain,
    pub(super) unusable: Vec<String>,
}

/// Loads `bundle` with `crls` (`None`: no CRL given, so no revocation checking). Each CRL the
/// domain refuses (a bad signature, an issuer without cRLSign, a critical cRLNumber) is left
/// out and named in [`Loaded::unusable`]: revocation stays checked, so a certificate whose
/// status only that CRL gave is rejected as `revocation status unknown`.
pub(super) fn load_domain(
    name: &str,
    bundle: &CaBundle,
    crls: Option<CrlSet>,
    options: DomainOptions,
    provider: &CryptoProvider,
) -> Result<Loaded, String> {
    let mut unusable = Vec::new();
    let mut crls = crls;
    // The index each CRL had in the set given, as the errors name them by index.
    let mut given: Vec<usize> = (0..crls.as_ref().map_or(0, CrlSet::len)).collect();
    loop {
        let result = LoadedTrustDomain::new(name, bundle.clone(), crls.as_ref(), options, provider);
        let (error, index) = match result {
            Ok(domain) => return Ok(Loaded { domain, unusable }),
            Err(e) => match (crl_index(&e), crls.as_ref()) {
                (Some(index), Some(set)) if index < set.len() => (e, index),
                _ => return Err(e.to_string()),
            },
        };
        let at = given.remove(index);
        let message = error.to_string();
        unusable.push(message.replacen(&format!("CRL {index} "), &format!("CRL {at} "), 1));
        crls = crls.map(|set| without(&set, index)).transpose()?;
    }
}

/// The reason of a rejection, with the CRLs left out when the status was unknown.
pub(super) fn with_unusable(error: &VerifyError, reason: String, unusable: &[String]) -> String {
    if *error != VerifyError::RevocationUnknown || unusable.is_empty() {
        return reason;
    }
    format!("{reason}; CRLs not used: {}", unusable.join("; "))
}

/// The index of the CRL a load error is about, if it is about one.
fn crl_index(error: &TrustError) -> Option<usize> {
    match error {
        TrustError::CrlIssuerNotCrlSigner { index, .. } => Some(*index),
        TrustError::Crl {
            source:
                CrlError::Unreadable { index, .. }
                | CrlError::BadSignature { index, .. }
                | CrlError::CriticalCrlNumber { index, .. },
            ..
        } => Some(*index),
        _ => None,
    }
}

/// `set` without its CRL at `index` (read again from each other CRL's DER).
fn without(set: &CrlSet, index: usize) -> Result<CrlSet, String> {
    let mut kept = CrlSet::default();
    for (k, crl) in set.crls().iter().enumerate() {
        if k != index {
            let one = CrlSet::from_bytes(crl.der().as_ref(), format!("CRL {k}").as_str())
                .map_err(|e| e.to_string())?;
            kept.extend(one);
        }
    }
    Ok(kept)
}
