//! `cargo fuzz run private_key`: the body is `mtls_fuzz_replay::private_key`, which `cargo test -p mtls-fuzz-replay` replays over the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mtls_fuzz_replay::private_key(data));
