//! A trust domain's OCSP statuses as the handshake reads them: a shared [`OcspCache`] and
//! where a certificate whose status is not cached is sent to be fetched.

use std::fmt;
use std::sync::Arc;

use rustls_pki_types::UnixTime;

use super::cache::{OcspCache, OcspKey};
use super::error::OcspRequestError;
use super::pending::{OcspPending, OcspWaiting};
use super::request::OcspRequest;
use super::verify::OcspStatus;

/// What the handshake learns from a trust domain's [`OcspCheck`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcspLookup {
    /// A status is cached for the certificate.
    Cached(OcspStatus),
    /// No status is cached: the certificate was handed to the fetcher (or could not be asked
    /// about: no issuer certificate at hand).
    NotYetKnown,
}

/// A trust domain's OCSP statuses for the verifier: the [`OcspCache`] a background fetcher
/// fills, and the function a certificate whose status is not cached is handed to (it must not
/// block: a bounded queue to the fetcher, which drops what it cannot take).
///
/// Given to a trust domain with
/// [`LoadedTrustDomain::with_ocsp`](crate::LoadedTrustDomain::with_ocsp), it makes the
/// verifier refuse a chain whose leaf is cached as revoked (reason `revoked`, answered as the
/// host answers that reason) and accept one cached as good or not cached yet.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let pki = mtls_testkit::Pki::shared();
/// # let client = pki.default_client();
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use mtls_verify::ocsp::{OcspCache, OcspCheck, OcspLookup, OcspRequest};
/// use rustls_pki_types::UnixTime;
///
/// let cache = Arc::new(OcspCache::new(10_000, Duration::from_secs(3600)));
/// let asked = Arc::new(Mutex::new(Vec::<OcspRequest>::new()));
/// let queue = asked.clone();
/// let check = OcspCheck::new(cache, move |request| queue.lock().unwrap().push(request));
/// let chain = client.chain_der();
/// let anchors = [pki.root().cert_der()];
/// let lookup = check.lookup(&chain[0], &chain[1..], anchors.iter().map(|a| a.as_ref()), UnixTime::now());
/// assert_eq!(lookup, OcspLookup::NotYetKnown);
/// assert_eq!(asked.lock().unwrap().len(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct OcspCheck {
    cache: Arc<OcspCache>,
    on_miss: Arc<dyn Fn(OcspRequest) + Send + Sync>,
    observe: Option<Arc<dyn Fn(OcspLookup) + Send + Sync>>,
    waiting: Option<OcspWaiting>,
}

impl fmt::Debug for OcspCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OcspCheck")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// Two checks are equal when they read the same cache and hand misses to the same function.
impl PartialEq for OcspCheck {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.cache, &other.cache) && Arc::ptr_eq(&self.on_miss, &other.on_miss)
    }
}

impl Eq for OcspCheck {}

impl OcspCheck {
    /// Statuses read from `cache`; a certificate without one is handed to `on_miss`.
    pub fn new(
        cache: Arc<OcspCache>,
        on_miss: impl Fn(OcspRequest) + Send + Sync + 'static,
    ) -> Self {
        Self {
            cache,
            on_miss: Arc::new(on_miss),
            observe: None,
            waiting: None,
        }
    }

    /// `hard` mode: a certificate handed to the fetcher is registered in `waiting` first, so a
    /// connection can wait for its status ([`pending`](Self::pending)); the fetcher settles it.
    #[must_use]
    pub fn with_waiting(mut self, waiting: OcspWaiting) -> Self {
        self.waiting = Some(waiting);
        self
    }

    /// Whether connections wait for statuses not cached at their handshake (`hard` mode).
    pub fn waits(&self) -> bool {
        self.waiting.is_some()
    }

    /// Also tells `observe` what each lookup found (for metrics).
    #[must_use]
    pub fn observe(mut self, observe: impl Fn(OcspLookup) + Send + Sync + 'static) -> Self {
        self.observe = Some(Arc::new(observe));
        self
    }

    /// The cache statuses are read from.
    pub fn cache(&self) -> &Arc<OcspCache> {
        &self.cache
    }

    /// The status cached at `now` for `leaf` (DER), whose issuer is the first of
    /// `intermediates`, then of `anchors` (DER), whose subject is the leaf's issuer; when none
    /// is cached, the request for it is handed to the fetcher.
    pub fn lookup<'a>(
        &self,
        leaf: &[u8],
        intermediates: &'a [rustls_pki_types::CertificateDer<'a>],
        anchors: impl Iterator<Item = &'a [u8]>,
        now: UnixTime,
    ) -> OcspLookup {
        let presented = intermediates.iter().map(|c| c.as_ref());
        let lookup = match request_for(leaf, presented.chain(anchors)) {
            Err(_) => OcspLookup::NotYetKnown,
            Ok(request) => match self.cache.get(&OcspKey::from(&request), now) {
                Some(status) => OcspLookup::Cached(status),
                None => {
                    if let Some(waiting) = &self.waiting {
                        let _ = waiting.register(&OcspKey::from(&request));
                    }
                    (self.on_miss)(request);
                    OcspLookup::NotYetKnown
                }
            },
        };
        if let Some(observe) = &self.observe {
            observe(lookup);
        }
        lookup
    }
}

impl OcspCheck {
    /// In `hard` mode ([`with_waiting`](Self::with_waiting)), the status a connection of
    /// `leaf` waits for (arguments as [`lookup`](Self::lookup), which ran at its handshake):
    /// the one being fetched; else the one cached at `now`, settled; else (a resumed session,
    /// or a fetch that ended without a status before the connection took it) the leaf is
    /// handed to the fetcher again and the connection waits for that. A leaf that cannot be
    /// asked about (no issuer at hand) is settled as not fetched. `None` outside `hard` mode.
    /// Counts no lookup.
    pub fn pending<'a>(
        &self,
        leaf: &[u8],
        intermediates: &'a [rustls_pki_types::CertificateDer<'a>],
        anchors: impl Iterator<Item = &'a [u8]>,
        now: UnixTime,
    ) -> Option<OcspPending> {
        let waiting = self.waiting.as_ref()?;
        let presented = intermediates.iter().map(|c| c.as_ref());
        let Ok(request) = request_for(leaf, presented.chain(anchors)) else {
            return Some(OcspPending::settled(None, waiting.timeout()));
        };
        let key = OcspKey::from(&request);
        if let Some(pending) = waiting.get(&key) {
            return Some(pending);
        }
        if let Some(status) = self.cache.get(&key, now) {
            return Some(OcspPending::settled(Some(status), waiting.timeout()));
        }
        let pending = waiting.register(&key);
        (self.on_miss)(request);
        Some(pending)
    }
}

/// The request for `leaf` (DER) built with the first of `candidates` (DER) that issued it
/// (whose subject is the leaf's issuer).
///
/// # Errors
/// The last candidate's error, or [`OcspRequestError::NoIssuer`] when there is none.
pub fn request_for<'a>(
    leaf: &[u8],
    candidates: impl Iterator<Item = &'a [u8]>,
) -> Result<OcspRequest, OcspRequestError> {
    let mut last = OcspRequestError::NoIssuer;
    for issuer in candidates {
        match OcspRequest::new(leaf, issuer) {
            Ok(request) => return Ok(request),
            Err(e) => last = e,
        }
    }
    Err(last)
}
