//! X.509 distinguished names as RFC 4514 strings, printed the way OpenSSL's `XN_FLAG_RFC2253`
//! (and so Envoy's `x-forwarded-client-cert` `Subject`) prints them.

use std::borrow::Cow;
use std::fmt::Write as _;

use x509_parser::asn1_rs::{Any, Class, Tag};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// Attribute types with a short name: DER content of the OID, its dotted form (checked against
/// the bytes by a test), and the name OpenSSL prints.
const SHORT_NAMES: &[(&[u8], &str, &str)] = &[
    (&[0x55, 0x04, 0x03], "2.5.4.3", "CN"),
    (&[0x55, 0x04, 0x04], "2.5.4.4", "SN"),
    (&[0x55, 0x04, 0x05], "2.5.4.5", "serialNumber"),
    (&[0x55, 0x04, 0x06], "2.5.4.6", "C"),
    (&[0x55, 0x04, 0x07], "2.5.4.7", "L"),
    (&[0x55, 0x04, 0x08], "2.5.4.8", "ST"),
    (&[0x55, 0x04, 0x09], "2.5.4.9", "STREET"),
    (&[0x55, 0x04, 0x0a], "2.5.4.10", "O"),
    (&[0x55, 0x04, 0x0b], "2.5.4.11", "OU"),
    (&[0x55, 0x04, 0x0c], "2.5.4.12", "title"),
    (&[0x55, 0x04, 0x2a], "2.5.4.42", "GN"),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
        "0.9.2342.19200300.100.1.25",
        "DC",
    ),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
        "0.9.2342.19200300.100.1.1",
        "UID",
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
        "1.2.840.113549.1.9.1",
        "emailAddress",
    ),
];

/// DER content of the `commonName` OID (2.5.4.3).
const CN: &[u8] = &[0x55, 0x04, 0x03];

/// Formats a name as an RFC 4514 string: RDNs in reverse order of the encoding joined with `,`,
/// the attributes of a multi-valued RDN joined with `+`, short names for the usual attribute
/// types (`CN`, `O`, `emailAddress`, ...) and dotted OIDs for the others.
///
/// String values are escaped per RFC 4514 (`,` `+` `"` `\` `<` `>` `;`, a leading `#` or space,
/// a trailing space) and control characters are written as `\XX` hex pairs, so the result is
/// always one line. A value that is not a character string, and the value of any attribute
/// whose type is printed as a dotted OID (RFC 4514 section 2.4), is written as `#` followed by
/// the hex of its DER encoding, as OpenSSL does.
pub(crate) fn rfc4514(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    for (i, rdn) in name
        .iter_rdn()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .enumerate()
    {
        if i > 0 {
            out.push(',');
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            write_attribute(&mut out, attr);
        }
    }
    out
}

/// The string value of the last `CN` attribute of a name, if it has one and it is a string.
pub(crate) fn common_name(name: &X509Name<'_>) -> Option<String> {
    name.iter_attributes()
        .filter(|attr| attr.attr_type().as_bytes() == CN)
        .last()
        .and_then(|attr| string_value(attr.attr_value()))
        .map(Cow::into_owned)
}

fn write_attribute(out: &mut String, attr: &AttributeTypeAndValue<'_>) {
    let oid = attr.attr_type();
    let short = SHORT_NAMES
        .iter()
        .find(|(der, _, _)| *der == oid.as_bytes())
        .map(|(_, _, short)| *short);
    match short {
        Some(short) => out.push_str(short),
        None => out.push_str(&oid.to_id_string()),
    }
    out.push('=');
    match short.and_then(|_| string_value(attr.attr_value())) {
        Some(value) => escape_value(out, &value),
        None => write_der_hex(out, attr.attr_value()),
    }
}

/// Decodes a character-string value. `None` for any other value, and for strings whose bytes
/// do not decode in their declared encoding.
fn string_value<'a>(value: &Any<'a>) -> Option<Cow<'a, str>> {
    if value.class() != Class::Universal || value.header.is_constructed() {
        return None;
    }
    let data = value.data;
    match value.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString => std::str::from_utf8(data).ok().map(Cow::Borrowed),
        // Read as ISO 8859-1, as OpenSSL does.
        Tag::T61String => Some(Cow::Owned(data.iter().map(|&b| char::from(b)).collect())),
        Tag::BmpString => {
            if data.len() % 2 != 0 {
                return None;
            }
            let units = data
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
                .map(Cow::Owned)
        }
        Tag::UniversalString => {
            if data.len() % 4 != 0 {
                return None;
            }
            data.chunks_exact(4)
                .map(|quad| {
                    char::from_u32(u32::from_be_bytes([quad[0], quad[1], quad[2], quad[3]]))
                })
                .collect::<Option<String>>()
                .map(Cow::Owned)
        }
        _ => None,
    }
}

