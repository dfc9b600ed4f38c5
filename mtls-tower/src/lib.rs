//! Mutual-TLS enforcement for tokio, hyper and tower: where the policy meets sockets.
//!
//! | piece | what it does |
//! |---|---|
//! | [`PolicyVerifier`] | a rustls `ClientCertVerifier` per host: isolated trust domains, CRL signatures checked once at load and revocation answered from an index, max depth, required / optional / accept-any, failures deferred to HTTP when the policy says so |
//! | [`Acceptor`] | peeks the first byte (plaintext and TLS on one port under PERMISSIVE; plaintext closed under STRICT), picks the host by SNI, bounds handshake time and handshakes in flight, swaps its [`TlsSnapshot`] on [`reload`](Acceptor::reload); over TCP or any stream ([`accept_io`](Acceptor::accept_io): a Unix socket, a PROXY-protocol stream) |
//! | [`MtlsLayer`] | per request: decides with the shared [`Policy`](mtls_policy::Policy) on the host and the path in normal form (inside axum's `Router::nest`, on the original path), answers denials (400 with the reason, 403, 421, problem+json), forwards the path in normal form, puts the [`PeerIdentity`](mtls_core::PeerIdentity) and the [`MatchedRoute`](layer::MatchedRoute) into request extensions, strips forged identity headers and forwards the verified one (Envoy XFCC, RFC 9440) |
//! | [`RequireIdentityLayer`](layer::RequireIdentityLayer) | route-level authorization attached to a route of the application's router (`get(h).layer(RequireIdentityLayer::principals([..]))`): 403 with the reason unless the identity `MtlsLayer` verified is in the allow-list |
//! | [`StrictReadiness`] | on a PERMISSIVE listener, connections counted per source, SNI and identity as plaintext, TLS without a certificate, or mTLS (bounded): who would break under STRICT |
//! | [`MtlsListener`] | builds the acceptor and the layer of one policy listener |
//! | [`serve`] | hyper-util HTTP/1.1 + HTTP/2 over the acceptor, graceful shutdown |
//! | [`UpstreamConnector`] | the upstream leg: our client certificate, the upstream's CA and expected name |
//! | [`fetch`] | CRLs fetched from distribution points in the background ([`CrlFetcher`](fetch::CrlFetcher)), and the bounded HTTP client it and OCSP use |
//! | [`telemetry`] | the reload counter, client-certificate lifetimes, CA and CRL expiry gauges, CRL fetch metrics |
//!
//! rustls types stay in the [`tls`] module; every API that needs a crypto provider takes an
//! explicit `Arc<CryptoProvider>`.
//!
//! # Features
//!
//! | feature | default | what it enables |
//! |---|---|---|
//! | `aws-lc-rs` | yes | aws-lc-rs as `mtls_core::crypto::default_provider()`, and for shared session-ticket keys |
//! | `ring` | no | ring instead, when `aws-lc-rs` is off |
//! | `layer` | yes | [`MtlsLayer`], `layer::RequireIdentityLayer`, [`MtlsListener`], identity forwarding |
//! | `serve` | yes | [`serve`] and [`serve_with_grace`] (hyper-util HTTP/1.1 + HTTP/2); implies `layer` |
//! | `axum` | no | the extractors `layer::Peer`, `layer::OptionalPeer` and [`ConnectionInfo`] for axum handlers, and decisions on the original path inside `Router::nest`; implies `layer` |
//! | `upstream` | yes | [`UpstreamConnector`] and [`UpstreamTls`]: upstream mTLS for a hyper-util client |
//! | `full` | no | `layer`, `serve`, `axum` and `upstream` |
//!
//! The [`Acceptor`], [`ConnectionInfo`] and the [`tls`] module (the verifier of `mtls-verify`,
//! server snapshots) need none of them: without `layer`, `serve` and `upstream` the crate pulls
//! no hyper, http or tower (tokio and tokio-rustls remain, for the acceptor).
//!
//! # Example
//!
//! A policy that requires client certificates and lets only one SPIFFE ID into `/admin`;
//! the layer decides a request as it would arrive from the acceptor.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use http::{Request, Response, StatusCode};
//! use mtls_core::PeerIdentity;
//! use mtls_policy::{PeerVerification, Policy};
//! use mtls_tower::{ConnectionInfo, MtlsListener, TlsInfo};
//! use tower::{Layer as _, ServiceExt as _};
//!
//! # let pki = mtls_testkit::Pki::shared();
//! # let dir = tempfile::tempdir()?;
//! # std::fs::write(dir.path().join("ca.pem"), pki.root().cert_pem())?;
//! # let ca = dir.path().join("ca.pem").display().to_string();
//! # let server_leaf = pki.default_server();
//! # let client_leaf = pki.client().uri("spiffe://demo.local/ns/default/sa/web").issue();
//! let provider = mtls_core::crypto::default_provider();
//! let policy = Policy::from_yaml(&format!(r#"
//! listeners:
//!   - name: public
//!     port: 8443
//!     peer_mode: strict
//!     hosts:
//!       - client_validation:
//!           mode: required
//!           trust: [{{ name: clients, ca: [{{ file: {ca} }}] }}]
//!         routes:
//!           - path_prefix: /admin
//!             authorization: {{ principals: ["spiffe://demo.local/ns/ops/sa/admin"] }}
//!           - path_prefix: /
//! "#))?;
//! # let cert = mtls_core::ServerCredential::new(
//! #     mtls_core::CertificateChain::from_der(server_leaf.chain_der())?,
//! #     server_leaf.key_der().into(),
//! #     &provider,
//! # )?;
//! let mtls = MtlsListener::builder(policy, "public", provider)
//!     .certificates(move |_host| Ok(cert.clone()))
//!     .build()?;
//! // `mtls_tower::serve(listener, mtls.acceptor(), mtls.layer().layer(app), shutdown)` serves
//! // it; here one request goes straight to the layer.
//! let app = tower::service_fn(|_req: Request<String>| async {
//!     Ok::<_, std::convert::Infallible>(Response::new(String::from("hello")))
//! });
//! let service = mtls.layer().layer(app);
//!
//! let peer = PeerIdentity::from_der(client_leaf.cert_der())?;
//! let conn = ConnectionInfo::tls(
//!     Some("127.0.0.1:50000".parse()?),
//!     Some("127.0.0.1:8443".parse()?),
//!     TlsInfo::new(None, "TLSv1_3", "TLS13_AES_128_GCM_SHA256"),
//!     vec![client_leaf.cert_der().clone()],
//!     Some(peer),
//!     PeerVerification::verified("clients"),
//! );
//! let mut req = Request::get("/admin").header("host", "localhost").body(String::new())?;
//! req.extensions_mut().insert(conn);
//! let res = service.oneshot(req).await?;
//! assert_eq!(res.status(), StatusCode::FORBIDDEN); // web is not the admin
//! # Ok(()) }
//! ```

