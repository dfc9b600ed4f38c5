//! The [`CrlFetcher`]: one background task per CRL distribution point URI.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use mtls_core::CrlSet;
use mtls_policy::{DistributionPoints, Policy, SecretRef, TrustDomain};
use mtls_verify::{FetchedCrls, LoadedTrustDomain, ResolveError};
use rustls::crypto::CryptoProvider;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::http::{self, Fetched, HttpError, HttpUrl, Validators};
use super::rollback::rolls_back;
use crate::telemetry;

/// The shortest wait between two fetches of a URI.
const MIN_WAIT: Duration = Duration::from_secs(1);
/// The wait after a fetch that gave a CRL already past its nextUpdate.
const LATE_WAIT: Duration = Duration::from_secs(60);

/// Keeps the CRLs of the trust domains that fetch them (`crl.distribution_points`) fresh, one
/// tokio task per URI (see the [module docs](super)).
///
/// Cheap to clone; the tasks stop when the last clone is dropped.
///
/// ```no_run
/// # async fn run(policy: mtls_policy::Policy) {
/// use mtls_tower::fetch::CrlFetcher;
///
/// let fetcher = CrlFetcher::new(mtls_verify::crypto::default_provider());
/// fetcher.follow(&policy, &|_| Err("no secrets".into()));
/// fetcher.settled().await; // every URI tried once
/// let mut changes = fetcher.changes();
/// loop {
///     // Build the TLS snapshot with `fetcher.fetched()` and reload the acceptor, then:
///     if changes.changed().await.is_err() {
///         break;
///     }
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct CrlFetcher {
    shared: Arc<Shared>,
    /// Stops the tasks when the last clone is dropped.
    tasks: Arc<Tasks>,
}

