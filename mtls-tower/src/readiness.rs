//! STRICT readiness: on a listener that takes plaintext and TLS on one port (PERMISSIVE), who
//! connects how, so that an operator can tell who would break if the port became STRICT.
//!
//! Connections are counted per (source address, SNI, client identity) by how they came:
//! plaintext, TLS without a client certificate, or mTLS. The table is bounded: at most
//! `capacity` entries; when a new key finds it full, the eighth of the entries with the
//! smallest totals (at least one) is evicted at once, their counts moving to the overflow. So
//! the heavy hitters stay, the churn is at the bottom, entries plus overflow always add up to
//! every connection recorded since the start, and a stream of new keys (a scan from many
//! addresses) costs one pass over the table per eighth of it, not one per connection.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use mtls_core::PeerIdentity;
use serde::{Deserialize, Serialize};

use crate::connection::ConnectionInfo;

/// How many (source, SNI, identity) entries [`StrictReadiness::default`] keeps.
pub const DEFAULT_READINESS_CAPACITY: usize = 1024;

/// The longest SNI or identity kept, in bytes: longer ones are cut (at a character boundary),
/// so an entry's size is bounded whatever a client sends.
const MAX_NAME: usize = 256;

/// Counts, per client address, SNI and client identity, how connections to a PERMISSIVE
/// listener came (plaintext, TLS without a client certificate, mTLS): the answer to "who would
/// break if this port became STRICT?".
///
/// Attach it to an acceptor with
/// [`Acceptor::with_strict_readiness`](crate::Acceptor::with_strict_readiness): every
/// connection the acceptor accepts is recorded, at the cost of one short mutex hold and one
/// hash lookup (no allocation for a key already counted). Memory is bounded by the capacity
/// (default [`DEFAULT_READINESS_CAPACITY`]): when a new key finds the table full, the eighth
/// of the entries with the smallest totals is evicted, their counts moving to the
/// [overflow](ReadinessOverflow).
///
/// Cheap to clone: clones share the table.
///
/// ```
/// use mtls_tower::{ConnectionInfo, StrictReadiness};
///
/// let readiness = StrictReadiness::new(2);
/// let plaintext = ConnectionInfo::plaintext(Some("10.0.0.7:50000".parse()?), None);
/// readiness.record(&plaintext);
/// readiness.record(&plaintext);
///
/// let report = readiness.snapshot();
/// assert_eq!(report.would_break, 2);
/// assert_eq!(report.entries[0].source, "10.0.0.7".parse::<std::net::IpAddr>()?);
/// assert_eq!(report.entries[0].counts.plaintext, 2);
/// assert_eq!(report.overflow.entries, 0);
/// // As JSON, for an admin endpoint.
/// let json = serde_json::to_string(&report)?;
/// assert!(json.contains(r#""plaintext":2"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct StrictReadiness {
    inner: Arc<Inner>,
}

struct Inner {
    capacity: usize,
    since: SystemTime,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    entries: HashMap<Key, TransportCounts>,
    overflow: ReadinessOverflow,
    /// The totals of the entries, reused by each eviction.
    scratch: Vec<u64>,
}

/// How one connection came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Plaintext,
    TlsWithoutCertificate,
    Mtls,
}

/// Connections of one kind or another, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TransportCounts {
    /// Plaintext connections: refused under STRICT.
    pub plaintext: u64,
    /// TLS connections without a client certificate: refused under STRICT.
    pub tls_without_certificate: u64,
    /// TLS connections with a client certificate (verified, or failed and left to the layer
    /// to answer): accepted at the transport under STRICT.
    pub mtls: u64,
}

impl TransportCounts {
    /// The connections STRICT would refuse: plaintext and TLS without a certificate.
    pub fn would_break(&self) -> u64 {
        self.plaintext.saturating_add(self.tls_without_certificate)
    }

    /// Every connection counted.
    pub fn total(&self) -> u64 {
        self.would_break().saturating_add(self.mtls)
    }

    fn add(&mut self, transport: Transport) {
        let count = match transport {
            Transport::Plaintext => &mut self.plaintext,
            Transport::TlsWithoutCertificate => &mut self.tls_without_certificate,
            Transport::Mtls => &mut self.mtls,
        };
        *count = count.saturating_add(1);
    }

