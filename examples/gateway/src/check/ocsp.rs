//! `check --ocsp`: after the chain verifies, ask the leaf's OCSP responder for its status.
//!
//! The responder is the leaf's authorityInfoAccess `id-ad-ocsp` URI (the first `http://` one),
//! or `--ocsp-url`. The request is POSTed (`application/ocsp-request`) with one deadline
//! (`--ocsp-timeout`) and an answer of at most [`DEFAULT_MAX_RESPONSE_LEN`] bytes, and the
//! response is verified by `mtls_verify::ocsp` against the leaf's issuer: the first
//! certificate of the presented chain whose subject is the leaf's issuer, else such a trust
//! anchor. Only a good status accepts.

use std::time::{Duration, UNIX_EPOCH};

use mtls_core::{CaBundle, CertificateChain};
use mtls_verify::ocsp::{
    self, DEFAULT_MAX_RESPONSE_LEN, OcspRequest, OcspRequestError, OcspStatus, OcspVerifier,
    RevocationReason,
};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::UnixTime;

use mtls_tower::fetch::http::{self, HttpUrl};

/// What `--ocsp` asks with.
pub(crate) struct OcspOptions<'a> {
    /// `--ocsp-url`, already parsed: it replaces the certificate's responders.
    pub(crate) url: Option<&'a HttpUrl>,
    /// `--ocsp-url` as written, for messages.
    pub(crate) url_text: Option<&'a str>,
    /// The bound on one exchange with the responder.
    pub(crate) timeout: Duration,
}

/// A status that does not accept: a reason code (as the gateway's decisions name it) and why.
#[derive(Debug)]
pub(crate) struct NoGoodStatus {
    pub(crate) code: &'static str,
    pub(crate) reason: String,
}

impl NoGoodStatus {
    fn unknown(reason: String) -> Self {
        Self {
            code: "revocation_unknown",
            reason: format!("no good OCSP status: {reason}"),
        }
    }
}

/// Asks the responder about the chain's leaf, and gives a line describing a good status, or
/// why there is none.
pub(crate) fn status(
    chain: &CertificateChain,
    bundle: &CaBundle,
    options: &OcspOptions<'_>,
    provider: &CryptoProvider,
    now: UnixTime,
) -> Result<String, NoGoodStatus> {
    let request = request_for(chain, bundle)?;
    let (url, url_text) = match (options.url, options.url_text) {
        (Some(url), Some(text)) => (url.clone(), text.to_string()),
        _ => responder_of(&request)?,
    };
    let body = http::post(
        &url,
        "application/ocsp-request",
        request.der(),
        options.timeout,
        DEFAULT_MAX_RESPONSE_LEN,
    )
    .map_err(|e| NoGoodStatus::unknown(e.to_string()))?;
    let verifier = OcspVerifier::new(provider);
    match verifier.verify(&request, &body, now) {
        Ok(OcspStatus::Good { next_update }) => Ok(format!(
            "good from {url_text} (thisUpdate {}, nextUpdate {})",
            this_update(&body, request.serial()).unwrap_or_else(|| "not read".into()),
            next_update.map_or_else(|| "none".into(), rfc3339)
        )),
        Ok(OcspStatus::Revoked { time, reason }) => Err(NoGoodStatus {
            code: "revoked",
            reason: format!(
                "revoked according to the OCSP responder {url_text}: at {}, reason {}",
                rfc3339(time),
                reason.map_or_else(|| "not given".into(), reason_name)
            ),
        }),
        Ok(OcspStatus::Unknown) => Err(NoGoodStatus::unknown(format!(
            "the responder {url_text} does not know the certificate (status unknown)"
        ))),
        Ok(other) => Err(NoGoodStatus::unknown(format!(
            "the responder {url_text} answered {other:?}"
        ))),
        Err(e) => Err(NoGoodStatus::unknown(format!("from {url_text}: {e}"))),
    }
}

/// The request for the leaf, with its issuer: the first certificate presented after it whose
/// subject is the leaf's issuer, else the first such trust anchor.
fn request_for(chain: &CertificateChain, bundle: &CaBundle) -> Result<OcspRequest, NoGoodStatus> {
    let presented = chain.as_slice().iter().skip(1).map(AsRef::as_ref);
    let anchors = bundle.certificates().iter().map(|a| a.der().as_ref());
    ocsp::request_for(chain.leaf().as_ref(), presented.chain(anchors)).map_err(|e| {
        NoGoodStatus::unknown(match e {
            OcspRequestError::NoIssuer => "no issuer certificate to build the request with".into(),
            e => format!("no certificate presented or trusted issued the leaf: {e}"),
        })
    })
}

