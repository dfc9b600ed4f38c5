//! Everything that touches rustls types lives under this module, so that a rustls release that
//! renames its traits touches one place.
//!
//! - [`LoadedTrustDomain`]: one isolated trust domain loaded from a policy
//!   [`TrustDomain`](mtls_policy::TrustDomain): anchors, [`RevocationIndex`], [`DomainOptions`].
//! - [`RevocationIndex`]: CRL signatures checked once at load; revocation answered per
//!   handshake from a hash index keyed by (issuer, serial).
//! - [`PolicyVerifier`]: the rustls `ClientCertVerifier` of a host, reporting a
//!   [`PeerVerification`](mtls_policy::PeerVerification) per handshake.
//! - [`TicketKeys`]: session-ticket keys shared by the replicas of a listener, each host's
//!   tickets bound to its trust state.

mod chain;
mod der;
mod outcomes;
mod revocation;
mod trust;
mod verifier;

pub use revocation::{CrlError, RevocationIndex};
pub use trust::{DomainOptions, LoadedTrustDomain, ResolveError, TrustError};
pub use verifier::{
    DEFAULT_OUTCOME_CAPACITY, PolicyVerifier, PolicyVerifierBuilder, VerifierError,
};

// The listener side (SNI, handshake) and the upstream side (client connector): lead's modules.
mod server;
mod tickets;
mod upstream;

pub(crate) use server::{HandshakeFailure, handshake, linger_close};
pub use server::{
    HostTls, MinTlsVersion, ReportingVerifier, SnapshotError, TlsSnapshot, TlsSnapshotBuilder,
    UnknownSni,
};
pub use tickets::{MIN_KEY_LEN, TicketKeyError, TicketKeys};
pub use upstream::{
    UpstreamConnectError, UpstreamConnector, UpstreamIdentityError, UpstreamStream, UpstreamTls,
    UpstreamTlsBuilder, UpstreamTlsError,
};
