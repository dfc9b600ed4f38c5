//! Replicas sharing session-ticket keys, with real clients on 127.0.0.1: two listeners built
//! from configurations in different directories, naming the same key file, resume each
//! other's sessions; after a CRL update revoking the client reaches both, neither lets it
//! resume, and both refuse it. A bad key file is refused with the file and line.

mod support;

use std::path::Path;
use std::sync::Arc;

use mtls_policy::Policy;
use mtls_testkit::Pki;
use mtls_tower::{ListenerError, MtlsListener};
use rustls::HandshakeKind;
use support::{provider, start};

const KEYS: &str = "# newest first\n\
    cWYEoxb96BtCjmSsRFmoBkUibz/58eUILsZeHBDsvcc=\n\
    Tx5VPM9OvsoEjuCL8M8THUzx6ibrw7um3qvVAW5VAwU=\n";

/// A replica's configuration in `dir`: its own copy of the server certificate, CA and CRL
/// (`crl.pem`, replaced to update it), and `key_file` shared with the other replicas.
fn replica_config(dir: &Path, pki: &Pki, key_file: &Path) -> String {
    let server = pki.default_server();
    std::fs::write(dir.join("server.pem"), server.chain_pem()).unwrap();
    std::fs::write(dir.join("server.key"), server.key_pem()).unwrap();
    std::fs::write(dir.join("ca.pem"), pki.root().cert_pem()).unwrap();
    let d = dir.display();
    format!(
        "listeners:
  - name: public
    port: 8443
    min_tls_version: tls13
    answers: {{ revoked: {{ tls_alert: certificate_revoked }} }}
    session_tickets: {{ key_file: {keys}, lifetime: 1h }}
    hosts:
      - hostnames: [localhost]
        certificate: {{ chain: {d}/server.pem, key: {d}/server.key }}
        client_validation:
          mode: required
          trust:
            - name: clients
              ca: [{{ file: {d}/ca.pem }}]
              crl: {{ sources: [{{ file: {d}/crl.pem }}] }}
",
        keys = key_file.display()
    )
}

fn listener(config: &str) -> Result<MtlsListener, ListenerError> {
    let policy = Policy::from_yaml(config).unwrap();
    MtlsListener::builder(policy, "public", provider()).build()
}

