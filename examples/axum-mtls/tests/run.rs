//! Runs the example binary on a generated PKI and talks to it with curl.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn curl(dir: &std::path::Path, port: u16, cert: Option<&str>, path: &str) -> (i32, String) {
    let mut cmd = Command::new("curl");
    cmd.current_dir(dir)
        .args(["-sS", "--max-time", "5", "--cacert", "pki/ca.pem"])
        .arg(format!("https://localhost:{port}{path}"));
    if let Some(name) = cert {
        cmd.args([
            "--cert",
            &format!("pki/{name}.pem"),
            "--key",
            &format!("pki/{name}.key"),
        ]);
    }
    let out = cmd.output().expect("curl runs");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn greets_the_caller_by_spiffe_id_and_enforces_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("pki");
    std::fs::create_dir(&pki_dir).unwrap();
    let pki = mtls_testkit::Pki::new();
    std::fs::write(pki_dir.join("ca.pem"), pki.root().cert_pem()).unwrap();
    pki.server().issue().write_to(&pki_dir, "server").unwrap();
    pki.client()
        .uri("spiffe://demo.local/ns/default/sa/web")
        .issue()
        .write_to(&pki_dir, "client")
        .unwrap();
    pki.client()
        .uri("spiffe://demo.local/ns/ops/sa/admin")
        .issue()
        .write_to(&pki_dir, "admin")
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let policy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/policy.yaml"))
        .unwrap()
        .replace("port: 8443", &format!("port: {port}"));
    std::fs::write(dir.path().join("policy.yaml"), policy).unwrap();

    let _app = Running(
        Command::new(env!("CARGO_BIN_EXE_axum-mtls"))
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Wait (bounded) until it listens.
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the example did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let (code, out) = curl(dir.path(), port, Some("client"), "/");
    assert_eq!(
        (code, out.as_str()),
        (0, "hello spiffe://demo.local/ns/default/sa/web\n")
    );

    let (code, out) = curl(dir.path(), port, Some("client"), "/admin");
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        "spiffe://demo.local/ns/default/sa/web not in allow-list of route /admin\n"
    );

    let (code, out) = curl(dir.path(), port, Some("admin"), "/admin");
    assert_eq!(
        (code, out.as_str()),
        (0, "hello spiffe://demo.local/ns/ops/sa/admin\n")
    );

    let (code, out) = curl(dir.path(), port, None, "/");
    assert_eq!(code, 56, "{out}");
    assert!(out.contains("alert certificate required"), "{out}");
}

/// The README's "Protecting an axum app" shows this example's policy as it is (its program:
/// `tests/readme.rs`).
#[test]
fn the_readme_shows_this_policy() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{dir}/../../README.md")).unwrap();
    let policy = std::fs::read_to_string(format!("{dir}/policy.yaml")).unwrap();
    let policy = &policy[policy.find("listeners:").unwrap()..];
    assert!(
        readme.contains(&format!("```yaml\n{policy}```")),
        "README.md does not show policy.yaml"
    );
}
