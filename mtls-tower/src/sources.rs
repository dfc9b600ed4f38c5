//! Per-source limits ([`SourceLimits`]): open connections and a token bucket of new
//! connections per client address (IPv4) or /64 prefix (IPv6), in a bounded table.
//!
//! The table is split in shards by a hash of the source, each behind its own mutex held for a
//! few instructions per accepted connection. A source is forgotten once it holds no
//! connection and its bucket is full again; a full shard first forgets those, and refuses a
//! new source if it still has no room.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use mtls_policy::SourceLimits;

/// How many shards the table is split in.
const SHARDS: usize = 16;

/// Why a source was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceLimited {
    /// The source already holds the most connections it may.
    #[error("the source holds {0} connections, its limit")]
    Connections(u32),
    /// The source opened new connections faster than its rate (and burst) allow.
    #[error("the source opens connections faster than {0} per second")]
    HandshakeRate(u32),
    /// As many sources as may be tracked are connected or still refilling.
    #[error("{0} sources are already tracked")]
    TableFull(u32),
}

/// A client as the limits count it: an IPv4 address, or an IPv6 /64 prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Source {
    V4(u32),
    V6(u64),
}

impl Source {
    fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(u32::from(v4)),
                // The /64 prefix: the high half.
                None => Self::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

#[derive(Debug)]
struct Entry {
    connections: u32,
    tokens: f64,
    refilled: Instant,
}

/// The per-source state of one listener.
pub(crate) struct Sources {
    limits: SourceLimits,
    per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
    shards: [Mutex<HashMap<Source, Entry>>; SHARDS],
}

/// Holds one of a source's connections: dropped with the connection, it gives it back.
#[derive(Debug)]
pub(crate) struct SourceGuard {
    sources: Arc<Sources>,
    source: Source,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Sources {
    pub(crate) fn new(limits: SourceLimits) -> Self {
        let per_shard = (limits.max_sources() as usize).div_ceil(SHARDS).max(1);
        Self {
            limits,
            per_shard,
            hasher: std::collections::hash_map::RandomState::new(),
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        }
    }

    /// Admits a new connection from `ip` at `now`: takes a token from its bucket and counts
    /// the connection. The guard gives the connection back when dropped (`None` when
    /// connections are not limited).
    pub(crate) fn admit(
        self: &Arc<Self>,
        ip: IpAddr,
        now: Instant,
    ) -> Result<Option<SourceGuard>, SourceLimited> {
        let source = Source::of(ip);
        let limits = &self.limits;
        let burst = f64::from(limits.burst());
        let mut shard = self.shard(source);
        if !shard.contains_key(&source) && shard.len() >= self.per_shard {
            shard.retain(|_, e| !e.idle(limits, now));
            if shard.len() >= self.per_shard {
                return Err(SourceLimited::TableFull(limits.max_sources()));
            }
        }
        let entry = shard.entry(source).or_insert(Entry {
            connections: 0,
            tokens: burst,
            refilled: now,
        });
        if let Some(max) = limits.max_connections
            && entry.connections >= max
        {
            return Err(SourceLimited::Connections(max));
        }
        if let Some(rate) = limits.handshakes_per_second {
            entry.refill(rate, burst, now);
            if entry.tokens < 1.0 {
                return Err(SourceLimited::HandshakeRate(rate));
            }
            entry.tokens -= 1.0;
        }
        if limits.max_connections.is_none() {
            return Ok(None);
        }
        entry.connections += 1;
        Ok(Some(SourceGuard {
            sources: Arc::clone(self),
            source,
        }))
    }

    fn shard(&self, source: Source) -> std::sync::MutexGuard<'_, HashMap<Source, Entry>> {
        let i = (self.hasher.hash_one(source) as usize) % SHARDS;
        // A panic while holding the lock leaves counts that are still counts.
        self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The sources tracked now.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

impl Entry {
    fn refill(&mut self, rate: u32, burst: f64, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * f64::from(rate)).min(burst);
        self.refilled = now;
    }

    /// Holds no connection and its bucket is full again: nothing to remember.
    fn idle(&mut self, limits: &SourceLimits, now: Instant) -> bool {
        if self.connections > 0 {
            return false;
        }
        let burst = f64::from(limits.burst());
        match limits.handshakes_per_second {
            Some(rate) => {
                self.refill(rate, burst, now);
                self.tokens >= burst
            }
            None => true,
        }
    }
}

impl Drop for SourceGuard {
    fn drop(&mut self) {
        let mut shard = self.sources.shard(self.source);
        if let Some(entry) = shard.get_mut(&self.source) {
            entry.connections = entry.connections.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Limits with room for every source a test uses (sources land in shards by a random
    /// hash: a small table could be full for two of them).
    fn limits(connections: Option<u32>, rate: Option<u32>, burst: Option<u32>) -> Arc<Sources> {
        limits_of(connections, rate, burst, 1024)
    }

    fn limits_of(
        connections: Option<u32>,
        rate: Option<u32>,
        burst: Option<u32>,
        sources: u32,
    ) -> Arc<Sources> {
        let mut l = SourceLimits::default();
        l.max_connections = connections;
        l.handshakes_per_second = rate;
        l.handshake_burst = burst;
        l.max_sources = Some(sources);
        Arc::new(Sources::new(l))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn connections_are_counted_per_source_and_given_back() {
        let s = limits(Some(2), None, None);
        let now = Instant::now();
        let a = s.admit(ip("127.0.0.2"), now).unwrap();
        let b = s.admit(ip("127.0.0.2"), now).unwrap();
        assert_eq!(
            s.admit(ip("127.0.0.2"), now).unwrap_err(),
            SourceLimited::Connections(2)
        );
        // Another source is not affected; an IPv4-mapped IPv6 address is the IPv4 source.
        assert!(s.admit(ip("127.0.0.3"), now).is_ok());
        assert_eq!(
            s.admit(ip("::ffff:127.0.0.2"), now).unwrap_err(),
            SourceLimited::Connections(2)
        );
        drop(a);
        let c = s.admit(ip("127.0.0.2"), now).unwrap();
        assert!(c.is_some() && b.is_some());
    }

    #[test]
    fn the_bucket_allows_the_burst_then_the_rate() {
        let s = limits(None, Some(10), Some(3));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(matches!(s.admit(ip("10.0.0.1"), t0), Ok(None)));
        }
        assert_eq!(
            s.admit(ip("10.0.0.1"), t0).unwrap_err(),
            SourceLimited::HandshakeRate(10)
        );
        // 100 ms at 10/s: one more token.
        let t1 = t0 + Duration::from_millis(100);
        assert!(matches!(s.admit(ip("10.0.0.1"), t1), Ok(None)));
        assert!(s.admit(ip("10.0.0.1"), t1).is_err());
        // An IPv6 /64 is one source; another /64 is another.
        for _ in 0..3 {
            assert!(s.admit(ip("2001:db8:0:1::1"), t0).is_ok());
        }
        assert!(s.admit(ip("2001:db8:0:1::ffff"), t0).is_err());
        assert!(s.admit(ip("2001:db8:0:2::1"), t0).is_ok());
    }

    #[test]
    fn the_table_forgets_idle_sources_and_refuses_when_full_of_busy_ones() {
        let s = limits_of(Some(1), Some(1), None, SHARDS as u32);
        let t0 = Instant::now();
        // Fill the table with busy sources (one per shard on average; a shard fills first).
        let mut held = Vec::new();
        let mut refused = None;
        for i in 0..=255u8 {
            let source = IpAddr::from([10, 1, 0, i]);
            match s.admit(source, t0) {
                Ok(guard) => held.push(guard),
                Err(e) => {
                    refused = Some((source, e));
                    break;
                }
            }
        }
        let (source, e) = refused.expect("the table fills");
        assert_eq!(e, SourceLimited::TableFull(SHARDS as u32));
        assert!(s.tracked() <= SHARDS);
        // Still refused a moment later: the sources hold their connections.
        let soon = t0 + Duration::from_secs(2);
        assert!(s.admit(source, soon).is_err());
        // Once their connections close and their buckets refill, they are forgotten.
        held.clear();
        assert!(s.admit(source, soon).is_ok());
    }
}
