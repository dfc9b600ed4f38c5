//! The few DER reads the revocation index needs that rustls-webpki does not expose: a CRL's
//! signed parts, an SPKI's algorithm and key, a CA certificate's keyUsage, a certificate's extension. Every read is bounds-checked and returns `None` on bad input.

pub(crate) const SEQUENCE: u8 = 0x30;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;

/// One TLV: its tag, its contents, and the whole encoding (tag and length included).
#[derive(Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    pub(crate) contents: &'a [u8],
    pub(crate) whole: &'a [u8],
}

/// Reads one TLV from the front of `input`; returns it and the rest.
pub(crate) fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    // Multi-byte tags never occur in the structures read here.
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, rest) = rest.split_at(n);
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    let (contents, rest) = rest.split_at(len);
    Some((
        Tlv {
            tag,
            contents,
            whole: &input[..header + len],
        },
        rest,
    ))
}

/// Reads one TLV with the expected tag.
fn expect(input: &[u8], tag: u8) -> Option<(Tlv<'_>, &[u8])> {
    read(input).filter(|(tlv, _)| tlv.tag == tag)
}

/// The parts of a signed structure (`SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING }`).
pub(crate) struct Signed<'a> {
    /// The signed bytes (the whole TBS encoding).
    pub(crate) tbs: &'a [u8],
    /// The contents of the signature AlgorithmIdentifier.
    pub(crate) algorithm: &'a [u8],
    /// The signature value.
    pub(crate) signature: &'a [u8],
}

/// Splits a CRL (or certificate) into its signed parts.
pub(crate) fn signed(der: &[u8]) -> Option<Signed<'_>> {
    let (outer, rest) = expect(der, SEQUENCE)?;
    if !rest.is_empty() {
        return None;
    }
    let (tbs, rest) = expect(outer.contents, SEQUENCE)?;
    let (algorithm, rest) = expect(rest, SEQUENCE)?;
    let (signature, rest) = expect(rest, BIT_STRING)?;
    if !rest.is_empty() {
        return None;
    }
    let (&unused, signature) = signature.contents.split_first()?;
    if unused != 0 {
        return None;
    }
    Some(Signed {
        tbs: tbs.whole,
        algorithm: algorithm.contents,
        signature,
    })
}

/// The algorithm (AlgorithmIdentifier contents) and key bits of a full SPKI encoding.
pub(crate) fn spki(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (outer, _) = expect(der, SEQUENCE)?;
    let (algorithm, rest) = expect(outer.contents, SEQUENCE)?;
    let (key, _) = expect(rest, BIT_STRING)?;
    let (&unused, key) = key.contents.split_first()?;
    if unused != 0 {
        return None;
    }
    Some((algorithm.contents, key))
}

/// The extension value (OCTET STRING contents) with OID contents `oid` in an `Extensions`
/// SEQUENCE's contents.
fn find_extension<'a>(mut extensions: &'a [u8], oid: &[u8]) -> Option<&'a [u8]> {
    while !extensions.is_empty() {
        let (ext, rest) = expect(extensions, SEQUENCE)?;
        extensions = rest;
        let (id, mut fields) = expect(ext.contents, OID)?;
        if id.contents != oid {
            continue;
        }
        if let Some((_critical, rest)) = expect(fields, BOOLEAN) {
            fields = rest;
        }
        return expect(fields, OCTET_STRING).map(|(v, _)| v.contents);
    }
    None
}

/// What a CA certificate's keyUsage says about signing CRLs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CrlSign {
    /// No keyUsage extension: any usage (webpki's reading).
    Absent,
    /// keyUsage asserts cRLSign.
    Asserted,
    /// keyUsage is present without cRLSign, or unreadable.
    Missing,
}

/// Reads the cRLSign bit of a certificate's keyUsage extension.
pub(crate) fn crl_sign(cert_der: &[u8]) -> CrlSign {
    const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
    let Some(extensions) = extensions(cert_der) else {
        return CrlSign::Absent;
    };
    let Some(value) = find_extension(extensions, KEY_USAGE) else {
        return CrlSign::Absent;
    };
    match expect(value, BIT_STRING) {
        // Bit 6 (cRLSign) is in the first content byte after the unused-bits count.
        Some((bits, _)) if bits.contents.get(1).is_some_and(|b| b & 0x02 != 0) => CrlSign::Asserted,
        _ => CrlSign::Missing,
    }
}

/// The contents of a certificate's `[3] Extensions` SEQUENCE.
fn extensions(cert_der: &[u8]) -> Option<&[u8]> {
    let (outer, _) = expect(cert_der, SEQUENCE)?;
    let (tbs, _) = expect(outer.contents, SEQUENCE)?;
    let mut fields = tbs.contents;
    while !fields.is_empty() {
        let (field, rest) = read(fields)?;
        fields = rest;
        if field.tag == 0xa3 {
            return expect(field.contents, SEQUENCE).map(|(s, _)| s.contents);
        }
    }
    None
}

/// The issuer of a certificate: the contents of its issuer Name SEQUENCE, as webpki keeps names
/// (and trust anchors their subjects).
pub(crate) fn cert_issuer(cert_der: &[u8]) -> Option<&[u8]> {
    expect(from_issuer(cert_der)?, SEQUENCE).map(|(issuer, _)| issuer.contents)
}

/// The `Validity` SEQUENCE of a certificate, encoded (tag and length included).
pub(crate) fn cert_validity(cert_der: &[u8]) -> Option<&[u8]> {
    let (_issuer, rest) = expect(from_issuer(cert_der)?, SEQUENCE)?;
    expect(rest, SEQUENCE).map(|(validity, _)| validity.whole)
}

/// The fields of a certificate's TBS from its issuer on.
fn from_issuer(cert_der: &[u8]) -> Option<&[u8]> {
    let (outer, _) = expect(cert_der, SEQUENCE)?;
    let (tbs, _) = expect(outer.contents, SEQUENCE)?;
    let mut fields = tbs.contents;
    // [0] version (optional), serialNumber, signature AlgorithmIdentifier, then issuer.
    if let Some((_version, rest)) = read(fields).filter(|(v, _)| v.tag == 0xa0) {
        fields = rest;
    }
    let (_serial, rest) = read(fields)?;
    let (_algorithm, rest) = expect(rest, SEQUENCE)?;
    Some(rest)
}

/// The value (OCTET STRING contents) of a certificate's extension with OID contents `oid`.
pub(crate) fn cert_extension<'a>(cert_der: &'a [u8], oid: &[u8]) -> Option<&'a [u8]> {
    find_extension(extensions(cert_der)?, oid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let short = [0x04, 0x02, 0xaa, 0xbb, 0xff];
        let (tlv, rest) = read(&short).expect("short form");
        assert_eq!(tlv.contents, &[0xaa, 0xbb]);
        assert_eq!(rest, &[0xff]);

        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat_n(7u8, 0x80));
        let (tlv, rest) = read(&long).expect("long form");
        assert_eq!(tlv.contents.len(), 0x80);
        assert!(rest.is_empty());
    }

    #[test]
    fn never_panics_on_truncated_input() {
        let input = [0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00];
        for end in 0..=input.len() {
            assert!(read(&input[..end]).is_none());
            assert!(signed(&input[..end]).is_none());
            assert!(spki(&input[..end]).is_none());
            assert!(cert_extension(&input[..end], &[0x55, 0x1d, 0x1f]).is_none());
            assert!(cert_issuer(&input[..end]).is_none());
            assert!(cert_validity(&input[..end]).is_none());
            assert_eq!(crl_sign(&input[..end]), CrlSign::Absent);
        }
    }
}
