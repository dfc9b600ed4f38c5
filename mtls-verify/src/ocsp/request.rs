//! Building an OCSP request (RFC 6960 4.1) for one certificate.

use rustls::crypto::CryptoProvider;
use sha1::Digest as _;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::error::{OcspRequestError, name};

/// The hash of a CertID: the issuer's name and key are identified by their digests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertIdHash {
    /// SHA-1, what RFC 6960 responders must accept and OpenSSL sends by default.
    #[default]
    Sha1,
    /// SHA-256.
    Sha256,
}

impl CertIdHash {
    /// The AlgorithmIdentifier DER (with NULL parameters, as OpenSSL writes it).
    fn algorithm_identifier(self) -> &'static [u8] {
        match self {
            Self::Sha1 => &[
                0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00,
            ],
            Self::Sha256 => &[
                0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
                0x00,
            ],
        }
    }
}

/// The digest of `data` with the hash whose OID has the DER contents `oid`; `None` for a hash
/// not supported here (SHA-1 and the SHA-2 family are).
pub(crate) fn digest(oid: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    const SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
    const SHA2: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02];
    if oid == SHA1 {
        return Some(sha1::Sha1::digest(data).to_vec());
    }
    match oid.strip_prefix(SHA2)? {
        [0x01] => Some(sha2::Sha256::digest(data).to_vec()),
        [0x02] => Some(sha2::Sha384::digest(data).to_vec()),
        [0x03] => Some(sha2::Sha512::digest(data).to_vec()),
        _ => None,
    }
}

/// An OCSP request for one certificate, and what verifying the response needs to know about
/// the certificate and its issuer.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let pki = mtls_testkit::Pki::shared();
/// # let client = pki.client().issued_by(mtls_testkit::IssuedBy::Root).issue();
/// # let (cert, issuer) = (client.cert_der(), pki.root().cert_der());
/// use mtls_verify::ocsp::{self, CertIdHash, OcspRequest};
///
/// let provider = mtls_verify::crypto::default_provider();
/// let request = OcspRequest::builder(cert, issuer)
///     .hash(CertIdHash::Sha256)
///     .nonce(&ocsp::random_nonce(&provider)?)
///     .build()?;
/// // POST `request.der()` as `application/ocsp-request` to the responder.
/// assert_eq!(request.der()[0], 0x30);
/// assert_eq!(request.nonce().map(<[u8]>::len), Some(16));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspRequest {
    pub(crate) der: Vec<u8>,
    pub(crate) serial: Vec<u8>,
    pub(crate) issuer_subject: Vec<u8>,
    pub(crate) issuer_spki: Vec<u8>,
    pub(crate) issuer_key: Vec<u8>,
    pub(crate) nonce: Option<Vec<u8>>,
    pub(crate) responders: Vec<String>,
}

impl OcspRequest {
    /// A request for `cert` (DER) issued by `issuer` (DER), with a SHA-1 CertID and no nonce.
    ///
    /// # Errors
    /// See [`OcspRequestError`].
    pub fn new(cert: &[u8], issuer: &[u8]) -> Result<Self, OcspRequestError> {
        Self::builder(cert, issuer).build()
    }

    /// A builder for a request for `cert` (DER) issued by `issuer` (DER).
    pub fn builder<'a>(cert: &'a [u8], issuer: &'a [u8]) -> OcspRequestBuilder<'a> {
        OcspRequestBuilder {
            cert,
            issuer,
            hash: CertIdHash::default(),
            nonce: None,
        }
    }

    /// The request's DER, the body of an HTTP POST with content type `application/ocsp-request`.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The nonce sent, if any.
    pub fn nonce(&self) -> Option<&[u8]> {
        self.nonce.as_deref()
    }

    /// The serial number of the certificate asked about (the INTEGER's contents).
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }

    /// The DER subject name of the certificate's issuer.
    pub fn issuer_name(&self) -> &[u8] {
        &self.issuer_subject
    }

    /// The OCSP responders the certificate names: the URIs of its authorityInfoAccess
    /// `id-ad-ocsp` entries, in order (at most [`MAX_RESPONDER_URIS`]), whatever their scheme.
    pub fn responder_uris(&self) -> &[String] {
        &self.responders
    }
}

/// Builds an [`OcspRequest`]: [`OcspRequest::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct OcspRequestBuilder<'a> {
    cert: &'a [u8],
    issuer: &'a [u8],
    hash: CertIdHash,
    nonce: Option<&'a [u8]>,
}

impl<'a> OcspRequestBuilder<'a> {
    /// The hash of the CertID (default SHA-1).
    pub fn hash(mut self, hash: CertIdHash) -> Self {
        self.hash = hash;
        self
    }

    /// Sends `nonce` (1 to 32 bytes; [`random_nonce`] makes one), which the response must
    /// then echo.
    pub fn nonce(mut self, nonce: &'a [u8]) -> Self {
        self.nonce = Some(nonce);
        self
    }

