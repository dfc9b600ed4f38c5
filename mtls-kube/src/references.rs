//! How a translation names the Secrets it reads: as files where they are mounted, or as
//! `secret:` references a serving process resolves in memory.

use std::path::{Component, Path};

use mtls_policy::{CertificateSource, PolicyConfig, SecretRef, SourceMut, TrustSource};

/// How a translation names the keys of the Secrets it reads ([`Options::secret_paths`]).
///
/// [`Options::secret_paths`]: crate::Options::secret_paths
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretPaths {
    /// Files where the Secrets are mounted, under [`Options::mount_root`]: what
    /// `mtls-gateway run --config` reads.
    ///
    /// [`Options::mount_root`]: crate::Options::mount_root
    #[default]
    Files,
    /// `secret:` references for hosts' and backends' certificates
    /// ([`CertificateSource::Secret`]) and for CAs and CRLs of client validation and of
    /// backends ([`TrustSource::Secret`]), read through the serving process's secret resolver
    /// (the follower's `Update::secrets`). ConfigMaps (public CA bundles, which a `secret:`
    /// reference cannot name) stay files under
    /// [`Options::mount_root`](crate::Options::mount_root); the follower inlines the
    /// ConfigMaps it holds as PEM.
    ///
    /// ```
    /// let manifests = r#"
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: { name: web, namespace: web }
    /// spec:
    ///   servers:
    ///     - port: { number: 443, name: https, protocol: HTTPS }
    ///       hosts: [web.example.com]
    ///       tls: { mode: MUTUAL, credentialName: web-cred }
    /// "#;
    /// let objects = mtls_kube::parse_manifests(manifests, "gateway.yaml")?;
    /// let mut options = mtls_kube::Options::default();
    /// options.secret_paths = mtls_kube::SecretPaths::References;
    /// let t = mtls_kube::translate(&objects, &options);
    /// let host = &t.config.listeners[0].hosts[0];
    /// let cert = mtls_policy::SecretRef::new("web-cred", Some("web".into()), None);
    /// assert_eq!(host.certificate, Some(mtls_policy::CertificateSource::Secret(cert)));
    /// let ca = mtls_policy::SecretRef::new("web-cred", Some("web".into()), Some("ca.crt".into()));
    /// let trust = &host.client_validation.as_ref().expect("MUTUAL").trust[0];
    /// assert_eq!(trust.ca, [mtls_policy::TrustSource::Secret(ca)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    References,
}

/// A key of a Secret or ConfigMap mounted under a root: `<root>/<dir>/<ns>/<name>[/<key>]`.
pub(crate) struct Mounted<'a> {
    pub(crate) config_map: bool,
    pub(crate) namespace: &'a str,
    pub(crate) name: &'a str,
    pub(crate) key: Option<&'a str>,
}

/// Where `path` is mounted under `root`, if it is.
pub(crate) fn mounted<'a>(root: &Path, path: &'a Path) -> Option<Mounted<'a>> {
    let rest = path.strip_prefix(root).ok()?;
    let parts: Vec<&str> = rest
        .components()
        .map(|c| match c {
            Component::Normal(part) => part.to_str(),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let (dir, namespace, name, key) = match parts.as_slice() {
        [dir, ns, name] => (*dir, *ns, *name, None),
        [dir, ns, name, key] => (*dir, *ns, *name, Some(*key)),
        _ => return None,
    };
    let config_map = match dir {
        "secrets" => false,
        "configmaps" => true,
        _ => return None,
    };
    Some(Mounted {
        config_map,
        namespace,
        name,
        key,
    })
}

/// Calls `cert` with every certificate source and `trust` with every CA and CRL source of
/// the configuration (hosts, client validation, backends), replacing each with what they
/// return.
pub(crate) fn rewrite(
    config: &mut PolicyConfig,
    cert: &mut dyn FnMut(&CertificateSource) -> Option<CertificateSource>,
    trust: &mut dyn FnMut(&TrustSource) -> Option<TrustSource>,
) {
    config.sources_mut(&mut |source| match source {
        SourceMut::Certificate(source) => {
            if let Some(new) = cert(source) {
                *source = new;
            }
        }
        SourceMut::Trust(source) => {
            if let Some(new) = trust(source) {
                *source = new;
            }
        }
        _ => {}
    });
}

/// Names the Secrets mounted under `root` by reference ([`SecretPaths::References`]).
pub(crate) fn to_references(config: &mut PolicyConfig, root: &Path) {
    let secret = |path: &Path| {
        mounted(root, path)
            .filter(|m| !m.config_map)
            .map(|m| SecretRef::new(m.name, Some(m.namespace.into()), m.key.map(Into::into)))
    };
    rewrite(
        config,
        &mut |source| match source {
            CertificateSource::SecretDir(dir) => secret(dir)
                .filter(|r| r.key.is_none())
                .map(CertificateSource::Secret),
            // A backend's client certificate: the chain and key of one Secret.
            CertificateSource::Files { chain, key } => {
                let (chain, key) = (secret(chain)?, secret(key)?);
                (chain.name == key.name && chain.namespace == key.namespace).then(|| {
                    CertificateSource::Secret(SecretRef::new(chain.name, chain.namespace, None))
                })
            }
            _ => None,
        },
        &mut |source| match source {
            TrustSource::File(file) => secret(file)
                .filter(|r| r.key.is_some())
                .map(TrustSource::Secret),
            _ => None,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keys_under_the_root_are_mounted() {
        let root = Path::new("/etc/mtls");
        let m = mounted(root, Path::new("/etc/mtls/configmaps/web/ca/ca.crt")).unwrap();
        assert!(m.config_map);
        assert_eq!((m.namespace, m.name, m.key), ("web", "ca", Some("ca.crt")));
        let m = mounted(root, Path::new("/etc/mtls/secrets/web/cred")).unwrap();
        assert_eq!((m.config_map, m.key), (false, None));
        for outside in [
            "/etc/mtls/no-valid-ca.pem",
            "/etc/other/secrets/web/ca/ca.crt",
            "/etc/mtls/secrets/web/ca/x/ca.crt",
            "/etc/mtls/keys/web/ca/ca.crt",
            "/etc/mtls/secrets/web/../ca.crt",
        ] {
            assert!(mounted(root, Path::new(outside)).is_none(), "{outside}");
        }
    }
}
