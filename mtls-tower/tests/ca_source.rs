//! CA sources of upstream TLS settings are read by the reader trust domains use
//! (`mtls_verify::read_ca_source`): the same sources, the same errors.

use mtls_policy::{SecretRef, TrustSource};
use mtls_testkit::Pki;
use mtls_tower::load_ca_bundle;

fn no_secrets(secret: &SecretRef) -> Result<Vec<u8>, mtls_verify::ResolveError> {
    Err(format!("no secret {:?} in this test", secret.name).into())
}

#[test]
fn inline_pem_and_files_load() {
    let pem = Pki::shared().root().cert_pem();
    let inline = load_ca_bundle(&TrustSource::Pem(pem.clone()), &no_secrets).unwrap();
    assert_eq!(inline.len(), 1);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, &pem).unwrap();
    let from_file = load_ca_bundle(&TrustSource::File(path), &no_secrets).unwrap();
    assert_eq!(from_file.len(), 1);
}

#[test]
fn a_secret_is_read_through_the_resolver() {
    let pem = Pki::shared().root().cert_pem();
    let resolve = |secret: &SecretRef| -> Result<Vec<u8>, mtls_verify::ResolveError> {
        assert_eq!(secret.key.as_deref(), Some("ca.crt"));
        Ok(pem.clone().into_bytes())
    };
    let source = TrustSource::Secret(SecretRef::new(
        "backend-ca",
        Some("web".into()),
        Some("ca.crt".into()),
    ));
    assert_eq!(load_ca_bundle(&source, &resolve).unwrap().len(), 1);
}

#[test]
fn errors_name_the_file_or_the_secret() {
    let missing = TrustSource::File("/nonexistent/backend-ca.pem".into());
    let err = load_ca_bundle(&missing, &no_secrets).unwrap_err();
    assert!(err.contains("/nonexistent/backend-ca.pem"), "{err}");
    // The same words as the shared reader's.
    let shared = mtls_verify::read_ca_source(&missing, &no_secrets).unwrap_err();
    assert_eq!(err, shared.to_string());

    let secret = TrustSource::Secret(SecretRef::new(
        "backend-ca",
        Some("web".into()),
        Some("ca.crt".into()),
    ));
    let err = load_ca_bundle(&secret, &no_secrets).unwrap_err();
    assert_eq!(
        err,
        "secret \"web/backend-ca:ca.crt\": no secret \"backend-ca\" in this test"
    );

    let not_pem = TrustSource::Pem("not a certificate".into());
    let err = load_ca_bundle(&not_pem, &no_secrets).unwrap_err();
    assert!(err.contains("inline CA PEM"), "{err}");
}
