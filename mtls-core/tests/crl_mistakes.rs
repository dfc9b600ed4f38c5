//! The CRL mistakes people make with OpenSSL, each made at test time with the `openssl` CLI,
//! and the error `CrlSet` answers with: a version 1 CRL (`openssl ca -gencrl` without a
//! `crlnumber` file), a certificate where the CRL should be (PEM and DER), and an empty file.

use std::path::{Path, PathBuf};
use std::process::Command;

use mtls_core::{CrlSet, ErrorKind};

/// A throw-away CA made by `openssl req`, with the files `openssl ca -gencrl` needs.
struct OpensslCa {
    dir: tempfile::TempDir,
}

impl OpensslCa {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ca = Self { dir };
        ca.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=openssl test CA",
            "-days",
            "30",
        ]);
        std::fs::write(ca.path("index.txt"), "").expect("index.txt");
        ca
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `openssl ARGS` in the CA's directory; panics with its stderr when it fails.
    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("these tests need the openssl CLI on PATH (.ci/run installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `openssl ca -gencrl` into `out`; with `crlnumber`, the CA section names a CRL number
    /// file, which makes OpenSSL write a version 2 CRL.
    fn gencrl(&self, out: &str, crlnumber: bool) -> PathBuf {
        let mut config = String::from(
            "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\ndefault_md = sha256\ndefault_crl_days = 30\n",
        );
        if crlnumber {
            std::fs::write(self.path("crlnumber"), "01\n").expect("crlnumber");
            config.push_str("crlnumber = crlnumber\n");
        }
        std::fs::write(self.path("ca.cnf"), config).expect("ca.cnf");
        self.openssl(&[
            "ca", "-config", "ca.cnf", "-gencrl", "-keyfile", "ca.key", "-cert", "ca.pem", "-out",
            out,
        ]);
        self.path(out)
    }

    /// `openssl crl -outform DER` of a PEM CRL.
    fn to_der(&self, pem: &str, der: &str) -> PathBuf {
        self.openssl(&["crl", "-in", pem, "-outform", "DER", "-out", der]);
        self.path(der)
    }
}

fn load_err(path: &Path) -> mtls_core::Error {
    match CrlSet::from_file(path) {
        Ok(set) => panic!("{} loaded as {} CRL(s)", path.display(), set.len()),
        Err(e) => e,
    }
}

#[test]
fn a_version_2_crl_from_openssl_ca_loads() {
    let ca = OpensslCa::new();
    let set = CrlSet::from_file(ca.gencrl("v2.pem", true)).expect("a v2 CRL loads");
    assert_eq!(set.len(), 1);
    assert_eq!(set.crls()[0].issuer(), "CN=openssl test CA");
}

#[test]
fn a_version_1_crl_says_so_and_how_to_make_a_version_2() {
    let ca = OpensslCa::new();
    let pem = ca.gencrl("v1.pem", false);
    let err = load_err(&pem);
    match err.kind() {
        ErrorKind::CrlVersion1 { index, issuer } => {
            assert_eq!(*index, 0);
            assert_eq!(issuer, "CN=openssl test CA");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "file {}: CRL 0 (CN=openssl test CA): a version 1 CRL, which rustls-webpki does not read; issue a version 2 CRL instead (with `openssl ca -gencrl`, set `crlnumber` in the CA section of its configuration to a file holding a serial such as 01)",
            pem.display()
        )
    );
    // The same CRL in DER.
    let der = ca.to_der("v1.pem", "v1.der");
    assert!(matches!(
        load_err(&der).kind(),
        ErrorKind::CrlVersion1 { index: 0, .. }
    ));
}

#[test]
fn a_certificate_in_place_of_the_crl_is_named() {
    let ca = OpensslCa::new();
    let pem = ca.path("ca.pem");
    let err = load_err(&pem);
    assert_eq!(
        err.to_string(),
        format!(
            "file {}: PEM block 0 (CERTIFICATE): a certificate, not a certificate revocation list (a CRL's PEM block is \"X509 CRL\"; the CA's CRL comes from e.g. `openssl ca -gencrl`)",
            pem.display()
        )
    );
    ca.openssl(&["x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der"]);
    match load_err(&ca.path("ca.der")).kind() {
        ErrorKind::CertificateNotCrl { found } => assert_eq!(found, "DER input"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_crl_file_that_also_holds_the_ca_certificate_loads_the_crl() {
    let ca = OpensslCa::new();
    let crl = std::fs::read_to_string(ca.gencrl("v2.pem", true)).expect("v2.pem");
    let cert = std::fs::read_to_string(ca.path("ca.pem")).expect("ca.pem");
    std::fs::write(ca.path("both.pem"), format!("{cert}{crl}")).expect("both.pem");
    let set = CrlSet::from_file(ca.path("both.pem")).expect("the CRL beside the certificate");
    assert_eq!(set.len(), 1);
}

#[test]
fn an_empty_crl_file_is_refused_with_the_reason() {
    let ca = OpensslCa::new();
    // What a failed `openssl ca -gencrl -out crl.pem` can leave behind, and a blank file.
    for (name, content) in [("empty.pem", ""), ("blank.pem", " \n\n")] {
        let path = ca.path(name);
        std::fs::write(&path, content).expect("write");
        let err = load_err(&path);
        assert!(matches!(err.kind(), ErrorKind::EmptyCrl), "{err}");
        assert_eq!(
            err.to_string(),
            format!(
                "file {}: empty input, expected a certificate revocation list: a CA that revokes nothing still publishes a CRL (with no entries), and an empty file is refused rather than read as \"nothing revoked\"",
                path.display()
            )
        );
    }
}
