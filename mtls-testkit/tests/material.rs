//! Certificates, keys, CRLs and files as the loaders under test will see them.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use mtls_testkit::{DEFAULT_CLIENT_SPIFFE_ID, IssuedBy, KeyAlg, Pki};
use rustls::crypto::aws_lc_rs::default_provider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, PrivatePkcs1KeyDer,
    PrivateSec1KeyDer,
};

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn sans_subject_and_serial_are_encoded() {
    let pki = Pki::shared();
    let leaf = pki
        .client()
        .common_name("web")
        .organization("acme")
        .dns("web.default.svc")
        .uri("spiffe://cluster.local/ns/default/sa/web")
        .ip("10.1.2.3".parse().unwrap())
        .email("web@example.com")
        .serial(0x0102_0304)
        .issue();
    let der = leaf.cert_der().as_ref();
    for needle in [
        b"web".as_slice(),
        b"acme",
        b"web.default.svc",
        b"spiffe://cluster.local/ns/default/sa/web",
        &[10, 1, 2, 3],
        b"web@example.com",
        &[0x02, 0x04, 1, 2, 3, 4], // INTEGER serial
    ] {
        assert!(contains(der, needle), "{needle:?} not in the certificate");
    }
    assert_eq!(leaf.serial(), &[1, 2, 3, 4]);
    assert_eq!(pki.client().serial(0).issue().serial(), &[0]);
    assert!(contains(
        pki.default_client().cert_der(),
        DEFAULT_CLIENT_SPIFFE_ID.as_bytes()
    ));
}

#[test]
fn random_serials_differ() {
    let pki = Pki::shared();
    let (a, b) = (pki.client().issue(), pki.client().issue());
    assert_ne!(a.serial(), b.serial());
    assert_eq!(a.serial().len(), 16);
}

#[test]
fn pem_round_trips() {
    let pki = Pki::shared();
    let leaf = pki.default_client();
    let chain: Vec<_> = CertificateDer::pem_slice_iter(leaf.chain_pem().as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(chain, leaf.chain_der());
    assert_eq!(
        CertificateDer::from_pem_slice(leaf.ca_cert_pem().as_bytes()).unwrap(),
        *pki.root().cert_der()
    );
    assert_eq!(
        PrivateKeyDer::from_pem_slice(leaf.key_pem().as_bytes()).unwrap(),
        leaf.key_der()
    );
    let crls = pki.crls().revoke(leaf).build();
    let parsed: Vec<_> = CertificateRevocationListDer::pem_slice_iter(crls.pem().as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(parsed, crls.ders());
    assert!(contains(crls.intermediate().der(), leaf.serial()));
    assert!(!contains(crls.root().der(), leaf.serial()));
    assert!(!leaf.chain_pem().contains('\r'));
}

#[test]
fn key_encodings_load() {
    let keys = default_provider().key_provider;
    let ec = Pki::shared().default_client().key();
    let sec1 = ec.sec1_der().unwrap();
    assert_eq!(
        PrivateSec1KeyDer::from_pem_slice(ec.sec1_pem().unwrap().as_bytes()).unwrap(),
        sec1
    );
    keys.load_private_key(PrivateKeyDer::Sec1(sec1)).unwrap();
    assert!(ec.pkcs1_der().is_none());

    let rsa = Pki::shared_with(KeyAlg::Rsa2048).default_client().key();
    let pkcs1 = rsa.pkcs1_der().unwrap();
    assert_eq!(
        PrivatePkcs1KeyDer::from_pem_slice(rsa.pkcs1_pem().unwrap().as_bytes()).unwrap(),
        pkcs1
    );
    keys.load_private_key(PrivateKeyDer::Pkcs1(pkcs1)).unwrap();
    assert!(rsa.sec1_der().is_none());

    let ed = Pki::shared_with(KeyAlg::Ed25519).default_client().key();
    assert!(ed.pkcs1_der().is_none() && ed.sec1_der().is_none());
    keys.load_private_key(ed.der()).unwrap();
}

#[test]
fn pkis_are_unrelated() {
    let (a, b) = (Pki::shared(), Pki::shared_unrelated());
    assert_ne!(a.root().cert_der(), b.root().cert_der());
    assert_ne!(a.root().name(), b.root().name());
    assert_eq!(a.ca(IssuedBy::Root).cert_der(), a.root().cert_der());
}

#[test]
#[should_panic(expected = "did not issue")]
fn revoking_a_foreign_leaf_panics() {
    let stranger = Pki::shared_unrelated().client().issue();
    let _ = Pki::shared().crls().revoke(&stranger);
}

#[test]
fn write_to_writes_the_documented_files() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::shared();
    let files = pki.write_to(dir.path()).unwrap();
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ca-bundle.pem",
            "ca.pem",
            "client.key",
            "client.pem",
            "crl.pem",
            "expired.key",
            "expired.pem",
            "intermediate.pem",
            "revoked.key",
            "revoked.pem",
            "server.key",
            "server.pem",
            "untrusted.key",
            "untrusted.pem",
        ]
    );
    assert_eq!(
        std::fs::read_to_string(&files.server_cert).unwrap(),
        pki.default_server().chain_pem()
    );

    // If openssl is installed, it agrees with rustls about every file.
    let ok = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .map(|o| o.status.success())
    };
    let Ok(true) = ok(&["version"]) else {
        eprintln!("openssl not installed; skipping the openssl checks");
        return;
    };
    let verify = |leaf: &str, crl: bool| {
        let mut args = vec![
            "verify",
            "-CAfile",
            "ca.pem",
            "-untrusted",
            "intermediate.pem",
        ];
        if crl {
            args.extend(["-crl_check_all", "-CRLfile", "crl.pem"]);
        }
        args.push(leaf);
        ok(&args).unwrap()
    };
    assert!(verify("client.pem", false));
    assert!(verify("client.pem", true));
    assert!(verify("server.pem", true));
    assert!(verify("revoked.pem", false));
    assert!(!verify("revoked.pem", true));
    assert!(!verify("expired.pem", false));
    assert!(!verify("untrusted.pem", false));
    for key in ["server.key", "client.key", "revoked.key"] {
        assert!(ok(&["pkey", "-in", key, "-noout"]).unwrap(), "{key}");
    }
}
