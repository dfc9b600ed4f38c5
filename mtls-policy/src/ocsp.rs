//! A trust domain's OCSP settings (`ocsp:` in a trust domain).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::settings::Span;

/// What a trust domain does while a client certificate's OCSP status is not yet known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OcspMode {
    /// The handshake and the request go on, and the missing status is counted
    /// (`mtls_ocsp_lookups_total{result="not_cached"}`); the status is fetched in the
    /// background, and a certificate the responder says is revoked is refused from then on.
    #[default]
    Soft,
    /// The handshake completes, and the first request of a connection whose status was not
    /// cached at its handshake waits (up to `timeout`) for the fetch: a good status forwards
    /// it, a revoked one answers the host's answer for `revoked`, and no status (unknown,
    /// failed, too slow) the host's answer for `revocation_unknown`. Later requests on the
    /// connection read the settled status without waiting. Both answers must be HTTP (an
    /// alert cannot be sent after the handshake): a configured alert or close, or the default
    /// alert of `revocation_unknown`, is a load error.
    Hard,
}

/// OCSP for the client certificates of a trust domain: the status of each leaf is asked of
/// its responder in the background, cached, and read by the handshake, which refuses a leaf
/// cached as revoked (reason `revoked`, answered as the host answers it).
///
/// In YAML: `ocsp: { mode: hard, responder: http://ocsp.example.com/, timeout: 2s,
/// cache_ttl: 1h }`, every key optional (`ocsp: {}`).
///
/// ```
/// use std::time::Duration;
/// use mtls_policy::ocsp::{OcspMode, OcspOptions};
///
/// let o: OcspOptions = mtls_policy::yaml::from_str("timeout: 500ms").unwrap();
/// assert_eq!(o.mode, OcspMode::Soft);
/// assert_eq!(o.responder, None);
/// assert_eq!(o.timeout.0, Duration::from_millis(500));
/// assert_eq!(o.cache_ttl.0, Duration::from_secs(3600));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OcspOptions {
    /// What happens while a status is not yet known (default `soft`).
    #[serde(default)]
    pub mode: OcspMode,
    /// The `http://` URL of the responder asked about every leaf; absent: the first `http://`
    /// OCSP URI of the leaf's authorityInfoAccess.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responder: Option<String>,
    /// How long one request to the responder may take, from resolving its host to the last
    /// byte (default 2s, at most 1m).
    #[serde(default = "default_timeout")]
    pub timeout: Span,
    /// How long a status counts when the responder gives no nextUpdate, and how long a
    /// revoked or unknown status counts (default 1h, between 1s and 7d).
    #[serde(default = "default_cache_ttl")]
    pub cache_ttl: Span,
}

impl Default for OcspOptions {
    fn default() -> Self {
        Self {
            mode: OcspMode::default(),
            responder: None,
            timeout: default_timeout(),
            cache_ttl: default_cache_ttl(),
        }
    }
}

impl OcspOptions {
    /// Checks the values; `Err((field, message))`, the field relative to `ocsp`.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.timeout.0.is_zero() || self.timeout.0 > Duration::from_secs(60) {
            return Err(("timeout", "must be longer than 0 and at most 1m".into()));
        }
        if self.cache_ttl.0 < Duration::from_secs(1)
            || self.cache_ttl.0 > Duration::from_secs(7 * 24 * 3600)
        {
            return Err(("cache_ttl", "must be between 1s and 7d (168h)".into()));
        }
        if let Some(url) = &self.responder {
            let http = url
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
            if !http || url.len() == 7 {
                return Err((
                    "responder",
                    format!(
                        "{url:?} is not an http:// URL (OCSP responses are signed; https is not asked)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Why a listener cannot run a `hard` trust domain of one of its hosts: `(field, message)`
/// for the first of `revoked` and `revocation_unknown` whose answer on that host is not HTTP.
/// `answer_of(code)` is the configured answer and the field that sets it, if any.
pub(crate) fn hard_mode_refusal<'a>(
    listener: &str,
    li: usize,
    hosts: impl Iterator<Item = (&'a crate::config::HostConfig, crate::EnforceAt)>,
    answer_of: impl Fn(crate::DenyCode) -> Option<(String, crate::Answer)>,
) -> Option<(String, String)> {
    use crate::{Answer, DenyCode, EnforceAt};
    for (hi, (host, enforce_at)) in hosts.enumerate() {
        let trust = host.client_validation.iter().flat_map(|cv| cv.trust.iter());
        let Some(ti) = trust
            .clone()
            .position(|t| t.ocsp.as_ref().is_some_and(|o| o.mode == OcspMode::Hard))
        else {
            continue;
        };
        for code in [DenyCode::Revoked, DenyCode::RevocationUnknown] {
            let (field, answer, set) = match answer_of(code) {
                Some((field, answer)) => (field, answer, true),
                None => (
                    format!("listeners[{li}].answers.{code}"),
                    Answer::default_for(code),
                    false,
                ),
            };
            // A host answering at the request turns the alerts of its defaults into HTTP.
            let http =
                matches!(answer, Answer::Http(_)) || (!set && enforce_at == EnforceAt::Request);
            if http {
                continue;
            }
            let given = if set {
                format!("{answer}")
            } else {
                format!("not set, and the default is {answer}")
            };
            return Some((
                field,
                format!(
                    "must be an `http` answer ({given}): listener {listener:?}, hosts[{hi}] \
                     waits for OCSP statuses after the handshake \
                     (client_validation.trust[{ti}].ocsp.mode: hard), when no alert can be \
                     sent; answer with `{{ http: {{ status: 503 }} }}` or use `mode: soft`"
                ),
            ));
        }
    }
    None
}

fn default_timeout() -> Span {
    Span(Duration::from_secs(2))
}

fn default_cache_ttl() -> Span {
    Span(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(yaml: &str) -> Result<(), (&'static str, String)> {
        crate::yaml::from_str::<OcspOptions>(yaml)
            .unwrap()
            .validate()
    }

    #[test]
    fn bad_values_are_refused_with_the_field() {
        for (yaml, field) in [
            ("timeout: 0s", "timeout"),
            ("timeout: 2m", "timeout"),
            ("cache_ttl: 500ms", "cache_ttl"),
            ("cache_ttl: 200h", "cache_ttl"),
            ("responder: https://ocsp.example.com/", "responder"),
            ("responder: ocsp.example.com", "responder"),
        ] {
            assert_eq!(validate(yaml).unwrap_err().0, field, "{yaml}");
        }
        assert_eq!(validate("responder: http://127.0.0.1:8080/"), Ok(()));
    }

    #[test]
    fn unknown_modes_and_keys_are_refused() {
        let e = crate::yaml::from_str::<OcspOptions>("mode: strict").unwrap_err();
        assert!(e.to_string().contains("strict"), "{e}");
        let o = crate::yaml::from_str::<OcspOptions>("mode: hard").unwrap();
        assert_eq!(o.mode, OcspMode::Hard);
        let e = crate::yaml::from_str::<OcspOptions>("ttl: 1h").unwrap_err();
        assert!(e.to_string().contains("ttl"), "{e}");
    }
}
