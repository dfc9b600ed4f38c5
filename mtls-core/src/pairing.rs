//! Whether a private key belongs to a certificate, read from the key's encoding alone (no
//! cryptography): an RSA key carries its modulus and public exponent, and EC and Ed25519 keys
//! usually carry their public key (OpenSSL, ring, aws-lc-rs and rcgen write it).
//!
//! The answer is `Some(false)` only when the encodings prove that the key is another one (other
//! algorithm, other curve, other public key); anything this reader cannot tell (an EC or Ed25519
//! key without its public key, an algorithm it does not know, an encoding it does not follow)
//! is `None`, for the crypto provider that loads the key to decide.

use x509_parser::asn1_rs::{Any, Class, FromDer as _, Tag};
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use rustls_pki_types::PrivateKeyDer;

/// rsaEncryption, 1.2.840.113549.1.1.1.
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-RSASSA-PSS, 1.2.840.113549.1.1.10.
const RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
/// id-ecPublicKey, 1.2.840.10045.2.1.
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// id-Ed25519, 1.3.101.112.
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// What a private key's encoding says of its public half.
#[derive(Debug, PartialEq, Eq)]
enum Public<'a> {
    Rsa {
        modulus: &'a [u8],
        exponent: &'a [u8],
    },
    Ec {
        curve: Option<&'a [u8]>,
        point: Option<&'a [u8]>,
    },
    Ed25519 {
        key: Option<&'a [u8]>,
    },
}

/// Whether `key` is the private key of the certificate whose subject public key is `spki`:
/// `Some(true)` or `Some(false)` where the encodings tell, `None` where they do not.
pub(crate) fn key_matches(
    key: &PrivateKeyDer<'_>,
    spki: &SubjectPublicKeyInfo<'_>,
) -> Option<bool> {
    let key = match key {
        PrivateKeyDer::Pkcs1(der) => rsa_private_key(der.secret_pkcs1_der())?,
        PrivateKeyDer::Sec1(der) => ec_private_key(der.secret_sec1_der(), None)?,
        PrivateKeyDer::Pkcs8(der) => pkcs8(der.secret_pkcs8_der())?,
        _ => return None,
    };
    let algorithm = spki.algorithm.algorithm.as_bytes();
    let leaf = spki.subject_public_key.data.as_ref();
    match key {
        Public::Rsa { modulus, exponent } => {
            if algorithm != RSA_ENCRYPTION && algorithm != RSASSA_PSS {
                return known_algorithm(algorithm).then_some(false);
            }
            match spki.parsed().ok()? {
                PublicKey::RSA(rsa) => Some(
                    unsigned(rsa.modulus) == unsigned(modulus)
                        && unsigned(rsa.exponent) == unsigned(exponent),
                ),
                _ => None,
            }
        }
        Public::Ec { curve, point } => {
            if algorithm != EC_PUBLIC_KEY {
                return known_algorithm(algorithm).then_some(false);
            }
            let leaf_curve = spki
                .algorithm
                .parameters
                .as_ref()
                .filter(|p| p.tag() == Tag::Oid)
                .map(|p| p.data);
            // No let-chain: mtls-core builds with Rust 1.85.
            if matches!((curve, leaf_curve), (Some(a), Some(b)) if a != b) {
                return Some(false);
            }
            same_point(point?, leaf)
        }
        Public::Ed25519 { key } => {
            if algorithm != ED25519 {
                return known_algorithm(algorithm).then_some(false);
            }
            Some(key? == leaf)
        }
    }
}

/// An algorithm whose keys this reader recognises, so that a key of another one is known to
/// be another key.
fn known_algorithm(oid: &[u8]) -> bool {
    [RSA_ENCRYPTION, RSASSA_PSS, EC_PUBLIC_KEY, ED25519].contains(&oid)
}

/// PKCS#8 / RFC 5958 `OneAsymmetricKey`: version, algorithm, the key, `[0]` attributes,
/// `[1]` the public key (version 2).
fn pkcs8(der: &[u8]) -> Option<Public<'_>> {
    let mut fields = sequence(der)?;
    let _version = next(&mut fields, Tag::Integer)?;
    let algorithm = next(&mut fields, Tag::Sequence)?;
    let private = next(&mut fields, Tag::OctetString)?;
    let mut public = None;
    while !fields.is_empty() {
        let (rest, any) = Any::from_der(fields).ok()?;
        fields = rest;
        if any.class() == Class::ContextSpecific && any.tag() == Tag(1) {
            public = bit_string(any.data);
        }
    }
    let mut algorithm = algorithm.data;
    let oid = next(&mut algorithm, Tag::Oid)?.data;
    if oid == RSA_ENCRYPTION || oid == RSASSA_PSS {
        rsa_private_key(private.data)
    } else if oid == EC_PUBLIC_KEY {
        let curve = next(&mut algorithm, Tag::Oid).map(|c| c.data);
        match ec_private_key(private.data, curve)? {
            Public::Ec { curve, point } => Some(Public::Ec {
                curve,
                point: point.or(public),
            }),
            other => Some(other),
        }
    } else if oid == ED25519 {
        Some(Public::Ed25519 { key: public })
    } else {
        None
    }
}

