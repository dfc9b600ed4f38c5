//! `run`: serve a configuration, reload it on change and on SIGHUP, drain on SIGTERM. A
//! configuration comes from a file ([`start`], [`Gateway::reload`]) or typed, with a resolver
//! for its `secret:` sources ([`start_with`], [`Gateway::apply`]): both are assembled and
//! swapped in the same way.

use std::collections::{BTreeMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use mtls_policy::access_log::AccessLogConfig;
use mtls_policy::{ConnectionLimits, PeerMode, Policy, PolicyConfig};
use mtls_tower::fetch::{CrlFetcher, OcspFetcher};
use mtls_tower::layer::ForwardIdentity;
use mtls_tower::telemetry::{ReloadTrigger, count_reload};
use mtls_tower::{Acceptor, MtlsLayer, SharedPolicy, StrictReadiness};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_layer::Layer as _;

use crate::access_log::{AccessLog, JsonSink};
use crate::admin::{AdminState, install_metrics, serve_admin};
use crate::assemble::{Plan, SecretResolver, assemble};
use crate::config;
use crate::distribution::{self, Swapper};
use crate::proxy::Proxy;

/// A running listener: its acceptor (whose TLS snapshot a reload swaps) and what a reload
/// cannot change.
struct Running {
    name: String,
    address: std::net::SocketAddr,
    limits: ConnectionLimits,
    acceptor: Acceptor,
}

/// What a running gateway is: its listeners' handles, the swapper (with the policy slot; the
/// policy carries the route targets), and the settings fixed at start.
pub(crate) struct Gateway {
    /// Swaps configurations in, one at a time, with the CRLs fetched from distribution points.
    swapper: Swapper,
    listeners: Vec<Running>,
    forward: ForwardIdentity,
    admin: Option<std::net::SocketAddr>,
    /// The entries `/strict-readiness` keeps per PERMISSIVE listener.
    readiness_capacity: usize,
    /// The access log as started.
    access_log: Option<AccessLogConfig>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Loads `config_file`, binds every listener and starts serving. Returns once everything is
/// up.
pub(crate) async fn start(config_file: &Path) -> Result<Gateway, String> {
    let loaded = config::load(config_file).map_err(|e| e.to_string())?;
    launch(loaded, None, &config_file.display()).await
}

/// Starts serving `policy`, reading its `secret:` sources through `secrets`. Returns once
/// everything is up.
pub(crate) async fn start_with(
    policy: Policy,
    secrets: Option<SecretResolver>,
) -> Result<Gateway, String> {
    launch(policy, secrets.as_ref(), &"configuration").await
}

/// Binds every listener of `loaded` and starts serving; `origin` names the configuration in
/// errors.
async fn launch(
    loaded: Policy,
    secrets: Option<&SecretResolver>,
    origin: &(dyn std::fmt::Display + Sync),
) -> Result<Gateway, String> {
    // Once per process: `run --kube` starts listeners again when they change.
    static METRICS: std::sync::OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
        std::sync::OnceLock::new();
    let metrics = METRICS
        .get_or_init(|| match install_metrics() {
            Ok(handle) => Some(handle),
            Err(e) => {
                // Another recorder is installed (an embedding program's): its metrics still
                // count, but /metrics cannot render them.
                tracing::warn!(error = %e, "metrics recorder not installed; /metrics answers 404");
                None
            }
        })
        .clone();
    // The JSON access log's writer, shared by every listener.
    let access_log = loaded.config().access_log.clone();
    let json = access_log.as_ref().map(JsonSink::open).transpose()?;
    let provider = mtls_verify::crypto::default_provider();
    let slot = SharedPolicy::new(loaded.clone());
    let fetcher = CrlFetcher::new(Arc::clone(&provider));
    let ocsp = OcspFetcher::new(&provider);
    distribution::first_fetch(&fetcher, &loaded, secrets).await;
    let fetched = distribution::material(&fetcher, &ocsp, &loaded, origin)?;
    let plan = assemble(loaded, &provider, &slot, secrets, &fetched)
        .map_err(|e| format!("{origin}: {e}"))?;
    let Plan {
        listeners,
        policy,
        forward,
        admin,
        readiness_capacity,
    } = plan;
    slot.store(policy);
    let policy = slot;
    let (stop, stopped) = watch::channel(false);
    let mut running = Vec::new();
    let mut tasks = Vec::new();
    let mut readiness = BTreeMap::new();
    for listener in listeners {
        let socket = TcpListener::bind(listener.address).await.map_err(|e| {
            format!(
                "listener {:?}: cannot bind {}: {e}",
                listener.name, listener.address
            )
        })?;
        let bound = socket.local_addr().map_err(|e| e.to_string())?;
        // PERMISSIVE as started: who connects how, for `/strict-readiness`.
        let permissive = listener.snapshot.peer_mode() == PeerMode::Permissive;
        let mut acceptor = Acceptor::from_limits(listener.snapshot, &listener.limits);
        if permissive {
            let counted = StrictReadiness::new(readiness_capacity);
            acceptor = acceptor.with_strict_readiness(counted.clone());
            readiness.insert(listener.name.clone(), counted);
        }
        let service = AccessLog::new(
            MtlsLayer::new(policy.clone())
                .port(listener.port)
                .forward(forward.clone())
                .layer(Proxy),
            &listener.name,
            json.clone(),
        );
        let mut stopped = stopped.clone();
        let serve_acceptor = acceptor.clone();
        let name = listener.name.clone();
        tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) = mtls_tower::serve(socket, serve_acceptor, service, shutdown).await {
                tracing::error!(listener = %name, error = %e, "listener stopped");
            }
        }));
        tracing::info!(listener = %listener.name, address = %bound, "listening");
        running.push(Running {
            name: listener.name,
            address: listener.address,
            limits: listener.limits,
            acceptor,
        });
    }
    if let Some(address) = admin {
        let socket = TcpListener::bind(address)
            .await
            .map_err(|e| format!("admin: cannot bind {address}: {e}"))?;
        let admin_address = socket.local_addr().ok();
        let state = AdminState::new(metrics).with_readiness(readiness);
        state.set_ready();
        let mut stopped = stopped.clone();
        tasks.push(tokio::spawn(async move {
            serve_admin(socket, state, async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await;
        }));
        tracing::info!(address = ?admin_address, "admin listening (/healthz /readyz /metrics /strict-readiness)");
    }
    let swapper = Swapper {
        acceptors: running.iter().map(|r| r.acceptor.clone()).collect(),
        slot: policy.clone(),
        fetcher,
        ocsp,
        swapping: Arc::new(Mutex::new(secrets.cloned())),
    };
    tasks.push(tokio::spawn(distribution::swap_on_change(
        swapper.clone(),
        stopped.clone(),
    )));
    Ok(Gateway {
        swapper,
        listeners: running,
        forward,
        admin,
        readiness_capacity,
        access_log,
        stop,
        tasks,
    })
}

