//! The scale curves (`mtls_benches::scale`): the server's CPU time per full mTLS handshake,
//! the gateway's decision after it included, as the CA bundle (1 → 10,000 anchors), the
//! intermediate's CRL (0 → 1,000,000 entries), the listener's hosts, the host's routes and the
//! route's principals (1 → 100,000) grow. Group `scale/<dimension>`, parameter the size; the
//! ratio of the largest size to the smallest is the figure (goal: within 1.1×).
//!
//! Thread CPU time, as in `handshake_server`; `benches/scale.sh` measures the same points in
//! instructions (callgrind), which the machine's load does not move.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mtls_benches::fixtures::SERVER_NAME;
use mtls_benches::pipe::Pipe;
use mtls_benches::scale::{Dimension, case};

fn bench(c: &mut Criterion) {
    let mut pipe = Pipe::new(SERVER_NAME);
    let cache = std::env::temp_dir().join("mtls-scale-cache");
    // `cargo bench -- --test` (CI) runs each point once: the two smallest sizes keep it quick
    // (a 1,000,000-entry CRL takes seconds to generate).
    let quick = std::env::args().any(|a| a == "--test");
    for dimension in Dimension::ALL {
        let mut group = c.benchmark_group(format!("scale/{}", dimension.name()));
        let sizes = dimension.sizes();
        let sizes = if quick {
            sizes.get(..2).unwrap_or(sizes)
        } else {
            sizes
        };
        for &size in sizes {
            let case = case(dimension, size, Some(&cache));
            // Fills the verifier's caches, as a server's first client does.
            case.run(&mut pipe);
            group.bench_with_input(BenchmarkId::from_parameter(size), &case, |b, case| {
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
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = bench
}
criterion_main!(benches);
