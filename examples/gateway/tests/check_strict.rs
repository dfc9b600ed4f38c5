//! `mtls-gateway check --config` holds a chain to its trust domain's `profile`, and `check --ca`
//! to `--profile`: under strict a leaf without authorityKeyIdentifier is refused (exit 1, with
//! the rule), and with `--purpose server` one asserting anyExtendedKeyUsage; under the default
//! profile both are accepted. The real binary; certificates made with rcgen at test time.

mod check_run;

use std::path::Path;

use check_run::check;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// Writes `ca.pem` (a root), `no-aki.pem` (a client leaf without authorityKeyIdentifier),
/// `aki.pem` (the same with one) and `any-eku.pem` (a server leaf asserting
/// anyExtendedKeyUsage) to `dir`.
fn write_chains(dir: &Path) {
    let root_key = KeyPair::generate().unwrap();
    let mut root_params = CertificateParams::default();
    root_params.distinguished_name = DistinguishedName::new();
    root_params
        .distinguished_name
        .push(DnType::CommonName, "Strict Root");
    root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let root = root_params.self_signed(&root_key).unwrap();
    let issuer = Issuer::new(root_params, &root_key);
    std::fs::write(dir.join("ca.pem"), root.pem()).unwrap();
    for (stem, aki, any_eku) in [
        ("no-aki", false, false),
        ("aki", true, false),
        ("any-eku", true, true),
    ] {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["client.test".to_owned()]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, "client");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        if any_eku {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::Any);
        }
        params.use_authority_key_identifier_extension = aki;
        let cert = params.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.join(format!("{stem}.pem")), cert.pem()).unwrap();
    }
}

fn config(profile: &str) -> String {
    format!(
        r#"
listeners:
  - name: public
    address: 127.0.0.1:8443
    hosts:
      - certificate: {{ chain: server.pem, key: server.key }}
        client_validation:
          mode: required
          trust:
            - name: partners
              ca: [{{ file: ca.pem }}]
              {profile}
        routes:
          - {{ path_prefix: /, backend: app }}
backends:
  app: {{ url: "http://127.0.0.1:3000" }}
"#
    )
}

#[test]
fn check_config_holds_chains_to_the_trust_domains_profile() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_chains(d);
    mtls_testkit::Pki::new()
        .server()
        .issue()
        .write_to(d, "server")
        .unwrap();
    let args = ["--config", "gateway.yaml", "--chain", "no-aki.pem"];

    std::fs::write(d.join("gateway.yaml"), config("profile: strict")).unwrap();
    let run = check(d, &args);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.starts_with("REJECTED"), "{run}");
    assert!(
        run.stdout.contains(
            "the end-entity certificate (subject \"CN=client\") has no authorityKeyIdentifier \
             with a keyIdentifier, which every certificate but a self-issued one MUST carry \
             (RFC 5280 4.2.1.1, profile strict)"
        ),
        "{run}"
    );
    // A leaf with the key identifier passes the strict profile.
    let run = check(d, &["--config", "gateway.yaml", "--chain", "aki.pem"]);
    assert_eq!(run.code, 0, "{run}");

    for profile in ["profile: default", ""] {
        std::fs::write(d.join("gateway.yaml"), config(profile)).unwrap();
        let run = check(d, &args);
        assert_eq!(run.code, 0, "{profile:?}: {run}");
        assert!(run.stdout.starts_with("ACCEPTED"), "{run}");
    }

    // An unknown profile is a usage error naming the field and the accepted values.
    std::fs::write(d.join("gateway.yaml"), config("profile: pedantic")).unwrap();
    let run = check(d, &args);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr
            .contains("profile: unknown variant `pedantic`, expected `default` or `strict`"),
        "{run}"
    );
}

#[test]
fn check_ca_holds_chains_to_the_profile_option() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_chains(d);
    let no_aki = ["--ca", "ca.pem", "--chain", "no-aki.pem"];
    let run = check(d, &[&no_aki[..], &["--profile", "strict"]].concat());
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout
            .contains("has no authorityKeyIdentifier with a keyIdentifier")
            && run.stdout.contains("(RFC 5280 4.2.1.1, profile strict)"),
        "{run}"
    );
    for default in [
        &no_aki[..],
        &[&no_aki[..], &["--profile", "default"]].concat(),
    ] {
        let run = check(d, default);
        assert_eq!(run.code, 0, "{run}");
    }

    // The CA/Browser Forum rules apply to server certificates only.
    let server = [
        "--ca",
        "ca.pem",
        "--chain",
        "any-eku.pem",
        "--purpose",
        "server",
    ];
    let run = check(d, &[&server[..], &["--profile", "strict"]].concat());
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout.contains(
            "the server's end-entity certificate (subject \"CN=client\") asserts \
             anyExtendedKeyUsage, which a server certificate MUST NOT (CA/Browser Forum Baseline \
             Requirements 7.1.2.7.10, profile strict)"
        ),
        "{run}"
    );
    let run = check(d, &server);
    assert_eq!(run.code, 0, "{run}");
    let client = [
        "--ca",
        "ca.pem",
        "--chain",
        "any-eku.pem",
        "--profile",
        "strict",
    ];
    let run = check(d, &client);
    assert_eq!(run.code, 0, "{run}");

    let run = check(d, &[&no_aki[..], &["--profile", "pedantic"]].concat());
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("pedantic"), "{run}");
}
