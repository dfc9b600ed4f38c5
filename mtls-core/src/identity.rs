//! The identity of a peer, read from its leaf certificate.
//!
//! Parse for identity, never for trust: build a [`PeerIdentity`] only from a certificate whose
//! chain has already been verified.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use rustls_pki_types::CertificateDer;

use crate::spiffe::{SpiffeId, SpiffeIdError};

/// The identity facts of a certificate: subject, issuer, serial, validity, SANs by type, the
/// SPIFFE ID, and the SHA-256 fingerprints Envoy and Istio pin with.
///
/// Cheap to clone (one reference count).
#[derive(Clone)]
pub struct PeerIdentity(Arc<Inner>);

struct Inner {
    der: CertificateDer<'static>,
    subject: String,
    common_name: Option<String>,
    issuer: String,
    serial_hex: String,
    not_before: SystemTime,
    not_after: SystemTime,
    dns_names: Vec<String>,
    uris: Vec<String>,
    ip_addresses: Vec<IpAddr>,
    emails: Vec<String>,
    other_san_count: usize,
    spiffe: Result<Option<SpiffeId>, SpiffeIdError>,
    cert_sha256: [u8; 32],
    spki_sha256: [u8; 32],
}

impl PeerIdentity {
    /// The certificate, DER encoded.
    pub fn der(&self) -> &CertificateDer<'static> {
        &self.0.der
    }

    /// The subject as an RFC 4514 string (`CN=client,O=Example`), the format Envoy uses in
    /// `x-forwarded-client-cert`.
    pub fn subject(&self) -> &str {
        &self.0.subject
    }

    /// The subject's (last) common name, if it has one.
    pub fn common_name(&self) -> Option<&str> {
        self.0.common_name.as_deref()
    }

    /// The issuer as an RFC 4514 string.
    pub fn issuer(&self) -> &str {
        &self.0.issuer
    }

    /// The serial number as lowercase hex, without leading zero bytes (at least one digit pair).
    pub fn serial_hex(&self) -> &str {
        &self.0.serial_hex
    }

    /// Start of the validity period.
    pub fn not_before(&self) -> SystemTime {
        self.0.not_before
    }

    /// End of the validity period.
    pub fn not_after(&self) -> SystemTime {
        self.0.not_after
    }

    /// DNS names of the subject alternative name extension, in certificate order.
    pub fn dns_names(&self) -> &[String] {
        &self.0.dns_names
    }

    /// URIs of the subject alternative name extension, in certificate order.
    pub fn uris(&self) -> &[String] {
        &self.0.uris
    }

    /// IP addresses of the subject alternative name extension, in certificate order.
    pub fn ip_addresses(&self) -> &[IpAddr] {
        &self.0.ip_addresses
    }

    /// Email addresses (rfc822Name) of the subject alternative name extension.
    pub fn emails(&self) -> &[String] {
        &self.0.emails
    }

    /// How many SANs of other types (otherName, directoryName, ...) the certificate has.
    pub fn other_san_count(&self) -> usize {
        self.0.other_san_count
    }

    /// The SPIFFE ID, when the certificate is a valid X509-SVID (exactly one `spiffe://` URI SAN).
    pub fn spiffe_id(&self) -> Option<&SpiffeId> {
        self.0.spiffe.as_ref().ok().and_then(Option::as_ref)
    }

    /// Why the certificate is not a valid X509-SVID although it carries `spiffe://` URIs.
    pub fn spiffe_error(&self) -> Option<&SpiffeIdError> {
        self.0.spiffe.as_ref().err()
    }

    /// SHA-256 of the DER certificate.
    pub fn cert_sha256(&self) -> &[u8; 32] {
        &self.0.cert_sha256
    }

    /// SHA-256 of the DER certificate as lowercase hex: the value of Istio's
    /// `verifyCertificateHash` (compare ignoring `:` separators and case).
    pub fn cert_sha256_hex(&self) -> String {
        hex(&self.0.cert_sha256)
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo.
    pub fn spki_sha256(&self) -> &[u8; 32] {
        &self.0.spki_sha256
    }

    /// Base64 (standard, padded) SHA-256 of the SubjectPublicKeyInfo: the value of Istio's
    /// `verifyCertificateSpki`.
    pub fn spki_sha256_base64(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(self.0.spki_sha256)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
