//! Certificate chains, private keys, server credentials, CA bundles and CRLs: every format, and
//! every bad input with its exact error.

use mtls_core::{
    CaBundle, CertificateChain, CrlSet, ErrorKind, Expected, KeyFormat, Origin, PrivateKey,
    ServerCredential,
};
use mtls_testkit::{KeyAlg, Pki, Validity};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A PEM block with the given label holding `der`.
fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

// ---------------------------------------------------------------- certificate chains

#[test]
fn chain_from_pem_keeps_order_and_tolerates_text_between_blocks() {
    let server = Pki::shared().default_server();
    let der = server.chain_der();
    let pem = format!(
        "# server chain\nsubject=CN=leaf\n{}\nsome words between\n{}trailing junk\n",
        pem_block("CERTIFICATE", &der[0]),
        pem_block("CERTIFICATE", &der[1]),
    );
    let chain = CertificateChain::from_bytes(pem.as_bytes(), "chain").unwrap();
    assert_eq!(chain.leaf(), &der[0]);
    assert_eq!(chain.intermediates(), &der[1..]);
    assert_eq!(chain.as_slice().len(), 2);
}

#[test]
fn chain_from_der_and_from_file() {
    let server = Pki::shared().default_server();
    let chain = CertificateChain::from_bytes(server.cert_der(), "leaf.der").unwrap();
    assert_eq!(chain.as_slice(), &[server.cert_der().clone()]);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tls.crt");
    std::fs::write(&path, server.chain_pem()).unwrap();
    let chain = CertificateChain::from_file(&path).unwrap();
    assert_eq!(chain.into_vec(), server.chain_der());
}

#[test]
fn chain_ignores_a_private_key_in_the_same_file() {
    let server = Pki::shared().default_server();
    let combined = format!("{}{}", server.key_pem(), server.chain_pem());
    let chain = CertificateChain::from_bytes(combined.as_bytes(), "combined.pem").unwrap();
    assert_eq!(chain.as_slice().len(), 2);
}

#[test]
fn chain_not_after_is_the_earliest_of_the_chain() {
    let pki = Pki::shared();
    let now = std::time::SystemTime::now();
    let soon = now + std::time::Duration::from_secs(3600);
    let leaf = pki.server().validity(Validity::Between(now, soon)).issue();
    let chain = CertificateChain::from_bytes(leaf.chain_pem().as_bytes(), "c").unwrap();
    let got = chain
        .not_after()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let want = soon
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(got.abs_diff(want) <= 1, "{got} vs {want}");
}

#[test]
fn chain_bad_inputs_name_the_cause() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "chain: empty input, expected a certificate"),
        (b"  \n\n", "chain: empty input, expected a certificate"),
        (
            b"hello world",
            "chain: not PEM and not a DER certificate: input has no -----BEGIN line and does not start with a DER SEQUENCE",
        ),
        (
            b"-----BEGIN CERTIFICATE-----\nMIIB\n",
            "chain: PEM block 0: malformed PEM: no matching \"-----END CERTIFICATE-----\" line",
        ),
        (
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
            "chain: PEM block 0: malformed PEM: the block body is not valid base64 (InvalidCharacter(33))",
        ),
        (
            b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n",
            "chain: no certificate PEM block found (block types seen: FOO)",
        ),
    ];
    for (input, want) in cases {
        let err = CertificateChain::from_bytes(input, "chain").unwrap_err();
        assert_eq!(
            err.to_string(),
            *want,
            "input {:?}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(err.origin(), &Origin::memory("chain"));
    }
}

#[test]
fn chain_with_a_garbage_certificate_names_its_index() {
    let server = Pki::shared().default_server();
    let pem = format!(
        "{}{}",
        server.cert_pem(),
        pem_block("CERTIFICATE", &[0x30, 0x03, 0x02, 0x01, 0x01])
    );
    let err = CertificateChain::from_bytes(pem.as_bytes(), "tls.crt").unwrap_err();
    match err.kind() {
        ErrorKind::BadCertificate { index, .. } => assert_eq!(*index, 1),
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("tls.crt: certificate 1: not a valid X.509 certificate")
    );

    // Trailing bytes after a DER certificate.
    let mut der = server.cert_der().to_vec();
    der.extend_from_slice(&[0, 0, 0]);
    let err = CertificateChain::from_bytes(&der, "leaf.der").unwrap_err();
    assert_eq!(
        err.to_string(),
        "leaf.der: certificate 0: not a valid X.509 certificate: 3 unexpected bytes after the certificate"
    );
}

