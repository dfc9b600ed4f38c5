//! Mutual-TLS ingress policy: the one model of what a server serves, and the decision. Pure
//! data in, decision out.
//!
//! # The model
//!
//! [`PolicyConfig`] is one tree, as Envoy's listener → filter chain → route configuration →
//! cluster: a **listener** (address or port, peer mode, unknown-SNI behaviour, limits) has
//! **hosts** (names, a server certificate, client validation), a host has **routes** (a path
//! match, an authorization, and an action: a backend or a fixed answer), and **backends** are
//! data in the same tree. Build it from YAML/JSON ([`PolicyConfig::from_yaml`]; a complete,
//! commented example is `examples/policy.yaml` in this crate) or in code with the
//! constructors ([`PolicyConfig::new`], [`ListenerConfig::on_port`], [`HostConfig::new`],
//! [`RouteConfig::prefix`], ...), then compile it once with [`Policy::new`].
//!
//! Every consumer reads it through one host lookup ([`HostIndex`], names in the normal form of
//! [`normalize_host`]) and one path matcher ([`PathMatch`], paths in the normal form of
//! [`normalize_path`]): the TLS layer picks a host's certificate and verifier with the same
//! lookup the decision uses, and [`Policy::decide`] names the route it decided on
//! ([`Decision::route`], a [`RouteId`]), so whoever serves the request (a proxy, an
//! application) serves it by that route and never matches again. What a consumer builds per
//! route (connection pools, say) can be [attached](Policy::attach) to the compiled policy, so
//! it is swapped with the policy as one snapshot.
//!
//! Matching rules: the listener by port; the host by SNI, else `Host`: exact name, then one
//! label under a `*.parent` wildcard, then the default host; SNI and `Host` must select the
//! same host (else `sni_host_mismatch`); the route by path: an exact path, else the longest
//! prefix on segment boundaries, the query never part of it. A malformed or ambiguous name or
//! path is denied as `bad_request` (400), never guessed: see [`host`] and [`path`].
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
//! # Features
//!
//! None: the crate has no optional dependency.
//!
//! [`PeerIdentity`]: mtls_core::PeerIdentity

// Library code never unwraps; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod access_log;
pub mod answer;
pub mod backend;
pub mod certificate;
pub mod config;
pub mod danger;
mod decide;
pub mod enforce;
mod files;
pub mod host;
pub mod identity;
pub mod matcher;
pub mod mode;
pub mod ocsp;
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
pub mod shadow;
mod source_limits;
pub mod trust;
pub mod verification;
pub mod yaml;

pub use answer::{Answer, Answers, BodyFormat, HttpAnswer, HttpResponse, TlsAlert};
pub use backend::{BackendConfig, BackendTls, ForwardIdentityConfig, XfccFields};
pub use certificate::CertificateSource;
pub use config::{
    Authorization, ClientValidation, ConfigError, ConfigErrorKind, HostConfig, ListenerConfig,
    PolicyConfig, RouteConfig,
};
pub use danger::DangerousClientValidation;
pub use decide::{AuditNote, Context, Decision, Location, Workload};
pub use enforce::EnforceAt;
pub use files::{ConfigFiles, SourceMut};
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
pub use settings::{AdminConfig, ConnectionLimits, SessionTickets, Span, TlsVersion, UnknownSni};
pub use source_limits::SourceLimits;
pub use trust::{
    CertificateProfile, CrlOptions, CrlScope, DistributionPoints, NextUpdate, SecretRef, Treatment,
    TrustDomain, TrustSource,
};
pub use verification::{PeerVerification, VerifyError};

/// The README's example, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
