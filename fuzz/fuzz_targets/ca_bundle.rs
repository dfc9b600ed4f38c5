//! `cargo fuzz run ca_bundle`: the body is `mtls_fuzz_replay::ca_bundle`, which `cargo test -p mtls-fuzz-replay` replays over the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mtls_fuzz_replay::ca_bundle(data));
