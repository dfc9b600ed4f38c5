//! `cargo fuzz run peer_identity`: the body is `mtls_fuzz_replay::peer_identity`, which `cargo test -p mtls-fuzz-replay` replays over the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mtls_fuzz_replay::peer_identity(data));
