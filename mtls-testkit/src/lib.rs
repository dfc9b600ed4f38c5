//! A realistic test PKI, generated at test time with rcgen, and in-memory rustls handshakes.
//!
//! No key or certificate file is ever committed: every test asks this crate for what it needs.
//!
//! - [`Pki`]: root CA → intermediate CA, in ECDSA P-256 (default), RSA-2048 or Ed25519
//!   ([`KeyAlg`]). [`Pki::shared`] / [`Pki::shared_with`] generate once per test binary;
//!   [`Pki::new`] makes an independent (unrelated) one.
//! - [`LeafBuilder`]: server and client certificates with DNS / URI (SPIFFE) / IP / email SANs,
//!   subject CN and O, [`Eku`], [`Validity`] (expired, not yet valid), [`IssuedBy`] root or
//!   intermediate, chosen serial. [`Leaf`] gives the chain (DER and PEM) and the key
//!   ([`KeyMaterial`]: PKCS#8, and PKCS#1 / SEC1 where the algorithm has one).
//! - [`CrlBuilder`]: revoke leaves and the intermediate; [`Crls`] holds the root's and the
//!   intermediate's CRLs, DER and PEM, with chosen `thisUpdate` / `nextUpdate`.
//! - [`Pki::write_to`]: the standard set of PEM files for curl / openssl tests ([`PkiFiles`]).
//! - [`tls`]: rustls client and server configs (always with an explicit aws-lc-rs provider)
//!   and [`tls::handshake`], a full handshake in memory.
//!
//! # Example
//!
//! ```
//! use mtls_testkit::{Pki, Validity, tls};
//! use rustls::{CertificateError, Error};
//!
//! let pki = Pki::shared();
//! let server = pki.default_server();
//! let web = pki.client().uri("spiffe://cluster.local/ns/default/sa/web").issue();
//! let expired = pki.client().validity(Validity::Expired).issue();
//! let revoked = pki.client().issue();
//! let crls = pki.crls().revoke(&revoked).build();
//!
//! let server_config = tls::server_config(server, tls::webpki_verifier(pki, &crls.ders()));
//!
//! // A valid client completes the handshake; the server sees its chain.
//! let (_client, server_conn) =
//!     tls::handshake(tls::client_config(pki, Some(&web)), server_config.clone(), "localhost")
//!         .expect("valid client");
//! assert_eq!(server_conn.peer_certificates().unwrap()[0], *web.cert_der());
//!
//! // Expired and revoked clients are rejected by the server, which says why.
//! let err = tls::handshake(tls::client_config(pki, Some(&expired)), server_config.clone(), "localhost")
//!     .unwrap_err();
//! assert_eq!(err.side, tls::Side::Server);
//! assert!(matches!(err.error, Error::InvalidCertificate(CertificateError::ExpiredContext { .. })));
//!
//! let err = tls::handshake(tls::client_config(pki, Some(&revoked)), server_config, "localhost")
//!     .unwrap_err();
//! assert_eq!(err.error, Error::InvalidCertificate(CertificateError::Revoked));
//!
//! // The same PKI as files, for curl and openssl.
//! let dir = tempfile::tempdir().unwrap();
//! let files = pki.write_to(dir.path()).unwrap();
//! assert!(files.ca.ends_with("ca.pem") && files.crl.ends_with("crl.pem"));
//! ```
//!
//! # Features
//!
//! None: the kit always uses aws-lc-rs (through rcgen and rustls).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

mod crl;
pub mod custom;
mod files;
mod key;
mod leaf;
mod pem;
mod pki;
pub mod tls;

pub use crate::crl::{Crl, CrlBuilder, Crls};
pub use crate::files::PkiFiles;
pub use crate::key::{KeyAlg, KeyMaterial};
pub use crate::leaf::{Eku, Leaf, LeafBuilder, Validity};
pub use crate::pem::encode as pem_encode;
pub use crate::pki::{Ca, DEFAULT_CLIENT_SPIFFE_ID, IssuedBy, ORGANIZATION, Pki};

/// The README's example, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
