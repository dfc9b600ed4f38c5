//! Kubernetes / Istio / Gateway API secret layouts, as maps and as mounted directories.

use std::collections::BTreeMap;
use std::path::Path;

use mtls_core::{ErrorKind, Origin, SecretLayout, SecretMaterial};
use mtls_testkit::Pki;

fn map(entries: &[(&str, String)]) -> BTreeMap<String, Vec<u8>> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone().into_bytes()))
        .collect()
}

#[test]
fn kubernetes_tls_layout_with_ca_and_crl() {
    let pki = Pki::shared();
    let server = pki.default_server();
    let data = map(&[
        ("tls.crt", server.chain_pem()),
        ("tls.key", server.key_pem()),
        ("ca.crt", pki.root().cert_pem()),
        ("ca.crl", pki.crls().build().pem()),
        ("unrelated", "ignored".into()),
    ]);
    let secret = SecretMaterial::from_map("default/gw", &data).unwrap();
    assert_eq!(secret.layout(), SecretLayout::KubernetesTls);
    assert_eq!(secret.name(), "default/gw");
    assert_eq!(secret.chain().unwrap().as_slice().len(), 2);
    assert_eq!(secret.ca().unwrap().len(), 1);
    assert_eq!(secret.crls().unwrap().len(), 2);
    let cred = secret.server_credential().unwrap().unwrap();
    assert_eq!(cred.chain().leaf(), server.cert_der());
}

#[test]
fn istio_generic_layout() {
    let pki = Pki::shared();
    let server = pki.default_server();
    let data = map(&[
        ("cert", server.chain_pem()),
        ("key", server.key_pem()),
        ("cacert", pki.root().cert_pem()),
        ("crl", pki.crls().build().pem()),
    ]);
    let secret = SecretMaterial::from_map("istio-system/httpbin-credential", &data).unwrap();
    assert_eq!(secret.layout(), SecretLayout::IstioGeneric);
    assert!(secret.ca().is_some());
    assert!(secret.crls().is_some());
    assert!(secret.server_credential().unwrap().is_some());
}

#[test]
fn istio_separate_cacert_secret() {
    let pki = Pki::shared();
    let server = pki.default_server();
    let main = SecretMaterial::from_map(
        "istio-system/httpbin-credential",
        &map(&[
            ("tls.crt", server.chain_pem()),
            ("tls.key", server.key_pem()),
        ]),
    )
    .unwrap();
    assert!(main.ca().is_none());
    let ca = SecretMaterial::from_map(
        "istio-system/httpbin-credential-cacert",
        &map(&[
            ("cacert", pki.root().cert_pem()),
            ("crl", pki.crls().build().pem()),
        ]),
    )
    .unwrap();
    assert_eq!(ca.layout(), SecretLayout::IstioCaCert);
    assert!(ca.server_credential().unwrap().is_none());
    let merged = main.with_ca_secret(ca).unwrap();
    assert_eq!(merged.ca().unwrap().len(), 1);
    assert_eq!(merged.crls().unwrap().len(), 2);
    assert!(merged.server_credential().unwrap().is_some());
}

#[test]
fn a_ca_in_both_secrets_is_a_conflict() {
    let pki = Pki::shared();
    let server = pki.default_server();
    let main = SecretMaterial::from_map(
        "ns/cred",
        &map(&[
            ("tls.crt", server.chain_pem()),
            ("tls.key", server.key_pem()),
            ("ca.crt", pki.root().cert_pem()),
        ]),
    )
    .unwrap();
    let ca = SecretMaterial::from_map("ns/cred-cacert", &map(&[("cacert", pki.root().cert_pem())]))
        .unwrap();
    let err = main.with_ca_secret(ca).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ns/cred: conflicting secret layouts: a CA in secret \"ns/cred\" and a CA in secret \"ns/cred-cacert\" are both present; keep one layout"
    );
}

#[test]
fn gateway_api_configmap_with_ca_crt() {
    let pki = Pki::shared();
    let data = map(&[("ca.crt", pki.root().cert_pem())]);
    let cm = SecretMaterial::from_map("default/client-ca", &data).unwrap();
    assert_eq!(cm.layout(), SecretLayout::CaOnly);
    assert!(cm.chain().is_none());
    assert!(cm.server_credential().unwrap().is_none());
}

