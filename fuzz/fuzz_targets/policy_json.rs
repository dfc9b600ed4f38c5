//! `cargo fuzz run policy_json`: the body is `mtls_fuzz_replay::policy_json`, which `cargo test -p mtls-fuzz-replay` replays over the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mtls_fuzz_replay::policy_json(data));
