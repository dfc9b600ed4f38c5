//! The upstream metrics: the names of the proxy's counters, and each backend's per-status-class
//! request counters ([`StatusCounters`]).

use std::sync::{Arc, OnceLock};

use http::StatusCode;

/// Counter of upstream requests, labelled `backend` and `status_class` (`2xx`, ..., `5xx`; the
/// class of what the client got, so 502/504 answers count as `5xx`).
pub(crate) const UPSTREAM_REQUESTS_TOTAL: &str = "mtls_gateway_upstream_requests_total";
/// Counter of upstream failures, labelled `backend` and `kind` (`connect`, `tls`,
/// `connect_timeout`, `timeout`, `request`, `upgrade`: an upgrade the upstream cannot take or
/// answered with another protocol).
pub(crate) const UPSTREAM_ERRORS_TOTAL: &str = "mtls_gateway_upstream_errors_total";

/// One backend's `mtls_gateway_upstream_requests_total` counters, one per status class
/// (`1xx` ... `5xx`). Each is registered with the recorder the first time its class is counted
/// (so, as with a per-request `counter!`, a class never seen is not in `/metrics`), then
/// incremented through its handle: no key to build, hash and look up per request.
pub(super) struct StatusCounters {
    backend: Arc<str>,
    classes: [OnceLock<metrics::Counter>; 5],
}

impl StatusCounters {
    pub(super) fn new(backend: Arc<str>) -> Self {
        Self {
            backend,
            classes: Default::default(),
        }
    }

    pub(super) fn increment(&self, status: StatusCode) {
        let (index, class) = status_class(status);
        self.classes[index]
            .get_or_init(|| {
                metrics::counter!(
                    UPSTREAM_REQUESTS_TOTAL,
                    "backend" => Arc::clone(&self.backend),
                    "status_class" => class,
                )
            })
            .increment(1);
    }
}

/// The status class label and its index in [`StatusCounters::classes`].
fn status_class(status: StatusCode) -> (usize, &'static str) {
    match status.as_u16() {
        100..=199 => (0, "1xx"),
        200..=299 => (1, "2xx"),
        300..=399 => (2, "3xx"),
        400..=499 => (3, "4xx"),
        _ => (4, "5xx"),
    }
}
