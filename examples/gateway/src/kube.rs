//! `run --kube`: follow a cluster instead of files.
//!
//! mtls-kube's [`Follower`] watches the Secrets, ConfigMaps and vendor objects and translates
//! them; each update carries the typed configuration, whose hosts name Secrets by reference,
//! and the keys of those Secrets, in memory. It is swapped in with [`Gateway::apply`], the
//! Secrets read through the update's resolver: nothing is written to disk. A change of
//! listeners (a port added or removed), which a swap cannot do, restarts the listeners.
//!
//! With `--state-dir` the follower writes the Secrets there as files, the configuration names
//! those files, and each update's configuration is written next to them (`gateway.yaml`), for
//! a process or a person that reads them; it is swapped in the same way.
//!
//! The Kubernetes client is kube-rs over rustls. kube builds its rustls configuration with
//! rustls' process-wide default provider; it is installed here, explicitly, before the client
//! is built: the same provider the gateway serves with ([`mtls_verify::crypto::default_provider`],
//! aws-lc-rs), never one picked implicitly.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mtls_kube::runtime::{Follower, Update};
use mtls_kube::{ConditionStatus, Options, SecretPaths};
use mtls_policy::{Policy, SecretRef};
use mtls_tower::tls::ResolveError;

use crate::assemble::SecretResolver;
use crate::server::{self, Gateway};
use crate::workload::WorkloadArgs;

/// Options of `run --kube`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct KubeArgs {
    /// Watch this namespace only (repeatable; a Role in each suffices). Default: all
    /// namespaces (needs a ClusterRole).
    #[arg(long = "namespace", short = 'n', value_name = "NS", requires = "kube")]
    pub(crate) namespaces: Vec<String>,
    /// Also write the configuration (`gateway.yaml`) and the Secrets it reads as files under
    /// DIR (an emptyDir), and name those files in the configuration. Default: nothing is
    /// written; the Secrets are held in memory.
    #[arg(long, value_name = "DIR", requires = "kube")]
    pub(crate) state_dir: Option<PathBuf>,
    /// The admin listener (`/healthz`, `/readyz`, `/metrics`).
    #[arg(long, value_name = "ADDR", requires = "kube")]
    pub(crate) admin: Option<SocketAddr>,
    /// The address listeners bind.
    #[arg(long, value_name = "IP", default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    pub(crate) bind: IpAddr,
    /// This gateway's workload, for PeerAuthentication (`--workload-namespace` defaults to
    /// $POD_NAMESPACE).
    #[command(flatten)]
    pub(crate) workload: WorkloadArgs,
    /// How long changes must be quiet before a new configuration is built.
    #[arg(long, value_name = "DURATION", default_value = "250ms", value_parser = parse_duration)]
    pub(crate) debounce: Duration,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    mtls_policy::Span::parse(text).map(|s| s.0)
}

impl KubeArgs {
    fn options(&self) -> Result<Options, String> {
        let mut options = Options::default();
        match &self.state_dir {
            Some(dir) => options.mount_root = dir.clone(),
            None => options.secret_paths = SecretPaths::References,
        }
        options.bind_address = self.bind;
        options.admin = self.admin;
        let pod_namespace = std::env::var("POD_NAMESPACE")
            .ok()
            .filter(|ns| !ns.is_empty());
        options.workload = self.workload.workload(pod_namespace)?;
        Ok(options)
    }
}

/// `mtls-gateway run --kube`.
pub(crate) async fn run(args: KubeArgs) -> Result<(), String> {
    install_crypto_provider();
    let config = ::kube::Config::infer()
        .await
        .map_err(|e| format!("no Kubernetes configuration (in-cluster or kubeconfig): {e}"))?;
    tracing::info!(cluster = %config.cluster_url, "following the cluster");
    let client = ::kube::Client::try_from(config)
        .map_err(|e| format!("cannot build the Kubernetes client: {e}"))?;
    follow(client, &args, server::terminate_signal(), None).await
}

/// Installs the gateway's crypto provider as rustls' process default, for kube's client (the
/// gateway's own configurations always name their provider). A provider installed earlier
/// by the embedding program stays.
fn install_crypto_provider() {
    let provider = Arc::unwrap_or_clone(mtls_verify::crypto::default_provider());
    if provider.install_default().is_err() {
        tracing::debug!("a rustls default provider was installed already");
    }
}

