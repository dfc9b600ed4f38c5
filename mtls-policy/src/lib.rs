//! Mutual-TLS ingress policy: pure data in, decision out.
//!
//! A [`Policy`] expresses what Istio (`Gateway` `tls.mode`, `PeerAuthentication`), Envoy,
//! Gateway API, Azure Application Gateway for Containers, osm-edge, ingress-nginx, Traefik and
//! HAProxy say about client certificates: peer modes with scope resolution ([`scope`]),
//! client-certificate requirements ([`ClientCertMode`]), isolated trust domains with CRL
//! options ([`TrustDomain`]), identity matchers compiled for flat lookup cost
//! ([`IdentityMatcher`], [`StringSet`]), pins, route allow-lists, audit mode, and the answer of
//! each failure ([`Answer`]).
//!
//! The TLS layer (which loads CA bundles and CRLs and verifies chains) reports what it saw as
//! a [`PeerVerification`]; [`Policy::decide`] turns that, the [`PeerIdentity`], SNI, Host, port,
//! workload and path into a [`Decision`]: allow (with audit notes), or deny with a typed
//! [`DenyReason`] (stable [`code`](DenyReason::code)) and an [`Answer`].
//!
//! This crate exposes no rustls, tokio or http type.
//!
//! ```
//! use mtls_policy::{Answer, Context, Decision, PeerVerification, Policy, TlsAlert};
//!
//! let policy = Policy::from_yaml(r#"
//! listeners:
//!   - name: public
//!     port: 443
//!     hosts:
//!       - hostnames: [api.example.com]
//!         client_validation:
//!           mode: required
//!           trust:
//!             - name: partners
//!               ca: [{ file: /etc/mtls/partners-ca.pem }]
//!         routes:
//!           - path_prefix: /admin
//!             authorization:
//!               principals: [spiffe://partners.example/ops]
//! "#)?;
//!
//! // A TLS client that presented no certificate: AGC's answer, alert certificate_required.
//! let no_cert = PeerVerification::NoCertificate;
//! let ctx = Context::new(443, &no_cert).sni("api.example.com");
//! match policy.decide(&ctx) {
//!     Decision::Deny { reason, answer } => {
//!         assert_eq!(reason.code(), "no_certificate");
//!         assert_eq!(answer, Answer::TlsAlert(TlsAlert::CertificateRequired));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! # Ok::<(), mtls_policy::ConfigError>(())
//! ```
//!
//! [`PeerIdentity`]: mtls_core::PeerIdentity

// Library code never unwraps; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod answer;
pub mod backend;
pub mod certificate;
pub mod config;
pub mod danger;
mod decide;
mod files;
pub mod host;
pub mod identity;
pub mod matcher;
pub mod mode;
mod one_of;
pub mod path;

/// The hash maps and sets a decision looks up (allow-lists, host and port indexes). Their keys
/// come from the configuration only, never from a request (no hash flooding to fear), and
/// foldhash hashes a short key several times faster than the standard SipHash; seeded per
/// process all the same.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// See [`FastMap`].
pub(crate) type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
mod policy;
pub mod reason;
pub mod route;
pub mod scope;
pub mod settings;
pub mod trust;
pub mod verification;

pub use answer::{Answer, Answers, BodyFormat, HttpAnswer, HttpResponse, TlsAlert};
pub use backend::{
    BackendConfig, BackendTls, ClientCertificate, ForwardIdentityConfig, XfccFields,
};
pub use certificate::CertificateSource;
pub use config::{
    Authorization, ClientValidation, ConfigError, ConfigErrorKind, HostConfig, ListenerConfig,
    PolicyConfig, RouteConfig,
};
pub use danger::DangerousClientValidation;
pub use decide::{AuditNote, Context, Decision, Location, Workload};
pub use files::ConfigFiles;
pub use host::{HostIndex, host_without_port, normalize_authority, normalize_host};
pub use identity::{
    IdentityMatchSpec, IdentityMatcher, IdentityRule, Pins, Sha256Digest, SpiffeMatch,
};
pub use matcher::{Case, PatternError, StringMatch, StringSet};
pub use mode::{ClientCertMode, PeerMode};
pub use path::{PathMatch, normalize_path};
pub use policy::Policy;
pub use reason::{DenyCode, DenyReason};
pub use route::{RespondConfig, Route, RouteAction, RouteId};
pub use scope::{PeerAuthentication, PeerAuthentications, Resolved, Scope, ScopeError};
pub use settings::{AdminConfig, ConnectionLimits, Span, TlsVersion, UnknownSni};
pub use trust::{CrlOptions, CrlScope, SecretRef, Treatment, TrustDomain, TrustSource};
pub use verification::{PeerVerification, VerifyError};
