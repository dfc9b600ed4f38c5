//! A host certificate whose key is not the leaf's, or is no key the crypto provider can use, is
//! refused when the listener is built or reloaded from the policy, naming the host and the key
//! file; never at a handshake.
#![cfg(feature = "layer")]

mod support;

use std::path::Path;

use mtls_policy::Policy;
use mtls_testkit::{KeyAlg, Pki, pem_encode};
use mtls_tower::MtlsListener;

/// A policy with one host serving `dir/server.pem` with the key `dir/server.key`.
fn policy(dir: &Path) -> Policy {
    let d = dir.display();
    Policy::from_yaml(&format!(
        "listeners:\n  - name: web\n    port: 8443\n    hosts:\n      - hostnames: [localhost]\n        \
         certificate: {{ chain: {d}/server.pem, key: {d}/server.key }}\n"
    ))
    .unwrap()
}

fn build(dir: &Path) -> Result<MtlsListener, String> {
    MtlsListener::builder(policy(dir), "web", support::provider())
        .build()
        .map_err(|e| e.to_string())
}

fn write(dir: &Path, chain: &str, key: &str) {
    std::fs::write(dir.join("server.pem"), chain).unwrap();
    std::fs::write(dir.join("server.key"), key).unwrap();
}

fn mismatch(dir: &Path) -> String {
    format!(
        "listeners[0].hosts[0].certificate: file {}: private key does not match the leaf certificate (O=mtls-testkit,CN=localhost)",
        dir.join("server.key").display()
    )
}

#[test]
fn a_key_of_another_certificate_is_refused_at_build() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::shared();
    write(
        dir.path(),
        &pki.default_server().chain_pem(),
        &pki.default_client().key_pem(),
    );
    assert_eq!(build(dir.path()).err(), Some(mismatch(dir.path())));
}

/// An Ed25519 key without its public key (PKCS#8 version 1, OpenSSL's form): only the crypto
/// provider can tell it is another certificate's, and the listener asks it when it is built.
#[test]
fn a_key_only_the_provider_can_match_is_refused_at_build() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::shared_with(KeyAlg::Ed25519);
    let other = pki.default_client().key().pkcs8_v1_der();
    write(
        dir.path(),
        &pki.default_server().chain_pem(),
        &pem_encode("PRIVATE KEY", other.secret_pkcs8_der()),
    );
    assert_eq!(build(dir.path()).err(), Some(mismatch(dir.path())));

    // Its own key in the same form is served.
    let own = pki.default_server().key().pkcs8_v1_der();
    write(
        dir.path(),
        &pki.default_server().chain_pem(),
        &pem_encode("PRIVATE KEY", own.secret_pkcs8_der()),
    );
    build(dir.path()).unwrap();
}

#[test]
fn a_key_the_provider_cannot_use_is_refused_at_build() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::shared();
    write(
        dir.path(),
        &pki.default_server().chain_pem(),
        &pem_encode("PRIVATE KEY", &[0x30, 0x03, 0x02, 0x01, 0x00]),
    );
    let err = build(dir.path()).err().unwrap();
    let expected = format!(
        "listeners[0].hosts[0].certificate: file {}: unsupported or invalid private key (PKCS#8): ",
        dir.path().join("server.key").display()
    );
    assert!(err.starts_with(&expected), "{err}");
}

#[test]
fn a_reload_with_a_key_of_another_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::shared();
    write(
        dir.path(),
        &pki.default_server().chain_pem(),
        &pki.default_server().key_pem(),
    );
    let listener = build(dir.path()).unwrap();
    write(
        dir.path(),
        &pki.default_server().chain_pem(),
        &pki.default_client().key_pem(),
    );
    let err = listener.reload(policy(dir.path()), None, None).unwrap_err();
    assert_eq!(err.to_string(), mismatch(dir.path()));
}
