//! One CRL as revocation reads it (RFC 5280 5.2, 5.3): its number, whether it is a delta CRL,
//! the scope its issuingDistributionPoint gives it, and its entries with the certificate issuer
//! each applies to (indirect CRLs). Read once, at load.

use webpki::RevocationReason;
use x509_parser::prelude::FromDer as _;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::der::{self, SEQUENCE};

/// Every reason of the ReasonFlags bit string that a CRL can cover (bits 1-8; bit 0,
/// `unused`, never counts).
pub(crate) const ALL_REASONS: u16 = 0x01fe;

/// Extension OIDs (DER contents) under id-ce (2.5.29).
const fn id_ce(n: u8) -> [u8; 3] {
    [0x55, 0x1d, n]
}
const CRL_NUMBER: [u8; 3] = id_ce(20);
const REASON_CODE: [u8; 3] = id_ce(21);
const HOLD_INSTRUCTION: [u8; 3] = id_ce(23);
const INVALIDITY_DATE: [u8; 3] = id_ce(24);
const DELTA_CRL_INDICATOR: [u8; 3] = id_ce(27);
const ISSUING_DISTRIBUTION_POINT: [u8; 3] = id_ce(28);
const CERTIFICATE_ISSUER: [u8; 3] = id_ce(29);
const AUTHORITY_KEY_IDENTIFIER: [u8; 3] = id_ce(35);
const ISSUER_ALT_NAME: [u8; 3] = id_ce(18);
const FRESHEST_CRL: [u8; 3] = id_ce(46);
/// id-pe-authorityInfoAccess (1.3.6.1.5.5.7.1.1).
const AUTHORITY_INFO_ACCESS: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01];

/// The scope an issuingDistributionPoint gives a CRL (RFC 5280 5.2.5).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Scope {
    /// The distribution point's names, each a whole GeneralName encoding (a
    /// nameRelativeToCRLIssuer is expanded to the directoryName it stands for). Empty: the
    /// CRL is not partitioned by distribution point.
    pub(crate) names: Vec<Vec<u8>>,
    /// `onlyContainsUserCerts`.
    pub(crate) only_user: bool,
    /// `onlyContainsCACerts`.
    pub(crate) only_ca: bool,
    /// `onlyContainsAttributeCerts`: the CRL is about no public-key certificate.
    pub(crate) only_attribute: bool,
    /// The reasons covered (`onlySomeReasons`, else [`ALL_REASONS`]).
    pub(crate) reasons: u16,
    /// `indirectCRL`: entries may be about certificates of other issuers.
    pub(crate) indirect: bool,
}

/// One entry of a CRL.
pub(crate) struct Entry {
    /// The issuer of the revoked certificate (the CRL issuer unless a certificateIssuer entry
    /// extension says otherwise).
    pub(crate) cert_issuer: Box<[u8]>,
    pub(crate) serial: Box<[u8]>,
    pub(crate) reason: Option<RevocationReason>,
}

/// What revocation keeps of one CRL.
pub(crate) struct CrlFacts {
    pub(crate) issuer: Box<[u8]>,
    /// The cRLNumber, big-endian without leading zeros, and whether it is critical.
    pub(crate) number: Option<(Box<[u8]>, bool)>,
    /// The deltaCRLIndicator's BaseCRLNumber: this is a delta CRL.
    pub(crate) delta_base: Option<Box<[u8]>>,
    pub(crate) scope: Scope,
    /// Why the CRL cannot be used at all (an unrecognised critical extension, RFC 5280 5.2
    /// and 5.3), if it cannot.
    pub(crate) unusable: Option<String>,
    pub(crate) entries: Vec<Entry>,
}

