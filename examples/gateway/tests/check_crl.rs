//! `mtls-gateway check --fetch-crls`: the real binary fetches the CRL a leaf's
//! cRLDistributionPoints names from a one-shot HTTP server on loopback (a PKI generated at
//! test time), and the exit code and message are asserted for each CRL and each failure.

mod check_run;

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use check_run::{Run, check};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevokedCertParams, SerialNumber, date_time_ymd,
};

/// How long a one-shot server waits for its connection and for the request.
const SERVE_TIMEOUT: Duration = Duration::from_secs(10);
/// The verification time: inside the CRLs' thisUpdate..nextUpdate.
const TIME: &str = "2026-06-01T00:00:00Z";

/// A root CA (keyCertSign, cRLSign) written to `root.pem` in a temp dir.
struct Ca {
    dir: tempfile::TempDir,
    params: CertificateParams,
    key: KeyPair,
    cert: rcgen::Certificate,
}

impl Ca {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "CDP Root CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.path().join("root.pem"), cert.pem()).unwrap();
        Self {
            dir,
            params,
            key,
            cert,
        }
    }

    /// Writes `leaf.pem`: a client certificate with `serial`, naming `cdp` (if any) as its
    /// CRL distribution point.
    fn leaf(&self, serial: u64, cdp: Option<&str>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["client.test".to_string()]).unwrap();
        params.is_ca = IsCa::ExplicitNoCa;
        params.serial_number = Some(SerialNumber::from_slice(&serial.to_be_bytes()));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        if let Some(url) = cdp {
            params.crl_distribution_points = vec![CrlDistributionPoint {
                uris: vec![url.to_string()],
            }];
        }
        let issuer = Issuer::new(self.params.clone(), &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        std::fs::write(self.dir.path().join("leaf.pem"), cert.pem()).unwrap();
    }

    /// A DER CRL of this CA listing `revoked`, signed by `key` (the CA's own when `None`).
    fn crl(&self, revoked: &[u64], key: Option<&KeyPair>) -> Vec<u8> {
        let params = CertificateRevocationListParams {
            this_update: date_time_ymd(2026, 1, 1),
            next_update: date_time_ymd(2027, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&s.to_be_bytes()),
                    revocation_time: date_time_ymd(2026, 2, 1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let issuer = Issuer::new(self.params.clone(), key.unwrap_or(&self.key));
        params.signed_by(&issuer).unwrap().der().to_vec()
    }

    fn check(&self, extra: &[&str]) -> Run {
        let mut args = vec![
            "--ca",
            "root.pem",
            "--chain",
            "leaf.pem",
            "--time",
            TIME,
            "--fetch-crls",
        ];
        args.extend_from_slice(extra);
        check(self.dir.path(), &args)
    }
}

/// What a one-shot server does with its one connection.
enum Serve {
    /// Answers `200` with this body.
    Body(Vec<u8>),
    /// Reads the request and answers nothing for this long.
    Stall(Duration),
}

/// Binds a loopback port; the first connection is served as `serve` says, after its request
/// is read; the thread gives up after [`SERVE_TIMEOUT`]. Returns the CRL's URL and the thread.
fn serve_once(serve: Serve) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ca.crl", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let thread = std::thread::spawn(move || {
        let deadline = Instant::now() + SERVE_TIMEOUT;
        let mut stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return,
            }
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(SERVE_TIMEOUT));
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        assert!(request.starts_with(b"GET /ca.crl HTTP/1.0\r\n"));
        match serve {
            Serve::Body(body) => {
                let _ = stream
                    .write_all(b"HTTP/1.0 200 OK\r\nContent-Type: application/pkix-crl\r\n\r\n");
                // The client may stop reading a body too large for it: that error is expected.
                let _ = stream.write_all(&body);
            }
            Serve::Stall(time) => std::thread::sleep(time),
        }
    });
    (url, thread)
}

/// The first line the check prints for a CRL from `url` that cannot be used.
fn unusable(url: &str, why: &str) -> String {
    format!(
        "REJECTED (revocation_unknown): no usable CRL: certificate 0 of the chain: {url}: {why}"
    )
}