// Library code never unwraps; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod acceptor;
mod connection;
#[cfg(feature = "layer")]
mod credentials;
pub mod fetch;
#[cfg(feature = "layer")]
#[cfg_attr(docsrs, doc(cfg(feature = "layer")))]
pub mod layer;
#[cfg(feature = "layer")]
mod listener;
mod readiness;
#[cfg(feature = "serve")]
mod serve;
mod sources;
pub mod telemetry;
pub mod tls;

pub use acceptor::{AcceptError, Acceptor, MaybeTlsStream, Peeked};
pub use connection::{ConnectionInfo, RevocationWatch, TlsInfo};
#[cfg(feature = "layer")]
#[cfg_attr(docsrs, doc(cfg(feature = "layer")))]
pub use credentials::{load_ca_bundle, load_certificate};
#[cfg(feature = "layer")]
#[cfg_attr(docsrs, doc(cfg(feature = "layer")))]
pub use layer::{ForwardIdentity, MtlsLayer, MtlsService, SharedPolicy};
#[cfg(feature = "layer")]
#[cfg_attr(docsrs, doc(cfg(feature = "layer")))]
pub use listener::{ListenerError, MtlsListener, MtlsListenerBuilder, snapshot_for};
pub use readiness::{
    DEFAULT_READINESS_CAPACITY, ReadinessEntry, ReadinessOverflow, ReadinessReport,
    StrictReadiness, TransportCounts,
};
#[cfg(feature = "serve")]
#[cfg_attr(docsrs, doc(cfg(feature = "serve")))]
pub use serve::{DEFAULT_GRACE_PERIOD, serve, serve_with_grace};
pub use sources::SourceLimited;
pub use tls::{
    DomainOptions, FetchedCrls, HostTls, LoadedTrustDomain, MinTlsVersion, PolicyVerifier,
    ReportingVerifier, RevocationIndex, TlsSnapshot, TlsSnapshotBuilder, UnknownSni,
};
#[cfg(feature = "upstream")]
#[cfg_attr(docsrs, doc(cfg(feature = "upstream")))]
pub use tls::{UpstreamConnector, UpstreamTls};

/// The README's example (an axum app), compiled by `cargo test --doc` when the `axum` and
/// `serve` features are on (as in `cargo test --workspace`).
#[cfg(all(doctest, feature = "axum", feature = "serve"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
