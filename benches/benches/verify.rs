//! The per-handshake breakdown of the server's work, measured piece by piece (thread CPU time):
//!
//! - `verify/<alg>`: `ClientCertVerifier::verify_client_cert` alone on the client chain (leaf +
//!   intermediate), rustls' raw `WebPkiClientVerifier` vs our `PolicyVerifier`, without and
//!   with the CRLs (root's + a 1,000-entry intermediate CRL); and ours with the client's root
//!   among 1,000 CAs (`ours_bundle1000`: the per-handshake cost that grows with the bundle);
//!   and ours under the trust domain's strict certificate profile (`ours_strict`,
//!   `ours_strict_crl1000`: a returning client's certificates are not checked again).
//! - `per_connection`: what our acceptor and layer add after the handshake (ECDSA chain):
//!   copying the peer chain, `outcome_for_chain`, `PeerIdentity::from_der`, `Policy::decide`
//!   against the 10,000-principal allow-list, and all of it together.
//! - `crypto`: the crypto floor of one full mTLS handshake on the server: the server's
//!   CertificateVerify signature (ECDSA P-256), a signature verification per client algorithm
//!   (the server does three: leaf, intermediate, CertificateVerify), and the X25519 key
//!   exchange (server side: key generation and agreement).

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mtls_benches::cpu;
use mtls_benches::fixtures::{
    ALLOW_LIST, ClientPki, Gateway, SERVER_NAME, allow_list_policy, ca_bundle_pem, label, provider,
};
use mtls_core::PeerIdentity;
use mtls_policy::Context;
use mtls_testkit::{KeyAlg, Pki};
use rustls::SignatureScheme;
use rustls_pki_types::SignatureVerificationAlgorithm;
use rustls_pki_types::{CertificateDer, UnixTime};
use std::hint::black_box;

fn verify(c: &mut Criterion) {
    let now = UnixTime::now();
    // The client's root after 999 others: what a handshake costs that scales with the bundle.
    let other_cas = ca_bundle_pem(999);
    for alg in KeyAlg::ALL {
        let pki = ClientPki::new(alg);
        let chain = pki.chain();
        let (leaf, intermediates) = chain.split_first().expect("chain");
        let mut group = c.benchmark_group(format!("verify/{}", pki.label()));
        let verifiers = [
            ("raw", pki.raw_verifier(false)),
            ("ours", pki.our_verifier(false) as _),
            (
                "ours_bundle1000",
                pki.our_verifier_among(false, &other_cas) as _,
            ),
            ("raw_crl1000", pki.raw_verifier(true)),
            ("ours_crl1000", pki.our_verifier(true) as _),
            ("ours_strict", pki.our_strict_verifier(false) as _),
            ("ours_strict_crl1000", pki.our_strict_verifier(true) as _),
        ];
        for (name, verifier) in &verifiers {
            verifier
                .verify_client_cert(leaf, intermediates, now)
                .expect("verified");
            group.bench_function(*name, |b| {
                b.iter_custom(|iters| {
                    cpu::measure(iters, || {
                        black_box(verifier.verify_client_cert(black_box(leaf), intermediates, now))
                            .expect("verified");
                    })
                })
            });
        }
        group.finish();
    }
}

fn per_connection(c: &mut Criterion) {
    let pki = ClientPki::new(KeyAlg::EcdsaP256);
    let chain = pki.chain();
    let gateway = Gateway {
        verifier: pki.our_verifier(false),
        policy: allow_list_policy(ALLOW_LIST),
    };
    // The handshake leaves the record `outcome_for_chain` finds.
    rustls::server::danger::ClientCertVerifier::verify_client_cert(
        &*gateway.verifier,
        &chain[0],
        &chain[1..],
        UnixTime::now(),
    )
    .expect("verified");
    let verification = gateway.verifier.outcome_for_chain(&chain);
    let identity = PeerIdentity::from_der(&chain[0]).expect("identity");
    assert!(gateway.decide_chain(&chain));

    let mut group = c.benchmark_group("per_connection");
    group.bench_function("copy_peer_chain", |b| {
        b.iter_custom(|iters| {
            cpu::measure(iters, || {
                let copy: Vec<CertificateDer<'static>> = black_box(&chain)
                    .iter()
                    .map(|c| c.clone().into_owned())
                    .collect();
                black_box(copy);
            })
        })
    });
    group.bench_function("outcome_for_chain", |b| {
        b.iter_custom(|iters| {
            cpu::measure(iters, || {
                black_box(gateway.verifier.outcome_for_chain(black_box(&chain)));
            })
        })
    });
    group.bench_function("peer_identity_from_der", |b| {
        b.iter_custom(|iters| {
            cpu::measure(iters, || {
                black_box(PeerIdentity::from_der(black_box(&chain[0])).expect("identity"));
            })
        })
    });
    group.bench_function("decide_allow10k", |b| {
        let ctx = Context::new(443, &verification)
            .identity(&identity)
            .sni(SERVER_NAME)
            .host(SERVER_NAME)
            .path("/orders/1");
        b.iter_custom(|iters| {
            cpu::measure(iters, || {
                black_box(gateway.policy.decide(black_box(&ctx)));
            })
        })
    });
    group.bench_function("all_after_handshake", |b| {
        b.iter_custom(|iters| {
            cpu::measure(iters, || {
                let copy: Vec<CertificateDer<'static>> = black_box(&chain)
                    .iter()
                    .map(|c| c.clone().into_owned())
                    .collect();
                assert!(gateway.decide_chain(&copy));
            })
        })
    });
    group.finish();
}

