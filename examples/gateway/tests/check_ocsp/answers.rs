//! Answers `openssl ocsp` does not give on its own: a stale status (the verification time set
//! past nextUpdate), a real response for another certificate replayed by a one-shot server,
//! and HTTP answers that carry no usable response.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::process::Command;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::*;

/// How long the one-shot server waits for its connection and for the request.
const SERVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `answer` (a whole HTTP answer) to the first connection on a loopback port, after
/// reading its request; gives up after [`SERVE_TIMEOUT`]. Returns the URL and the thread.
pub(super) fn serve_once(answer: Vec<u8>) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
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
        while !complete(&request) {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        // The client may stop reading an answer too large for it: that error is expected.
        let _ = stream.write_all(&answer);
    });
    (url, thread)
}

/// Whether `request` holds its headers and the Content-Length bytes of body after them.
fn complete(request: &[u8]) -> bool {
    let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    request.len() >= end + 4 + length
}

/// A whole HTTP/1.0 answer carrying `body` as an OCSP response.
pub(super) fn http_answer(status: &str, body: &[u8]) -> Vec<u8> {
    let mut answer = format!(
        "HTTP/1.0 {status}\r\nContent-Type: application/ocsp-response\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(body);
    answer
}

/// A genuine response of the responder at `url` about the certificate `serial` issued by
/// `inter.pem` in `dir`, asked with the `openssl ocsp` client.
pub(super) fn response_about(dir: &Path, url: &str, serial: &str) -> Vec<u8> {
    let respout = dir.join(format!("{serial}.der"));
    let out = Command::new("openssl")
        .args([
            "ocsp",
            "-issuer",
            "inter.pem",
            "-serial",
            serial,
            "-noverify",
        ])
        .args(["-timeout", "10", "-url", url, "-respout"])
        .arg(&respout)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&respout).unwrap()
}

#[test]
fn a_stale_status_gives_no_good_status() {
    let setup = Setup::new();
    // The responder gives nextUpdate an hour after thisUpdate; three hours on, it is stale
    // (the chain itself is still valid then).
    let later =
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(3 * 3600);
    let time = format!("@{}", later.as_secs());
    let run = setup.check("good", &["--time", &time]);
    assert_eq!(run.code, 1, "{run}");
    let expected = format!(
        "REJECTED (revocation_unknown): no good OCSP status: from {}: the OCSP response is \
         stale: nextUpdate ",
        setup.responder.url()
    );
    assert!(run.stdout.starts_with(&expected), "{run}");
}

#[test]
fn a_response_for_another_certificate_is_refused() {
    let setup = Setup::new();
    let d = setup.path();
    // A genuine response, signed by the issuer, about the revoked client (serial 0x1002).
    let response = response_about(d, &setup.responder.url(), "0x1002");
    let (url, server) = serve_once(http_answer("200 OK", &response));
    // Asked about the good client (serial 0x1001), it answers for the revoked one.
    let run = setup.check("good", &["--ocsp-url", &url]);
    server.join().unwrap();
    assert_eq!(run.code, 1, "{run}");
    let expected = format!(
        "REJECTED (revocation_unknown): no good OCSP status: from {url}: the OCSP response is \
         for another certificate: asked about serial 1001, answered for 1002"
    );
    assert!(run.stdout.starts_with(&expected), "{run}");
}

#[test]
fn answers_without_a_usable_response_give_no_good_status() {
    let setup = Setup::new();
    let cases: [(Vec<u8>, &str); 3] = [
        (
            http_answer("200 OK", b"<html>502 Bad Gateway</html>"),
            "from URL: malformed OCSP response: not a DER SEQUENCE",
        ),
        (
            http_answer("404 Not Found", b""),
            "responder AUTHORITY answered \"HTTP/1.0 404 Not Found\"",
        ),
        (
            http_answer("200 OK", &vec![0x30; 70_000]),
            "responder AUTHORITY: answer larger than 65536 bytes",
        ),
    ];
    for (answer, reason) in cases {
        let (url, server) = serve_once(answer);
        let authority = url.trim_start_matches("http://").trim_end_matches('/');
        let reason = reason.replace("URL", &url).replace("AUTHORITY", authority);
        let run = setup.check("good", &["--ocsp-url", &url]);
        server.join().unwrap();
        assert_eq!(run.code, 1, "{run}");
        let expected = format!("REJECTED (revocation_unknown): no good OCSP status: {reason}\n");
        assert!(run.stdout.starts_with(&expected), "{run}");
    }
}