/// Reads `der`, a CRL mtls-core has already parsed.
pub(crate) fn read(der: &[u8]) -> Result<CrlFacts, String> {
    let (_, crl) = CertificateRevocationList::from_der(der).map_err(|e| e.to_string())?;
    // Names are kept as webpki gives them: the contents of the Name SEQUENCE.
    let issuer: Box<[u8]> =
        Box::from(name_contents(crl.issuer().as_raw()).ok_or("malformed issuer")?);
    let mut facts = CrlFacts {
        issuer: issuer.clone(),
        number: None,
        delta_base: None,
        scope: Scope {
            reasons: ALL_REASONS,
            ..Scope::default()
        },
        unusable: None,
        entries: Vec::new(),
    };
    for ext in crl.extensions() {
        let oid = ext.oid.as_bytes();
        let malformed = |what: &str| format!("malformed {what} extension");
        if oid == CRL_NUMBER {
            let n = integer(ext.value).ok_or_else(|| malformed("cRLNumber"))?;
            facts.number = Some((n, ext.critical));
        } else if oid == DELTA_CRL_INDICATOR {
            let n = integer(ext.value).ok_or_else(|| malformed("deltaCRLIndicator"))?;
            facts.delta_base = Some(n);
        } else if oid == ISSUING_DISTRIBUTION_POINT {
            facts.scope =
                idp(ext.value, &issuer).ok_or_else(|| malformed("issuingDistributionPoint"))?;
        } else if ext.critical
            && ![AUTHORITY_KEY_IDENTIFIER, ISSUER_ALT_NAME, FRESHEST_CRL]
                .iter()
                .any(|known| oid == known)
            && oid != AUTHORITY_INFO_ACCESS
        {
            facts.unusable = Some(format!("unrecognised critical CRL extension {}", ext.oid));
        }
    }
    let mut cert_issuer = issuer;
    for revoked in crl.iter_revoked_certificates() {
        let mut reason = None;
        for ext in revoked.extensions() {
            let oid = ext.oid.as_bytes();
            if oid == REASON_CODE {
                reason = Some(reason_code(ext.value).ok_or("malformed CRL entry reasonCode")?);
            } else if oid == CERTIFICATE_ISSUER && facts.scope.indirect {
                cert_issuer = directory_name(ext.value)
                    .ok_or("a certificateIssuer entry extension that is not one directoryName")?;
            } else if ext.critical && oid != HOLD_INSTRUCTION && oid != INVALIDITY_DATE {
                facts.unusable = Some(format!(
                    "unrecognised critical CRL entry extension {}",
                    ext.oid
                ));
            }
        }
        facts.entries.push(Entry {
            cert_issuer: cert_issuer.clone(),
            serial: Box::from(revoked.raw_serial()),
            reason,
        });
    }
    Ok(facts)
}

/// An INTEGER value (non-negative), big-endian without leading zero bytes.
fn integer(value: &[u8]) -> Option<Box<[u8]>> {
    let (int, rest) = der::read(value)?;
    if int.tag != 0x02 || !rest.is_empty() || int.contents.first().is_none_or(|b| b & 0x80 != 0) {
        return None;
    }
    let start = int
        .contents
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(int.contents.len());
    Some(Box::from(&int.contents[start..]))
}

/// A reasonCode entry extension (ENUMERATED).
fn reason_code(value: &[u8]) -> Option<RevocationReason> {
    let (code, rest) = der::read(value)?;
    match (code.tag, code.contents, rest.is_empty()) {
        (0x0a, [n], true) => RevocationReason::try_from(*n).ok(),
        _ => None,
    }
}

/// The Name of a GeneralNames holding exactly one directoryName.
fn directory_name(value: &[u8]) -> Option<Box<[u8]>> {
    let (names, rest) = der::read(value)?;
    let (name, more) = der::read(names.contents)?;
    if names.tag != SEQUENCE || !rest.is_empty() || !more.is_empty() {
        return None;
    }
    directory_name_of(name.whole).map(Box::from)
}

/// The contents of a Name (its SEQUENCE encoding).
fn name_contents(name: &[u8]) -> Option<&[u8]> {
    der::read(name)
        .filter(|(t, rest)| t.tag == SEQUENCE && rest.is_empty())
        .map(|(t, _)| t.contents)
}