/// The first `http://` responder the certificate names.
fn responder_of(request: &OcspRequest) -> Result<(HttpUrl, String), NoGoodStatus> {
    let uris = request.responder_uris();
    if uris.is_empty() {
        return Err(NoGoodStatus::unknown(
            "the certificate names no OCSP responder (no authorityInfoAccess id-ad-ocsp URI); \
             give --ocsp-url URL"
                .into(),
        ));
    }
    let mut refused = Vec::new();
    for uri in uris {
        match HttpUrl::parse(uri) {
            Ok(url) => return Ok((url, uri.clone())),
            Err(e) => refused.push(e.to_string()),
        }
    }
    Err(NoGoodStatus::unknown(format!(
        "no responder of the certificate can be asked ({}); give --ocsp-url URL",
        refused.join("; ")
    )))
}

fn rfc3339(time: UnixTime) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(time.as_secs())).to_string()
}

/// RFC 5280's name of a revocation reason.
fn reason_name(reason: RevocationReason) -> String {
    let debug = format!("{reason:?}");
    match debug.as_str() {
        "CaCompromise" => "cACompromise".into(),
        "AaCompromise" => "aACompromise".into(),
        "RemoveFromCrl" => "removeFromCRL".into(),
        _ => {
            let mut chars = debug.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_lowercase().to_string() + chars.as_str()
            })
        }
    }
}

/// thisUpdate of the response's status for `serial`, as RFC 3339: read from a response that
/// [`OcspVerifier`] already accepted, so a part that does not read gives `None`.
fn this_update(response: &[u8], serial: &[u8]) -> Option<String> {
    // OCSPResponse { status, [0] { responseType, OCTET STRING BasicOCSPResponse } }
    let (_, ocsp_response, _) = tlv(response)?;
    let (_, _, rest) = tlv(ocsp_response)?;
    let (_, explicit, _) = tlv(rest)?;
    let (_, bytes, _) = tlv(explicit)?;
    let (_, _, rest) = tlv(bytes)?;
    let (_, basic_der, _) = tlv(rest)?;
    let (_, basic, _) = tlv(basic_der)?;
    // ResponseData { [0] version?, responderID, producedAt, responses, ... }
    let (_, mut data, _) = tlv(basic)?;
    if data.first() == Some(&0xa0) {
        data = tlv(data)?.2;
    }
    let (_, _, rest) = tlv(data)?; // responderID
    let (_, _, rest) = tlv(rest)?; // producedAt
    let (_, mut responses, _) = tlv(rest)?;
    while !responses.is_empty() {
        let (_, single, next) = tlv(responses)?;
        responses = next;
        // SingleResponse { certID { alg, nameHash, keyHash, serial }, certStatus, thisUpdate }
        let (_, cert_id, rest) = tlv(single)?;
        let (_, _, id) = tlv(cert_id)?;
        let (_, _, id) = tlv(id)?;
        let (_, _, id) = tlv(id)?;
        let (_, answered, _) = tlv(id)?;
        if answered != serial {
            continue;
        }
        let (_, _, rest) = tlv(rest)?; // certStatus
        let (tag, time, _) = tlv(rest)?;
        return (tag == 0x18).then(|| generalized(time)).flatten();
    }
    None
}

/// One DER TLV: tag, contents, what follows.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// `YYYYMMDDHHMMSS[.f]Z` as `YYYY-MM-DDTHH:MM:SSZ`.
fn generalized(time: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(time).ok()?;
    let digits = text.get(..14)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !text.ends_with('Z') {
        return None;
    }
    Some(format!(
        "{}-{}-{}T{}:{}:{}Z",
        &digits[..4],
        &digits[4..6],
        &digits[6..8],
        &digits[8..10],
        &digits[10..12],
        &digits[12..14]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_reasons() {
        assert_eq!(
            generalized(b"20261206135000Z").as_deref(),
            Some("2026-12-06T13:50:00Z")
        );
        assert_eq!(generalized(b"2026120613500"), None);
        assert_eq!(
            reason_name(RevocationReason::KeyCompromise),
            "keyCompromise"
        );
        assert_eq!(reason_name(RevocationReason::CaCompromise), "cACompromise");
        assert_eq!(
            tlv(&[0x04, 0x02, 1, 2, 9]),
            Some((0x04, &[1u8, 2][..], &[9u8][..]))
        );
        assert_eq!(tlv(&[0x04, 0x03, 1, 2]), None);
    }
}
