//! OCSP statuses of client certificates, fetched in the background: [`OcspFetcher`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use mtls_policy::ocsp::{OcspMode, OcspOptions};
use mtls_verify::FetchedCrls;
use mtls_verify::ocsp::{
    DEFAULT_MAX_RESPONSE_LEN, OcspCache, OcspCheck, OcspKey, OcspLookup, OcspRequest, OcspStatus,
    OcspVerifier, OcspWaiting,
};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::UnixTime;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use super::http::{self, HttpUrl};
use crate::telemetry;

/// How many certificates may wait for a fetch; a certificate seen while the queue is full is
/// not queued (`mtls_ocsp_requests_total{result="dropped"}`) and is queued at its next
/// handshake.
pub const QUEUE: usize = 1024;

/// How many responders are asked at once.
pub const CONCURRENCY: usize = 8;

/// How many statuses a trust domain keeps.
pub const CACHE_CAPACITY: usize = 100_000;

/// Keeps the OCSP statuses of the client certificates of trust domains that read them
/// (`ocsp`), fetched in the background: one bounded queue, at most [`CONCURRENCY`] responders
/// asked at once with the bounded [`http`] client on blocking threads, each answer verified
/// with one [`OcspVerifier`] and cached in its trust domain's [`OcspCache`].
///
/// [`check`](Self::check) gives the [`OcspCheck`] a trust domain's verifier reads its statuses
/// through; a certificate it does not find is queued here once (a certificate already queued
/// or being asked about is not queued again). The caches outlive configuration reloads: a
/// domain keeps its cache while its `ocsp` settings stay the same.
///
/// Metrics ([`telemetry`](crate::telemetry)): `mtls_ocsp_lookups_total{trust_domain, result}`
/// (each handshake: `good`, `revoked`, `unknown` from the cache, or `not_cached`) and
/// `mtls_ocsp_requests_total{trust_domain, result}` (each question to a responder: `good`,
/// `revoked`, `unknown`, `dropped` when the queue is full, or why it failed: `no_responder`,
/// `timeout`, `unreachable`, `http_status`, `too_large`, `malformed_http`, `bad_url`,
/// `rejected` for an answer that does not verify).
#[derive(Clone)]
pub struct OcspFetcher {
    shared: Arc<Shared>,
    _worker: Arc<Worker>,
}

impl std::fmt::Debug for OcspFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OcspFetcher")
            .field("domains", &self.shared.domains().keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

struct Shared {
    domains: Mutex<HashMap<String, Domain>>,
    in_flight: Mutex<HashSet<OcspKey>>,
    queue: mpsc::Sender<Job>,
    /// Bumped each time a responder's answer caches a revoked status.
    revocations: watch::Sender<u64>,
}

impl Shared {
    fn domains(&self) -> MutexGuard<'_, HashMap<String, Domain>> {
        self.domains.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn in_flight(&self) -> MutexGuard<'_, HashSet<OcspKey>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// One trust domain's settings and cache.
#[derive(Clone)]
struct Domain {
    options: OcspOptions,
    check: OcspCheck,
}

/// One certificate to ask about.
struct Job {
    domain: String,
    cache: Arc<OcspCache>,
    responder: Option<HttpUrl>,
    timeout: Duration,
    request: OcspRequest,
    /// `hard` mode: the connections waiting for this certificate's status.
    waiting: Option<OcspWaiting>,
}

/// Stops the worker when the last clone of the fetcher is dropped.
struct Worker(JoinHandle<()>);

impl Drop for Worker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl OcspFetcher {
    /// A fetcher verifying answers with `provider`; it asks nothing until a check it gave
    /// misses. Must be called inside a tokio runtime (it starts its worker task).
    pub fn new(provider: &Arc<CryptoProvider>) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let shared = Arc::new(Shared {
            domains: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashSet::new()),
            queue,
            revocations: watch::Sender::new(0),
        });
        let verifier = Arc::new(OcspVerifier::new(provider));
        let worker = tokio::spawn(work(Arc::clone(&shared), verifier, jobs));
        Self {
            shared,
            _worker: Arc::new(Worker(worker)),
        }
    }

    /// The check of the trust domain named `domain` with settings `options`: the one given
    /// before when the settings are the same (its cache kept), else a new one with an empty
    /// cache.
    ///
    /// # Errors
    /// The configured responder is not a URL the [`http`] client can ask.
    pub fn check(&self, domain: &str, options: &OcspOptions) -> Result<OcspCheck, http::HttpError> {
        if let Some(known) = self.shared.domains().get(domain)
            && known.options == *options
        {
            return Ok(known.check.clone());
        }
        let responder = options
            .responder
            .as_deref()
            .map(HttpUrl::parse)
            .transpose()?;
        let cache = Arc::new(OcspCache::new(CACHE_CAPACITY, options.cache_ttl.0));
        let shared = Arc::downgrade(&self.shared);
        let (name, job_cache, timeout) = (domain.to_owned(), Arc::clone(&cache), options.timeout.0);
        let waiting = (options.mode == OcspMode::Hard).then(|| OcspWaiting::new(timeout));
        let job_waiting = waiting.clone();
        let check = OcspCheck::new(cache, move |request| {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            enqueue(
                &shared,
                Job {
                    domain: name.clone(),
                    cache: Arc::clone(&job_cache),
                    responder: responder.clone(),
                    timeout,
                    request,
                    waiting: job_waiting.clone(),
                },
            );
        });
        let check = match waiting {
            Some(waiting) => check.with_waiting(waiting),
            None => check,
        };
        let label = domain.to_owned();
        let check = check.observe(move |lookup| {
            let result = match lookup {
                OcspLookup::Cached(status) => status_label(&status),
                OcspLookup::NotYetKnown => "not_cached",
            };
            metrics::counter!(telemetry::OCSP_LOOKUPS_TOTAL, "trust_domain" => label.clone(), "result" => result)
                .increment(1);
        });
        self.shared.domains().insert(
            domain.to_owned(),
            Domain {
                options: options.clone(),
                check: check.clone(),
            },
        );
        Ok(check)
    }

    /// Changes each time a responder's answer caches a revoked status: the owner installs its
    /// configuration again, so open connections of that certificate are rechecked (and closed
    /// under [`close_revoked_connections`](crate::Acceptor::close_revoked_connections)), as at
    /// a CRL reload.
    pub fn revocations(&self) -> watch::Receiver<u64> {
        self.shared.revocations.subscribe()
    }

    /// Adds to `fetched` the check of every trust domain of `policy` that reads OCSP
    /// statuses, and forgets the domains it no longer has.
    ///
    /// # Errors
    /// The trust domain (its configuration path in `policy` is the caller's) whose responder
    /// is not a URL the [`http`] client can ask, and why.
    pub fn checks_for(
        &self,
        policy: &mtls_policy::Policy,
        fetched: &mut FetchedCrls,
    ) -> Result<(), (String, http::HttpError)> {
        let mut named = HashSet::new();
        for domain in super::crl::trust_domains(policy) {
            let Some(options) = &domain.ocsp else {
                continue;
            };
            let check = self
                .check(&domain.name, options)
                .map_err(|e| (domain.name.clone(), e))?;
            fetched.insert_ocsp(domain.name.clone(), check);
            named.insert(domain.name.clone());
        }
        self.shared.domains().retain(|name, _| named.contains(name));
        Ok(())
    }
}

