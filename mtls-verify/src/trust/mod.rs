//! Trust domains loaded for verification: CA bundle, trust anchors, revocation index, options.

mod anchor;
mod cache;
mod error;
mod fetched;
mod load;
mod ocsp;
mod options;

use std::fmt;

use mtls_core::{CaBundle, CrlSet};
use mtls_policy::CertificateProfile;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};

use crate::chain;
use crate::der;
use crate::revocation::RevocationIndex;

pub(crate) use anchor::{AnchorFacts, root_hints};
use cache::{ChainCache, IssuerCache, PolicyCache, ProfileCache};
pub use error::{ResolveError, TrustError};
pub use fetched::{FetchedCrls, crl_distribution_uris};
pub use load::{SourceError, read_ca_source};
pub use options::DomainOptions;

/// One isolated trust domain, loaded: its CA bundle as trust anchors, its CRLs as a
/// [`RevocationIndex`] (signatures of anchor-issued CRLs already checked), and its options.
///
/// A chain is accepted by a domain only through that domain's own anchors and CRLs.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let pki = mtls_testkit::Pki::shared();
/// use mtls_policy::{TrustDomain, TrustSource};
/// use mtls_verify::LoadedTrustDomain;
///
/// let provider = mtls_verify::crypto::default_provider();
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
    /// The bundle's anchors ordered by subject: the index path building looks candidates up
    /// in ([`candidates_for`](Self::candidates_for)).
    pub(crate) anchors: Vec<TrustAnchor<'static>>,
    /// Per anchor (as `anchors`): its validity end and profile fault, resolved at load over
    /// the bundle certificates of the same name and key, so a handshake reads them by index.
    pub(crate) anchor_facts: Vec<AnchorFacts>,
    /// The anchors by subject compared per RFC 5280 7.1 (for our own path building).
    pub(crate) anchor_names: chain::AnchorNames,
    /// Leaves and intermediates that passed the per-certificate profile checks, so that a
    /// returning client (or every client under the same intermediate) is not parsed again.
    pub(crate) profile_passed: ProfileCache,
    /// What the certificates seen in paths say about policies, read once each.
    pub(crate) policy_facts: PolicyCache,
    /// Intermediates verified up to an anchor, from which the next chain is verified
    /// ([`chain::VerifiedIssuer`]).
    pub(crate) verified_issuers: IssuerCache,
    /// Chains accepted, by their presented bytes, so that a returning client's chain is not
    /// verified again by signatures ([`chain::KnownChain`]).
    pub(crate) known_chains: ChainCache,
    pub(crate) revocation: Option<RevocationIndex>,
    pub(crate) options: DomainOptions,
    /// The certificate policies every chain must be valid for (default: any, none required).
    pub(crate) initial_policies: chain::InitialPolicies,
    /// The URIs CRLs are fetched from, when the domain fetches them.
    distribution_points: Vec<String>,
    /// OCSP statuses of its leaves, when the domain asks responders.
    pub(crate) ocsp: Option<crate::ocsp::OcspCheck>,
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
    /// not signed by it, one with a critical cRLNumber, or under the strict profile one without
    /// a cRLNumber (RFC 5280 5.2.3);
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
        let anchor_facts =
            AnchorFacts::resolve(&anchors, bundle.certificates(), &name, options.profile);
        if let Some(crls) = crls {
            check_crl_signers(&name, crls, &bundle, &anchors)?;
        }
        let strict = options.profile == CertificateProfile::Strict;
        let revocation = crls
            .map(|crls| {
                let index = RevocationIndex::new(
                    crls,
                    &anchors,
                    &provider.signature_verification_algorithms,
                )?;
                if strict {
                    index.require_crl_numbers()?;
                }
                Ok(index)
            })
            .transpose()
            .map_err(|source| TrustError::Crl {
                domain: name.clone(),
                source,
            })?;
        let (anchors, anchor_facts) = anchor::by_subject(anchors, anchor_facts);
        let anchor_names = chain::AnchorNames::new(&anchors);
        Ok(Self {
            name,
            bundle,
            anchors,
            anchor_facts,
            anchor_names,
            profile_passed: ProfileCache::default(),
            policy_facts: PolicyCache::default(),
            verified_issuers: IssuerCache::default(),
            known_chains: ChainCache::default(),
            revocation,
            options,
            initial_policies: chain::InitialPolicies::default(),
            distribution_points: Vec::new(),
            ocsp: None,
        })
    }

    /// Requires of every chain a certificate policy of `policies` valid along its path (RFC
    /// 5280 6.1: `initial` is the user-initial-policy-set, `require_explicit` the
    /// initial-explicit-policy), as the `certificate_policies` of a policy
    /// [`TrustDomain`](mtls_policy::TrustDomain) does. A chain that fails it is refused with a
    /// reason naming the policies.
    #[must_use]
    pub fn with_certificate_policies(
        mut self,
        policies: &mtls_policy::trust::CertificatePolicies,
    ) -> Self {
        self.initial_policies = chain::InitialPolicies::new(policies);
        self
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
    /// use mtls_verify::LoadedTrustDomain;
    /// use rustls_pki_types::{ServerName, UnixTime};
    ///
    /// let provider = mtls_verify::crypto::default_provider();
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
        // Names compare as webpki keeps them: the contents of the Name SEQUENCE.
        let Some((issuer, _)) = der::read(crl.issuer_der())
            .filter(|(t, rest)| t.tag == der::SEQUENCE && rest.is_empty())
        else {
            continue; // the revocation index reports it
        };
        let mut issuers = anchors
            .iter()
            .zip(bundle.certificates())
            .filter(|(a, _)| a.subject.as_ref() == issuer.contents)
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
