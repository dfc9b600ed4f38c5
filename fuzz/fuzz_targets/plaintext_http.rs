//! `cargo fuzz run plaintext_http`: the body is `mtls_fuzz_replay::plaintext_http`, which `cargo test -p mtls-fuzz-replay` replays over the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mtls_fuzz_replay::plaintext_http(data));
