//! CRLs fetched from a distribution point by the running gateway (`crl.distribution_points`):
//! the real `mtls-gateway run` binary, a CRL served by a small HTTP server of the test on
//! loopback (with an `ETag`), and the real `curl` and a rustls client. A revoked client is
//! refused; a refreshed CRL that revokes a connected client closes its connection; every
//! failed fetch (down, slow, oversized, not a CRL, an error status) keeps the last good CRL and
//! is counted by its reason.
//!
//! Every wait is bounded; the server and the gateway stop when the test ends.

mod support;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use support::keep_alive::{closed_by_server, get_on, keep_alive_client};
use support::{CLIENT_ID, Workdir, curl_status, eventually, free_port, metric, write_atomic};

const CLIENT: [&str; 4] = ["--cert", "client.pem", "--key", "client.key"];
const REVOKED: [&str; 4] = ["--cert", "revoked.pem", "--key", "revoked.key"];

/// What the CRL server answers.
#[derive(Clone)]
enum Serve {
    /// `200` with this body and `ETag`; `304` to a request naming the `ETag`.
    Crl { body: Vec<u8>, etag: String },
    /// `200` with this body, no `ETag`.
    Body(Vec<u8>),
    /// This status line, no body.
    Status(&'static str),
    /// Nothing, for this long, then the connection is closed.
    Stall(Duration),
}

/// A small HTTP/1.0 server on loopback answering every GET as `serve` says, and recording the
/// `If-None-Match` header of each request. Stops when dropped.
struct CrlServer {
    port: u16,
    serve: Arc<Mutex<Serve>>,
    conditional: Arc<Mutex<Vec<Option<String>>>>,
    stop: Arc<AtomicBool>,
}

impl CrlServer {
    fn start(serve: Serve) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let serve = Arc::new(Mutex::new(serve));
        let conditional = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, c, halt) = (serve.clone(), conditional.clone(), stop.clone());
        std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let answer = s.lock().unwrap().clone();
                        let c = c.clone();
                        std::thread::spawn(move || answer_one(stream, &answer, &c));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Self {
            port,
            serve,
            conditional,
            stop,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/issuing.crl", self.port)
    }

    fn set(&self, serve: Serve) {
        *self.serve.lock().unwrap() = serve;
    }

    /// The `If-None-Match` of each request so far.
    fn conditional(&self) -> Vec<Option<String>> {
        self.conditional.lock().unwrap().clone()
    }
}

impl Drop for CrlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn answer_one(mut stream: TcpStream, serve: &Serve, seen: &Mutex<Vec<Option<String>>>) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let if_none_match = head.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(name, _)| name.eq_ignore_ascii_case("if-none-match"))
            .map(|(_, v)| v.trim().to_string())
    });
    seen.lock().unwrap().push(if_none_match.clone());
    let answer = match serve {
        Serve::Crl { body, etag } if if_none_match.as_deref() == Some(etag.as_str()) => {
            format!("HTTP/1.0 304 Not Modified\r\nETag: {etag}\r\n\r\n").into_bytes()
        }
        Serve::Crl { body, etag } => {
            let mut a = format!(
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nETag: {etag}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            a.extend_from_slice(body);
            a
        }
        Serve::Body(body) => {
            let mut a =
                format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
            a.extend_from_slice(body);
            a
        }
        Serve::Status(line) => format!("HTTP/1.0 {line}\r\nContent-Length: 0\r\n\r\n").into_bytes(),
        Serve::Stall(d) => {
            std::thread::sleep(*d);
            return;
        }
    };
    let _ = stream.write_all(&answer);
}

/// One mTLS listener whose trust domain takes its CRLs only from `url`, fetched every second
/// (each fetch bounded by 1 s and `max_bytes`); revoked connections are closed.
fn config(https: u16, admin: u16, url: &str, max_bytes: u64) -> String {
    format!(
        r#"
admin:
  address: 127.0.0.1:{admin}
listeners:
  - name: edge
    address: 127.0.0.1:{https}
    limits: {{ close_revoked_connections: 2s }}
    hosts:
      - certificate: {{ chain: server.pem, key: server.key }}
        client_validation:
          mode: required
          trust:
            - name: clients
              ca: [{{ file: ca.pem }}]
              crl:
                distribution_points:
                  urls: ["{url}"]
                  refresh: 1s
                  timeout: 1s
                  max_bytes: {max_bytes}
        routes:
          - path_prefix: /
            respond: {{ status: 200, body: "ok\n" }}
"#
    )
}

