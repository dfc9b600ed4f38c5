//! Full and resumed mTLS TLS 1.3 handshakes, in memory (no sockets): rustls' raw
//! `WebPkiClientVerifier` against our `PolicyVerifier`, for ECDSA P-256, RSA-2048 and Ed25519
//! client chains (leaf + intermediate).
//!
//! Both groups run the same handshakes and report the *thread CPU time* (not wall time: the
//! machine is shared, and CPU time does not count what other processes take):
//! - `handshake/<alg>`: the whole in-memory exchange, client and server (what one core doing
//!   both ends sustains); throughput is in handshakes per CPU-second.
//! - `handshake_server/<alg>`: only the CPU time of the server-side calls
//!   (`ServerConnection::new`, `read_tls`, `process_new_packets`, `write_tls`, the
//!   post-handshake work, dropping the connection), read around each server flight: the
//!   server's CPU per handshake (plus about 1 µs of clock reads, the same for every case).
//!
//! Cases (the server always answers with the same P-256 certificate; the client never resumes
//! unless the case says so; the server sends rustls' default two session tickets):
//! - `raw`: `WebPkiClientVerifier`, nothing after the handshake.
//! - `ours`: `PolicyVerifier` with one trust domain and no rule, nothing after.
//! - `ours_allow10k`: `ours`, then per connection what the acceptor and the layer do (copy the
//!   peer chain, `outcome_for_chain`, `PeerIdentity::from_der`, `Policy::decide` against a
//!   10,000-principal allow-list matched through its last entry). Compare with `raw`.
//! - `raw_crl1000` / `ours_crl1000`: both with the root's CRL and a 1,000-entry intermediate
//!   CRL (whole chain checked, unknown status denied), nothing after.
//! - `ours_crl1000_allow10k`: the gateway as deployed: CRLs, then the allow-list decision.
//! - `raw_resumed` / `ours_resumed_allow10k`: resumed handshakes against rustls' default
//!   stateful session cache (what `TlsSnapshot` configures); ours still decides per connection.
//! - `raw_resumed_ticket` / `ours_resumed_ticket_allow10k`: the same with stateless tickets
//!   (`aws_lc_rs::Ticketer`).
//! - `raw_prefer_aes128`: `raw`, but the server picks `TLS13_AES_128_GCM_SHA256` over the
//!   client's first choice, `TLS13_AES_256_GCM_SHA384` (what the cipher suite costs).
//!
//! The negotiated suite and key exchange group are printed once per algorithm.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mtls_benches::cases::cases;
use mtls_benches::cpu;
use mtls_benches::fixtures::SERVER_NAME;
use mtls_benches::pipe::Pipe;
use mtls_testkit::KeyAlg;

fn bench(c: &mut Criterion) {
    let mut pipe = Pipe::new(SERVER_NAME);
    for alg in KeyAlg::ALL {
        let label = mtls_benches::fixtures::label(alg);
        let cases = cases(alg, &mut pipe);

        let mut group = c.benchmark_group(format!("handshake/{label}"));
        group.throughput(Throughput::Elements(1));
        for case in &cases {
            group.bench_function(case.name, |b| {
                b.iter_custom(|iters| cpu::measure(iters, || case.run(&mut pipe)))
            });
        }
        group.finish();

        let mut group = c.benchmark_group(format!("handshake_server/{label}"));
        group.throughput(Throughput::Elements(1));
        for case in &cases {
            group.bench_function(case.name, |b| {
                b.iter_custom(|iters| {
                    pipe.take_server_time();
                    for _ in 0..iters {
                        case.run(&mut pipe);
                    }
                    pipe.take_server_time()
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
