//! The bodies of the `mtls` fuzz targets, one function per target, shared by the cargo-fuzz
//! binaries in `fuzz/fuzz_targets/` and by this crate's `cargo test`, which replays every file of
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` on stable Rust.
//!
//! Every function takes arbitrary bytes and must never panic: a panic is a finding. Where a
//! parser has a property beyond "no panic" (XFCC round-trips, identity headers never survive
//! stripping, a policy read back from its own JSON is the same policy), the function asserts it.
//!
//! | target | what it feeds |
//! |---|---|
//! | `pem_chain` | [`CertificateChain::from_bytes`] |
//! | `private_key` | [`PrivateKey::from_bytes`] |
//! | `ca_bundle` | [`CaBundle::from_bytes`], then a trust domain built on it (anchor profile checks) |
//! | `crl_set` | [`CrlSet::from_bytes`], then the revocation index of a trust domain (our own DER reads) |
//! | `peer_identity` | [`PeerIdentity::from_der`] and the policy verifier's chain check on the same DER |
//! | `secret_map` | [`SecretMaterial::from_map`]: known keys with fuzzed values |
//! | `policy_yaml` / `policy_json` | [`Policy::from_yaml`] / [`Policy::from_json`] |
//! | `xfcc` | [`parse_xfcc`](mtls_tower::layer::parse_xfcc), round-tripped through `format_xfcc` |
//! | `forward_headers` | identity-header stripping and forwarding over arbitrary header maps |
//! | `client_hello` | the PERMISSIVE first-byte sniff, rustls' `Acceptor` and a server connection using our verifier, fed in fuzzed segment sizes |
//! | `plaintext_http` | the PERMISSIVE plaintext path: hyper's HTTP/1 and HTTP/2 server with the `MtlsLayer` |
//! | `kube_manifests` | [`mtls_kube::parse_manifests`] and [`mtls_kube::translate`] |
//! | `chain_veto` | a chain built from the input (CA flags, keyUsage, name constraints, policy extensions, validity, self-issued and 7.1-equal names) through our verifier and rustls-webpki alone; ours accepts what webpki refuses only for a refusal [`mtls_verify::webpki_refusal_overrulable`] lists |
//! | `ocsp_response` | [`OcspVerifier::verify`](mtls_verify::ocsp::OcspVerifier::verify): the OCSP response parser and every check after it |

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use mtls_core::{CaBundle, CertificateChain, CrlSet, PeerIdentity, PrivateKey, SecretMaterial};
use mtls_policy::{PeerVerification, Policy};
use mtls_tower::{DomainOptions, LoadedTrustDomain, PolicyVerifier};
use rustls_pki_types::{CertificateDer, UnixTime};

mod net;
mod ocsp;
mod veto;

pub use net::{PLAINTEXT_POLICY, TLS_HANDSHAKE_RECORD, client_hello, plaintext_http};
pub use ocsp::{OCSP_SEED_NONCE, join_ocsp_input, ocsp_response, split_ocsp_input};
pub use veto::{CHAIN_VETO_SEEDS, Verdict, chain_veto, chain_veto_verdict};

/// A fuzz target body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz_targets/<name>.rs` and corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("pem_chain", pem_chain),
    ("private_key", private_key),
    ("ca_bundle", ca_bundle),
    ("crl_set", crl_set),
    ("peer_identity", peer_identity),
    ("secret_map", secret_map),
    ("policy_yaml", policy_yaml),
    ("policy_json", policy_json),
    ("xfcc", xfcc),
    ("forward_headers", forward_headers),
    ("client_hello", client_hello),
    ("plaintext_http", plaintext_http),
    ("kube_manifests", kube_manifests),
    ("ocsp_response", ocsp_response),
    ("chain_veto", chain_veto),
];

/// The PKI the targets that need one share (generated once per process).
pub(crate) fn pki() -> &'static mtls_testkit::Pki {
    mtls_testkit::Pki::shared()
}

/// A verifier trusting [`pki`]'s root, with its CRLs (nothing revoked).
pub(crate) fn verifier() -> &'static Arc<PolicyVerifier> {
    static VERIFIER: OnceLock<Arc<PolicyVerifier>> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let provider = mtls_verify::crypto::default_provider();
        let crls = pki().crls().build();
        let crls = CrlSet::from_bytes(crls.pem().as_bytes(), "crls").expect("testkit CRLs load");
        let domain = LoadedTrustDomain::new(
            "fuzz",
            root_bundle().clone(),
            Some(&crls),
            DomainOptions::default(),
            &provider,
        )
        .expect("testkit trust domain loads");
        Arc::new(
            PolicyVerifier::builder(provider)
                .trust_domain(domain)
                .build()
                .expect("verifier builds"),
        )
    })
}

