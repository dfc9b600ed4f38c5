//! `mtls-gateway translate`: every mtls-kube fixture translates into a configuration the
//! gateway's own loader accepts (`--validate`), YAML on stdout (mtls-kube's golden output),
//! warnings on stderr.

use std::path::PathBuf;
use std::process::Command;

use mtls_policy::{CertificateSource, PolicyConfig};

fn kube_tests() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../mtls-kube/tests")
}

fn fixtures() -> PathBuf {
    kube_tests().join("fixtures")
}

fn translate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
        .current_dir(fixtures())
        .arg("translate")
        .args(args)
        .output()
        .expect("the gateway binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_fixture_translates_into_a_loadable_configuration() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 9, "{names:?}");
    for name in &names {
        let (code, stdout, stderr) = translate(&["--validate", name]);
        if name == "peer-authentication.yaml" {
            // PeerAuthentications alone: no listener to serve.
            assert_eq!(
                (code, stdout.as_str(), stderr.as_str()),
                (
                    2,
                    "",
                    "mtls-gateway: the translation does not load: (translated): listeners: at least one listener is needed\n"
                ),
            );
            continue;
        }
        assert_eq!(code, 0, "{name}: {stderr}");
        let golden = std::fs::read_to_string(kube_tests().join("golden").join(name)).unwrap();
        assert_eq!(stdout, golden, "{name}");
    }
    // All at once: one configuration with every listener.
    let mut args = vec!["--validate", "--mount-root", "/run/mtls", "--bind", "::"];
    args.extend(names.iter().map(String::as_str));
    let (code, stdout, stderr) = translate(&args);
    assert_eq!(code, 0, "{stderr}");
    let config = PolicyConfig::from_yaml(&stdout).unwrap();
    let hosts: Vec<_> = config
        .listeners
        .iter()
        .flat_map(|l| l.hosts.iter().map(move |h| (l.name.as_str(), l.address, h)))
        .map(|(l, address, h)| (l, address.unwrap().to_string(), h.hostnames.join(",")))
        .collect();
    // One listener per port: the hosts of every object on it, each name once.
    let hosts: Vec<_> = hosts
        .iter()
        .map(|(l, a, h)| (*l, a.as_str(), h.as_str()))
        .collect();
    assert_eq!(
        hosts,
        [
            ("istio-443", "[::]:443", "httpbin.example.com"),
            ("istio-443", "[::]:443", "helloworld.example.com"),
            ("istio-443", "[::]:443", "mydomain.com"),
            ("istio-443", "[::]:443", ""),
            ("istio-443", "[::]:443", "www.example.com"),
            ("istio-443", "[::]:443", "foo.example.com"),
            ("istio-443", "[::]:443", "shop.example.com"),
            ("istio-9443", "[::]:9443", ""),
            ("client-validation-8443", "[::]:8443", "legacy.example.com"),
            ("osm-httpbin-14001", "[::]:14001", ""),
        ]
    );
    let httpbin = config
        .listeners
        .iter()
        .flat_map(|l| &l.hosts)
        .find(|h| h.hostnames == ["httpbin.example.com"])
        .unwrap();
    assert_eq!(
        httpbin.certificate,
        Some(CertificateSource::SecretDir(
            "/run/mtls/secrets/istio-system/httpbin-credential".into()
        ))
    );
}

#[test]
fn warnings_and_mounts_go_to_stderr() {
    let (code, stdout, stderr) = translate(&["istio-gateway-mutual.yaml"]);
    assert_eq!(code, 0);
    assert!(stderr.contains("warning: Gateway istio-system/mygateway: spec.servers[1].tls.mode: PASSTHROUGH is not supported"), "{stderr}");
    assert!(stderr.contains("mount: Secret istio-system/httpbin-credential (ca.crt) at /etc/mtls/secrets/istio-system/httpbin-credential: not in the input"), "{stderr}");
    assert!(
        stderr.contains(
            "status: Gateway istio-system/mygateway [servers[1]]: Accepted=False UnsupportedValue"
        ),
        "{stderr}"
    );
    assert!(!stdout.contains("warning"), "{stdout}");
}

#[test]
fn unreadable_or_invalid_input_exits_2() {
    let (code, _, stderr) = translate(&["no-such-file.yaml"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no-such-file.yaml: cannot read"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: { name: gw }\nspec: { servers: 3 }\n").unwrap();
    let (code, stdout, stderr) = translate(&[bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr
            .contains("(Gateway gw): spec.servers: invalid type: integer `3`, expected a sequence"),
        "{stderr}"
    );
}
