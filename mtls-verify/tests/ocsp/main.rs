//! OCSP responses from a real responder: `openssl ocsp`, started by each test on a local port
//! from an `openssl ca` index over a CA generated at test time, asked over loopback, its
//! answers verified by `mtls_verify::ocsp` with the exact status or error asserted.

mod malformed;
mod signer;
mod status;
mod support;

use std::path::PathBuf;
use std::time::Duration;

use mtls_verify::ocsp::{
    CertIdHash, Delegation, OcspError, OcspRequest, OcspStatus, OcspVerifier, ResponderStatus,
    RevocationReason, random_nonce,
};
use rcgen::ExtendedKeyUsagePurpose as Eku;
use rustls_pki_types::UnixTime;
use support::{Issued, Responder, TestCa, index_line, post, write};

/// A CA, three clients (good, revoked for keyCompromise, absent from the index), the index
/// and the CA's files.
struct Setup {
    dir: tempfile::TempDir,
    ca: TestCa,
    good: Issued,
    revoked: Issued,
    unknown: Issued,
    index: PathBuf,
    ca_pem: PathBuf,
    ca_key: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("OCSP Test CA");
        let good = ca.issue("good client", 0x1001, vec![Eku::ClientAuth]);
        let revoked = ca.issue("revoked client", 0x1002, vec![Eku::ClientAuth]);
        let unknown = ca.issue("unknown client", 0x1003, vec![Eku::ClientAuth]);
        let index = write(
            dir.path(),
            "index.txt",
            &(index_line(&good, None) + &index_line(&revoked, Some("keyCompromise"))),
        );
        let ca_pem = write(dir.path(), "ca.pem", &ca.cert.pem());
        let ca_key = write(dir.path(), "ca.key", &ca.key.serialize_pem());
        Self {
            dir,
            ca,
            good,
            revoked,
            unknown,
            index,
            ca_pem,
            ca_key,
        }
    }

    /// A responder signing with the CA's own key, nextUpdate `minutes` after thisUpdate.
    fn responder(&self, extra: &[&str]) -> Responder {
        Responder::start(&self.index, &self.ca_pem, &self.ca_pem, &self.ca_key, extra)
    }

    /// A responder signing with `signer`'s certificate and key.
    fn responder_signed_by(&self, name: &str, cert_pem: &str, key_pem: &str) -> Responder {
        let cert = write(self.dir.path(), &format!("{name}.pem"), cert_pem);
        let key = write(self.dir.path(), &format!("{name}.key"), key_pem);
        Responder::start(&self.index, &self.ca_pem, &cert, &key, &["-nmin", "60"])
    }

    fn request(&self, client: &Issued) -> OcspRequest {
        OcspRequest::new(client.cert.der(), self.ca.der()).unwrap()
    }
}

fn verifier() -> OcspVerifier {
    OcspVerifier::new(&mtls_verify::crypto::default_provider())
}

fn later(now: UnixTime, secs: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(now.as_secs() + secs))
}