    fn merge(&mut self, other: &Self) {
        self.plaintext = self.plaintext.saturating_add(other.plaintext);
        self.tls_without_certificate = self
            .tls_without_certificate
            .saturating_add(other.tls_without_certificate);
        self.mtls = self.mtls.saturating_add(other.mtls);
    }
}

/// What was evicted from a full table: how many entries, and their connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReadinessOverflow {
    /// Entries evicted (a key evicted twice counts twice).
    pub entries: u64,
    /// The connections the evicted entries had counted.
    pub counts: TransportCounts,
}

/// One (source, SNI, identity) and how its connections came.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReadinessEntry {
    /// The client's address (an IPv4-mapped IPv6 address as IPv4).
    pub source: IpAddr,
    /// The SNI the client sent (its first 256 bytes); `None` for plaintext or a ClientHello
    /// without one.
    pub sni: Option<String>,
    /// The client certificate's identity: its SPIFFE ID, else its first URI SAN, else its
    /// first DNS SAN, else its subject (its first 256 bytes); `None` without a certificate.
    pub identity: Option<String>,
    /// How its connections came.
    pub counts: TransportCounts,
}

/// A snapshot of a [`StrictReadiness`], for an admin endpoint or a test.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReadinessReport {
    /// When counting started, in seconds since the Unix epoch.
    pub since_unix_seconds: u64,
    /// The most entries kept.
    pub capacity: usize,
    /// Connections STRICT would have refused: those of the entries and of the overflow.
    pub would_break: u64,
    /// The entries, those with the most connections STRICT would refuse first, then by total
    /// connections (most first), then by source, SNI and identity.
    pub entries: Vec<ReadinessEntry>,
    /// What did not fit.
    pub overflow: ReadinessOverflow,
}

impl Default for StrictReadiness {
    /// A table of [`DEFAULT_READINESS_CAPACITY`] entries.
    fn default() -> Self {
        Self::new(DEFAULT_READINESS_CAPACITY)
    }
}

