//! The cost of loading trust material (thread CPU time):
//!
//! - `material/parse_bundle_150`: `CaBundle::from_bytes` on a 150-certificate PEM bundle (two
//!   thirds RSA-2048, one third ECDSA P-256 CA certificates, like public bundles).
//! - `material/reload_1000`: what a reload does with a 1,000-CA bundle: parse the bundle,
//!   `LoadedTrustDomain::new`, `PolicyVerifier` build, the server credential, and a
//!   `TlsSnapshot` with one host; then its pieces: `parse_bundle_1000`, `trust_domain_1000`
//!   (anchors from an already parsed bundle), `verifier_1000` (the builder, from a loaded
//!   domain), `snapshot_1_host` (credential and `TlsSnapshot`, from a built verifier).

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mtls_benches::cpu;
use mtls_benches::fixtures::{SERVER_NAME, TRUST_DOMAIN, ca_bundle_pem, provider};
use mtls_core::{CaBundle, CertificateChain, PrivateKey, ServerCredential};
use mtls_testkit::Pki;
use mtls_tower::tls::{DomainOptions, HostTls, LoadedTrustDomain, PolicyVerifier, TlsSnapshot};
use rustls::sign::CertifiedKey;
use std::hint::black_box;

fn credential() -> Arc<CertifiedKey> {
    let server = Pki::shared().default_server();
    let chain =
        CertificateChain::from_bytes(server.chain_pem().as_bytes(), "tls.crt").expect("chain");
    let key = PrivateKey::from_bytes(server.key_pem().as_bytes(), "tls.key").expect("key");
    let credential = ServerCredential::new(chain, key).expect("credential");
    mtls_verify::crypto::certified_key(&credential, &provider()).expect("certified key")
}

fn trust_domain(bundle: CaBundle) -> LoadedTrustDomain {
    LoadedTrustDomain::new(
        TRUST_DOMAIN,
        bundle,
        None,
        DomainOptions::default(),
        &provider(),
    )
    .expect("trust domain")
}

fn verifier(domain: Arc<LoadedTrustDomain>) -> Arc<PolicyVerifier> {
    Arc::new(
        PolicyVerifier::builder(provider())
            .trust_domain(domain)
            .build()
            .expect("verifier"),
    )
}

fn snapshot(verifier: Arc<PolicyVerifier>) -> TlsSnapshot {
    TlsSnapshot::builder(provider())
        .host(HostTls::new([SERVER_NAME], credential()).client_verifier(verifier))
        .build()
        .expect("snapshot")
}

fn bench(c: &mut Criterion) {
    let pem150 = ca_bundle_pem(150);
    let pem1000 = ca_bundle_pem(1000);
    let mut group = c.benchmark_group("material");

    group.bench_function("parse_bundle_150", |b| {
        b.iter_custom(|iters| {
            cpu::measure(iters, || {
                let bundle =
                    CaBundle::from_bytes(black_box(pem150.as_bytes()), "ca.pem").expect("bundle");
                assert_eq!(bundle.len(), 150);
            })
        })
    });

    group.bench_function("reload_1000", |b| {
        b.iter_custom(|iters| {
            cpu::measure(iters, || {
                let bundle =
                    CaBundle::from_bytes(black_box(pem1000.as_bytes()), "ca.pem").expect("bundle");
                black_box(snapshot(verifier(Arc::new(trust_domain(bundle)))));
            })
        })
    });

    group.bench_function("parse_bundle_1000", |b| {
        b.iter_custom(|iters| {
            cpu::measure(iters, || {
                let bundle =
                    CaBundle::from_bytes(black_box(pem1000.as_bytes()), "ca.pem").expect("bundle");
                assert_eq!(bundle.len(), 1000);
            })
        })
    });

    let bundle = CaBundle::from_bytes(pem1000.as_bytes(), "ca.pem").expect("bundle");
    group.bench_function("trust_domain_1000", |b| {
        b.iter_custom(|iters| {
            cpu::measure(iters, || {
                black_box(trust_domain(bundle.clone()));
            })
        })
    });

    let domain = Arc::new(trust_domain(bundle));
    group.bench_function("verifier_1000", |b| {
        b.iter_custom(|iters| {
            cpu::measure(iters, || {
                black_box(verifier(Arc::clone(&domain)));
            })
        })
    });

    let built = verifier(domain);
    group.bench_function("snapshot_1_host", |b| {
        b.iter_custom(|iters| {
            cpu::measure(iters, || {
                black_box(snapshot(Arc::clone(&built)));
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = bench
}
criterion_main!(benches);
