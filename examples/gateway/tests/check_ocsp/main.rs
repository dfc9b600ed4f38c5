//! `mtls-gateway check --ocsp`: the real binary asks a real responder (`openssl ocsp`, started
//! by each test on a loopback port from an `openssl ca` index over a PKI generated at test
//! time), and the exit code and message are asserted for each status and failure. The
//! running gateway asks the same responder in `running`.

mod answers;
#[path = "../check_run/mod.rs"]
mod check_run;
mod config;
mod hard;
mod responder;
mod running;
#[path = "../support/mod.rs"]
mod support;
mod unusable;

use std::net::TcpListener;
use std::path::Path;

use check_run::{Run, check};
use responder::{Responder, TestCa, free_port, index_line, write};

/// Root → intermediate → clients, the intermediate's responder, and in `dir`: `root.pem`, and
/// a chain file (leaf, intermediate) per client: `good.pem` and `revoked.pem` (in the index),
/// `unknown.pem` (not in it), `noaia.pem` (in it, without authorityInfoAccess).
struct Setup {
    dir: tempfile::TempDir,
    root: TestCa,
    index: std::path::PathBuf,
    responder: Responder,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let root = TestCa::root("OCSP Root CA");
        let inter = root.intermediate("OCSP Intermediate CA");
        let index = write(
            d,
            "index.txt",
            &[
                index_line(0x1001, "good client", None),
                index_line(0x1002, "revoked client", Some("keyCompromise")),
                index_line(0x1004, "client without aia", None),
            ]
            .concat(),
        );
        write(d, "root.pem", &root.cert.pem());
        let (inter_pem, inter_key) = inter.write(d, "inter");
        let responder = Responder::start(&index, &inter_pem, &inter_pem, &inter_key);
        let url = responder.url();
        let clients = [
            ("good", inter.client("good client", 0x1001, Some(&url))),
            (
                "revoked",
                inter.client("revoked client", 0x1002, Some(&url)),
            ),
            (
                "unknown",
                inter.client("unknown client", 0x1003, Some(&url)),
            ),
            ("noaia", inter.client("client without aia", 0x1004, None)),
        ];
        for (name, client) in &clients {
            chain_file(d, name, client, Some(&inter));
        }
        Self {
            dir,
            root,
            index,
            responder,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn check(&self, chain: &str, extra: &[&str]) -> Run {
        let chain = format!("{chain}.pem");
        let mut args = vec!["--ca", "root.pem", "--chain", &chain, "--ocsp"];
        args.extend_from_slice(extra);
        check(self.path(), &args)
    }
}

/// Writes `NAME.pem`: the leaf, then `intermediate` when given.
fn chain_file(dir: &Path, name: &str, leaf: &rcgen::Certificate, intermediate: Option<&TestCa>) {
    let mut pem = leaf.pem();
    if let Some(ca) = intermediate {
        pem.push_str(&ca.cert.pem());
    }
    write(dir, &format!("{name}.pem"), &pem);
}

#[test]
fn a_good_status_accepts_and_shows_its_times() {
    let setup = Setup::new();
    let run = setup.check("good", &[]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.starts_with("ACCEPTED: verified by trust domain"),
        "{run}"
    );
    let line = format!("ocsp: good from {} (thisUpdate 20", setup.responder.url());
    assert!(run.stdout.contains(&line), "{run}");
    assert!(run.stdout.contains(", nextUpdate 20"), "{run}");

    let json = setup.check("good", &["--json"]);
    assert_eq!(json.code, 0, "{json}");
    let value: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(value["decision"], "accepted", "{json}");
    let ocsp = value["trace"]["ocsp"].as_str().unwrap_or_default();
    assert!(ocsp.starts_with("good from http://127.0.0.1:"), "{json}");

    // Without --ocsp, the same chain is accepted without asking anyone.
    let plain = check(setup.path(), &["--ca", "root.pem", "--chain", "good.pem"]);
    assert_eq!(plain.code, 0, "{plain}");
    assert!(!plain.stdout.contains("ocsp:"), "{plain}");
}

#[test]
fn a_leaf_issued_by_the_anchor_is_asked_about_with_the_anchor() {
    let setup = Setup::new();
    let d = setup.path();
    let index = write(
        d,
        "root-index.txt",
        &index_line(0x3001, "root client", None),
    );
    let (root_pem, root_key) = setup.root.write(d, "root");
    let responder = Responder::start(&index, &root_pem, &root_pem, &root_key);
    let client = setup
        .root
        .client("root client", 0x3001, Some(&responder.url()));
    chain_file(d, "direct", &client, None);
    let run = setup.check("direct", &[]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("ocsp: good from"), "{run}");
}

#[test]
fn a_revoked_status_rejects_with_time_and_reason() {
    let setup = Setup::new();
    let run = setup.check("revoked", &[]);
    assert_eq!(run.code, 1, "{run}");
    let expected = format!(
        "REJECTED (revoked): revoked according to the OCSP responder {}: at \
         2026-01-01T00:00:00Z, reason keyCompromise",
        setup.responder.url()
    );
    assert!(run.stdout.starts_with(&expected), "{run}");
}

#[test]
fn an_unknown_status_rejects() {
    let setup = Setup::new();
    let run = setup.check("unknown", &[]);
    assert_eq!(run.code, 1, "{run}");
    let expected = format!(
        "REJECTED (revocation_unknown): no good OCSP status: the responder {} does not know \
         the certificate (status unknown)",
        setup.responder.url()
    );
    assert!(run.stdout.starts_with(&expected), "{run}");
}

#[test]
fn a_responder_that_is_down_or_silent_gives_no_good_status() {
    let setup = Setup::new();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let run = setup.check("good", &["--ocsp-url", &url]);
    assert_eq!(run.code, 1, "{run}");
    let expected = format!(
        "REJECTED (revocation_unknown): no good OCSP status: responder 127.0.0.1:{port}: \
         cannot connect: 127.0.0.1:{port}: Connection refused"
    );
    assert!(run.stdout.starts_with(&expected), "{run}");

    // A responder that accepts the connection and never answers: the timeout ends it.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let url = format!("http://{addr}/");
    let started = std::time::Instant::now();
    let run = setup.check("good", &["--ocsp-url", &url, "--ocsp-timeout", "1"]);
    assert_eq!(run.code, 1, "{run}");
    let expected = format!(
        "REJECTED (revocation_unknown): no good OCSP status: responder {addr}: no answer \
         within 1s"
    );
    assert!(run.stdout.starts_with(&expected), "{run}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{run}"
    );
}

#[test]
fn a_response_signed_by_another_ca_is_refused() {
    let setup = Setup::new();
    let other = TestCa::root("Other CA");
    let (other_pem, other_key) = other.write(setup.path(), "other");
    let inter_pem = setup.path().join("inter.pem");
    let wrong = Responder::start(&setup.index, &inter_pem, &other_pem, &other_key);
    let run = setup.check("good", &["--ocsp-url", &wrong.url()]);
    assert_eq!(run.code, 1, "{run}");
    let expected = format!(
        "REJECTED (revocation_unknown): no good OCSP status: from {}: the OCSP response was \
         signed by CN=Other CA, which may not sign for the issuer: it was not issued by the \
         certificate's issuer",
        wrong.url()
    );
    assert!(run.stdout.starts_with(&expected), "{run}");
}

#[test]
fn a_leaf_without_a_responder_needs_ocsp_url() {
    let setup = Setup::new();
    let run = setup.check("noaia", &[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout.starts_with(
            "REJECTED (revocation_unknown): no good OCSP status: the certificate names no OCSP \
             responder (no authorityInfoAccess id-ad-ocsp URI); give --ocsp-url URL"
        ),
        "{run}"
    );

    let url = setup.responder.url();
    let run = setup.check("noaia", &["--ocsp-url", &url]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.contains(&format!("ocsp: good from {url}")),
        "{run}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let setup = Setup::new();
    let run = setup.check("good", &["--ocsp-url", "https://ocsp.example.com/"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr.contains("--ocsp-url: responder URL \"https://ocsp.example.com/\": https responders are not supported"),
        "{run}"
    );
    let run = check(
        setup.path(),
        &[
            "--ca",
            "root.pem",
            "--chain",
            "good.pem",
            "--ocsp-url",
            "http://127.0.0.1:1/",
        ],
    );
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("--ocsp"), "{run}");
    let run = setup.check("good", &["--ocsp-timeout", "0"]);
    assert_eq!(run.code, 2, "{run}");
    // A chain that does not verify is rejected for that, and no responder is asked.
    let other = TestCa::root("Other root");
    write(setup.path(), "other-root.pem", &other.cert.pem());
    let run = check(
        setup.path(),
        &["--ca", "other-root.pem", "--chain", "good.pem", "--ocsp"],
    );
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.starts_with("REJECTED (unknown_issuer)"), "{run}");
    assert!(!run.stdout.contains("ocsp:"), "{run}");
}
