//! Revocation material fetched over HTTP, outside the handshake: the bounded blocking
//! [`http`] client (OCSP responders, CRL distribution points), the [`CrlFetcher`] that keeps
//! the CRLs of the trust domains that fetch them (`crl.distribution_points`) fresh in the
//! background, and the [`OcspFetcher`] that asks OCSP responders about the client
//! certificates of the trust domains that read OCSP statuses (`ocsp`; the design is in
//! [`mtls_verify::ocsp`]).
//!
//! # CRLs from distribution points
//!
//! A trust domain opts in with `crl: { distribution_points: { ... } }`. Its URIs are the
//! configured `urls` and the `http://` cRLDistributionPoints of its CA certificates
//! ([`LoadedTrustDomain::distribution_points`](crate::LoadedTrustDomain::distribution_points)).
//! For each URI, a tokio task:
//!
//! 1. GETs it with the [`http`] client on a blocking thread (never on the handshake loop),
//!    within the domain's `timeout` and `max_bytes`, conditional on the last answer's `ETag`
//!    and `Last-Modified`;
//! 2. reads the body as a CRL file (DER or PEM) and checks it once as the loader checks file
//!    CRLs ([`LoadedTrustDomain::check_crls`](crate::LoadedTrustDomain::check_crls)); a CRL
//!    that fails either, or one older (thisUpdate) than the CRL kept for its issuer, is a
//!    failed fetch;
//! 3. keeps it as the URI's last good CRL when it differs from the one kept, and tells the
//!    owner through [`CrlFetcher::changes`]; the owner rebuilds its TLS snapshot with
//!    [`CrlFetcher::fetched`] (through
//!    [`PolicyVerifier::from_client_validation_fetched`](crate::PolicyVerifier::from_client_validation_fetched))
//!    and reloads the acceptor, so the CRL joins the trust domain's revocation index and open
//!    connections are rechecked as at any reload;
//! 4. waits `refresh`, or half the time left to the CRL's nextUpdate when that is sooner
//!    (at least a second); after a failure, 1 s doubled per failure in a row, at most `refresh`.
//!
//! A failed fetch keeps the last good CRL: the trust domain's `next_update` policy decides how
//! long it counts. Before a URI's first good fetch its domain has only its file CRLs, and a
//! certificate they do not cover has an unknown status (the domain's `unknown_status`).
//!
//! Per URI, the fetcher sets the metrics of [`telemetry`](crate::telemetry):
//! `mtls_crl_fetch_last_success_timestamp_seconds`, `mtls_crl_fetch_bytes`,
//! `mtls_crl_fetch_entries`, `mtls_crl_fetch_failures_total{reason}` and
//! `mtls_crl_fetch_not_modified_total`.

mod crl;
pub mod http;
mod ocsp;
mod rollback;

pub use crl::CrlFetcher;
pub use http::{Fetched, HttpError, HttpUrl, Validators};
pub use ocsp::{CACHE_CAPACITY, CONCURRENCY, OcspFetcher, QUEUE};
