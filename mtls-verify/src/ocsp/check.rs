//! A trust domain's OCSP statuses as the handshake reads them: a shared [`OcspCache`] and
//! where a certificate whose status is not cached is sent to be fetched.

use std::fmt;
use std::sync::Arc;

use rustls_pki_types::UnixTime;

use super::cache::{OcspCache, OcspKey};
use super::error::OcspRequestError;
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
        }
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