#[test]
fn chain_from_missing_file_names_the_path() {
    let err = CertificateChain::from_file("/nonexistent/mtls/tls.crt").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Io(_)));
    assert_eq!(
        err.to_string(),
        "file /nonexistent/mtls/tls.crt: cannot read: No such file or directory (os error 2)"
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn chain_from_der_list() {
    let server = Pki::shared().default_server();
    let chain = CertificateChain::from_der(server.chain_der()).unwrap();
    assert_eq!(chain.intermediates().len(), 1);
    let err = CertificateChain::from_der(Vec::new()).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::Empty(Expected::Certificate)
    ));
    let err = CertificateChain::from_der(vec![CertificateDer::from(vec![1, 2, 3])]).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::BadCertificate { index: 0, .. }
    ));
}

// ---------------------------------------------------------------- private keys

#[test]
fn keys_in_every_format() {
    for alg in KeyAlg::ALL {
        let key = Pki::shared_with(alg).default_server().key();
        let pkcs8 = PrivateKey::from_bytes(key.pem().as_bytes(), "k").unwrap();
        assert_eq!(pkcs8.format(), KeyFormat::Pkcs8);
        let der = PrivateKey::from_bytes(key.pkcs8_der().secret_pkcs8_der(), "k").unwrap();
        assert_eq!(der.format(), KeyFormat::Pkcs8);
        if let Some(pem) = key.pkcs1_pem() {
            let k = PrivateKey::from_bytes(pem.as_bytes(), "k").unwrap();
            assert_eq!(k.format(), KeyFormat::Pkcs1Rsa);
            let der = key.pkcs1_der().unwrap();
            let k = PrivateKey::from_bytes(der.secret_pkcs1_der(), "k").unwrap();
            assert_eq!(k.format(), KeyFormat::Pkcs1Rsa);
        }
        if let Some(pem) = key.sec1_pem() {
            let k = PrivateKey::from_bytes(pem.as_bytes(), "k").unwrap();
            assert_eq!(k.format(), KeyFormat::Sec1Ec);
            let der = key.sec1_der().unwrap();
            let k = PrivateKey::from_bytes(der.secret_sec1_der(), "k").unwrap();
            assert_eq!(k.format(), KeyFormat::Sec1Ec);
        }
    }
    // At least one algorithm exercised each legacy format.
    assert!(
        Pki::shared_with(KeyAlg::Rsa2048)
            .default_server()
            .key()
            .pkcs1_pem()
            .is_some()
    );
    assert!(Pki::shared().default_server().key().sec1_pem().is_some());
}

#[test]
fn key_debug_never_shows_the_key() {
    let server = Pki::shared().default_server();
    let key = PrivateKey::from_bytes(server.key_pem().as_bytes(), "k").unwrap();
    let shown = format!("{key:?}");
    assert_eq!(shown, "PrivateKey { format: Pkcs8, .. }");
}

#[test]
fn key_bad_inputs() {
    let server = Pki::shared().default_server();
    let two = format!(
        "{}{}",
        server.key_pem(),
        Pki::shared().default_client().key_pem()
    );
    let err = PrivateKey::from_bytes(two.as_bytes(), "tls.key").unwrap_err();
    assert_eq!(
        err.to_string(),
        "tls.key: 2 private keys found, expected exactly one"
    );

    let err = PrivateKey::from_bytes(server.cert_pem().as_bytes(), "tls.key").unwrap_err();
    assert_eq!(
        err.to_string(),
        "tls.key: no private key PEM block found (block types seen: CERTIFICATE)"
    );

    let err = PrivateKey::from_bytes(b"", "tls.key").unwrap_err();
    assert_eq!(
        err.to_string(),
        "tls.key: empty input, expected a private key"
    );

    // DER that is a SEQUENCE but no key structure.
    let err = PrivateKey::from_bytes(&[0x30, 0x03, 0x02, 0x01, 0x05], "tls.key").unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::NotPemOrDer {
                expected: Expected::PrivateKey,
                ..
            }
        ),
        "{err}"
    );
}

