//! Criterion benchmarks of the `mtls` crates; the benches live in `benches/`, this library
//! holds what they share:
//!
//! - [`fixtures`]: generated PKIs (mtls-testkit), client chains per key algorithm, the
//!   1,000-entry CRLs, rustls' raw `WebPkiClientVerifier` and our `PolicyVerifier` built from
//!   the same material, server and client configs (always with an explicit provider), the
//!   10,000-entry allow-list policy and the per-connection work the acceptor and the layer do.
//! - [`cases`]: the handshake cases (raw rustls and ours, full and resumed) of the
//!   `handshake` and `handshake_ratio` benches.
//! - [`pipe`]: a tight in-memory handshake driver (one reused buffer, no sockets) that also
//!   measures the CPU time spent in server-side calls.
//! - [`scale`]: the cases of the scale curves (bundle size, CRL entries, hosts, routes,
//!   principals).
//! - [`cpu`]: the calling thread's CPU time, which the benches report instead of wall time (the
//!   machine is shared: wall time would count the time other processes take).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

pub mod cases;
pub mod cpu;
pub mod fixtures;
pub mod pipe;
pub mod scale;
