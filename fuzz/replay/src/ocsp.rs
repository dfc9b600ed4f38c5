//! The `ocsp_response` target: an OCSP response through `mtls_verify::ocsp`'s parser and every
//! check after it.

use std::sync::OnceLock;
use std::time::Duration;

use mtls_verify::ocsp::{OcspRequest, OcspVerifier};
use rustls_pki_types::UnixTime;

/// The nonce of the request a seed answers (the seeds' requests were made with it).
pub const OCSP_SEED_NONCE: [u8; 16] = [0x5a; 16];

/// One length-prefixed field and the rest.
fn field(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = data.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// Splits `u16 BE length, issuer DER, u16 BE length, client DER, response DER`.
pub fn split_ocsp_input(data: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (issuer, rest) = field(data)?;
    let (client, response) = field(rest)?;
    Some((issuer, client, response))
}

/// Joins an issuer, a client certificate and a response into one `ocsp_response` input.
pub fn join_ocsp_input(issuer: &[u8], client: &[u8], response: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in [issuer, client] {
        let len = u16::try_from(field.len()).unwrap_or(u16::MAX);
        out.extend(len.to_be_bytes());
        out.extend(&field[..usize::from(len)]);
    }
    out.extend(response);
    out
}

/// Input `issuer ‖ client ‖ response` ([`split_ocsp_input`]): the response verified as the
/// answer to requests for that client, with and without [`OCSP_SEED_NONCE`], so a mutated
/// seed reaches the signer, CertID, time and nonce checks. Input that does not split, or
/// whose certificates make no request, is verified as an answer about the testkit's client,
/// which it can never satisfy: its issuer's key is generated in this process.
pub fn ocsp_response(data: &[u8]) {
    let provider = mtls_verify::crypto::default_provider();
    // Seeds carry no nextUpdate: they stay current for as long as the maximum age.
    let verifier = OcspVerifier::new(&provider).max_age(Duration::from_secs(100 * 365 * 86_400));
    let now = UnixTime::now();
    if let Some((issuer, client, response)) = split_ocsp_input(data) {
        let plain = OcspRequest::new(client, issuer);
        let nonce = OcspRequest::builder(client, issuer)
            .nonce(&OCSP_SEED_NONCE)
            .build();
        if let (Ok(plain), Ok(nonce)) = (plain, nonce) {
            let _ = verifier.verify(&plain, response, now);
            if let Err(e) = verifier.verify(&nonce, response, now) {
                let _ = e.to_string();
            }
            return;
        }
    }
    let result = verifier.verify(testkit_request(), data, now);
    assert!(result.is_err(), "a fuzzed response verified: {result:?}");
    if let Err(e) = result {
        let _ = e.to_string();
    }
}

/// A request about the testkit's default client.
fn testkit_request() -> &'static OcspRequest {
    static REQUEST: OnceLock<OcspRequest> = OnceLock::new();
    REQUEST.get_or_init(|| {
        let client = crate::pki().default_client();
        OcspRequest::new(client.cert_der(), client.issuer_cert_der())
            .expect("a request about the testkit's client")
    })
}
