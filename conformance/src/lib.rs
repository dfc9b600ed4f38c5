//! The x509-limbo conformance runner: every testcase of the C2SP x509-limbo suite through the
//! certificate verification path the gateway uses (see [`runner`] for the exact mapping), with
//! per-testcase results and counts per feature tag and id prefix, CLIENT and SERVER apart.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mtls_conformance::{Limbo, Verifier, run_suite, suite_path};
//!
//! let limbo = Limbo::load(&suite_path())?;
//! let report = run_suite(&limbo, Verifier::Gateway);
//! println!("{}", report.summary.line());
//! # Ok(()) }
//! ```
//!
//! The suite is not in this repository: it is read from `shared/` beside it
//! ([`suite_path`]), or from `$MTLS_LIMBO`.

#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod handshake;
pub mod report;
pub mod runner;
pub mod suite;
mod time;

use std::time::Instant;

pub use report::{PerKind, Summary, Tally};
pub use runner::{CaseResult, Runner, Stage, Verifier};
pub use suite::{
    Expected, Kind, Limbo, PKITS_ENV, PeerName, SUITE_ENV, Testcase, pkits_path, suite_path,
};

/// Testcases where the gateway's result differs from the suite's expectation on purpose, with
/// the reason (mirrored in `CONFORMANCE.md`). They still count as failures in the pass counts;
/// reports mark them.
pub const DELIBERATE: &[(&str, &str)] = &[
    (
        "crl::crlnumber-missing",
        "looser: a CRL without cRLNumber is accepted with a warning; RFC 5280 5.2.3 requires \
         the extension, but OpenSSL `ca -gencrl` omits it unless configured, rustls and nginx \
         accept such CRLs, and refusing one would refuse the whole trust domain",
    ),
    (
        "pathlen::max-chain-depth-1-self-issued",
        "stricter: max_chain_depth bounds every certificate the peer makes us process, \
         self-issued ones included (RFC 5280 exempts them from pathLenConstraint only)",
    ),
    (
        "rfc5280::ca-as-leaf",
        "stricter: a CA certificate (basicConstraints cA=TRUE) is never accepted as a peer's \
         identity (rustls-webpki CaUsedAsEndEntity, CABF)",
    ),
    (
        "pathlen::validation-ignores-pathlen-in-leaf",
        "stricter: the leaf is a CA certificate, refused as a peer identity (as rfc5280::ca-as-leaf)",
    ),
    (
        "webpki::eku::ee-without-eku",
        "looser: a leaf without extendedKeyUsage is valid for any purpose (RFC 5280 4.2.1.12, as \
         rustls; DomainOptions documents it); CABF requires the extension on web PKI leaves only",
    ),
];

/// The reason a testcase is in [`DELIBERATE`], if it is.
pub fn deliberate(id: &str) -> Option<&'static str> {
    DELIBERATE
        .iter()
        .find(|(listed, _)| *listed == id)
        .map(|(_, reason)| *reason)
}

/// A whole run: every testcase's result, in suite order, and the counts.
#[derive(Debug)]
pub struct Report {
    /// One per testcase.
    pub results: Vec<CaseResult>,
    /// The counts.
    pub summary: Summary,
}

impl Report {
    /// The failed testcases.
    pub fn failures(&self) -> impl Iterator<Item = &CaseResult> {
        self.results.iter().filter(|r| !r.passed)
    }
}

/// Runs every testcase of `limbo` through `verifier`, on all available cores.
pub fn run_suite(limbo: &Limbo, verifier: Verifier) -> Report {
    let started = Instant::now();
    let runner = Runner::new(verifier);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cases = &limbo.testcases;
    // Striped, not chunked: the suite's expensive testcases are not evenly spread.
    let mut results: Vec<(usize, CaseResult)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let runner = &runner;
                scope.spawn(move || {
                    (t..cases.len())
                        .step_by(threads)
                        .map(|i| (i, runner.run(&cases[i])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(results) => results,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    results.sort_unstable_by_key(|(i, _)| *i);
    let results: Vec<CaseResult> = results.into_iter().map(|(_, r)| r).collect();
    let summary = Summary::new(verifier, &results, started.elapsed());
    Report { results, summary }
}
