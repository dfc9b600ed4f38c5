//! An upstream's identity against an allow-list (Istio `DestinationRule` `subjectAltNames`,
//! Gateway API `BackendTLSPolicy` `validation.subjectAltNames`): the chain is verified against
//! the CA bundle as usual, then the leaf's identity is matched instead of one expected name.

use std::fmt;
use std::sync::Arc;

use mtls_core::PeerIdentity;
use mtls_policy::{IdentityMatchSpec, IdentityMatcher, PatternError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, Error, OtherError, RootCertStore};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// The upstream's certificate chains to a trusted CA but carries no identity the allow-list
/// admits. Its message names both, for a 502 reason and a log line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("upstream certificate identity {identity} is not in subject_alt_names [{allowed}]")]
#[non_exhaustive]
pub struct UpstreamIdentityError {
    /// The certificate's SANs (`DNS:api.internal, URI:spiffe://td/ns/a/sa/b, IP:10.0.0.1`),
    /// or its subject when it has none.
    pub identity: String,
    /// The allow-list as configured (`"spiffe://td/x", dns exact "api.internal"`).
    pub allowed: String,
}

/// Verifies the chain like rustls' WebPKI verifier, then the leaf against the allow-list
/// (compiled once, when the [`UpstreamTls`](super::UpstreamTls) is built).
pub(super) struct AllowListVerifier {
    roots: Arc<RootCertStore>,
    algorithms: WebPkiSupportedAlgorithms,
    allowed: IdentityMatcher,
    described: String,
}

impl fmt::Debug for AllowListVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllowListVerifier")
            .field("allowed", &self.described)
            .finish_non_exhaustive()
    }
}

impl AllowListVerifier {
    pub(super) fn new(
        roots: Arc<RootCertStore>,
        algorithms: WebPkiSupportedAlgorithms,
        spec: &IdentityMatchSpec,
    ) -> Result<Self, PatternError> {
        Ok(Self {
            roots,
            algorithms,
            allowed: IdentityMatcher::new(spec)?,
            described: spec.to_string(),
        })
    }
}

impl ServerCertVerifier for AllowListVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        let id = PeerIdentity::from_der(end_entity)
            .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        if self.allowed.matches(&id) {
            return Ok(ServerCertVerified::assertion());
        }
        let refused = UpstreamIdentityError {
            identity: describe(&id),
            allowed: self.described.clone(),
        };
        Err(Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(refused)),
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The allow-list refusal inside a failed handshake's error, if that is why it failed.
pub(super) fn refusal(error: &std::io::Error) -> Option<&UpstreamIdentityError> {
    match error.get_ref()?.downcast_ref::<Error>()? {
        Error::InvalidCertificate(CertificateError::Other(other)) => other.0.downcast_ref(),
        _ => None,
    }
}

/// `DNS:a, URI:b, IP:c, email:d` (the SANs in that order), or `subject CN=x` without any.
fn describe(id: &PeerIdentity) -> String {
    let sans: Vec<String> = id
        .dns_names()
        .iter()
        .map(|n| format!("DNS:{n}"))
        .chain(id.uris().iter().map(|u| format!("URI:{u}")))
        .chain(id.ip_addresses().iter().map(|ip| format!("IP:{ip}")))
        .chain(id.emails().iter().map(|e| format!("email:{e}")))
        .collect();
    if sans.is_empty() {
        format!("subject {}", id.subject())
    } else {
        sans.join(", ")
    }
}
