//! Following a cluster: kube-rs watchers over the Secrets, ConfigMaps and vendor objects the
//! translation reads, debounced into [`Update`]s (feature `runtime`).
//!
//! A [`Follower`] watches every [`WatchedKind`] (cluster-wide, or in the namespaces it is
//! given), keeps the objects in memory, and after each burst of changes (once every kind has
//! been listed) translates them ([`crate::translate`], with
//! [`Options::secrets_complete`](crate::Options::secrets_complete): a reference to a missing
//! Secret is an error). Each [`Update`] carries the typed configuration and the keys of the
//! Secrets and ConfigMaps it reads ([`Update::secrets`]). How the configuration names them is
//! [`Options::secret_paths`](crate::Options::secret_paths):
//!
//! - [`SecretPaths::References`]: `secret:` references, resolved in memory with
//!   [`Secrets::resolve`] (ConfigMap CA bundles inlined as PEM). Nothing is written to disk.
//! - [`SecretPaths::Files`] (the default): the files under
//!   [`Options::mount_root`](crate::Options::mount_root) where the follower writes them,
//!   for a process that reads files.
//!
//! A broken object never takes down what works:
//!
//! - an object that cannot be read keeps its last readable version in the translation
//!   ([`Broken`]); one that never could is left out;
//! - a Secret or ConfigMap the translation reads that is deleted or invalid is translated at
//!   its last good version, the one the previous update read, until a valid version comes
//!   back, and its keys are served from that version (in memory, or its files) ([`Kept`]): a
//!   deleted CA Secret goes on verifying clients with its certificates and its CRL, so
//!   revocation never weakens because an object went away. One without a good version is
//!   missing;
//!
//! and each is reported: a `tracing` warning when it starts, a status condition in
//! [`Update::translation`] (`Accepted=False` reason `Invalid`; `ResolvedRefs=False` reason
//! `KeptLastGood` on the kept object and on the objects that use it, saying why, `deleted` or
//! what is invalid), and the metrics `mtls_kube_broken_objects_total` /
//! `mtls_kube_kept_credentials_total` (counters, by kind) and the gauges `mtls_kube_broken_objects`
//! / `mtls_kube_kept_credentials`. A CustomResourceDefinition that is not installed (404)
//! counts as an empty kind, and is watched again with backoff.
//!
//! kube's `Client` is the caller's: this crate brings no TLS stack. In tests it talks to
//! `crate::fake::FakeApiServer` (feature `fake-api`).
//!
//! ```no_run
//! # async fn run(client: kube::Client) {
//! let mut options = mtls_kube::Options::default();
//! options.secret_paths = mtls_kube::SecretPaths::References;
//! let mut updates = mtls_kube::runtime::Follower::new(client, options)
//!     .namespaces(["web"])
//!     .start();
//! while let Some(update) = updates.next().await {
//!     let config: &mtls_policy::PolicyConfig = &update.translation.config;
//!     let resolve = |s: &mtls_policy::SecretRef| update.secrets.resolve(s);
//!     // ... serve `config`, reading its `secret:` sources through `resolve`.
//! #   let _ = (config, resolve);
//! }
//! # }
//! ```

mod build;
mod cache;
mod kinds;
mod materialize;
mod report;
mod store;

use build::{Last, build};

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt as _;
use kube::api::{Api, DynamicObject};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::Value;
use tokio::sync::mpsc;

pub use cache::Broken;
pub use kinds::WatchedKind;
pub use materialize::Kept;
pub use store::{MissingSecret, Secrets};

use crate::SecretPaths;
use crate::model::{ObjectRef, RefState, Translation};
use crate::options::Options;
use crate::translate::translate;

/// A new state of the cluster, translated, with the credentials it reads (in memory, and
/// written under the mount root with [`SecretPaths::Files`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Update {
    /// Counts updates from 1.
    pub generation: u64,
    /// The translation of the objects (their last readable versions; a deleted or invalid
    /// Secret or ConfigMap at its last good version), with status conditions for broken
    /// objects and kept credentials added.
    pub translation: Translation,
    /// The keys of the Secrets and ConfigMaps the translation reads: what its `secret:`
    /// references resolve to ([`Secrets::resolve`]).
    pub secrets: Secrets,
    /// Objects whose latest version cannot be read.
    pub broken: Vec<Broken>,
    /// Credentials served from their last good version.
    pub kept: Vec<Kept>,
    /// Files written (new or changed content) for this update; none with
    /// [`SecretPaths::References`].
    pub written: Vec<std::path::PathBuf>,
    /// Files that could not be written, and why.
    pub write_errors: Vec<String>,
}