// ---------------------------------------------------------------- server credentials

#[test]
fn credential_accepts_matching_pairs_of_every_algorithm() {
    for alg in KeyAlg::ALL {
        let server = Pki::shared_with(alg).default_server();
        let chain = CertificateChain::from_bytes(server.chain_pem().as_bytes(), "c").unwrap();
        let key = PrivateKey::from_bytes(server.key_pem().as_bytes(), "k").unwrap();
        let cred = ServerCredential::new(chain, key).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(cred.chain().as_slice().len(), 2);
        assert_eq!(cred.key().format(), KeyFormat::Pkcs8);
        assert_eq!(cred.origin(), &Origin::memory("server credential"));
        assert_eq!(cred.leaf_subject(), "O=mtls-testkit,CN=localhost");
        // The legacy encodings of the same key match too.
        for legacy in [server.key().pkcs1_pem(), server.key().sec1_pem()]
            .into_iter()
            .flatten()
        {
            let key = PrivateKey::from_bytes(legacy.as_bytes(), "k").unwrap();
            ServerCredential::new(cred.chain().clone(), key)
                .unwrap_or_else(|e| panic!("{alg:?} legacy: {e}"));
        }
    }
}

#[test]
fn credential_rejects_a_key_of_another_certificate() {
    let server = Pki::shared().default_server();
    let other = Pki::shared().default_client();
    let chain = CertificateChain::from_bytes(server.chain_pem().as_bytes(), "c").unwrap();
    let key = PrivateKey::from_bytes(other.key_pem().as_bytes(), "k").unwrap();
    let err = ServerCredential::new(chain.clone(), key).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::KeyMismatch { .. }));
    assert!(
        err.to_string()
            .starts_with("server credential: private key does not match the leaf certificate (")
            && err.to_string().contains("CN=localhost"),
        "{err}"
    );
    // Its SEC1 encoding too.
    let sec1 = other.key().sec1_pem().unwrap();
    let key = PrivateKey::from_bytes(sec1.as_bytes(), "k").unwrap();
    let err = ServerCredential::new(chain.clone(), key).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::KeyMismatch { .. }), "{err}");

    // Same check from files: the key file is named.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tls.crt"), server.chain_pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), other.key_pem()).unwrap();
    let err = ServerCredential::from_files(dir.path().join("tls.crt"), dir.path().join("tls.key"))
        .unwrap_err();
    assert_eq!(err.origin(), &Origin::file(dir.path().join("tls.key")));

    // A key of another algorithm is a mismatch too.
    let rsa = Pki::shared_with(KeyAlg::Rsa2048).default_server();
    let key = PrivateKey::from_bytes(rsa.key_pem().as_bytes(), "k").unwrap();
    let err = ServerCredential::new(chain, key).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::KeyMismatch { .. }), "{err}");
}

#[test]
fn credential_rejects_another_key_of_the_same_algorithm_for_every_algorithm() {
    for alg in KeyAlg::ALL {
        let pki = Pki::shared_with(alg);
        let server = pki.default_server();
        let other = pki.default_client();
        let chain = CertificateChain::from_der(server.chain_der()).unwrap();
        let mut keys = vec![other.key().der()];
        keys.extend(other.key().pkcs1_der().map(PrivateKeyDer::Pkcs1));
        keys.extend(other.key().sec1_der().map(PrivateKeyDer::Sec1));
        for key in keys {
            let err = ServerCredential::new(chain.clone(), PrivateKey::from(key)).unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::KeyMismatch { .. }),
                "{alg:?}: {err}"
            );
        }
    }
}

