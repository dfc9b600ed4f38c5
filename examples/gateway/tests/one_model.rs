//! One model, matched once, through the real binary and real clients: every variant of a
//! request (HTTP/1.1 and HTTP/2, with and without SNI, host and path spellings) is answered by
//! the route that authorised it; a reload swaps decision and forwarding together, or is
//! refused naming the field; relative paths keep meaning the configuration's directory.

mod support;

use std::path::Path;
use std::time::Duration;

use support::{GATEWAY_ID, Gateway, Workdir, curl_status, eventually, free_port, write_atomic};

/// The client allowed on the protected routes (`apim-gateway.pem`); `client.pem` is not.
const ALLOWED: &str = "apim-gateway";
const REFUSED: &str = "client";

fn config(admin: u16, port: u16, backends: &[(&str, u16)]) -> String {
    let mut text = format!(
        r#"
admin: {{ address: 127.0.0.1:{admin} }}
listeners:
  - name: edge
    address: 127.0.0.1:{port}
    hosts:
      - certificate: {{ chain: server.pem, key: server.key }}
        client_validation: &clients
          mode: required
          trust: [{{ name: clients, ca: [{{ file: ca.pem }}] }}]
        routes:
          - {{ path_prefix: /, backend: open }}
          - path_prefix: /api/
            authorization: {{ principals: ["{GATEWAY_ID}"] }}
            backend: api
      - hostnames: [admin.example.com]
        certificate: {{ chain: admin.pem, key: admin.key }}
        client_validation: *clients
        routes:
          - path_prefix: /
            authorization: {{ principals: ["{GATEWAY_ID}"] }}
            backend: admin
backends:
"#
    );
    for (name, port) in backends {
        text.push_str(&format!(
            "  {name}: {{ url: \"http://127.0.0.1:{port}\" }}\n"
        ));
    }
    text
}

/// One request: `(status, backend that answered, path it saw)`.
fn request(
    dir: &Path,
    port: u16,
    client: &str,
    sni: Option<&str>,
    host: Option<&str>,
    path: &str,
    http2: bool,
) -> (u16, String, String) {
    let (cert, key) = (format!("{client}.pem"), format!("{client}.key"));
    let mut args: Vec<String> = ["--cacert", "ca.pem", "--cert", &cert, "--key", &key]
        .map(String::from)
        .to_vec();
    args.push("--path-as-is".into());
    args.push(if http2 { "--http2" } else { "--http1.1" }.into());
    let url = match sni {
        Some(name) => {
            args.push("--resolve".into());
            args.push(format!("{name}:{port}:127.0.0.1"));
            format!("https://{name}:{port}{path}")
        }
        // An IP address in the URL: curl sends no SNI.
        None => format!("https://127.0.0.1:{port}{path}"),
    };
    if let Some(host) = host {
        args.push("-H".into());
        args.push(format!("Host: {host}"));
    }
    args.push(url);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, status, body, stderr) = curl_status(dir, &refs);
    assert_eq!(code, 0, "curl {refs:?}: {stderr}");
    let field = |name: &str| {
        body.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or("-")
            .to_owned()
    };
    (status, field("backend="), field("path="))
}

/// A request (SNI, Host, path) and what must answer it: the route's backend and the path it
/// sees, or the status both clients get.
type Row<'a> = (
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
    Result<(&'a str, &'a str), u16>,
);