impl std::fmt::Debug for CrlFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("CrlFetcher")
            .field("uris", &state.sources.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

struct Shared {
    provider: Arc<CryptoProvider>,
    state: Mutex<State>,
    /// The version of the fetched CRLs, bumped when one changes.
    changes: watch::Sender<u64>,
    /// Woken after every fetch.
    attempted: Notify,
}

#[derive(Default)]
struct State {
    sources: HashMap<String, Source>,
    fetched: FetchedCrls,
}

/// One URI: how to fetch it, who checks its CRL, and what the last fetch left.
struct Source {
    settings: DistributionPoints,
    checker: Arc<LoadedTrustDomain>,
    validators: Validators,
    next_update: Option<SystemTime>,
    tried: bool,
}

#[derive(Default)]
struct Tasks(Mutex<HashMap<String, JoinHandle<()>>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in self
            .0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            task.abort();
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl CrlFetcher {
    /// A fetcher checking CRL signatures with `provider`; it fetches nothing until
    /// [`follow`](Self::follow).
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        Self {
            shared: Arc::new(Shared {
                provider,
                state: Mutex::new(State::default()),
                changes: watch::Sender::new(0),
                attempted: Notify::new(),
            }),
            tasks: Arc::new(Tasks::default()),
        }
    }

    /// Fetches the URIs of every trust domain of `policy` that fetches CRLs: starts a task for
    /// each URI not fetched yet, stops those of URIs no longer named, and takes the settings
    /// of the domain that names a URI first. Secret sources are read through `resolve`. A
    /// domain that does not load is left out (building the TLS snapshot reports why). Must be
    /// called inside a tokio runtime.
    pub fn follow(
        &self,
        policy: &Policy,
        resolve: &dyn Fn(&SecretRef) -> Result<Vec<u8>, ResolveError>,
    ) {
        let mut wanted: HashMap<String, Source> = HashMap::new();
        for domain in trust_domains(policy) {
            let Some(settings) = domain
                .crl
                .as_ref()
                .and_then(|c| c.distribution_points.clone())
            else {
                continue;
            };
            let loaded = match LoadedTrustDomain::load_with(domain, &self.shared.provider, resolve)
            {
                Ok(loaded) => Arc::new(loaded),
                Err(error) => {
                    tracing::warn!(domain = %domain.name, %error, "CRL distribution points not fetched");
                    continue;
                }
            };
            for uri in loaded.distribution_points() {
                wanted.entry(uri.clone()).or_insert_with(|| Source {
                    settings: settings.clone(),
                    checker: Arc::clone(&loaded),
                    validators: Validators::default(),
                    next_update: None,
                    tried: false,
                });
            }
        }
        let mut tasks = self.tasks.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut state = self.shared.lock();
        let mut removed = false;
        state.sources.retain(|uri, _| wanted.contains_key(uri));
        tasks.retain(|uri, task| {
            let keep = wanted.contains_key(uri);
            if !keep {
                task.abort();
            }
            keep
        });
        let kept: Vec<String> = state
            .fetched
            .uris()
            .filter(|u| !wanted.contains_key(*u))
            .map(str::to_owned)
            .collect();
        for uri in kept {
            state.fetched.remove(&uri);
            removed = true;
        }
        for (uri, source) in wanted {
            match state.sources.get_mut(&uri) {
                Some(known) => {
                    known.settings = source.settings;
                    known.checker = source.checker;
                }
                None => {
                    state.sources.insert(uri.clone(), source);
                    let shared = Arc::clone(&self.shared);
                    let task = tokio::spawn(refresh(shared, uri.clone()));
                    tasks.insert(uri, task);
                }
            }
        }
        drop(state);
        if removed {
            self.shared.changes.send_modify(|v| *v += 1);
        }
    }

    /// Waits until every URI followed was fetched once (successfully or not).
    pub async fn settled(&self) {
        loop {
            let attempted = self.shared.attempted.notified();
            if self.shared.lock().sources.values().all(|s| s.tried) {
                return;
            }
            attempted.await;
        }
    }

    /// The last good CRL of every URI followed.
    pub fn fetched(&self) -> FetchedCrls {
        self.shared.lock().fetched.clone()
    }

    /// Changes whenever a URI's last good CRL changes (or a URI is no longer followed).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }
}

/// The trust domains of every host of every listener.
pub(super) fn trust_domains(policy: &Policy) -> impl Iterator<Item = &TrustDomain> {
    policy
        .config()
        .listeners
        .iter()
        .flat_map(|l| &l.hosts)
        .filter_map(|h| h.client_validation.as_ref())
        .flat_map(|v| &v.trust)
}

/// Fetches `uri` again and again, until aborted.
async fn refresh(shared: Arc<Shared>, uri: String) {
    let mut failures: u32 = 0;
    loop {
        let Some((settings, validators)) = shared
            .lock()
            .sources
            .get(&uri)
            .map(|s| (s.settings.clone(), s.validators.clone()))
        else {
            return;
        };
        let wait = match fetch_once(&shared, &uri, &settings, validators).await {
            Ok(next_update) => {
                failures = 0;
                wait_after_success(settings.refresh.0, next_update)
            }
            Err(failure) => {
                tracing::warn!(%uri, reason = failure.reason, error = %failure.detail, "CRL fetch failed; the last good CRL stays");
                metrics::counter!(telemetry::CRL_FETCH_FAILURES_TOTAL, "uri" => uri.clone(), "reason" => failure.reason)
                    .increment(1);
                failures = failures.saturating_add(1);
                MIN_WAIT
                    .saturating_mul(1u32 << failures.min(16).saturating_sub(1))
                    .min(settings.refresh.0)
            }
        };
        if let Some(source) = shared.lock().sources.get_mut(&uri) {
            source.tried = true;
        }
        shared.attempted.notify_waiters();
        tokio::time::sleep(wait).await;
    }
}

/// Why a fetch left the last good CRL in place: a metric label and the detail.
struct Failure {
    reason: &'static str,
    detail: String,
}

/// One fetch of `uri`: the nextUpdate of the CRL now kept (`None` when it has none).
async fn fetch_once(
    shared: &Arc<Shared>,
    uri: &str,
    settings: &DistributionPoints,
    validators: Validators,
) -> Result<Option<SystemTime>, Failure> {
    let url = HttpUrl::parse(uri).map_err(|e| failure(&e, e.to_string()))?;
    let (timeout, max) = (
        settings.timeout.0,
        usize::try_from(settings.max_bytes).unwrap_or(usize::MAX),
    );
    let (checker, kept) = {
        let state = shared.lock();
        let checker = state.sources.get(uri).map(|s| Arc::clone(&s.checker));
        // Shares the CRLs kept, copies none.
        (checker, state.fetched.clone())
    };
    let (provider, owned_uri) = (Arc::clone(&shared.provider), uri.to_owned());
    // The request, and everything as large as the CRL (reading it, checking its signature,
    // comparing it with the one kept), on a blocking thread: a CRL may hold a million entries,
    // and the runtime keeps accepting and serving meanwhile.
    let answer = tokio::task::spawn_blocking(move || {
        let answer = http::get_if_changed(&url, &validators, timeout, max)
            .map_err(|e| failure(&e, e.to_string()))?;
        Ok(match answer {
            Fetched::NotModified => None,
            Fetched::Body { body, validators } => {
                let read = read(&owned_uri, &body, checker.as_deref(), &provider, &kept);
                Some((validators, body.len(), read, kept))
            }
        })
    })
    .await
    .map_err(|e| Failure {
        reason: "unreachable",
        detail: e.to_string(),
    })??;
    let now = SystemTime::now();
    let stamp = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let Some((validators, bytes, read, kept)) = answer else {
        metrics::counter!(telemetry::CRL_FETCH_NOT_MODIFIED_TOTAL, "uri" => uri.to_owned())
            .increment(1);
        metrics::gauge!(telemetry::CRL_FETCH_LAST_SUCCESS, "uri" => uri.to_owned()).set(stamp);
        return Ok(shared.lock().sources.get(uri).and_then(|s| s.next_update));
    };
    let Read {
        crls,
        entries,
        next_update,
        changed,
    } = read?;
    {
        let mut state = shared.lock();
        if let Some(source) = state.sources.get_mut(uri) {
            source.validators = validators;
            source.next_update = next_update;
        }
        // Only this URI's task inserts its CRL: the one compared with is still the one kept.
        if changed {
            state.fetched.insert(uri, crls);
        }
    }
    // The CRL replaced may now be held by `kept` alone: freed on a blocking thread too (a
    // million entries are a million allocations).
    drop(tokio::task::spawn_blocking(move || drop(kept)));
    #[allow(clippy::cast_precision_loss)] // sizes and counts far below 2^52
    {
        metrics::gauge!(telemetry::CRL_FETCH_BYTES, "uri" => uri.to_owned()).set(bytes as f64);
        metrics::gauge!(telemetry::CRL_FETCH_ENTRIES, "uri" => uri.to_owned()).set(entries as f64);
    }
    metrics::gauge!(telemetry::CRL_FETCH_LAST_SUCCESS, "uri" => uri.to_owned()).set(stamp);
    if changed {
        tracing::info!(%uri, bytes, entries, "CRL fetched");
        shared.changes.send_modify(|v| *v += 1);
    }
    Ok(next_update)
}

/// A fetched body read as the CRL of a URI.
struct Read {
    crls: CrlSet,
    entries: usize,
    next_update: Option<SystemTime>,
    /// Whether it differs from the CRL kept for the URI.
    changed: bool,
}

/// Reads `body` as the CRL file of `uri`, checks it as the loader checks file CRLs (with
/// `checker`, the trust domain that fetches it) and refuses one older than the CRL `kept` for
/// the URI. Blocking: as costly as the CRL is large.
fn read(
    uri: &str,
    body: &[u8],
    checker: Option<&LoadedTrustDomain>,
    provider: &Arc<CryptoProvider>,
    kept: &FetchedCrls,
) -> Result<Read, Failure> {
    let crls = CrlSet::from_bytes(body, uri).map_err(|e| Failure {
        reason: "not_a_crl",
        detail: e.to_string(),
    })?;
    if let Some(checker) = checker {
        checker.check_crls(&crls, provider).map_err(|e| Failure {
            reason: "unusable",
            detail: e.to_string(),
        })?;
    }
    let kept = kept.get(uri);
    if let Some(why) = kept.and_then(|kept| rolls_back(&crls, kept)) {
        return Err(Failure {
            reason: "older",
            detail: why,
        });
    }
    Ok(Read {
        entries: crls.crls().iter().map(|c| c.revoked_serials().len()).sum(),
        next_update: crls.earliest_next_update(),
        changed: kept != Some(&crls),
        crls,
    })
}

/// The metric label of an HTTP failure.
fn failure(e: &HttpError, detail: String) -> Failure {
    Failure {
        reason: e.reason(),
        detail,
    }
}

/// `refresh`, or half the time left to `next_update` when that is sooner (a minute when it is
/// past: the publisher is late); at least [`MIN_WAIT`].
fn wait_after_success(refresh: Duration, next_update: Option<SystemTime>) -> Duration {
    let before_next = match next_update {
        None => refresh,
        Some(next) => next
            .duration_since(SystemTime::now())
            .map_or(LATE_WAIT, |left| left / 2),
    };
    refresh.min(before_next).max(MIN_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits() {
        let hour = Duration::from_secs(3600);
        assert_eq!(wait_after_success(hour, None), hour);
        let soon = SystemTime::now() + Duration::from_secs(600);
        let wait = wait_after_success(hour, Some(soon));
        assert!(wait <= Duration::from_secs(300) && wait > Duration::from_secs(290));
        let past = SystemTime::now() - hour;
        assert_eq!(wait_after_success(hour, Some(past)), LATE_WAIT);
        assert_eq!(wait_after_success(Duration::ZERO, None), MIN_WAIT);
    }
}