/// Follows the cluster through `client` until `shutdown`, serving each update. `applied`
/// (tests) hears every update swapped in (not those refused).
pub(crate) async fn follow(
    client: ::kube::Client,
    args: &KubeArgs,
    shutdown: impl Future<Output = ()>,
    applied: Option<tokio::sync::watch::Sender<Option<Update>>>,
) -> Result<(), String> {
    let config_file = match &args.state_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            Some(dir.join("gateway.yaml"))
        }
        None => None,
    };
    let mut updates = Follower::new(client, args.options()?)
        .namespaces(args.namespaces.iter().cloned())
        .debounce(args.debounce)
        .start();
    let mut gateway: Option<Arc<Gateway>> = None;
    let mut log = Logged::default();
    tokio::pin!(shutdown);
    loop {
        let update = tokio::select! {
            () = &mut shutdown => break,
            update = updates.next() => match update {
                Some(u) => u,
                None => break,
            },
        };
        log.report(&update);
        if let Some(file) = &config_file
            && let Err(e) = write_config(file, &update)
        {
            tracing::error!(error = %e, "cannot write the configuration");
        }
        // Awaited before the next update is taken: updates are swapped in the order the
        // follower built them.
        let swapped;
        (gateway, swapped) = apply(gateway, &update).await;
        if swapped && let Some(tx) = &applied {
            tx.send_replace(Some(update));
        }
    }
    if let Some(gateway) = gateway {
        server::shutdown(gateway).await;
    }
    Ok(())
}

/// What compiling an update on the blocking thread led to.
enum Compiled {
    /// The configuration is not valid.
    Invalid(String),
    /// Swapped in (or refused by the swap, which logged and counted why).
    Swapped(bool),
    /// The listeners changed: a swap cannot do it.
    Restart(Policy, String),
    /// Nothing serves yet.
    Start(Policy),
}

/// Swaps the update's configuration in, or (re)starts the listeners when there are none yet
/// or they changed; and whether it now serves. On failure what serves keeps serving. The
/// configuration is compiled and swapped in off the runtime ([`server::off_runtime`]).
async fn apply(gateway: Option<Arc<Gateway>>, update: &Update) -> (Option<Arc<Gateway>>, bool) {
    let held = update.secrets.clone();
    let secrets: SecretResolver =
        Arc::new(move |s: &SecretRef| held.resolve(s).map_err(|e| -> ResolveError { Box::new(e) }));
    let (config, running, resolver) = (
        update.translation.config.clone(),
        gateway.clone(),
        Arc::clone(&secrets),
    );
    let compiled = server::off_runtime(move || {
        let policy = match Policy::new(config) {
            Ok(policy) => policy,
            Err(e) => return Compiled::Invalid(e.to_string()),
        };
        let Some(g) = running else {
            return Compiled::Start(policy);
        };
        match g.restart_only(policy.config()) {
            Ok(()) => Compiled::Swapped(g.apply(policy, Some(resolver)).is_ok()),
            Err(why) => Compiled::Restart(policy, why),
        }
    })
    .await
    .unwrap_or_else(Compiled::Invalid);
    match compiled {
        Compiled::Invalid(e) => {
            mtls_tower::telemetry::count_reload(mtls_tower::telemetry::ReloadTrigger::Kube, false);
            tracing::warn!(error = %e, "the cluster's configuration is not valid; what serves keeps serving");
            (gateway, false)
        }
        Compiled::Swapped(swapped) => (gateway, swapped),
        Compiled::Start(policy) => start(policy, secrets).await,
        Compiled::Restart(policy, why) => {
            tracing::info!(%why, "restarting the listeners");
            if let Some(g) = gateway {
                server::shutdown(g).await;
            }
            // A restart of the listeners is the reload of a change they cannot take live.
            let (gateway, serving) = start(policy, secrets).await;
            mtls_tower::telemetry::count_reload(
                mtls_tower::telemetry::ReloadTrigger::Kube,
                serving,
            );
            (gateway, serving)
        }
    }
}

async fn start(policy: Policy, secrets: SecretResolver) -> (Option<Arc<Gateway>>, bool) {
    match server::start_with(policy, Some(secrets)).await {
        Ok(g) => (Some(Arc::new(g)), true),
        Err(e) => {
            tracing::error!(error = %e, "cannot serve the cluster's configuration; waiting for a change");
            (None, false)
        }
    }
}

/// The translation's YAML (with the admin endpoint: [`Options::admin`]), written atomically.
fn write_config(path: &Path, update: &Update) -> Result<(), String> {
    let text = update
        .translation
        .config
        .to_yaml()
        .map_err(|e| e.to_string())?;
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// What was logged, so each warning and failed condition is logged once.
#[derive(Default)]
struct Logged(BTreeSet<String>);

impl Logged {
    /// Logs what is new in `update`.
    fn report(&mut self, update: &Update) {
        let t = &update.translation;
        let mut now = BTreeSet::new();
        for w in &t.warnings {
            let line = w.to_string();
            if !self.0.contains(&line) {
                tracing::info!(warning = %line, "not translated as written");
            }
            now.insert(line);
        }
        for s in &t.status {
            for c in s
                .conditions
                .iter()
                .filter(|c| c.status == ConditionStatus::False)
            {
                let line = format!("{} {}=False {}: {}", s.object, c.kind, c.reason, c.message);
                if !self.0.contains(&line) {
                    tracing::warn!(status = %line, "condition");
                }
                now.insert(line);
            }
        }
        tracing::debug!(
            generation = update.generation,
            files = update.written.len(),
            "cluster update"
        );
        self.0 = now;
    }
}

#[cfg(test)]
mod tests;
