//! Reading PEM (many blocks, text between them tolerated) or a single DER object.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::pem::{self, PemObject as _, SectionKind};

use crate::error::{Error, ErrorKind, Expected, Origin};

/// One decoded object of the input.
pub(crate) struct Block {
    /// Zero-based index among the PEM blocks of the input (0 for DER input).
    pub(crate) index: usize,
    /// The PEM block type, or `None` for DER input.
    pub(crate) kind: Option<SectionKind>,
    /// The DER bytes.
    pub(crate) der: Vec<u8>,
}

/// Whether the input looks like PEM: a `-----BEGIN ` line somewhere in it.
fn is_pem(input: &[u8]) -> bool {
    input.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Splits `input` into its objects: every PEM block of a known type, or the whole input as one
/// DER object when it is not PEM.
pub(crate) fn read_blocks(input: &[u8], expected: Expected) -> Result<Vec<Block>, ErrorKind> {
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(ErrorKind::Empty(expected));
    }
    if !is_pem(input) {
        // A DER object is one SEQUENCE (tag 0x30).
        return match input.first() {
            Some(0x30) => Ok(vec![Block {
                index: 0,
                kind: None,
                der: input.to_vec(),
            }]),
            _ => Err(ErrorKind::NotPemOrDer {
                expected,
                detail: "input has no -----BEGIN line and does not start with a DER SEQUENCE"
                    .into(),
            }),
        };
    }
    let mut blocks = Vec::new();
    for (index, item) in <(SectionKind, Vec<u8>)>::pem_slice_iter(input).enumerate() {
        match item {
            Ok((kind, der)) => blocks.push(Block {
                index,
                kind: Some(kind),
                der,
            }),
            Err(e) => {
                return Err(ErrorKind::MalformedPem {
                    index,
                    detail: describe_pem_error(&e),
                });
            }
        }
    }
    Ok(blocks)
}

fn describe_pem_error(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "no matching \"-----END {}-----\" line",
            String::from_utf8_lossy(end_marker).trim()
        ),
        pem::Error::IllegalSectionStart { line } => format!(
            "malformed BEGIN line {:?}",
            String::from_utf8_lossy(&line[..line.len().min(80)])
        ),
        pem::Error::Base64Decode(d) => format!("the block body is not valid base64 ({d})"),
        other => other.to_string(),
    }
}

/// The labels of every `-----BEGIN <label>-----` line, for messages.
pub(crate) fn labels_seen(input: &[u8]) -> String {
    let text = String::from_utf8_lossy(input);
    let labels: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-----BEGIN "))
        .map(|l| l.trim_end_matches('-'))
        .collect();
    if labels.is_empty() {
        "none".into()
    } else {
        labels.join(", ")
    }
}

/// Reads a file, naming it in the error.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::new(Origin::file(path), ErrorKind::Io(e)))
}

/// The regular files of a directory (symlinks followed), sorted by name, skipping names that
/// start with `.` (Kubernetes' `..data` and `..<timestamp>` entries).
pub(crate) fn dir_files(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>, Error> {
    let io_err = |e| Error::new(Origin::file(dir), ErrorKind::Io(e));
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        // `metadata` follows symlinks: a mounted secret's keys are links into `..data/`.
        let meta = std::fs::metadata(&path)
            .map_err(|e| Error::new(Origin::file(&path), ErrorKind::Io(e)))?;
        if meta.is_file() {
            files.push((name, path));
        }
    }
    files.sort();
    Ok(files)
}

/// Calls `add` with the bytes of every file of `dir` (see [`dir_files`]); an error of `add` is
/// reported against that file; a directory with no file is [`ErrorKind::EmptyDirectory`].
pub(crate) fn for_each_file(
    dir: &Path,
    expected: Expected,
    mut add: impl FnMut(&[u8]) -> Result<(), ErrorKind>,
) -> Result<(), Error> {
    let files = dir_files(dir)?;
    if files.is_empty() {
        return Err(Error::new(
            Origin::file(dir),
            ErrorKind::EmptyDirectory(expected),
        ));
    }
    for (_, path) in files {
        let input = read_file(&path)?;
        add(&input).map_err(|kind| Error::new(Origin::file(&path), kind))?;
    }
    Ok(())
}

/// Seconds since the Unix epoch (negative before it) as a `SystemTime`, saturating.
pub(crate) fn system_time(timestamp: i64) -> SystemTime {
    let magnitude = Duration::from_secs(timestamp.unsigned_abs());
    if timestamp >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    }
    .unwrap_or(UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_der_and_rejects_text() {
        assert!(matches!(
            read_blocks(b"hello", Expected::Certificate),
            Err(ErrorKind::NotPemOrDer { .. })
        ));
        assert!(matches!(
            read_blocks(b" \n\t", Expected::Crl),
            Err(ErrorKind::Empty(Expected::Crl))
        ));
        let blocks = read_blocks(&[0x30, 0x00], Expected::Certificate).unwrap();
        assert_eq!(blocks.len(), 1);
        assert!(blocks[0].kind.is_none());
    }

    #[test]
    fn unterminated_block_is_named() {
        let err = read_blocks(
            b"-----BEGIN CERTIFICATE-----\nMIIB\n",
            Expected::Certificate,
        )
        .err()
        .unwrap();
        assert_eq!(
            err.to_string(),
            "PEM block 0: malformed PEM: no matching \"-----END CERTIFICATE-----\" line"
        );
    }

    #[test]
    fn labels_are_listed() {
        let input = b"junk\n-----BEGIN FOO-----\nAA==\n-----END FOO-----\n";
        assert_eq!(labels_seen(input), "FOO");
        assert_eq!(labels_seen(b"nothing"), "none");
    }

    #[test]
    fn times_saturate() {
        assert_eq!(system_time(0), UNIX_EPOCH);
        assert!(system_time(-86_400) < UNIX_EPOCH);
        assert!(system_time(i64::MIN) <= UNIX_EPOCH);
        let _ = system_time(i64::MAX);
    }
}