/// Reads an issuingDistributionPoint value; `issuer` is the CRL issuer's Name (its contents).
fn idp(value: &[u8], issuer: &[u8]) -> Option<Scope> {
    let (seq, rest) = der::read(value)?;
    if seq.tag != SEQUENCE || !rest.is_empty() {
        return None;
    }
    let mut scope = Scope {
        reasons: ALL_REASONS,
        ..Scope::default()
    };
    let mut fields = seq.contents;
    while !fields.is_empty() {
        let (field, rest) = der::read(fields)?;
        fields = rest;
        let flag = || field.contents.first().is_some_and(|b| *b != 0);
        match field.tag {
            0xa0 => scope.names = dp_names(field.contents, issuer)?,
            0x81 => scope.only_user = flag(),
            0x82 => scope.only_ca = flag(),
            0x83 => scope.reasons = reason_flags(field.contents)? & ALL_REASONS,
            0x84 => scope.indirect = flag(),
            0x85 => scope.only_attribute = flag(),
            _ => return None,
        }
    }
    Some(scope)
}

/// A ReasonFlags BIT STRING's contents as a mask, bit n of the string at `1 << n`.
pub(crate) fn reason_flags(contents: &[u8]) -> Option<u16> {
    let (_unused, bits) = contents.split_first()?;
    let mut mask = 0u16;
    for (i, byte) in bits.iter().take(2).enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                mask |= 1 << (i * 8 + bit);
            }
        }
    }
    Some(mask)
}

/// The names of a DistributionPointName (the contents of its explicit `[0]` tag): the
/// GeneralNames of a fullName, or the directoryName a nameRelativeToCRLIssuer makes with
/// `base` (the CRL issuer's Name, its contents).
pub(crate) fn dp_names(contents: &[u8], base: &[u8]) -> Option<Vec<Vec<u8>>> {
    let (choice, rest) = der::read(contents)?;
    if !rest.is_empty() {
        return None;
    }
    match choice.tag {
        0xa0 => {
            let mut names = Vec::new();
            let mut input = choice.contents;
            while !input.is_empty() {
                let (name, rest) = der::read(input)?;
                input = rest;
                names.push(name.whole.to_vec());
            }
            Some(names)
        }
        0xa1 => {
            let mut rdns = base.to_vec();
            rdns.extend(tlv(0x31, choice.contents));
            Some(vec![tlv(0xa4, &tlv(SEQUENCE, &rdns))])
        }
        _ => None,
    }
}

/// One DER TLV.
pub(crate) fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
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

/// One distribution point of a certificate's cRLDistributionPoints (RFC 5280 4.2.1.13).
pub(crate) struct DistributionPoint {
    /// Its names (whole GeneralName encodings); empty when it gives none.
    pub(crate) names: Vec<Vec<u8>>,
    /// The reasons its CRLs cover ([`ALL_REASONS`] when it does not say).
    pub(crate) reasons: u16,
    /// Its cRLIssuer names (whole GeneralName encodings); empty when the CRL issuer is the
    /// certificate's issuer.
    pub(crate) crl_issuer: Vec<Vec<u8>>,
}