fn escape_value(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            c if c.is_control() => {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\{b:02X}");
                }
            }
            c => out.push(c),
        }
    }
}

/// Writes `#` and the hex of the value's DER encoding (header and content).
fn write_der_hex(out: &mut String, value: &Any<'_>) {
    out.push('#');
    let class = value.class() as u8;
    let constructed = u8::from(value.header.is_constructed());
    let tag = value.tag().0;
    let first = (class << 6) | (constructed << 5);
    if tag < 31 {
        push_hex(out, &[first | tag as u8]);
    } else {
        push_hex(out, &[first | 0x1f]);
        push_hex(out, &base128(tag));
    }
    let len = value.data.len();
    if len < 0x80 {
        push_hex(out, &[len as u8]);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = &bytes[skip..];
        push_hex(out, &[0x80 | significant.len() as u8]);
        push_hex(out, significant);
    }
    push_hex(out, value.data);
}

/// A high tag number in base 128, most significant group first, continuation bit set on all
/// groups but the last.
fn base128(mut n: u32) -> Vec<u8> {
    let mut groups = vec![(n & 0x7f) as u8];
    n >>= 7;
    while n > 0 {
        groups.push((n & 0x7f) as u8 | 0x80);
        n >>= 7;
    }
    groups.reverse();
    groups
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(out, "{b:02X}");
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr as _;

    use x509_parser::asn1_rs::Oid;
    use x509_parser::prelude::FromDer as _;

    use super::*;

    /// DER TLV with a short (< 128) or long length.
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if content.len() < 0x80 {
            v.push(content.len() as u8);
        } else {
            v.push(0x82);
            v.extend_from_slice(&(content.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(content);
        v
    }

    fn oid(dotted: &str) -> Vec<u8> {
        let oid = Oid::from_str(dotted).expect("valid OID");
        tlv(0x06, oid.as_bytes())
    }

    fn atv(dotted: &str, value: Vec<u8>) -> Vec<u8> {
        tlv(0x30, &[oid(dotted), value].concat())
    }

    fn rdn(atvs: &[Vec<u8>]) -> Vec<u8> {
        tlv(0x31, &atvs.concat())
    }

    fn name(rdns: &[Vec<u8>]) -> Vec<u8> {
        tlv(0x30, &rdns.concat())
    }

    fn utf8(s: &str) -> Vec<u8> {
        tlv(0x0c, s.as_bytes())
    }

    fn format(der: &[u8]) -> (String, Option<String>) {
        let (rest, name) = X509Name::from_der(der).expect("valid name");
        assert!(rest.is_empty());
        (rfc4514(&name), common_name(&name))
    }

    #[test]
    fn short_name_table_matches_dotted_oids() {
        for (der, dotted, short) in SHORT_NAMES {
            let oid = Oid::from_str(dotted).expect("valid OID");
            assert_eq!(oid.as_bytes(), *der, "{short} {dotted}");
        }
    }

    #[test]
    fn reverse_order_and_multi_valued_rdn() {
        let der = name(&[
            rdn(&[atv("2.5.4.6", tlv(0x13, b"US"))]),
            rdn(&[atv("2.5.4.10", utf8("Example"))]),
            rdn(&[atv("2.5.4.11", utf8("eng")), atv("2.5.4.3", utf8("alice"))]),
        ]);
        assert_eq!(
            format(&der),
            (
                "OU=eng+CN=alice,O=Example,C=US".to_owned(),
                Some("alice".to_owned())
            )
        );
    }

    #[test]
    fn empty_name() {
        assert_eq!(format(&name(&[])), (String::new(), None));
    }

    #[test]
    fn every_short_name() {
        let rdns: Vec<_> = SHORT_NAMES
            .iter()
            .map(|(_, dotted, _)| rdn(&[atv(dotted, utf8("v"))]))
            .collect();
        let expected = "emailAddress=v,UID=v,DC=v,GN=v,title=v,OU=v,O=v,STREET=v,ST=v,L=v,C=v,\
                        serialNumber=v,SN=v,CN=v";
        assert_eq!(format(&name(&rdns)).0, expected);
    }

    #[test]
    fn last_cn_wins() {
        let der = name(&[
            rdn(&[atv("2.5.4.3", utf8("first"))]),
            rdn(&[atv("2.5.4.3", utf8("second"))]),
        ]);
        assert_eq!(
            format(&der),
            ("CN=second,CN=first".to_owned(), Some("second".to_owned()))
        );
    }

    #[test]
    fn escaping() {
        let cases = [
            ("a,b", "a\\,b"),
            ("a+b", "a\\+b"),
            ("a\"b", "a\\\"b"),
            ("a\\b", "a\\\\b"),
            ("<a>", "\\<a\\>"),
            ("a;b", "a\\;b"),
            ("#a#", "\\#a#"),
            (" a b ", "\\ a b\\ "),
            (" ", "\\ "),
            ("a\0b", "a\\00b"),
            ("line\nbreak\x7f", "line\\0Abreak\\7F"),
            ("\u{85}", "\\C2\\85"),
            ("a=b", "a=b"),
            ("grüße", "grüße"),
            ("", ""),
        ];
        for (value, escaped) in cases {
            let der = name(&[rdn(&[atv("2.5.4.3", utf8(value))])]);
            assert_eq!(
                format(&der),
                (format!("CN={escaped}"), Some(value.to_owned())),
                "{value:?}"
            );
        }
    }

    #[test]
    fn string_types() {
        let bmp: Vec<u8> = "Zoë€".encode_utf16().flat_map(u16::to_be_bytes).collect();
        let universal: Vec<u8> = "a😀"
            .chars()
            .flat_map(|c| (c as u32).to_be_bytes())
            .collect();
        let cases = [
            (tlv(0x13, b"Printable"), "Printable"),
            (tlv(0x16, b"ia5@x"), "ia5@x"),
            (tlv(0x12, b"123"), "123"),
            (tlv(0x1a, b"visible"), "visible"),
            (tlv(0x14, b"caf\xe9"), "café"),
            (tlv(0x1e, &bmp), "Zoë€"),
            (tlv(0x1c, &universal), "a😀"),
        ];
        for (value, expected) in cases {
            let der = name(&[rdn(&[atv("2.5.4.3", value)])]);
            assert_eq!(
                format(&der),
                (format!("CN={expected}"), Some(expected.to_owned()))
            );
        }
    }

    #[test]
    fn non_strings_are_der_hex() {
        let cases = [
            // An OCTET STRING.
            (tlv(0x04, &[0x01, 0xab]), "#040201AB"),
            // An INTEGER.
            (tlv(0x02, &[0x05]), "#020105"),
            // A BMPString of odd length and one with an unpaired surrogate.
            (tlv(0x1e, &[0x00, 0x41, 0x00]), "#1E03004100"),
            (tlv(0x1e, &[0xd8, 0x00]), "#1E02D800"),
            // A UniversalString that is not a scalar value.
            (tlv(0x1c, &[0x00, 0x11, 0x00, 0x00]), "#1C0400110000"),
            // A context-specific tag with the number of UTF8String.
            (tlv(0x8c, b"x"), "#8C0178"),
            // A long value: long-form length.
            (
                tlv(0x04, &[0x11; 200]),
                &format!("#0481C8{}", "11".repeat(200)),
            ),
        ];
        for (value, expected) in cases {
            let der = name(&[rdn(&[atv("2.5.4.3", value)])]);
            assert_eq!(format(&der), (format!("CN={expected}"), None));
        }
    }

    #[test]
    fn high_tag_number_der_hex() {
        // Universal class, tag number 200 (high tag number form).
        let value = vec![0x1f, 0x81, 0x48, 0x01, 0x7a];
        let der = name(&[rdn(&[atv("2.5.4.10", value)])]);
        assert_eq!(format(&der).0, "O=#1F8148017A");
        assert_eq!(base128(200), [0x81, 0x48]);
        assert_eq!(base128(0x7f), [0x7f]);
        assert_eq!(base128(0x4000), [0x81, 0x80, 0x00]);
    }

    #[test]
    fn unknown_attribute_types_are_dotted_oid_and_der_hex() {
        let der = name(&[
            rdn(&[atv("2.5.4.17", utf8("12345"))]),
            rdn(&[atv("1.3.6.1.4.1.99999.1", tlv(0x13, b"x"))]),
        ]);
        assert_eq!(
            format(&der).0,
            "1.3.6.1.4.1.99999.1=#130178,2.5.4.17=#0C053132333435"
        );
    }
}
