//! Everything that touches rustls types lives under this module, so that a rustls release that
//! renames its traits touches one place.
//!
//! - [`LoadedTrustDomain`], [`RevocationIndex`], [`PolicyVerifier`]: path validation,
//!   revocation and the rustls `ClientCertVerifier` of a host, from [`mtls_verify`] (re-exported
//!   here); [`ReportingVerifier`] tells the acceptor each handshake's
//!   [`PeerVerification`](mtls_policy::PeerVerification), with the certificate policies valid
//!   for the verified path ([`ChainOutcome`]).
//! - [`TicketKeys`]: session-ticket keys shared by the replicas of a listener, each host's
//!   tickets bound to its trust state.

// Path validation, revocation and the client-certificate verifier live in mtls-verify.
pub use mtls_verify::{
    ChainOutcome, CrlError, DEFAULT_OUTCOME_CAPACITY, DomainOptions, FetchedCrls,
    LoadedTrustDomain, OnFailure, PolicyVerifier, PolicyVerifierBuilder, ResolveError,
    RevocationIndex, TrustError, VerifierError,
};

mod reporting;
mod shadow;

// The listener side (SNI, handshake) and the upstream side (client connector): lead's modules.
mod server;
mod tickets;
#[cfg(feature = "upstream")]
mod upstream;

pub(crate) use server::{HandshakeFailure, handshake, linger_close};
pub use server::{
    HostTls, MinTlsVersion, ReportingVerifier, SnapshotError, TlsSnapshot, TlsSnapshotBuilder,
    UnknownSni,
};
pub use shadow::RefusedHandshake;
pub use tickets::{MIN_KEY_LEN, TicketKeyError, TicketKeys};
#[cfg(feature = "upstream")]
#[cfg_attr(docsrs, doc(cfg(feature = "upstream")))]
pub use upstream::{
    UpstreamConnectError, UpstreamConnector, UpstreamIdentityError, UpstreamStream, UpstreamTls,
    UpstreamTlsBuilder, UpstreamTlsError,
};
