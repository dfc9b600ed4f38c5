//! The files a configuration names, resolved once against the configuration's own directory.

use std::path::{Path, PathBuf};

use crate::certificate::CertificateSource;
use crate::config::PolicyConfig;
use crate::trust::TrustSource;

/// The files and directories a configuration reads: to watch them for changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigFiles {
    /// Files (certificates, keys, CA bundles, CRLs, session-ticket keys).
    pub files: Vec<PathBuf>,
    /// Directories read whole (mounted secrets).
    pub dirs: Vec<PathBuf>,
}

impl PolicyConfig {
    /// Makes every relative path of the configuration (certificates, keys, secret
    /// directories, CA bundles, CRLs, session-ticket keys, upstream TLS files, the access
    /// log's file) relative to `base`, the directory of the configuration file. Call it once,
    /// when loading: relative paths then mean the same whatever the process's working
    /// directory.
    pub fn resolve_paths(&mut self, base: &Path) {
        self.visit_paths(&mut |p: &mut PathBuf, _| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        });
        // Written, not read: resolved like the others, never watched.
        if let Some(path) = self.access_log.as_mut().and_then(|a| a.path.as_mut())
            && path.is_relative()
        {
            *path = base.join(&*path);
        }
    }

    /// The files and directories the configuration reads.
    pub fn files(&self) -> ConfigFiles {
        let mut out = ConfigFiles::default();
        // `visit_paths` takes `&mut self`; visiting a copy keeps this one `&self`.
        self.clone().visit_paths(&mut |p: &mut PathBuf, dir| {
            let list = if dir { &mut out.dirs } else { &mut out.files };
            list.push(p.clone());
        });
        out.files.sort();
        out.files.dedup();
        out.dirs.sort();
        out.dirs.dedup();
        out
    }

    /// Calls `f` with every source of certificates, keys, CA bundles and CRLs the
    /// configuration names: hosts' server certificates, client validation's CAs and CRLs,
    /// backends' CAs and client certificates. To rewrite where material comes from (files to
    /// secrets, secrets to inline PEM) without missing a place.
    ///
    /// ```
    /// use mtls_policy::{PolicyConfig, SourceMut, TrustSource};
    /// let mut config = PolicyConfig::from_yaml(r#"
    /// listeners: []
    /// backends:
    ///   api: { url: https://api:8443, tls: { ca: /etc/ca.pem } }
    /// "#)?;
    /// let mut files = 0;
    /// config.sources_mut(&mut |source| {
    ///     if let SourceMut::Trust(TrustSource::File(_)) = source {
    ///         files += 1;
    ///     }
    /// });
    /// assert_eq!(files, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sources_mut(&mut self, f: &mut dyn FnMut(SourceMut<'_>)) {
        for listener in &mut self.listeners {
            // The candidate trust of shadow evaluation is loaded (and watched) like the active.
            let mut validations = Vec::new();
            for host in &mut listener.hosts {
                if let Some(source) = &mut host.certificate {
                    f(SourceMut::Certificate(source));
                }
                validations.extend(host.client_validation.iter_mut());
                validations.extend(host.shadow_client_validation.iter_mut());
            }
            validations.extend(listener.shadow_client_validation.iter_mut());
            for domain in validations.into_iter().flat_map(|v| &mut v.trust) {
                let crls = domain.crl.iter_mut().flat_map(|c| c.sources.iter_mut());
                for source in domain.ca.iter_mut().chain(crls) {
                    f(SourceMut::Trust(source));
                }
            }
        }
        for tls in self.backends.values_mut().filter_map(|b| b.tls.as_mut()) {
            f(SourceMut::Trust(&mut tls.ca));
            if let Some(source) = &mut tls.client_certificate {
                f(SourceMut::Certificate(source));
            }
        }
    }

    /// Calls `f` with every path and whether it is a directory.
    fn visit_paths(&mut self, f: &mut dyn FnMut(&mut PathBuf, bool)) {
        for listener in &mut self.listeners {
            if let Some(tickets) = &mut listener.session_tickets {
                f(&mut tickets.key_file, false);
            }
        }
        self.sources_mut(&mut |source| match source {
            SourceMut::Certificate(CertificateSource::Files { chain, key }) => {
                f(chain, false);
                f(key, false);
            }
            SourceMut::Certificate(CertificateSource::SecretDir(dir)) => f(dir, true),
            SourceMut::Trust(TrustSource::File(p)) => f(p, false),
            _ => {}
        });
    }
}

/// A source of material in a configuration, to read or rewrite (see
/// [`PolicyConfig::sources_mut`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum SourceMut<'a> {
    /// A certificate and its key: a host's server certificate, a backend's client certificate.
    Certificate(&'a mut CertificateSource),
    /// A CA bundle or CRL: client validation's, a backend's CA.
    Trust(&'a mut TrustSource),
}
