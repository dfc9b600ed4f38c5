//! `cargo fuzz run policy_yaml`: the body is `mtls_fuzz_replay::policy_yaml`, which `cargo test -p mtls-fuzz-replay` replays over the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mtls_fuzz_replay::policy_yaml(data));
