//! Bring mutual-TLS configuration from Kubernetes as it is: Istio `Gateway`, `VirtualService`
//! and `PeerAuthentication`, Gateway API `Gateway` (frontend client-certificate validation),
//! `HTTPRoute` and `BackendTLSPolicy`, Azure Application Gateway for Containers
//! `FrontendTLSPolicy`, osm-edge `IngressBackend`, ingress-nginx `Ingress` annotations, and the
//! Secrets and ConfigMaps they name, translated into one [`PolicyConfig`]: the listeners with
//! their hosts (certificate, client validation, routes), the backends and the identity
//! headers, the configuration `mtls-gateway` serves.
//!
//! The translation is pure: objects in ([`parse_manifests`], [`Object::from_json`]), a
//! [`Translation`] out: the [`PolicyConfig`], the [`CredentialRef`]s it reads (checked with
//! [`mtls_core::SecretMaterial`] when the Secrets are part of the input), a [`Warning`] for every
//! field not translated as written (object, field, why), and status conditions
//! ([`ObjectStatus`]) ready to be written back.
//!
//! ```
//! let manifests = r#"
//! apiVersion: networking.istio.io/v1
//! kind: Gateway
//! metadata: { name: mygateway, namespace: istio-system }
//! spec:
//!   selector: { istio: ingressgateway }
//!   servers:
//!     - port: { number: 443, name: https, protocol: HTTPS }
//!       hosts: [httpbin.example.com]
//!       tls: { mode: MUTUAL, credentialName: httpbin-credential }
//! ---
//! apiVersion: networking.istio.io/v1
//! kind: VirtualService
//! metadata: { name: httpbin, namespace: default }
//! spec:
//!   hosts: [httpbin.example.com]
//!   gateways: [istio-system/mygateway]
//!   http:
//!     - match: [{ uri: { prefix: /status } }]
//!       route: [{ destination: { host: httpbin, port: { number: 8000 } } }]
//! "#;
//! let objects = mtls_kube::parse_manifests(manifests, "gateway.yaml")?;
//! let t = mtls_kube::translate(&objects, &mtls_kube::Options::default());
//!
//! let host = &t.config.listeners[0].hosts[0];
//! assert_eq!(host.hostnames, ["httpbin.example.com"]);
//! // The server certificate: the Secret, mounted where the gateway reads it.
//! assert_eq!(
//!     host.certificate,
//!     Some(mtls_policy::CertificateSource::SecretDir(
//!         "/etc/mtls/secrets/istio-system/httpbin-credential".into()
//!     ))
//! );
//! let validation = host.client_validation.as_ref().expect("MUTUAL validates clients");
//! assert_eq!(validation.mode, mtls_policy::ClientCertMode::Required);
//! // The CA is the credential's `ca.crt`.
//! assert_eq!(
//!     validation.trust[0].ca,
//!     [mtls_policy::TrustSource::File(
//!         "/etc/mtls/secrets/istio-system/httpbin-credential/ca.crt".into()
//!     )]
//! );
//! // The VirtualService's paths, routed to its destination Service.
//! assert_eq!(
//!     host.routes,
//!     [mtls_policy::RouteConfig::prefix("/status").backend("default-httpbin-8000")]
//! );
//! assert_eq!(
//!     t.config.backends["default-httpbin-8000"].url,
//!     "http://httpbin.default.svc.cluster.local:8000"
//! );
//! // Everything not translated as written is said, not hidden: here, nothing.
//! assert_eq!(t.warnings, []);
//! // The YAML `mtls-gateway run --config` reads.
//! println!("{}", t.config.to_yaml()?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What each vendor's objects become, and what is warned about, is tabled in [`istio`],
//! [`gateway_api`] (with AGC), [`nginx`] and [`osm`].
//!
//! # Features
//!
//! - `runtime`: [`runtime::Follower`], kube-rs watchers that keep a translation (and the
//!   Secrets it reads) live. It brings kube's client and runtime but no TLS stack and no
//!   Kubernetes version: the application builds the `kube::Client` and picks k8s-openapi's
//!   version feature (as k8s-openapi asks of libraries). Needs Rust 1.89 (kube 5's).
//! - `fake-api`: `fake::FakeApiServer`, a Kubernetes API server on loopback speaking list and
//!   watch, to test followers without a cluster.
//!
//! [`PolicyConfig`]: mtls_policy::PolicyConfig

// Library code never unwraps; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod de;
mod destination_rule;
#[cfg(feature = "fake-api")]
#[cfg_attr(docsrs, doc(cfg(feature = "fake-api")))]
pub mod fake;
pub mod gateway_api;
pub mod istio;
mod manifest;
mod model;
pub mod nginx;
mod options;
pub mod osm;
mod references;
mod routes;
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub mod runtime;
mod secrets;
mod translate;

pub use manifest::{Object, ParseError, parse_manifests};
pub use model::{
    Condition, ConditionStatus, CredentialRef, ObjectRef, ObjectStatus, Purpose, RefState,
    Translation, Warning,
};
pub use options::{Options, Workload};
pub use references::SecretPaths;
pub use translate::translate;

/// The README's example, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;
