//! Replays every committed fuzz input (`fuzz/corpus/<target>/*`, `fuzz/regressions/<target>/*`)
//! through the same function the fuzz target runs, on stable Rust: a crash once fixed stays
//! fixed, and the seeds keep exercising the parsers even where nobody runs `cargo fuzz`.

use std::path::{Path, PathBuf};

use mtls_fuzz_replay::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.file_name().is_none_or(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_and_regression_input_replays_without_panic() {
    let mut total = 0;
    for (name, target) in TARGETS {
        let corpus = inputs(&fuzz_dir().join("corpus").join(name));
        assert!(!corpus.is_empty(), "fuzz/corpus/{name}/ has no seed");
        let regressions = inputs(&fuzz_dir().join("regressions").join(name));
        for file in corpus.iter().chain(&regressions) {
            let data = std::fs::read(file).unwrap();
            // A panic names the file in the test output through this message.
            eprintln!("replaying {}", file.display());
            target(&data);
            total += 1;
        }
    }
    assert!(total >= TARGETS.len());
}

#[test]
fn every_fuzz_target_binary_runs_a_replayed_body() {
    let mut binaries: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            path.file_stem().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    binaries.sort();
    let mut names: Vec<String> = TARGETS.iter().map(|(n, _)| (*n).to_owned()).collect();
    names.sort();
    assert_eq!(binaries, names);
    for name in &names {
        let body =
            std::fs::read_to_string(fuzz_dir().join("fuzz_targets").join(format!("{name}.rs")))
                .unwrap();
        assert!(
            body.contains(&format!("mtls_fuzz_replay::{name}(data)")),
            "fuzz_targets/{name}.rs does not call mtls_fuzz_replay::{name}"
        );
    }
}
