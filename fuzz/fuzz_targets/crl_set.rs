//! `cargo fuzz run crl_set`: the body is `mtls_fuzz_replay::crl_set`, which `cargo test -p mtls-fuzz-replay` replays over the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mtls_fuzz_replay::crl_set(data));