#[test]
fn every_variant_is_answered_by_the_route_that_authorised_it() {
    let work = Workdir::new();
    let dir = &work.etc;
    let pki = mtls_testkit::Pki::shared();
    support::server_leaf(pki, "admin.example.com")
        .write_to(dir, "admin")
        .unwrap();
    let (open, api, admin_backend) = (
        support::backend("open"),
        support::backend("api"),
        support::backend("admin"),
    );
    let (admin, port) = (free_port(), free_port());
    let text = config(
        admin,
        port,
        &[
            ("open", open.port),
            ("api", api.port),
            ("admin", admin_backend.port),
        ],
    );
    std::fs::write(dir.join("gateway.yaml"), text).unwrap();
    let _gateway = Gateway::start_in(dir, "gateway.yaml", &work.temp.path().join("gw.log"), admin);

    // (SNI, Host, path) → the route's backend and the path it must see; `None`: refused
    // with that status for both clients.
    let admin_host = format!("admin.example.com:{port}");
    let rows: Vec<Row<'_>> = vec![
        // The default host: segment-aware prefixes, the query outside the match, normal forms.
        (None, None, "/", Ok(("open", "/"))),
        (None, None, "/api", Ok(("api", "/api"))),
        (None, None, "/api?x=1", Ok(("api", "/api"))),
        (None, None, "/api/", Ok(("api", "/api/"))),
        (None, None, "/api/x", Ok(("api", "/api/x"))),
        (None, None, "/apix", Ok(("open", "/apix"))),
        (None, None, "/public/../api/x", Ok(("api", "/api/x"))),
        (None, None, "//api//x", Ok(("api", "/api/x"))),
        (None, None, "/%61pi/x", Ok(("api", "/api/x"))),
        (None, None, "/x/%2e%2e/api", Ok(("api", "/api"))),
        (None, None, "/api%2fx", Err(400)),
        (None, None, "/api%5c..%5cx", Err(400)),
        (Some("localhost"), None, "/api", Ok(("api", "/api"))),
        // The admin host, by Host without SNI, and by SNI.
        (None, Some("admin.example.com"), "/", Ok(("admin", "/"))),
        (None, Some("admin.example.com."), "/", Ok(("admin", "/"))),
        (None, Some("ADMIN.Example.com"), "/x", Ok(("admin", "/x"))),
        (None, Some(&admin_host), "/", Ok(("admin", "/"))),
        (None, Some("admin.example.com.."), "/", Err(400)),
        (Some("admin.example.com"), None, "/", Ok(("admin", "/"))),
        (
            Some("admin.example.com"),
            Some("admin.example.com."),
            "/",
            Ok(("admin", "/")),
        ),
        (Some("admin.example.com"), Some("localhost"), "/", Err(421)),
        (Some("localhost"), Some("admin.example.com"), "/", Err(421)),
    ];
    let protected = ["api", "admin"];
    for http2 in [false, true] {
        for (sni, host, path, want) in &rows {
            let what = format!("http2={http2} sni={sni:?} host={host:?} path={path}");
            let allowed = request(dir, port, ALLOWED, *sni, *host, path, http2);
            let refused = request(dir, port, REFUSED, *sni, *host, path, http2);
            match want {
                Ok((backend, seen)) => {
                    assert_eq!(
                        allowed,
                        (200, backend.to_string(), seen.to_string()),
                        "{what}"
                    );
                    if protected.contains(backend) {
                        assert_eq!(refused.0, 403, "{what}: {refused:?}");
                    } else {
                        assert_eq!(
                            refused,
                            (200, backend.to_string(), seen.to_string()),
                            "{what}"
                        );
                    }
                }
                Err(status) => {
                    assert_eq!(allowed.0, *status, "{what}: {allowed:?}");
                    assert_eq!(refused.0, *status, "{what}: {refused:?}");
                }
            }
        }
    }
}