    /// Builds the request.
    ///
    /// # Errors
    /// An unreadable certificate, a certificate not issued by the issuer's name, a nonce of
    /// the wrong length; see [`OcspRequestError`].
    pub fn build(self) -> Result<OcspRequest, OcspRequestError> {
        let parse = |which: &'static str, der: &'a [u8]| match X509Certificate::from_der(der) {
            Ok((_, cert)) => Ok(cert),
            Err(e) => Err(OcspRequestError::Certificate {
                which,
                detail: e.to_string(),
            }),
        };
        let cert = parse("client", self.cert)?;
        let issuer = parse("issuer", self.issuer)?;
        if cert.issuer().as_raw() != issuer.subject().as_raw() {
            return Err(OcspRequestError::IssuerMismatch {
                cert_issuer: name(cert.issuer().as_raw()),
                issuer_subject: name(issuer.subject().as_raw()),
            });
        }
        if let Some(nonce) = self.nonce
            && (nonce.is_empty() || nonce.len() > 32)
        {
            return Err(OcspRequestError::NonceLength { len: nonce.len() });
        }
        let request = OcspRequest {
            der: Vec::new(),
            serial: cert.raw_serial().to_vec(),
            issuer_subject: issuer.subject().as_raw().to_vec(),
            issuer_spki: issuer.public_key().raw.to_vec(),
            issuer_key: issuer.public_key().subject_public_key.data.to_vec(),
            nonce: self.nonce.map(<[u8]>::to_vec),
            responders: responder_uris(&cert),
        };
        Ok(OcspRequest {
            der: encode(&request, self.hash),
            ..request
        })
    }
}

/// The most responder URIs read from a certificate.
pub const MAX_RESPONDER_URIS: usize = 8;

/// The URIs of the certificate's authorityInfoAccess `id-ad-ocsp` entries.
fn responder_uris(cert: &X509Certificate<'_>) -> Vec<String> {
    /// id-ad-ocsp (1.3.6.1.5.5.7.48.1), DER contents.
    const AD_OCSP: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
    cert.extensions()
        .iter()
        .filter_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityInfoAccess(aia) => Some(aia),
            _ => None,
        })
        .flat_map(|aia| aia.accessdescs.iter())
        .filter(|d| d.access_method.as_bytes() == AD_OCSP)
        .filter_map(|d| match d.access_location {
            GeneralName::URI(uri) => Some(uri.to_owned()),
            _ => None,
        })
        .take(MAX_RESPONDER_URIS)
        .collect()
}

/// Random bytes for a nonce, from the provider's random source.
///
/// # Errors
/// [`OcspRequestError::Random`] when the provider gives none.
pub fn random_nonce(provider: &CryptoProvider) -> Result<[u8; 16], OcspRequestError> {
    let mut nonce = [0u8; 16];
    provider
        .secure_random
        .fill(&mut nonce)
        .map_err(|_| OcspRequestError::Random)?;
    Ok(nonce)
}

/// id-pkix-ocsp-nonce (1.3.6.1.5.5.7.48.1.2), DER contents.
pub(crate) const NONCE_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];

/// The OCSPRequest DER: one Request, and the nonce extension when there is a nonce.
fn encode(request: &OcspRequest, hash: CertIdHash) -> Vec<u8> {
    let alg = hash.algorithm_identifier();
    // The identifier starts `30 len 06 len`: the OID's contents follow.
    let oid = alg.get(4..4 + usize::from(alg[3])).unwrap_or_default();
    let name_hash = digest(oid, &request.issuer_subject).unwrap_or_default();
    let key_hash = digest(oid, &request.issuer_key).unwrap_or_default();
    let cert_id = tlv(
        0x30,
        &[
            alg,
            &tlv(0x04, &name_hash),
            &tlv(0x04, &key_hash),
            &tlv(0x02, &request.serial),
        ]
        .concat(),
    );
    let request_list = tlv(0x30, &tlv(0x30, &cert_id));
    let mut tbs = request_list;
    if let Some(nonce) = &request.nonce {
        let extension = tlv(
            0x30,
            &[tlv(0x06, NONCE_OID), tlv(0x04, &tlv(0x04, nonce))].concat(),
        );
        tbs.extend(tlv(0xa2, &tlv(0x30, &extension)));
    }
    tlv(0x30, &tlv(0x30, &tbs))
}

/// One DER TLV.
fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let len = contents.len();
    let mut out = Vec::with_capacity(len + 6);
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_lengths() {
        assert_eq!(tlv(0x04, &[1, 2]), [0x04, 0x02, 1, 2]);
        let long = tlv(0x04, &[0; 0x100]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x00]);
        assert_eq!(long.len(), 0x104);
    }

    #[test]
    fn digests_by_oid() {
        assert_eq!(
            digest(&[0x2b, 0x0e, 0x03, 0x02, 0x1a], b"").map(|d| d.len()),
            Some(20)
        );
        let sha256 = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
        assert_eq!(digest(&sha256, b"").map(|d| d.len()), Some(32));
        assert_eq!(digest(&[0x2a, 0x03], b""), None);
    }
}