/// PKCS#1 `RSAPrivateKey`: version, modulus, public exponent, then the private parts.
fn rsa_private_key(der: &[u8]) -> Option<Public<'_>> {
    let mut fields = sequence(der)?;
    let _version = next(&mut fields, Tag::Integer)?;
    let modulus = next(&mut fields, Tag::Integer)?.data;
    let exponent = next(&mut fields, Tag::Integer)?.data;
    Some(Public::Rsa { modulus, exponent })
}

/// SEC1 `ECPrivateKey`: version, the scalar, `[0]` the curve, `[1]` the public key.
fn ec_private_key<'a>(der: &'a [u8], curve: Option<&'a [u8]>) -> Option<Public<'a>> {
    let mut fields = sequence(der)?;
    let _version = next(&mut fields, Tag::Integer)?;
    let _scalar = next(&mut fields, Tag::OctetString)?;
    let (mut curve, mut point) = (curve, None);
    while !fields.is_empty() {
        let (rest, any) = Any::from_der(fields).ok()?;
        fields = rest;
        if any.class() != Class::ContextSpecific {
            continue;
        }
        let mut inner = any.data;
        match any.tag() {
            Tag(0) => curve = curve.or(next(&mut inner, Tag::Oid).map(|c| c.data)),
            Tag(1) => point = next(&mut inner, Tag::BitString).and_then(|b| bit_string(b.data)),
            _ => {}
        }
    }
    Some(Public::Ec { curve, point })
}

/// The contents of the universal SEQUENCE `der` is.
fn sequence(der: &[u8]) -> Option<&[u8]> {
    let (_, any) = Any::from_der(der).ok()?;
    (any.class() == Class::Universal && any.tag() == Tag::Sequence).then_some(any.data)
}

/// Reads the next field of a SEQUENCE's contents; `None` unless it is a universal `tag`.
fn next<'a>(fields: &mut &'a [u8], tag: Tag) -> Option<Any<'a>> {
    let (rest, any) = Any::from_der(fields).ok()?;
    *fields = rest;
    (any.class() == Class::Universal && any.tag() == tag).then_some(any)
}

/// A BIT STRING's contents without its unused-bits octet, when it is a whole number of octets.
fn bit_string(contents: &[u8]) -> Option<&[u8]> {
    match contents.split_first()? {
        (0, bytes) => Some(bytes),
        _ => None,
    }
}

/// An INTEGER's contents without leading zero octets.
fn unsigned(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Whether two encodings of EC points (SEC1 2.3.3: `04 x y`, or `02`/`03 x` compressed) are
/// the same point; `None` for forms this reader does not compare.
fn same_point(a: &[u8], b: &[u8]) -> Option<bool> {
    if a == b {
        return Some(true);
    }
    if a.first() == b.first() {
        // The same form, other bytes: another point.
        return Some(false);
    }
    let form = |p: &[u8]| match p.split_first() {
        Some((4, xy)) if xy.len() % 2 == 0 => {
            let (x, y) = xy.split_at(xy.len() / 2);
            Some((x.to_vec(), y.last().map(|l| l & 1)))
        }
        Some((2, x)) => Some((x.to_vec(), Some(0))),
        Some((3, x)) => Some((x.to_vec(), Some(1))),
        _ => None,
    };
    let (a, b) = (form(a)?, form(b)?);
    Some(a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_compare_across_compressed_and_uncompressed_forms() {
        let uncompressed = [4, 1, 2, 3, 4, 5, 7];
        assert_eq!(same_point(&uncompressed, &[3, 1, 2, 3]), Some(true));
        assert_eq!(same_point(&uncompressed, &[2, 1, 2, 3]), Some(false));
        assert_eq!(
            same_point(&uncompressed, &[4, 1, 2, 3, 4, 5, 6]),
            Some(false)
        );
        assert_eq!(same_point(&uncompressed, &[6, 1, 2, 3, 4, 5, 7]), None);
    }

    #[test]
    fn leading_zeros_do_not_count() {
        assert_eq!(unsigned(&[0, 0, 0x80, 1]), &[0x80, 1]);
        assert_eq!(unsigned(&[0]), &[] as &[u8]);
    }

    #[test]
    fn unreadable_keys_are_undetermined() {
        let key = rustls_pki_types::PrivatePkcs8KeyDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        let pki = mtls_testkit::Pki::shared();
        let leaf = pki.default_server().cert_der();
        let (_, cert) =
            x509_parser::certificate::X509Certificate::from_der(leaf.as_ref()).expect("leaf");
        let spki = &cert.tbs_certificate.subject_pki;
        assert_eq!(key_matches(&PrivateKeyDer::Pkcs8(key), spki), None);
    }
}
