//! No loader panics, whatever the input: random bytes and mutated valid PEM/DER.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use mtls_core::{CaBundle, CertificateChain, CrlSet, PrivateKey, SecretMaterial, ServerCredential};
use mtls_testkit::{KeyAlg, Pki};
use proptest::prelude::*;
use rustls_pki_types::PrivateKeyDer;

/// Valid inputs to mutate: a chain, a key, a bundle, CRLs, in PEM and DER.
fn seeds() -> &'static Vec<Vec<u8>> {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let pki = Pki::shared();
        let server = pki.default_server();
        let crls = pki.crls().revoke(pki.default_client()).build();
        vec![
            server.chain_pem().into_bytes(),
            server.key_pem().into_bytes(),
            server.key().sec1_pem().unwrap_or_default().into_bytes(),
            format!("{}{}", pki.root().cert_pem(), pki.intermediate().cert_pem()).into_bytes(),
            crls.pem().into_bytes(),
            server.cert_der().to_vec(),
            crls.intermediate().der().to_vec(),
            server.key().pkcs8_der().secret_pkcs8_der().to_vec(),
        ]
    })
}

/// Every algorithm's key in every encoding, as DER, with the chain of its certificate: the
/// inputs of the key-to-leaf pairing check.
fn key_seeds() -> &'static Vec<(PrivateKeyDer<'static>, CertificateChain)> {
    static SEEDS: OnceLock<Vec<(PrivateKeyDer<'static>, CertificateChain)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds = Vec::new();
        for alg in KeyAlg::ALL {
            let server = Pki::shared_with(alg).default_server();
            let chain = CertificateChain::from_der(server.chain_der()).expect("chain");
            let key = server.key();
            let mut keys = vec![key.der()];
            keys.extend(key.pkcs1_der().map(PrivateKeyDer::Pkcs1));
            keys.extend(key.sec1_der().map(PrivateKeyDer::Sec1));
            seeds.extend(keys.into_iter().map(|k| (k, chain.clone())));
        }
        seeds
    })
}

/// `der` mutated, in the container `like` has.
fn remade(like: &PrivateKeyDer<'_>, der: Vec<u8>) -> PrivateKeyDer<'static> {
    match like {
        PrivateKeyDer::Pkcs1(_) => PrivateKeyDer::Pkcs1(der.into()),
        PrivateKeyDer::Sec1(_) => PrivateKeyDer::Sec1(der.into()),
        _ => PrivateKeyDer::Pkcs8(der.into()),
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
}

fn mutate(mut input: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if input.is_empty() {
            break;
        }
        let len = input.len();
        match m {
            Mutation::Flip(i, b) => input[i % len] ^= b,
            Mutation::Truncate(i) => input.truncate(i % len),
            Mutation::Insert(i, v) => {
                let at = i % len;
                input.splice(at..at, v.iter().copied());
            }
            Mutation::Remove(i, n) => {
                let at = i % len;
                let end = (at + n).min(len);
                input.drain(at..end);
            }
        }
    }
    input
}

/// Runs every loader on `input`; each must return, never panic.
fn load_everything(input: &[u8]) {
    let _ = CertificateChain::from_bytes(input, "fuzz");
    let _ = PrivateKey::from_bytes(input, "fuzz");
    let _ = CaBundle::from_bytes(input, "fuzz");
    let _ = CrlSet::from_bytes(input, "fuzz");
    let _ = mtls_core::PeerIdentity::from_der(&input.to_vec().into());
    if let (Ok(chain), Ok(key)) = (
        CertificateChain::from_bytes(input, "fuzz"),
        PrivateKey::from_bytes(input, "fuzz"),
    ) {
        let _ = ServerCredential::new(chain, key);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..2048)) {
        load_everything(&input);
    }

    #[test]
    fn random_pem_framing_never_panics(
        label in "[A-Z0-9 ]{0,20}",
        body in "[A-Za-z0-9+/=\\n-]{0,400}",
        der_start in any::<bool>(),
    ) {
        let body = if der_start { format!("MII{body}") } else { body };
        let input = format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n");
        load_everything(input.as_bytes());
    }

    #[test]
    fn mutated_valid_material_never_panics(
        seed in 0usize..8,
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let seeds = seeds();
        let input = mutate(seeds[seed % seeds.len()].clone(), &mutations);
        load_everything(&input);
    }

    #[test]
    fn mutated_keys_paired_with_a_real_leaf_never_panic(
        seed in 0usize..16,
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let (key, chain) = &key_seeds()[seed % key_seeds().len()];
        let der = mutate(key.secret_der().to_vec(), &mutations);
        let _ = ServerCredential::new(chain.clone(), PrivateKey::from(remade(key, der)));
    }

    #[test]
    fn mutated_secrets_never_panic(
        keys in prop::collection::vec(
            prop::sample::select(vec!["tls.crt", "tls.key", "ca.crt", "ca.crl", "cert", "key", "cacert", "crl", "other"]),
            0..5,
        ),
        seed in 0usize..8,
        mutations in prop::collection::vec(mutation(), 0..3),
    ) {
        let seeds = seeds();
        let mut data = BTreeMap::new();
        for (i, key) in keys.iter().enumerate() {
            let value = mutate(seeds[(seed + i) % seeds.len()].clone(), &mutations);
            data.insert(key.to_string(), value);
        }
        if let Ok(secret) = SecretMaterial::from_map("fuzz/secret", &data) {
            let _ = secret.server_credential();
        }
    }
}
