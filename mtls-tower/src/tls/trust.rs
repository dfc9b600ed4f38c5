//! Trust domains loaded for verification: CA bundle, trust anchors, revocation index, options.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use mtls_core::{CaBundle, CaCertificate, CrlSet};
use mtls_policy::{CrlScope, SecretRef, Treatment, TrustDomain, TrustSource};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};

use crate::tls::chain;
use crate::tls::der;
use crate::tls::revocation::{CrlError, RevocationIndex};

/// An error a secret resolver returns.
pub type ResolveError = Box<dyn std::error::Error + Send + Sync>;

/// Why a trust domain could not be loaded. Every variant names the domain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// A CA bundle or CRL source could not be read or parsed.
    #[error("trust domain {domain:?}: {source}")]
    Material {
        /// The trust domain.
        domain: String,
        /// What mtls-core said (it names the file and the PEM block).
        #[source]
        source: mtls_core::Error,
    },
    /// The domain lists no CA source.
    #[error("trust domain {domain:?}: no CA source: a trust domain needs at least one CA bundle")]
    NoCaSource {
        /// The trust domain.
        domain: String,
    },
    /// The domain has a `crl` section without any source.
    #[error("trust domain {domain:?}: `crl` is present but lists no source")]
    NoCrlSource {
        /// The trust domain.
        domain: String,
    },
    /// A Kubernetes secret source, and no resolver was given.
    #[error(
        "trust domain {domain:?}: secret {secret:?} cannot be resolved here: load secrets \
         through mtls-kube, or use LoadedTrustDomain::load_with and a resolver"
    )]
    SecretNotResolvable {
        /// The trust domain.
        domain: String,
        /// `namespace/name[:key]`.
        secret: String,
    },
    /// The resolver failed for a secret source.
    #[error("trust domain {domain:?}: secret {secret:?}: {source}")]
    Resolve {
        /// The trust domain.
        domain: String,
        /// `namespace/name[:key]`.
        secret: String,
        /// The resolver's error.
        #[source]
        source: ResolveError,
    },
    /// A kind of source this version cannot read.
    #[error("trust domain {domain:?}: unsupported source {source_kind}")]
    UnsupportedSource {
        /// The trust domain.
        domain: String,
        /// The source, as debug-printed.
        source_kind: String,
    },
    /// A CRL names a CA certificate of the bundle as its issuer, but that certificate has a
    /// keyUsage extension without cRLSign, so it may not sign CRLs (RFC 5280 6.3.3 (f)).
    /// (For CRLs of intermediate CAs the same rule is applied per handshake: such a CRL does not
    /// count.)
    #[error(
        "trust domain {domain:?}: CRL {index} (issuer {issuer}): the CA certificate of that \
         name in the bundle has a keyUsage without cRLSign, so it may not sign CRLs"
    )]
    CrlIssuerNotCrlSigner {
        /// The trust domain.
        domain: String,
        /// Zero-based index of the CRL in its set.
        index: usize,
        /// The CRL's issuer (RFC 4514).
        issuer: String,
    },
    /// A CRL could not be indexed (bad signature, unsupported partitioning, ...).
    #[error("trust domain {domain:?}: {source}")]
    Crl {
        /// The trust domain.
        domain: String,
        /// Which CRL and why.
        #[source]
        source: CrlError,
    },
}

/// The verification options of one trust domain (from [`mtls_policy::TrustDomain`]).
///
/// ```
/// use mtls_tower::tls::DomainOptions;
///
/// let mut options = DomainOptions::default();
/// options.max_chain_depth = Some(2); // a leaf and one intermediate
/// assert!(options.require_client_auth_eku);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DomainOptions {
    /// Which certificates of the path are checked against the CRLs.
    pub crl_scope: CrlScope,
    /// A certificate for whose issuer no CRL counts (default: denied).
    pub unknown_status: Treatment,
    /// A certificate covered only by CRLs past their `nextUpdate` (default: allowed).
    pub expired_crl: Treatment,
    /// Longest accepted path, leaf included, trust anchor excluded (so `1` accepts only
    /// leaves issued directly by an anchor). `None`: webpki's own limit.
    pub max_chain_depth: Option<u8>,
    /// Require the clientAuth extended key usage when the leaf has an EKU extension (default
    /// true, as rustls). When false, any EKU is accepted.
    pub require_client_auth_eku: bool,
}

