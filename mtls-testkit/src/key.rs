//! Key algorithms, key generation and the PKCS#8 → PKCS#1 / SEC1 rewrites.

use rcgen::KeyPair;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};

/// The key (and signature) algorithm of a CA or a leaf.
///
/// ECDSA P-256 is the default: it is fast to generate. RSA-2048 key generation takes tens to
/// hundreds of milliseconds per key, so prefer [`Pki::shared_with`](crate::Pki::shared_with)
/// or reuse one [`Pki`](crate::Pki) when testing RSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum KeyAlg {
    /// ECDSA on P-256 with SHA-256 (the default).
    #[default]
    EcdsaP256,
    /// RSA, 2048-bit modulus, PKCS#1 v1.5 signatures with SHA-256.
    Rsa2048,
    /// Ed25519.
    Ed25519,
}

impl KeyAlg {
    /// Every algorithm, for tests that loop over all of them.
    pub const ALL: [Self; 3] = [Self::EcdsaP256, Self::Rsa2048, Self::Ed25519];

    pub(crate) fn rcgen(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            Self::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::Rsa2048 => &rcgen::PKCS_RSA_SHA256,
            Self::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }

    pub(crate) fn generate(self) -> KeyPair {
        KeyPair::generate_for(self.rcgen())
            .unwrap_or_else(|e| panic!("mtls-testkit: generating a {self:?} key failed: {e}"))
    }
}

/// A private key in every encoding the loaders under test should accept.
///
/// The key is always held as PKCS#8; the PKCS#1 (RSA) and SEC1 (ECDSA) forms are derived from
/// it by rewriting the DER, so all encodings are the *same* key.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyMaterial {
    alg: KeyAlg,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("alg", &self.alg)
            .field("pkcs8", &"[elided]")
            .finish()
    }
}

impl KeyMaterial {
    pub(crate) fn from_key_pair(alg: KeyAlg, key: &KeyPair) -> Self {
        Self {
            alg,
            pkcs8: key.serialize_der(),
        }
    }

    /// The key's algorithm.
    pub fn alg(&self) -> KeyAlg {
        self.alg
    }

    /// The key as rustls wants it: `PrivateKeyDer::Pkcs8`.
    pub fn der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.pkcs8_der())
    }

    /// The PKCS#8 DER (`PrivateKeyInfo`).
    pub fn pkcs8_der(&self) -> PrivatePkcs8KeyDer<'static> {
        PrivatePkcs8KeyDer::from(self.pkcs8.clone())
    }

    /// The PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn pem(&self) -> String {
        crate::pem::encode("PRIVATE KEY", &self.pkcs8)
    }

    /// The PKCS#1 `RSAPrivateKey` DER, for RSA keys; `None` for other algorithms.
    pub fn pkcs1_der(&self) -> Option<PrivatePkcs1KeyDer<'static>> {
        (self.alg == KeyAlg::Rsa2048).then(|| PrivatePkcs1KeyDer::from(self.inner_private_key()))
    }

    /// The PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`), for RSA keys; `None` otherwise.
    pub fn pkcs1_pem(&self) -> Option<String> {
        self.pkcs1_der()
            .map(|k| crate::pem::encode("RSA PRIVATE KEY", k.secret_pkcs1_der()))
    }

    /// The SEC1 `ECPrivateKey` DER (with the curve named in its parameters), for ECDSA keys;
    /// `None` for other algorithms.
    pub fn sec1_der(&self) -> Option<PrivateSec1KeyDer<'static>> {
        (self.alg == KeyAlg::EcdsaP256).then(|| PrivateSec1KeyDer::from(self.sec1()))
    }

    /// The SEC1 PEM (`-----BEGIN EC PRIVATE KEY-----`), for ECDSA keys; `None` otherwise.
    pub fn sec1_pem(&self) -> Option<String> {
        self.sec1_der()
            .map(|k| crate::pem::encode("EC PRIVATE KEY", k.secret_sec1_der()))
    }

    /// The PKCS#8 version 1 DER (RFC 5208: version, AlgorithmIdentifier, privateKey, without the
    /// public key that version 2 carries), as OpenSSL writes Ed25519 keys: a key whose public
    /// half only a crypto provider can compute. Built from the same key.
    pub fn pkcs8_v1_der(&self) -> PrivatePkcs8KeyDer<'static> {
        let fields = self.pkcs8_fields();
        let mut body = der::encode(0x02, &[0]);
        for field in fields.iter().skip(1).take(2) {
            body.extend_from_slice(field.raw);
        }
        PrivatePkcs8KeyDer::from(der::encode(der::SEQUENCE, &body))
    }

    /// Fields of `PrivateKeyInfo`: version, AlgorithmIdentifier, privateKey OCTET STRING, ...
    fn pkcs8_fields(&self) -> Vec<der::Tlv<'_>> {
        let (outer, _) = der::read(&self.pkcs8).expect("mtls-testkit: PKCS#8 is not DER");
        assert_eq!(
            outer.tag,
            der::SEQUENCE,
            "mtls-testkit: PKCS#8 is not a SEQUENCE"
        );
        der::read_all(outer.value).expect("mtls-testkit: malformed PKCS#8")
    }

    /// The content of the PKCS#8 `privateKey` OCTET STRING (RSAPrivateKey or ECPrivateKey).
    fn inner_private_key(&self) -> Vec<u8> {
        let fields = self.pkcs8_fields();
        let key = fields
            .get(2)
            .filter(|t| t.tag == der::OCTET_STRING)
            .expect("mtls-testkit: PKCS#8 without privateKey OCTET STRING");
        key.value.to_vec()
    }

    /// ECPrivateKey with `parameters [0]` present (PKCS#8 usually leaves it out because the
    /// AlgorithmIdentifier names the curve; a standalone SEC1 file must carry it).
    fn sec1(&self) -> Vec<u8> {
        let fields = self.pkcs8_fields();
        // AlgorithmIdentifier ::= SEQUENCE { id-ecPublicKey, namedCurve OID }
        let alg_fields =
            der::read_all(fields[1].value).expect("mtls-testkit: bad AlgorithmIdentifier");
        let curve = alg_fields
            .get(1)
            .filter(|t| t.tag == der::OID)
            .expect("mtls-testkit: EC PKCS#8 without a named curve");
        let inner = self.inner_private_key();
        let (ec, _) = der::read(&inner).expect("mtls-testkit: ECPrivateKey is not DER");
        let ec_fields = der::read_all(ec.value).expect("mtls-testkit: malformed ECPrivateKey");
        if ec_fields.iter().any(|t| t.tag == der::CONTEXT_0) {
            return inner;
        }
        // ECPrivateKey ::= SEQUENCE { version, privateKey, [0] parameters OPTIONAL, [1] publicKey OPTIONAL }
        let mut body = Vec::new();
        for (i, field) in ec_fields.iter().enumerate() {
            body.extend_from_slice(field.raw);
            if i == 1 {
                body.extend(der::encode(der::CONTEXT_0, curve.raw));
            }
        }
        der::encode(der::SEQUENCE, &body)
    }
}

