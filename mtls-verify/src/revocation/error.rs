//! Why a CRL could not be indexed.

/// Why a CRL could not be indexed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CrlError {
    /// rustls-webpki does not accept the CRL.
    #[error("CRL {index} (issuer {issuer}): unreadable: {detail}")]
    Unreadable {
        /// Zero-based index of the CRL in its set.
        index: usize,
        /// The CRL's issuer (RFC 4514).
        issuer: String,
        /// What rustls-webpki said.
        detail: String,
    },
    /// The CRL names a CA of the bundle as its issuer, but no CA of that name signed it.
    #[error(
        "CRL {index} (issuer {issuer}): signature does not verify with the CA certificate of \
         that name in the bundle ({detail}); the CRL was not issued by this CA"
    )]
    BadSignature {
        /// Zero-based index of the CRL in its set.
        index: usize,
        /// The CRL's issuer (RFC 4514).
        issuer: String,
        /// Why the signature was refused.
        detail: String,
    },
    /// The CRL's cRLNumber extension is marked critical (RFC 5280 5.2.3: non-critical).
    #[error(
        "CRL {index} (issuer {issuer}): its cRLNumber extension is marked critical, which it \
         MUST NOT be (RFC 5280 5.2.3)"
    )]
    CriticalCrlNumber {
        /// Zero-based index of the CRL in its set.
        index: usize,
        /// The CRL's issuer (RFC 4514).
        issuer: String,
    },
    /// The CRL has no cRLNumber extension, refused under the strict certificate profile (RFC
    /// 5280 5.2.3: conforming CRL issuers MUST include it).
    #[error(
        "CRL {index} (issuer {issuer}): it has no cRLNumber extension, which every CRL MUST \
         carry (RFC 5280 5.2.3, profile strict)"
    )]
    MissingCrlNumber {
        /// Zero-based index of the CRL in its set.
        index: usize,
        /// The CRL's issuer (RFC 4514).
        issuer: String,
    },
}
