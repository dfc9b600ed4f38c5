//! Loading a policy [`TrustDomain`]: its CA and CRL sources (files, inline PEM, secrets read
//! through a resolver).

use mtls_core::{CaBundle, CrlSet};
use mtls_policy::{SecretRef, TrustDomain, TrustSource};
use rustls::crypto::CryptoProvider;

use super::fetched::domain_uris;
use super::{DomainOptions, FetchedCrls, LoadedTrustDomain, ResolveError, TrustError};

impl LoadedTrustDomain {
    /// Loads a policy [`TrustDomain`] whose sources are files and inline PEM. A secret source
    /// is an error ([`TrustError::SecretNotResolvable`]); use [`load_with`](Self::load_with).
    ///
    /// # Errors
    /// See [`TrustError`].
    pub fn load(domain: &TrustDomain, provider: &CryptoProvider) -> Result<Self, TrustError> {
        Self::load_with(domain, provider, &|_| Err(NoResolver.into()))
    }

    /// Loads a policy [`TrustDomain`], reading secret sources through `resolve` (which returns
    /// the PEM bytes of the referenced key).
    ///
    /// # Errors
    /// See [`TrustError`].
    pub fn load_with(
        domain: &TrustDomain,
        provider: &CryptoProvider,
        resolve: &dyn Fn(&SecretRef) -> Result<Vec<u8>, ResolveError>,
    ) -> Result<Self, TrustError> {
        Self::load_with_fetched(domain, provider, resolve, &FetchedCrls::default())
    }

