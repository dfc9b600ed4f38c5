//! OCSP `hard` mode in the layer: the first request of a connection whose leaf's status was
//! not known at its handshake waits for it (up to the trust domain's `ocsp.timeout`), and
//! every request of the connection is decided with what it settled on.

use mtls_policy::PeerVerification;
use mtls_verify::ocsp::settled_refusal;

use crate::ConnectionInfo;
use crate::connection::OcspWait;

/// Whether the connection's requests may be decided now: outside `hard` mode, or its status
/// settled (one atomic load once settled). A status the fetcher settled since is taken.
pub(super) fn ready(conn: &ConnectionInfo) -> bool {
    let Some(wait) = conn.ocsp_wait() else {
        return true;
    };
    if wait.settled.get().is_some() {
        return true;
    }
    match wait.pending.get() {
        Some(settled) => {
            let _ = wait.settled.set(settled);
            true
        }
        None => false,
    }
}

/// Waits for the connection's status, at most the trust domain's `ocsp.timeout`; a wait that
/// ends without one settles the connection as not fetched (`revocation_unknown`).
pub(super) async fn settle(wait: &OcspWait) {
    let timeout = wait.pending.timeout();
    let settled = tokio::time::timeout(timeout, wait.pending.wait())
        .await
        .unwrap_or_else(|_| {
            tracing::info!(
                ?timeout,
                "no OCSP status within the timeout: revocation unknown"
            );
            None
        });
    let _ = wait.settled.set(settled);
}

/// How the connection's certificate counts for its requests: refused as `revoked` or
/// `revocation_unknown` when its settled status says so, else as verified at the handshake.
pub(super) fn verification(conn: &ConnectionInfo) -> Option<PeerVerification> {
    let wait = conn.ocsp_wait()?;
    // Not settled here means `ready` was not asked: fail closed.
    let error = wait.settled.get().map_or(
        Some(mtls_policy::VerifyError::RevocationUnknown),
        |settled| settled_refusal(*settled),
    )?;
    let domain = match conn.verification() {
        PeerVerification::Verified { trust_domain } => Some(trust_domain.as_str()),
        _ => None,
    };
    Some(PeerVerification::failed(domain, error))
}
