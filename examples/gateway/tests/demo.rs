//! The README's main command, `mtls-gateway demo`, in its self-test mode: it starts the gateway
//! and the echo backend on free loopback ports and runs every printed curl command itself.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_self_test_passes_every_printed_command() {
    let out = demo_self_test(&[]);
    assert!(out.contains("runtime started"), "{out}");
}

/// One thread: tokio's single-threaded scheduler serves the gateway, the echo backend and the
/// self-test's curl children together; two: the multi-threaded one, whatever the machine has.
#[test]
fn demo_self_test_passes_on_one_worker_and_on_two() {
    let one = demo_self_test(&["--workers", "1"]);
    assert!(
        one.contains("runtime started workers=1 scheduler=\"single-threaded\""),
        "{one}"
    );
    let two = demo_self_test(&["--workers", "2"]);
    assert!(
        two.contains("runtime started workers=2 scheduler=\"multi-threaded\""),
        "{two}"
    );
}

#[test]
fn zero_workers_is_refused_before_anything_starts() {
    let output = Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
        .args(["--workers", "0", "demo", "--self-test"])
        .output()
        .expect("the gateway binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("invalid value '0' for '--workers <N>'"),
        "{stderr}"
    );
}

/// Runs `mtls-gateway [extra] demo --self-test` on free ports, asserts every printed command
/// passed, and returns its stdout and stderr.
fn demo_self_test(extra: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
        .args(extra)
        .args([
            "demo",
            "--https-port",
            "0",
            "--permissive-port",
            "0",
            "--admin-port",
            "0",
            "--self-test",
        ])
        .env("RUST_LOG", "warn,mtls_gateway=info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the gateway binary runs");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("demo --self-test {extra:?} did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        status.success(),
        "demo self-test {extra:?} failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("demo self-test: 11 passed, 0 failed"),
        "{stdout}"
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
    format!("{stdout}\n{stderr}")
}

#[test]
fn demo_writes_a_reusable_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
        .args([
            "demo",
            "--https-port",
            "0",
            "--permissive-port",
            "0",
            "--admin-port",
            "0",
            "--self-test",
            "--dir",
        ])
        .arg(dir.path())
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    for file in [
        "ca.pem",
        "server.pem",
        "server.key",
        "client.pem",
        "client.key",
        "admin.pem",
        "revoked.pem",
        "untrusted.pem",
        "crl.pem",
        "gateway.yaml",
    ] {
        assert!(dir.path().join(file).is_file(), "{file} missing");
    }
    let config = std::fs::read_to_string(dir.path().join("gateway.yaml")).unwrap();
    assert!(config.contains("mode: required"), "{config}");
    // No private key of the PKI ever lands in the repository: the demo writes only where told.
    assert!(
        !std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("ca.pem")
            .exists()
    );
}
