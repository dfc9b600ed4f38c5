//! `mtls-gateway translate`: every mtls-kube fixture translates into a configuration the
//! gateway's own loader accepts (`--validate`), YAML on stdout (mtls-kube's golden output),
//! warnings on stderr; a translation that enforces nothing exits 2; the translated Istio
//! secure-ingress configuration serves its route through the real gateway, and the mesh's
//! PERMISSIVE PeerAuthentication does not open its MUTUAL port to plaintext.

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use mtls_policy::{CertificateSource, PolicyConfig};
use support::{Gateway, Workdir, curl_status, free_port};

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
    assert!(names.len() >= 12, "{names:?}");
    for name in &names {
        let (code, stdout, stderr) = translate(&["--validate", name]);
        let golden = std::fs::read_to_string(kube_tests().join("golden").join(name)).unwrap();
        if name.contains("peer-authentication") {
            // PeerAuthentications alone: no listener to serve. The YAML is printed, and why it
            // enforces nothing is said last.
            let last = stderr.lines().last().unwrap_or_default();
            assert_eq!(
                (code, stdout.as_str(), last),
                (
                    2,
                    golden.as_str(),
                    "mtls-gateway: the translation enforces nothing: no listener: the input has no Gateway, Ingress or workload port to serve"
                ),
                "{name}"
            );
            continue;
        }
        assert_eq!(code, 0, "{name}: {stderr}");
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
            ("istio-443", "[::]:443", "bookinfo.example.com"),
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

#[test]
fn a_translation_that_enforces_nothing_exits_2_and_says_why() {
    let pa = "istio-peer-authentication-workload.yaml";
    let (code, stdout, stderr) = translate(&[pa]);
    assert_eq!(code, 2);
    assert!(stdout.ends_with("listeners: []\n"), "{stdout}");
    assert_eq!(
        stderr,
        "warning: PeerAuthentication istio-system/default: spec: PeerAuthentications apply to a workload, and none is given: no listener takes its peer mode from them. Give the gateway workload's namespace, labels and ports (translate --workload-namespace NS --workload-label KEY=VALUE --workload-port PORT)\n\
         mtls-gateway: the translation enforces nothing: no listener: the input has no Gateway, Ingress or workload port to serve\n"
    );
    // The workload's ports get listeners with their peer modes, but no host: still nothing.
    let workload = [
        "--workload-namespace",
        "foo",
        "--workload-label",
        "app=httpbin",
        "--workload-port",
        "8080",
        "--workload-port",
        "9000",
        pa,
    ];
    let (code, stdout, stderr) = translate(&workload);
    assert_eq!(code, 2);
    assert!(
        stdout.ends_with(
            "listeners:\n- name: workload-8080\n  address: 0.0.0.0:8080\n  peer_mode: strict\n  hosts: []\n- name: workload-9000\n  address: 0.0.0.0:9000\n  peer_mode: permissive\n  hosts: []\n"
        ),
        "{stdout}"
    );
    assert_eq!(
        stderr,
        "mtls-gateway: the translation enforces nothing: no host on listener workload-8080 (port 8080), listener workload-9000 (port 9000): no certificate is served there, so every connection fails; give the workload's certificate and CA (translate --workload-credential SECRET), or a Gateway server (or an Ingress) on the port\n"
    );
    // With the ingress gateway's MUTUAL Gateway server on the workload: the mesh's PERMISSIVE
    // leaves its listener TLS only (no peer mode), and says so.
    let ingress = [
        "--workload-namespace",
        "istio-system",
        "--workload-label",
        "istio=ingressgateway",
        pa,
        "istio-secure-ingress.yaml",
    ];
    let (code, stdout, stderr) = translate(&ingress);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(
            "- name: istio-443\n  address: 0.0.0.0:443\n  unknown_sni: refuse\n  hosts:\n"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("peer_mode"), "{stdout}");
    assert!(
        stderr.starts_with(&format!("warning: {MESH_PERMISSIVE}\n")),
        "{stderr}"
    );
}

const MESH_PERMISSIVE: &str = "PeerAuthentication istio-system/default: spec.mtls.mode: PERMISSIVE does not change listener istio-443 (port 443): it is a Gateway server (or Ingress) port, which its own TLS settings govern, not PeerAuthentication (the workload's mesh traffic); it serves TLS only, with the client certificate its hosts require";

#[test]
fn bad_workload_flags_are_refused() {
    for (args, message) in [
        (
            &["--workload-label", "app", "x.yaml"][..],
            "invalid value 'app' for '--workload-label <KEY=VALUE>': \"app\": expected KEY=VALUE",
        ),
        (
            &[
                "--workload-namespace",
                "foo",
                "--workload-port",
                "0",
                "x.yaml",
            ][..],
            "invalid value '0' for '--workload-port <PORT>': 0 is not in 1..=65535",
        ),
        (
            &["--workload-backend", "http://app", "x.yaml"][..],
            "the following required arguments were not provided:\n  --workload-credential <SECRET>",
        ),
        (
            &["--workload-port", "80", "x.yaml"][..],
            "mtls-gateway: --workload-label, --workload-port and --workload-credential need \
             --workload-namespace",
        ),
    ] {
        let (code, stdout, stderr) = translate(args);
        assert_eq!((code, stdout.as_str()), (2, ""), "{args:?}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn workload_flags_belong_to_kube_mode() {
    let out = Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
        .args(["run", "--config", "x.yaml", "--workload-port", "8080"])
        .output()
        .expect("the gateway binary runs");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "mtls-gateway: the --workload-* options are for --kube: with --config, the file declares \
         its listeners\n"
    );
}

#[test]
fn the_translated_secure_ingress_serves_its_route_through_the_gateway() {
    let work = Workdir::new();
    let dir = &work.etc;
    // The credential where the translation mounts it: the ingress gateway's namespace.
    let secret = dir.join("secrets/istio-system/httpbin-credential");
    std::fs::create_dir_all(&secret).unwrap();
    let pki = mtls_testkit::Pki::shared();
    support::write_secret(
        &secret,
        pki,
        &support::server_leaf(pki, "httpbin.example.com"),
    );
    // The ingress gateway's workload, under the mesh-wide PERMISSIVE of Istio's migration task.
    let args = [
        "--mount-root",
        dir.to_str().unwrap(),
        "--bind",
        "127.0.0.1",
        "--workload-namespace",
        "istio-system",
        "--workload-label",
        "istio=ingressgateway",
        "--validate",
        "istio-secure-ingress.yaml",
        "istio-peer-authentication-workload.yaml",
    ];
    let (code, stdout, stderr) = translate(&args);
    let mount = secret.display();
    assert_eq!(
        (code, stderr),
        (
            0,
            format!(
                "warning: {MESH_PERMISSIVE}\n\
                 mount: Secret istio-system/httpbin-credential (tls.crt, tls.key) at {mount}: not in the input\n\
                 mount: Secret istio-system/httpbin-credential (ca.crt) at {mount}: not in the input\n"
            )
        ),
        "{stdout}"
    );
    // Test ports, and the Service's cluster DNS name to a local backend.
    let httpbin = support::backend("httpbin");
    let (admin, port) = (free_port(), free_port());
    let config = format!("admin: {{ address: 127.0.0.1:{admin} }}\n")
        + &stdout
            .replace("127.0.0.1:443\n", &format!("127.0.0.1:{port}\n"))
            .replace(
                "http://httpbin.default.svc.cluster.local:8000",
                &format!("http://127.0.0.1:{}", httpbin.port),
            );
    std::fs::write(dir.join("gateway.yaml"), config).unwrap();
    let log = work.temp.path().join("gw.log");
    let _gateway = Gateway::start_in(dir, "gateway.yaml", &log, admin);
    let resolve = format!("httpbin.example.com:{port}:127.0.0.1");
    let url = |path: &str| format!("https://httpbin.example.com:{port}{path}");
    let with_client = |path: &str| {
        let url = url(path);
        let args = [
            "--cacert",
            "ca.pem",
            "--cert",
            "client.pem",
            "--key",
            "client.key",
            "--resolve",
            &resolve,
            &url,
        ];
        curl_status(dir, &args)
    };
    // The VirtualService's prefix, to its destination.
    let (code, status, body, stderr) = with_client("/status/418");
    assert_eq!(
        (code, status, body.as_str()),
        (0, 418, "backend=httpbin\nstatus=418\n"),
        "{stderr}"
    );
    let (code, status, body, _) = with_client("/delay/1");
    assert_eq!((code, status), (0, 200));
    assert!(
        body.starts_with("backend=httpbin\npath=/delay/1\n"),
        "{body}"
    );
    // A path no VirtualService match covers: no route.
    let (code, status, _, _) = with_client("/headers");
    assert_eq!((code, status), (0, 404));
    // MUTUAL: no client certificate, no request.
    let url = url("/status/200");
    let (code, _, _, stderr) =
        curl_status(dir, &["--cacert", "ca.pem", "--resolve", &resolve, &url]);
    assert_ne!(code, 0, "{stderr}");
    // The mesh's PERMISSIVE does not open the MUTUAL port to plaintext: closed unanswered.
    assert_eq!(plaintext(port), "");
}

/// `GET /status/200` in plaintext HTTP/1.1 on `port`: what is answered before the gateway
/// closes the connection.
fn plaintext(port: u16) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let request =
        "GET /status/200 HTTP/1.1\r\nhost: httpbin.example.com\r\nconnection: close\r\n\r\n";
    tcp.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}
