//! The verification options of one trust domain.

use mtls_policy::trust::NextUpdate;
use mtls_policy::{CertificateProfile, CrlScope, Treatment, TrustDomain};

/// The verification options of one trust domain (from [`mtls_policy::TrustDomain`]).
///
/// ```
/// use mtls_verify::DomainOptions;
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
    /// A certificate whose status the CRLs that count cannot tell: none of its issuer counts,
    /// or those that do leave it out by scope or reason (default: denied).
    pub unknown_status: Treatment,
    /// What a CRL past its `nextUpdate` is worth (default [`NextUpdate::Enforce`]: a
    /// certificate covered only by such CRLs is refused, reason `crl_expired`).
    pub next_update: NextUpdate,
    /// Longest accepted path, leaf included, trust anchor excluded (so `1` accepts only
    /// leaves issued directly by an anchor). `None`: webpki's own limit.
    pub max_chain_depth: Option<u8>,
    /// Require the clientAuth extended key usage when the leaf has an EKU extension (default
    /// true, as rustls). When false, any EKU is accepted.
    pub require_client_auth_eku: bool,
    /// The certificate profile chains are held to (default [`CertificateProfile::Default`]);
    /// [`CertificateProfile::Strict`] adds the rules RFC 5280 sets for issuing CAs and, for
    /// server certificates, those of the CA/Browser Forum Baseline Requirements (the rule
    /// table is in CONFORMANCE.md).
    pub profile: CertificateProfile,
}

impl Default for DomainOptions {
    fn default() -> Self {
        Self {
            crl_scope: CrlScope::WholeChain,
            unknown_status: Treatment::Deny,
            next_update: NextUpdate::Enforce,
            max_chain_depth: None,
            require_client_auth_eku: true,
            profile: CertificateProfile::Default,
        }
    }
}

impl DomainOptions {
    /// The options a policy [`TrustDomain`] sets.
    pub fn from_policy(domain: &TrustDomain) -> Self {
        let mut options = Self {
            max_chain_depth: domain.max_chain_depth,
            require_client_auth_eku: domain.require_client_auth_eku,
            profile: domain.profile,
            ..Self::default()
        };
        if let Some(crl) = &domain.crl {
            options.crl_scope = crl.check;
            options.unknown_status = crl.unknown_status;
            options.next_update = crl.next_update;
        }
        options
    }
}
