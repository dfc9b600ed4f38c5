//! Envoy's `x-forwarded-client-cert` (XFCC) header: formatting and parsing.
//!
//! The header is a `,`-separated list of elements (one per proxy that handled the request); an
//! element is a `;`-separated list of `Key=value` pairs. Keys are case-insensitive (`By`,
//! `Hash`, `Cert`, `Chain`, `Subject`, `URI`, `DNS`); values are case-sensitive. A value
//! containing `,` `;` `=` is double-quoted, and inside quotes `"` is written `\"`.
//!
//! Two choices where Envoy's documentation is silent:
//! - Inside quotes a backslash is written `\\` too, so that every value round-trips (Envoy
//!   writes a subject's RFC 4514 backslash escapes unchanged; our parser reads `\x` as `x`).
//!   Like Envoy, `Subject`, `Cert` and `Chain` are always quoted; other values are quoted when
//!   they contain `,` `;` `=` `"` `\` or start or end with a space or tab.
//! - [`parse_xfcc`] keeps unknown keys (in [`XfccElement::other`]) rather than rejecting them.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// What Envoy leaves unescaped when it URL-encodes a PEM (`urlEncodeQueryParameter`):
/// the RFC 3986 unreserved characters.
const URL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One XFCC element: what one proxy says about the client certificate it saw.
///
/// ```
/// use mtls_tower::layer::{XfccElement, parse_xfcc};
///
/// let mut element = XfccElement::default();
/// element.hash = Some("aa11".into());
/// element.subject = Some("CN=client,O=Example".into());
/// element.uri.push("spiffe://example.org/ns/default/sa/web".into());
/// let header = element.to_string();
/// assert_eq!(header, r#"Hash=aa11;Subject="CN=client,O=Example";URI=spiffe://example.org/ns/default/sa/web"#);
/// assert_eq!(parse_xfcc(&header)?, vec![element]);
/// # Ok::<(), mtls_tower::layer::XfccError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct XfccElement {
    /// `By`: the URI(s) of the proxy that verified the certificate.
    pub by: Vec<String>,
    /// `Hash`: SHA-256 of the DER certificate, lowercase hex.
    pub hash: Option<String>,
    /// `Cert`: the certificate as PEM (URL-encoded on the wire, decoded here).
    pub cert: Option<String>,
    /// `Chain`: the whole chain, leaf first, as PEM (URL-encoded on the wire, decoded here).
    pub chain: Option<String>,
    /// `Subject`: the subject, RFC 4514.
    pub subject: Option<String>,
    /// `URI`: each URI SAN (Envoy writes one empty `URI=` when there is none).
    pub uri: Vec<String>,
    /// `DNS`: each DNS SAN.
    pub dns: Vec<String>,
    /// Pairs with any other key, in order (written after the known keys).
    pub other: Vec<(String, String)>,
}

impl XfccElement {
    /// Whether the element has no pair at all.
    pub fn is_empty(&self) -> bool {
        self.by.is_empty()
            && self.hash.is_none()
            && self.cert.is_none()
            && self.chain.is_none()
            && self.subject.is_none()
            && self.uri.is_empty()
            && self.dns.is_empty()
            && self.other.is_empty()
    }
}

/// Writes the pairs in Envoy's order: `By`, `Hash`, `Subject`, `URI`, `Cert`, `Chain`, `DNS`,
/// then the other keys.
impl fmt::Display for XfccElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut pair = |f: &mut fmt::Formatter<'_>, key: &str, value: &str, quote: bool| {
            if !std::mem::take(&mut first) {
                f.write_str(";")?;
            }
            f.write_str(key)?;
            f.write_str("=")?;
            write_value(f, value, quote)
        };
        for v in &self.by {
            pair(f, "By", v, false)?;
        }
        if let Some(v) = &self.hash {
            pair(f, "Hash", v, false)?;
        }
        if let Some(v) = &self.subject {
            pair(f, "Subject", v, true)?;
        }
        for v in &self.uri {
            pair(f, "URI", v, false)?;
        }
        if let Some(v) = &self.cert {
            pair(
                f,
                "Cert",
                &utf8_percent_encode(v, URL_ENCODE).to_string(),
                true,
            )?;
        }
        if let Some(v) = &self.chain {
            pair(
                f,
                "Chain",
                &utf8_percent_encode(v, URL_ENCODE).to_string(),
                true,
            )?;
        }
        for v in &self.dns {
            pair(f, "DNS", v, false)?;
        }
        for (k, v) in &self.other {
            pair(f, k, v, false)?;
        }
        Ok(())
    }
}