/// `(status, body)` of `GET /` with the client certificate `cert`.
fn get(dir: &std::path::Path, port: u16, cert: &[&str]) -> (u16, String) {
    let url = format!("https://localhost:{port}/");
    let mut args = vec!["--cacert", "ca.pem", &url];
    args.extend_from_slice(cert);
    let (_, status, body, _) = curl_status(dir, &args);
    (status, body)
}

/// The CRL of the distribution point refuses the revoked client and lets the other in; the
/// next fetches are conditional (`If-None-Match`, answered `304`); a CRL that appears on a
/// refresh revoking a connected client closes its connection.
#[test]
fn a_fetched_crl_refuses_a_revoked_client_and_a_refresh_cuts_its_connection() {
    let w = Workdir::new();
    let dir = &w.etc;
    let pki = mtls_testkit::Pki::shared();
    let victim = pki.client().common_name("victim").uri(CLIENT_ID).issue();
    victim.write_to(dir, "victim").unwrap();
    // The CRL of `write_pki`: it revokes `revoked.pem`.
    let first = std::fs::read(dir.join("crl.pem")).unwrap();
    let server = CrlServer::start(Serve::Crl {
        body: first,
        etag: "\"v1\"".into(),
    });
    let (https, admin) = (free_port(), free_port());
    let gw = w.start(
        "fetch.yaml",
        &config(https, admin, &server.url(), 1 << 20),
        admin,
    );

    assert_eq!(get(dir, https, &CLIENT), (200, "ok\n".into()));
    let (status, body) = get(dir, https, &REVOKED);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("revoked"), "{body}");
    let metrics = gw.admin_get("/metrics");
    let uri = format!("uri=\"{}\"", server.url());
    assert_eq!(
        metric(&metrics, "mtls_crl_fetch_entries", &[&uri]),
        Some(1.0),
        "{metrics}"
    );
    assert!(metric(&metrics, "mtls_crl_fetch_bytes", &[&uri]).is_some_and(|b| b > 0.0));
    assert!(
        metric(
            &metrics,
            "mtls_crl_fetch_last_success_timestamp_seconds",
            &[&uri]
        )
        .is_some_and(|t| t > 1.0e9)
    );

    // Refreshes ask with the ETag and are answered 304.
    eventually("a conditional refresh answered 304", || {
        server.conditional().contains(&Some("\"v1\"".into()))
            && metric(
                &gw.admin_get("/metrics"),
                "mtls_crl_fetch_not_modified_total",
                &[&uri],
            )
            .is_some_and(|n| n >= 1.0)
    });

    // A connected client, then a CRL that revokes it.
    let mut doomed = keep_alive_client(dir, https, "victim");
    let (status, _) = get_on(&mut doomed).unwrap();
    assert!(status.contains(" 200 "), "{status}");
    let revoking = pki.crls().revoke(&victim).crl_number(2).build().pem();
    server.set(Serve::Crl {
        body: revoking.into_bytes(),
        etag: "\"v2\"".into(),
    });
    let closed = closed_by_server(&mut doomed);
    assert!(closed.is_ok(), "the connection was not closed: {closed:?}");
    let (status, body) = get(dir, https, &["--cert", "victim.pem", "--key", "victim.key"]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("revoked"), "{body}");
    // The CRL of the refresh replaced the first: `revoked.pem` is no longer listed.
    assert_eq!(get(dir, https, &REVOKED).0, 200);
    eventually("the closed connection is counted", || {
        gw.admin_get("/metrics")
            .contains("mtls_connections_closed_revoked_total 1")
    });
}