/// The subjectPublicKey bits of a DER SubjectPublicKeyInfo (what rustls'
/// `SignatureVerificationAlgorithm::verify_signature` takes).
fn spki_key(spki: &[u8]) -> &[u8] {
    // (tag, header length, content length) of the DER element at the start of `der`.
    fn header(der: &[u8]) -> (u8, usize, usize) {
        let first = der[1];
        if first < 0x80 {
            (der[0], 2, usize::from(first))
        } else {
            let n = usize::from(first & 0x7f);
            let len = der[2..2 + n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (der[0], 2 + n, len)
        }
    }
    let (tag, h, _) = header(spki);
    assert_eq!(tag, 0x30, "SPKI is a SEQUENCE");
    let inner = &spki[h..];
    let (tag, h, len) = header(inner);
    assert_eq!(tag, 0x30, "AlgorithmIdentifier");
    let bits = &inner[h + len..];
    let (tag, h, len) = header(bits);
    assert_eq!(tag, 0x03, "subjectPublicKey BIT STRING");
    &bits[h + 1..h + len]
}

fn scheme_of(alg: KeyAlg) -> SignatureScheme {
    match alg {
        KeyAlg::EcdsaP256 => SignatureScheme::ECDSA_NISTP256_SHA256,
        KeyAlg::Rsa2048 => SignatureScheme::RSA_PSS_SHA256,
        _ => SignatureScheme::ED25519,
    }
}

fn crypto(c: &mut Criterion) {
    let provider = provider();
    let message = [0x20u8; 130]; // the size of a TLS 1.3 CertificateVerify input
    let mut group = c.benchmark_group("crypto");

    // The server's CertificateVerify: ECDSA P-256 (the bench server certificate).
    let server_key = provider
        .key_provider
        .load_private_key(Pki::shared().default_server().key_der())
        .expect("server key");
    let signer = server_key
        .choose_scheme(&[SignatureScheme::ECDSA_NISTP256_SHA256])
        .expect("scheme");
    group.bench_function("sign_ecdsa_p256", |b| {
        b.iter_custom(|iters| {
            cpu::measure(iters, || {
                black_box(signer.sign(black_box(&message)).expect("sign"));
            })
        })
    });

    // One signature verification per client algorithm (TLS 1.3 uses PSS for RSA keys;
    // certificates signed by RSA CAs use PKCS#1 v1.5, of the same cost).
    for alg in KeyAlg::ALL {
        let leaf = ClientPki::new(alg).leaf;
        let key = provider
            .key_provider
            .load_private_key(leaf.key_der())
            .expect("client key");
        let scheme = scheme_of(alg);
        let signature = key
            .choose_scheme(&[scheme])
            .expect("scheme")
            .sign(&message)
            .expect("sign");
        let spki = key.public_key().expect("public key");
        let public = spki_key(spki.as_ref()).to_vec();
        let verifier: &dyn SignatureVerificationAlgorithm = provider
            .signature_verification_algorithms
            .mapping
            .iter()
            .find(|(s, _)| *s == scheme)
            .map(|(_, algs)| algs[0])
            .expect("verification algorithm");
        verifier
            .verify_signature(&public, &message, &signature)
            .expect("valid signature");
        group.bench_function(format!("verify_{}", label(alg)), |b| {
            b.iter_custom(|iters| {
                cpu::measure(iters, || {
                    verifier
                        .verify_signature(black_box(&public), &message, &signature)
                        .expect("valid");
                })
            })
        });
    }

    // X25519, server side: a key pair, then the agreement with the client's share.
    let x25519 = provider
        .kx_groups
        .iter()
        .find(|g| g.name() == rustls::NamedGroup::X25519)
        .expect("X25519");
    let client_share = x25519.start().expect("client share");
    let client_pub = client_share.pub_key().to_vec();
    group.bench_function("x25519_server", |b| {
        b.iter_custom(|iters| {
            cpu::measure(iters, || {
                black_box(
                    x25519
                        .start_and_complete(black_box(&client_pub))
                        .expect("kx"),
                );
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = verify, per_connection, crypto
}
criterion_main!(benches);
