//! Routes with a fixed answer (`respond`) end to end: the real `mtls-gateway run` binary, the
//! real `curl`. The answer comes through mTLS and after the policy, exactly as a proxied one.
//!
//! Every test picks free 127.0.0.1 ports, bounds every wait, and kills what it started.

mod support;

use support::keep_alive::{closed_by_server, get_on, keep_alive_client};
use support::{
    CLIENT_ID, OTHER_PRINCIPAL, Workdir, backend, curl, curl_status, eventually, free_port,
    write_atomic,
};

const CLIENT: [&str; 4] = ["--cert", "client.pem", "--key", "client.key"];
const OTHER: [&str; 4] = ["--cert", "other.pem", "--key", "other.key"];

/// One mTLS listener (client certificate required, CRL loaded; only `CLIENT_ID` allowed on
/// every route) whose routes answer themselves, except `/app`, proxied to `app`. `limits`
/// are the listener's `limits` (YAML, `{}` for the defaults).
fn config(https: u16, admin: u16, app: u16, body: &str, limits: &str) -> String {
    format!(
        r#"
admin:
  address: 127.0.0.1:{admin}
answers:
  identity_not_allowed: {{ http: {{ status: 403, format: text }} }}
listeners:
  - name: edge
    address: 127.0.0.1:{https}
    limits: {limits}
    hosts:
      - certificate: {{ chain: server.pem, key: server.key }}
        client_validation:
          mode: required
          trust:
            - name: clients
              ca: [{{ file: ca.pem }}]
              crl: {{ sources: [{{ file: crl.pem }}] }}
        routes:
          - path_prefix: /
            authorization: {{ principals: [{CLIENT_ID}] }}
            respond: {{ status: 200, body: "{body}", content_type: text/plain }}
          - path_exact: /teapot
            authorization: {{ principals: [{CLIENT_ID}] }}
            respond: {{ status: 418, body: "short and stout\n" }}
          - path_prefix: /app
            authorization: {{ principals: [{CLIENT_ID}] }}
            backend: app
backends:
  app: {{ url: "http://127.0.0.1:{app}" }}
"#
    )
}

/// `curl -i` output: the head (lowercase, lines ending in `\n` without trailing spaces) and
/// the body.
fn head_and_body(out: &support::Output) -> (String, String) {
    assert_eq!(out.code, 0, "{out:?}");
    let Some((head, body)) = out.stdout.split_once("\r\n\r\n") else {
        panic!("no head in {out:?}");
    };
    let mut lines = String::new();
    for line in head.split("\r\n") {
        lines.push_str(line.trim_end());
        lines.push('\n');
    }
    (lines.to_ascii_lowercase(), body.to_owned())
}

/// The status code in a head's status line (`HTTP/1.1 200 OK`, `HTTP/2 200`).
fn status_of(head: &str) -> Option<&str> {
    head.lines().next()?.split_whitespace().nth(1)
}

fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut all = base.to_vec();
    all.extend_from_slice(extra);
    all
}

