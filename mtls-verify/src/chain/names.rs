//! Distinguished names compared per RFC 5280 7.1: attribute values of the string types
//! (PrintableString, UTF8String, BMPString, UniversalString, TeletexString, IA5String) compare
//! as text after RFC 4518-style preparation (leading and trailing whitespace removed, inner
//! runs of whitespace folded to one space, case folded), whatever string type encodes them (a
//! PrintableString and a UTF8String of the same text are the same name: a CA's rollover from one
//! to the other); every other value compares by its encoding. The RDNs compare in order, the
//! attributes of a multi-valued RDN as a set. Names with the same encoding are the same name
//! without any of that work.

use std::collections::HashMap;

use rustls_pki_types::TrustAnchor;
use x509_parser::prelude::FromDer as _;
use x509_parser::x509::X509Name;

/// A distinguished name prepared for comparison.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Name {
    /// Each RDN's attributes (type OID contents, prepared value), sorted.
    rdns: Vec<Vec<(Vec<u8>, Value)>>,
}

/// An attribute value prepared for comparison.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Value {
    /// A string type, prepared.
    Text(String),
    /// Any other type: its tag and contents.
    Raw(u32, Vec<u8>),
}

impl Name {
    /// Prepares a parsed name.
    pub(crate) fn of(name: &X509Name<'_>) -> Self {
        let rdns = name
            .iter()
            .map(|rdn| {
                let mut attrs: Vec<_> = rdn
                    .iter()
                    .map(|atv| {
                        let value = atv.attr_value();
                        let prepared = text(value.tag().0, value.data)
                            .map(|t| Value::Text(prepare(&t)))
                            .unwrap_or_else(|| Value::Raw(value.tag().0, value.data.to_vec()));
                        (atv.attr_type().as_bytes().to_vec(), prepared)
                    })
                    .collect();
                attrs.sort();
                attrs
            })
            .collect();
        Self { rdns }
    }

    /// Prepares the DER of a Name (its SEQUENCE included); `None` when it does not parse.
    pub(crate) fn from_der(der: &[u8]) -> Option<Self> {
        X509Name::from_der(der)
            .ok()
            .filter(|(rest, _)| rest.is_empty())
            .map(|(_, n)| Self::of(&n))
    }

    /// Whether the name has no RDN.
    pub(crate) fn is_empty(&self) -> bool {
        self.rdns.is_empty()
    }

    /// Whether `self` is within the subtree `base` (RFC 5280 4.2.1.10: `base`'s RDNs are the
    /// first RDNs of `self`).
    pub(crate) fn within(&self, base: &Self) -> bool {
        base.rdns.len() <= self.rdns.len() && self.rdns.iter().zip(&base.rdns).all(|(a, b)| a == b)
    }
}

/// A trust domain's anchors by subject compared per RFC 5280 7.1, built at load: our own path
/// building finds the anchors a chain may end at in constant time, whatever the size of the
/// bundle.
#[derive(Debug, Default)]
pub(crate) struct AnchorNames(HashMap<Name, Vec<usize>>);

impl AnchorNames {
    /// Indexes `anchors` (an anchor whose subject does not parse is left out).
    pub(crate) fn new(anchors: &[TrustAnchor<'_>]) -> Self {
        let mut index: HashMap<Name, Vec<usize>> = HashMap::new();
        for (k, anchor) in anchors.iter().enumerate() {
            if let Some(name) = Self::name(anchor) {
                index.entry(name).or_default().push(k);
            }
        }
        Self(index)
    }

    /// The subject of `anchor`, prepared.
    pub(crate) fn name(anchor: &TrustAnchor<'_>) -> Option<Name> {
        Name::from_der(&sequence(anchor.subject.as_ref()))
    }

    /// The indices of the anchors named `name`.
    pub(crate) fn get(&self, name: &Name) -> &[usize] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }
}

/// `contents` as a DER SEQUENCE.
pub(super) fn sequence(contents: &[u8]) -> Vec<u8> {
    let len = contents.len();
    let mut out = Vec::with_capacity(len + 6);
    out.push(0x30);
    let bytes = len.to_be_bytes();
    match u8::try_from(len) {
        Ok(short) if short < 0x80 => out.push(short),
        _ => {
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            let count = bytes.len() - skip; // at most 8
            out.push(0x80 | u8::try_from(count).unwrap_or(8));
            out.extend(bytes.iter().skip(skip));
        }
    }
    out.extend(contents);
    out
}

/// Whether two encoded names are the same name per RFC 5280 7.1.
pub(crate) fn same(a: &X509Name<'_>, b: &X509Name<'_>) -> bool {
    a.as_raw() == b.as_raw() || Name::of(a) == Name::of(b)
}

/// The text of a value of a string type (`None`: not a string type, or not decodable).
fn text(tag: u32, data: &[u8]) -> Option<String> {
    match tag {
        // UTF8String
        12 => std::str::from_utf8(data).ok().map(str::to_owned),
        // PrintableString, IA5String, VisibleString: ASCII
        19 | 22 | 26 => data
            .is_ascii()
            .then(|| String::from_utf8_lossy(data).into_owned()),
        // TeletexString: read as Latin-1, as most implementations do
        20 => Some(data.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UTF-16BE
        30 => {
            let units: Vec<u16> = data
                .chunks(2)
                .map(|c| match c {
                    [hi, lo] => Some(u16::from_be_bytes([*hi, *lo])),
                    _ => None,
                })
                .collect::<Option<_>>()?;
            String::from_utf16(&units).ok()
        }
        // UniversalString: UTF-32BE
        28 => data
            .chunks(4)
            .map(|c| match c {
                [a, b, c, d] => char::from_u32(u32::from_be_bytes([*a, *b, *c, *d])),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// Whitespace trimmed and folded, case folded.
fn prepare(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `SEQUENCE { SET { SEQUENCE { OID cn, <tag> value } } }`.
    fn cn(tag: u8, value: &[u8]) -> Vec<u8> {
        let atv_len = 5 + 2 + value.len();
        let mut der = vec![0x30, (atv_len + 4) as u8, 0x31, (atv_len + 2) as u8];
        der.extend([0x30, atv_len as u8, 0x06, 0x03, 0x55, 0x04, 0x03]);
        der.extend([tag, value.len() as u8]);
        der.extend(value);
        der
    }

    fn name(der: &[u8]) -> Name {
        Name::from_der(der).unwrap()
    }

    #[test]
    fn case_and_whitespace_fold() {
        let a = name(&cn(0x13, b"Good CA"));
        assert_eq!(a, name(&cn(0x13, b"  good   ca ")));
        assert_eq!(a, name(&cn(0x0c, b"GOOD CA")));
        assert_ne!(a, name(&cn(0x13, b"Good CA2")));
    }

    #[test]
    fn string_types_compare_as_text() {
        let bmp: Vec<u8> = "Good CA"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert_eq!(name(&cn(0x13, b"Good CA")), name(&cn(0x1e, &bmp)));
        // A non-string type compares by its encoding.
        assert_ne!(name(&cn(0x04, b"Good CA")), name(&cn(0x13, b"Good CA")));
    }

    #[test]
    fn subtrees_are_rdn_prefixes() {
        let base = name(&cn(0x13, b"a"));
        assert!(base.within(&base));
        assert!(!base.within(&name(&cn(0x13, b"b"))));
        assert!(Name::from_der(&[0x30, 0x00]).unwrap().is_empty());
    }
}