fn root_bundle() -> &'static CaBundle {
    static BUNDLE: OnceLock<CaBundle> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        CaBundle::from_bytes(pki().root().cert_pem().as_bytes(), "root").expect("root loads")
    })
}

/// Certificate chains (PEM blocks or DER).
pub fn pem_chain(data: &[u8]) {
    if let Ok(chain) = CertificateChain::from_bytes(data, "fuzz") {
        assert!(!chain.as_slice().is_empty(), "a loaded chain has a leaf");
        let _ = chain.leaf();
        let _ = chain.not_after();
    }
}

/// Private keys (PKCS#8, PKCS#1, SEC1; PEM or DER).
pub fn private_key(data: &[u8]) {
    if let Ok(key) = PrivateKey::from_bytes(data, "fuzz") {
        let _ = key.format().name();
    }
}

/// CA bundles, then a trust domain over the bundle (which checks each CA's profile).
pub fn ca_bundle(data: &[u8]) {
    let Ok(bundle) = CaBundle::from_bytes(data, "fuzz") else {
        return;
    };
    assert!(!bundle.is_empty(), "an empty bundle must be an error");
    for ca in bundle.certificates() {
        let _ = (ca.subject(), ca.not_after(), ca.trust_anchor());
    }
    let _ = bundle.earliest_not_after();
    let provider = mtls_verify::crypto::default_provider();
    let _ = LoadedTrustDomain::new("fuzz", bundle, None, DomainOptions::default(), &provider);
}

/// CRLs, then the revocation index of a trust domain holding the testkit root (the index reads
/// CRL DER itself: signed parts, issuingDistributionPoint, cRLNumber).
pub fn crl_set(data: &[u8]) {
    let Ok(crls) = CrlSet::from_bytes(data, "fuzz") else {
        return;
    };
    for crl in crls.crls() {
        let _ = (crl.issuer(), crl.this_update(), crl.next_update());
        let _ = crl.revoked_serials().len();
    }
    let _ = crls.earliest_next_update();
    let provider = mtls_verify::crypto::default_provider();
    let _ = LoadedTrustDomain::new(
        "fuzz",
        root_bundle().clone(),
        Some(&crls),
        DomainOptions::default(),
        &provider,
    );
}

/// A DER certificate as a peer: its identity, and the verifier's verdict on it as a leaf
/// (which parses it with x509-parser for the profile checks, and with webpki).
pub fn peer_identity(data: &[u8]) {
    let der = CertificateDer::from(data);
    if let Ok(id) = PeerIdentity::from_der(&der) {
        let _ = id.to_string();
        let _ = (id.subject(), id.common_name(), id.issuer(), id.serial_hex());
        let _ = (id.not_before(), id.not_after(), id.other_san_count());
        let _ = (id.dns_names(), id.uris(), id.ip_addresses(), id.emails());
        let _ = (id.spiffe_id(), id.spiffe_error());
        let _ = (id.cert_sha256_hex(), id.spki_sha256_base64());
    }
    let verification = verifier().verify_chain(&der, &[], UnixTime::now());
    // A stranger's bytes must never verify against the testkit root: only the testkit CAs can
    // sign, and the fuzzer has no key.
    assert!(
        !matches!(verification, PeerVerification::Verified { .. }) || pki_issued(data),
        "fuzzed DER verified: {verification:?}"
    );
    // And as a chain of two: the same DER as leaf and as intermediate.
    let _ = verifier().verify_chain(&der, std::slice::from_ref(&der), UnixTime::now());
    // Under the testkit intermediate, which the verifier remembers once a good chain through
    // it verified: the fuzzed leaf takes the verification shortcut (`tls/chain.rs`), which
    // must refuse what the full path build refuses.
    let intermediate = std::slice::from_ref(pki().intermediate().cert_der());
    let good = pki().default_client();
    assert!(
        matches!(
            verifier().verify_chain(good.cert_der(), intermediate, UnixTime::now()),
            PeerVerification::Verified { .. }
        ),
        "the testkit's own client chain verifies"
    );
    let verification = verifier().verify_chain(&der, intermediate, UnixTime::now());
    assert!(
        !matches!(verification, PeerVerification::Verified { .. }) || pki_issued(data),
        "fuzzed DER verified under the remembered intermediate: {verification:?}"
    );
}

/// Whether `der` is a certificate the testkit issued (a corpus seed may be one).
fn pki_issued(der: &[u8]) -> bool {
    let Ok(id) = PeerIdentity::from_der(&CertificateDer::from(der)) else {
        return false;
    };
    id.issuer().contains("mtls-testkit")
}

