//! Verified OCSP statuses kept until they expire, bounded in size.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rustls_pki_types::UnixTime;
use sha2::Digest as _;

use super::request::OcspRequest;
use super::verify::OcspStatus;

/// What a status is cached by: the issuer (its name and a SHA-256 of its public key) and the
/// certificate's serial number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OcspKey {
    issuer_name: Box<[u8]>,
    issuer_key: [u8; 32],
    serial: Box<[u8]>,
}

impl OcspKey {
    /// The key of a certificate with serial `serial` (the INTEGER's contents) issued by the CA
    /// with DER subject name `issuer_name` and public key bits `issuer_key`.
    pub fn new(issuer_name: &[u8], issuer_key: &[u8], serial: &[u8]) -> Self {
        Self {
            issuer_name: issuer_name.into(),
            issuer_key: sha2::Sha256::digest(issuer_key).into(),
            serial: serial.into(),
        }
    }
}

impl From<&OcspRequest> for OcspKey {
    fn from(request: &OcspRequest) -> Self {
        Self::new(
            &request.issuer_subject,
            &request.issuer_key,
            &request.serial,
        )
    }
}

/// A cached status and the time it stops counting.
#[derive(Debug, Clone, Copy)]
struct Entry {
    status: OcspStatus,
    until: u64,
}

/// Verified OCSP statuses by (issuer, serial), each kept until it expires, at most
/// `capacity` of them.
///
/// A good status with a nextUpdate counts until that nextUpdate; any other status (good
/// without nextUpdate, revoked, unknown) counts for the cache's TTL from the time it was
/// inserted. An expired status is never returned. Inserting into a full cache first drops
/// the expired entries, then, if it is still full, the entry that expires first. Lookups and
/// inserts take a lock for a hash-map operation; an insert into a full cache scans it once.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let pki = mtls_testkit::Pki::shared();
/// # let client = pki.default_client();
/// use std::time::Duration;
/// use mtls_verify::ocsp::{OcspCache, OcspKey, OcspRequest, OcspStatus};
/// use rustls_pki_types::UnixTime;
///
/// let cache = OcspCache::new(10_000, Duration::from_secs(300));
/// let request = OcspRequest::new(client.cert_der(), client.issuer_cert_der())?;
/// let key = OcspKey::from(&request);
/// let now = UnixTime::now();
/// assert_eq!(cache.get(&key, now), None);
/// // After OcspVerifier::verify gave a status:
/// cache.insert(key.clone(), OcspStatus::Unknown, now);
/// assert_eq!(cache.get(&key, now), Some(OcspStatus::Unknown));
/// # Ok(()) }
/// ```
pub struct OcspCache {
    entries: Mutex<HashMap<OcspKey, Entry>>,
    capacity: usize,
    ttl: Duration,
}

