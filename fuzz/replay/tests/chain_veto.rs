//! `chain_veto`, beyond the corpus replay (`tests/replay.rs`): a bounded run over generated
//! inputs, where our verifier must overrule only the webpki refusals the veto lists, and the
//! verdicts of each committed seed ([`CHAIN_VETO_SEEDS`], written by `tests/corpus.rs`), so the
//! target keeps reaching the cases it is for.

use std::path::Path;

use mtls_fuzz_replay::{CHAIN_VETO_SEEDS, chain_veto, chain_veto_verdict};

/// How many generated inputs the bounded run checks.
const RUNS: u32 = 400;

/// Per seed: whether our verifier accepts it, and how rustls-webpki alone refuses it (`None`:
/// it accepts).
const VERDICTS: &[(&str, bool, Option<&str>)] = &[
    ("valid", true, None),
    ("one-intermediate", true, None),
    ("two-intermediates-reversed", true, None),
    (
        "email-constraint-permits",
        true,
        Some("NameConstraintViolation"),
    ),
    (
        "email-constraint-refuses",
        false,
        Some("NameConstraintViolation"),
    ),
    (
        "dirname-constraint-permits",
        true,
        Some("NameConstraintViolation"),
    ),
    (
        "dirname-constraint-refuses",
        false,
        Some("NameConstraintViolation"),
    ),
    (
        "critical-policies-on-intermediate",
        true,
        Some("UnsupportedCriticalExtension"),
    ),
    ("issuer-named-in-other-bytes", true, Some("UnknownIssuer")),
    ("self-issued-intermediate", true, None),
    ("intermediate-without-keycertsign", false, None),
    ("expired-intermediate", false, Some("CertExpired")),
    (
        "unknown-critical-extension",
        false,
        Some("UnsupportedCriticalExtension"),
    ),
];

#[test]
fn each_seed_gets_the_verdicts_it_is_named_for() {
    assert_eq!(CHAIN_VETO_SEEDS.len(), VERDICTS.len());
    for ((name, data), (named, ours, webpki)) in CHAIN_VETO_SEEDS.iter().zip(VERDICTS) {
        assert_eq!(name, named);
        let verdict = chain_veto_verdict(data).unwrap_or_else(|| panic!("{name}: no chain"));
        assert_eq!(verdict.ours_accepts, *ours, "{name}: {verdict:?}");
        let refusal = verdict.webpki_refusal.as_ref().map(|e| format!("{e:?}"));
        match (webpki, &refusal) {
            (None, None) => {}
            (Some(want), Some(got)) if got.starts_with(want) => {}
            _ => panic!("{name}: webpki {refusal:?}, expected {webpki:?}"),
        }
        chain_veto(data);
    }
}

#[test]
fn the_committed_seeds_are_these() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/chain_veto");
    for (name, data) in CHAIN_VETO_SEEDS {
        let file = dir.join(format!("seed-{name}"));
        let committed = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(&committed, data, "{}", file.display());
    }
}

/// xorshift64: the generated inputs are the same on every run.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn generated_chains_overrule_webpki_only_where_the_veto_lists() {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let (mut built, mut overruled) = (0, 0);
    for _ in 0..RUNS {
        let len = 1 + (next(&mut state) % 24) as usize;
        let data: Vec<u8> = (0..len).map(|_| next(&mut state) as u8).collect();
        // The assertion of the target itself; a panic follows the input it names.
        eprintln!("input {data:02x?}");
        chain_veto(&data);
        if let Some(verdict) = chain_veto_verdict(&data) {
            built += 1;
            if verdict.ours_accepts && verdict.webpki_refusal.is_some() {
                overruled += 1;
            }
        }
    }
    assert!(
        built > RUNS / 2,
        "only {built} of {RUNS} inputs built a chain"
    );
    assert!(
        overruled > 0,
        "no generated chain reached our own path validation"
    );
}
