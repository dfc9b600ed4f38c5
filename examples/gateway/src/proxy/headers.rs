//! The headers the proxy manages itself: the hop-by-hop ones it removes (RFC 9110 7.6.1) and
//! the `x-forwarded-*` ones it sets for the upstream.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use mtls_tower::layer::is_identity_header;

/// `x-forwarded-for`.
pub(crate) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `x-forwarded-proto`.
pub(crate) const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `x-forwarded-host`.
pub(crate) const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Hop-by-hop headers (RFC 9110 7.6.1, plus the legacy ones proxies still see).
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
];

/// Removes the hop-by-hop headers and those `Connection` names (except the identity headers
/// the `MtlsLayer` set and `Host`: a client cannot make us drop those). On a request,
/// `te: trailers` is kept.
pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap, request: bool) {
    // Most messages carry none of them: one pass over the names tells, cheaper than a lookup
    // per listed name.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    let mut named: Vec<HeaderName> = Vec::new();
    for value in headers.get_all(header::CONNECTION) {
        let Ok(value) = value.to_str() else { continue };
        for token in value.split(',').map(str::trim) {
            if let Ok(name) = HeaderName::from_bytes(token.as_bytes())
                && name != header::HOST
                && !is_identity_header(&name)
            {
                named.push(name);
            }
        }
    }
    let trailers = request
        && headers.get_all(header::TE).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',').any(|t| {
                    t.split(';')
                        .next()
                        .is_some_and(|t| t.trim().eq_ignore_ascii_case("trailers"))
                })
            })
        });
    for name in named.iter().chain(&HOP_BY_HOP) {
        headers.remove(name);
    }
    if trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

/// `ip` as a header value (`x-forwarded-for`), IPv4 without going through `fmt`.
pub(super) fn ip_value(ip: IpAddr) -> HeaderValue {
    let IpAddr::V4(v4) = ip else {
        return HeaderValue::try_from(ip.to_string())
            .unwrap_or(HeaderValue::from_static("unknown"));
    };
    let mut text = [0u8; 15];
    let mut len = 0;
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text[len] = b'.';
            len += 1;
        }
        if octet >= 100 {
            text[len] = b'0' + octet / 100;
            len += 1;
        }
        if octet >= 10 {
            text[len] = b'0' + octet / 10 % 10;
            len += 1;
        }
        text[len] = b'0' + octet % 10;
        len += 1;
    }
    HeaderValue::from_bytes(&text[..len]).unwrap_or(HeaderValue::from_static("unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_values_match_the_standard_formatting() {
        let addresses = [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.255.9",
            "1.10.100.200",
            "255.255.255.255",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:192.0.2.1",
        ];
        for text in addresses {
            let ip: IpAddr = text.parse().expect("test address");
            assert_eq!(ip_value(ip), ip.to_string(), "{text}");
        }
    }

    #[test]
    fn messages_without_hop_by_hop_headers_are_left_as_they_are() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("a.example"));
        headers.append(header::ACCEPT, HeaderValue::from_static("text/plain"));
        headers.append(header::ACCEPT, HeaderValue::from_static("text/html"));
        headers.insert("x-custom", HeaderValue::from_static("1"));
        let before = headers.clone();
        strip_hop_by_hop(&mut headers, true);
        assert_eq!(headers, before);

        // One hop-by-hop header among them takes the full path: it goes, with what
        // `Connection` names, and `te: trailers` survives on a request.
        headers.insert(header::CONNECTION, HeaderValue::from_static("x-custom"));
        headers.insert(header::TE, HeaderValue::from_static("trailers, gzip"));
        strip_hop_by_hop(&mut headers, true);
        assert!(!headers.contains_key(header::CONNECTION));
        assert!(!headers.contains_key("x-custom"));
        assert_eq!(headers[header::TE], "trailers");
        assert_eq!(headers.get_all(header::ACCEPT).iter().count(), 2);
    }
}
