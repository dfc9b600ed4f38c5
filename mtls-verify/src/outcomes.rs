//! A small bounded map from end-entity certificate (full DER) to the verification outcome of
//! the handshake that presented it, because rustls does not tell a verifier which connection
//! it serves.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use mtls_policy::PeerVerification;

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Arc<[u8]>, PeerVerification>,
    /// First-insertion order; holds each key of `map` exactly once.
    order: VecDeque<Arc<[u8]>>,
}

/// Bounded FIFO of outcomes: the entry first recorded longest ago is evicted when full.
/// Re-recording a certificate updates its outcome in place.
#[derive(Debug)]
pub(crate) struct Outcomes {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl Outcomes {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    pub(crate) fn record(&self, end_entity: &[u8], outcome: PeerVerification) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if let Some(slot) = inner.map.get_mut(end_entity) {
            *slot = outcome;
            return;
        }
        let key: Arc<[u8]> = Arc::from(end_entity);
        inner.map.insert(key.clone(), outcome);
        inner.order.push_back(key);
        while inner.order.len() > self.capacity {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            inner.map.remove(&old);
        }
    }

    pub(crate) fn get(&self, end_entity: &[u8]) -> Option<PeerVerification> {
        let inner = self.inner.lock().ok()?;
        inner.map.get(end_entity).cloned()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().map(|i| i.map.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_fifo() {
        let outcomes = Outcomes::new(2);
        outcomes.record(b"a", PeerVerification::verified("x"));
        outcomes.record(b"b", PeerVerification::verified("y"));
        outcomes.record(b"c", PeerVerification::verified("z"));
        assert_eq!(outcomes.len(), 2);
        assert_eq!(outcomes.get(b"a"), None);
        assert_eq!(outcomes.get(b"b"), Some(PeerVerification::verified("y")));
        // Not consumed by reading.
        assert_eq!(outcomes.get(b"b"), Some(PeerVerification::verified("y")));
        // Re-recording updates in place.
        outcomes.record(b"c", PeerVerification::verified("z2"));
        assert_eq!(outcomes.len(), 2);
        assert_eq!(outcomes.get(b"c"), Some(PeerVerification::verified("z2")));
        outcomes.record(b"d", PeerVerification::verified("w"));
        assert_eq!(outcomes.get(b"b"), None);
        assert_eq!(outcomes.get(b"d"), Some(PeerVerification::verified("w")));
    }
}
