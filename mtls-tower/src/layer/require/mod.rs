//! Route-level authorization by client identity: [`RequireIdentityLayer`] (the [`Layer`]) and
//! [`RequireIdentity`] (its service), attached to the route they guard.
//!
//! [`MtlsLayer`](super::MtlsLayer) in front of the application decides what belongs to the
//! connection (the certificate, the trust domain, the host, the policy's routes); a
//! `RequireIdentityLayer` on one route of the application's own router says who may use that
//! route. The application's router stays the only routing table. The response future is the
//! one [`MtlsService`](super::MtlsService) uses ([`ResponseFuture`](super::ResponseFuture)):
//! the inner service's future, or a denial ready at once.
//!
//! [`Layer`]: tower_layer::Layer

#[allow(clippy::module_inception)]
mod layer;
mod service;

pub use layer::RequireIdentityLayer;
pub use service::RequireIdentity;