#[test]
fn a_crl_without_the_leaf_accepts() {
    let ca = Ca::new();
    let (url, server) = serve_once(Serve::Body(ca.crl(&[0x99], None)));
    ca.leaf(0x10, Some(&url));
    let run = ca.check(&[]);
    server.join().unwrap();
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.starts_with("ACCEPTED: verified by trust domain"),
        "{run}"
    );

    // The same leaf without --fetch-crls is accepted without fetching: no server is running.
    let plain = check(
        ca.dir.path(),
        &["--ca", "root.pem", "--chain", "leaf.pem", "--time", TIME],
    );
    assert_eq!(plain.code, 0, "{plain}");
}

#[test]
fn fetched_crls_add_to_crl_files() {
    let ca = Ca::new();
    // A --crl file listing the leaf, and a fetched CRL that does not: revoked all the same.
    std::fs::write(ca.dir.path().join("file.crl"), ca.crl(&[0x10], None)).unwrap();
    let (url, server) = serve_once(Serve::Body(ca.crl(&[0x99], None)));
    ca.leaf(0x10, Some(&url));
    let run = ca.check(&["--crl", "file.crl"]);
    server.join().unwrap();
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.starts_with("REJECTED (revoked)"), "{run}");
}

#[test]
fn a_crl_listing_the_leaf_rejects_it_as_revoked() {
    let ca = Ca::new();
    let (url, server) = serve_once(Serve::Body(ca.crl(&[0x10], None)));
    ca.leaf(0x10, Some(&url));
    let run = ca.check(&["--json"]);
    server.join().unwrap();
    assert_eq!(run.code, 1, "{run}");
    let value: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(value["decision"], "rejected", "{run}");
    assert_eq!(value["code"], "revoked", "{run}");
    assert_eq!(value["reason"], "revoked", "{run}");
}

#[test]
fn a_server_that_refuses_the_connection_rejects() {
    let ca = Ca::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{addr}/ca.crl");
    ca.leaf(0x10, Some(&url));
    let run = ca.check(&[]);
    assert_eq!(run.code, 1, "{run}");
    let line = unusable(&url, &format!("responder {addr}: cannot connect: {addr}: "));
    assert!(run.stdout.starts_with(&line), "{run}");
}

#[test]
fn a_slow_server_rejects_after_the_timeout() {
    let ca = Ca::new();
    let (url, server) = serve_once(Serve::Stall(Duration::from_secs(4)));
    ca.leaf(0x10, Some(&url));
    let started = Instant::now();
    let run = ca.check(&["--crl-timeout", "1"]);
    let took = started.elapsed();
    server.join().unwrap();
    assert_eq!(run.code, 1, "{run}");
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/ca.crl");
    let line = unusable(&url, &format!("responder {addr}: no answer within 1s"));
    assert!(run.stdout.starts_with(&line), "{run}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn an_oversized_crl_rejects() {
    let ca = Ca::new();
    let (url, server) = serve_once(Serve::Body(vec![0x30; 11 * 1024 * 1024]));
    ca.leaf(0x10, Some(&url));
    let run = ca.check(&[]);
    server.join().unwrap();
    assert_eq!(run.code, 1, "{run}");
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/ca.crl");
    let line = unusable(
        &url,
        &format!("responder {addr}: answer larger than 10485760 bytes"),
    );
    assert!(run.stdout.starts_with(&line), "{run}");
}

#[test]
fn a_body_that_is_not_a_crl_rejects() {
    let ca = Ca::new();
    let (url, server) = serve_once(Serve::Body(b"<html>not found</html>".to_vec()));
    ca.leaf(0x10, Some(&url));
    let run = ca.check(&[]);
    server.join().unwrap();
    assert_eq!(run.code, 1, "{run}");
    let line = unusable(
        &url,
        "not PEM and not a DER certificate revocation list: input has no -----BEGIN line and \
         does not start with a DER SEQUENCE",
    );
    assert!(run.stdout.starts_with(&line), "{run}");

    // A certificate served as the CRL is named as one.
    let (url, server) = serve_once(Serve::Body(ca.cert.pem().into_bytes()));
    ca.leaf(0x10, Some(&url));
    let run = ca.check(&[]);
    server.join().unwrap();
    assert_eq!(run.code, 1, "{run}");
    let line = unusable(
        &url,
        "PEM block 0 (CERTIFICATE): a certificate, not a certificate revocation list",
    );
    assert!(run.stdout.starts_with(&line), "{run}");
}

#[test]
fn a_crl_not_signed_by_its_issuer_rejects() {
    let ca = Ca::new();
    let other = KeyPair::generate().unwrap();
    let (url, server) = serve_once(Serve::Body(ca.crl(&[], Some(&other))));
    ca.leaf(0x10, Some(&url));
    let run = ca.check(&[]);
    server.join().unwrap();
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout.starts_with(
            "REJECTED (revocation_unknown): no usable CRL: trust domain \"check\": CRL 0 (issuer \
             CN=CDP Root CA): signature does not verify with the CA certificate of that name in \
             the bundle"
        ),
        "{run}"
    );
}

