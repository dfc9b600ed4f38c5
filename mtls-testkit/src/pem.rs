//! PEM encoding with `\n` line endings (what openssl and curl write).

use pem::{EncodeConfig, LineEnding, Pem};

/// One PEM block labelled `label` (`CERTIFICATE`, `PRIVATE KEY`, ...) holding `der`, with `\n`
/// line endings: for tests that write material the kit has no method for, such as a hand-made
/// key structure.
pub fn encode(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &Pem::new(label, der),
        EncodeConfig::new().set_line_ending(LineEnding::LF),
    )
}

/// Concatenated `CERTIFICATE` blocks.
pub(crate) fn certs<'a>(ders: impl IntoIterator<Item = &'a [u8]>) -> String {
    ders.into_iter()
        .map(|der| encode("CERTIFICATE", der))
        .collect()
}
