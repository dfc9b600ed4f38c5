//! The deploy manifests, parsed into k8s-openapi types.

use std::path::Path;

use serde_json::{Value, json};

/// Every document of `deploy/`, parsed into its k8s-openapi type; re-serialized, it must be
/// the document again (a misspelt or misplaced field would be dropped and show here).
#[test]
fn deploy_manifests_are_valid_kubernetes_objects() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Namespace, Service, ServiceAccount};
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};

    fn check<T: serde::de::DeserializeOwned + serde::Serialize>(doc: &Value, file: &str) {
        let typed: T =
            serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            &serde_json::to_value(&typed).unwrap(),
            doc,
            "{file}: fields lost"
        );
    }

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let mut kinds = Vec::new();
    let mut rules = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        for doc in mtls_policy::yaml::documents(&text).unwrap() {
            let kind = doc["kind"].as_str().unwrap().to_string();
            match kind.as_str() {
                "Deployment" => check::<Deployment>(&doc, &file),
                "Service" => check::<Service>(&doc, &file),
                "ServiceAccount" => check::<ServiceAccount>(&doc, &file),
                "Namespace" => check::<Namespace>(&doc, &file),
                "PodDisruptionBudget" => check::<PodDisruptionBudget>(&doc, &file),
                "Role" => check::<Role>(&doc, &file),
                "RoleBinding" => check::<RoleBinding>(&doc, &file),
                "ClusterRole" => check::<ClusterRole>(&doc, &file),
                "ClusterRoleBinding" => check::<ClusterRoleBinding>(&doc, &file),
                other => panic!("{file}: unexpected kind {other}"),
            }
            if kind == "Role" || kind == "ClusterRole" {
                rules.push((kind.clone(), doc["rules"].clone()));
            }
            kinds.push(kind);
        }
    }
    for k in [
        "Deployment",
        "Service",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
    ] {
        assert!(kinds.iter().any(|have| have == k), "no {k} in deploy/");
    }
    // Least privilege: get, list and watch on exactly the kinds the follower watches.
    let mut want: Vec<(String, String)> = mtls_kube::runtime::WatchedKind::all()
        .iter()
        .map(|k| (k.group().to_string(), k.plural.to_string()))
        .collect();
    want.sort();
    for (kind, rules) in rules {
        let mut granted = Vec::new();
        for rule in rules.as_array().unwrap() {
            assert_eq!(
                rule["verbs"],
                json!(["get", "list", "watch"]),
                "{kind}: {rule}"
            );
            for group in rule["apiGroups"].as_array().unwrap() {
                for resource in rule["resources"].as_array().unwrap() {
                    granted.push((
                        group.as_str().unwrap().to_string(),
                        resource.as_str().unwrap().to_string(),
                    ));
                }
            }
        }
        granted.sort();
        assert_eq!(granted, want, "{kind}");
    }
}