impl StrictReadiness {
    /// A table of at most `capacity` entries, counting from now. With a capacity of 0, every
    /// connection is counted in the overflow only.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                capacity,
                since: SystemTime::now(),
                table: Mutex::new(Table::default()),
            }),
        }
    }

    /// The most entries kept.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// Counts one accepted connection: plaintext, TLS without a client certificate, or mTLS
    /// (a certificate was presented), under its source address, SNI and identity. A
    /// connection without a known remote address is counted in the overflow.
    pub fn record(&self, info: &ConnectionInfo) {
        let transport = if info.is_plaintext() {
            Transport::Plaintext
        } else if info.peer_chain().is_empty() {
            Transport::TlsWithoutCertificate
        } else {
            Transport::Mtls
        };
        let identity = info.peer().and_then(identity_of).map(clip);
        let sni = info.sni().map(clip);
        match info.remote_addr() {
            Some(remote) => self.count(source_of(remote.ip()), sni, identity, transport),
            None => self.table().overflow.counts.add(transport),
        }
    }

    fn count(&self, source: IpAddr, sni: Option<&str>, identity: Option<&str>, how: Transport) {
        let capacity = self.inner.capacity;
        let mut table = self.table();
        let borrowed = (source, sni, identity);
        if let Some(counts) = table.entries.get_mut(&borrowed as &dyn AsKey) {
            counts.add(how);
            return;
        }
        if capacity == 0 {
            table.overflow.counts.add(how);
            return;
        }
        if table.entries.len() >= capacity {
            table.evict_smallest(capacity.div_ceil(8));
        }
        let mut counts = TransportCounts::default();
        counts.add(how);
        let key = Key {
            source,
            sni: sni.map(Box::from),
            identity: identity.map(Box::from),
        };
        table.entries.insert(key, counts);
    }

    /// The counts now, sorted by what STRICT would break.
    pub fn snapshot(&self) -> ReadinessReport {
        let (mut entries, overflow) = {
            let table = self.table();
            let entries: Vec<ReadinessEntry> = table
                .entries
                .iter()
                .map(|(key, counts)| ReadinessEntry {
                    source: key.source,
                    sni: key.sni.as_deref().map(str::to_owned),
                    identity: key.identity.as_deref().map(str::to_owned),
                    counts: *counts,
                })
                .collect();
            (entries, table.overflow)
        };
        entries.sort_by(|a, b| {
            b.counts
                .would_break()
                .cmp(&a.counts.would_break())
                .then(b.counts.total().cmp(&a.counts.total()))
                .then_with(|| a.source.cmp(&b.source))
                .then_with(|| a.sni.cmp(&b.sni))
                .then_with(|| a.identity.cmp(&b.identity))
        });
        let would_break = entries
            .iter()
            .map(|e| e.counts.would_break())
            .fold(overflow.counts.would_break(), u64::saturating_add);
        ReadinessReport {
            since_unix_seconds: self
                .inner
                .since
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            capacity: self.inner.capacity,
            would_break,
            entries,
            overflow,
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic while holding the lock leaves counts that are still counts.
        self.inner
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Table {
    /// Evicts the `count` entries with the smallest totals into the overflow (ties: whichever
    /// come first in the table's order): two passes over the table, only when a new key
    /// arrives at a full one.
    fn evict_smallest(&mut self, count: usize) {
        if self.entries.is_empty() {
            return;
        }
        let count = count.clamp(1, self.entries.len());
        self.scratch.clear();
        self.scratch
            .extend(self.entries.values().map(TransportCounts::total));
        // In bounds: 1 <= count <= the number of entries.
        let (_, &mut threshold, _) = self.scratch.select_nth_unstable(count - 1);
        // Those below the threshold, then as many at it as still needed.
        let below = self.scratch.iter().filter(|&&t| t < threshold).count();
        let mut at_threshold = count - below;
        let overflow = &mut self.overflow;
        self.entries.retain(|_, counts| {
            let total = counts.total();
            let evict = total < threshold || (total == threshold && at_threshold > 0);
            if evict {
                if total == threshold {
                    at_threshold -= 1;
                }
                overflow.entries = overflow.entries.saturating_add(1);
                overflow.counts.merge(counts);
            }
            !evict
        });
    }
}

impl std::fmt::Debug for StrictReadiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrictReadiness")
            .field("capacity", &self.inner.capacity)
            .field("since", &self.inner.since)
            .finish_non_exhaustive()
    }
}

/// The source as counted: an IPv4-mapped IPv6 address is its IPv4 address.
fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// `name`, cut to at most [`MAX_NAME`] bytes at a character boundary.
fn clip(name: &str) -> &str {
    if name.len() <= MAX_NAME {
        return name;
    }
    let mut end = MAX_NAME;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// The name a report gives a client certificate: its SPIFFE ID, else its first URI SAN, else
/// its first DNS SAN, else its subject.
fn identity_of(peer: &PeerIdentity) -> Option<&str> {
    peer.spiffe_id()
        .map(|id| id.as_str())
        .or_else(|| peer.uris().first().map(String::as_str))
        .or_else(|| peer.dns_names().first().map(String::as_str))
        .or_else(|| Some(peer.subject()).filter(|s| !s.is_empty()))
}

/// A table key, owned.
#[derive(Clone, Debug)]
struct Key {
    source: IpAddr,
    sni: Option<Box<str>>,
    identity: Option<Box<str>>,
}

/// A key owned or borrowed: lets the table be searched with borrowed strings, so a key
/// already counted costs no allocation.
trait AsKey {
    fn parts(&self) -> (IpAddr, Option<&str>, Option<&str>);
}

impl AsKey for Key {
    fn parts(&self) -> (IpAddr, Option<&str>, Option<&str>) {
        (self.source, self.sni.as_deref(), self.identity.as_deref())
    }
}

impl AsKey for (IpAddr, Option<&str>, Option<&str>) {
    fn parts(&self) -> (IpAddr, Option<&str>, Option<&str>) {
        *self
    }
}

impl<'a> Borrow<dyn AsKey + 'a> for Key {
    fn borrow(&self) -> &(dyn AsKey + 'a) {
        self
    }
}

impl Hash for dyn AsKey + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for dyn AsKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn AsKey + '_ {}

// The owned key hashes and compares as its borrowed form, as `Borrow` requires.
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for Key {}

#[cfg(test)]
#[path = "readiness/tests.rs"]
mod tests;
