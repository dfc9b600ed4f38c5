//! `translate`: vendor manifests (Istio, Gateway API, AGC, osm-edge, ingress-nginx, Secrets) →
//! this gateway's configuration, the migration path.
//!
//! `mtls-gateway translate FILE... [--mount-root DIR] [--bind IP] [--validate]` prints the
//! configuration YAML (the model `run --config` reads: listeners with their hosts and routes,
//! backends) on stdout and the warnings, the Secrets to mount and failed status conditions on
//! stderr; exit 0, or 2 when a file cannot be read or parsed (or, with `--validate`, when the
//! result does not load as a configuration).

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mtls_kube::{ConditionStatus, Options, RefState};

use crate::config;

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
    /// Load the result with the gateway's configuration loader (no files are read).
    #[arg(long)]
    validate: bool,
}

pub(crate) fn run(args: &TranslateArgs) -> ExitCode {
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
    let mut options = Options::default();
    options.mount_root = args.mount_root.clone();
    options.bind_address = args.bind;
    let t = mtls_kube::translate(&objects, &options);
    let yaml = match t.config.to_yaml() {
        Ok(yaml) => yaml,
        Err(e) => {
            eprintln!("mtls-gateway: the translation has no YAML form: {e}");
            return ExitCode::from(2);
        }
    };
    if args.validate
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
    ExitCode::SUCCESS
}
