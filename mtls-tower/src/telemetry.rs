//! Metrics that answer operators' questions, beyond the per-event counters of the acceptor and
//! the layer: configuration reloads, the remaining lifetime of presented client certificates,
//! the earliest CA expiry and each CRL's `nextUpdate` per trust domain.
//!
//! | metric | kind | labels | set when |
//! |---|---|---|---|
//! | [`RELOADS_TOTAL`] | counter | `result` (`ok`, `failed`), `trigger` | [`count_reload`] |
//! | [`CRL_FETCH_LAST_SUCCESS`] | gauge | `uri` | a CRL distribution point answered with a usable CRL or `304` ([`CrlFetcher`](crate::fetch::CrlFetcher)) |
//! | [`CRL_FETCH_BYTES`] | gauge | `uri` | the same, with a CRL |
//! | [`CRL_FETCH_ENTRIES`] | gauge | `uri` | the same, with a CRL |
//! | [`CRL_FETCH_FAILURES_TOTAL`] | counter | `uri`, `reason` | a fetch failed (the last good CRL stays) |
//! | [`CRL_FETCH_NOT_MODIFIED_TOTAL`] | counter | `uri` | a distribution point answered `304 Not Modified` |
//! | [`OCSP_LOOKUPS_TOTAL`] | counter | `trust_domain`, `result` | a handshake read a leaf's OCSP status ([`OcspFetcher`](crate::fetch::OcspFetcher)) |
//! | [`OCSP_REQUESTS_TOTAL`] | counter | `trust_domain`, `result` | an OCSP responder was asked (or the question dropped) |
//! | [`CERT_REMAINING_LIFETIME`] | histogram, [`LIFETIME_BUCKETS`] | `trust_domain` | a connection with a client certificate is accepted |
//! | [`CA_EARLIEST_NOT_AFTER`] | gauge, Unix seconds | `trust_domain` | an [`Acceptor`](crate::Acceptor) is built or reloaded |
//! | [`CRL_NEXT_UPDATE`] | gauge, Unix seconds | `trust_domain`, `issuer` | as above, per CRL that has a `nextUpdate` |
//! | [`SHADOW_DISAGREEMENTS_TOTAL`] | counter | `listener`, `stage`, `active`, `candidate` | shadow trust and the active trust disagree |
//!
//! The histogram's buckets are the recorder's to set: a Prometheus exporter renders a
//! histogram without buckets as a summary. With `metrics-exporter-prometheus`:
//!
//! ```ignore
//! PrometheusBuilder::new()
//!     .set_buckets_for_metric(
//!         Matcher::Full(mtls_tower::telemetry::CERT_REMAINING_LIFETIME.into()),
//!         &mtls_tower::telemetry::LIFETIME_BUCKETS,
//!     )?
//!     .install_recorder()?;
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

#[cfg(feature = "layer")]
use mtls_core::PeerIdentity;
use mtls_policy::PeerVerification;
#[cfg(feature = "layer")]
use mtls_policy::identity::identity_label;
use mtls_verify::LoadedTrustDomain;

use crate::ConnectionInfo;

/// `mtls_reloads_total{result, trigger}`: configuration reloads, one per reload of the whole
/// configuration however many listeners it swaps, `ok` or `failed` (a failed reload leaves
/// the previous configuration serving).
pub const RELOADS_TOTAL: &str = "mtls_reloads_total";

/// `mtls_client_cert_remaining_lifetime_seconds{trust_domain}`: how long the client
/// certificates presented at accepted handshakes had left, in seconds (an expired certificate
/// that a policy tolerated counts as 0). `trust_domain` is the domain that verified the chain,
/// the one whose check failed, or `none`.
pub const CERT_REMAINING_LIFETIME: &str = "mtls_client_cert_remaining_lifetime_seconds";

/// The upper bounds of [`CERT_REMAINING_LIFETIME`]'s buckets, in seconds: 1 hour, 6 hours,
/// 1 day, 7 days, 30 days, 90 days, 180 days, 1 year (and `+Inf`).
pub const LIFETIME_BUCKETS: [f64; 8] = [
    3_600.0,
    21_600.0,
    86_400.0,
    604_800.0,
    2_592_000.0,
    7_776_000.0,
    15_552_000.0,
    31_536_000.0,
];

