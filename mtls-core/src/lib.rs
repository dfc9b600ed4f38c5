//! Certificates, keys, CA bundles, CRLs and peer identity for mutual-TLS ingress.

mod error;
pub mod identity;
mod secret;
pub mod spiffe;

pub use error::{Error, ErrorKind, Expected, Origin};
pub use identity::PeerIdentity;
pub use secret::SecretLayout;
pub use spiffe::{SpiffeId, SpiffeIdError};