impl Gateway {
    /// Loads `config_file` again and swaps in the result; on any error the running
    /// configuration keeps serving and the error is returned (and logged, and counted).
    pub(crate) fn reload(&self, config_file: &Path, trigger: ReloadTrigger) -> Result<(), String> {
        let origin = config_file.display();
        let result = config::load(config_file)
            .map_err(|e| e.to_string())
            .and_then(|loaded| self.swap(loaded, None, &origin));
        counted(result, trigger, &origin)
    }

    /// Swaps in `policy`, reading its `secret:` sources through `secrets`; on any error
    /// (among them a change [`restart_only`](Self::restart_only) refuses) the running
    /// configuration keeps serving and the error is returned (and logged, and counted).
    pub(crate) fn apply(
        &self,
        policy: Policy,
        secrets: Option<SecretResolver>,
    ) -> Result<(), String> {
        let origin = "configuration";
        let result = self.swap(policy, secrets.as_ref(), &origin);
        counted(result, ReloadTrigger::Kube, &origin)
    }

    fn swap(
        &self,
        loaded: Policy,
        secrets: Option<&SecretResolver>,
        origin: &dyn std::fmt::Display,
    ) -> Result<(), String> {
        self.swapper
            .swap(loaded, secrets.cloned(), origin, |policy| {
                self.restart_only(policy.config())
            })
    }