impl Default for DomainOptions {
    fn default() -> Self {
        Self {
            crl_scope: CrlScope::WholeChain,
            unknown_status: Treatment::Deny,
            expired_crl: Treatment::Allow,
            max_chain_depth: None,
            require_client_auth_eku: true,
        }
    }
}

impl DomainOptions {
    /// The options a policy [`TrustDomain`] sets.
    pub fn from_policy(domain: &TrustDomain) -> Self {
        let mut options = Self {
            max_chain_depth: domain.max_chain_depth,
            require_client_auth_eku: domain.require_client_auth_eku,
            ..Self::default()
        };
        if let Some(crl) = &domain.crl {
            options.crl_scope = crl.check;
            options.unknown_status = crl.unknown_status;
            options.expired_crl = crl.expired_crl;
        }
        options
    }
}

/// What the checks after path building need to know of a trust anchor that rustls-webpki
/// does not keep (an anchor is only a name and a key there), resolved over every bundle
/// certificate with the anchor's name and key: a renewed root counts as the same anchor.
#[derive(Debug, Clone)]
pub(crate) struct AnchorFacts {
    /// The latest `notAfter` among those certificates: a path through an anchor all of whose
    /// certificates expired is refused, as OpenSSL and Go do.
    pub(crate) not_after: UnixTime,
    /// Why none of those certificates may anchor a path under the RFC 5280 profile checks
    /// ([`chain::anchor_fault`]; the first certificate's reason); `None` when one may.
    pub(crate) fault: Option<String>,
}

impl AnchorFacts {
    /// The facts of each anchor of `anchors` (made from `certs`, in the same order). Faults
    /// are logged once, per certificate.
    fn resolve(anchors: &[TrustAnchor<'_>], certs: &[CaCertificate], domain: &str) -> Vec<Self> {
        let own: Vec<Self> = certs
            .iter()
            .map(|cert| {
                let fault = chain::anchor_fault(cert.der());
                if let Some(fault) = &fault {
                    tracing::warn!(
                        trust_domain = %domain,
                        "{fault}: no chain through this CA certificate will be accepted"
                    );
                }
                let since = cert
                    .not_after()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                Self {
                    not_after: UnixTime::since_unix_epoch(since),
                    fault,
                }
            })
            .collect();
        // Certificates of the same name and key, merged: the latest expiry, and no fault as
        // soon as one has none.
        fn key<'a>(anchor: &'a TrustAnchor<'_>) -> (&'a [u8], &'a [u8]) {
            (
                anchor.subject.as_ref(),
                anchor.subject_public_key_info.as_ref(),
            )
        }
        let mut merged: HashMap<(&[u8], &[u8]), Self> = HashMap::new();
        for (anchor, facts) in anchors.iter().zip(&own) {
            merged
                .entry(key(anchor))
                .and_modify(|m| {
                    if facts.not_after.as_secs() > m.not_after.as_secs() {
                        m.not_after = facts.not_after;
                    }
                    if facts.fault.is_none() {
                        m.fault = None;
                    }
                })
                .or_insert_with(|| facts.clone());
        }
        anchors
            .iter()
            .zip(own)
            .map(|(anchor, own)| merged.get(&key(anchor)).cloned().unwrap_or(own))
            .collect()
    }
}

/// One isolated trust domain, loaded: its CA bundle as trust anchors, its CRLs as a
/// [`RevocationIndex`] (signatures of anchor-issued CRLs already checked), and its options.
///
/// A chain is accepted by a domain only through that domain's own anchors and CRLs.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let pki = mtls_testkit::Pki::shared();
/// use mtls_policy::{TrustDomain, TrustSource};
/// use mtls_tower::tls::LoadedTrustDomain;
///
/// let provider = mtls_core::crypto::default_provider();
/// let domain = TrustDomain::new("partners", TrustSource::Pem(pki.root().cert_pem()));
/// let loaded = LoadedTrustDomain::load(&domain, &provider)?;
/// assert_eq!(loaded.name(), "partners");
/// assert_eq!(loaded.bundle().len(), 1);
/// assert!(loaded.revocation().is_none());
/// # Ok(()) }
/// ```
pub struct LoadedTrustDomain {
    name: String,
    bundle: CaBundle,
    pub(crate) anchors: Vec<TrustAnchor<'static>>,
    /// Per anchor (as `anchors`): its validity end and profile fault, resolved at load over
    /// the bundle certificates of the same name and key, so a handshake reads them by index.
    pub(crate) anchor_facts: Vec<AnchorFacts>,
    /// Leaves and intermediates that passed the per-certificate profile checks, so that a
    /// returning client (or every client under the same intermediate) is not parsed again.
    pub(crate) profile_passed: ProfileCache,
    /// Intermediates verified up to an anchor, from which the next chain is verified
    /// ([`chain::VerifiedIssuer`]).
    pub(crate) verified_issuers: IssuerCache,
    pub(crate) revocation: Option<RevocationIndex>,
    pub(crate) options: DomainOptions,
}