fn status_label(status: &OcspStatus) -> &'static str {
    match status {
        OcspStatus::Good { .. } => "good",
        OcspStatus::Revoked { .. } => "revoked",
        _ => "unknown",
    }
}

/// Queues `job` unless its certificate is queued or asked about already; never waits.
fn enqueue(shared: &Shared, job: Job) {
    let key = OcspKey::from(&job.request);
    if !shared.in_flight().insert(key.clone()) {
        return;
    }
    let domain = job.domain.clone();
    if let Err(refused) = shared.queue.try_send(job) {
        shared.in_flight().remove(&key);
        if let Some(waiting) = &refused.into_inner().waiting {
            waiting.settle(&key, None);
        }
        metrics::counter!(telemetry::OCSP_REQUESTS_TOTAL, "trust_domain" => domain, "result" => "dropped")
            .increment(1);
    }
}

/// Takes jobs off the queue, asking at most [`CONCURRENCY`] responders at once.
async fn work(shared: Arc<Shared>, verifier: Arc<OcspVerifier>, mut jobs: mpsc::Receiver<Job>) {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    while let Some(job) = jobs.recv().await {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let (shared, verifier) = (Arc::clone(&shared), Arc::clone(&verifier));
        tokio::spawn(async move {
            let key = OcspKey::from(&job.request);
            let result = ask(&verifier, &job).await;
            let (label, settled) = match result {
                Ok(status) => {
                    job.cache.insert(key.clone(), status, UnixTime::now());
                    if matches!(status, OcspStatus::Revoked { .. }) {
                        shared.revocations.send_modify(|n| *n += 1);
                    }
                    (status_label(&status), Some(status))
                }
                Err((reason, detail)) => {
                    tracing::warn!(trust_domain = %job.domain, reason, %detail, "OCSP status not fetched");
                    (reason, None)
                }
            };
            metrics::counter!(telemetry::OCSP_REQUESTS_TOTAL, "trust_domain" => job.domain.clone(), "result" => label)
                .increment(1);
            // Out of flight before settling: a handshake registering the certificate after
            // this settle queues it again instead of waiting for a fetch that is over.
            shared.in_flight().remove(&key);
            if let Some(waiting) = &job.waiting {
                waiting.settle(&key, settled);
            }
            drop(permit);
        });
    }
}

/// Asks the job's responder (the configured one, else the first `http://` AIA responder of
/// the certificate) and verifies the answer: the status, or a metric label and the detail.
async fn ask(
    verifier: &Arc<OcspVerifier>,
    job: &Job,
) -> Result<OcspStatus, (&'static str, String)> {
    let url = match &job.responder {
        Some(url) => url.clone(),
        None => job
            .request
            .responder_uris()
            .iter()
            .find_map(|uri| HttpUrl::parse(uri).ok())
            .ok_or((
                "no_responder",
                "the certificate names no http:// OCSP responder".to_owned(),
            ))?,
    };
    let (der, timeout) = (job.request.der().to_vec(), job.timeout);
    let body = tokio::task::spawn_blocking(move || {
        http::post(
            &url,
            "application/ocsp-request",
            &der,
            timeout,
            DEFAULT_MAX_RESPONSE_LEN,
        )
    })
    .await
    .map_err(|e| ("unreachable", e.to_string()))?
    .map_err(|e| (e.reason(), e.to_string()))?;
    verifier
        .verify(&job.request, &body, UnixTime::now())
        .map_err(|e| ("rejected", e.to_string()))
}
