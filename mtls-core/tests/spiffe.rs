//! `SpiffeId::parse` against every rule of the SPIFFE ID spec.

use std::str::FromStr;

use mtls_core::spiffe::MAX_SPIFFE_ID_LEN;
use mtls_core::{SpiffeId, SpiffeIdError};
use proptest::prelude::*;

use SpiffeIdError::*;

#[test]
fn valid_ids() {
    let cases = [
        ("spiffe://example.org", "example.org", ""),
        (
            "spiffe://cluster.local/ns/default/sa/web",
            "cluster.local",
            "/ns/default/sa/web",
        ),
        ("spiffe://a", "a", ""),
        ("spiffe://0-9._a", "0-9._a", ""),
        (
            "spiffe://td/Path.With-Upper_09",
            "td",
            "/Path.With-Upper_09",
        ),
        ("spiffe://td/...", "td", "/..."),
        ("spiffe://td/.a/a./..b", "td", "/.a/a./..b"),
        ("spiffe://td/-/_", "td", "/-/_"),
        ("spiffe://...", "...", ""),
    ];
    for (s, trust_domain, path) in cases {
        let id = SpiffeId::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        assert_eq!(id.as_str(), s);
        assert_eq!(id.trust_domain(), trust_domain, "{s}");
        assert_eq!(id.path(), path, "{s}");
        assert_eq!(id.to_string(), s);
        assert_eq!(AsRef::<str>::as_ref(&id), s);
        assert_eq!(SpiffeId::from_str(s).as_ref(), Ok(&id));
        assert_eq!(s.parse::<SpiffeId>().as_ref(), Ok(&id));
        assert_eq!(SpiffeId::try_from(s).as_ref(), Ok(&id));
    }
}

#[test]
fn every_rule_with_its_exact_error() {
    let cases: &[(&str, SpiffeIdError)] = &[
        // Empty input.
        ("", Empty),
        // Scheme: exactly lowercase `spiffe://`.
        ("SPIFFE://example.org", WrongScheme),
        ("Spiffe://example.org", WrongScheme),
        ("spiffe:/example.org", WrongScheme),
        ("spiffe:example.org", WrongScheme),
        ("spiffe//example.org", WrongScheme),
        ("https://example.org", WrongScheme),
        ("example.org/path", WrongScheme),
        (" spiffe://example.org", WrongScheme),
        ("spiffe", WrongScheme),
        // Trust domain: non-empty.
        ("spiffe://", EmptyTrustDomain),
        ("spiffe:///path", EmptyTrustDomain),
        ("spiffe:////", EmptyTrustDomain),
        // Trust domain: only [a-z0-9.-_]; uppercase, port, userinfo and the rest rejected.
        ("spiffe://Example.org", BadTrustDomainChar('E')),
        ("spiffe://example.ORG/path", BadTrustDomainChar('O')),
        ("spiffe://example.org:8080", BadTrustDomainChar(':')),
        ("spiffe://example.org:8080/path", BadTrustDomainChar(':')),
        ("spiffe://user@example.org", BadTrustDomainChar('@')),
        ("spiffe://user:pw@example.org", BadTrustDomainChar(':')),
        ("spiffe://[::1]", BadTrustDomainChar('[')),
        ("spiffe://exa mple.org", BadTrustDomainChar(' ')),
        ("spiffe://exämple.org", BadTrustDomainChar('ä')),
        ("spiffe://example.org?query", BadTrustDomainChar('?')),
        ("spiffe://example.org#frag", BadTrustDomainChar('#')),
        ("spiffe://example%2Eorg", BadTrustDomainChar('%')),
        ("spiffe://example.org\n", BadTrustDomainChar('\n')),
        ("spiffe://example.org\\path", BadTrustDomainChar('\\')),
        // Path: no trailing slash.
        ("spiffe://example.org/", TrailingSlash),
        ("spiffe://example.org/path/", TrailingSlash),
        // Path: no empty segment.
        ("spiffe://example.org//", EmptySegment),
        ("spiffe://example.org//path", EmptySegment),
        ("spiffe://example.org/a//b", EmptySegment),
        // Path: no `.` or `..` segment.
        ("spiffe://example.org/.", DotSegment(".".into())),
        ("spiffe://example.org/..", DotSegment("..".into())),
        ("spiffe://example.org/a/./b", DotSegment(".".into())),
        ("spiffe://example.org/a/../b", DotSegment("..".into())),
        ("spiffe://example.org/a/..", DotSegment("..".into())),
        // Path: only [a-zA-Z0-9.-_]; no query, no fragment, no percent-encoding.
        ("spiffe://example.org/path?query", BadPathChar('?')),
        ("spiffe://example.org/path#frag", BadPathChar('#')),
        ("spiffe://example.org/pa%20th", BadPathChar('%')),
        ("spiffe://example.org/p:ath", BadPathChar(':')),
        ("spiffe://example.org/p@th", BadPathChar('@')),
        ("spiffe://example.org/sp ace", BadPathChar(' ')),
        ("spiffe://example.org/ümlaut", BadPathChar('ü')),
        ("spiffe://example.org/a+b", BadPathChar('+')),
        ("spiffe://example.org/a~b", BadPathChar('~')),
        ("spiffe://example.org/tab\t", BadPathChar('\t')),
        // A bad character is reported before the shape of its segment.
        ("spiffe://example.org/a/.?", BadPathChar('?')),
    ];
    for (s, expected) in cases {
        assert_eq!(SpiffeId::parse(s).as_ref(), Err(expected), "{s:?}");
        assert_eq!(s.parse::<SpiffeId>().as_ref(), Err(expected), "{s:?}");
    }
}