/// `mtls_ca_earliest_not_after_seconds{trust_domain}`: the earliest `notAfter` (Unix seconds)
/// of the CA certificates of each trust domain a listener's hosts verify clients with.
pub const CA_EARLIEST_NOT_AFTER: &str = "mtls_ca_earliest_not_after_seconds";

/// `mtls_crl_next_update_seconds{trust_domain, issuer}`: each loaded CRL's `nextUpdate` (Unix
/// seconds), by trust domain and the CRL's issuer (RFC 4514).
pub const CRL_NEXT_UPDATE: &str = "mtls_crl_next_update_seconds";

/// `mtls_crl_fetch_last_success_timestamp_seconds{uri}`: when the distribution point `uri`
/// last answered with a usable CRL or `304 Not Modified` (Unix time, seconds).
pub const CRL_FETCH_LAST_SUCCESS: &str = "mtls_crl_fetch_last_success_timestamp_seconds";

/// `mtls_crl_fetch_bytes{uri}`: the size of the last good CRL fetched from `uri`.
pub const CRL_FETCH_BYTES: &str = "mtls_crl_fetch_bytes";

/// `mtls_crl_fetch_entries{uri}`: the revoked certificates the last good CRL of `uri` lists.
pub const CRL_FETCH_ENTRIES: &str = "mtls_crl_fetch_entries";

/// `mtls_crl_fetch_failures_total{uri, reason}`: fetches of `uri` that kept the last good CRL;
/// `reason` is `unreachable`, `timeout`, `http_status`, `too_large`, `malformed_http`,
/// `bad_url`, `not_a_crl` (the body is no CRL), `unusable` (a CRL the trust domain refuses,
/// e.g. not signed by the CA it names) or `older` (thisUpdate before that of the CRL kept).
pub const CRL_FETCH_FAILURES_TOTAL: &str = "mtls_crl_fetch_failures_total";

/// `mtls_crl_fetch_not_modified_total{uri}`: conditional fetches of `uri` answered `304`.
pub const CRL_FETCH_NOT_MODIFIED_TOTAL: &str = "mtls_crl_fetch_not_modified_total";

/// `mtls_ocsp_lookups_total{trust_domain, result}`: handshakes that read a leaf's OCSP status
/// from the cache; `result` is `good`, `revoked`, `unknown` (cache hits) or `not_cached` (the
/// status was not known yet: the handshake went on and the status was queued for a fetch).
pub const OCSP_LOOKUPS_TOTAL: &str = "mtls_ocsp_lookups_total";

/// `mtls_ocsp_requests_total{trust_domain, result}`: questions to OCSP responders; `result` is
/// the status cached (`good`, `revoked`, `unknown`), `dropped` (the queue was full), or why no
/// status was cached: `no_responder`, `timeout`, `unreachable`, `http_status`, `too_large`,
/// `malformed_http`, `bad_url` or `rejected` (an answer that does not verify).
pub const OCSP_REQUESTS_TOTAL: &str = "mtls_ocsp_requests_total";

/// What caused a reload, for [`count_reload`]'s `trigger` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReloadTrigger {
    /// A watched file changed.
    File,
    /// SIGHUP.
    Signal,
    /// The Kubernetes API (a watched object or Secret changed).
    Kube,
    /// The application's own code.
    Api,
    /// A CRL fetched from a distribution point changed.
    Revocation,
}

impl ReloadTrigger {
    /// The label value: `file`, `signal`, `kube`, `api` or `revocation`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Signal => "signal",
            Self::Kube => "kube",
            Self::Api => "api",
            Self::Revocation => "revocation",
        }
    }
}

/// Counts one reload of a whole configuration in [`RELOADS_TOTAL`]. Call it once per reload,
/// after every listener was swapped (`ok`) or when building the new configuration failed
/// (`failed`); [`Acceptor::reload`](crate::Acceptor::reload) swaps one listener and counts
/// nothing, so a configuration of several listeners is one reload.
///
/// ```
/// use mtls_tower::telemetry::{ReloadTrigger, count_reload};
///
/// count_reload(ReloadTrigger::Signal, false);
/// ```
pub fn count_reload(trigger: ReloadTrigger, ok: bool) {
    let result = if ok { "ok" } else { "failed" };
    metrics::counter!(RELOADS_TOTAL, "result" => result, "trigger" => trigger.as_str())
        .increment(1);
}

