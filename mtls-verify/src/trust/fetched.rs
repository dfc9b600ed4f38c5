//! CRLs fetched from distribution points: which URIs a trust domain fetches, and the last good
//! CRL of each, handed to the loader as material (fetching is the caller's: this crate does no
//! I/O).

use std::collections::BTreeMap;
use std::sync::Arc;

use mtls_core::{CaBundle, CrlSet};
use mtls_policy::{CertificateProfile, TrustDomain};
use rustls::crypto::CryptoProvider;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::{LoadedTrustDomain, TrustError, check_crl_signers};
use crate::ocsp::OcspCheck;
use crate::revocation::RevocationIndex;

/// Revocation material kept fresh in the background, handed to the loader: the last good CRL
/// fetched from each distribution point, by URI, which
/// [`LoadedTrustDomain::load_with_fetched`] adds to the CRLs of a trust domain that fetches
/// (`crl.distribution_points`), for the URIs it fetches
/// ([`LoadedTrustDomain::distribution_points`]); and the [`OcspCheck`] of each trust domain
/// that reads OCSP statuses (`ocsp`), by name, which the loader gives to that domain
/// ([`LoadedTrustDomain::with_ocsp`]).
///
/// ```
/// # let pem = mtls_testkit::Pki::shared().crls().build().pem();
/// use mtls_core::CrlSet;
/// use mtls_verify::FetchedCrls;
///
/// let mut fetched = FetchedCrls::default();
/// let uri = "http://pki.example.com/root.crl";
/// fetched.insert(uri, CrlSet::from_bytes(pem.as_bytes(), uri).unwrap());
/// assert_eq!(fetched.get(uri).map(CrlSet::len), Some(2));
/// assert!(fetched.get("http://elsewhere/").is_none());
/// ```
///
/// Cheap to clone: the CRLs are shared, not copied (a fetched CRL may hold a million entries).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchedCrls {
    by_uri: BTreeMap<String, Arc<CrlSet>>,
    ocsp: BTreeMap<String, OcspCheck>,
}

impl FetchedCrls {
    /// Keeps `crls` as the CRLs of `uri`, replacing those fetched before.
    pub fn insert(&mut self, uri: impl Into<String>, crls: CrlSet) {
        self.by_uri.insert(uri.into(), Arc::new(crls));
    }

    /// The CRLs last fetched from `uri`.
    pub fn get(&self, uri: &str) -> Option<&CrlSet> {
        self.by_uri.get(uri).map(|crls| &**crls)
    }

    /// Forgets the CRLs of `uri`; they are returned.
    pub fn remove(&mut self, uri: &str) -> Option<CrlSet> {
        self.by_uri.remove(uri).map(Arc::unwrap_or_clone)
    }

    /// The URIs that have a CRL, in order.
    pub fn uris(&self) -> impl Iterator<Item = &str> {
        self.by_uri.keys().map(String::as_str)
    }

    /// How many URIs have a CRL.
    pub fn len(&self) -> usize {
        self.by_uri.len()
    }

    /// Whether no URI has a CRL.
    pub fn is_empty(&self) -> bool {
        self.by_uri.is_empty()
    }

    /// Keeps `check` as the OCSP check of the trust domain named `domain` (one whose
    /// configuration has `ocsp`), replacing the one kept before.
    pub fn insert_ocsp(&mut self, domain: impl Into<String>, check: OcspCheck) {
        self.ocsp.insert(domain.into(), check);
    }

    /// The OCSP check of the trust domain named `domain`.
    pub fn ocsp(&self, domain: &str) -> Option<&OcspCheck> {
        self.ocsp.get(domain)
    }
}

/// The `http://` URIs of a certificate's cRLDistributionPoints (full names only), in order and
/// without repeats; none when it names none or cannot be read. Other schemes (`ldap://`,
/// `https://`) are left out: a CRL is signed, and is fetched over plain HTTP.
pub fn crl_distribution_uris(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    let mut uris = Vec::new();
    for ext in cert.extensions() {
        let ParsedExtension::CRLDistributionPoints(points) = ext.parsed_extension() else {
            continue;
        };
        for point in points.iter() {
            let Some(DistributionPointName::FullName(names)) = &point.distribution_point else {
                continue;
            };
            for name in names {
                if let GeneralName::URI(uri) = name {
                    push_http(&mut uris, uri);
                }
            }
        }
    }
    uris
}

fn push_http(uris: &mut Vec<String>, uri: &str) {
    if uri
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
        && !uris.iter().any(|u| u == uri)
    {
        uris.push(uri.to_owned());
    }
}

/// The URIs `domain` fetches: its `distribution_points.urls`, then those its CA certificates
/// name; none when it does not fetch.
pub(super) fn domain_uris(domain: &TrustDomain, bundle: &CaBundle) -> Vec<String> {
    let Some(dp) = domain
        .crl
        .as_ref()
        .and_then(|c| c.distribution_points.as_ref())
    else {
        return Vec::new();
    };
    let mut uris = Vec::new();
    for url in &dp.urls {
        push_http(&mut uris, url);
    }
    for cert in bundle.certificates() {
        for uri in crl_distribution_uris(cert.der()) {
            push_http(&mut uris, &uri);
        }
    }
    uris
}

impl LoadedTrustDomain {
    /// The `http://` URIs this domain fetches CRLs from (`crl.distribution_points`): the
    /// configured `urls`, then those its CA certificates name. Empty when it does not fetch.
    pub fn distribution_points(&self) -> &[String] {
        &self.distribution_points
    }

    /// Checks `crls` as this domain's loader checks its CRLs, without keeping them: a CRL
    /// naming one of its CAs must be signed by it, with cRLSign, and carry a cRLNumber. For a
    /// fetched CRL, before it replaces the last good one.
    ///
    /// # Errors
    /// As [`new`](Self::new) for these CRLs.
    pub fn check_crls(&self, crls: &CrlSet, provider: &CryptoProvider) -> Result<(), TrustError> {
        check_crl_signers(self.name(), crls, &self.bundle, &self.anchors)?;
        RevocationIndex::new(
            crls,
            &self.anchors,
            &provider.signature_verification_algorithms,
        )
        .and_then(|index| match self.options.profile {
            CertificateProfile::Strict => index.require_crl_numbers(),
            _ => Ok(()),
        })
        .map_err(|source| TrustError::Crl {
            domain: self.name().to_owned(),
            source,
        })
    }
}
