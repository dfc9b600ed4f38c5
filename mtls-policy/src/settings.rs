//! A listener's connection settings (TLS versions, unknown SNI, time and count limits), the
//! admin endpoint of a process that serves a model, and durations as written (`250ms`, `5s`).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::source_limits::SourceLimits;

/// What a listener does with a ClientHello whose SNI no host serves.
///
/// With a default host (one with no `hostnames`), a ClientHello without SNI is served by it
/// whatever this says. Without one, a ClientHello without SNI gets the first host's
/// certificate under `default`, and is refused under `refuse`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UnknownSni {
    /// Serve the default host (or, without one, the first host).
    #[default]
    Default,
    /// End the handshake (Istio: no server block for the SNI).
    Refuse,
}

/// The oldest TLS version a listener accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// The admin endpoint (`/healthz`, `/readyz`, `/metrics`, `/strict-readiness`) of a process
/// serving this configuration, such as the example gateway. A library ignores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AdminConfig {
    /// Where it listens.
    pub address: SocketAddr,
    /// How many (client address, SNI, identity) entries `/strict-readiness` keeps per
    /// PERMISSIVE listener (default 1,024); beyond, the smallest are counted in an overflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict_readiness_capacity: Option<u32>,
}

impl AdminConfig {
    /// An admin endpoint on `address`.
    pub fn new(address: SocketAddr) -> Self {
        Self {
            address,
            strict_readiness_capacity: None,
        }
    }
}

/// Session tickets shared by every replica of a listener: TLS resumption works whichever
/// replica a returning client reaches, because they all encrypt tickets with the same keys.
///
/// The key file holds one key per line, each the standard base64 of at least 32 random bytes
/// (`openssl rand -base64 32`); blank lines and lines starting with `#` are skipped. The first
/// key encrypts new tickets and every key decrypts, so a rotation prepends a new key and
/// later drops the oldest. A ticket also binds the trust material of its host (CA bundles,
/// CRLs, verification options): after a reload that changes them, tickets issued before no
/// longer resume, and the client makes a full handshake under the new CRLs.
///
/// Without this setting each process (and each reload) has its own random ticket keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SessionTickets {
    /// The key file (relative paths are read from the configuration's directory).
    pub key_file: PathBuf,
    /// How long a ticket resumes after it was issued (default `4h`, at most `168h`, RFC 8446).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<Span>,
}

impl SessionTickets {
    /// The longest ticket lifetime TLS 1.3 allows (RFC 8446 4.6.1): 7 days.
    pub const MAX_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

    /// Tickets encrypted with the keys of `key_file`, for the default lifetime.
    pub fn new(key_file: impl Into<PathBuf>) -> Self {
        Self {
            key_file: key_file.into(),
            lifetime: None,
        }
    }

    /// The ticket lifetime, or its default (4 h).
    pub fn lifetime(&self) -> Duration {
        self.lifetime.map_or(Duration::from_secs(4 * 3600), |s| s.0)
    }
}

/// A duration written with its unit: `250ms`, `5s`, `2m`, `1h`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl Span {
    /// Parses `250ms`, `5s`, `2m`, `1h`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let n: u64 = number
            .parse()
            .map_err(|_| format!("{text:?} is not a duration like 250ms, 5s, 2m"))?;
        let secs = |mul: u64| {
            n.checked_mul(mul)
                .map(Duration::from_secs)
                .ok_or_else(|| format!("{text:?} is too long"))
        };
        match unit {
            "ms" => Ok(Duration::from_millis(n)),
            "s" => secs(1),
            "m" => secs(60),
            "h" => secs(3600),
            _ => Err(format!("{text:?} has no unit: use ms, s, m or h")),
        }
        .map(Self)
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        match ms {
            _ if ms.is_multiple_of(3_600_000) && ms > 0 => write!(f, "{}h", ms / 3_600_000),
            _ if ms.is_multiple_of(60_000) && ms > 0 => write!(f, "{}m", ms / 60_000),
            _ if ms.is_multiple_of(1000) => write!(f, "{}s", ms / 1000),
            _ => write!(f, "{ms}ms"),
        }
    }
}

impl From<Duration> for Span {
    fn from(d: Duration) -> Self {
        Self(d)
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// How a listener's connections are bounded. Every field has a default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// How long a TLS handshake may take (default `10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake_timeout: Option<Span>,
    /// How long a connection may carry no request before it is closed: an HTTP/1 one
    /// waiting for a complete request head, an HTTP/2 one without a request in flight
    /// (default `30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_header_timeout: Option<Span>,
    /// Handshakes in flight before new connections are shed (default 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_handshakes: Option<usize>,
    /// When set (a grace period such as `5s`), a reload that revokes the certificate of a
    /// connected client also closes that client's open connections: gracefully, then at the
    /// end of the grace period. Off by default: revocation applies to new handshakes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_revoked_connections: Option<Span>,
    /// Limits per client address: open connections and new connections per second (see
    /// [`SourceLimits`]). Off by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_source: Option<SourceLimits>,
}

impl ConnectionLimits {
    /// The handshake timeout, or its default (10 s).
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
            .map_or(Duration::from_secs(10), |s| s.0)
    }

    /// The handshakes in flight, or the default (1024).
    pub fn max_handshakes(&self) -> usize {
        self.max_handshakes.unwrap_or(1024)
    }

    /// Checks the values; `Err((field, message))`, the field relative to `limits`.
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        for (field, span) in [
            ("handshake_timeout", self.handshake_timeout),
            ("request_header_timeout", self.request_header_timeout),
        ] {
            if span.is_some_and(|s| s.0.is_zero()) {
                return Err((
                    field.to_owned(),
                    "must be longer than 0 (it would close every connection)".into(),
                ));
            }
        }
        if self.max_handshakes == Some(0) {
            return Err(("max_handshakes".into(), "must be at least 1".into()));
        }
        if let Some(per_source) = &self.per_source {
            per_source
                .validate()
                .map_err(|(field, message)| match field {
                    "per_source" => (field.to_owned(), message),
                    field => (format!("per_source.{field}"), message),
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_and_print() {
        for (text, ms, back) in [
            ("250ms", 250, "250ms"),
            ("5s", 5000, "5s"),
            ("90s", 90_000, "90s"),
            ("2m", 120_000, "2m"),
            ("1h", 3_600_000, "1h"),
            ("0s", 0, "0s"),
        ] {
            let span = Span::parse(text).unwrap();
            assert_eq!(span.0, Duration::from_millis(ms), "{text}");
            assert_eq!(span.to_string(), back);
        }
        assert_eq!(
            Span::parse("5").unwrap_err(),
            "\"5\" has no unit: use ms, s, m or h"
        );
        assert_eq!(
            Span::parse("soon").unwrap_err(),
            "\"soon\" is not a duration like 250ms, 5s, 2m"
        );
        assert!(Span::parse("99999999999999999999h").is_err());
    }
}