#[test]
fn a_chain_without_a_distribution_point_rejects() {
    let ca = Ca::new();
    ca.leaf(0x10, None);
    let run = ca.check(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout.starts_with(
            "REJECTED (revocation_unknown): no usable CRL: no certificate of the chain names an \
             http:// CRL distribution point"
        ),
        "{run}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let ca = Ca::new();
    ca.leaf(0x10, None);
    let run = check(
        ca.dir.path(),
        &[
            "--ca",
            "root.pem",
            "--chain",
            "leaf.pem",
            "--crl-timeout",
            "1",
        ],
    );
    assert_eq!(run.code, 2, "{run}");
    let run = ca.check(&["--crl-timeout", "0"]);
    assert_eq!(run.code, 2, "{run}");
}

/// `--fetch-crls` with `--config`: the CRLs of the chain's distribution points join the host's
/// trust domain, and the request is decided with them (revoked, accepted, or no usable CRL,
/// including one of the trust domain's CA that it did not sign).
#[test]
fn with_a_configuration_the_fetched_crls_join_the_hosts_trust_domain() {
    let ca = Ca::new();
    std::fs::write(
        ca.dir.path().join("gateway.yaml"),
        r#"
listeners:
  - name: edge
    port: 8443
    hosts:
      - certificate: { chain: server.pem, key: server.key }
        client_validation:
          mode: required
          trust: [{ name: clients, ca: [{ file: root.pem }] }]
        routes:
          - { path_prefix: /, respond: { status: 200, body: "ok\n" } }
"#,
    )
    .unwrap();
    let check_config = |ca: &Ca| {
        check(
            ca.dir.path(),
            &[
                "--config",
                "gateway.yaml",
                "--chain",
                "leaf.pem",
                "--time",
                TIME,
                "--fetch-crls",
                "--crl-timeout",
                "2",
            ],
        )
    };

    let (url, server) = serve_once(Serve::Body(ca.crl(&[0x10], None)));
    ca.leaf(0x10, Some(&url));
    let run = check_config(&ca);
    server.join().unwrap();
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.starts_with("REJECTED (revoked)"), "{run}");
    assert!(
        run.stdout.contains(&format!("crls: fetched from {url}")),
        "{run}"
    );

    let (url, server) = serve_once(Serve::Body(ca.crl(&[0x99], None)));
    ca.leaf(0x10, Some(&url));
    let run = check_config(&ca);
    server.join().unwrap();
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.starts_with("ACCEPTED"), "{run}");

    let other = KeyPair::generate().unwrap();
    let (url, server) = serve_once(Serve::Body(ca.crl(&[], Some(&other))));
    ca.leaf(0x10, Some(&url));
    let run = check_config(&ca);
    server.join().unwrap();
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout.starts_with(
            "REJECTED (revocation_unknown): no usable CRL: trust domain \"clients\": CRL 0 \
             (issuer CN=CDP Root CA): signature does not verify"
        ),
        "{run}"
    );

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{addr}/ca.crl");
    ca.leaf(0x10, Some(&url));
    let run = check_config(&ca);
    assert_eq!(run.code, 1, "{run}");
    let line = unusable(&url, &format!("responder {addr}: cannot connect: {addr}: "));
    assert!(run.stdout.starts_with(&line), "{run}");
}
