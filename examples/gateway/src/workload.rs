//! The gateway's own workload, for `PeerAuthentication`: the options `translate` and
//! `run --kube` share (`--workload-namespace`, `--workload-label`, `--workload-port`,
//! `--workload-credential`, `--workload-backend`).

use std::collections::BTreeMap;

use mtls_kube::Workload;

/// Which workload the configuration is for, and what its own ports serve.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct WorkloadArgs {
    /// The namespace of the workload the configuration is for (the gateway's pods): the
    /// PeerAuthentications that select it set the peer mode of its own ports' listeners
    /// (`--workload-port`); a Gateway's or an Ingress's listeners keep their TLS settings.
    #[arg(long = "workload-namespace", value_name = "NS")]
    pub(crate) namespace: Option<String>,
    /// A label of the workload's pods (KEY=VALUE, repeatable), for PeerAuthentication
    /// selectors.
    #[arg(long = "workload-label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub(crate) labels: Vec<(String, String)>,
    /// A port the workload serves (repeatable): one without a listener from the manifests gets
    /// one, `workload-<port>`, with the peer mode the PeerAuthentications give it.
    #[arg(long = "workload-port", value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) ports: Vec<u16>,
    /// A Secret of the workload's namespace with its certificate, key and peers' CA (`tls.crt`,
    /// `tls.key`, `ca.crt`): the workload listeners serve it and verify peers against the CA.
    #[arg(long = "workload-credential", value_name = "SECRET")]
    pub(crate) credential: Option<String>,
    /// Where the workload listeners forward what they admit (the application behind them),
    /// such as `http://127.0.0.1:8000`. Needs `--workload-credential`.
    #[arg(long = "workload-backend", value_name = "URL", requires = "credential")]
    pub(crate) backend: Option<String>,
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{text:?}: expected KEY=VALUE")),
    }
}

impl WorkloadArgs {
    /// Whether any workload option is given.
    pub(crate) fn is_given(&self) -> bool {
        self.namespace.is_some()
            || !self.labels.is_empty()
            || !self.ports.is_empty()
            || self.credential.is_some()
    }

    /// The workload, in `namespace` (`--workload-namespace`, else `default`); `Err` when its
    /// options are given without a namespace.
    pub(crate) fn workload(&self, default: Option<String>) -> Result<Option<Workload>, String> {
        let Some(namespace) = self.namespace.clone().or(default) else {
            if self.is_given() {
                return Err(
                    "--workload-label, --workload-port and --workload-credential need \
                            --workload-namespace"
                        .into(),
                );
            }
            return Ok(None);
        };
        let labels: BTreeMap<String, String> = self.labels.iter().cloned().collect();
        let mut workload = Workload::new(namespace, labels).with_ports(self.ports.iter().copied());
        if let Some(name) = &self.credential {
            workload = workload.with_credential(name, self.backend.clone());
        }
        Ok(Some(workload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_without_a_namespace_are_refused_by_name() {
        let args = WorkloadArgs {
            ports: vec![8080],
            ..WorkloadArgs::default()
        };
        assert_eq!(
            args.workload(None).unwrap_err(),
            "--workload-label, --workload-port and --workload-credential need --workload-namespace"
        );
        let w = args.workload(Some("web".into())).unwrap().unwrap();
        assert_eq!(
            (w.namespace.as_str(), w.ports.as_slice()),
            ("web", &[8080][..])
        );
        assert_eq!(WorkloadArgs::default().workload(None).unwrap(), None);
        assert_eq!(
            parse_label("app").unwrap_err(),
            "\"app\": expected KEY=VALUE"
        );
    }
}
