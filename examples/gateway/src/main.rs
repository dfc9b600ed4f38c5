//! `mtls-gateway`: an mTLS ingress gateway assembled from the mtls crates.
//!
//! - `run --config FILE`: serve listeners, routes and backends from a YAML file, reloading it
//!   (and the certificates it names) on change and on SIGHUP.
//! - `run --kube [--namespace NS]`: the same, following a Kubernetes cluster's objects and
//!   Secrets instead (see `deploy/`).
//! - `demo`: generate a throw-away PKI, start an echo backend and a gateway on loopback, and
//!   print the `curl` commands that show each decision.
//! - `check`: verify a certificate chain exactly as the gateway would, and explain the decision.
//! - `strict-readiness --admin ADDR`: who connects to the PERMISSIVE listeners without mTLS,
//!   that is, who would break if they became STRICT.
//! - `echo`: a plaintext backend answering `/status/N` with status N and echoing the identity
//!   headers it received as JSON.

mod access_log;
mod admin;
mod assemble;
mod check;
mod config;
mod demo;
mod distribution;
mod echo;
mod kube;
mod proxy;
mod server;
mod strict_readiness;
mod translate;
mod upstream;
mod workload;

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "mtls-gateway", version, about = "An mTLS ingress gateway")]
struct Cli {
    /// Threads that serve connections (default: the CPUs this process may run on). With one,
    /// the gateway runs on a single-threaded runtime, as nginx runs one worker per process:
    /// no wakeups across threads, about a fifth less CPU per proxied request.
    #[arg(long, global = true, value_name = "N", env = "MTLS_GATEWAY_WORKERS")]
    workers: Option<NonZeroUsize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the configuration in FILE (or, with --kube, the cluster's) until SIGTERM or
    /// Ctrl-C.
    Run {
        /// The YAML configuration.
        #[arg(long, short, required_unless_present = "kube", conflicts_with = "kube")]
        config: Option<PathBuf>,
        /// Follow the Kubernetes cluster (in-cluster or kubeconfig) instead of files: its
        /// Istio, Gateway API, AGC, osm-edge and ingress-nginx objects and Secrets.
        #[arg(long)]
        kube: bool,
        #[command(flatten)]
        kube_args: kube::KubeArgs,
    },
    /// Run a gateway and an echo backend on loopback with a generated PKI, and print curl
    /// commands to try it.
    Demo(demo::DemoArgs),
    /// Verify a certificate chain as the gateway would and explain the decision
    /// (exit 0 accepted, 1 rejected, 2 usage or configuration error).
    Check(check::CheckArgs),
    /// Translate Kubernetes manifests (Istio, Gateway API, AGC, osm-edge, ingress-nginx) into
    /// this gateway's configuration: YAML on stdout, warnings on stderr.
    Translate(translate::TranslateArgs),
    /// Ask a running gateway's admin listener who connects to its PERMISSIVE listeners
    /// without mTLS: who would break under STRICT (exit 0 nobody, 1 somebody, 2 error).
    StrictReadiness(strict_readiness::ReadinessArgs),
    /// A plaintext backend for trying configurations: `/status/N` answers with status N, and
    /// every answer echoes the request's identity headers as JSON.
    Echo(echo::EchoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Translate(args) => translate::run(&args),
        Command::StrictReadiness(args) => strict_readiness::run(&args),
        Command::Run {
            config: Some(_),
            kube_args,
            ..
        } if kube_args.workload.is_given() => {
            eprintln!(
                "mtls-gateway: the --workload-* options are for --kube: with --config, the file \
                 declares its listeners"
            );
            ExitCode::from(2)
        }
        Command::Run {
            config: Some(config),
            ..
        } => with_runtime(cli.workers, || server::run(config)),
        Command::Run { kube_args, .. } => with_runtime(cli.workers, || kube::run(kube_args)),
        Command::Demo(args) => with_runtime(cli.workers, || demo::run(args)),
        Command::Echo(args) => with_runtime(cli.workers, || echo::run(args)),
    }
}

fn with_runtime<F, Fut>(workers: Option<NonZeroUsize>, f: F) -> ExitCode
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    init_logging();
    let runtime = match runtime(workers) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mtls-gateway: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(f()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mtls-gateway: {e}");
            ExitCode::from(2)
        }
    }
}

/// The runtime for `workers` threads, by default one per CPU this process may run on (which
/// honours `taskset` and cgroup CPU sets). One thread gets tokio's single-threaded scheduler,
/// as linkerd2-proxy does on one core: a task woken by another (a connection by its upstream)
/// runs without the multi-threaded scheduler's atomics and injection queue.
fn runtime(workers: Option<NonZeroUsize>) -> std::io::Result<tokio::runtime::Runtime> {
    let workers = workers
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get);
    let mut builder = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(workers);
        builder
    };
    let runtime = builder.enable_all().build()?;
    tracing::info!(
        workers,
        scheduler = if workers == 1 {
            "single-threaded"
        } else {
            "multi-threaded"
        },
        "runtime started"
    );
    Ok(runtime)
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .compact()
        .try_init();
}
