//! `cargo fuzz run secret_map`: the body is `mtls_fuzz_replay::secret_map`, which `cargo test -p mtls-fuzz-replay` replays over the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mtls_fuzz_replay::secret_map(data));
