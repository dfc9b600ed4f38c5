//! STRICT readiness end to end: real clients from different 127.0.0.x addresses reach a
//! PERMISSIVE listener as plaintext (curl), TLS without a certificate (curl) and mTLS (a
//! rustls client with a test-kit certificate); the admin listener's `/strict-readiness` counts
//! them, and `mtls-gateway strict-readiness` prints who would break and exits accordingly.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::sync::Arc;

use mtls_testkit::Pki;
use serde_json::Value;
use support::{CLIENT_TIMEOUT, Gateway, Output, Workdir, curl_status, free_port, http_get, run};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpSocket;

/// The SPIFFE ID of the mTLS client.
const READY_ID: &str = "spiffe://example.org/ns/default/sa/ready";

fn config(permissive: u16, strict: u16, admin: u16) -> String {
    format!(
        r#"
admin: {{ address: 127.0.0.1:{admin} }}
listeners:
  - name: mixed
    address: 127.0.0.1:{permissive}
    peer_mode: permissive
    hosts:
      - certificate: {{ chain: server.pem, key: server.key }}
        client_validation:
          mode: optional
          trust: [{{ name: clients, ca: [{{ file: ca.pem }}] }}]
        routes:
          - {{ path_prefix: /, respond: {{ status: 200, body: "ok\n" }} }}
  - name: locked
    address: 127.0.0.1:{strict}
    peer_mode: strict
    hosts:
      - certificate: {{ chain: server.pem, key: server.key }}
        client_validation:
          mode: required
          trust: [{{ name: clients, ca: [{{ file: ca.pem }}] }}]
        routes:
          - {{ path_prefix: /, respond: {{ status: 200, body: "ok\n" }} }}
"#
    )
}

/// `mtls-gateway strict-readiness --admin 127.0.0.1:PORT`.
fn cli(admin: u16) -> Output {
    run(
        Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .args(["strict-readiness", "--admin"])
            .arg(format!("127.0.0.1:{admin}")),
        b"",
    )
}

