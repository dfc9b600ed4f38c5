//! `cargo fuzz run chain_veto`: the body is `mtls_fuzz_replay::chain_veto`, which `cargo test -p mtls-fuzz-replay` replays over the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mtls_fuzz_replay::chain_veto(data));