/// Just enough DER to take PKCS#8 apart (single-byte tags, definite lengths).
mod der {
    pub(super) const SEQUENCE: u8 = 0x30;
    pub(super) const OCTET_STRING: u8 = 0x04;
    pub(super) const OID: u8 = 0x06;
    pub(super) const CONTEXT_0: u8 = 0xA0;

    pub(super) struct Tlv<'a> {
        pub(super) tag: u8,
        pub(super) value: &'a [u8],
        /// The whole encoding: tag, length and value.
        pub(super) raw: &'a [u8],
    }

    /// Reads one TLV; returns it and the rest of the input.
    pub(super) fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let (bytes, tail) = rest.split_at(n);
            rest = tail;
            bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        };
        if rest.len() < len {
            return None;
        }
        let header = input.len() - rest.len();
        let value = &rest[..len];
        Some((
            Tlv {
                tag,
                value,
                raw: &input[..header + len],
            },
            &rest[len..],
        ))
    }

    pub(super) fn read_all(mut input: &[u8]) -> Option<Vec<Tlv<'_>>> {
        let mut out = Vec::new();
        while !input.is_empty() {
            let (tlv, rest) = read(input)?;
            out.push(tlv);
            input = rest;
        }
        Some(out)
    }

    pub(super) fn encode(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = value.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
        out.extend_from_slice(value);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::crypto::aws_lc_rs::default_provider;

    fn load(key: PrivateKeyDer<'static>) {
        default_provider()
            .key_provider
            .load_private_key(key)
            .expect("aws-lc-rs loads the key");
    }

    #[test]
    fn ecdsa_sec1_is_the_same_key_and_loads() {
        let pair = KeyAlg::EcdsaP256.generate();
        let key = KeyMaterial::from_key_pair(KeyAlg::EcdsaP256, &pair);
        assert!(key.pkcs1_der().is_none());
        let sec1 = key.sec1_der().expect("ECDSA has SEC1");
        // aws-lc-rs (through rcgen) parses the SEC1 form back to the same key.
        let parsed = KeyPair::try_from(&PrivateKeyDer::Sec1(sec1.clone_key())).expect("parse SEC1");
        assert_eq!(parsed.public_key_raw(), pair.public_key_raw());
        load(PrivateKeyDer::Sec1(sec1));
        load(key.der());
        assert!(
            key.sec1_pem()
                .expect("pem")
                .starts_with("-----BEGIN EC PRIVATE KEY-----")
        );
    }

    #[test]
    fn ed25519_has_only_pkcs8() {
        let key = KeyMaterial::from_key_pair(KeyAlg::Ed25519, &KeyAlg::Ed25519.generate());
        assert!(key.pkcs1_der().is_none() && key.sec1_der().is_none());
        load(key.der());
    }

    #[test]
    fn der_length_forms() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let value = vec![7u8; len];
            let enc = der::encode(der::OCTET_STRING, &value);
            let (tlv, rest) = der::read(&enc).expect("reads back");
            assert!(rest.is_empty());
            assert_eq!(tlv.value.len(), len);
            assert_eq!(tlv.raw.len(), enc.len());
        }
        assert!(der::read(&[0x04, 0x82, 0x01]).is_none());
        assert!(der::read(&[0x04, 0x05, 0x01]).is_none());
    }
}