    /// Loads a policy [`TrustDomain`] as [`load_with`](Self::load_with) does; when it fetches
    /// CRLs from distribution points (`crl.distribution_points`), the CRLs `fetched` holds for
    /// its [URIs](Self::distribution_points) are added to its CRL sources and indexed with
    /// them. A URI not fetched yet adds nothing. When it reads OCSP statuses (`ocsp`), it
    /// reads them through the [`OcspCheck`](crate::ocsp::OcspCheck) `fetched` holds for its
    /// name ([`with_ocsp`](Self::with_ocsp)); without one it reads none.
    ///
    /// # Errors
    /// See [`TrustError`].
    pub fn load_with_fetched(
        domain: &TrustDomain,
        provider: &CryptoProvider,
        resolve: &dyn Fn(&SecretRef) -> Result<Vec<u8>, ResolveError>,
        fetched: &FetchedCrls,
    ) -> Result<Self, TrustError> {
        let name = domain.name.as_str();
        let mut bundle: Option<CaBundle> = None;
        for source in &domain.ca {
            let next = read_ca_source(source, resolve).map_err(|e| e.in_domain(name))?;
            match &mut bundle {
                Some(b) => b.merge(&next),
                None => bundle = Some(next),
            }
        }
        let bundle = bundle.ok_or_else(|| TrustError::NoCaSource {
            domain: name.to_owned(),
        })?;

        let crls = match &domain.crl {
            None => None,
            Some(options)
                if options.sources.is_empty() && options.distribution_points.is_none() =>
            {
                return Err(TrustError::NoCrlSource {
                    domain: name.to_owned(),
                });
            }
            Some(options) => {
                let mut set = CrlSet::default();
                for source in &options.sources {
                    let next = read_source(
                        source,
                        resolve,
                        |path| CrlSet::from_file(path),
                        CrlSet::from_bytes,
                        "inline CRL PEM",
                    )
                    .map_err(|e| e.in_domain(name))?;
                    set.extend(next);
                }
                Some(set)
            }
        };
        let uris = domain_uris(domain, &bundle);
        let crls = match crls {
            Some(mut set) if !uris.is_empty() => {
                for crl in uris.iter().filter_map(|uri| fetched.get(uri)) {
                    set.extend(crl.clone());
                }
                Some(set)
            }
            other => other,
        };
        let mut loaded = Self::new(
            name,
            bundle,
            crls.as_ref(),
            DomainOptions::from_policy(domain),
            provider,
        )?;
        loaded.distribution_points = uris;
        if let Some(policies) = &domain.certificate_policies {
            loaded = loaded.with_certificate_policies(policies);
        }
        if let Some(check) = domain.ocsp.as_ref().and(fetched.ocsp(name)) {
            loaded = loaded.with_ocsp(check.clone());
        }
        Ok(loaded)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("no secret resolver")]
struct NoResolver;

/// Reads the CA bundle one [`TrustSource`] names: a PEM file, inline PEM, or a secret whose
/// PEM bytes `resolve` returns. The one reader of CA sources: trust domains and upstream TLS
/// settings (`mtls_tower::load_ca_bundle`) read theirs through it.
///
/// ```
/// use mtls_policy::TrustSource;
///
/// let missing = TrustSource::File("/nonexistent/ca.pem".into());
/// let err = mtls_verify::read_ca_source(&missing, &|_| Err("no secrets here".into()))
///     .unwrap_err();
/// assert!(err.to_string().contains("/nonexistent/ca.pem"));
/// ```
///
/// # Errors
/// [`SourceError`]: the material does not parse, the secret cannot be read, or the source is
/// of a kind this version cannot read.
pub fn read_ca_source(
    source: &TrustSource,
    resolve: &dyn Fn(&SecretRef) -> Result<Vec<u8>, ResolveError>,
) -> Result<CaBundle, SourceError> {
    read_source(
        source,
        resolve,
        |path| CaBundle::from_file(path),
        CaBundle::from_bytes,
        "inline CA PEM",
    )
}

/// Reads what `source` names with `from_file` or `from_bytes` (inline PEM labelled
/// `inline_label`; a secret's bytes labelled `namespace/name[:key]`).
fn read_source<T>(
    source: &TrustSource,
    resolve: &dyn Fn(&SecretRef) -> Result<Vec<u8>, ResolveError>,
    from_file: impl FnOnce(&std::path::Path) -> Result<T, mtls_core::Error>,
    from_bytes: impl FnOnce(&[u8], String) -> Result<T, mtls_core::Error>,
    inline_label: &str,
) -> Result<T, SourceError> {
    match source {
        TrustSource::File(path) => from_file(path),
        TrustSource::Pem(pem) => from_bytes(pem.as_bytes(), inline_label.to_owned()),
        TrustSource::Secret(secret) => {
            let label = secret_label(secret);
            let bytes = resolve(secret).map_err(|source| {
                if source.is::<NoResolver>() {
                    SourceError::SecretNotResolvable {
                        secret: label.clone(),
                    }
                } else {
                    SourceError::Resolve {
                        secret: label.clone(),
                        source,
                    }
                }
            })?;
            from_bytes(&bytes, label)
        }
        other => {
            return Err(SourceError::Unsupported {
                source_kind: format!("{other:?}"),
            });
        }
    }
    .map_err(SourceError::Material)
}

/// Why one CA or CRL source could not be read ([`read_ca_source`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The material could not be read or parsed.
    #[error(transparent)]
    Material(mtls_core::Error),
    /// A Kubernetes secret source, and no resolver was given.
    #[error(
        "secret {secret:?} cannot be resolved here: load secrets through mtls-kube, or use \
         LoadedTrustDomain::load_with and a resolver"
    )]
    SecretNotResolvable {
        /// `namespace/name[:key]`.
        secret: String,
    },
    /// The resolver failed for a secret source.
    #[error("secret {secret:?}: {source}")]
    Resolve {
        /// `namespace/name[:key]`.
        secret: String,
        /// The resolver's error.
        #[source]
        source: ResolveError,
    },
    /// A kind of source this version cannot read.
    #[error("unsupported source {source_kind}")]
    Unsupported {
        /// The source, as debug-printed.
        source_kind: String,
    },
}

impl SourceError {
    /// The same error, as trust domain `domain`'s.
    fn in_domain(self, domain: &str) -> TrustError {
        let domain = domain.to_owned();
        match self {
            Self::Material(source) => TrustError::Material { domain, source },
            Self::SecretNotResolvable { secret } => {
                TrustError::SecretNotResolvable { domain, secret }
            }
            Self::Resolve { secret, source } => TrustError::Resolve {
                domain,
                secret,
                source,
            },
            Self::Unsupported { source_kind } => TrustError::UnsupportedSource {
                domain,
                source_kind,
            },
        }
    }
}

fn secret_label(secret: &SecretRef) -> String {
    let mut label = match &secret.namespace {
        Some(ns) => format!("{ns}/{}", secret.name),
        None => secret.name.clone(),
    };
    if let Some(key) = &secret.key {
        label.push(':');
        label.push_str(key);
    }
    label
}
