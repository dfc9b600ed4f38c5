//! Mutual-TLS enforcement for tokio, hyper and tower.

// Library code never unwraps; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod acceptor;
mod connection;
#[cfg(feature = "layer")]
pub mod layer;
#[cfg(feature = "layer")]
mod listener;
#[cfg(feature = "serve")]
mod serve;
pub mod tls;

pub use acceptor::{AcceptError, Acceptor, MaybeTlsStream};
pub use connection::{ConnectionInfo, TlsInfo};
#[cfg(feature = "layer")]
pub use layer::{ForwardIdentity, MtlsLayer, MtlsService, SharedPolicy};
#[cfg(feature = "layer")]
pub use listener::{ListenerError, MtlsListener, MtlsListenerBuilder, snapshot_for};
#[cfg(feature = "serve")]
pub use serve::{DEFAULT_GRACE_PERIOD, serve, serve_with_grace};
pub use tls::{
    DomainOptions, HostTls, LoadedTrustDomain, MinTlsVersion, PolicyVerifier, ReportingVerifier,
    RevocationIndex, TlsSnapshot, TlsSnapshotBuilder, UnknownSni, UpstreamConnector, UpstreamTls,
};
