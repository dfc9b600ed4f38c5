//! Writing a PKI as PEM files, for tests that drive curl, openssl or a binary.

use std::io;
use std::path::{Path, PathBuf};

use crate::leaf::Validity;
use crate::pki::Pki;

/// Paths of the files written by [`Pki::write_to`]. All PEM, `\n` line endings.
///
/// | file | content |
/// |---|---|
/// | `ca.pem` | root CA certificate (the trust anchor) |
/// | `intermediate.pem` | intermediate CA certificate |
/// | `ca-bundle.pem` | root then intermediate |
/// | `server.pem`, `server.key` | [`Pki::default_server`]: chain (leaf, intermediate) and PKCS#8 key; CN and DNS SAN `localhost`, IP SAN `127.0.0.1` |
/// | `client.pem`, `client.key` | [`Pki::default_client`]: chain and PKCS#8 key; CN `client`, URI SAN [`DEFAULT_CLIENT_SPIFFE_ID`](crate::DEFAULT_CLIENT_SPIFFE_ID) |
/// | `revoked.pem`, `revoked.key` | client (CN `revoked`) revoked in `crl.pem` |
/// | `expired.pem`, `expired.key` | client (CN `expired`) that expired yesterday |
/// | `untrusted.pem`, `untrusted.key` | client (CN `untrusted`) from an unrelated PKI |
/// | `crl.pem` | root's CRL then intermediate's CRL (only `revoked.pem` is revoked) |
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PkiFiles {
    /// The directory everything was written to.
    pub dir: PathBuf,
    /// `ca.pem`.
    pub ca: PathBuf,
    /// `intermediate.pem`.
    pub intermediate: PathBuf,
    /// `ca-bundle.pem`.
    pub ca_bundle: PathBuf,
    /// `server.pem`.
    pub server_cert: PathBuf,
    /// `server.key`.
    pub server_key: PathBuf,
    /// `client.pem`.
    pub client_cert: PathBuf,
    /// `client.key`.
    pub client_key: PathBuf,
    /// `revoked.pem`.
    pub revoked_cert: PathBuf,
    /// `revoked.key`.
    pub revoked_key: PathBuf,
    /// `expired.pem`.
    pub expired_cert: PathBuf,
    /// `expired.key`.
    pub expired_key: PathBuf,
    /// `untrusted.pem`.
    pub untrusted_cert: PathBuf,
    /// `untrusted.key`.
    pub untrusted_key: PathBuf,
    /// `crl.pem`.
    pub crl: PathBuf,
}

impl Pki {
    /// Writes this PKI's standard set of PEM files into `dir` (usually a
    /// [`tempfile::TempDir`]); see [`PkiFiles`] for the names. Existing files are replaced.
    ///
    /// # Errors
    /// Any I/O error from writing the files.
    pub fn write_to(&self, dir: &Path) -> io::Result<PkiFiles> {
        let write = |name: &str, content: String| -> io::Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, content)?;
            Ok(path)
        };
        let ca = write("ca.pem", self.root().cert_pem())?;
        let intermediate = write("intermediate.pem", self.intermediate().cert_pem())?;
        let ca_bundle = write(
            "ca-bundle.pem",
            self.root().cert_pem() + &self.intermediate().cert_pem(),
        )?;
        let (server_cert, server_key) = self.default_server().write_to(dir, "server")?;
        let (client_cert, client_key) = self.default_client().write_to(dir, "client")?;

        let revoked = self.client().common_name("revoked").issue();
        let (revoked_cert, revoked_key) = revoked.write_to(dir, "revoked")?;
        let (expired_cert, expired_key) = self
            .client()
            .common_name("expired")
            .validity(Validity::Expired)
            .issue()
            .write_to(dir, "expired")?;

        let unrelated = Self::shared_unrelated();
        let fresh;
        let unrelated = if std::ptr::eq(unrelated, self) {
            fresh = Self::new();
            &fresh
        } else {
            unrelated
        };
        let (untrusted_cert, untrusted_key) = unrelated
            .client()
            .common_name("untrusted")
            .issue()
            .write_to(dir, "untrusted")?;

        let crl = self.crls().revoke(&revoked).build().write_to(dir)?;
        Ok(PkiFiles {
            dir: dir.to_owned(),
            ca,
            intermediate,
            ca_bundle,
            server_cert,
            server_key,
            client_cert,
            client_key,
            revoked_cert,
            revoked_key,
            expired_cert,
            expired_key,
            untrusted_cert,
            untrusted_key,
            crl,
        })
    }
}
