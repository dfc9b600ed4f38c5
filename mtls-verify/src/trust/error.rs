//! Why a trust domain could not be loaded.

use crate::revocation::CrlError;

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
    /// A CRL could not be indexed (unreadable, a bad signature, a critical cRLNumber).
    #[error("trust domain {domain:?}: {source}")]
    Crl {
        /// The trust domain.
        domain: String,
        /// Which CRL and why.
        #[source]
        source: CrlError,
    },
}
