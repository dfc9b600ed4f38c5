//! The README's axum program is this example's `src/main.rs`, so what the README shows is what
//! CI compiles and `tests/run.rs` runs.

/// The first ```rust block after `heading` in `markdown`.
fn rust_block_after<'a>(markdown: &'a str, heading: &str) -> &'a str {
    let section = markdown
        .split_once(heading)
        .unwrap_or_else(|| panic!("README has no {heading:?}"))
        .1;
    let body = section
        .split_once("```rust\n")
        .expect("a ```rust block in the section")
        .1;
    body.split_once("```").expect("the block ends").0
}

#[test]
fn the_readme_snippet_is_the_example_program() {
    let readme = include_str!("../../../README.md");
    let main = include_str!("../src/main.rs");
    // The program without its module doc (which says how to run it from this directory).
    let program: String = main
        .lines()
        .skip_while(|l| l.starts_with("//!") || l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    let snippet = rust_block_after(readme, "## Protecting an axum app");
    assert_eq!(
        snippet, program,
        "README.md's axum snippet and examples/axum-mtls/src/main.rs differ: keep them identical"
    );
}