impl fmt::Debug for OcspCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OcspCache")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl OcspCache {
    /// An empty cache holding at most `capacity` statuses (at least one), each status without
    /// a nextUpdate counting for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// The status cached for `key`, if it still counts at `now`.
    pub fn get(&self, key: &OcspKey, now: UnixTime) -> Option<OcspStatus> {
        let mut entries = self.lock();
        let entry = *entries.get(key)?;
        if entry.until < now.as_secs() {
            entries.remove(key);
            return None;
        }
        Some(entry.status)
    }

    /// Caches `status` for `key`, verified at `now`; replaces what was cached for `key`.
    pub fn insert(&self, key: OcspKey, status: OcspStatus, now: UnixTime) {
        let until = match status {
            OcspStatus::Good {
                next_update: Some(next),
            } => next.as_secs(),
            _ => now.as_secs().saturating_add(self.ttl.as_secs()),
        };
        if until < now.as_secs() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, e| e.until >= now.as_secs());
            if entries.len() >= self.capacity {
                let soonest = entries
                    .iter()
                    .min_by_key(|(_, e)| e.until)
                    .map(|(k, _)| k.clone());
                if let Some(soonest) = soonest {
                    entries.remove(&soonest);
                }
            }
        }
        entries.insert(key, Entry { status, until });
    }

    /// Forgets the status of `key`.
    pub fn remove(&self, key: &OcspKey) {
        self.lock().remove(key);
    }

    /// How many statuses are held (expired ones included until they are looked up or
    /// evicted).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no status is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys whose status stops counting before `time`, for a prefetcher to refresh.
    pub fn expiring_before(&self, time: UnixTime) -> Vec<OcspKey> {
        self.lock()
            .iter()
            .filter(|(_, e)| e.until < time.as_secs())
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<OcspKey, Entry>> {
        // The map stays consistent whatever a panicking holder did: take it back.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(secs))
    }

    fn key(serial: u8) -> OcspKey {
        OcspKey::new(b"issuer", b"key", &[serial])
    }

    const GOOD_UNTIL_2000: OcspStatus = OcspStatus::Good {
        next_update: Some(UnixTime::since_unix_epoch(Duration::from_secs(2_000))),
    };

    #[test]
    fn a_good_status_counts_until_next_update() {
        let cache = OcspCache::new(8, Duration::from_secs(60));
        cache.insert(key(1), GOOD_UNTIL_2000, at(1_000));
        assert_eq!(cache.get(&key(1), at(2_000)), Some(GOOD_UNTIL_2000));
        assert_eq!(cache.get(&key(1), at(2_001)), None);
        assert!(cache.is_empty(), "the expired entry is dropped on lookup");
    }

    #[test]
    fn other_statuses_count_for_the_ttl() {
        let cache = OcspCache::new(8, Duration::from_secs(60));
        let revoked = OcspStatus::Revoked {
            time: at(10),
            reason: None,
        };
        cache.insert(key(1), revoked, at(1_000));
        cache.insert(key(2), OcspStatus::Good { next_update: None }, at(1_000));
        cache.insert(key(3), OcspStatus::Unknown, at(1_030));
        assert_eq!(cache.get(&key(1), at(1_060)), Some(revoked));
        assert_eq!(cache.get(&key(1), at(1_061)), None);
        assert_eq!(cache.get(&key(2), at(1_061)), None);
        assert_eq!(cache.get(&key(3), at(1_061)), Some(OcspStatus::Unknown));
        assert_eq!(cache.expiring_before(at(2_000)), vec![key(3)]);
    }

    #[test]
    fn keys_differ_by_issuer_key_and_serial() {
        let cache = OcspCache::new(8, Duration::from_secs(60));
        cache.insert(key(1), OcspStatus::Unknown, at(0));
        assert_eq!(
            cache.get(&OcspKey::new(b"issuer", b"other", &[1]), at(0)),
            None
        );
        assert_eq!(cache.get(&key(2), at(0)), None);
        cache.remove(&key(1));
        assert_eq!(cache.get(&key(1), at(0)), None);
    }

    #[test]
    fn a_full_cache_drops_the_expired_then_the_soonest_to_expire() {
        let cache = OcspCache::new(2, Duration::from_secs(60));
        cache.insert(key(1), OcspStatus::Unknown, at(0)); // until 60
        cache.insert(key(2), GOOD_UNTIL_2000, at(0));
        cache.insert(key(3), OcspStatus::Unknown, at(100)); // key 1 expired: dropped
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&key(2), at(100)), Some(GOOD_UNTIL_2000));
        cache.insert(key(4), OcspStatus::Unknown, at(110)); // key 3 (until 160) goes
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&key(3), at(110)), None);
        assert_eq!(cache.get(&key(2), at(110)), Some(GOOD_UNTIL_2000));
        assert_eq!(cache.get(&key(4), at(110)), Some(OcspStatus::Unknown));
        // Replacing a key in a full cache evicts nothing.
        cache.insert(key(4), OcspStatus::Good { next_update: None }, at(110));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_status_already_past_is_not_cached() {
        let cache = OcspCache::new(2, Duration::from_secs(60));
        cache.insert(key(1), GOOD_UNTIL_2000, at(3_000));
        assert!(cache.is_empty());
    }
}
