//! Telemetry and shadow trust end to end: the real `mtls-gateway run` binary, real `curl`
//! clients, `/metrics` scraped from the admin listener over loopback. Traffic moves each
//! metric, and the test reads it back: the reload counter, the presented-certificate lifetime
//! histogram, the CA and CRL expiry gauges, shadow-trust disagreements, the JSON access log
//! and the per-request span.
//!
//! Every test picks free 127.0.0.1 ports, bounds every wait, and kills what it started.

mod support;

use std::time::UNIX_EPOCH;

use support::{
    CLIENT_ID, OTHER_PRINCIPAL, Workdir, curl_status, eventually, free_port, write_atomic,
};

const CLIENT: [&str; 4] = ["--cert", "client.pem", "--key", "client.key"];
/// A client of the unrelated CA (`untrusted-ca.pem`).
const STRANGER: [&str; 4] = ["--cert", "stranger.pem", "--key", "stranger.key"];

/// Two hosts. `localhost` trusts both CAs and its candidate drops the unrelated one;
/// `helloworld.example.com` trusts the shared CA (with its CRL) and its candidate adds the
/// unrelated one. The JSON access log goes next to `etc/`, out of the watched directory.
fn config(https: u16, admin: u16) -> String {
    format!(
        r#"
admin:
  address: 127.0.0.1:{admin}
access_log: {{ format: json, path: ../access.log }}
listeners:
  - name: edge
    address: 127.0.0.1:{https}
    hosts:
      - hostnames: [localhost]
        certificate: {{ chain: server.pem, key: server.key }}
        client_validation:
          trust: [{{ name: clients, ca: [{{ file: ca.pem }}, {{ file: untrusted-ca.pem }}] }}]
        shadow_client_validation:
          trust: [{{ name: clients, ca: [{{ file: ca.pem }}] }}]
        routes:
          - path_prefix: /
            respond: {{ status: 200, body: "ok\n" }}
          - path_prefix: /admin
            authorization: {{ principals: [{CLIENT_ID}] }}
            respond: {{ status: 200, body: "admin\n" }}
      - hostnames: [helloworld.example.com]
        certificate: {{ chain: helloworld.pem, key: helloworld.key }}
        client_validation:
          trust:
            - name: partners
              ca: [{{ file: ca.pem }}]
              crl: {{ sources: [{{ file: crl.pem }}] }}
        shadow_client_validation:
          trust: [{{ name: partners, ca: [{{ file: ca.pem }}, {{ file: untrusted-ca.pem }}] }}]
        routes:
          - path_prefix: /
            respond: {{ status: 200, body: "hello\n" }}
"#
    )
}

/// The value of the sample of `name` whose labels include every one of `labels`.
fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let (labels_part, value) = match rest.strip_prefix('{') {
            Some(r) => r.split_once("} ")?,
            None => ("", rest.strip_prefix(' ')?),
        };
        let all = labels
            .iter()
            .all(|(k, v)| labels_part.split(',').any(|l| l == format!("{k}=\"{v}\"")));
        all.then(|| value.trim().parse().ok()).flatten()
    })
}

fn unix(t: std::time::SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs() as f64
}

