//! A server credential's key loaded by the crypto provider (`crypto::certified_key`): every
//! algorithm and encoding served, and the keys the provider refuses with their exact errors.

use std::sync::Arc;

use mtls_core::{
    CertificateChain, ErrorKind, Origin, PrivateKey, SecretMaterial, ServerCredential,
};
use mtls_testkit::{KeyAlg, Pki};
use mtls_verify::crypto::{certified_key, default_provider};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

fn credential_of(leaf: &mtls_testkit::Leaf, key: PrivateKeyDer<'static>) -> ServerCredential {
    let chain = CertificateChain::from_der(leaf.chain_der()).unwrap();
    ServerCredential::new(chain, PrivateKey::from(key)).unwrap()
}

#[test]
fn every_algorithm_and_encoding_is_loaded() {
    for alg in KeyAlg::ALL {
        let server = Pki::shared_with(alg).default_server();
        let key = server.key();
        let mut keys = vec![key.der()];
        keys.extend(key.pkcs1_der().map(PrivateKeyDer::Pkcs1));
        keys.extend(key.sec1_der().map(PrivateKeyDer::Sec1));
        if alg == KeyAlg::Ed25519 {
            keys.push(PrivateKeyDer::Pkcs8(key.pkcs8_v1_der()));
        }
        for key in keys {
            let certified = certified_key(&credential_of(server, key), &default_provider())
                .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            assert_eq!(certified.cert.len(), 2);
            assert_eq!(certified.end_entity_cert().unwrap(), server.cert_der());
        }
    }
}

/// An Ed25519 key without its public key (PKCS#8 version 1, as OpenSSL writes it) passes
/// mtls-core's reading of the encodings; the provider finds that it is another certificate's.
#[test]
fn a_key_whose_encoding_hides_its_public_half_is_matched_by_the_provider() {
    let pki = Pki::shared_with(KeyAlg::Ed25519);
    let other = PrivateKeyDer::Pkcs8(pki.default_client().key().pkcs8_v1_der());
    let credential = credential_of(pki.default_server(), other);
    let err = certified_key(&credential, &default_provider()).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::KeyMismatch { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "server credential: private key does not match the leaf certificate (O=mtls-testkit,CN=localhost)"
    );
}

#[test]
fn a_key_the_provider_cannot_use_is_refused_naming_its_format_and_origin() {
    let server = Pki::shared().default_server();
    // A PKCS#8 structure whose content is no key the provider understands.
    let garbage =
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]));
    let err = certified_key(&credential_of(server, garbage), &default_provider()).unwrap_err();
    match err.kind() {
        ErrorKind::UnsupportedKey { format, .. } => assert_eq!(*format, "PKCS#8"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("server credential: unsupported or invalid private key (PKCS#8): "),
        "{err}"
    );

    // From a secret: the secret's key is named.
    let data = std::collections::BTreeMap::from([
        ("tls.crt", server.chain_pem().into_bytes()),
        // The DER 30 03 02 01 00 again.
        (
            "tls.key",
            b"-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n".to_vec(),
        ),
    ]);
    let secret = SecretMaterial::from_map("ns/gateway-tls", &data).unwrap();
    let credential = secret.server_credential().unwrap().unwrap();
    let err = certified_key(&credential, &default_provider()).unwrap_err();
    assert_eq!(
        err.origin(),
        &Origin::secret_key("ns/gateway-tls", "tls.key")
    );
    assert!(
        matches!(err.kind(), ErrorKind::UnsupportedKey { .. }),
        "{err}"
    );
}

#[test]
fn the_certified_key_serves_a_real_handshake() {
    let pki = Pki::shared();
    let server = pki.server_for(&["localhost"]).issue();
    let credential = credential_of(&server, server.key().der());
    let provider = default_provider();
    let config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(
            certified_key(&credential, &provider).unwrap(),
        )));
    let client = mtls_testkit::tls::client_config(pki, None);
    mtls_testkit::tls::handshake(client, Arc::new(config), "localhost").unwrap();
}

#[test]
fn the_default_provider_puts_aes_128_gcm_first_and_keeps_the_rest_in_order() {
    let provider = default_provider();
    let ours: Vec<_> = provider.cipher_suites.iter().map(|s| s.suite()).collect();
    assert_eq!(ours[0], rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    #[cfg(feature = "aws-lc-rs")]
    let theirs = rustls::crypto::aws_lc_rs::default_provider();
    #[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
    let theirs = rustls::crypto::ring::default_provider();
    let mut rest: Vec<_> = theirs.cipher_suites.iter().map(|s| s.suite()).collect();
    rest.retain(|s| *s != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    assert_eq!(ours[1..], rest[..]);
}