impl fmt::Debug for LoadedTrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedTrustDomain")
            .field("name", &self.name)
            .field("anchors", &self.anchors.len())
            .field("revocation", &self.revocation)
            .field("options", &self.options)
            .finish()
    }
}

impl LoadedTrustDomain {
    /// Builds a domain from material already loaded.
    ///
    /// # Errors
    /// [`TrustError::Crl`] when a CRL cannot be indexed, e.g. one naming a CA of `bundle` but
    /// not signed by it, or one without a non-critical cRLNumber (RFC 5280 5.2.3);
    /// [`TrustError::CrlIssuerNotCrlSigner`] when the CA of `bundle` it names has a keyUsage
    /// without cRLSign.
    ///
    /// A CA certificate of `bundle` that breaks an RFC 5280 profile rule the verifier enforces
    /// on anchors (an empty subject, an unprocessed critical extension, an empty
    /// nameConstraints) does not fail the load: it is logged, and every chain through it is
    /// refused with that reason.
    pub fn new(
        name: impl Into<String>,
        bundle: CaBundle,
        crls: Option<&CrlSet>,
        options: DomainOptions,
        provider: &CryptoProvider,
    ) -> Result<Self, TrustError> {
        let name = name.into();
        let anchors = bundle.trust_anchors();
        let anchor_facts = AnchorFacts::resolve(&anchors, bundle.certificates(), &name);
        if let Some(crls) = crls {
            check_crl_signers(&name, crls, &bundle, &anchors)?;
        }
        let revocation = crls
            .map(|crls| {
                RevocationIndex::new(crls, &anchors, &provider.signature_verification_algorithms)
            })
            .transpose()
            .map_err(|source| TrustError::Crl {
                domain: name.clone(),
                source,
            })?;
        Ok(Self {
            name,
            bundle,
            anchors,
            anchor_facts,
            profile_passed: ProfileCache::default(),
            verified_issuers: IssuerCache::default(),
            revocation,
            options,
        })
    }

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
            Some(options) if options.sources.is_empty() => {
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
        Self::new(
            name,
            bundle,
            crls.as_ref(),
            DomainOptions::from_policy(domain),
            provider,
        )
    }

    /// The domain's name, reported in [`mtls_policy::PeerVerification::Verified`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The CA bundle.
    pub fn bundle(&self) -> &CaBundle {
        &self.bundle
    }

    /// The revocation index, when the domain has CRLs.
    pub fn revocation(&self) -> Option<&RevocationIndex> {
        self.revocation.as_ref()
    }

    /// The options.
    pub fn options(&self) -> &DomainOptions {
        &self.options
    }

