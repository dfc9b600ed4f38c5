//! Identity headers as emitted, checked against values computed independently (OpenSSL), and
//! the XFCC parser: round trip and no panic.
#![cfg(feature = "layer")]

use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use mtls_core::PeerIdentity;
use mtls_policy::{PeerVerification, VerifyError};
use mtls_testkit::{IssuedBy, Pki};
use mtls_tower::layer::{
    ForwardIdentity, XfccConfig, XfccElement, format_xfcc, parse_xfcc, strip_identity_headers,
};
use proptest::prelude::*;

/// Runs `openssl x509` on a DER certificate.
fn openssl_x509(der: &[u8], args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cert.der");
    std::fs::write(&path, der).expect("write");
    let out = Command::new("openssl")
        .args(["x509", "-inform", "DER", "-in"])
        .arg(&path)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn openssl_sha256_hex(der: &[u8]) -> String {
    let out = openssl_x509(der, &["-noout", "-fingerprint", "-sha256"]);
    let (_, hex) = out.trim().split_once('=').expect("Fingerprint=");
    hex.replace(':', "").to_ascii_lowercase()
}

fn openssl_subject(der: &[u8]) -> String {
    let out = openssl_x509(der, &["-noout", "-subject", "-nameopt", "RFC2253"]);
    out.trim()
        .strip_prefix("subject=")
        .expect("subject=")
        .to_owned()
}

/// Envoy's URL encoding of a PEM, as its older releases wrote it: a fixed replacement table.
fn envoy_url_encode(pem: &str) -> String {
    pem.replace('%', "%25")
        .replace('\n', "%0A")
        .replace(' ', "%20")
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

const GATEWAY: &str = "spiffe://example.org/ns/gw/sa/gateway";
const WEB: &str = "spiffe://example.org/ns/prod/sa/web";

fn headers_for(
    forward: &ForwardIdentity,
    id: Option<&PeerIdentity>,
    chain: &[rustls_pki_types::CertificateDer<'_>],
    v: &PeerVerification,
) -> HeaderMap {
    let mut h = HeaderMap::new();
    forward.apply(&mut h, id, chain, v);
    h
}

#[test]
fn xfcc_exact_string_for_a_known_certificate() {
    let leaf = Pki::shared()
        .client()
        .uri(WEB)
        .dns("web.example.com")
        .dns("web.internal")
        .issue();
    let id = PeerIdentity::from_der(leaf.cert_der()).expect("identity");
    let der = leaf.cert_der().as_ref();
    let hash = openssl_sha256_hex(der);
    let subject = openssl_subject(der);
    assert_eq!(
        subject, "O=mtls-testkit,CN=client",
        "RFC 2253 order: last RDN first"
    );

    let forward = ForwardIdentity::none().xfcc(XfccConfig::default().by(GATEWAY));
    let h = headers_for(
        &forward,
        Some(&id),
        &leaf.chain_der(),
        &PeerVerification::verified("test"),
    );
    let want = format!(
        "By={GATEWAY};Hash={hash};Subject=\"{subject}\";URI={WEB};DNS=web.example.com;DNS=web.internal"
    );
    assert_eq!(h["x-forwarded-client-cert"], want.as_str());

    // Cert and Chain: OpenSSL's PEM, URL-encoded as Envoy does.
    let forward = ForwardIdentity::none().xfcc(
        XfccConfig::default()
            .subject(false)
            .uri(false)
            .dns(false)
            .cert(true)
            .chain(true),
    );
    let h = headers_for(
        &forward,
        Some(&id),
        &leaf.chain_der(),
        &PeerVerification::verified("test"),
    );
    let cert_pem = openssl_x509(der, &["-outform", "PEM"]);
    let chain_pem: String = leaf
        .chain_der()
        .iter()
        .map(|c| openssl_x509(c, &["-outform", "PEM"]))
        .collect();
    assert_eq!(leaf.chain_der().len(), 2, "leaf and intermediate");
    let want = format!(
        "Hash={hash};Cert=\"{}\";Chain=\"{}\"",
        envoy_url_encode(&cert_pem),
        envoy_url_encode(&chain_pem)
    );
    assert_eq!(h["x-forwarded-client-cert"], want.as_str());
    let parsed = parse_xfcc(&want).expect("parses");
    assert_eq!(parsed[0].cert.as_deref(), Some(cert_pem.as_str()));
    assert_eq!(parsed[0].chain.as_deref(), Some(chain_pem.as_str()));
}

#[test]
fn xfcc_without_sans_writes_empty_uri_like_envoy() {
    let leaf = Pki::shared().client().issue();
    let id = PeerIdentity::from_der(leaf.cert_der()).expect("identity");
    let hash = openssl_sha256_hex(leaf.cert_der());
    let subject = openssl_subject(leaf.cert_der());
    let h = headers_for(
        &ForwardIdentity::default(),
        Some(&id),
        &[],
        &PeerVerification::verified("test"),
    );
    assert_eq!(
        h["x-forwarded-client-cert"],
        format!("Hash={hash};Subject=\"{subject}\";URI=").as_str()
    );
}

#[test]
fn rfc9440_headers_decode_back_to_the_der() {
    let leaf = Pki::shared().client().uri(WEB).issue();
    let id = PeerIdentity::from_der(leaf.cert_der()).expect("identity");
    let chain = leaf.chain_der();
    let h = headers_for(
        &ForwardIdentity::none().rfc9440(),
        Some(&id),
        &chain,
        &PeerVerification::verified("test"),
    );
    assert!(!h.contains_key("x-forwarded-client-cert"));
    let cert = h["client-cert"].to_str().expect("ascii");
    let b64 = cert
        .strip_prefix(':')
        .and_then(|s| s.strip_suffix(':'))
        .expect(":...:");
    assert_eq!(
        STANDARD.decode(b64).expect("base64"),
        leaf.cert_der().as_ref()
    );
    // Intermediates only (RFC 9440 section 2.3): here, the one intermediate.
    let chain_header = h["client-cert-chain"].to_str().expect("ascii");
    let items: Vec<Vec<u8>> = chain_header
        .split(", ")
        .map(|i| STANDARD.decode(i.trim_matches(':')).expect("base64"))
        .collect();
    assert_eq!(items, [Pki::shared().intermediate().cert_der().to_vec()]);

    // Issued by the root directly: no intermediate, no chain header.
    let direct = Pki::shared().client().issued_by(IssuedBy::Root).issue();
    let id = PeerIdentity::from_der(direct.cert_der()).expect("identity");
    let h = headers_for(
        &ForwardIdentity::none().rfc9440(),
        Some(&id),
        &direct.chain_der(),
        &PeerVerification::verified("test"),
    );
    assert!(h.contains_key("client-cert"));
    assert!(!h.contains_key("client-cert-chain"));

    // A chain that does not start with the identity's certificate is not forwarded.
    let h = headers_for(
        &ForwardIdentity::none().rfc9440(),
        Some(&id),
        &chain,
        &PeerVerification::verified("test"),
    );
    assert!(!h.contains_key("client-cert-chain"));
}

#[test]
fn ssl_client_headers() {
    let leaf = Pki::shared().client().uri(WEB).issue();
    let id = PeerIdentity::from_der(leaf.cert_der()).expect("identity");
    let f = ForwardIdentity::none().ssl_client();
    let h = headers_for(&f, Some(&id), &[], &PeerVerification::verified("test"));
    assert_eq!(h["ssl-client-verify"], "SUCCESS");
    assert_eq!(
        h["ssl-client-subject-dn"],
        openssl_subject(leaf.cert_der()).as_str()
    );
    let issuer = openssl_x509(
        leaf.cert_der(),
        &["-noout", "-issuer", "-nameopt", "RFC2253"],
    );
    assert_eq!(
        h["ssl-client-issuer-dn"],
        issuer.trim().strip_prefix("issuer=").expect("issuer=")
    );
    let failed = PeerVerification::failed(None, VerifyError::Revoked { reason: None });
    assert_eq!(
        headers_for(&f, Some(&id), &[], &failed)["ssl-client-verify"],
        "FAILED:revoked"
    );
    let h = headers_for(&f, None, &[], &PeerVerification::Plaintext);
    assert_eq!(h["ssl-client-verify"], "NONE");
    assert!(!h.contains_key("ssl-client-subject-dn"));
}

#[test]
fn stripping_is_case_and_underscore_insensitive() {
    let mut h = HeaderMap::new();
    for name in [
        "X-Forwarded-Client-Cert",
        "CLIENT-CERT",
        "client-cert-chain",
        "Ssl-Client-Verify",
        "ssl-client-anything-else",
        "X-SSL-Client-Cert",
        "ssl_client_s_dn",
        "X_Forwarded_Client_Cert",
        "keep-me",
        "client-certificate-note",
    ] {
        h.insert(
            http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            "x".parse().expect("value"),
        );
    }
    strip_identity_headers(&mut h);
    let mut left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
    left.sort_unstable();
    assert_eq!(left, ["client-certificate-note", "keep-me"]);
}

fn element() -> impl Strategy<Value = XfccElement> {
    let s = || any::<String>();
    let known = ["by", "hash", "cert", "chain", "subject", "uri", "dns"];
    let key = "[A-Za-z][A-Za-z0-9-]{0,8}".prop_filter("unknown key", move |k| {
        !known.contains(&k.to_ascii_lowercase().as_str())
    });
    (
        prop::collection::vec(s(), 0..3),
        prop::option::of(s()),
        prop::option::of(s()),
        prop::option::of(s()),
        prop::option::of(s()),
        prop::collection::vec(s(), 0..3),
        prop::collection::vec(s(), 0..3),
        prop::collection::vec((key, s()), 0..3),
    )
        .prop_map(|(by, hash, cert, chain, subject, uri, dns, other)| {
            let mut e = XfccElement::default();
            (
                e.by, e.hash, e.cert, e.chain, e.subject, e.uri, e.dns, e.other,
            ) = (by, hash, cert, chain, subject, uri, dns, other);
            e
        })
        .prop_filter("non-empty element", |e| !e.is_empty())
}

/// Text made mostly of XFCC's own syntax, to reach the parser's corners.
fn xfcc_like() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("=".to_owned()),
            Just(";".to_owned()),
            Just(",".to_owned()),
            Just("\"".to_owned()),
            Just("\\".to_owned()),
            Just(" ".to_owned()),
            Just("%".to_owned()),
            Just("Hash".to_owned()),
            Just("Cert".to_owned()),
            Just("URI".to_owned()),
            "[a-z0-9%é]{1,3}",
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn format_then_parse_round_trips(elements in prop::collection::vec(element(), 0..4)) {
        let header = format_xfcc(&elements);
        prop_assert_eq!(parse_xfcc(&header), Ok(elements));
    }

    #[test]
    fn parse_never_panics_and_is_stable(input in prop_oneof![any::<String>(), xfcc_like()]) {
        if let Ok(elements) = parse_xfcc(&input) {
            let again = parse_xfcc(&format_xfcc(&elements));
            prop_assert_eq!(again, Ok(elements));
        }
    }
}
