//! Limits per client address: how many connections one source may hold, and how fast it may
//! open new ones, so one client cannot take a listener's handshake capacity from the others.

use serde::{Deserialize, Serialize};

/// Limits per source (`listeners[].limits.per_source`). A source is a client IPv4 address, or
/// the /64 prefix of an IPv6 one (what one IPv6 host is usually given). Off unless set.
///
/// ```yaml
/// limits:
///   per_source:
///     max_connections: 64          # open connections per source
///     handshakes_per_second: 20    # new connections per source, on average
///     handshake_burst: 40          # … and at once (default: the rate)
/// ```
///
/// A connection over a limit is closed at accept, before any TLS work, and counted as
/// `mtls_accept_failures_total{reason="source_connections" | "source_handshake_rate"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SourceLimits {
    /// Open connections one source may hold (TLS and plaintext); more are closed at accept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    /// New connections (each a handshake) one source may open per second on average: a token
    /// bucket refilled at this rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshakes_per_second: Option<u32>,
    /// New connections one source may open at once, above the average: the bucket's size
    /// (default: `handshakes_per_second`). Needs `handshakes_per_second`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake_burst: Option<u32>,
    /// Sources tracked at once (default 65,536). When that many are connected or still
    /// refilling, a new source is refused (`reason="source_table_full"`), as nginx's
    /// `limit_conn` does when its zone is full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sources: Option<u32>,
}

impl SourceLimits {
    /// The bucket size: `handshake_burst`, else the rate (at least 1).
    pub fn burst(&self) -> u32 {
        self.handshake_burst
            .or(self.handshakes_per_second)
            .unwrap_or(1)
            .max(1)
    }

    /// The sources tracked at once, or the default (65,536).
    pub fn max_sources(&self) -> u32 {
        self.max_sources.unwrap_or(65_536)
    }

    /// Checks the values; `Err((field, message))`, the field relative to `per_source`.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        for (field, value) in [
            ("max_connections", self.max_connections),
            ("handshakes_per_second", self.handshakes_per_second),
            ("handshake_burst", self.handshake_burst),
            ("max_sources", self.max_sources),
        ] {
            if value == Some(0) {
                return Err((
                    field,
                    "must be at least 1 (0 would refuse every client)".into(),
                ));
            }
        }
        if self.handshake_burst.is_some() && self.handshakes_per_second.is_none() {
            return Err((
                "handshake_burst",
                "needs `handshakes_per_second` (the rate the burst refills at)".into(),
            ));
        }
        if self.max_connections.is_none() && self.handshakes_per_second.is_none() {
            return Err((
                "per_source",
                "set `max_connections`, `handshakes_per_second` or both".into(),
            ));
        }
        Ok(())
    }
}
