//! `deploy/replicas/gateway.yaml`: every document parsed into its k8s-openapi type (a
//! misspelt or misplaced field would be lost), and the pieces agreeing with each other: the
//! configuration it carries is a valid one whose ticket keys, certificates and trust material
//! come from the mounted volumes, the probes reach the admin endpoint it configures, and the
//! Service and the disruption budget select the Deployment's pods.

use std::path::Path;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use mtls_policy::{CertificateSource, Policy, TrustSource};
use serde_json::Value;

/// The documents of the file, each as JSON.
fn documents() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/replicas/gateway.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    mtls_policy::yaml::documents(&text).unwrap()
}

/// The document of `kind` as its k8s-openapi type; re-serialized, it must be the document.
fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(docs: &[Value], kind: &str) -> T {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind}");
    let typed: T =
        serde_json::from_value(found[0].clone()).unwrap_or_else(|e| panic!("{kind}: {e}"));
    assert_eq!(
        &serde_json::to_value(&typed).unwrap(),
        found[0],
        "{kind}: fields lost"
    );
    typed
}

#[test]
fn the_replica_manifests_agree_with_each_other() {
    let docs = documents();
    assert_eq!(docs.len(), 4);
    let config_map: ConfigMap = typed(&docs, "ConfigMap");
    let deployment: Deployment = typed(&docs, "Deployment");
    let budget: PodDisruptionBudget = typed(&docs, "PodDisruptionBudget");
    let service: Service = typed(&docs, "Service");

    let spec = deployment.spec.unwrap();
    assert!(spec.replicas.unwrap() >= 2, "replicas");
    let labels = spec.template.metadata.unwrap().labels.unwrap();
    for selector in [
        spec.selector.match_labels.unwrap(),
        budget.spec.unwrap().selector.unwrap().match_labels.unwrap(),
        service.spec.as_ref().unwrap().selector.clone().unwrap(),
    ] {
        assert!(
            selector.iter().all(|(k, v)| labels.get(k) == Some(v)),
            "{selector:?}"
        );
    }
    let pod = spec.template.spec.unwrap();
    let container = &pod.containers[0];
    let mounts = container.volume_mounts.clone().unwrap();
    let volumes = pod.volumes.unwrap();
    // The source (ConfigMap or Secret name) of the volume mounted where `path` is.
    let source_of = |path: &Path| -> String {
        let mount = mounts
            .iter()
            .find(|m| path.starts_with(&m.mount_path))
            .unwrap_or_else(|| panic!("{} is on no mounted volume", path.display()));
        let volume = volumes.iter().find(|v| v.name == mount.name).unwrap();
        let secret = volume.secret.as_ref().and_then(|s| s.secret_name.clone());
        let config_map = volume.config_map.as_ref().map(|c| c.name.clone());
        secret.or(config_map).unwrap()
    };

    // The command names the configuration the ConfigMap carries, on its volume.
    let args = container.args.clone().unwrap();
    assert_eq!(args[..2], ["run", "--config"]);
    let config_path = Path::new(&args[2]);
    assert_eq!(
        source_of(config_path),
        config_map.metadata.name.clone().unwrap()
    );
    let file = config_path.file_name().unwrap().to_str().unwrap();
    let text = &config_map.data.unwrap()[file];
    let policy = Policy::from_yaml(text).unwrap();
    let config = policy.config();

    // Ticket keys, server certificate and client trust come from their Secrets.
    let listener = &config.listeners[0];
    let tickets = listener.session_tickets.as_ref().expect("session_tickets");
    assert_eq!(source_of(&tickets.key_file), "mtls-gateway-tickets");
    let host = &listener.hosts[0];
    let Some(CertificateSource::SecretDir(dir)) = &host.certificate else {
        panic!("{:?}", host.certificate)
    };
    assert_eq!(source_of(dir), "mtls-gateway-server");
    let domain = &host.client_validation.as_ref().unwrap().trust[0];
    let crls = domain.crl.iter().flat_map(|c| c.sources.iter());
    for source in domain.ca.iter().chain(crls) {
        let TrustSource::File(path) = source else {
            panic!("{source:?}")
        };
        assert_eq!(source_of(path), "mtls-gateway-clients");
    }

    // The ports: the Service reaches the listener, the probes reach the admin endpoint.
    let ports = container.ports.clone().unwrap();
    let port_of = |name: &str| {
        ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name))
            .unwrap()
    };
    assert_eq!(port_of("https").container_port, i32::from(listener.port()));
    let admin = config.admin.as_ref().unwrap().address.port();
    assert_eq!(port_of("admin").container_port, i32::from(admin));
    let target = &service.spec.unwrap().ports.unwrap()[0].target_port;
    assert_eq!(target, &Some(IntOrString::String("https".into())));
    let probe = container
        .readiness_probe
        .as_ref()
        .unwrap()
        .http_get
        .as_ref()
        .unwrap();
    assert_eq!(probe.path.as_deref(), Some("/readyz"));
    assert_eq!(probe.port, IntOrString::String("admin".into()));
}