/// The cRLDistributionPoints of `cert` (issued by `issuer`, a Name's contents); `None` when the
/// certificate has none or they are malformed.
pub(crate) fn distribution_points(cert: &[u8], issuer: &[u8]) -> Option<Vec<DistributionPoint>> {
    let value = der::cert_extension(cert, &id_ce(31))?;
    let (seq, _) = der::read(value).filter(|(t, rest)| t.tag == SEQUENCE && rest.is_empty())?;
    let mut points = Vec::new();
    let mut input = seq.contents;
    while !input.is_empty() {
        let (dp, rest) = der::read(input).filter(|(t, _)| t.tag == SEQUENCE)?;
        input = rest;
        let mut point = DistributionPoint {
            names: Vec::new(),
            reasons: ALL_REASONS,
            crl_issuer: Vec::new(),
        };
        let mut name = None;
        let mut fields = dp.contents;
        while !fields.is_empty() {
            let (field, rest) = der::read(fields)?;
            fields = rest;
            match field.tag {
                0xa0 => name = Some(field.contents),
                0x81 => point.reasons = reason_flags(field.contents)? & ALL_REASONS,
                0xa2 => {
                    let mut names = field.contents;
                    while !names.is_empty() {
                        let (n, rest) = der::read(names)?;
                        names = rest;
                        point.crl_issuer.push(n.whole.to_vec());
                    }
                }
                _ => return None,
            }
        }
        if let Some(name) = name {
            // A relative name is relative to the CRL issuer: the cRLIssuer when given.
            let base = point
                .crl_issuer
                .iter()
                .find_map(|n| directory_name_of(n))
                .unwrap_or(issuer);
            point.names = dp_names(name, base)?;
        }
        points.push(point);
    }
    Some(points)
}

/// The Name (its contents, as webpki gives names) inside a directoryName GeneralName encoding.
pub(crate) fn directory_name_of(general_name: &[u8]) -> Option<&[u8]> {
    der::read(general_name)
        .filter(|(t, rest)| t.tag == 0xa4 && rest.is_empty())
        .and_then(|(t, _)| name_contents(t.contents))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_flags_number_bits_from_the_first() {
        // keyCompromise (1) and cACompromise (2): 0b0110_0000, 5 unused bits.
        assert_eq!(reason_flags(&[5, 0x60]), Some(0b110));
        // aACompromise (8) sits in the second byte.
        assert_eq!(reason_flags(&[7, 0, 0x80]), Some(1 << 8));
        assert_eq!(reason_flags(&[]), None);
    }

    #[test]
    fn a_relative_name_extends_the_crl_issuer() {
        let cn = tlv(
            SEQUENCE,
            &[tlv(0x06, &[0x55, 0x04, 0x03]), tlv(0x13, b"CA")].concat(),
        );
        let issuer = tlv(0x31, &cn);
        let rdn = tlv(
            SEQUENCE,
            &[tlv(0x06, &[0x55, 0x04, 0x0b]), tlv(0x13, b"part")].concat(),
        );
        let names = dp_names(&tlv(0xa1, &rdn), &issuer).expect("well formed");
        let expected = tlv(0xa4, &tlv(SEQUENCE, &[issuer, tlv(0x31, &rdn)].concat()));
        assert_eq!(names, vec![expected.clone()]);
        assert_eq!(
            directory_name_of(&expected),
            Some(&expected[4..]),
            "the Name's contents, after the [4] and SEQUENCE headers"
        );
    }

    #[test]
    fn reads_a_certificates_distribution_points() {
        let mut params = rcgen::CertificateParams::new(vec!["a.test".to_owned()]).expect("name");
        params.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
            uris: vec!["http://crl.test/a.crl".to_owned()],
        }];
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("certificate");
        let der = cert.der().as_ref();
        let points = distribution_points(der, &[]).expect("one point");
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].names, vec![tlv(0x86, b"http://crl.test/a.crl")]);
        assert_eq!(points[0].reasons, ALL_REASONS);
        assert!(points[0].crl_issuer.is_empty());
        for end in 0..der.len() {
            let _ = distribution_points(&der[..end], &[]);
        }
    }

    #[test]
    fn never_panics_on_truncated_input() {
        let uri = tlv(0x86, b"http://crl.test/a.crl");
        let idp_value = tlv(
            SEQUENCE,
            &[tlv(0xa0, &tlv(0xa0, &uri)), tlv(0x81, &[0xff])].concat(),
        );
        let scope = idp(&idp_value, &[]).expect("well formed");
        assert_eq!(scope.names, vec![uri]);
        assert!(scope.only_user);
        for end in 0..idp_value.len() {
            assert!(idp(&idp_value[..end], &[]).is_none());
        }
        assert!(read(&idp_value).is_err(), "not a CRL");
    }
}
