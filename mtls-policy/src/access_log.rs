//! The access log of a process serving the model (the gateway's): one JSON line per request.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The default [`AccessLogConfig::buffer`]: lines waiting to be written.
pub const DEFAULT_ACCESS_LOG_BUFFER: u32 = 4096;

/// The access log: absent, none is written (the default). A library ignores it.
///
/// In YAML: `access_log: { format: json }` (to stdout), or
/// `access_log: { format: json, path: /var/log/mtls/access.log, buffer: 8192 }`.
///
/// Each request gives one line: `time` (RFC 3339, UTC), `listener`, `peer` (the client's
/// address), `transport` (`tls`, `plaintext`), `sni`, `host`, `method`, `path`, `status`,
/// `identity`, `route`, `decision` (`allow`, `deny`), `deny_code`, `duration_ms`. Lines are
/// handed to a writer thread through a bounded buffer: a request never waits for the output;
/// when the buffer is full (the output is slower than the traffic) the line is dropped and
/// counted (`mtls_access_log_dropped_total`).
///
/// ```
/// use mtls_policy::PolicyConfig;
/// use mtls_policy::access_log::AccessLogFormat;
///
/// let config = PolicyConfig::from_yaml("access_log: { format: json }\nlisteners: []")?;
/// let log = config.access_log.expect("configured");
/// assert_eq!(log.format, AccessLogFormat::Json);
/// assert_eq!(log.path, None); // stdout
/// assert_eq!(log.buffer(), 4096);
/// # Ok::<(), mtls_policy::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AccessLogConfig {
    /// The line format.
    pub format: AccessLogFormat,
    /// The file lines are appended to (created if missing; a relative path is read from the
    /// configuration's directory); absent: standard output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// How many lines may wait for the writer before new ones are dropped (default 4,096; at
    /// least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer: Option<u32>,
}

impl AccessLogConfig {
    /// JSON lines to standard output, with the default buffer.
    pub fn json() -> Self {
        Self {
            format: AccessLogFormat::Json,
            path: None,
            buffer: None,
        }
    }

    /// How many lines may wait for the writer.
    pub fn buffer(&self) -> usize {
        self.buffer
            .unwrap_or(DEFAULT_ACCESS_LOG_BUFFER)
            .try_into()
            .unwrap_or(usize::MAX)
    }

    /// Why the settings cannot be used, if they cannot: the field and the reason.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.buffer == Some(0) {
            return Err(("buffer", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// The format of access-log lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AccessLogFormat {
    /// One JSON object per line.
    #[default]
    Json,
}