#[test]
fn a_reload_swaps_decision_and_forwarding_together_or_is_refused_by_field() {
    let work = Workdir::new();
    let dir = &work.etc;
    let pki = mtls_testkit::Pki::shared();
    support::server_leaf(pki, "admin.example.com")
        .write_to(dir, "admin")
        .unwrap();
    let (one, two) = (support::backend("one"), support::backend("two"));
    let (admin, port) = (free_port(), free_port());
    // Generation A: /api/ is the allowed client's, on backend `one`. Generation B: the same
    // route is open to anyone the host lets in, on backend `two`.
    let a = config(
        admin,
        port,
        &[("open", one.port), ("api", one.port), ("admin", one.port)],
    );
    let b = a
        .replace(
            &format!(
                "authorization: {{ principals: [\"{GATEWAY_ID}\"] }}\n            backend: api"
            ),
            "backend: api",
        )
        .replace(
            &format!("api: {{ url: \"http://127.0.0.1:{}\" }}", one.port),
            &format!("api: {{ url: \"http://127.0.0.1:{}\" }}", two.port),
        );
    assert_ne!(a, b);
    let file = dir.join("gateway.yaml");
    std::fs::write(&file, &a).unwrap();
    let gateway = Gateway::start_in(dir, "gateway.yaml", &work.temp.path().join("gw.log"), admin);

    let get = |client: &str| request(dir, port, client, None, None, "/api/x", false);
    assert_eq!(get(REFUSED).0, 403);
    write_atomic(&file, &b);
    eventually("generation B serves", || get(REFUSED).1 == "two");

    // Flip generations while the refused client asks: it is refused by A, or let through by
    // B to B's backend; never let through by A's rule to A's backend, or refused by B.
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..12 {
                write_atomic(&file, if i % 2 == 0 { &a } else { &b });
                std::thread::sleep(Duration::from_millis(250));
            }
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let mut seen = std::collections::BTreeSet::new();
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let (status, backend, _) = get(REFUSED);
            assert!(
                matches!((status, backend.as_str()), (403, "-") | (200, "two")),
                "{status} from {backend}"
            );
            seen.insert(status);
        }
        assert_eq!(seen.len(), 2, "both generations were seen: {seen:?}");
    });

    // What cannot change live is refused, naming the field; the running config keeps serving.
    write_atomic(&file, &b);
    eventually("generation B serves", || get(REFUSED).1 == "two");
    let cases = [
        (
            b.replace(
                "    hosts:\n",
                "    limits: { handshake_timeout: 3s }\n    hosts:\n",
            ),
            "listeners[0].limits changed: that needs a restart",
        ),
        (
            format!("{b}forward_identity: {{ rfc9440: true }}\n"),
            "forward_identity changed: that needs a restart",
        ),
        (
            b.replace(
                &format!("127.0.0.1:{port}"),
                &format!("127.0.0.1:{}", free_port()),
            ),
            "listeners[0].address changed: that needs a restart",
        ),
        (
            b.replace(
                &format!("address: 127.0.0.1:{admin} }}"),
                &format!("address: 127.0.0.1:{admin}, strict_readiness_capacity: 8 }}"),
            ),
            "admin.strict_readiness_capacity changed: that needs a restart",
        ),
        (
            b.replace("backend: open", "backend: nowhere"),
            "listeners[0].hosts[0].routes[0].backend: no backend named \"nowhere\"",
        ),
    ];
    for (text, needle) in cases {
        let before = gateway.log_text().matches(needle).count();
        write_atomic(&file, &text);
        eventually(needle, || {
            gateway.log_text().matches(needle).count() > before
        });
        assert!(
            gateway
                .log_text()
                .contains("reload failed; the previous configuration keeps serving")
        );
        assert_eq!(
            get(REFUSED).1,
            "two",
            "the running configuration still serves"
        );
    }

    // A certificate file replaced by rename, named by a relative path: the new one is served.
    let fresh = support::server_leaf(pki, "admin.example.com");
    let key_tmp = dir.join("admin.key.new");
    std::fs::write(&key_tmp, fresh.key_pem()).unwrap();
    write_atomic(&file, &b);
    std::fs::rename(&key_tmp, dir.join("admin.key")).unwrap();
    write_atomic(&dir.join("admin.pem"), fresh.chain_pem());
    eventually("the renamed certificate is served", || {
        let out = support::s_client(dir, port, &["-servername", "admin.example.com"], "");
        out.stdout
            .contains(fresh.cert_pem().lines().nth(1).unwrap_or("?"))
    });
}
