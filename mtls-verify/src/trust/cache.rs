//! Bounded caches of a trust domain, looked up by borrowed DER on the handshake path.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher as _, Hash as _, Hasher as _, RandomState};
use std::sync::{Arc, Mutex, RwLock};

use rustls_pki_types::CertificateDer;

use crate::chain;

/// A bounded set of certificates (full DER), one per role (leaf or intermediate), that passed
/// the profile checks of the path verification. Cleared when full: a cache, not a record.
/// Looked up by borrowed DER: no allocation on the handshake path.
#[derive(Debug, Default)]
pub(crate) struct ProfileCache(Mutex<[HashSet<Vec<u8>>; 2]>);

impl ProfileCache {
    const CAPACITY: usize = 4096;

    pub(crate) fn contains(&self, leaf: bool, der: &[u8]) -> bool {
        self.0
            .lock()
            .map(|sets| sets[usize::from(leaf)].contains(der))
            .unwrap_or(false)
    }

    pub(crate) fn insert(&self, leaf: bool, der: &[u8]) {
        if let Ok(mut sets) = self.0.lock() {
            let set = &mut sets[usize::from(leaf)];
            if set.len() >= Self::CAPACITY {
                set.clear();
            }
            set.insert(der.to_vec());
        }
    }
}

/// A bounded map from an intermediate's DER to its [`chain::VerifiedIssuer`]. Cleared when
/// full: a cache, not a record. Looked up by borrowed DER.
#[derive(Debug, Default)]
pub(crate) struct IssuerCache(RwLock<HashMap<Vec<u8>, Arc<chain::VerifiedIssuer>>>);

impl IssuerCache {
    const CAPACITY: usize = 1024;

    pub(crate) fn get(&self, der: &[u8]) -> Option<Arc<chain::VerifiedIssuer>> {
        self.0.read().ok()?.get(der).cloned()
    }

    pub(crate) fn insert(&self, der: &[u8], issuer: chain::VerifiedIssuer) {
        if let Ok(mut map) = self.0.write() {
            if map.len() >= Self::CAPACITY {
                map.clear();
            }
            map.insert(der.to_vec(), Arc::new(issuer));
        }
    }
}

/// A bounded map from a certificate's DER to what it says about policies
/// ([`chain::PolicyFacts`]), read once. Cleared when full: a cache, not a record.
#[derive(Debug, Default)]
pub(crate) struct PolicyCache(RwLock<HashMap<Vec<u8>, Arc<chain::PolicyFacts>>>);

impl PolicyCache {
    const CAPACITY: usize = 4096;

    /// The facts of `der`, read now if they are not cached.
    pub(crate) fn facts(&self, der: &[u8]) -> Result<Arc<chain::PolicyFacts>, String> {
        if let Some(facts) = self.0.read().ok().and_then(|map| map.get(der).cloned()) {
            return Ok(facts);
        }
        let facts = Arc::new(chain::PolicyFacts::of(der)?);
        if let Ok(mut map) = self.0.write() {
            if map.len() >= Self::CAPACITY {
                map.clear();
            }
            map.insert(der.to_vec(), Arc::clone(&facts));
        }
        Ok(facts)
    }
}

/// A bounded map of the chains a domain accepted ([`chain::KnownChain`]), indexed by a keyed
/// hash of the presented chain and compared in full: two chains of the same hash are two
/// chains, and the later one replaces the earlier. Cleared when full: a cache, not a record.
/// Looked up by borrowed DER.
#[derive(Debug, Default)]
pub(crate) struct ChainCache {
    hasher: RandomState,
    map: RwLock<HashMap<u64, Arc<chain::KnownChain>>>,
}

impl ChainCache {
    const CAPACITY: usize = 4096;

    /// The chain `end_entity`, `intermediates`, when it is remembered.
    pub(crate) fn get(
        &self,
        end_entity: &[u8],
        intermediates: &[CertificateDer<'_>],
    ) -> Option<Arc<chain::KnownChain>> {
        let key = self.key(end_entity, intermediates.iter().map(AsRef::as_ref));
        let known = self.map.read().ok()?.get(&key).cloned()?;
        known.is(end_entity, intermediates).then_some(known)
    }

    pub(crate) fn insert(&self, known: chain::KnownChain) {
        let key = {
            let mut certs = known.certs();
            let Some(end_entity) = certs.next() else {
                return;
            };
            self.key(end_entity, certs)
        };
        if let Ok(mut map) = self.map.write() {
            if map.len() >= Self::CAPACITY {
                map.clear();
            }
            map.insert(key, Arc::new(known));
        }
    }

    fn key<'a>(&self, end_entity: &[u8], intermediates: impl Iterator<Item = &'a [u8]>) -> u64 {
        let mut state = self.hasher.build_hasher();
        end_entity.hash(&mut state);
        for cert in intermediates {
            cert.hash(&mut state);
        }
        state.finish()
    }

    /// How many chains are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.read().map_or(0, |map| map.len())
    }
}