#[test]
fn length_limit_is_2048_bytes() {
    assert_eq!(MAX_SPIFFE_ID_LEN, 2048);
    let prefix = "spiffe://example.org/";
    let at_limit = format!("{prefix}{}", "a".repeat(2048 - prefix.len()));
    assert_eq!(at_limit.len(), 2048);
    assert_eq!(
        SpiffeId::parse(&at_limit).map(|id| id.to_string()),
        Ok(at_limit.clone())
    );

    let over = format!("{at_limit}a");
    assert_eq!(SpiffeId::parse(&over), Err(TooLong(2049)));
    // The limit counts bytes, not characters, and is checked before anything else.
    let wide = format!("spiffe://{}", "é".repeat(1020));
    assert_eq!(SpiffeId::parse(&wide), Err(TooLong(2049)));
    assert_eq!(SpiffeId::parse(&"x".repeat(5000)), Err(TooLong(5000)));
}

#[test]
fn error_messages() {
    let cases = [
        (Empty, "empty SPIFFE ID"),
        (WrongScheme, "scheme is not spiffe:// (exactly, lowercase)"),
        (EmptyTrustDomain, "empty trust domain"),
        (
            BadTrustDomainChar(':'),
            "trust domain has invalid character ':' (allowed: lowercase letters, digits, '.', '-', '_')",
        ),
        (EmptySegment, "empty path segment"),
        (TrailingSlash, "path has a trailing '/'"),
        (
            DotSegment("..".into()),
            "path segment \"..\" is not allowed",
        ),
        (
            BadPathChar('\n'),
            "path has invalid character '\\n' (allowed: letters, digits, '.', '-', '_')",
        ),
        (
            TooLong(2049),
            "2049 bytes long, longer than the 2048 allowed",
        ),
        (
            MultipleSpiffeUris(3),
            "3 spiffe:// URI SANs, an X509-SVID has exactly one",
        ),
    ];
    for (error, message) in cases {
        assert_eq!(error.to_string(), message);
    }
}

#[test]
fn ordering_and_hashing_are_by_the_string() {
    let a = SpiffeId::parse("spiffe://a/x").expect("valid");
    let b = SpiffeId::parse("spiffe://b").expect("valid");
    assert!(a < b);
    let set: std::collections::HashSet<_> = [a.clone(), a.clone(), b].into_iter().collect();
    assert_eq!(set.len(), 2);
}

/// Strings close to SPIFFE IDs: the valid alphabet plus the characters that break the rules.
fn near_spiffe() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![
        8 => Just("spiffe://".to_owned()),
        1 => Just("SPIFFE://".to_owned()),
        1 => "[a-z:/]{0,10}",
    ];
    let trust_domain = "[a-z0-9._\\-A-Z:@%?#é]{0,12}";
    let path = prop::collection::vec("[a-zA-Z0-9._\\-%?#/ é]{0,6}", 0..5)
        .prop_map(|segments| segments.iter().map(|s| format!("/{s}")).collect::<String>());
    (scheme, trust_domain, path).prop_map(|(s, td, p)| format!("{s}{td}{p}"))
}

/// Strings that are always valid SPIFFE IDs.
fn valid_spiffe() -> impl Strategy<Value = (String, String)> {
    let trust_domain = "[a-z0-9._\\-]{1,20}";
    let segment = "[a-zA-Z0-9._\\-]{1,8}".prop_filter("dot segments", |s| s != "." && s != "..");
    let path = prop::collection::vec(segment, 0..6)
        .prop_map(|segments| segments.iter().map(|s| format!("/{s}")).collect::<String>());
    (trust_domain, path)
}

fn check_accepted(s: &str) -> Result<(), TestCaseError> {
    if let Ok(id) = SpiffeId::parse(s) {
        let displayed = id.to_string();
        prop_assert_eq!(displayed.as_str(), s);
        let again = SpiffeId::parse(&displayed);
        prop_assert_eq!(again.as_ref(), Ok(&id));
        prop_assert_eq!(format!("spiffe://{}{}", id.trust_domain(), id.path()), s);
        prop_assert!(s.len() <= 2048);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics_on_any_string(s in any::<String>()) {
        check_accepted(&s)?;
        let with_scheme = format!("spiffe://{s}");
        check_accepted(&with_scheme)?;
    }

    #[test]
    fn parse_never_panics_near_the_grammar(s in near_spiffe()) {
        check_accepted(&s)?;
    }

    #[test]
    fn valid_ids_are_accepted_and_round_trip((td, path) in valid_spiffe()) {
        let s = format!("spiffe://{td}{path}");
        let id = SpiffeId::parse(&s);
        prop_assert!(id.is_ok(), "{:?} rejected: {:?}", s, id);
        prop_assert_eq!(id.as_ref().map(SpiffeId::trust_domain), Ok(td.as_str()));
        prop_assert_eq!(id.as_ref().map(SpiffeId::path), Ok(path.as_str()));
        check_accepted(&s)?;
    }
}
