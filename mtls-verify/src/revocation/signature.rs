//! CRL signatures: checked with the provider's algorithms, once per (CRL, signer key).

use rustls::crypto::WebPkiSupportedAlgorithms;

use super::{IndexedCrl, KEY_CACHE, RevocationIndex, Signer};
use crate::der::{self, CrlSign};

impl RevocationIndex {
    /// Whether `crl` was signed by `signer` (cached per signer key).
    pub(super) fn signed_by(
        &self,
        crl: &IndexedCrl,
        signer: &Signer<'_>,
        algs: &WebPkiSupportedAlgorithms,
    ) -> bool {
        if let Ok(keys) = crl.keys.read()
            && let Some((_, ok)) = keys.iter().find(|(k, _)| **k == *signer.spki)
        {
            return *ok;
        }
        let crl_signer = signer
            .cert
            .is_none_or(|cert| der::crl_sign(cert) != CrlSign::Missing);
        let ok = crl_signer && verify_signature(&crl.der, signer.spki, algs).is_ok();
        if !ok {
            tracing::warn!(
                crl_issuer = %crl.issuer,
                crl_signer,
                "a CRL naming this issuer is not signed by this CA certificate of the verified \
                 path; it is not that certificate's CRL"
            );
        }
        if let Ok(mut keys) = crl.keys.write()
            && keys.len() < KEY_CACHE
            && !keys.iter().any(|(k, _)| **k == *signer.spki)
        {
            keys.push((Box::from(signer.spki), ok));
        }
        ok
    }
}

/// Verifies the signature of a CRL with the full SPKI of its issuer, using the provider's
/// algorithms (the same matching rustls-webpki does: signature algorithm identifier and public
/// key algorithm identifier).
pub(crate) fn verify_signature(
    crl: &[u8],
    issuer_spki: &[u8],
    algs: &WebPkiSupportedAlgorithms,
) -> Result<(), String> {
    let signed = der::signed(crl).ok_or("malformed CRL")?;
    let (key_alg, key) = der::spki(issuer_spki).ok_or("malformed issuer public key")?;
    let mut found = false;
    for alg in algs.all {
        if alg.signature_alg_id().as_ref() != signed.algorithm {
            continue;
        }
        found = true;
        if alg.public_key_alg_id().as_ref() != key_alg {
            continue;
        }
        return alg
            .verify_signature(key, signed.tbs, signed.signature)
            .map_err(|_| "invalid signature for the CA's public key".to_owned());
    }
    Err(if found {
        "the signature algorithm does not match the CA's key type".to_owned()
    } else {
        "unsupported signature algorithm".to_owned()
    })
}
