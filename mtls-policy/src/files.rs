//! The files a configuration names, resolved once against the configuration's own directory.

use std::path::{Path, PathBuf};

use crate::backend::BackendTls;
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
    /// directories, CA bundles, CRLs, session-ticket keys, upstream TLS files) relative to
    /// `base`, the directory of the configuration file. Call it once, when loading: relative
    /// paths then mean the same whatever the process's working directory.
    pub fn resolve_paths(&mut self, base: &Path) {
        self.visit_paths(&mut |p: &mut PathBuf, _| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        });
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

    /// Calls `f` with every path and whether it is a directory.
    fn visit_paths(&mut self, f: &mut dyn FnMut(&mut PathBuf, bool)) {
        for listener in &mut self.listeners {
            if let Some(tickets) = &mut listener.session_tickets {
                f(&mut tickets.key_file, false);
            }
            for host in &mut listener.hosts {
                match &mut host.certificate {
                    Some(CertificateSource::Files { chain, key }) => {
                        f(chain, false);
                        f(key, false);
                    }
                    Some(CertificateSource::SecretDir(dir)) => f(dir, true),
                    _ => {}
                }
                let domains = host.client_validation.iter_mut().flat_map(|v| &mut v.trust);
                for domain in domains {
                    let crls = domain.crl.iter_mut().flat_map(|c| c.sources.iter_mut());
                    for source in domain.ca.iter_mut().chain(crls) {
                        if let TrustSource::File(p) = source {
                            f(p, false);
                        }
                    }
                }
            }
        }
        for backend in self.backends.values_mut() {
            if let Some(BackendTls {
                ca,
                client_certificate,
                ..
            }) = &mut backend.tls
            {
                f(ca, false);
                if let Some(c) = client_certificate {
                    f(&mut c.chain, false);
                    f(&mut c.key, false);
                }
            }
        }
    }
}