/// What the encodings cannot tell is left to the crypto provider that loads the key
/// (`mtls_verify::crypto::certified_key`, tested in mtls-verify): an Ed25519 key in a version 1
/// PKCS#8 (OpenSSL's form, without the public key), and bytes that are no key at all.
#[test]
fn credential_leaves_to_the_provider_what_the_encoding_does_not_tell() {
    let ed = Pki::shared_with(KeyAlg::Ed25519);
    let chain = CertificateChain::from_der(ed.default_server().chain_der()).unwrap();
    let v1 = PrivateKeyDer::Pkcs8(ed.default_client().key().pkcs8_v1_der());
    assert!(ServerCredential::new(chain.clone(), PrivateKey::from(v1)).is_ok());

    let pem = pem_block("PRIVATE KEY", &[0x30, 0x03, 0x02, 0x01, 0x00]);
    let key = PrivateKey::from_bytes(pem.as_bytes(), "k").unwrap();
    assert!(ServerCredential::new(chain, key).is_ok());
}

// ---------------------------------------------------------------- CA bundles

#[test]
fn bundle_of_many_cas_with_comments_and_duplicates() {
    let pki = Pki::shared();
    let other = Pki::shared_unrelated();
    let pem = format!(
        "# Our roots\n{}\n# intermediate\n{}\n# again (duplicate)\n{}\n# partner CA\n{}",
        pki.root().cert_pem(),
        pki.intermediate().cert_pem(),
        pki.root().cert_pem(),
        other.root().cert_pem(),
    );
    let bundle = CaBundle::from_bytes(pem.as_bytes(), "ca.crt").unwrap();
    assert_eq!(bundle.len(), 3);
    assert_eq!(bundle.duplicates_removed(), 1);
    assert_eq!(bundle.trust_anchors().len(), 3);
    assert_eq!(bundle.certificates()[0].der(), pki.root().cert_der());
    assert!(
        bundle.certificates()[0]
            .subject()
            .contains("CN=mtls-testkit Root CA"),
        "{}",
        bundle.certificates()[0].subject()
    );
    let earliest = bundle
        .certificates()
        .iter()
        .map(|c| c.not_after())
        .min()
        .unwrap();
    assert_eq!(bundle.earliest_not_after(), earliest);
}

#[test]
fn bundle_rejects_a_leaf_naming_index_and_subject() {
    let pki = Pki::shared();
    let leaf = pki
        .client()
        .common_name("not-a-ca")
        .uri("spiffe://td/x")
        .issue();
    let pem = format!("{}{}", pki.root().cert_pem(), leaf.cert_pem());
    let err = CaBundle::from_bytes(pem.as_bytes(), "ca.crt").unwrap_err();
    match err.kind() {
        ErrorKind::NotACa {
            index,
            subject,
            detail,
        } => {
            assert_eq!(*index, 1);
            assert!(subject.contains("CN=not-a-ca"), "{subject}");
            assert_eq!(detail, "basicConstraints has CA:FALSE");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn empty_bundles_are_errors() {
    for input in [
        &b""[..],
        b"\n \n",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ] {
        let err = CaBundle::from_bytes(input, "ca.crt").unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::EmptyBundle | ErrorKind::NoMatchingPemBlock { .. }
            ),
            "{err}"
        );
    }
    let err = CaBundle::from_bytes(b"", "ca.crt").unwrap_err();
    assert_eq!(
        err.to_string(),
        "ca.crt: CA bundle is empty: it holds no certificate, and an empty bundle would trust nobody"
    );
}

#[test]
fn bundle_merge_drops_duplicates() {
    let pki = Pki::shared();
    let mut a = CaBundle::from_bytes(pki.root().cert_pem().as_bytes(), "a").unwrap();
    let both = format!("{}{}", pki.root().cert_pem(), pki.intermediate().cert_pem());
    let b = CaBundle::from_bytes(both.as_bytes(), "b").unwrap();
    a.merge(&b);
    assert_eq!(a.len(), 2);
    assert_eq!(a.duplicates_removed(), 1);
}

#[test]
fn bundle_from_a_directory() {
    let pki = Pki::shared();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-root.pem"), pki.root().cert_pem()).unwrap();
    std::fs::write(
        dir.path().join("b-partner.pem"),
        Pki::shared_unrelated().root().cert_pem(),
    )
    .unwrap();
    std::fs::write(dir.path().join(".hidden"), "not a certificate").unwrap();
    std::fs::create_dir(dir.path().join("..data")).unwrap();
    let bundle = CaBundle::from_dir(dir.path()).unwrap();
    assert_eq!(bundle.len(), 2);
    assert_eq!(bundle.certificates()[0].der(), pki.root().cert_der());

    std::fs::write(dir.path().join("c-broken.pem"), "garbage").unwrap();
    let err = CaBundle::from_dir(dir.path()).unwrap_err();
    assert_eq!(err.origin(), &Origin::file(dir.path().join("c-broken.pem")));

    let empty = tempfile::tempdir().unwrap();
    let err = CaBundle::from_dir(empty.path()).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("directory holds no CA certificate file"),
        "{err}"
    );
}

