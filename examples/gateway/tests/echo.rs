//! `mtls-gateway echo`: the backend of the configs README. Asked directly, and behind a
//! gateway running an example configuration, with the real `curl`.

mod support;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use support::{CLIENT_ID, Workdir, curl_status, example, free_port};

/// A running `mtls-gateway echo`, stopped on drop.
struct Echo {
    child: Child,
    port: u16,
}

impl Echo {
    /// Starts `mtls-gateway echo --listen 127.0.0.1:0` and reads the port it prints.
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .args(["--workers", "1", "echo", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("mtls-gateway echo starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let port = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                panic!("mtls-gateway echo exited without saying where it listens");
            };
            if let Some(addr) = line.strip_prefix("echo backend listening on http://") {
                let addr: std::net::SocketAddr = addr.parse().expect("an address");
                break addr.port();
            }
        };
        Self { child, port }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn answers_the_status_asked_for_and_echoes_identity_headers_only() {
    let echo = Echo::start();
    let dir = std::env::temp_dir();
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", echo.port);

    let (code, status, body, err) = curl_status(
        &dir,
        &[
            "-H",
            "x-forwarded-client-cert: Hash=00;URI=spiffe://example.org/ns/a/sa/b",
            "-H",
            "ssl-client-verify: SUCCESS",
            "-H",
            "x-other: not identity",
            &url("/status/418?x=1"),
        ],
    );
    assert_eq!((code, status), (0, 418), "{body}{err}");
    let body = json(&body);
    assert_eq!(body["status"], 418);
    assert_eq!(body["method"], "GET");
    assert_eq!(body["path"], "/status/418");
    assert_eq!(body["query"], "x=1");
    assert_eq!(
        body["identity_headers"],
        serde_json::json!({
            "x-forwarded-client-cert": "Hash=00;URI=spiffe://example.org/ns/a/sa/b",
            "ssl-client-verify": "SUCCESS",
        })
    );

    // Any other path: 200, no identity header, none echoed.
    let (_, status, body, err) = curl_status(&dir, &[&url("/anything")]);
    assert_eq!(status, 200, "{body}{err}");
    assert_eq!(json(&body)["identity_headers"], serde_json::json!({}));

    // A status that is not one: 400 and why.
    let (_, status, body, err) = curl_status(&dir, &[&url("/status/700")]);
    assert_eq!(status, 400, "{body}{err}");
    assert_eq!(
        json(&body)["error"],
        "/status/700: expected a status from 200 to 599"
    );

    // 204: no body.
    let (_, status, body, err) = curl_status(&dir, &[&url("/status/204")]);
    assert_eq!((status, body.as_str()), (204, ""), "{err}");
}

#[test]
fn behind_the_gateway_it_shows_the_verified_identity() {
    let w = Workdir::new();
    let echo = Echo::start();
    let (https, admin) = (free_port(), free_port());
    let text = example(
        "agc-frontend-mtls.yaml",
        &[(8443, https), (9901, admin), (3000, echo.port)],
    );
    let _gateway = w.start("agc-frontend-mtls.yaml", &text, admin);

    let (code, status, body, err) = curl_status(
        &w.etc,
        &[
            "--cacert",
            "ca.pem",
            "--cert",
            "client.pem",
            "--key",
            "client.key",
            // A forged header is stripped; the gateway's own reaches the backend.
            "-H",
            "x-forwarded-client-cert: URI=spiffe://forged",
            &format!("https://localhost:{https}/status/418"),
        ],
    );
    assert_eq!((code, status), (0, 418), "{body}{err}");
    let body = json(&body);
    let xfcc = body["identity_headers"]["x-forwarded-client-cert"]
        .as_str()
        .unwrap_or_else(|| panic!("no XFCC reached the backend: {body}"));
    assert!(
        xfcc.contains(CLIENT_ID) && !xfcc.contains("forged"),
        "{xfcc}"
    );
}
