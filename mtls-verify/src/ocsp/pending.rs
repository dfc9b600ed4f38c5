//! Statuses being fetched, which a `hard` trust domain's connections wait for:
//! [`OcspWaiting`] and [`OcspPending`].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Poll, Waker};
use std::time::Duration;

use super::cache::OcspKey;
use super::verify::OcspStatus;

/// The status a fetch settled on: `Some` status the responder gave, or `None` when the fetch
/// failed (no answer, an answer that does not verify, a full queue).
pub type OcspSettled = Option<OcspStatus>;

/// Why a `hard` trust domain refuses a connection whose status settled on `settled`: `None`
/// for a good status; `revoked` (with the responder's reason) for a revoked one;
/// `revocation_unknown` for an unknown status or none (fetch failed or too slow).
pub fn settled_refusal(settled: OcspSettled) -> Option<mtls_policy::VerifyError> {
    use mtls_policy::VerifyError;
    match settled {
        Some(OcspStatus::Good { .. }) => None,
        Some(OcspStatus::Revoked { reason, .. }) => Some(VerifyError::Revoked {
            reason: reason.map(crate::chain::reason_name),
        }),
        _ => Some(VerifyError::RevocationUnknown),
    }
}

/// One certificate's status as a connection waits for it: settled once, by the fetcher (or
/// at once when the status was cached, or when the certificate cannot be asked about).
///
/// Cheap to clone; every connection of the same certificate shares one.
#[derive(Clone)]
pub struct OcspPending {
    inner: Arc<Slot>,
    timeout: Duration,
}

/// The status, once settled, and the tasks waiting for it (std only: the verifier needs no
/// async runtime).
#[derive(Default)]
struct Slot {
    settled: OnceLock<OcspSettled>,
    waiting: Mutex<Vec<Waker>>,
}

impl Slot {
    fn waiting(&self) -> MutexGuard<'_, Vec<Waker>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for OcspPending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OcspPending")
            .field("settled", &self.inner.settled.get())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl OcspPending {
    fn new(timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Slot::default()),
            timeout,
        }
    }

    /// A status already known (`settled`), for which nobody waits.
    pub fn settled(settled: OcspSettled, timeout: Duration) -> Self {
        let pending = Self::new(timeout);
        pending.settle(settled);
        pending
    }

    /// The settled status, if the fetch is over (one atomic load).
    pub fn get(&self) -> Option<OcspSettled> {
        self.inner.settled.get().copied()
    }

    /// How long a request may wait for the status: the trust domain's `ocsp.timeout`.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Waits until the status is settled (the caller bounds the wait by
    /// [`timeout`](Self::timeout)).
    pub async fn wait(&self) -> OcspSettled {
        std::future::poll_fn(|cx| {
            if let Some(settled) = self.get() {
                return Poll::Ready(settled);
            }
            let mut waiting = self.inner.waiting();
            // Checked again under the lock `settle` takes after setting the status, so a
            // settle in between is not missed.
            if let Some(settled) = self.get() {
                return Poll::Ready(settled);
            }
            if !waiting.iter().any(|w| w.will_wake(cx.waker())) {
                waiting.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    fn settle(&self, settled: OcspSettled) {
        let _ = self.inner.settled.set(settled);
        let waiting = std::mem::take(&mut *self.inner.waiting());
        for waker in waiting {
            waker.wake();
        }
    }
}

/// The certificates of one `hard` trust domain whose status is being fetched: the handshake
/// registers a certificate it did not find cached ([`OcspCheck::lookup`](super::OcspCheck)),
/// the connection takes its [`OcspPending`], and the fetcher settles it when its answer (or
/// failure) comes.
#[derive(Clone)]
pub struct OcspWaiting {
    pending: Arc<Mutex<HashMap<OcspKey, OcspPending>>>,
    timeout: Duration,
}

impl fmt::Debug for OcspWaiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OcspWaiting")
            .field("pending", &self.map().len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl OcspWaiting {
    /// No certificate pending yet; a request waits at most `timeout` for a status.
    pub fn new(timeout: Duration) -> Self {
        Self {
            pending: Arc::new(Mutex::new(HashMap::new())),
            timeout,
        }
    }

    /// How long a request may wait for a status.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn map(&self) -> MutexGuard<'_, HashMap<OcspKey, OcspPending>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks `key` as being fetched (once; a certificate already pending keeps its entry), and
    /// gives its pending status.
    pub fn register(&self, key: &OcspKey) -> OcspPending {
        self.map()
            .entry(key.clone())
            .or_insert_with(|| OcspPending::new(self.timeout))
            .clone()
    }

    /// The pending status of `key`, if it is being fetched.
    pub fn get(&self, key: &OcspKey) -> Option<OcspPending> {
        self.map().get(key).cloned()
    }

    /// Settles `key` (the fetch is over) and forgets it; waiters wake up.
    pub fn settle(&self, key: &OcspKey, settled: OcspSettled) {
        if let Some(pending) = self.map().remove(key) {
            pending.settle(settled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(serial: u8) -> OcspKey {
        OcspKey::new(b"issuer", b"key", &[serial])
    }

    #[tokio::test]
    async fn a_waiter_wakes_when_its_key_is_settled_and_others_stay_pending() {
        let waiting = OcspWaiting::new(Duration::from_secs(1));
        let one = waiting.register(&key(1));
        let two = waiting.register(&key(2));
        assert!(waiting.get(&key(1)).is_some());
        assert_eq!(one.get(), None);
        let waiter = tokio::spawn({
            let one = one.clone();
            async move { one.wait().await }
        });
        waiting.settle(&key(1), Some(OcspStatus::Unknown));
        assert_eq!(waiter.await.unwrap(), Some(OcspStatus::Unknown));
        assert_eq!(one.get(), Some(Some(OcspStatus::Unknown)));
        assert_eq!(two.get(), None);
        assert!(waiting.get(&key(1)).is_none(), "a settled key is forgotten");
        waiting.settle(&key(2), None);
        assert_eq!(two.wait().await, None);
    }
}
