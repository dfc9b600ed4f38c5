//! A CA made with rcgen, its `openssl ca`-style index, and `openssl ocsp` running as the
//! responder on a local port, asked with a blocking HTTP/1.0 POST over loopback.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};

/// How long one responder may take to start, and one exchange to complete.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How many ports are tried before giving up.
const PORT_ATTEMPTS: usize = 5;
/// The largest answer read from the responder.
const MAX_ANSWER: u64 = 1 << 20;

/// A CA: its parameters and key (to issue), and its certificate.
pub struct TestCa {
    pub params: CertificateParams,
    pub key: KeyPair,
    pub cert: rcgen::Certificate,
}

/// A certificate and its key, issued by a [`TestCa`].
pub struct Issued {
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
    pub serial: u64,
    pub cn: String,
}

impl TestCa {
    pub fn new(cn: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        Self { params, key, cert }
    }

    /// A certificate with subject CN `cn`, serial `serial` and the given EKUs.
    pub fn issue(&self, cn: &str, serial: u64, eku: Vec<ExtendedKeyUsagePurpose>) -> Issued {
        self.issue_with(cn, serial, |p| p.extended_key_usages = eku)
    }

    pub fn issue_with(
        &self,
        cn: &str,
        serial: u64,
        tweak: impl FnOnce(&mut CertificateParams),
    ) -> Issued {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::ExplicitNoCa;
        params.serial_number = Some(SerialNumber::from_slice(&serial.to_be_bytes()));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        tweak(&mut params);
        let issuer = Issuer::new(self.params.clone(), &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        Issued {
            cert,
            key,
            serial,
            cn: cn.to_owned(),
        }
    }

    pub fn der(&self) -> &[u8] {
        self.cert.der()
    }
}

/// The hex openssl's index uses for a serial (upper case, no leading zero bytes).
pub fn index_serial(serial: u64) -> String {
    let hex = format!("{serial:X}");
    if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else {
        hex
    }
}

/// A line of an `openssl ca` index: valid, or revoked with a reason.
pub fn index_line(cert: &Issued, revoked: Option<&str>) -> String {
    let expiry = "991231235959Z";
    match revoked {
        None => format!(
            "V\t{expiry}\t\t{}\tunknown\t/CN={}\n",
            index_serial(cert.serial),
            cert.cn
        ),
        Some(reason) => format!(
            "R\t{expiry}\t260101000000Z,{reason}\t{}\tunknown\t/CN={}\n",
            index_serial(cert.serial),
            cert.cn
        ),
    }
}

/// Writes a file in `dir` and returns its path.
pub fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// `openssl ocsp` answering from an index, killed when dropped.
pub struct Responder {
    child: Child,
    addr: SocketAddr,
}

impl Responder {
    /// Starts `openssl ocsp -index index -CA ca -rsigner signer -rkey key EXTRA...` on a free
    /// port (bounded attempts), and waits (bounded) until it accepts connections.
    pub fn start(index: &Path, ca: &Path, signer: &Path, key: &Path, extra: &[&str]) -> Self {
        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap()
                .port();
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
                .args(["-port", &port.to_string()])
                .args(extra)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("these tests need the openssl CLI on PATH (.ci/run installs it)");
            // The responder prints `ACCEPT` once it listens; keep draining its output so it
            // never blocks on a full pipe.
            let (tx, rx) = mpsc::channel();
            if let Some(stdout) = child.stdout.take() {
                let tx = tx.clone();
                std::thread::spawn(move || drain(stdout, &tx));
            }
            if let Some(stderr) = child.stderr.take() {
                std::thread::spawn(move || drain(stderr, &tx));
            }
            let mut output = String::new();
            while let Ok(line) = rx.recv_timeout(TIMEOUT) {
                if line.starts_with("ACCEPT") {
                    return Self {
                        child,
                        addr: SocketAddr::from(([127, 0, 0, 1], port)),
                    };
                }
                output.push_str(&line);
            }
            let _ = child.kill();
            let _ = child.wait();
            last_error = output;
        }
        panic!("openssl ocsp did not start in {PORT_ATTEMPTS} attempts: {last_error}");
    }

    /// The responder's URL on loopback.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// POSTs `request` to the responder.
    pub fn ask(&self, request: &[u8]) -> Vec<u8> {
        post(&self.url(), request)
    }
}

/// POSTs `request` (HTTP/1.0, `application/ocsp-request`) to `url`, which must be
/// `http://127.0.0.1:PORT/`, and returns the body of the 200 answer.
pub fn post(url: &str, request: &[u8]) -> Vec<u8> {
    let authority = url
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("not an http://HOST:PORT/ URL: {url}"));
    let addr: SocketAddr = authority.parse().unwrap();
    assert!(
        addr.ip().is_loopback(),
        "tests stay on loopback, not {addr}"
    );
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    let head = format!(
        "POST / HTTP/1.0\r\nHost: {}\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\n\r\n",
        addr,
        request.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    stream.take(MAX_ANSWER).read_to_end(&mut answer).unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&answer[..split]);
    assert!(
        head.starts_with("HTTP/1.0 200"),
        "responder answered {head}"
    );
    answer.split_off(split + 4)
}

fn drain(output: impl std::io::Read, tx: &mpsc::Sender<String>) {
    for line in BufReader::new(output).lines() {
        let Ok(line) = line else { return };
        if tx.send(line).is_err() {
            // Nobody listens any more; keep reading so the pipe never fills.
            continue;
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