    /// Refuses a configuration that changes what only a restart can change, naming the
    /// field: the listeners (added, removed, renamed, moved), their `limits`,
    /// `forward_identity`, `admin` and `access_log`.
    pub(crate) fn restart_only(&self, new: &PolicyConfig) -> Result<(), String> {
        let needs_restart = |field: String| {
            Err(format!(
                "{field} changed: that needs a restart (the running configuration keeps serving)"
            ))
        };
        if new.listeners.len() != self.listeners.len() {
            return needs_restart("listeners (added or removed)".into());
        }
        for (i, (new, old)) in new.listeners.iter().zip(&self.listeners).enumerate() {
            if new.name != old.name {
                return needs_restart(format!("listeners[{i}].name"));
            }
            let address = new
                .address
                .unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], new.port())));
            if address != old.address {
                return needs_restart(format!("listeners[{i}].address"));
            }
            if new.limits != old.limits {
                return needs_restart(format!("listeners[{i}].limits"));
            }
        }
        if ForwardIdentity::from_config(&new.forward_identity) != self.forward {
            return needs_restart("forward_identity".into());
        }
        if new.admin.as_ref().map(|a| a.address) != self.admin {
            return needs_restart("admin".into());
        }
        if crate::assemble::readiness_capacity(new) != self.readiness_capacity {
            return needs_restart("admin.strict_readiness_capacity".into());
        }
        if new.access_log != self.access_log {
            return needs_restart("access_log".into());
        }
        Ok(())
    }

    /// Stops accepting, lets in-flight requests finish (bounded), and waits for the tasks.
    pub(crate) async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(35), task).await;
        }
    }
}

/// Logs and counts (`mtls_reloads_total{result, trigger}`) the result of a reload.
pub(crate) fn counted(
    result: Result<(), String>,
    trigger: ReloadTrigger,
    origin: &dyn std::fmt::Display,
) -> Result<(), String> {
    count_reload(trigger, result.is_ok());
    match &result {
        Ok(()) => {
            tracing::info!(config = %origin, "configuration reloaded");
        }
        Err(e) => {
            tracing::warn!(config = %origin, error = %e, "reload failed; the previous configuration keeps serving");
        }
    }
    result
}

/// `mtls-gateway run --config FILE`.
pub(crate) async fn run(config_file: PathBuf) -> Result<(), String> {
    // Absolute once: the watcher compares the paths of file events with the configuration's
    // resolved paths, which must not depend on the working directory.
    let config_file = std::path::absolute(&config_file).unwrap_or(config_file);
    // Shared with the blocking thread each reload is built on.
    let gateway = Arc::new(start(&config_file).await?);
    let (changes, mut changed) = tokio::sync::mpsc::channel::<ReloadTrigger>(16);
    let watched = Arc::new(RwLock::new(Watched::of(&config_file)));
    let _watcher = watch_files(&config_file, Arc::clone(&watched), changes.clone());
    spawn_sighup(changes);
    let terminate = terminate_signal();
    tokio::pin!(terminate);
    loop {
        tokio::select! {
            () = &mut terminate => break,
            Some(why) = changed.recv() => {
                // Debounce: editors and the kubelet write in several steps.
                tokio::time::sleep(Duration::from_millis(200)).await;
                while changed.try_recv().is_ok() {}
                tracing::info!(trigger = why.as_str(), "reloading");
                let (gateway, file, watched) =
                    (Arc::clone(&gateway), config_file.clone(), Arc::clone(&watched));
                let reload = off_runtime(move || {
                    if gateway.reload(&file, why).is_ok() {
                        let now = Watched::of(&file);
                        *watched.write().unwrap_or_else(PoisonError::into_inner) = now;
                    }
                });
                if let Err(e) = reload.await {
                    tracing::error!(error = %e, "reload failed; the previous configuration keeps serving");
                }
            }
        }
    }
    shutdown(gateway).await;
    Ok(())
}

/// Runs `work` on a thread of its own, at a lower priority, and waits for it: what every swap
/// of a running gateway (a file reload, SIGHUP, a cluster update, a fetched CRL, an OCSP
/// revocation) is built with. Building a configuration reads files, parses the CA bundles,
/// indexes the CRLs and compiles the policy, seconds with large trust material (a 10,000-CA
/// bundle, a 1,000,000-entry CRL), and the runtime's worker threads keep accepting and serving
/// meanwhile; where both want the same core, handshakes go first ([`SWAP_NICE`]). The swap at
/// its end is a pointer store per listener. A panic of `work` is returned as the error.
pub(crate) async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (done, finished) = tokio::sync::oneshot::channel();
    // A swap starts tasks (the fetches of new distribution points) on the runtime.
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("mtls-swap".into())
        .spawn(move || {
            let _entered = runtime.enter();
            // On Linux the nice value is the calling thread's own.
            if let Err(e) = rustix::process::setpriority_process(None, SWAP_NICE) {
                tracing::debug!(error = %e, "the swap runs at the runtime's priority");
            }
            let _ = done.send(work());
        })
        .map_err(|e| format!("cannot start the swap's thread: {e}"))?;
    finished
        .await
        .map_err(|_| "the swap did not finish (it panicked)".to_owned())
}