// ---------------------------------------------------------------- CRLs

#[test]
fn crls_from_pem_and_der() {
    let pki = Pki::shared();
    let client = pki.client().uri("spiffe://td/revoked").issue();
    let crls = pki.crls().revoke(&client).build();
    let set = CrlSet::from_bytes(crls.pem().as_bytes(), "ca.crl").unwrap();
    assert_eq!(set.len(), 2);
    let inter = set
        .crls()
        .iter()
        .find(|c| {
            c.revoked_serials()
                .iter()
                .any(|s| s.as_slice() == client.serial())
        })
        .expect("the intermediate's CRL lists the client");
    assert!(inter.issuer().contains("CN="), "{}", inter.issuer());
    assert!(inter.next_update().unwrap() > std::time::SystemTime::now());
    assert!(inter.this_update() < std::time::SystemTime::now());
    assert!(!inter.issuer_der().is_empty());

    let der = CrlSet::from_bytes(crls.intermediate().der(), "crl.der").unwrap();
    assert_eq!(der.len(), 1);
    assert_eq!(der.ders()[0], *crls.intermediate().der());
}

#[test]
fn expired_crls_load_and_report_their_expiry() {
    let pki = Pki::shared();
    let crls = pki.crls().expired().build();
    let set = CrlSet::from_bytes(crls.pem().as_bytes(), "ca.crl").unwrap();
    assert!(set.earliest_next_update().unwrap() < std::time::SystemTime::now());
}

#[test]
fn crl_bad_inputs() {
    let pki = Pki::shared();
    let err = CrlSet::from_bytes(pki.root().cert_pem().as_bytes(), "ca.crl").unwrap_err();
    assert_eq!(
        err.to_string(),
        "ca.crl: PEM block 0 (CERTIFICATE): a certificate, not a certificate revocation list (a CRL's PEM block is \"X509 CRL\"; the CA's CRL comes from e.g. `openssl ca -gencrl`)"
    );
    let err = CrlSet::from_bytes(b"", "ca.crl").unwrap_err();
    assert_eq!(
        err.to_string(),
        "ca.crl: empty input, expected a certificate revocation list: a CA that revokes nothing still publishes a CRL (with no entries), and an empty file is refused rather than read as \"nothing revoked\""
    );

    let crls = pki.crls().build();
    let pem = format!("{}{}", crls.pem(), pem_block("X509 CRL", &[0x30, 0x00]));
    let err = CrlSet::from_bytes(pem.as_bytes(), "ca.crl").unwrap_err();
    match err.kind() {
        ErrorKind::BadCrl { index, .. } => assert_eq!(*index, 2),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn crls_from_a_directory() {
    let pki = Pki::shared();
    let crls = pki.crls().build();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.crl"), crls.root().pem()).unwrap();
    std::fs::write(dir.path().join("inter.crl"), crls.intermediate().der()).unwrap();
    let set = CrlSet::from_dir(dir.path()).unwrap();
    assert_eq!(set.len(), 2);
    let via_file = CrlSet::from_file(dir.path().join("root.crl")).unwrap();
    assert_eq!(via_file.len(), 1);
}

#[test]
fn pem_object_round_trip_sanity() {
    // The PEM our test helper writes is what rustls-pki-types reads.
    let der = Pki::shared().root().cert_der().clone();
    let pem = pem_block("CERTIFICATE", &der);
    let back = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    assert_eq!(back, der);
}