fn write_value(f: &mut fmt::Formatter<'_>, value: &str, force_quotes: bool) -> fmt::Result {
    let edge_space = value.starts_with([' ', '\t']) || value.ends_with([' ', '\t']);
    if !force_quotes && !edge_space && !value.contains([',', ';', '=', '"', '\\']) {
        return f.write_str(value);
    }
    f.write_str("\"")?;
    let mut rest = value;
    while let Some(i) = rest.find(['"', '\\']) {
        f.write_str(&rest[..i])?;
        f.write_str("\\")?;
        f.write_str(&rest[i..=i])?;
        rest = &rest[i + 1..];
    }
    f.write_str(rest)?;
    f.write_str("\"")
}

/// Formats elements as one header value, `,`-separated.
pub fn format_xfcc(elements: &[XfccElement]) -> String {
    let mut out = String::new();
    for (i, e) in elements.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&e.to_string());
    }
    out
}

/// Why an XFCC value did not parse; `at` is a byte offset into the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XfccError {
    /// An element or a pair is empty (`a=1;;b=2`, `a=1,,b=2`, a trailing `;` or `,`).
    #[error("empty element or key=value pair at byte {at}")]
    EmptyPair {
        /// Where.
        at: usize,
    },
    /// A key without `=`.
    #[error("key without `=` at byte {at}")]
    MissingEquals {
        /// Where the key starts.
        at: usize,
    },
    /// `=value` without a key.
    #[error("empty key at byte {at}")]
    EmptyKey {
        /// Where.
        at: usize,
    },
    /// A quoted value without its closing quote.
    #[error("quoted value opened at byte {at} is not closed")]
    UnterminatedQuote {
        /// Where the opening quote is.
        at: usize,
    },
    /// Something other than `;` or `,` after a closing quote.
    #[error("unexpected character after a closing quote at byte {at}")]
    TrailingAfterQuote {
        /// Where.
        at: usize,
    },
    /// A single-valued key (`Hash`, `Cert`, `Chain`, `Subject`) twice in one element.
    #[error("{key} appears twice in one element (at byte {at})")]
    DuplicateKey {
        /// The key, canonical spelling.
        key: &'static str,
        /// Where the second one starts.
        at: usize,
    },
    /// A `Cert` or `Chain` value that does not URL-decode to UTF-8.
    #[error("{key} at byte {at} does not URL-decode to UTF-8 text")]
    BadEncoding {
        /// The key, canonical spelling.
        key: &'static str,
        /// Where the pair starts.
        at: usize,
    },
}

const OWS: [char; 2] = [' ', '\t'];

fn skip_ows(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    i
}

fn set_once(
    slot: &mut Option<String>,
    key: &'static str,
    at: usize,
    v: String,
) -> Result<(), XfccError> {
    if slot.replace(v).is_some() {
        return Err(XfccError::DuplicateKey { key, at });
    }
    Ok(())
}

