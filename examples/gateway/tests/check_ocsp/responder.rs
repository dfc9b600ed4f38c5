//! A PKI made with rcgen (root, intermediate, leaves whose authorityInfoAccess names an OCSP
//! responder), its `openssl ca`-style index, and `openssl ocsp` as the responder on a free
//! loopback port, bounded in start-up time and killed when dropped.

use mtls_testkit::custom::{ca_params, tlv};
use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};

/// How long a responder may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How many ports are tried before giving up.
const PORT_ATTEMPTS: usize = 5;

/// A CA: its parameters and key (to issue), and its certificate.
pub(crate) struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    pub(crate) cert: rcgen::Certificate,
}

impl TestCa {
    /// A self-signed root.
    pub(crate) fn root(cn: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let params = ca_params(cn);
        let cert = params.self_signed(&key).unwrap();
        Self { params, key, cert }
    }

    /// An intermediate CA issued by `self`.
    pub(crate) fn intermediate(&self, cn: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = ca_params(cn);
        params.use_authority_key_identifier_extension = true;
        let issuer = Issuer::new(self.params.clone(), &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        Self { params, key, cert }
    }

    /// A client certificate with serial `serial`, naming `ocsp` as its responder in its
    /// authorityInfoAccess when given.
    pub(crate) fn client(&self, cn: &str, serial: u64, ocsp: Option<&str>) -> rcgen::Certificate {
        self.client_with_key(cn, serial, ocsp).0
    }

    /// [`client`](Self::client), with its key.
    pub(crate) fn client_with_key(
        &self,
        cn: &str,
        serial: u64,
        ocsp: Option<&str>,
    ) -> (rcgen::Certificate, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = vec![SanType::URI(
            format!("spiffe://td/ns/ocsp/sa/{serial}")
                .try_into()
                .unwrap(),
        )];
        params.is_ca = IsCa::ExplicitNoCa;
        params.serial_number = Some(SerialNumber::from_slice(&serial.to_be_bytes()));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        if let Some(url) = ocsp {
            params.custom_extensions = vec![aia_ocsp(url)];
        }
        let issuer = Issuer::new(self.params.clone(), &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert, key)
    }

    /// Writes `NAME.pem` and `NAME.key` in `dir`.
    pub(crate) fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        (
            write(dir, &format!("{name}.pem"), &self.cert.pem()),
            write(dir, &format!("{name}.key"), &self.key.serialize_pem()),
        )
    }
}

/// authorityInfoAccess (1.3.6.1.5.5.7.1.1) with one id-ad-ocsp URI.
fn aia_ocsp(url: &str) -> CustomExtension {
    let ad_ocsp = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
    let uri = tlv(0x86, url.as_bytes());
    let description = tlv(0x30, &[&ad_ocsp[..], &uri].concat());
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], tlv(0x30, &description))
}

/// A line of an `openssl ca` index: valid, or revoked on 2026-01-01 for `reason`.
pub(crate) fn index_line(serial: u64, cn: &str, revoked: Option<&str>) -> String {
    let serial = format!("{serial:X}");
    let serial = if serial.len() % 2 == 1 {
        format!("0{serial}")
    } else {
        serial
    };
    match revoked {
        None => format!("V\t991231235959Z\t\t{serial}\tunknown\t/CN={cn}\n"),
        Some(reason) => {
            format!("R\t991231235959Z\t260101000000Z,{reason}\t{serial}\tunknown\t/CN={cn}\n")
        }
    }
}

/// Writes a file in `dir` and returns its path.
pub(crate) fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// A loopback port nothing listens on (bound, then released).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

/// `openssl ocsp` answering from an index, killed when dropped.
pub(crate) struct Responder {
    child: Child,
    addr: SocketAddr,
}

impl Responder {
    /// Starts `openssl ocsp -index INDEX -CA CA -rsigner SIGNER -rkey KEY -nmin 60` on a free
    /// port (bounded attempts), and waits (bounded) until it accepts connections.
    pub(crate) fn start(index: &Path, ca: &Path, signer: &Path, key: &Path) -> Self {
        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let mut child = Command::new("openssl")
                .arg("ocsp")
                .arg("-index")
                .arg(index)
                .arg("-CA")
                .arg(ca)
                .arg("-rsigner")
                .arg(signer)
                .arg("-rkey")
                .arg(key)
                .args(["-port", &port.to_string(), "-nmin", "60"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("these tests need the openssl CLI on PATH (.ci/run installs it)");
            // The responder prints `ACCEPT` once it listens; its output is drained to the end
            // so it never blocks on a full pipe.
            let (tx, rx) = mpsc::channel();
            if let Some(stdout) = child.stdout.take() {
                let tx = tx.clone();
                std::thread::spawn(move || drain(stdout, &tx));
            }
            if let Some(stderr) = child.stderr.take() {
                std::thread::spawn(move || drain(stderr, &tx));
            }
            let mut output = String::new();
            while let Ok(line) = rx.recv_timeout(START_TIMEOUT) {
                if line.starts_with("ACCEPT") {
                    return Self {
                        child,
                        addr: SocketAddr::from(([127, 0, 0, 1], port)),
                    };
                }
                output.push_str(&line);
                output.push('\n');
            }
            let _ = child.kill();
            let _ = child.wait();
            last_error = output;
        }
        panic!("openssl ocsp did not start in {PORT_ATTEMPTS} attempts: {last_error}");
    }

    /// The responder's URL on loopback.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

fn drain(output: impl std::io::Read, tx: &mpsc::Sender<String>) {
    for line in BufReader::new(output).lines() {
        let Ok(line) = line else { return };
        // Once nobody listens, keep reading so the pipe never fills.
        let _ = tx.send(line);
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
