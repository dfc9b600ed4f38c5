//! Regenerates the committed seeds of `fuzz/corpus/ocsp_response/`: answers of `openssl ocsp`
//! (run offline, `-reqin`/`-respout`) from an index over a fresh testkit root, each joined with
//! the issuer and client certificates it answers about. Ignored by default (the seeds are
//! committed; they hold certificates and signatures of throw-away keys, never a key); run it
//! after changing what a seed should hold:
//!
//! ```text
//! cargo test -p mtls-fuzz-replay --test ocsp_corpus -- --ignored
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use mtls_fuzz_replay::{OCSP_SEED_NONCE, join_ocsp_input, split_ocsp_input};
use mtls_testkit::{IssuedBy, Pki};
use mtls_verify::ocsp::{OcspRequest, OcspStatus, OcspVerifier};
use rustls_pki_types::UnixTime;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI on PATH");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "regenerates the committed seeds; run by hand"]
fn regenerate_ocsp_response_corpus() {
    let pki = Pki::new();
    let root = pki.root();
    let issue = |serial| {
        pki.client()
            .issued_by(IssuedBy::Root)
            .serial(serial)
            .issue()
    };
    let (good, revoked, unknown) = (issue(0x1001), issue(0x1002), issue(0x1003));

    let dir: PathBuf = std::env::temp_dir().join(format!("ocsp-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ca.pem"), root.cert_pem()).unwrap();
    std::fs::write(dir.join("ca.key"), root.key().pem()).unwrap();
    std::fs::write(
        dir.join("index.txt"),
        "V\t991231235959Z\t\t1001\tunknown\t/CN=good\n\
         R\t991231235959Z\t260101000000Z,keyCompromise\t1002\tunknown\t/CN=revoked\n",
    )
    .unwrap();

    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/ocsp_response");
    std::fs::create_dir_all(&corpus).unwrap();
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        {
            std::fs::remove_file(path).unwrap();
        }
    }

    let provider = mtls_verify::crypto::default_provider();
    let verifier = OcspVerifier::new(&provider);
    for (name, leaf) in [
        ("good", &good),
        ("revoked", &revoked),
        ("unknown", &unknown),
    ] {
        let request = OcspRequest::builder(leaf.cert_der(), root.cert_der())
            .nonce(&OCSP_SEED_NONCE)
            .build()
            .unwrap();
        std::fs::write(dir.join("req.der"), request.der()).unwrap();
        openssl(
            &dir,
            &[
                "ocsp",
                "-index",
                "index.txt",
                "-CA",
                "ca.pem",
                "-rsigner",
                "ca.pem",
                "-rkey",
                "ca.key",
                "-reqin",
                "req.der",
                "-respout",
                "resp.der",
            ],
        );
        let response = std::fs::read(dir.join("resp.der")).unwrap();
        let status = verifier
            .verify(&request, &response, UnixTime::now())
            .unwrap();
        match name {
            "good" => assert!(matches!(status, OcspStatus::Good { next_update: None })),
            "revoked" => assert!(matches!(status, OcspStatus::Revoked { .. })),
            _ => assert_eq!(status, OcspStatus::Unknown),
        }
        let seed = join_ocsp_input(root.cert_der(), leaf.cert_der(), &response);
        assert_eq!(
            split_ocsp_input(&seed),
            Some((&root.cert_der()[..], &leaf.cert_der()[..], &response[..]))
        );
        assert!(seed.len() <= 4 * 1024, "{name}: {} bytes", seed.len());
        std::fs::write(corpus.join(format!("seed-{name}")), &seed).unwrap();
        if name == "good" {
            // The bare response: the target's fallback, against the testkit's own client.
            std::fs::write(corpus.join("seed-bare-response"), &response).unwrap();
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
