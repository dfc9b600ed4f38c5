//! PEM encoding with `\n` line endings (what openssl and curl write).

use pem::{EncodeConfig, LineEnding, Pem};

pub(crate) fn encode(label: &str, der: &[u8]) -> String {
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