/// The nice value of a swap's thread: against a runtime thread (nice 0) that keeps a core busy
/// it gets a quarter of that core (CFS weights 335 and 1024), so a reload slows down (a 4 s
/// build of a 1,000,000-entry CRL takes about 16 s) rather than the handshakes; on an idle
/// core it runs at full speed.
const SWAP_NICE: i32 = 5;

/// Stops `gateway` and drains it ([`Gateway::shutdown`]); every swap was awaited, so this is
/// its last reference.
pub(crate) async fn shutdown(gateway: Arc<Gateway>) {
    tracing::info!("shutting down: draining in-flight requests");
    match Arc::try_unwrap(gateway) {
        Ok(gateway) => gateway.shutdown().await,
        Err(_) => tracing::warn!("a reload is still running; stopping without draining"),
    }
}

/// What a file event must touch to cause a reload: the configuration file or a file it names
/// (by file name), anything directly in a secret directory it reads whole, or a Kubernetes
/// `..data`-style entry (`..` prefix). Other files in the watched directories (a log written
/// next to the configuration, editor swap files) do not reload it.
#[derive(Default)]
struct Watched {
    names: HashSet<OsString>,
    dirs: Vec<PathBuf>,
}

impl Watched {
    fn of(config_file: &Path) -> Self {
        let mut watched = Self::default();
        watched
            .names
            .extend(config_file.file_name().map(OsStr::to_os_string));
        if let Ok(loaded) = config::load(config_file) {
            let files = loaded.config().files();
            let names = files.files.iter().filter_map(|f| f.file_name());
            watched.names.extend(names.map(OsStr::to_os_string));
            watched.dirs = files.dirs;
        }
        watched
    }

    fn matches(&self, path: &Path) -> bool {
        path.file_name().is_some_and(|name| {
            self.names.contains(name) || name.as_encoded_bytes().starts_with(b"..")
        }) || path
            .parent()
            .is_some_and(|p| self.dirs.iter().any(|d| d == p))
    }
}

/// Watches the configuration file's directory and every directory named in it (certificates,
/// CAs, CRLs), so that Kubernetes' `..data` symlink swaps are seen too; only events that
/// touch what `watched` names count.
fn watch_files(
    config_file: &Path,
    watched: Arc<RwLock<Watched>>,
    changes: tokio::sync::mpsc::Sender<ReloadTrigger>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher as _;
    let mut dirs = vec![config_file.parent().unwrap_or(Path::new(".")).to_path_buf()];
    if let Ok(loaded) = config::load(config_file) {
        let files = loaded.config().files();
        dirs.extend(
            files
                .files
                .iter()
                .filter_map(|f| f.parent().map(Path::to_path_buf)),
        );
        dirs.extend(files.dirs);
    }
    dirs.sort();
    dirs.dedup();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let relevant = |e: &notify::Event| {
            let watched = watched.read().unwrap_or_else(PoisonError::into_inner);
            e.paths.iter().any(|p| watched.matches(p))
        };
        if event.is_ok_and(|e| !e.kind.is_access() && relevant(&e)) {
            let _ = changes.try_send(ReloadTrigger::File);
        }
    })
    .map_err(|e| tracing::warn!(error = %e, "cannot watch files; reload with SIGHUP"))
    .ok()?;
    for dir in dirs {
        if let Err(e) = watcher.watch(&dir, notify::RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch directory");
        }
    }
    Some(watcher)
}

#[cfg(unix)]
fn spawn_sighup(changes: tokio::sync::mpsc::Sender<ReloadTrigger>) {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(mut hup) => {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    let _ = changes.send(ReloadTrigger::Signal).await;
                }
            });
        }
        Err(e) => tracing::warn!(error = %e, "cannot listen for SIGHUP"),
    }
}

#[cfg(not(unix))]
fn spawn_sighup(_: tokio::sync::mpsc::Sender<ReloadTrigger>) {}

/// Resolves on SIGTERM or Ctrl-C.
pub(crate) async fn terminate_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