/// Parses an XFCC header value into its elements. An empty (or blank) value is no element.
///
/// Never panics; every malformed input is an [`XfccError`] with its byte offset.
///
/// ```
/// use mtls_tower::layer::{XfccError, parse_xfcc};
///
/// let elements = parse_xfcc(r#"By=spiffe://a/gw;Hash=ab12;URI=spiffe://a/x,hash=cd34;DNS=x.example"#)?;
/// assert_eq!(elements.len(), 2);
/// assert_eq!(elements[1].dns, ["x.example"]);
/// assert_eq!(parse_xfcc(r#"Subject="CN=a"#), Err(XfccError::UnterminatedQuote { at: 8 }));
/// # Ok::<(), XfccError>(())
/// ```
pub fn parse_xfcc(input: &str) -> Result<Vec<XfccElement>, XfccError> {
    let b = input.as_bytes();
    let mut elements = Vec::new();
    if input.trim_matches(OWS).is_empty() {
        return Ok(elements);
    }
    let mut cur = XfccElement::default();
    let mut i = 0;
    loop {
        let at = skip_ows(b, i);
        i = at;
        if i == b.len() || b[i] == b';' || b[i] == b',' {
            return Err(XfccError::EmptyPair { at });
        }
        while i < b.len() && !matches!(b[i], b'=' | b';' | b',') {
            i += 1;
        }
        if i == b.len() || b[i] != b'=' {
            return Err(XfccError::MissingEquals { at });
        }
        let key = input[at..i].trim_matches(OWS);
        if key.is_empty() {
            return Err(XfccError::EmptyKey { at });
        }
        i = skip_ows(b, i + 1);
        let value = if i < b.len() && b[i] == b'"' {
            let open = i;
            let mut v = String::new();
            i += 1;
            let mut run = i;
            loop {
                match b.get(i) {
                    None => return Err(XfccError::UnterminatedQuote { at: open }),
                    Some(b'"') => break,
                    Some(b'\\') => {
                        if i + 1 >= b.len() {
                            return Err(XfccError::UnterminatedQuote { at: open });
                        }
                        v.push_str(&input[run..i]);
                        // The escaped character starts the next run (it may be multi-byte;
                        // its continuation bytes are never `"` or `\`).
                        run = i + 1;
                        i += 2;
                    }
                    Some(_) => i += 1,
                }
            }
            v.push_str(&input[run..i]);
            i = skip_ows(b, i + 1);
            if i < b.len() && b[i] != b';' && b[i] != b',' {
                return Err(XfccError::TrailingAfterQuote { at: i });
            }
            v
        } else {
            let start = i;
            while i < b.len() && b[i] != b';' && b[i] != b',' {
                i += 1;
            }
            input[start..i].trim_matches(OWS).to_owned()
        };
        let decode = |key: &'static str, v: &str| {
            percent_decode_str(v)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| XfccError::BadEncoding { key, at })
        };
        match key.to_ascii_lowercase().as_str() {
            "by" => cur.by.push(value),
            "hash" => set_once(&mut cur.hash, "Hash", at, value)?,
            "cert" => set_once(&mut cur.cert, "Cert", at, decode("Cert", &value)?)?,
            "chain" => set_once(&mut cur.chain, "Chain", at, decode("Chain", &value)?)?,
            "subject" => set_once(&mut cur.subject, "Subject", at, value)?,
            "uri" => cur.uri.push(value),
            "dns" => cur.dns.push(value),
            _ => cur.other.push((key.to_owned(), value)),
        }
        match b.get(i) {
            None => {
                elements.push(cur);
                return Ok(elements);
            }
            Some(b',') => elements.push(std::mem::take(&mut cur)),
            _ => {}
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoy_documentation_example() {
        let h = r#"By=http://frontend.lyft.com;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";URI=http://testclient.lyft.com"#;
        let e = parse_xfcc(h).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].by, ["http://frontend.lyft.com"]);
        assert_eq!(
            e[0].subject.as_deref(),
            Some("/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client")
        );
        assert_eq!(e[0].uri, ["http://testclient.lyft.com"]);
        assert_eq!(format_xfcc(&e), h);
    }

    #[test]
    fn quoting_and_escaping() {
        let e = XfccElement {
            by: vec!["a,b".into()],
            subject: Some(r#"CN=say \"hi\""#.into()),
            dns: vec![" x".into()],
            ..Default::default()
        };
        let s = e.to_string();
        assert_eq!(s, r#"By="a,b";Subject="CN=say \\\"hi\\\"";DNS=" x""#);
        assert_eq!(parse_xfcc(&s).unwrap(), vec![e]);
    }

    #[test]
    fn cert_is_url_encoded() {
        let e = XfccElement {
            cert: Some("-----BEGIN CERTIFICATE-----\nAB+/=\n-----END CERTIFICATE-----\n".into()),
            ..Default::default()
        };
        assert_eq!(
            e.to_string(),
            r#"Cert="-----BEGIN%20CERTIFICATE-----%0AAB%2B%2F%3D%0A-----END%20CERTIFICATE-----%0A""#
        );
    }

    #[test]
    fn bad_inputs() {
        use XfccError::*;
        let cases: &[(&str, XfccError)] = &[
            ("Hash=a;", EmptyPair { at: 7 }),
            ("Hash=a,,URI=b", EmptyPair { at: 7 }),
            (";", EmptyPair { at: 0 }),
            ("Hash", MissingEquals { at: 0 }),
            ("Hash=a;URI", MissingEquals { at: 7 }),
            ("=a", EmptyKey { at: 0 }),
            ("Subject=\"abc", UnterminatedQuote { at: 8 }),
            ("Subject=\"abc\\", UnterminatedQuote { at: 8 }),
            ("Subject=\"a\"b", TrailingAfterQuote { at: 11 }),
            ("Hash=a;hash=b", DuplicateKey { key: "Hash", at: 7 }),
            ("Cert=%FF", BadEncoding { key: "Cert", at: 0 }),
        ];
        for (input, want) in cases {
            assert_eq!(parse_xfcc(input).as_ref(), Err(want), "{input:?}");
        }
        assert_eq!(parse_xfcc("  ").unwrap(), vec![]);
    }
}