/// The JSON of `GET /strict-readiness`.
fn report(gateway: &Gateway) -> Value {
    let answer = http_get(gateway.admin, "/strict-readiness").expect("the admin listener answers");
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// `connections` mTLS requests to `port` from `source`, each on its own connection, with a
/// certificate naming `READY_ID`; each must be answered 200.
async fn mtls_requests(source: [u8; 4], port: u16, connections: usize) {
    let pki = Pki::shared();
    let leaf = pki.client().common_name("ready").uri(READY_ID).issue();
    let config = mtls_testkit::tls::client_config(pki, Some(&leaf));
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(&config));
    for _ in 0..connections {
        let socket = TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::new(IpAddr::from(source), 0))
            .unwrap();
        let server = SocketAddr::from(([127, 0, 0, 1], port));
        let exchange = async {
            let tcp = socket.connect(server).await.unwrap();
            let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
            let mut tls = connector.connect(name, tcp).await.unwrap();
            tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut response = String::new();
            let _ = tls.read_to_string(&mut response).await;
            response
        };
        let response = tokio::time::timeout(CLIENT_TIMEOUT, exchange)
            .await
            .expect("the mTLS exchange finishes in time");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_readiness_names_who_would_break_and_the_cli_exits_by_it() {
    let work = Workdir::new();
    let (permissive, strict, admin) = (free_port(), free_port(), free_port());
    let gateway = work.start("gateway.yaml", &config(permissive, strict, admin), admin);

    // Only the PERMISSIVE listener is reported; nothing yet, so nobody would break.
    let empty = report(&gateway);
    let listeners = empty["listeners"].as_object().unwrap();
    assert_eq!(listeners.keys().collect::<Vec<_>>(), ["mixed"], "{empty}");
    assert_eq!(empty["listeners"]["mixed"]["capacity"], 1024);
    assert_eq!(empty["listeners"]["mixed"]["would_break"], 0);
    let out = cli(admin);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.starts_with("nobody would break under STRICT"),
        "{}",
        out.all()
    );

    // mTLS clients alone: still nobody.
    mtls_requests([127, 0, 0, 4], permissive, 2).await;
    let out = cli(admin);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("mixed: 0 of 2 connections since"),
        "{}",
        out.all()
    );

    // Plaintext twice from .2, TLS without a certificate once from .3: real curl.
    let dir = &work.etc;
    let url = format!("http://127.0.0.1:{permissive}/");
    for _ in 0..2 {
        let (code, status, body, err) = curl_status(dir, &["--interface", "127.0.0.2", &url]);
        assert_eq!((code, status, body.as_str()), (0, 200, "ok\n"), "{err}");
    }
    let resolve = format!("localhost:{permissive}:127.0.0.1");
    let url = format!("https://localhost:{permissive}/");
    let (code, status, body, err) = curl_status(
        dir,
        &[
            "--interface",
            "127.0.0.3",
            "--cacert",
            "ca.pem",
            "--resolve",
            &resolve,
            &url,
        ],
    );
    assert_eq!((code, status, body.as_str()), (0, 200, "ok\n"), "{err}");

    // The report: those who would break first, each under its source, SNI and identity.
    let full = report(&gateway);
    let mixed = &full["listeners"]["mixed"];
    assert_eq!(mixed["would_break"], 3, "{full}");
    assert_eq!(mixed["overflow"]["entries"], 0, "{full}");
    let entries: Vec<_> = mixed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["source"].as_str().unwrap().to_owned(),
                e["sni"].clone(),
                e["identity"].clone(),
                [
                    e["counts"]["plaintext"].as_u64().unwrap(),
                    e["counts"]["tls_without_certificate"].as_u64().unwrap(),
                    e["counts"]["mtls"].as_u64().unwrap(),
                ],
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("127.0.0.2".to_owned(), Value::Null, Value::Null, [2, 0, 0]),
            (
                "127.0.0.3".to_owned(),
                "localhost".into(),
                Value::Null,
                [0, 1, 0]
            ),
            (
                "127.0.0.4".to_owned(),
                "localhost".into(),
                READY_ID.into(),
                [0, 0, 2]
            ),
        ],
        "{full}"
    );

    // The CLI prints the two who would break, not the mTLS client, and exits 1.
    let out = cli(admin);
    assert_eq!(out.code, 1, "{}", out.all());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "LISTENER  SOURCE     SNI        PLAINTEXT  TLS-NO-CERT",
            "mixed     127.0.0.2  -          2          0",
            "mixed     127.0.0.3  localhost  0          1",
        ],
        "{}",
        out.stdout
    );
    assert!(
        lines[3].starts_with("mixed: 3 of 5 connections since "),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("127.0.0.4"), "{}", out.stdout);
    drop(gateway);

    // Nothing listening: exit 2 with the reason.
    let out = cli(admin);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.starts_with(&format!(
            "mtls-gateway strict-readiness: cannot connect to 127.0.0.1:{admin}: "
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn a_full_table_counts_the_evicted_in_the_overflow() {
    let work = Workdir::new();
    let (permissive, strict, admin) = (free_port(), free_port(), free_port());
    let text = config(permissive, strict, admin).replace(
        &format!("admin: {{ address: 127.0.0.1:{admin} }}"),
        &format!("admin: {{ address: 127.0.0.1:{admin}, strict_readiness_capacity: 1 }}"),
    );
    let gateway = work.start("gateway.yaml", &text, admin);
    let url = format!("http://127.0.0.1:{permissive}/");
    for source in ["127.0.0.2", "127.0.0.2", "127.0.0.3"] {
        let (code, status, _, err) = curl_status(&work.etc, &["--interface", source, &url]);
        assert_eq!((code, status), (0, 200), "{err}");
    }
    // One entry kept: the newcomer; 127.0.0.2's two connections are in the overflow.
    let full = report(&gateway);
    let mixed = &full["listeners"]["mixed"];
    assert_eq!(mixed["capacity"], 1, "{full}");
    assert_eq!(mixed["entries"].as_array().unwrap().len(), 1, "{full}");
    assert_eq!(mixed["entries"][0]["source"], "127.0.0.3", "{full}");
    assert_eq!(mixed["overflow"]["entries"], 1, "{full}");
    assert_eq!(mixed["overflow"]["counts"]["plaintext"], 2, "{full}");
    assert_eq!(mixed["would_break"], 3, "{full}");

    let out = cli(admin);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout
            .contains("mixed: 2 of them among 1 entries evicted from the table (it keeps 1)"),
        "{}",
        out.stdout
    );
}

#[test]
fn an_admin_listener_that_is_not_a_gateway_is_an_error() {
    // An HTTP server answering 404 at /strict-readiness: a port that is not our admin.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        // The whole request head, so that closing does not reset the connection.
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.ends_with(b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let _ = stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n",
        );
        let _ = stream.shutdown(std::net::Shutdown::Write);
        // Until the client has read the answer and closed.
        let _ = stream.read_to_end(&mut request);
    });
    let out = cli(port);
    server.join().unwrap();
    assert_eq!(out.code, 2, "{}", out.all());
    assert_eq!(
        out.stderr,
        format!(
            "mtls-gateway strict-readiness: GET http://127.0.0.1:{port}/strict-readiness: status 404 (not found)\n"
        )
    );
}
