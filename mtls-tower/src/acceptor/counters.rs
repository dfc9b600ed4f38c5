//! The acceptor's metric handles.

use std::io;
use std::time::Duration;

use metrics::Counter;

use mtls_policy::DenyCode;
use mtls_policy::enforce::is_certificate_reason;

use super::AcceptError;
use crate::sources::SourceLimited;

/// The acceptor's metric handles, one per label value, registered once: the `metrics` macros
/// would hash the key and look it up in the recorder on every event.
pub(super) struct Metrics {
    pub(super) accepted_tls: Counter,
    pub(super) accepted_plaintext: Counter,
    pub(super) failures: Failures,
    pub(super) closed_revoked: Counter,
}

/// `mtls_accept_failures_total{reason}`, one handle per [`AcceptError::code`].
pub(super) struct Failures {
    pub(super) overloaded: Counter,
    pub(super) timeout: Counter,
    pub(super) plaintext_refused: Counter,
    pub(super) closed: Counter,
    pub(super) unknown_sni: Counter,
    pub(super) handshake: Counter,
    pub(super) io: Counter,
    pub(super) source_connections: Counter,
    pub(super) source_handshake_rate: Counter,
    pub(super) source_table_full: Counter,
    /// One per certificate reason of [`DenyCode::ALL`], in its order.
    pub(super) refused: Vec<Counter>,
}

impl Metrics {
    pub(super) fn register() -> Self {
        // The label is each variant's own code, so the two cannot drift apart.
        let failure =
            |e: AcceptError| metrics::counter!("mtls_accept_failures_total", "reason" => e.code());
        Self {
            accepted_tls: metrics::counter!("mtls_connections_accepted_total", "transport" => "tls"),
            accepted_plaintext: metrics::counter!("mtls_connections_accepted_total", "transport" => "plaintext"),
            failures: Failures {
                overloaded: failure(AcceptError::Overloaded(0)),
                timeout: failure(AcceptError::Timeout(Duration::ZERO)),
                plaintext_refused: failure(AcceptError::PlaintextRefused),
                closed: failure(AcceptError::Closed),
                unknown_sni: failure(AcceptError::UnknownSni(None)),
                handshake: failure(AcceptError::Handshake(io::ErrorKind::Other.into())),
                io: failure(AcceptError::Io(io::ErrorKind::Other.into())),
                source_connections: failure(AcceptError::SourceLimited(
                    SourceLimited::Connections(0),
                )),
                source_handshake_rate: failure(AcceptError::SourceLimited(
                    SourceLimited::HandshakeRate(0),
                )),
                source_table_full: failure(AcceptError::SourceLimited(SourceLimited::TableFull(0))),
                refused: DenyCode::ALL
                    .into_iter()
                    .filter(|&code| is_certificate_reason(code))
                    .map(|reason| {
                        failure(AcceptError::CertificateRefused {
                            reason,
                            source: io::ErrorKind::Other.into(),
                        })
                    })
                    .collect(),
            },
            closed_revoked: metrics::counter!("mtls_connections_closed_revoked_total"),
        }
    }

    pub(super) fn failure(&self, e: &AcceptError) -> &Counter {
        let f = &self.failures;
        match e {
            AcceptError::Overloaded(_) => &f.overloaded,
            AcceptError::Timeout(_) => &f.timeout,
            AcceptError::PlaintextRefused => &f.plaintext_refused,
            AcceptError::Closed => &f.closed,
            AcceptError::UnknownSni(_) => &f.unknown_sni,
            AcceptError::Handshake(_) => &f.handshake,
            AcceptError::Io(_) => &f.io,
            // A reason the verifier cannot give (none today) is counted as a handshake failure.
            AcceptError::CertificateRefused { reason, .. } => DenyCode::ALL
                .into_iter()
                .filter(|&code| is_certificate_reason(code))
                .position(|code| code == *reason)
                .and_then(|i| f.refused.get(i))
                .unwrap_or(&f.handshake),
            AcceptError::SourceLimited(SourceLimited::Connections(_)) => &f.source_connections,
            AcceptError::SourceLimited(SourceLimited::HandshakeRate(_)) => &f.source_handshake_rate,
            AcceptError::SourceLimited(SourceLimited::TableFull(_)) => &f.source_table_full,
        }
    }
}
