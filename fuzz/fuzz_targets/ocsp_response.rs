//! `cargo fuzz run ocsp_response`: the body is `mtls_fuzz_replay::ocsp_response`, which `cargo test -p mtls-fuzz-replay` replays over the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mtls_fuzz_replay::ocsp_response(data));