    /// Verifies a *server* certificate chain against this domain: serverAuth EKU (when the
    /// leaf has an EKU extension), `server_name` among its DNS / IP SANs, revocation and depth
    /// as configured. For upstream mTLS (the gateway verifying its backend).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let pki = mtls_testkit::Pki::shared();
    /// use mtls_policy::{PeerVerification, TrustDomain, TrustSource};
    /// use mtls_tower::tls::LoadedTrustDomain;
    /// use rustls_pki_types::{ServerName, UnixTime};
    ///
    /// let provider = mtls_core::crypto::default_provider();
    /// let upstream = LoadedTrustDomain::load(
    ///     &TrustDomain::new("backends", TrustSource::Pem(pki.root().cert_pem())),
    ///     &provider,
    /// )?;
    /// let server = pki.default_server(); // DNS localhost
    /// let chain = server.chain_der();
    /// let outcome = upstream.verify_server(
    ///     &provider,
    ///     &chain[0],
    ///     &chain[1..],
    ///     &ServerName::try_from("localhost")?,
    ///     UnixTime::now(),
    /// );
    /// assert_eq!(outcome, PeerVerification::verified("backends"));
    /// # Ok(()) }
    /// ```
    pub fn verify_server(
        &self,
        provider: &CryptoProvider,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> mtls_policy::PeerVerification {
        self.verify_server_inner(provider, end_entity, intermediates, Some(server_name), now)
    }

    /// Verifies an upstream's chain as [`verify_server`](Self::verify_server) does (serverAuth
    /// usage, validity, revocation), without checking that it names a particular server: for
    /// tools that inspect a certificate whose name does not matter to them.
    pub fn verify_server_chain(
        &self,
        provider: &CryptoProvider,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> mtls_policy::PeerVerification {
        self.verify_server_inner(provider, end_entity, intermediates, None, now)
    }

    fn verify_server_inner(
        &self,
        provider: &CryptoProvider,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: Option<&ServerName<'_>>,
        now: UnixTime,
    ) -> mtls_policy::PeerVerification {
        match chain::verify_server(
            self,
            &provider.signature_verification_algorithms,
            end_entity,
            intermediates,
            server_name,
            now,
        ) {
            Ok(()) => mtls_policy::PeerVerification::verified(&self.name),
            Err(f) => mtls_policy::PeerVerification::failed(
                f.anchored.then_some(self.name.as_str()),
                f.error,
            ),
        }
    }
}

/// Refuses a CRL whose issuer is a CA of the bundle when every bundle certificate of that name
/// has a keyUsage without cRLSign (rustls-webpki keeps no keyUsage for trust anchors, so the
/// revocation index cannot tell).
fn check_crl_signers(
    domain: &str,
    crls: &CrlSet,
    bundle: &CaBundle,
    anchors: &[TrustAnchor<'static>],
) -> Result<(), TrustError> {
    for (index, crl) in crls.crls().iter().enumerate() {
        let Ok(parsed) = webpki::BorrowedCertRevocationList::from_der(crl.der()) else {
            continue; // the revocation index reports it
        };
        let parsed = webpki::CertRevocationList::from(parsed);
        let mut issuers = anchors
            .iter()
            .zip(bundle.certificates())
            .filter(|(a, _)| a.subject.as_ref() == parsed.issuer())
            .peekable();
        if issuers.peek().is_some()
            && issuers.all(|(_, cert)| der::crl_sign(cert.der()) == der::CrlSign::Missing)
        {
            return Err(TrustError::CrlIssuerNotCrlSigner {
                domain: domain.to_owned(),
                index,
                issuer: crl.issuer().to_owned(),
            });
        }
    }
    Ok(())
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

/// A bounded set of certificates (full DER), one per role (leaf or intermediate), that passed
/// the profile checks of [`chain`](super::chain). Cleared when full: a cache, not a record.
/// Looked up by borrowed DER: no allocation on the handshake path.
#[derive(Debug, Default)]
pub(crate) struct ProfileCache(std::sync::Mutex<[std::collections::HashSet<Vec<u8>>; 2]>);

impl ProfileCache {
    const CAPACITY: usize = 4096;

    pub(crate) fn contains(&self, leaf: bool, der: &[u8]) -> bool {
        self.0
            .lock()
            .map(|sets| sets[usize::from(leaf)].contains(der))
            .unwrap_or(false)
    }

    pub(crate) fn insert(&self, leaf: bool, der: &[u8]) {
        if let Ok(mut sets) = self.0.lock() {
            let set = &mut sets[usize::from(leaf)];
            if set.len() >= Self::CAPACITY {
                set.clear();
            }
            set.insert(der.to_vec());
        }
    }
}

/// A bounded map from an intermediate's DER to its [`chain::VerifiedIssuer`]. Cleared when
/// full: a cache, not a record. Looked up by borrowed DER.
#[derive(Debug, Default)]
pub(crate) struct IssuerCache(std::sync::RwLock<HashMap<Vec<u8>, Arc<chain::VerifiedIssuer>>>);

impl IssuerCache {
    const CAPACITY: usize = 1024;

    pub(crate) fn get(&self, der: &[u8]) -> Option<Arc<chain::VerifiedIssuer>> {
        self.0.read().ok()?.get(der).cloned()
    }

    pub(crate) fn insert(&self, der: &[u8], issuer: chain::VerifiedIssuer) {
        if let Ok(mut map) = self.0.write() {
            if map.len() >= Self::CAPACITY {
                map.clear();
            }
            map.insert(der.to_vec(), Arc::new(issuer));
        }
    }
}
