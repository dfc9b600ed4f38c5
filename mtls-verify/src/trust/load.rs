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
        let material = |source| TrustError::Material {
            domain: name.to_owned(),
            source,
        };
        let mut bundle: Option<CaBundle> = None;
        for source in &domain.ca {
            let next = match source {
                TrustSource::File(path) => CaBundle::from_file(path),
                TrustSource::Pem(pem) => CaBundle::from_bytes(pem.as_bytes(), "inline CA PEM"),
                TrustSource::Secret(secret) => {
                    let bytes = resolved(name, secret, resolve)?;
                    CaBundle::from_bytes(&bytes, secret_label(secret))
                }
                other => return Err(unsupported(name, other)),
            }
            .map_err(material)?;
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
                    let next = match source {
                        TrustSource::File(path) => CrlSet::from_file(path),
                        TrustSource::Pem(pem) => {
                            CrlSet::from_bytes(pem.as_bytes(), "inline CRL PEM")
                        }
                        TrustSource::Secret(secret) => {
                            let bytes = resolved(name, secret, resolve)?;
                            CrlSet::from_bytes(&bytes, secret_label(secret))
                        }
                        other => return Err(unsupported(name, other)),
                    }
                    .map_err(material)?;
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

fn unsupported(domain: &str, source: &TrustSource) -> TrustError {
    TrustError::UnsupportedSource {
        domain: domain.to_owned(),
        source_kind: format!("{source:?}"),
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

fn resolved(
    domain: &str,
    secret: &SecretRef,
    resolve: &dyn Fn(&SecretRef) -> Result<Vec<u8>, ResolveError>,
) -> Result<Vec<u8>, TrustError> {
    resolve(secret).map_err(|source| {
        if source.is::<NoResolver>() {
            TrustError::SecretNotResolvable {
                domain: domain.to_owned(),
                secret: secret_label(secret),
            }
        } else {
            TrustError::Resolve {
                domain: domain.to_owned(),
                secret: secret_label(secret),
                source,
            }
        }
    })
}