/// Follows a cluster; see the [module docs](self).
#[derive(Clone)]
pub struct Follower {
    client: kube::Client,
    options: Options,
    namespaces: Vec<String>,
    kinds: Vec<WatchedKind>,
    debounce: Duration,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("namespaces", &self.namespaces)
            .field("kinds", &self.kinds)
            .field("debounce", &self.debounce)
            .finish_non_exhaustive()
    }
}

impl Follower {
    /// Follows every [`WatchedKind`] in every namespace, translating with `options` (its
    /// `secrets_complete` is set: the cluster is the whole input).
    pub fn new(client: kube::Client, mut options: Options) -> Self {
        options.secrets_complete = true;
        Self {
            client,
            options,
            namespaces: Vec::new(),
            kinds: WatchedKind::all().to_vec(),
            debounce: Duration::from_millis(250),
        }
    }

    /// Watches these namespaces only (a namespaced `Role` in each suffices); none: all.
    /// References to objects elsewhere then count as missing.
    pub fn namespaces<I, S>(mut self, namespaces: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.namespaces = namespaces.into_iter().map(Into::into).collect();
        self.namespaces.sort();
        self.namespaces.dedup();
        self
    }

    /// Watches these kinds only (default: [`WatchedKind::all`]).
    pub fn kinds(mut self, kinds: &[WatchedKind]) -> Self {
        self.kinds = kinds.to_vec();
        self
    }

    /// How long changes must be quiet before a new update is built (default 250 ms): a
    /// `kubectl apply` of many objects, or cert-manager's Secret update, becomes one update.
    /// Changes that never stop still yield an update every 8 × `quiet`.
    pub fn debounce(mut self, quiet: Duration) -> Self {
        self.debounce = quiet;
        self
    }

    /// Starts the watchers and the translation task on the current tokio runtime; they stop
    /// when the returned [`Updates`] is dropped.
    pub fn start(self) -> Updates {
        let (events, inbox) = mpsc::unbounded_channel();
        let mut watches = Vec::new();
        let mut tasks = Vec::new();
        for kind in &self.kinds {
            let scopes: Vec<Option<String>> = if self.namespaces.is_empty() {
                vec![None]
            } else {
                self.namespaces.iter().cloned().map(Some).collect()
            };
            for namespace in scopes {
                let index = watches.len();
                watches.push((*kind, namespace.clone()));
                tasks.push(tokio::spawn(watch(
                    self.client.clone(),
                    index,
                    *kind,
                    namespace,
                    events.clone(),
                )));
            }
        }
        drop(events);
        let (out, updates) = mpsc::channel(1);
        let run = Translator {
            options: self.options,
            debounce: self.debounce,
            watches,
            inbox,
            out,
        };
        tasks.push(tokio::spawn(run.run()));
        Updates { updates, tasks }
    }
}

