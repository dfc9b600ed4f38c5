//! Decision cost of `mtls_policy::Policy::decide` versus allow-list size (1, 100, 10k, 100k
//! entries), for exact principals, DNS suffixes, and a mix of exact / prefix / suffix /
//! wildcard entries plus a RegexSet. The peer matches only through the last check made, so
//! every compiled structure is consulted.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mtls_core::PeerIdentity;
use mtls_policy::{Context, PeerVerification, Policy};
use rcgen::{CertificateParams, DnType, KeyPair, SanType};

const SIZES: [usize; 4] = [1, 100, 10_000, 100_000];

fn identity() -> PeerIdentity {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "robot-7");
    let uri = "spiffe://bench.example/ns/prod/sa/web";
    params
        .subject_alt_names
        .push(SanType::URI(uri.try_into().expect("uri")));
    let dns = "web.prod.svc.example";
    params
        .subject_alt_names
        .push(SanType::DnsName(dns.try_into().expect("dns")));
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert");
    PeerIdentity::from_der(cert.der()).expect("identity")
}

/// The `authorization` JSON of a route with `n` entries of a kind; the peer matches the last.
fn authorization(kind: &str, n: usize) -> String {
    let mut principals = Vec::new();
    let mut rules = Vec::new();
    match kind {
        "exact" => {
            principals
                .extend((1..n).map(|i| format!("\"spiffe://bench.example/ns/n{i}/sa/s{i}\"")));
            principals.push("\"spiffe://bench.example/ns/prod/sa/web\"".into());
        }
        "suffix" => {
            rules.extend(
                (1..n).map(|i| format!("{{\"dns\":{{\"suffix\":\".n{i}.svc.example\"}}}}")),
            );
            rules.push("{\"dns\":{\"suffix\":\".prod.svc.example\"}}".into());
        }
        _ => {
            for i in 1..n {
                rules.push(match i % 4 {
                    0 => {
                        format!("{{\"uri\":{{\"exact\":\"spiffe://bench.example/ns/n{i}/sa/s\"}}}}")
                    }
                    1 => format!("{{\"uri\":{{\"prefix\":\"spiffe://bench.example/ns/n{i}/\"}}}}"),
                    2 => format!("{{\"dns\":{{\"suffix\":\".n{i}.svc.example\"}}}}"),
                    _ => format!("{{\"dns\":{{\"wildcard\":\"*.n{i}.svc.example\"}}}}"),
                });
            }
            let regexes = (n / 100).clamp(1, 100);
            rules.extend(
                (1..regexes).map(|i| format!("{{\"cn\":{{\"regex\":\"client-{i}-[0-9]+\"}}}}")),
            );
            rules.push("{\"cn\":{\"regex\":\"robot-[0-9]+\"}}".into());
        }
    }
    format!(
        "{{\"principals\":[{}],\"match\":[{}]}}",
        principals.join(","),
        rules.join(",")
    )
}

fn policy(kind: &str, n: usize) -> Policy {
    let json = format!(
        r#"{{"listeners":[{{"name":"l","port":443,"hosts":[{{"hostnames":["api.example.com"],
        "client_validation":{{"mode":"required","trust":[{{"name":"t","ca":[{{"file":"/ca.pem"}}]}}]}},
        "routes":[{{"path_prefix":"/","authorization":{}}}]}}]}}]}}"#,
        authorization(kind, n)
    );
    Policy::from_json(&json).expect("policy")
}

fn bench(c: &mut Criterion) {
    let id = identity();
    let verified = PeerVerification::verified("t");
    let mut group = c.benchmark_group("policy_decision");
    for kind in ["exact", "suffix", "mixed_regex"] {
        for n in SIZES {
            let p = policy(kind, n);
            let ctx = Context::new(443, &verified)
                .identity(&id)
                .sni("api.example.com")
                .host("api.example.com")
                .path("/orders/1");
            assert!(p.decide(&ctx).is_allow(), "{kind} {n}");
            group.bench_with_input(BenchmarkId::new(kind, n), &ctx, |b, ctx| {
                b.iter(|| std::hint::black_box(p.decide(std::hint::black_box(ctx))))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
