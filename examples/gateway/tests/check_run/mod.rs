//! Runs `mtls-gateway check` as a user does: the real binary, from a directory, with
//! arguments; what it printed and its exit code.

use std::path::Path;
use std::process::Command;

/// What a `check` run gave.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n{}{}", self.code, self.stdout, self.stderr)
    }
}

/// `mtls-gateway check ARGS...` run from `dir`.
pub(crate) fn check(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
        .current_dir(dir)
        .arg("check")
        .args(args)
        .output()
        .expect("the gateway binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