/// The updates of a started [`Follower`]; dropping it stops the watchers.
#[derive(Debug)]
pub struct Updates {
    updates: mpsc::Receiver<Update>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Updates {
    /// The next update; the first comes once every kind has been listed.
    pub async fn next(&mut self) -> Option<Update> {
        self.updates.recv().await
    }
}

impl Drop for Updates {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What a watch task reports.
#[derive(Debug)]
enum Event {
    Init,
    InitApply(Value),
    InitDone,
    Apply(Value),
    Delete(Value),
    /// The kind is not served (a CRD not installed): empty until it is.
    NotInstalled,
    Error(String),
}

async fn watch(
    client: kube::Client,
    index: usize,
    kind: WatchedKind,
    namespace: Option<String>,
    events: mpsc::UnboundedSender<(usize, Event)>,
) {
    let resource = kind.api_resource();
    let api: Api<DynamicObject> = match &namespace {
        Some(ns) => Api::namespaced_with(client, ns, &resource),
        None => Api::all_with(client, &resource),
    };
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let value = |o: DynamicObject| serde_json::to_value(o).unwrap_or(Value::Null);
    while let Some(item) = stream.next().await {
        let event = match item {
            Ok(watcher::Event::Init) => Event::Init,
            Ok(watcher::Event::InitApply(o)) => Event::InitApply(value(o)),
            Ok(watcher::Event::InitDone) => Event::InitDone,
            Ok(watcher::Event::Apply(o)) => Event::Apply(value(o)),
            Ok(watcher::Event::Delete(o)) => Event::Delete(value(o)),
            Err(watcher::Error::InitialListFailed(kube::Error::Api(status)))
                if status.is_not_found() =>
            {
                Event::NotInstalled
            }
            Err(e) => Event::Error(e.to_string()),
        };
        if events.send((index, event)).is_err() {
            return;
        }
    }
}

struct Translator {
    options: Options,
    debounce: Duration,
    watches: Vec<(WatchedKind, Option<String>)>,
    inbox: mpsc::UnboundedReceiver<(usize, Event)>,
    out: mpsc::Sender<Update>,
}

#[derive(Default)]
struct Progress {
    /// Per watch: listed at least once.
    synced: Vec<bool>,
    /// Per watch: the objects of a list in progress.
    listing: Vec<Option<Vec<Value>>>,
    /// Per watch: reported as not installed.
    absent: Vec<bool>,
}

impl Translator {
    async fn run(mut self) {
        let n = self.watches.len();
        let mut progress = Progress {
            synced: vec![false; n],
            listing: vec![None; n],
            absent: vec![false; n],
        };
        let mut cache = cache::Cache::default();
        let mut generation = 0;
        let mut last = Last::default();
        let mut dirty = false;
        // When changes never stop, an update is built at least this often.
        let max_wait = self.debounce * 8;
        let mut dirty_since = tokio::time::Instant::now();
        loop {
            let event = if dirty && progress.synced.iter().all(|s| *s) {
                // Quiet for `debounce` (or changing for `max_wait`): build; else take the next
                // change first.
                let quiet = self
                    .debounce
                    .min(max_wait.saturating_sub(dirty_since.elapsed()));
                match tokio::time::timeout(quiet, self.inbox.recv()).await {
                    Ok(event) => event,
                    Err(_) => {
                        generation += 1;
                        // On a blocking thread: translating reads every Secret's certificates,
                        // keys and CRLs (and may write them), as long as the bundles and CRLs
                        // are large; the runtime's other tasks go on meanwhile. Changes that
                        // arrive wait in the inbox for the next update, so updates stay in order.
                        let options = self.options.clone();
                        let built = tokio::task::spawn_blocking(move || {
                            let update = build(generation, &options, &cache, &mut last);
                            (cache, last, update)
                        })
                        .await;
                        let update;
                        (cache, last, update) = match built {
                            Ok(built) => built,
                            Err(e) => {
                                tracing::error!(error = %e, "building an update failed; the follower stops");
                                return;
                            }
                        };
                        dirty = false;
                        if self.out.send(update).await.is_err() {
                            return;
                        }
                        continue;
                    }
                }
            } else {
                self.inbox.recv().await
            };
            let Some((index, event)) = event else {
                return;
            };
            if self.handle(index, event, &mut progress, &mut cache) && !dirty {
                dirty = true;
                dirty_since = tokio::time::Instant::now();
            }
        }
    }

    /// Applies one watch event; returns whether the objects changed.
    fn handle(
        &self,
        index: usize,
        event: Event,
        progress: &mut Progress,
        cache: &mut cache::Cache,
    ) -> bool {
        let (kind, namespace) = &self.watches[index];
        match event {
            Event::Init => {
                progress.listing[index] = Some(Vec::new());
                false
            }
            Event::InitApply(v) => {
                progress.listing[index].get_or_insert_with(Vec::new).push(v);
                false
            }
            Event::InitDone => {
                let items = progress.listing[index].take().unwrap_or_default();
                cache.replace(kind, namespace.as_deref(), items);
                progress.synced[index] = true;
                if std::mem::take(&mut progress.absent[index]) {
                    tracing::info!(
                        kind = kind.kind,
                        api_version = kind.api_version,
                        "now served: watching it"
                    );
                }
                true
            }
            Event::Apply(v) => {
                cache.apply(kind, v);
                true
            }
            Event::Delete(v) => {
                cache.delete(kind, &v);
                true
            }
            Event::NotInstalled => {
                if !progress.absent[index] {
                    tracing::info!(
                        kind = kind.kind,
                        api_version = kind.api_version,
                        "not served by the API server (CRD not installed?): none until it is"
                    );
                }
                progress.absent[index] = true;
                let first = !progress.synced[index];
                progress.synced[index] = true;
                first
            }
            Event::Error(e) => {
                metrics::counter!("mtls_kube_watch_errors_total", "kind" => kind.kind).increment(1);
                tracing::warn!(kind = kind.kind, api_version = kind.api_version, error = %e, "watch failed; retrying with backoff");
                false
            }
        }
    }
}
