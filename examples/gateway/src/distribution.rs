//! CRLs from distribution points in the running gateway: a [`CrlFetcher`] follows the trust
//! domains that fetch them (`crl.distribution_points`), and each time a fetched CRL changes
//! the running configuration is assembled again with it and swapped in, as a reload of the
//! configuration file is (so open connections whose certificate it revokes are rechecked and
//! closed under `limits.close_revoked_connections`).
//!
//! OCSP statuses of client certificates: an [`OcspFetcher`] keeps one status cache per trust
//! domain that reads them (`ocsp`), kept across reloads, and every configuration is assembled
//! with the checks it gives ([`material`]); a status fetched as revoked swaps the configuration
//! in again, so open connections of that certificate are rechecked and closed as at a CRL
//! reload.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mtls_policy::{Policy, SecretRef};
use mtls_tower::fetch::{CrlFetcher, OcspFetcher};
use mtls_tower::telemetry::ReloadTrigger;
use mtls_tower::tls::FetchedCrls;
use mtls_tower::tls::ResolveError;
use mtls_tower::{Acceptor, SharedPolicy};
use tokio::sync::watch;

use crate::assemble::{SecretResolver, assemble};

/// The longest the gateway waits at start for the first fetch of every distribution point
/// (each fetch is bounded by its own `timeout`, at most 5 minutes).
const FIRST_FETCH_BOUND: Duration = Duration::from_secs(300);

/// Starts following the distribution points of `policy` and waits until each was fetched
/// once (bounded), so the first configuration served has their CRLs.
pub(crate) async fn first_fetch(
    fetcher: &CrlFetcher,
    policy: &Policy,
    secrets: Option<&SecretResolver>,
) {
    follow(fetcher, policy, secrets);
    if tokio::time::timeout(FIRST_FETCH_BOUND, fetcher.settled())
        .await
        .is_err()
    {
        tracing::warn!(
            "CRL distribution points: not every first fetch ended; serving without them"
        );
    }
}

/// Follows the distribution points of `policy`, its secrets read through `secrets`.
pub(crate) fn follow(fetcher: &CrlFetcher, policy: &Policy, secrets: Option<&SecretResolver>) {
    let no_secrets = |secret: &SecretRef| -> Result<Vec<u8>, ResolveError> {
        Err(format!("secret {:?}: no secret resolver is configured", secret.name).into())
    };
    match secrets {
        Some(resolve) => fetcher.follow(policy, &**resolve),
        None => fetcher.follow(policy, &no_secrets),
    }
}

/// What `policy` is assembled with from the background: the CRLs fetched so far, and the
/// OCSP check of each of its trust domains that reads OCSP statuses. `origin` names the
/// configuration in errors.
pub(crate) fn material(
    crls: &CrlFetcher,
    ocsp: &OcspFetcher,
    policy: &Policy,
    origin: &dyn std::fmt::Display,
) -> Result<FetchedCrls, String> {
    let mut fetched = crls.fetched();
    ocsp.checks_for(policy, &mut fetched)
        .map_err(|(domain, e)| format!("{origin}: trust domain {domain:?}: ocsp.responder: {e}"))?;
    Ok(fetched)
}

/// What swapping a configuration in needs, shared by reloads and fetched CRLs.
///
/// Its swaps block (they read files, parse CA bundles, index CRLs, compile the policy): run
/// them with [`off_runtime`](crate::server::off_runtime). They keep their order: each source
/// awaits its swap before taking its next change (a single-flight queue per source), and
/// sources are serialised by the swap lock, under which a swap of fetched material reads the
/// configuration serving, so it never puts back an older one.
#[derive(Clone)]
pub(crate) struct Swapper {
    /// The listeners' acceptors, in the configuration's order.
    pub(crate) acceptors: Vec<Acceptor>,
    /// The policy slot requests are decided with.
    pub(crate) slot: SharedPolicy,
    pub(crate) fetcher: CrlFetcher,
    /// The OCSP status caches of the trust domains that read them.
    pub(crate) ocsp: OcspFetcher,
    /// Held while a configuration is assembled and swapped in (one swap at a time), with the
    /// secret resolver of the configuration serving.
    pub(crate) swapping: Arc<Mutex<Option<SecretResolver>>>,
}

impl Swapper {
    /// Assembles `policy` (its secrets read through `secrets`, with the CRLs fetched so far)
    /// and swaps it in: the TLS snapshots, then the policy with its route targets in one
    /// store, so a request is decided and forwarded by one snapshot. On error nothing changes.
    /// Blocking.
    pub(crate) fn swap(
        &self,
        policy: Policy,
        secrets: Option<SecretResolver>,
        origin: &dyn std::fmt::Display,
        check: impl FnOnce(&Policy) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut serving = self.swapping.lock().unwrap_or_else(PoisonError::into_inner);
        check(&policy)?;
        self.swap_locked(&mut serving, policy, secrets, origin)
    }

    /// Swaps the configuration serving in again, compiled again with the material fetched
    /// since (CRLs, OCSP statuses). Blocking.
    fn refresh(&self, origin: &dyn std::fmt::Display) -> Result<(), String> {
        let mut serving = self.swapping.lock().unwrap_or_else(PoisonError::into_inner);
        let policy = Policy::new(self.slot.load().config().clone()).map_err(|e| e.to_string())?;
        let secrets = serving.clone();
        self.swap_locked(&mut serving, policy, secrets, origin)
    }

    fn swap_locked(
        &self,
        serving: &mut Option<SecretResolver>,
        policy: Policy,
        secrets: Option<SecretResolver>,
        origin: &dyn std::fmt::Display,
    ) -> Result<(), String> {
        let provider = mtls_verify::crypto::default_provider();
        let fetched = material(&self.fetcher, &self.ocsp, &policy, origin)?;
        let plan = assemble(policy, &provider, &self.slot, secrets.as_ref(), &fetched)
            .map_err(|e| format!("{origin}: {e}"))?;
        for (new, acceptor) in plan.listeners.into_iter().zip(&self.acceptors) {
            acceptor.reload(new.snapshot);
            tracing::debug!(listener = %new.name, "listener reloaded");
        }
        // The distribution points of what now serves (a configuration that fails to build
        // leaves them as they were); CRLs of new ones swap it in again as they arrive.
        follow(&self.fetcher, &plan.policy, secrets.as_ref());
        self.slot.store(plan.policy);
        *serving = secrets;
        Ok(())
    }
}

/// Swaps the serving configuration in again each time a fetched CRL changes, or an OCSP
/// responder says a certificate is revoked (so open connections are rechecked against the
/// cached status), until `stopped`. Each swap is built off the runtime and awaited before the
/// next change is taken; changes that arrive meanwhile make one swap.
pub(crate) async fn swap_on_change(swapper: Swapper, mut stopped: watch::Receiver<bool>) {
    let mut changes = swapper.fetcher.changes();
    let mut revocations = swapper.ocsp.revocations();
    loop {
        let origin = tokio::select! {
            changed = changes.changed() => match changed {
                Ok(()) => "configuration with fetched CRLs",
                Err(_) => return,
            },
            changed = revocations.changed() => match changed {
                Ok(()) => "configuration with a certificate revoked by OCSP",
                Err(_) => return,
            },
            _ = stopped.wait_for(|s| *s) => return,
        };
        let running = swapper.clone();
        let result = crate::server::off_runtime(move || running.refresh(&origin))
            .await
            .and_then(|swapped| swapped);
        crate::server::counted(result, ReloadTrigger::Revocation, &origin).ok();
    }
}
