//! The PKI and the configuration of the answer tests: one STRICT listener whose hosts (by
//! SNI) each make one reason happen, and a client per reason.

use std::path::Path;

use mtls_testkit::{Eku, Pki, Validity};

use crate::support::{CLIENT_ID, OTHER_PRINCIPAL, write_pki};

/// The hosts of the listener, each served for its own SNI by one server certificate.
pub(crate) const MAIN: &str = "main.test";
/// Trusts the CA with an expired CRL (`next_update: enforce`): `crl_expired`.
pub(crate) const CRL_EXPIRED: &str = "crl-expired.test";
/// Trusts the CA with the root's CRL only, none of the intermediate that issues the clients:
/// `revocation_unknown`.
pub(crate) const NO_CRL: &str = "no-crl.test";
/// Pins a certificate no client has: `pin_mismatch`.
pub(crate) const PINNED: &str = "pinned.test";
/// Lets the CA vouch for another SPIFFE trust domain only: `issuer_not_allowed_for_identity`.
pub(crate) const SCOPED: &str = "scoped.test";

/// Writes the shared PKI (`support::write_pki`) and, for these tests, `multi.pem` (a server
/// certificate for every host above), `expired.pem`, `notyet.pem`, `server-eku.pem` (a
/// client certificate for server auth only), `crl-expired.pem` and `root-crl.pem`.
pub(crate) fn write(dir: &Path) {
    write_pki(dir);
    let pki = Pki::shared();
    let names = [MAIN, CRL_EXPIRED, NO_CRL, PINNED, SCOPED];
    pki.server_for(&names)
        .issue()
        .write_to(dir, "multi")
        .unwrap();
    let client = |stem: &str, validity: Validity, eku: Eku| {
        pki.client()
            .common_name(stem)
            .uri(CLIENT_ID)
            .validity(validity)
            .eku(eku)
            .issue()
            .write_to(dir, stem)
            .unwrap();
    };
    client("expired", Validity::Expired, Eku::ClientAuth);
    client("notyet", Validity::NotYetValid, Eku::ClientAuth);
    client("server-eku", Validity::Current, Eku::ServerAuth);
    std::fs::write(
        dir.join("crl-expired.pem"),
        pki.crls().expired().build().pem(),
    )
    .unwrap();
    std::fs::write(dir.join("root-crl.pem"), pki.crls().build().root().pem()).unwrap();
}

/// The configuration: a STRICT listener on `https` whose every host enforces at `enforce_at`,
/// with the listener's `answers` (a YAML flow map). Each host answers `/` with `200 ok`;
/// `main.test`'s `/ops` allows only `OTHER_PRINCIPAL`.
pub(crate) fn config(https: u16, admin: u16, answers: &str, enforce_at: &str) -> String {
    let host = |name: &str, trust: &str, extra: &str| {
        format!(
            r#"
      - hostnames: [{name}]
        certificate: {{ chain: multi.pem, key: multi.key }}
        client_validation:
          mode: required
          enforce_at: {enforce_at}
          trust: [{{ name: clients, ca: [{{ file: ca.pem }}], {trust} }}]{extra}
        routes:
          - path_exact: /ops
            authorization: {{ principals: [{OTHER_PRINCIPAL}] }}
            respond: {{ status: 200, body: "ops\n" }}
          - path_prefix: /
            respond: {{ status: 200, body: "ok\n", content_type: text/plain }}"#
        )
    };
    let zero_pin = vec!["00"; 32].join(":");
    let hosts = [
        host(MAIN, "crl: { sources: [{ file: crl.pem }] }", ""),
        host(
            CRL_EXPIRED,
            "crl: { sources: [{ file: crl-expired.pem }] }",
            "",
        ),
        host(NO_CRL, "crl: { sources: [{ file: root-crl.pem }] }", ""),
        host(
            PINNED,
            "crl: { sources: [{ file: crl.pem }] }",
            &format!("\n          pins: {{ cert_sha256: [\"{zero_pin}\"] }}"),
        ),
        host(
            SCOPED,
            "crl: { sources: [{ file: crl.pem }] }, may_vouch_for: { match: [{ spiffe: { trust_domain: elsewhere.example } }] }",
            "",
        ),
    ];
    format!(
        r#"admin: {{ address: 127.0.0.1:{admin} }}
listeners:
  - name: edge
    address: 127.0.0.1:{https}
    peer_mode: strict
    answers: {answers}
    hosts:{}
"#,
        hosts.concat()
    )
}
