//! How a name of each form is compared with a name-constraint subtree of its form (RFC 5280
//! 4.2.1.10), and which names can be compared at all.

/// A host name (letters, digits, `-`, `_`; a wildcard `*` first label), as a dNSName must be
/// to be compared with constraints.
pub(super) fn dns_name(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// `name` is `base` or below it; `.base`: strictly below it. Both lower case.
pub(super) fn dns_within(name: &str, base: &str) -> bool {
    let name = name.trim_end_matches('.');
    let base = base.trim_end_matches('.');
    if base.is_empty() {
        return true;
    }
    if base.starts_with('.') {
        return name.len() > base.len() && name.ends_with(base);
    }
    name == base
        || name
            .strip_suffix(base)
            .is_some_and(|head| head.ends_with('.'))
}

/// A host (case-insensitive) equal to `base`, or below `.base`.
pub(super) fn host_within(host: &str, base: &str) -> bool {
    let (host, base) = (host.to_ascii_lowercase(), base.to_ascii_lowercase());
    if base.starts_with('.') {
        host.len() > base.len() && host.ends_with(&base)
    } else {
        host == base
    }
}

/// A mailbox within an rfc822Name subtree: the mailbox itself, its host, or a domain above it.
pub(super) fn email_within(name: &str, base: &str) -> bool {
    let Some((local, host)) = mailbox(name) else {
        return false;
    };
    match base.rsplit_once('@') {
        Some((base_local, base_host)) => {
            local == base_local && host.eq_ignore_ascii_case(base_host)
        }
        None => host_within(host, base),
    }
}

/// The local part and host of a mailbox (RFC 5321 `Mailbox`: one `@` outside a quoted local
/// part, neither side empty); `None` for anything else.
pub(super) fn mailbox(name: &str) -> Option<(&str, &str)> {
    let (local, host) = name.rsplit_once('@')?;
    let quoted = local.len() >= 2 && local.starts_with('"') && local.ends_with('"');
    let valid = !local.is_empty()
        && !host.is_empty()
        && (quoted || !local.contains(['@', '"', ' ']))
        && !host.contains(['@', ' '])
        && name.is_ascii();
    valid.then_some((local, host))
}

/// The host of a URI with an authority (`scheme://[userinfo@]host[:port]...`).
pub(super) fn uri_host(uri: &str) -> Option<&str> {
    let (_, rest) = uri.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

/// An address within an address-and-mask constraint of the same family.
pub(super) fn ip_within(name: &[u8], base: &[u8]) -> bool {
    let (net, mask) = base.split_at(base.len() / 2);
    name.len() == net.len()
        && name
            .iter()
            .zip(net)
            .zip(mask)
            .all(|((n, a), m)| n & m == a & m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_subtrees() {
        assert!(dns_within("a.example.com", "example.com"));
        assert!(dns_within("example.com", "example.com"));
        assert!(!dns_within("badexample.com", "example.com"));
        assert!(!dns_within("example.com", ".example.com"));
        assert!(dns_within("a.example.com", ".example.com"));
        assert!(dns_within("anything", ""));
        assert!(dns_name("*.example.com") && dns_name("a_b.example."));
        assert!(!dns_name("exa mple.com") && !dns_name("a..b") && !dns_name(".a") && !dns_name(""));
    }

    #[test]
    fn email_subtrees() {
        assert!(email_within("user@example.com", "user@EXAMPLE.com"));
        assert!(!email_within("User@example.com", "user@example.com"));
        assert!(email_within("user@example.com", "example.com"));
        assert!(!email_within("user@mail.example.com", "example.com"));
        assert!(email_within("user@mail.example.com", ".example.com"));
        assert!(!email_within("user@example.com", ".example.com"));
        assert!(email_within("*@example.com", "*@example.com"));
        assert!(!email_within("not-a-mailbox", "example.com"));
        assert!(!email_within("invalid@address@example.com", "example.com"));
        assert!(email_within("\"odd@local\"@example.com", "example.com"));
    }

    #[test]
    fn uri_subtrees_read_the_host() {
        let within = |uri: &str, base: &str| uri_host(uri).is_some_and(|h| host_within(h, base));
        assert!(within(
            "spiffe://example.org/ns/default/sa/web",
            "example.org"
        ));
        assert!(!within("spiffe://evil.org/ns/default", "example.org"));
        assert!(within(
            "https://user@Host.example.com:8443/x",
            ".example.com"
        ));
        assert!(!within("https://example.com/", ".example.com"));
        assert!(within("http://[2001:db8::1]:80/", "2001:db8::1"));
        assert!(!within("urn:example:abc", "example"));
    }

    #[test]
    fn ip_subtrees() {
        assert!(ip_within(&[10, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]));
        assert!(!ip_within(&[11, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]));
        assert!(!ip_within(&[0; 16], &[10, 0, 0, 0, 255, 0, 0, 0]));
    }
}
