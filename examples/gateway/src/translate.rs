//! `translate`: vendor manifests (Istio, Gateway API, AGC, osm-edge, ingress-nginx, Secrets) →
//! this gateway's configuration, the migration path.
//!
//! `mtls-gateway translate FILE... [--mount-root DIR] [--bind IP] [--workload-namespace NS]
//! [--workload-label KEY=VALUE]... [--workload-port PORT]... [--workload-credential SECRET
//! [--workload-backend URL]] [--gateway-namespace NS] [--validate]` prints the configuration YAML (the model `run --config` reads: listeners with
//! their hosts and routes, backends) on stdout and the warnings, the Secrets to mount and failed
//! status conditions on stderr; exit 0, or 2 when a file cannot be read or parsed, when the
//! result enforces nothing (no listener, or a listener without a host: said on stderr, after
//! the YAML is printed) or, with `--validate`, when it does not load as a configuration.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mtls_kube::{ConditionStatus, Options, RefState};

use crate::config;
use crate::workload::WorkloadArgs;

/// Arguments of `translate`.
#[derive(clap::Args, Debug)]
pub(crate) struct TranslateArgs {
    /// Manifest files (YAML, many documents each).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Where Secrets and ConfigMaps are mounted (`DIR/secrets/NS/NAME/KEY`).
    #[arg(long, value_name = "DIR", default_value = "/etc/mtls")]
    mount_root: PathBuf,
    /// The address listeners bind.
    #[arg(long, value_name = "IP", default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    bind: IpAddr,
    #[command(flatten)]
    workload: WorkloadArgs,
    /// The namespace of the Istio ingress gateway's pods, where Istio reads `credentialName`
    /// Secrets (default: --workload-namespace, else each Gateway's own namespace).
    #[arg(long, value_name = "NS")]
    gateway_namespace: Option<String>,
    /// Load the result with the gateway's configuration loader (no files are read).
    #[arg(long)]
    validate: bool,
}

impl TranslateArgs {
    fn options(&self) -> Result<Options, String> {
        let mut options = Options::default();
        options.mount_root = self.mount_root.clone();
        options.bind_address = self.bind;
        options.gateway_namespace = self.gateway_namespace.clone();
        options.workload = self.workload.workload(None)?;
        Ok(options)
    }
}

pub(crate) fn run(args: &TranslateArgs) -> ExitCode {
    let options = match args.options() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("mtls-gateway: {e}");
            return ExitCode::from(2);
        }
    };
    let mut objects = Vec::new();
    for file in &args.files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("mtls-gateway: {}: cannot read: {e}", file.display());
                return ExitCode::from(2);
            }
        };
        match mtls_kube::parse_manifests(&text, &file.display().to_string()) {
            Ok(mut o) => objects.append(&mut o),
            Err(e) => {
                eprintln!("mtls-gateway: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let t = mtls_kube::translate(&objects, &options);
    let yaml = match t.config.to_yaml() {
        Ok(yaml) => yaml,
        Err(e) => {
            eprintln!("mtls-gateway: the translation has no YAML form: {e}");
            return ExitCode::from(2);
        }
    };
    let inert = t.enforces_nothing();
    if inert.is_none()
        && args.validate
        && let Err(e) = config::parse(&yaml, Path::new("(translated)"), Path::new("/"))
    {
        eprintln!("mtls-gateway: the translation does not load: {e}");
        return ExitCode::from(2);
    }
    for w in &t.warnings {
        eprintln!("warning: {w}");
    }
    for c in &t.credentials {
        let state = match &c.state {
            RefState::Resolved { layout } => format!("found ({layout})"),
            RefState::NotInInput => "not in the input".to_string(),
            RefState::Invalid { reason } => format!("INVALID: {reason}"),
            _ => String::new(),
        };
        eprintln!(
            "mount: {} ({}) at {}: {}",
            c.object,
            c.keys.join(", "),
            c.mount.display(),
            state
        );
    }
    for s in &t.status {
        for c in s
            .conditions
            .iter()
            .filter(|c| c.status == ConditionStatus::False)
        {
            let section = s
                .section
                .as_deref()
                .map(|x| format!(" [{x}]"))
                .unwrap_or_default();
            eprintln!(
                "status: {}{section}: {}=False {}: {}",
                s.object, c.kind, c.reason, c.message
            );
        }
    }
    print!("{yaml}");
    if let Some(why) = inert {
        eprintln!("mtls-gateway: the translation enforces nothing: {why}");
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
