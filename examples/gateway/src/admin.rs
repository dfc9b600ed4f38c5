//! The admin listener: `/healthz`, `/readyz`, Prometheus `/metrics` and `/strict-readiness`
//! over plain HTTP/1.1, meant for loopback or a cluster-internal port.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use mtls_tower::{ReadinessReport, StrictReadiness};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

/// How long open admin connections may finish their request after shutdown is asked for.
const ADMIN_GRACE: Duration = Duration::from_secs(5);

/// The reason `/readyz` gives before anything says otherwise.
const STARTING: &str = "starting";

/// Installs the global Prometheus recorder for the `metrics` facade; call once, at start.
pub(crate) fn install_metrics() -> Result<PrometheusHandle, BuildError> {
    use mtls_tower::telemetry as t;
    // With buckets, a histogram is exposed as one (without, as a summary of quantiles).
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(t::CERT_REMAINING_LIFETIME.into()),
            &t::LIFETIME_BUCKETS,
        )?
        .install_recorder()?;
    metrics::describe_counter!(
        t::RELOADS_TOTAL,
        "Configuration reloads (file, signal, kube), by result and trigger"
    );
    metrics::describe_histogram!(
        t::CERT_REMAINING_LIFETIME,
        metrics::Unit::Seconds,
        "Remaining lifetime of client certificates presented at accepted handshakes, by trust domain"
    );
    metrics::describe_gauge!(
        t::CA_EARLIEST_NOT_AFTER,
        "Earliest notAfter (Unix seconds) of a trust domain's CA certificates"
    );
    metrics::describe_gauge!(
        t::CRL_NEXT_UPDATE,
        "nextUpdate (Unix seconds) of each loaded CRL, by trust domain and issuer"
    );
    metrics::describe_counter!(
        t::SHADOW_DISAGREEMENTS_TOTAL,
        "Handshakes and requests shadow trust decided otherwise than the active trust"
    );
    metrics::describe_counter!(
        crate::proxy::UPSTREAM_REQUESTS_TOTAL,
        "Requests sent upstream, by backend and status class of the answer"
    );
    metrics::describe_counter!(
        crate::proxy::UPSTREAM_ERRORS_TOTAL,
        "Upstream failures (502/504 answers), by backend and kind"
    );
    Ok(handle)
}

/// What the admin endpoints report. Cheap to clone; clones share the readiness.
#[derive(Clone, Debug)]
pub(crate) struct AdminState {
    /// The readiness flag: set it once the listeners are up and the configuration is loaded
    /// (or use [`set_ready`](Self::set_ready) / [`set_not_ready`](Self::set_not_ready)).
    pub(crate) ready: Arc<AtomicBool>,
    reason: Arc<ArcSwap<String>>,
    metrics: Option<PrometheusHandle>,
    /// The STRICT readiness of each PERMISSIVE listener, by listener name.
    readiness: Arc<BTreeMap<String, StrictReadiness>>,
}

/// The body of `GET /strict-readiness`: each PERMISSIVE listener's report, by listener name.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ReadinessBody {
    pub(crate) listeners: BTreeMap<String, ReadinessReport>,
}

impl AdminState {
    /// Not ready (reason `starting`) until [`ready`](Self::ready) is set; `/metrics` renders
    /// `metrics`, or answers 404 without it.
    pub(crate) fn new(metrics: Option<PrometheusHandle>) -> Self {
        Self {
            ready: Arc::new(AtomicBool::new(false)),
            reason: Arc::new(ArcSwap::from_pointee(STARTING.to_owned())),
            metrics,
            readiness: Arc::default(),
        }
    }

    /// Serves `readiness` (each PERMISSIVE listener's, by name) at `/strict-readiness`.
    pub(crate) fn with_readiness(mut self, readiness: BTreeMap<String, StrictReadiness>) -> Self {
        self.readiness = Arc::new(readiness);
        self
    }

    fn readiness_json(&self) -> Response<Full<Bytes>> {
        let body = ReadinessBody {
            listeners: self
                .readiness
                .iter()
                .map(|(name, readiness)| (name.clone(), readiness.snapshot()))
                .collect(),
        };
        match serde_json::to_string_pretty(&body) {
            Ok(json) => {
                let mut response = text(StatusCode::OK, json + "\n");
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
            }
            Err(e) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot render the report: {e}\n"),
            ),
        }
    }

    /// Marks the process ready.
    pub(crate) fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Marks the process not ready, `/readyz` stating `reason`.
    #[allow(
        dead_code,
        reason = "for the reload path, which does not unready the process yet"
    )]
    pub(crate) fn set_not_ready(&self, reason: impl Into<String>) {
        self.reason.store(Arc::new(reason.into()));
        self.ready.store(false, Ordering::Release);
    }

    fn answer(&self, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let known = matches!(
            req.uri().path(),
            "/healthz" | "/readyz" | "/metrics" | "/strict-readiness"
        );
        if !known {
            return text(StatusCode::NOT_FOUND, "not found\n".into());
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut response = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed\n".into(),
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        match req.uri().path() {
            "/healthz" => text(StatusCode::OK, "ok\n".into()),
            "/strict-readiness" => self.readiness_json(),
            "/readyz" if self.ready.load(Ordering::Acquire) => {
                text(StatusCode::OK, "ready\n".into())
            }
            "/readyz" => {
                let reason = self.reason.load();
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not ready: {reason}\n"),
                )
            }
            _ => match &self.metrics {
                Some(handle) => {
                    handle.run_upkeep();
                    let mut response = text(StatusCode::OK, handle.render());
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                    );
                    response
                }
                None => text(StatusCode::NOT_FOUND, "metrics are not enabled\n".into()),
            },
        }
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Serves the admin endpoints on `listener` until `shutdown` completes, then lets open
/// connections finish their request (for up to 5 s).
///
/// - `GET /healthz`: `200 ok` while the process runs.
/// - `GET /readyz`: `200 ready` once the state is ready, else `503 not ready: <reason>`.
/// - `GET /metrics`: the Prometheus text exposition.
/// - `GET /strict-readiness`: JSON, per PERMISSIVE listener (by name), how connections came
///   (plaintext, TLS without a client certificate, mTLS) per source, SNI and identity.
/// - anything else: 404 (405 for another method on those paths).
pub(crate) async fn serve_admin(
    listener: TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let state = state.clone();
        let service = service_fn(move |req| {
            let response = state.answer(&req);
            async move { Ok::<_, Infallible>(response) }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(10))
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%remote, error = %e, "admin connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(ADMIN_GRACE) => {}
    }
}