/// Before the first good fetch the client's status is unknown (refused at the handshake, the
/// default answer to `revocation_unknown`); after it, each failed refresh (an error status, not
/// a CRL, larger than `max_bytes`, too slow, an older CRL, nobody listening) keeps the last good
/// CRL and is counted by its reason.
#[test]
fn a_failed_fetch_keeps_the_last_good_crl_and_counts_its_reason() {
    let w = Workdir::new();
    let dir = &w.etc;
    let pki = mtls_testkit::Pki::shared();
    let crl = std::fs::read(dir.join("crl.pem")).unwrap();
    let server = CrlServer::start(Serve::Status("503 Service Unavailable"));
    let (https, admin) = (free_port(), free_port());
    let max_bytes = crl.len() as u64 + 100;
    let gw = w.start(
        "fetch.yaml",
        &config(https, admin, &server.url(), max_bytes),
        admin,
    );
    let uri = format!("uri=\"{}\"", server.url());
    let failures = |reason: &str| {
        metric(
            &gw.admin_get("/metrics"),
            "mtls_crl_fetch_failures_total",
            &[&uri, &format!("reason=\"{reason}\"")],
        )
        .unwrap_or(0.0)
    };

    let url = format!("https://localhost:{https}/");
    let mut args = vec!["--cacert", "ca.pem", &url];
    args.extend_from_slice(&CLIENT);
    let (code, status, body, stderr) = curl_status(dir, &args);
    // Refused at the handshake, the policy's default answer to an unknown status.
    assert_eq!((code, status), (56, 0), "{body} {stderr}");
    assert!(stderr.contains("alert certificate unknown"), "{stderr}");
    let metrics = gw.admin_get("/metrics");
    assert!(
        metrics.contains("reason=\"revocation_unknown\""),
        "{metrics}"
    );
    assert!(failures("http_status") >= 1.0);

    server.set(Serve::Crl {
        body: crl.clone(),
        etag: "\"v1\"".into(),
    });
    eventually("the first good CRL", || get(dir, https, &CLIENT).0 == 200);
    assert_eq!(get(dir, https, &REVOKED).0, 400);

    let oversized = {
        let mut big = crl.clone();
        big.extend(std::iter::repeat_n(b'\n', 200));
        big
    };
    let older = pki
        .crls()
        .this_update(SystemTime::now() - Duration::from_secs(3 * 3600))
        .build()
        .pem()
        .into_bytes();
    for (serve, reason) in [
        (Serve::Body(b"<html>not a CRL</html>".to_vec()), "not_a_crl"),
        (Serve::Body(oversized), "too_large"),
        (Serve::Status("500 Internal Server Error"), "http_status"),
        (Serve::Stall(Duration::from_secs(3)), "timeout"),
        // An older CRL of the same CA that does not list `revoked.pem`: no rollback.
        (Serve::Body(older), "older"),
    ] {
        let before = failures(reason);
        server.set(serve);
        eventually(&format!("a failure counted as {reason}"), || {
            failures(reason) > before
        });
        // The last good CRL still decides.
        assert_eq!(get(dir, https, &CLIENT).0, 200, "{reason}");
        assert_eq!(get(dir, https, &REVOKED).0, 400, "{reason}");
    }
    let before = failures("unreachable");
    drop(server);
    eventually("a failure counted as unreachable", || {
        failures("unreachable") > before
    });
    assert_eq!(get(dir, https, &CLIENT).0, 200);
    assert_eq!(get(dir, https, &REVOKED).0, 400);
}

/// A reload that turns distribution points on starts fetching them, and the CRL they give is
/// swapped in when it arrives; a reload that fails leaves them fetched as before.
#[test]
fn a_reload_that_adds_distribution_points_starts_fetching_them() {
    let w = Workdir::new();
    let dir = &w.etc;
    let crl = std::fs::read(dir.join("crl.pem")).unwrap();
    let server = CrlServer::start(Serve::Crl {
        body: crl,
        etag: "\"v1\"".into(),
    });
    let (https, admin) = (free_port(), free_port());
    let fetching = config(https, admin, &server.url(), 1 << 20);
    // The same listener without the `crl` block: nothing revokes `revoked.pem`.
    let start = fetching.find("              crl:").unwrap();
    let end = fetching.find("        routes:").unwrap();
    let plain = format!("{}{}", &fetching[..start], &fetching[end..]);
    let gw = w.start("fetch.yaml", &plain, admin);
    assert_eq!(get(dir, https, &REVOKED).0, 200);
    assert!(server.conditional().is_empty());

    write_atomic(&gw.config, &fetching);
    eventually("the fetched CRL refuses revoked.pem", || {
        get(dir, https, &REVOKED).0 == 400
    });
    assert_eq!(get(dir, https, &CLIENT).0, 200);

    let reloads = gw.log_count("reload failed");
    write_atomic(&gw.config, "listeners: [");
    gw.wait_for_log("reload failed", reloads);
    let seen = server.conditional().len();
    eventually("the distribution point is still fetched", || {
        server.conditional().len() > seen
    });
    assert_eq!(get(dir, https, &REVOKED).0, 400);
}