#[test]
fn respond_routes_answer_through_mtls_and_the_policy() {
    let w = Workdir::new();
    let app = backend("app");
    let (https, admin) = (free_port(), free_port());
    let gw = w.start(
        "respond.yaml",
        &config(https, admin, app.port, "ok\\n", "{}"),
        admin,
    );
    let dir = &w.etc;
    let url = |path: &str| format!("https://localhost:{https}{path}");
    let root = url("/");

    // An allowed client certificate: the fixed answer, with its headers.
    let (head, body) = head_and_body(&curl(
        dir,
        &with(&["-i", "--cacert", "ca.pem", &root], &CLIENT),
    ));
    assert_eq!(status_of(&head), Some("200"), "{head}");
    assert!(head.contains("\ncontent-type: text/plain\n"), "{head}");
    assert!(head.contains("\ncontent-length: 3\n"), "{head}");
    assert_eq!(body, "ok\n");
    let (code, status, body, err) = curl_status(
        dir,
        &with(
            &["--http1.1", "--cacert", "ca.pem", &url("/any/path?q=1")],
            &CLIENT,
        ),
    );
    assert_eq!((code, status, body.as_str()), (0, 200, "ok\n"), "{err}");
    // Another status, the default Content-Type.
    let (head, body) = head_and_body(&curl(
        dir,
        &with(&["-i", "--cacert", "ca.pem", &url("/teapot")], &CLIENT),
    ));
    assert_eq!(status_of(&head), Some("418"), "{head}");
    assert!(
        head.contains("\ncontent-type: text/plain; charset=utf-8\n"),
        "{head}"
    );
    assert_eq!(body, "short and stout\n");
    // A proxied route next to them.
    let (code, status, body, err) =
        curl_status(dir, &with(&["--cacert", "ca.pem", &url("/app/x")], &CLIENT));
    assert_eq!((code, status), (0, 200), "{body}{err}");
    assert!(body.contains("backend=app\npath=/app/x\n"), "{body}");

    // The policy still decides first: a client it does not allow gets 403 with the reason,
    // not the fixed answer ...
    let (code, status, body, err) = curl_status(dir, &with(&["--cacert", "ca.pem", &root], &OTHER));
    assert_eq!((code, status), (0, 403), "{body}{err}");
    assert!(
        body.contains(OTHER_PRINCIPAL) && body.contains("not in allow-list"),
        "{body}"
    );
    assert_ne!(body, "ok\n");
    // ... on every route, answered by the gateway or proxied ...
    for path in ["/teapot", "/app/x"] {
        let (code, status, body, err) =
            curl_status(dir, &with(&["--cacert", "ca.pem", &url(path)], &OTHER));
        assert_eq!((code, status), (0, 403), "{path}: {body}{err}");
    }
    // ... and no client certificate fails the handshake with the TLS alert.
    let out = curl(dir, &["--cacert", "ca.pem", &root]);
    assert_eq!(out.code, 56, "{out:?}");
    assert!(out.stderr.contains("alert certificate required"), "{out:?}");

    // The access log names the route's target: the direct response, or the backend.
    let log = gw.log_text();
    assert!(
        log.lines().any(|l| l.contains("listener=edge")
            && l.contains("path=/any/path")
            && l.contains("route=respond:/ ")
            && l.contains("status=200")
            && l.contains("decision=\"allow\"")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("route=respond:/teapot ") && l.contains("status=418")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("route=app ") && l.contains("path=/app/x")),
        "{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("route=- ")
            && l.contains("status=403")
            && l.contains("reason=\"identity_not_allowed\"")),
        "{log}"
    );
    // Only the proxied request counts as an upstream request.
    let metrics = gw.admin_get("/metrics");
    assert!(
        metrics.contains(
            r#"mtls_gateway_upstream_requests_total{backend="app",status_class="2xx"} 1"#
        ),
        "{metrics}"
    );
    assert_eq!(
        metrics
            .matches("mtls_gateway_upstream_requests_total{")
            .count(),
        1,
        "{metrics}"
    );

    // A reload builds the answer anew.
    write_atomic(&gw.config, config(https, admin, app.port, "v2\\n", "{}"));
    eventually("the reloaded answer", || {
        let (code, status, body, _) =
            curl_status(dir, &with(&["--cacert", "ca.pem", &root], &CLIENT));
        (code, status, body.as_str()) == (0, 200, "v2\n")
    });
}

/// `close_revoked_connections`: a reload whose CRL revokes a connected client closes that
/// client's kept-alive connection (and its next handshake fails); another client's kept-alive
/// connection goes on.
#[test]
fn a_reload_that_revokes_a_connected_client_closes_its_connection() {
    let w = Workdir::new();
    let dir = &w.etc;
    let pki = mtls_testkit::Pki::shared();
    let victim = pki.client().common_name("victim").uri(CLIENT_ID).issue();
    victim.write_to(dir, "victim").unwrap();
    let (https, admin) = (free_port(), free_port());
    let text = config(
        https,
        admin,
        free_port(),
        "ok\\n",
        "{ close_revoked_connections: 2s }",
    );
    let gw = w.start("revoke.yaml", &text, admin);

    let mut doomed = keep_alive_client(dir, https, "victim");
    let mut kept = keep_alive_client(dir, https, "client");
    for stream in [&mut doomed, &mut kept] {
        let (status, body) = get_on(stream).unwrap();
        assert!(status.contains(" 200 "), "{status}");
        assert_eq!(body, "ok\n");
    }

    let reloads = gw.log_count("configuration reloaded");
    write_atomic(
        &dir.join("crl.pem"),
        pki.crls().revoke(&victim).build().pem(),
    );
    gw.wait_for_log("configuration reloaded", reloads);

    // The victim's connection is closed by the server (EOF or a reset), within the grace.
    let started = std::time::Instant::now();
    let closed = closed_by_server(&mut doomed);
    assert!(closed.is_ok(), "the connection was not closed: {closed:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // The other client's connection still serves.
    let (status, body) = get_on(&mut kept).unwrap();
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(body, "ok\n");
    // And the victim cannot come back: its next handshake completes (the policy answers a
    // revoked certificate over HTTP by default), and its request is refused with the reason.
    let mut again = keep_alive_client(dir, https, "victim");
    match get_on(&mut again) {
        Ok((status, body)) => {
            assert!(status.contains(" 400 "), "{status} {body}");
            assert!(body.contains("revoked"), "{body}");
        }
        Err(e) => panic!("expected a 400 answer, got {e}"),
    }
    eventually("the closed connection is counted", || {
        gw.admin_get("/metrics")
            .contains("mtls_connections_closed_revoked_total 1")
    });
}
