//! `cargo fuzz run pem_chain`: the body is `mtls_fuzz_replay::pem_chain`, which `cargo test -p mtls-fuzz-replay` replays over the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mtls_fuzz_replay::pem_chain(data));