#[test]
fn traffic_moves_every_metric_and_shadow_trust_never_enforces() {
    let w = Workdir::new();
    let (https, admin) = (free_port(), free_port());
    let gw = w.start("telemetry.yaml", &config(https, admin), admin);
    let dir = &w.etc;
    let localhost = format!("https://localhost:{https}/");
    let hello = format!("https://helloworld.example.com:{https}/");
    let resolve = format!("helloworld.example.com:{https}:127.0.0.1");
    let get = |url: &str, who: &[&str; 4]| {
        let mut args = vec!["--cacert", "ca.pem", "--resolve", &resolve, url];
        args.extend_from_slice(who);
        curl_status(dir, &args)
    };
    let metrics = || gw.admin_get("/metrics");

    // Gauges, as loaded: the earliest CA expiry of each trust domain, each CRL's nextUpdate.
    let text = metrics();
    let not_after = |file: &str| {
        let bundle = mtls_core::CaBundle::from_file(dir.join(file)).unwrap();
        unix(bundle.certificates()[0].not_after())
    };
    let earliest = not_after("ca.pem").min(not_after("untrusted-ca.pem"));
    let ca_gauge = |domain| {
        sample(
            &text,
            "mtls_ca_earliest_not_after_seconds",
            &[("trust_domain", domain)],
        )
    };
    assert_eq!(ca_gauge("clients"), Some(earliest), "{text}");
    assert_eq!(ca_gauge("partners"), Some(not_after("ca.pem")), "{text}");
    let crls = mtls_core::CrlSet::from_file(dir.join("crl.pem")).unwrap();
    let next_update = unix(crls.crls()[0].next_update().unwrap());
    assert_eq!(
        sample(
            &text,
            "mtls_crl_next_update_seconds",
            &[("trust_domain", "partners")]
        ),
        Some(next_update),
        "{text}"
    );

    // Shadow trust, request stage: the candidate of `localhost` drops the unrelated CA. Its
    // client is served all the same (never enforced), and counted and logged as a
    // disagreement; a client both trusts is not.
    for _ in 0..2 {
        let (code, status, body, err) = get(&localhost, &STRANGER);
        assert_eq!((code, status, body.as_str()), (0, 200, "ok\n"), "{err}");
    }
    let (code, status, body, err) = get(&localhost, &CLIENT);
    assert_eq!((code, status, body.as_str()), (0, 200, "ok\n"), "{err}");
    // A request both deny (the allow-list of /admin) is no disagreement either.
    let (code, status, _, err) = get(&format!("{localhost}admin"), &STRANGER);
    assert_eq!((code, status), (0, 403), "{err}");

    // Shadow trust, handshake stage: the candidate of `helloworld.example.com` adds the
    // unrelated CA. The active trust refuses the stranger at the handshake, as before.
    let (code, _, _, err) = get(&hello, &STRANGER);
    assert_ne!(code, 0, "the active trust refuses the stranger: {err}");
    let (code, status, body, err) = get(&hello, &CLIENT);
    assert_eq!((code, status, body.as_str()), (0, 200, "hello\n"), "{err}");

    let shadow = |text: &str, stage, active, candidate| {
        sample(
            text,
            "mtls_shadow_disagreements_total",
            &[
                ("listener", "edge"),
                ("stage", stage),
                ("active", active),
                ("candidate", candidate),
            ],
        )
    };
    let text = metrics();
    assert_eq!(
        shadow(&text, "request", "allow", "deny"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        shadow(&text, "handshake", "deny", "allow"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(shadow(&text, "request", "deny", "allow"), None, "{text}");
    let logged = gw.wait_for_log("shadow trust disagrees", 2);
    assert!(logged.contains(OTHER_PRINCIPAL), "{logged}");
    assert!(
        logged.contains("active=\"deny\"") || logged.contains("active=deny"),
        "{logged}"
    );

    // Remaining lifetime of presented certificates (a year from the test's PKI), by trust
    // domain, in fixed buckets; nothing under 180 days.
    let bucket = |domain, le| {
        sample(
            &text,
            "mtls_client_cert_remaining_lifetime_seconds_bucket",
            &[("trust_domain", domain), ("le", le)],
        )
    };
    assert_eq!(bucket("clients", "+Inf"), Some(4.0), "{text}");
    assert_eq!(bucket("clients", "31536000"), Some(4.0), "{text}");
    assert_eq!(bucket("clients", "15552000"), Some(0.0), "{text}");
    assert_eq!(bucket("clients", "3600"), Some(0.0), "{text}");
    assert_eq!(bucket("partners", "+Inf"), Some(1.0), "{text}");
    assert!(
        !text.contains("quantile="),
        "a histogram, not a summary: {text}"
    );

    // The per-request span: the layer's denial is logged inside `mtls_request` with the
    // decision, its reason and the identity.
    let denied = gw.wait_for_log("mTLS request denied", 0);
    assert!(denied.contains(" mtls_request"), "{denied}");
    for field in [
        r#"decision="deny""#.to_owned(),
        r#"reason="identity_not_allowed""#.to_owned(),
        format!(r#"identity="{OTHER_PRINCIPAL}""#),
    ] {
        assert!(denied.contains(&field), "{field} in {denied}");
    }

    // The JSON access log: one line per request that reached HTTP (the refused handshake
    // did not), with the decision and the deny code; nothing dropped.
    let log_path = w.temp.path().join("access.log");
    let mut lines = Vec::new();
    eventually("five access-log lines", || {
        lines = std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect();
        lines.len() == 5
    });
    let first = &lines[0];
    assert_eq!(first["listener"], "edge");
    assert_eq!(first["sni"], "localhost");
    assert_eq!(first["host"], "localhost");
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], "/");
    assert_eq!(first["status"], 200);
    assert_eq!(first["identity"], OTHER_PRINCIPAL);
    assert_eq!(first["route"], "respond:/");
    assert_eq!(first["decision"], "allow");
    assert_eq!(first["deny_code"], serde_json::Value::Null);
    assert_eq!(first["transport"], "tls");
    assert!(
        first["peer"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{first}"
    );
    assert!(first["duration_ms"].as_f64().unwrap() >= 0.0, "{first}");
    assert!(
        first["time"].as_str().unwrap().ends_with('Z'),
        "RFC 3339 UTC: {first}"
    );
    let denied = &lines[3];
    assert_eq!(denied["path"], "/admin");
    assert_eq!(denied["status"], 403);
    assert_eq!(denied["decision"], "deny");
    assert_eq!(denied["deny_code"], "identity_not_allowed");
    assert_eq!(lines[4]["sni"], "helloworld.example.com");
    assert_eq!(
        sample(&metrics(), "mtls_access_log_dropped_total", &[]),
        Some(0.0)
    );

    // One reload counter, by result and trigger: SIGHUP, then a file change that does not
    // parse (the running configuration keeps serving).
    gw.hup();
    eventually("a reload by signal counted", || {
        sample(
            &metrics(),
            "mtls_reloads_total",
            &[("result", "ok"), ("trigger", "signal")],
        ) == Some(1.0)
    });
    write_atomic(&gw.config, "listeners: [");
    eventually("a failed reload by file counted", || {
        sample(
            &metrics(),
            "mtls_reloads_total",
            &[("result", "failed"), ("trigger", "file")],
        )
        .is_some_and(|n| n >= 1.0)
    });
    let text = metrics();
    assert!(
        !text.contains("mtls_gateway_config_reloads_total"),
        "one reload counter: {text}"
    );
    let (code, status, _, err) = get(&localhost, &CLIENT);
    assert_eq!((code, status), (0, 200), "{err}");
}

#[test]
fn a_candidate_that_does_not_load_is_refused_with_its_field() {
    let w = Workdir::new();
    let (https, admin) = (free_port(), free_port());
    let text = config(https, admin).replace(
        "trust: [{ name: clients, ca: [{ file: ca.pem }] }]",
        "trust: [{ name: clients, ca: [{ file: missing-ca.pem }] }]",
    );
    let file = w.etc.join("bad.yaml");
    std::fs::write(&file, text).unwrap();
    let out = support::run(
        std::process::Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .args(["run", "--config"])
            .arg(&file),
        b"",
    );
    assert_ne!(out.code, 0, "{out:?}");
    let all = out.all();
    assert!(
        all.contains("listeners[0].hosts[0].shadow_client_validation")
            && all.contains("missing-ca.pem"),
        "{all}"
    );
}

#[test]
fn a_bad_access_log_is_refused_with_the_field() {
    let w = Workdir::new();
    let (https, admin) = (free_port(), free_port());
    let text = config(https, admin).replace(
        "access_log: { format: json, path: ../access.log }",
        "access_log: { format: json, buffer: 0 }",
    );
    let file = w.etc.join("bad.yaml");
    std::fs::write(&file, text).unwrap();
    let out = support::run(
        std::process::Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .args(["run", "--config"])
            .arg(&file),
        b"",
    );
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.all().contains("access_log.buffer: must be at least 1"),
        "{out:?}"
    );
    let text = config(https, admin).replace(
        "access_log: { format: json, path: ../access.log }",
        "access_log: { format: text }",
    );
    std::fs::write(&file, text).unwrap();
    let out = support::run(
        std::process::Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .args(["run", "--config"])
            .arg(&file),
        b"",
    );
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.all().contains("access_log.format") && out.all().contains("json"),
        "{out:?}"
    );
}
