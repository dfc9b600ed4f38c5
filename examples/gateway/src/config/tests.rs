//! `parse`: what a valid file becomes (paths resolved against the file's directory) and the
//! exact error of each bad input, named `file:line:col: field.path: message`.

use std::path::{Path, PathBuf};

use mtls_policy::trust::TrustSource;
use mtls_policy::{CertificateSource, RouteAction};

use super::parse;

/// A file whose every setting is valid, for the cases below to break one at a time.
const VALID: &str = r#"admin: { address: 127.0.0.1:9901 }
listeners:
  - name: public
    address: 127.0.0.1:8443
    limits: { handshake_timeout: 5s }
    hosts:
      - hostnames: [a.example.com]
        certificate: { chain: server.pem, key: /abs/server.key }
        client_validation:
          mode: required
          trust:
            - name: clients
              ca: [{ file: ca.pem }]
              crl: { sources: [{ file: crl/clients.pem }] }
        routes:
          - { path_prefix: /api, backend: api }
          - { name: health, path_exact: /api/ping, respond: { body: "pong\n" } }
      - certificate: { secret_dir: secrets/default }
        routes:
          - backend: app
backends:
  api:
    url: https://api.internal:8443
    tls: { ca: upstream-ca.pem, client_certificate: { chain: gw.pem, key: gw.key } }
  app: { url: "http://127.0.0.1:3000" }
"#;

fn base() -> &'static Path {
    Path::new("/etc/gw")
}