/// The keys [`SecretMaterial::from_map`] knows, and one it must ignore.
pub const SECRET_KEYS: [&str; 9] = [
    "tls.crt", "tls.key", "ca.crt", "ca.crl", "cert", "key", "cacert", "crl", "other",
];

/// A secret: byte 0 and 1 pick keys from [`SECRET_KEYS`] (one bit each); the rest is their
/// values in that order, separated by NUL bytes (PEM holds none).
pub fn secret_map(data: &[u8]) {
    let Some((mask, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let mask = u16::from_le_bytes(*mask);
    let mut values = rest.split(|b| *b == 0);
    let mut map = BTreeMap::new();
    for (i, key) in SECRET_KEYS.iter().enumerate() {
        if mask & (1 << i) != 0 {
            map.insert(*key, values.next().unwrap_or_default());
        }
    }
    if let Ok(secret) = SecretMaterial::from_map("fuzz/secret", &map) {
        let _ = (secret.layout(), secret.chain(), secret.ca(), secret.crls());
        if let Ok(Some(credential)) = secret.server_credential() {
            let _ = mtls_verify::crypto::certified_key(
                &credential,
                &mtls_verify::crypto::default_provider(),
            );
        }
    }
}

/// Policy YAML; a policy that loads must load again from its own JSON, unchanged.
pub fn policy_yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(policy) = Policy::from_yaml(text) {
        round_trip(&policy);
    }
}

/// Policy JSON; a policy that loads must load again from its own JSON, unchanged.
pub fn policy_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(policy) = Policy::from_json(text) {
        round_trip(&policy);
    }
}

fn round_trip(policy: &Policy) {
    let json = serde_json::to_string(policy.config()).expect("a policy config serializes");
    let again = Policy::from_json(&json)
        .unwrap_or_else(|e| panic!("a loaded policy does not load from its JSON: {e}\n{json}"));
    assert_eq!(again.config(), policy.config(), "{json}");
}

/// `x-forwarded-client-cert`: parse; what parses formats to a value that parses to the same.
pub fn xfcc(data: &[u8]) {
    use mtls_tower::layer::{format_xfcc, parse_xfcc};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(elements) = parse_xfcc(text) {
        let formatted = format_xfcc(&elements);
        let again = parse_xfcc(&formatted)
            .unwrap_or_else(|e| panic!("{formatted:?} (from {text:?}) does not parse: {e}"));
        assert_eq!(again, elements, "{text:?} -> {formatted:?}");
    }
}

/// Header maps built from the input (lines `name: value`), run through the layer's forwarding
/// with every format on: afterwards no inbound identity header survives, and the identity
/// headers present are exactly the ones set for the peer.
pub fn forward_headers(data: &[u8]) {
    use http::{HeaderMap, HeaderName, HeaderValue};
    use mtls_tower::layer::{ForwardIdentity, XfccConfig, is_identity_header};

    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut headers = HeaderMap::new();
    for line in rest.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    let inbound = headers.clone();
    let leaf = pki().default_client();
    let identity = PeerIdentity::from_der(leaf.cert_der()).expect("testkit client parses");
    let chain = leaf.chain_der();
    let peer = (flags & 1 != 0).then_some(&identity);
    let verification = if flags & 2 != 0 {
        PeerVerification::verified("fuzz")
    } else {
        PeerVerification::NoCertificate
    };
    let forward = ForwardIdentity::none()
        .xfcc(
            XfccConfig::default()
                .by("spiffe://fuzz/gw")
                .cert(true)
                .chain(true),
        )
        .rfc9440()
        .ssl_client();
    forward.apply(&mut headers, peer, &chain, &verification);

    let mut reference = HeaderMap::new();
    forward.apply(&mut reference, peer, &chain, &verification);
    for (name, value) in &headers {
        if is_identity_header(name) {
            assert!(
                reference.get_all(name).iter().any(|v| v == value),
                "inbound identity header survived: {name}: {value:?}"
            );
        }
    }
    for (name, _) in &reference {
        assert_eq!(
            headers.get_all(name).iter().count(),
            reference.get_all(name).iter().count(),
            "{name} set differently when the client sent identity headers"
        );
    }
    // Every other header is kept as sent.
    for (name, value) in &inbound {
        if !is_identity_header(name) {
            assert!(
                headers.get_all(name).iter().any(|v| v == value),
                "{name} lost"
            );
        }
    }
}

/// Kubernetes manifests (YAML or JSON documents), translated into a gateway configuration.
pub fn kube_manifests(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(objects) = mtls_kube::parse_manifests(text, "fuzz.yaml") else {
        return;
    };
    let translation = mtls_kube::translate(&objects, &mtls_kube::Options::default());
    let _ = translation.config.to_yaml();
}
