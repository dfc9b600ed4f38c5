use proptest::prelude::*;

use super::*;

fn set(ps: &[StringMatch], case: Case) -> StringSet {
    StringSet::new(ps, case).unwrap()
}

#[test]
fn table() {
    use StringMatch::*;
    let cases: &[(StringMatch, &str, bool)] = &[
        (Exact("a.example.com".into()), "a.example.com", true),
        (Exact("a.example.com".into()), "b.example.com", false),
        (
            Prefix("spiffe://td/ns/".into()),
            "spiffe://td/ns/prod",
            true,
        ),
        (Prefix("spiffe://td/ns/".into()), "spiffe://td/n", false),
        (Suffix(".example.com".into()), "x.example.com", true),
        (Suffix(".example.com".into()), "example.com", false),
        (Contains("-canary-".into()), "web-canary-1", true),
        (Regex("client-[0-9]+".into()), "client-42", true),
        (Regex("client-[0-9]+".into()), "xclient-42", false),
        (Wildcard("*.example.com".into()), "api.example.com", true),
        (Wildcard("*.example.com".into()), "API.Example.COM", true),
        (Wildcard("*.example.com".into()), "a.b.example.com", false),
        (Wildcard("*.example.com".into()), ".example.com", false),
        (Wildcard("*.example.com".into()), "example.com", false),
        (Glob("client-?.ex*".into()), "client-1.example", true),
        (Glob("client-?.ex*".into()), "client-12.example", false),
    ];
    for (p, v, want) in cases {
        assert_eq!(p.is_match(v, Case::Sensitive), *want, "{p} on {v}");
        assert_eq!(
            set(std::slice::from_ref(p), Case::Sensitive).is_match(v),
            *want,
            "{p} on {v}"
        );
    }
}

#[test]
fn prefix_table_is_minimised_but_still_answers() {
    let ps: Vec<_> = ["a", "ab", "abc", "b", "ba"]
        .iter()
        .map(|s| StringMatch::Prefix((*s).into()))
        .collect();
    let s = set(&ps, Case::Sensitive);
    assert_eq!(s.prefixes.len(), 2);
    assert!(s.is_match("abz") && s.is_match("bz") && !s.is_match("c"));
}

#[test]
fn bad_patterns_are_named() {
    assert_eq!(
        StringMatch::Wildcard("*example.com".into())
            .validate()
            .unwrap_err()
            .to_string(),
        "invalid wildcard \"*example.com\": expected `*.` followed by a domain without `*`"
    );
    let e = StringMatch::Regex("(".into()).validate().unwrap_err();
    assert!(e.to_string().starts_with("invalid regex \"(\": "), "{e}");
}

#[test]
fn suffixes_match_long_and_non_ascii_values() {
    let suffixes = set(
        &[
            StringMatch::Suffix(".example.com".into()),
            StringMatch::Suffix("-été".into()),
        ],
        Case::Insensitive,
    );
    // Far longer than any pattern: only its last bytes are looked up.
    let long = format!("{}.EXAMPLE.com", "a".repeat(300));
    assert!(suffixes.is_match(&long));
    assert!(!suffixes.is_match(&format!("{}.example.org", "a".repeat(300))));
    assert!(suffixes.is_match("café-été"));
    assert!(!suffixes.is_match("café-ete"));
    assert!(
        !suffixes.is_match("example.com"),
        "the dot is part of the suffix"
    );
}

#[test]
fn empty_set_matches_nothing() {
    assert!(!set(&[], Case::Sensitive).is_match(""));
}

fn small_str() -> impl Strategy<Value = String> {
    // A tiny alphabet makes overlaps, prefixes and suffixes likely.
    "[abAB.\\-/@]{0,6}"
}

fn pattern() -> impl Strategy<Value = StringMatch> {
    prop_oneof![
        small_str().prop_map(StringMatch::Exact),
        small_str().prop_map(StringMatch::Prefix),
        small_str().prop_map(StringMatch::Suffix),
        small_str().prop_map(StringMatch::Contains),
        "[abAB]{1,4}".prop_map(|s| StringMatch::Wildcard(format!("*.{s}"))),
        "[abAB.*?]{0,5}".prop_map(StringMatch::Glob),
        prop_oneof![
            Just("a+b?"),
            Just("[ab]*\\.b"),
            Just("(a|B)\\..*"),
            Just(".")
        ]
        .prop_map(|s| StringMatch::Regex(s.into())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn compiled_set_agrees_with_naive_reference(
        patterns in proptest::collection::vec(pattern(), 0..12),
        values in proptest::collection::vec(small_str(), 1..8),
        insensitive in any::<bool>(),
    ) {
        let case = if insensitive { Case::Insensitive } else { Case::Sensitive };
        let compiled = set(&patterns, case);
        for v in &values {
            let naive = patterns.iter().any(|p| p.is_match(v, case));
            prop_assert_eq!(compiled.is_match(v), naive, "value {:?} patterns {:?}", v, patterns);
        }
    }

    #[test]
    fn a_value_always_matches_its_own_exact_prefix_and_suffix(v in small_str()) {
        for p in [StringMatch::Exact(v.clone()), StringMatch::Prefix(v.clone()), StringMatch::Suffix(v.clone())] {
            prop_assert!(set(&[p], Case::Sensitive).is_match(&v));
        }
    }
}