/// The error `text` is refused with, as the gateway prints it.
fn error(text: &str) -> String {
    match parse(text, Path::new("gw.yaml"), base()) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// `VALID` with `from` replaced by `to` (once; `from` must be in it).
fn valid_but(from: &str, to: &str) -> String {
    assert!(VALID.contains(from), "{from:?} is not in VALID");
    VALID.replacen(from, to, 1)
}

#[test]
fn a_valid_file_resolves_relative_paths_against_its_directory() {
    let policy = parse(VALID, Path::new("gw.yaml"), base()).unwrap();
    let config = policy.config();
    let listener = &config.listeners[0];
    assert_eq!(listener.port(), 8443);
    let host = &listener.hosts[0];
    assert_eq!(
        host.certificate,
        Some(CertificateSource::files(
            "/etc/gw/server.pem",
            "/abs/server.key"
        ))
    );
    let trust = &host.client_validation.as_ref().unwrap().trust[0];
    assert_eq!(trust.ca, [TrustSource::File("/etc/gw/ca.pem".into())]);
    let crl = trust.crl.as_ref().unwrap();
    assert_eq!(
        crl.sources,
        [TrustSource::File("/etc/gw/crl/clients.pem".into())]
    );
    assert_eq!(
        listener.hosts[1].certificate,
        Some(CertificateSource::SecretDir(
            "/etc/gw/secrets/default".into()
        ))
    );
    let tls = config.backends["api"].tls.as_ref().unwrap();
    assert_eq!(tls.ca, TrustSource::File("/etc/gw/upstream-ca.pem".into()));
    assert_eq!(
        tls.client_certificate,
        Some(CertificateSource::files("/etc/gw/gw.pem", "/etc/gw/gw.key"))
    );
    assert_eq!(
        config.admin.as_ref().map(|a| a.address.to_string()),
        Some("127.0.0.1:9901".into())
    );

    // The routes, in order, with their names (the path as written when unnamed) and actions.
    let routes: Vec<(&str, RouteAction<'_>)> = policy
        .routes()
        .iter()
        .map(|r| (r.name(), r.action()))
        .collect();
    assert_eq!(routes.len(), 3);
    assert_eq!(routes[0], ("/api", RouteAction::Backend("api")));
    assert!(
        matches!(routes[1], ("health", RouteAction::Respond(r)) if r.body == "pong\n"),
        "{routes:?}"
    );
    assert_eq!(routes[2], ("/", RouteAction::Backend("app")));

    // What the gateway watches: every file, absolute.
    let files = config.files();
    assert_eq!(
        files.files,
        [
            "/abs/server.key",
            "/etc/gw/ca.pem",
            "/etc/gw/crl/clients.pem",
            "/etc/gw/gw.key",
            "/etc/gw/gw.pem",
            "/etc/gw/server.pem",
            "/etc/gw/upstream-ca.pem",
        ]
        .map(PathBuf::from)
    );
    assert_eq!(files.dirs, [PathBuf::from("/etc/gw/secrets/default")]);
}

#[test]
fn syntax_errors_name_the_line_and_column() {
    // An unknown key: where it is written, and the keys allowed there.
    let text = valid_but("    limits:", "    handshake_timeout: 5s\n    limits:");
    assert_eq!(
        error(&text),
        "gw.yaml:5:5: listeners[0].handshake_timeout: unknown field `handshake_timeout`, \
         expected one of `name`, `address`, `port`, `peer_mode`, `audit`, `sni_host_match`, \
         `unknown_sni`, `min_tls_version`, `limits`, `session_tickets`, `answers`, \
         `shadow_client_validation`, `hosts`"
    );
    // A duration without a unit.
    let text = valid_but("handshake_timeout: 5s", "handshake_timeout: soon");
    assert_eq!(
        error(&text),
        "gw.yaml:5:34: listeners[0].limits.handshake_timeout: \"soon\" is not a duration like \
         250ms, 5s, 2m"
    );
    // A certificate with half of its files.
    let text = valid_but(
        "certificate: { secret_dir: secrets/default }",
        "certificate: { chain: x.pem }",
    );
    assert_eq!(
        error(&text),
        "gw.yaml:18:22: listeners[0].hosts[1].certificate: `chain` needs `key`"
    );
    // Not YAML at all.
    assert_eq!(
        error("listeners: [\n"),
        "gw.yaml:1:12: listeners: unclosed bracket '['"
    );
}

#[test]
fn the_gateway_needs_a_certificate_per_host_and_an_action_per_route() {
    let text = valid_but(
        "      - certificate: { secret_dir: secrets/default }\n        routes:",
        "      - routes:",
    );
    assert_eq!(
        error(&text),
        "gw.yaml: listeners[0].hosts[1].certificate: missing: the gateway serves each host with \
         its certificate (`chain` and `key`, or `secret_dir`)"
    );
    let text = valid_but("          - backend: app\n", "          - path_prefix: /\n");
    assert_eq!(
        error(&text),
        "gw.yaml: listeners[0].hosts[1].routes[0]: no `backend` or `respond`: the gateway \
         forwards each route to a backend or answers it"
    );
    assert_eq!(
        error("listeners: []\n"),
        "gw.yaml: listeners: at least one listener is needed"
    );
    let text = "listeners:\n  - { name: public, port: 8443, hosts: [] }\n";
    assert_eq!(
        error(text),
        "gw.yaml: listeners[0].hosts: at least one host is needed"
    );
}

#[test]
fn routes_name_known_backends_and_valid_answers() {
    let text = valid_but("backend: app", "backend: nope");
    assert_eq!(
        error(&text),
        "gw.yaml: listeners[0].hosts[1].routes[0].backend: no backend named \"nope\" (see \
         `backends`)"
    );
    let text = valid_but("backend: api }", "backend: api, respond: { status: 204 } }");
    assert_eq!(
        error(&text),
        "gw.yaml: listeners[0].hosts[0].routes[0].respond: conflicting settings: `backend` and \
         `respond`"
    );
    let at = "gw.yaml: listeners[0].hosts[0].routes[1].respond";
    for (respond, wanted) in [
        (
            "{ status: 700 }",
            ".status: 700 is not an HTTP status from 200 to 599",
        ),
        (
            "{ status: 199 }",
            ".status: 199 is not an HTTP status from 200 to 599",
        ),
        (
            "{ status: 204, body: x }",
            ".body: a 204 answer has no body",
        ),
        (
            "{ status: 304, body: x }",
            ".body: a 304 answer has no body",
        ),
        (
            "{ body: x, content_type: \"text/plain\\n\" }",
            ".content_type: \"text/plain\\n\" is not a valid header value",
        ),
        (
            "{ body: x, content_type: \" \" }",
            ".content_type: must not be empty",
        ),
    ] {
        let text = valid_but(
            "respond: { body: \"pong\\n\" }",
            &format!("respond: {respond}"),
        );
        assert_eq!(error(&text), format!("{at}{wanted}"), "{respond}");
    }
}

#[test]
fn backends_are_checked() {
    let text = valid_but(
        "    tls: { ca: upstream-ca.pem, client_certificate: { chain: gw.pem, key: gw.key } }\n",
        "",
    );
    assert_eq!(
        error(&text),
        "gw.yaml: backends.api.tls: an https backend needs `tls` (at least `ca`)"
    );
    let text = valid_but("http://127.0.0.1:3000", "ftp://127.0.0.1:3000");
    assert_eq!(
        error(&text),
        "gw.yaml: backends.app.url: the scheme must be http or https"
    );
    let text = valid_but("http://127.0.0.1:3000", "127.0.0.1:3000");
    assert_eq!(
        error(&text),
        "gw.yaml: backends.app.url: \"127.0.0.1:3000\" is not a URL"
    );
}

#[test]
fn listeners_and_hosts_are_checked() {
    let one_of_the_two =
        "gw.yaml: listeners[0]: give the listener's `address` or its `port` (one of the two)";
    let text = valid_but(
        "    address: 127.0.0.1:8443\n",
        "    address: 127.0.0.1:8443\n    port: 8443\n",
    );
    assert_eq!(error(&text), one_of_the_two);
    let text = valid_but("    address: 127.0.0.1:8443\n", "");
    assert_eq!(error(&text), one_of_the_two);
    // Two hosts with the same name (names are compared in normal form).
    let text = valid_but(
        "      - certificate: { secret_dir: secrets/default }",
        "      - hostnames: [A.example.com]\n        certificate: { secret_dir: secrets/default }",
    );
    assert_eq!(
        error(&text),
        "gw.yaml: listeners[0].hosts[1].hostnames: conflicting settings: host name \
         \"A.example.com\" is configured twice"
    );
    let text = valid_but(
        "      - certificate: { secret_dir: secrets/default }",
        "      - certificate: { secret_dir: secrets/other }\n        routes: [{ backend: app }]\n      \
         - certificate: { secret_dir: secrets/default }",
    );
    assert_eq!(
        error(&text),
        "gw.yaml: listeners[0].hosts[2].hostnames: conflicting settings: two hosts have no \
         `hostnames`: only one can be the default host"
    );
    let text = valid_but("hostnames: [a.example.com]", "hostnames: [a..example.com]");
    assert_eq!(
        error(&text),
        "gw.yaml: listeners[0].hosts[0].hostnames: \"a..example.com\" is not a host name or a \
         `*.parent` wildcard: host name \"a..example.com\" has an empty label"
    );
    let text = valid_but("handshake_timeout: 5s", "handshake_timeout: 0s");
    assert_eq!(
        error(&text),
        "gw.yaml: listeners[0].limits.handshake_timeout: must be longer than 0 (it would close \
         every connection)"
    );
}

#[test]
fn paths_must_be_in_normal_form() {
    let at = "gw.yaml: listeners[0].hosts[0].routes[0].path_prefix: the path";
    for (path, wanted) in [
        ("/a//b", "\"/a//b\" is not in normal form (write \"/a/b\")"),
        (
            "/a/./b",
            "\"/a/./b\" is not in normal form (write \"/a/b\")",
        ),
        (
            "/a/%7e",
            "\"/a/%7e\" is not in normal form (write \"/a/~\")",
        ),
        ("api", "\"api\" does not start with `/`"),
        ("/a%2fb", "\"/a%2fb\" has an encoded slash or backslash"),
    ] {
        let text = valid_but("path_prefix: /api", &format!("path_prefix: \"{path}\""));
        assert_eq!(error(&text), format!("{at} {wanted}"), "{path}");
    }
    let text = valid_but(
        "path_exact: /api/ping",
        "path_exact: /api/ping, path_prefix: /x",
    );
    assert_eq!(
        error(&text),
        "gw.yaml: listeners[0].hosts[0].routes[1].path_exact: conflicting settings: \
         `path_prefix` and `path_exact`"
    );
    let text = valid_but("path_exact: /api/ping", "path_prefix: /api");
    assert_eq!(
        error(&text),
        "gw.yaml: listeners[0].hosts[0].routes[1]: conflicting settings: another route of this \
         host matches prefix /api"
    );
}
