//! The CertificateVerify step of a handshake, emulated: a peer proves it holds the key of its
//! leaf by signing with one of the schemes the gateway's provider verifies
//! (`PolicyVerifier::verify_tls1{2,3}_signature` for clients, rustls' own check for upstream
//! servers). A leaf whose key no such scheme accepts (DSA, P-192, RSA below 2048 bits) is
//! refused there, after path verification, so the runner checks the leaf key's type and size,
//! and, when the testcase gives the leaf's private key (`peer_certificate_key`), signs with it
//! and verifies the signature as the gateway would.

use rustls::SignatureScheme;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

const MESSAGE: &[u8] = b"x509-limbo: emulated TLS CertificateVerify content";

/// `Ok(None)`: a signature made with the leaf's key verifies. `Ok(Some(note))`: the key's type
/// and size are ones the gateway verifies, but no signature could be made here (the note says
/// why). `Err`: the gateway would end the handshake.
pub(crate) fn certificate_verify(
    provider: &CryptoProvider,
    leaf: &CertificateDer<'_>,
    key_pem: Option<&str>,
) -> Result<Option<String>, String> {
    let algs = &provider.signature_verification_algorithms;
    let cert = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| format!("end-entity certificate: {e}"))?;
    if !key_type_verifiable(provider, &cert) {
        return Err(
            "CertificateVerify: no signature scheme the gateway verifies takes the \
                    leaf's key type; the handshake would fail"
                .into(),
        );
    }
    if let Some(bits) = rsa_bits(leaf)
        && !(2048..=8192).contains(&bits)
    {
        return Err(format!(
            "CertificateVerify: RSA key of {bits} bits, and the provider verifies RSA \
                 signatures with 2048..8192-bit keys only; the handshake would fail"
        ));
    }
    let Some(key_pem) = key_pem else {
        return Ok(Some(
            "no peer_certificate_key: the leaf key's type and size checked, no signature made"
                .into(),
        ));
    };
    let signer = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .ok()
        .and_then(|key| provider.key_provider.load_private_key(key).ok())
        .and_then(|key| {
            let offered: Vec<SignatureScheme> = algs.mapping.iter().map(|(s, _)| *s).collect();
            key.choose_scheme(&offered)
        });
    let Some(signer) = signer else {
        return Ok(Some(
            "peer_certificate_key cannot sign here; its certificate's key type and size are \
             ones the gateway verifies"
                .into(),
        ));
    };
    let scheme = signer.scheme();
    let signature = signer
        .sign(MESSAGE)
        .map_err(|e| format!("CertificateVerify: signing with the peer key failed: {e}"))?;
    let verifies = algs
        .mapping
        .iter()
        .filter(|(s, _)| *s == scheme)
        .flat_map(|(_, algs)| algs.iter())
        .any(|alg| cert.verify_signature(*alg, MESSAGE, &signature).is_ok());
    if verifies {
        Ok(None)
    } else {
        Err(format!(
            "CertificateVerify ({scheme:?}) made with peer_certificate_key does not verify with \
             the leaf's key; the handshake would fail"
        ))
    }
}

/// The modulus size of an RSA leaf key.
fn rsa_bits(leaf: &CertificateDer<'_>) -> Option<usize> {
    use x509_parser::prelude::FromDer as _;
    use x509_parser::public_key::PublicKey;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(leaf).ok()?;
    match cert.public_key().parsed().ok()? {
        PublicKey::RSA(rsa) => Some(rsa.key_size()),
        _ => None,
    }
}

/// Whether any algorithm of the gateway's provider takes the leaf's key type (a made-up
/// signature then fails as a bad signature, not as an unsupported key).
fn key_type_verifiable(provider: &CryptoProvider, cert: &webpki::EndEntityCert<'_>) -> bool {
    provider
        .signature_verification_algorithms
        .all
        .iter()
        .any(|alg| {
            !matches!(
                cert.verify_signature(*alg, MESSAGE, &[0u8; 64]),
                Err(webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_))
            )
        })
}
