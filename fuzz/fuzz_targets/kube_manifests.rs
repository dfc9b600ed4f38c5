//! `cargo fuzz run kube_manifests`: the body is `mtls_fuzz_replay::kube_manifests`, which `cargo test -p mtls-fuzz-replay` replays over the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mtls_fuzz_replay::kube_manifests(data));
