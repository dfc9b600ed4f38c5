//! `cargo fuzz run forward_headers`: the body is `mtls_fuzz_replay::forward_headers`, which `cargo test -p mtls-fuzz-replay` replays over the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mtls_fuzz_replay::forward_headers(data));