#[tokio::test]
async fn replicas_resume_each_others_sessions_until_a_crl_revokes_the_client() {
    let pki = Pki::shared();
    let client = pki.client().uri("spiffe://td/ns/a/sa/replicated").issue();
    let shared = tempfile::tempdir().unwrap();
    let key_file = shared.path().join("tickets.key");
    std::fs::write(&key_file, KEYS).unwrap();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut configs = Vec::new();
    let mut replicas = Vec::new();
    // The same CRL bytes on every replica, as from one mounted secret (a CRL signed twice
    // differs: ECDSA signatures are randomized).
    let clean = pki.crls().build().pem();
    for dir in &dirs {
        std::fs::write(dir.path().join("crl.pem"), &clean).unwrap();
        let config = replica_config(dir.path(), pki, &key_file);
        let mtls = listener(&config).unwrap();
        replicas.push((start(mtls.acceptor()).await, mtls));
        configs.push(config);
    }
    let [(a, a_mtls), (b, b_mtls)] = &replicas[..] else {
        unreachable!()
    };
    // One session cache: each connection offers a ticket of the connections before.
    let config = support::client(pki, Some(&client));

    let (kind, response) = support::request_once(a.addr, Arc::clone(&config))
        .await
        .unwrap();
    assert_eq!(kind, HandshakeKind::Full);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    // A ticket issued by replica a resumes on replica b, and b's on a.
    let (kind, response) = support::request_once(b.addr, Arc::clone(&config))
        .await
        .unwrap();
    assert_eq!(kind, HandshakeKind::Resumed, "{response}");
    assert!(response.contains("verification=Verified"), "{response}");
    let (kind, _) = support::request_once(a.addr, Arc::clone(&config))
        .await
        .unwrap();
    assert_eq!(kind, HandshakeKind::Resumed);

    // A reload that changes nothing of the trust state keeps tickets valid.
    a_mtls
        .reload(Policy::from_yaml(&configs[0]).unwrap(), None, None)
        .unwrap();
    let (kind, _) = support::request_once(a.addr, Arc::clone(&config))
        .await
        .unwrap();
    assert_eq!(kind, HandshakeKind::Resumed);

    // A new CRL revoking the client reaches replica a only: a refuses the ticket b issued
    // (then the client, on the full handshake), while b, not yet updated, still resumes it.
    let revoking = pki.crls().revoke(&client).build().pem();
    std::fs::write(dirs[0].path().join("crl.pem"), &revoking).unwrap();
    a_mtls
        .reload(Policy::from_yaml(&configs[0]).unwrap(), None, None)
        .unwrap();
    let (kind, _) = support::request_once(b.addr, Arc::clone(&config))
        .await
        .unwrap();
    assert_eq!(kind, HandshakeKind::Resumed);
    assert_revoked(support::request_once(a.addr, Arc::clone(&config)).await);
    // Once it reaches b, b refuses too: no replica lets the client resume.
    let (kind, _) = support::request_once(b.addr, Arc::clone(&config))
        .await
        .unwrap();
    assert_eq!(kind, HandshakeKind::Resumed);
    std::fs::write(dirs[1].path().join("crl.pem"), &revoking).unwrap();
    b_mtls
        .reload(Policy::from_yaml(&configs[1]).unwrap(), None, None)
        .unwrap();
    for replica in [a, b] {
        assert_revoked(support::request_once(replica.addr, Arc::clone(&config)).await);
    }
    // Another client, never revoked, still gets in (full handshake) and resumes across.
    let other = support::client(pki, Some(pki.default_client()));
    let (kind, _) = support::request_once(a.addr, Arc::clone(&other))
        .await
        .unwrap();
    assert_eq!(kind, HandshakeKind::Full);
    let (kind, _) = support::request_once(b.addr, other).await.unwrap();
    assert_eq!(kind, HandshakeKind::Resumed);
    for (server, _) in replicas {
        server.stop().await;
    }
}

/// The client was refused with the `certificate_revoked` alert.
fn assert_revoked(outcome: std::io::Result<(HandshakeKind, String)>) {
    match outcome {
        Err(e) => assert!(e.to_string().contains("CertificateRevoked"), "{e}"),
        Ok((kind, response)) => panic!("revoked client got through ({kind:?}): {response}"),
    }
}

#[test]
fn bad_key_files_are_refused_with_the_file_and_line() {
    let pki = Pki::shared();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crl.pem"), pki.crls().build().pem()).unwrap();
    let key_file = dir.path().join("tickets.key");
    let config = replica_config(dir.path(), pki, &key_file);
    let k = key_file.display();
    for (text, want) in [
        (
            "cWYEoxb96BtCjmSsRFmoBkUibz/58eUILsZeHBDsvcc=\n\nc2hvcnQ=\n",
            format!(
                "listeners[0].session_tickets: {k}:3: the key is 5 bytes; at least 32 are needed"
            ),
        ),
        (
            "# only a comment\n",
            format!(
                "listeners[0].session_tickets: {k}: no session ticket key (one base64 key of \
                 32 bytes or more per line)"
            ),
        ),
        (
            "not base64!\n",
            format!(
                "listeners[0].session_tickets: {k}:1: not a base64 key: Invalid symbol 32, \
                 offset 3."
            ),
        ),
    ] {
        std::fs::write(&key_file, text).unwrap();
        let err = listener(&config).unwrap_err();
        assert_eq!(err.to_string(), want, "{text:?}");
    }
    std::fs::remove_file(&key_file).unwrap();
    let err = listener(&config).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "listeners[0].session_tickets: session ticket keys {k}: "
        )),
        "{err}"
    );
    let long = config.replace("lifetime: 1h", "lifetime: 169h");
    std::fs::write(&key_file, KEYS).unwrap();
    assert_eq!(
        listener(&long).unwrap_err().to_string(),
        "listeners[0].session_tickets: session ticket lifetime 608400s must be between 1s and \
         7 days (RFC 8446)"
    );
}
