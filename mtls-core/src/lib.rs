//! Certificates, keys, CA bundles, CRLs, Kubernetes/Istio secret layouts and peer identity for
//! mutual-TLS ingress.
//!
//! `mtls-core` is the bottom of the `mtls` crate family: it turns bytes, files, directories and
//! Kubernetes secrets into checked material, and a verified client certificate into a
//! [`PeerIdentity`]. It knows no policy, no sockets and no HTTP.
//!
//! | material | type | checked at load |
//! |---|---|---|
//! | certificate chain (PEM, many blocks, or DER) | [`CertificateChain`] | every certificate parses |
//! | private key (PKCS#8, PKCS#1, SEC1; PEM or DER) | [`PrivateKey`] | exactly one key |
//! | server credential | [`ServerCredential`] | the key is usable and belongs to the leaf |
//! | CA bundle (many PEM blocks, text between) | [`CaBundle`] | non-empty, duplicates dropped, each a usable CA |
//! | CRLs (PEM or DER, many) | [`CrlSet`] | each parses as rustls-webpki will read it |
//! | a Secret or ConfigMap, as a map or a mounted directory | [`SecretMaterial`] | layout recognised, keys present and non-empty |
//! | a client certificate | [`PeerIdentity`] | subject, SANs by type, SPIFFE ID, fingerprints |
//!
//! Every error is an [`Error`]: its [`Origin`] names the file, the secret key or the label you
//! gave, and its [`ErrorKind`] says what was wrong, down to the PEM block index. No input makes
//! these loaders panic.
//!
//! # Example
//!
//! ```
//! use std::collections::BTreeMap;
//! use mtls_core::{PeerIdentity, SecretLayout, SecretMaterial};
//!
//! # fn main() -> Result<(), mtls_core::Error> {
//! # let pki = mtls_testkit::Pki::shared();
//! # let server = pki.server_for(&["httpbin.example.com"]).issue();
//! # let client = pki.client().uri("spiffe://cluster.local/ns/default/sa/web").issue();
//! // An Istio `credentialName` secret in the generic layout.
//! let data = BTreeMap::from([
//!     ("cert", server.chain_pem()),
//!     ("key", server.key_pem()),
//!     ("cacert", pki.root().cert_pem()),
//! ]);
//! let secret = SecretMaterial::from_map("istio-system/httpbin-credential", &data)?;
//! assert_eq!(secret.layout(), SecretLayout::IstioGeneric);
//! let provider = mtls_core::crypto::default_provider();
//! let credential = secret.server_credential(&provider)?.expect("cert and key are present");
//! println!("serving a chain valid until {:?}", credential.not_after());
//!
//! // After the TLS layer has verified a client's chain, read who it is.
//! let peer = PeerIdentity::from_der(client.cert_der())?;
//! assert_eq!(
//!     peer.spiffe_id().map(|id| id.trust_domain()),
//!     Some("cluster.local")
//! );
//! println!("{peer}");
//!
//! // Bad input says where and why.
//! let err = mtls_core::CaBundle::from_bytes(b"", "ca.crt").unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "ca.crt: CA bundle is empty: it holds no certificate, and an empty bundle would trust nobody"
//! );
//! # Ok(()) }
//! ```
//!
//! (The hidden lines of the example generate a throw-away PKI with the workspace's test kit,
//! `mtls-testkit`; with your own files, read them with `std::fs::read` and the same calls.)
//!
//! # Features
//!
//! | feature | default | what it does |
//! |---|---|---|
//! | `aws-lc-rs` | yes | [`crypto::default_provider`] is aws-lc-rs |
//! | `ring` | no | [`crypto::default_provider`] is ring when `aws-lc-rs` is off |
//!
//! With neither, [`crypto::default_provider`] does not exist: every function that needs a
//! crypto provider takes one explicitly, and nothing relies on rustls' process-wide default.

// Library code never unwraps; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod bundle;
mod cert;
mod credential;
mod crl;
pub mod crypto;
mod error;
pub mod identity;
mod key;
mod name;
mod pem;
mod secret;
pub mod spiffe;

pub use bundle::{CaBundle, CaCertificate};
pub use cert::CertificateChain;
pub use credential::ServerCredential;
pub use crl::{Crl, CrlSet};
pub use error::{Error, ErrorKind, Expected, Origin};
pub use identity::PeerIdentity;
pub use key::{KeyFormat, PrivateKey};
pub use secret::{SecretLayout, SecretMaterial};
pub use spiffe::{SpiffeId, SpiffeIdError};

/// The README's example, compiled by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