#[test]
fn missing_empty_conflicting_and_unknown_keys_are_named() {
    let pki = Pki::shared();
    let server = pki.default_server();
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (
            vec![("tls.crt", server.chain_pem())],
            "ns/s: missing key \"tls.key\" (kubernetes.io/tls layout; keys present: tls.crt)",
        ),
        (
            vec![("key", server.key_pem())],
            "ns/s: missing key \"cert\" (Istio generic layout; keys present: key)",
        ),
        (
            vec![("ca.crl", pki.crls().build().pem())],
            "ns/s: missing key \"ca.crt\" (ca.crt layout; keys present: ca.crl)",
        ),
        (
            vec![("crl", pki.crls().build().pem())],
            "ns/s: missing key \"cacert\" (Istio <name>-cacert layout; keys present: crl)",
        ),
        (
            vec![("tls.crt", server.chain_pem()), ("tls.key", " \n".into())],
            "secret \"ns/s\" key \"tls.key\": key \"tls.key\" is present but empty",
        ),
        (
            vec![
                ("tls.crt", server.chain_pem()),
                ("tls.key", server.key_pem()),
                ("cacert", pki.root().cert_pem()),
            ],
            "ns/s: conflicting secret layouts: tls.crt and cacert are both present; keep one layout",
        ),
        (
            vec![("foo", "bar".into())],
            "ns/s: no known secret layout (expected tls.crt/tls.key/ca.crt/ca.crl or cert/key/cacert/crl; keys present: foo)",
        ),
        (
            vec![],
            "ns/s: no known secret layout (expected tls.crt/tls.key/ca.crt/ca.crl or cert/key/cacert/crl; keys present: none)",
        ),
    ];
    for (entries, want) in cases {
        let err = SecretMaterial::from_map("ns/s", &map(&entries)).unwrap_err();
        assert_eq!(err.to_string(), want);
    }
}

#[test]
fn bad_values_name_the_secret_and_key() {
    let pki = Pki::shared();
    let server = pki.default_server();
    let leaf_as_ca = pki.default_client().cert_pem();
    let err = SecretMaterial::from_map(
        "ns/s",
        &map(&[
            ("tls.crt", server.chain_pem()),
            ("tls.key", server.key_pem()),
            ("ca.crt", leaf_as_ca),
        ]),
    )
    .unwrap_err();
    assert_eq!(err.origin(), &Origin::secret_key("ns/s", "ca.crt"));
    assert!(
        matches!(err.kind(), ErrorKind::NotACa { index: 0, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("secret \"ns/s\" key \"ca.crt\": certificate 0 ("),
        "{err}"
    );

    let err = SecretMaterial::from_map(
        "ns/s",
        &map(&[("tls.crt", "junk".into()), ("tls.key", server.key_pem())]),
    )
    .unwrap_err();
    assert_eq!(err.origin(), &Origin::secret_key("ns/s", "tls.crt"));

    // Key of another certificate: found when the credential is built, naming the key.
    let secret = SecretMaterial::from_map(
        "ns/s",
        &map(&[
            ("tls.crt", server.chain_pem()),
            ("tls.key", pki.default_client().key_pem()),
        ]),
    )
    .unwrap();
    let err = secret.server_credential().unwrap_err();
    assert_eq!(err.origin(), &Origin::secret_key("ns/s", "tls.key"));
    assert!(matches!(err.kind(), ErrorKind::KeyMismatch { .. }));
}

/// Mounts `entries` the way the kubelet does: files in `..<timestamp>/`, a `..data` symlink to
/// it, and one symlink per key pointing into `..data/`.
fn mount(dir: &Path, generation: &str, entries: &[(&str, String)]) {
    let target = dir.join(format!("..{generation}"));
    std::fs::create_dir(&target).unwrap();
    for (key, value) in entries {
        std::fs::write(target.join(key), value).unwrap();
    }
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(format!("..{generation}"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap(); // atomic swap, as the kubelet does
    for (key, _) in entries {
        let link = dir.join(key);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("..data/{key}"), &link).unwrap();
        }
    }
}

#[test]
fn mounted_secret_directory_and_its_atomic_update() {
    let pki = Pki::shared();
    let first = pki.server_for(&["a.example.com"]).issue();
    let second = pki.server_for(&["b.example.com"]).issue();
    let dir = tempfile::tempdir().unwrap();
    mount(
        dir.path(),
        "2026_11_22_10_00_00.1",
        &[("tls.crt", first.chain_pem()), ("tls.key", first.key_pem())],
    );
    let secret = SecretMaterial::from_dir(dir.path()).unwrap();
    assert_eq!(secret.layout(), SecretLayout::KubernetesTls);
    assert_eq!(secret.chain().unwrap().leaf(), first.cert_der());
    assert_eq!(secret.name(), dir.path().display().to_string());

    mount(
        dir.path(),
        "2026_11_22_11_00_00.2",
        &[
            ("tls.crt", second.chain_pem()),
            ("tls.key", second.key_pem()),
        ],
    );
    let secret = SecretMaterial::from_dir(dir.path()).unwrap();
    assert_eq!(secret.chain().unwrap().leaf(), second.cert_der());
    assert!(secret.server_credential().unwrap().is_some());
}

#[test]
fn missing_directory_is_an_io_error_naming_it() {
    let err = SecretMaterial::from_dir("/nonexistent/secret").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Io(_)));
    assert_eq!(err.origin(), &Origin::file("/nonexistent/secret"));
}