/// Records the remaining lifetime of the client certificate of an accepted connection in
/// [`CERT_REMAINING_LIFETIME`]; nothing for a connection without one.
pub(crate) fn record_presented(info: &ConnectionInfo) {
    let Some(peer) = info.peer() else {
        return;
    };
    let left = peer
        .not_after()
        .duration_since(SystemTime::now())
        .map_or(0.0, |d| d.as_secs_f64());
    let domain = match info.verification() {
        PeerVerification::Verified { trust_domain } => trust_domain.as_str(),
        PeerVerification::Failed {
            trust_domain: Some(td),
            ..
        } => td.as_str(),
        _ => "none",
    };
    metrics::histogram!(CERT_REMAINING_LIFETIME, "trust_domain" => domain.to_owned()).record(left);
}

/// Sets [`CA_EARLIEST_NOT_AFTER`] and [`CRL_NEXT_UPDATE`] for these trust domains.
pub(crate) fn publish_trust(domains: &[std::sync::Arc<LoadedTrustDomain>]) {
    for domain in domains {
        let name = domain.name().to_owned();
        if let Some(earliest) = domain
            .bundle()
            .certificates()
            .iter()
            .map(|ca| ca.not_after())
            .min()
        {
            metrics::gauge!(CA_EARLIEST_NOT_AFTER, "trust_domain" => name.clone())
                .set(unix_seconds(earliest));
        }
        if let Some(index) = domain.revocation() {
            for (issuer, next_update) in index.next_updates() {
                metrics::gauge!(
                    CRL_NEXT_UPDATE,
                    "trust_domain" => name.clone(),
                    "issuer" => issuer.to_owned()
                )
                .set(unix_seconds(next_update));
            }
        }
    }
}

/// Seconds since the Unix epoch (negative before it).
fn unix_seconds(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// `mtls_shadow_disagreements_total{listener, stage, active, candidate}`: handshakes and
/// requests that shadow trust ([`mtls_policy::shadow`]) decided otherwise than the active
/// trust; `active` and `candidate` are `allow` or `deny`, `stage` is `handshake` (the active
/// verifier refused the chain) or `request` (the layer decided both). Each is also logged
/// (target `mtls::shadow`, WARN) with the identity and both reasons.
pub const SHADOW_DISAGREEMENTS_TOTAL: &str = "mtls_shadow_disagreements_total";

/// Where shadow trust was compared with the active trust.
#[cfg(feature = "layer")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShadowStage {
    /// The active verifier refused the handshake.
    Handshake,
    /// The layer decided a request.
    Request,
}

/// One comparison of the active and the candidate decision: a deny code each, `None` for
/// allow.
#[cfg(feature = "layer")]
pub(crate) struct Disagreement<'a> {
    pub(crate) listener: &'a str,
    pub(crate) stage: ShadowStage,
    pub(crate) active: Option<&'static str>,
    pub(crate) candidate: Option<&'static str>,
    pub(crate) identity: Option<&'a PeerIdentity>,
}

/// Counts and logs `d` when the two decisions differ (one allows, the other denies).
#[cfg(feature = "layer")]
pub(crate) fn record_disagreement(d: &Disagreement<'_>) {
    if d.active.is_some() == d.candidate.is_some() {
        return;
    }
    let verdict = |reason: Option<&str>| if reason.is_some() { "deny" } else { "allow" };
    let stage = match d.stage {
        ShadowStage::Handshake => "handshake",
        ShadowStage::Request => "request",
    };
    metrics::counter!(
        SHADOW_DISAGREEMENTS_TOTAL,
        "listener" => d.listener.to_owned(),
        "stage" => stage,
        "active" => verdict(d.active),
        "candidate" => verdict(d.candidate)
    )
    .increment(1);
    tracing::warn!(
        target: "mtls::shadow",
        listener = d.listener,
        stage,
        identity = %d.identity.map_or_else(|| "anonymous".to_owned(), identity_label),
        active = verdict(d.active),
        active_reason = d.active.unwrap_or("-"),
        candidate = verdict(d.candidate),
        candidate_reason = d.candidate.unwrap_or("-"),
        "shadow trust disagrees with the active trust"
    );
}
