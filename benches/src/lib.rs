//! Criterion benchmarks of the `mtls` crates; the benches live in `benches/`.
