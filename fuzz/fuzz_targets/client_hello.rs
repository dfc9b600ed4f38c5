//! `cargo fuzz run client_hello`: the body is `mtls_fuzz_replay::client_hello`, which `cargo test -p mtls-fuzz-replay` replays over the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mtls_fuzz_replay::client_hello(data));
