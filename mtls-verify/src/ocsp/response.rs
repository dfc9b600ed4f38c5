//! Reading an OCSPResponse (RFC 6960 4.2.1) into its parts, without judging them. Every read
//! is bounds-checked; lists are bounded in length.

use rustls_pki_types::UnixTime;

use super::error::{OcspError, ResponderStatus, dotted};
use super::request::NONCE_OID;
use super::time::parse_generalized;
use crate::der::{self, SEQUENCE, Tlv};

const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const ENUMERATED: u8 = 0x0a;
const GENERALIZED_TIME: u8 = 0x18;

/// The most SingleResponses read from one response.
pub(crate) const MAX_RESPONSES: usize = 16;
/// The most certificates read from one response.
pub(crate) const MAX_CERTS: usize = 8;

/// id-pkix-ocsp-basic (1.3.6.1.5.5.7.48.1.1), DER contents.
const BASIC: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];
/// id-pkix-ocsp-extended-revoke (1.3.6.1.5.5.7.48.1.9): a marker, understood by ignoring it.
const EXTENDED_REVOKE: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x09];
/// id-ce-cRLReasons and id-ce-invalidityDate: informational single extensions.
const CRL_REASON: &[u8] = &[0x55, 0x1d, 0x15];
const INVALIDITY_DATE: &[u8] = &[0x55, 0x1d, 0x18];

/// The parts of a BasicOCSPResponse.
pub(crate) struct BasicResponse<'a> {
    /// The signed bytes: the whole ResponseData encoding.
    pub(crate) tbs: &'a [u8],
    /// The contents of the signature AlgorithmIdentifier.
    pub(crate) algorithm: &'a [u8],
    /// The signature value.
    pub(crate) signature: &'a [u8],
    /// The certificates that came with the response (DER), at most [`MAX_CERTS`].
    pub(crate) certs: Vec<&'a [u8]>,
    pub(crate) responder: ResponderId<'a>,
    pub(crate) responses: Vec<SingleResponse<'a>>,
    /// The nonce extension's value (the extnValue OCTET STRING's contents).
    pub(crate) nonce: Option<&'a [u8]>,
}

/// Who signed the response.
#[derive(Clone, Copy)]
pub(crate) enum ResponderId<'a> {
    /// The responder's subject name (the whole Name encoding).
    ByName(&'a [u8]),
    /// SHA-1 of the responder's public key bits.
    ByKey(&'a [u8]),
}

/// A CertID as read.
pub(crate) struct CertId<'a> {
    /// The hash algorithm's OID (DER contents).
    pub(crate) hash: &'a [u8],
    pub(crate) name_hash: &'a [u8],
    pub(crate) key_hash: &'a [u8],
    /// The serial INTEGER's contents.
    pub(crate) serial: &'a [u8],
}

/// The status of one certificate, as read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RawStatus {
    Good,
    Revoked { time: UnixTime, reason: Option<u8> },
    Unknown,
}

/// A SingleResponse as read.
pub(crate) struct SingleResponse<'a> {
    pub(crate) cert_id: CertId<'a>,
    pub(crate) status: RawStatus,
    pub(crate) this_update: UnixTime,
    pub(crate) next_update: Option<UnixTime>,
}

fn malformed(what: &'static str) -> OcspError {
    OcspError::Malformed { what }
}

/// Reads one TLV with the expected tag, or says what was expected.
fn expect<'a>(
    input: &'a [u8],
    tag: u8,
    what: &'static str,
) -> Result<(Tlv<'a>, &'a [u8]), OcspError> {
    der::read(input)
        .filter(|(tlv, _)| tlv.tag == tag)
        .ok_or_else(|| malformed(what))
}

/// Reads a TLV with `tag` if the input starts with one.
fn optional(input: &[u8], tag: u8) -> (Option<Tlv<'_>>, &[u8]) {
    match der::read(input) {
        Some((tlv, rest)) if tlv.tag == tag => (Some(tlv), rest),
        _ => (None, input),
    }
}

fn time<'a>(input: &'a [u8], what: &'static str) -> Result<(UnixTime, &'a [u8]), OcspError> {
    let (tlv, rest) = expect(input, GENERALIZED_TIME, what)?;
    Ok((
        parse_generalized(tlv.contents).ok_or_else(|| malformed(what))?,
        rest,
    ))
}

/// Reads an OCSPResponse: the responder's status, then the BasicOCSPResponse it carries.
pub(crate) fn parse(input: &[u8]) -> Result<BasicResponse<'_>, OcspError> {
    let (outer, rest) = expect(input, SEQUENCE, "not a DER SEQUENCE")?;
    if !rest.is_empty() {
        return Err(malformed("bytes after the OCSPResponse"));
    }
    let (status, rest) = expect(outer.contents, ENUMERATED, "responseStatus")?;
    match status.contents {
        [0] => {}
        [value] => {
            return Err(OcspError::Unsuccessful {
                status: ResponderStatus::from_value(*value),
            });
        }
        _ => return Err(malformed("responseStatus")),
    }
    let (bytes, _) = expect(rest, 0xa0, "responseBytes")?;
    let (bytes, _) = expect(bytes.contents, SEQUENCE, "responseBytes")?;
    let (kind, rest) = expect(bytes.contents, OID, "responseType")?;
    if kind.contents != BASIC {
        return Err(OcspError::UnsupportedResponseType {
            oid: dotted(kind.contents),
        });
    }
    let (response, _) = expect(rest, OCTET_STRING, "response")?;
    basic(response.contents)
}

/// Reads a BasicOCSPResponse.
fn basic(input: &[u8]) -> Result<BasicResponse<'_>, OcspError> {
    let (outer, _) = expect(input, SEQUENCE, "BasicOCSPResponse")?;
    let (tbs, rest) = expect(outer.contents, SEQUENCE, "tbsResponseData")?;
    let (algorithm, rest) = expect(rest, SEQUENCE, "signatureAlgorithm")?;
    let (signature, rest) = expect(rest, BIT_STRING, "signature")?;
    let signature = match signature.contents.split_first() {
        Some((0, bits)) => bits,
        _ => return Err(malformed("signature")),
    };
    let mut certs = Vec::new();
    if let (Some(list), _) = optional(rest, 0xa0) {
        let (list, _) = expect(list.contents, SEQUENCE, "certs")?;
        let mut list = list.contents;
        while !list.is_empty() && certs.len() < MAX_CERTS {
            let (cert, next) = expect(list, SEQUENCE, "certs")?;
            certs.push(cert.whole);
            list = next;
        }
    }

    let mut fields = tbs.contents;
    if let (Some(version), rest) = optional(fields, 0xa0) {
        if version.contents != [INTEGER, 1, 0] {
            return Err(malformed("version (only v1 is defined)"));
        }
        fields = rest;
    }
    let (id, rest) = der::read(fields).ok_or_else(|| malformed("responderID"))?;
    let responder = match id.tag {
        0xa1 => ResponderId::ByName(expect(id.contents, SEQUENCE, "responderID")?.0.whole),
        0xa2 => ResponderId::ByKey(expect(id.contents, OCTET_STRING, "responderID")?.0.contents),
        _ => return Err(malformed("responderID")),
    };
    let (_produced_at, rest) = time(rest, "producedAt")?;
    let (list, rest) = expect(rest, SEQUENCE, "responses")?;
    let mut responses = Vec::new();
    let mut list = list.contents;
    while !list.is_empty() && responses.len() < MAX_RESPONSES {
        let (single, next) = expect(list, SEQUENCE, "SingleResponse")?;
        responses.push(single_response(single.contents)?);
        list = next;
    }
    if responses.is_empty() {
        return Err(malformed("responses is empty"));
    }
    let mut nonce = None;
    if let (Some(extensions), _) = optional(rest, 0xa1) {
        nonce = read_extensions(extensions.contents, &[NONCE_OID])?
            .first()
            .copied()
            .flatten();
    }
    Ok(BasicResponse {
        tbs: tbs.whole,
        algorithm: algorithm.contents,
        signature,
        certs,
        responder,
        responses,
        nonce,
    })
}

fn single_response(input: &[u8]) -> Result<SingleResponse<'_>, OcspError> {
    let (id, rest) = expect(input, SEQUENCE, "certID")?;
    let (alg, fields) = expect(id.contents, SEQUENCE, "certID hashAlgorithm")?;
    let (hash, _) = expect(alg.contents, OID, "certID hashAlgorithm")?;
    let (name_hash, fields) = expect(fields, OCTET_STRING, "certID issuerNameHash")?;
    let (key_hash, fields) = expect(fields, OCTET_STRING, "certID issuerKeyHash")?;
    let (serial, _) = expect(fields, INTEGER, "certID serialNumber")?;
    let cert_id = CertId {
        hash: hash.contents,
        name_hash: name_hash.contents,
        key_hash: key_hash.contents,
        serial: serial.contents,
    };

    let (status, rest) = der::read(rest).ok_or_else(|| malformed("certStatus"))?;
    let status = match status.tag {
        0x80 => RawStatus::Good,
        0x82 => RawStatus::Unknown,
        0xa1 => {
            let (time, rest) = time(status.contents, "revocationTime")?;
            let reason = match optional(rest, 0xa0) {
                (Some(reason), _) => match expect(reason.contents, ENUMERATED, "revocationReason")?
                    .0
                    .contents
                {
                    [value] => Some(*value),
                    _ => return Err(malformed("revocationReason")),
                },
                (None, _) => None,
            };
            RawStatus::Revoked { time, reason }
        }
        _ => return Err(malformed("certStatus")),
    };
    let (this_update, rest) = time(rest, "thisUpdate")?;
    let (next_update, rest) = match optional(rest, 0xa0) {
        (Some(next), rest) => (Some(time(next.contents, "nextUpdate")?.0), rest),
        (None, rest) => (None, rest),
    };
    if let (Some(extensions), _) = optional(rest, 0xa1) {
        read_extensions(extensions.contents, &[CRL_REASON, INVALIDITY_DATE])?;
    }
    Ok(SingleResponse {
        cert_id,
        status,
        this_update,
        next_update,
    })
}

/// Reads an `[n] EXPLICIT Extensions` contents: the values of the extensions `known` (in that
/// order), refusing an unknown extension marked critical.
fn read_extensions<'a>(
    input: &'a [u8],
    known: &[&[u8]],
) -> Result<Vec<Option<&'a [u8]>>, OcspError> {
    let mut values = vec![None; known.len()];
    let (list, _) = expect(input, SEQUENCE, "extensions")?;
    let mut list = list.contents;
    while !list.is_empty() {
        let (extension, next) = expect(list, SEQUENCE, "extension")?;
        list = next;
        let (oid, fields) = expect(extension.contents, OID, "extension id")?;
        let (critical, fields) = match optional(fields, 0x01) {
            (Some(flag), rest) => (flag.contents.first().is_some_and(|b| *b != 0), rest),
            (None, rest) => (false, rest),
        };
        let (value, _) = expect(fields, OCTET_STRING, "extension value")?;
        match known.iter().position(|k| *k == oid.contents) {
            Some(i) => {
                if let Some(slot) = values.get_mut(i) {
                    *slot = Some(value.contents);
                }
            }
            None if critical && oid.contents != EXTENDED_REVOKE => {
                return Err(OcspError::UnknownCriticalExtension {
                    oid: dotted(oid.contents),
                });
            }
            None => {}
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One DER TLV with a short length.
    fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag, u8::try_from(contents.len()).expect("short")];
        out.extend_from_slice(contents);
        out
    }

    fn extension(oid: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
        let flag = if critical {
            tlv(0x01, &[0xff])
        } else {
            Vec::new()
        };
        tlv(
            SEQUENCE,
            &[tlv(OID, oid), flag, tlv(OCTET_STRING, value)].concat(),
        )
    }

    #[test]
    fn extensions_give_the_known_values_and_refuse_unknown_critical_ones() {
        let nonce = extension(NONCE_OID, false, &[0x04, 0x01, 0x07]);
        let revoke = extension(EXTENDED_REVOKE, true, &[0x05, 0x00]);
        let other = extension(&[0x2a, 0x03], false, &[]);
        let list = tlv(SEQUENCE, &[other.clone(), revoke, nonce].concat());
        assert_eq!(
            read_extensions(&list, &[NONCE_OID]),
            Ok(vec![Some(&[0x04, 0x01, 0x07][..])])
        );

        let critical = tlv(
            SEQUENCE,
            &[other, extension(&[0x2a, 0x03], true, &[])].concat(),
        );
        assert_eq!(
            read_extensions(&critical, &[NONCE_OID]),
            Err(OcspError::UnknownCriticalExtension {
                oid: "1.2.3".into()
            })
        );
        assert_eq!(
            read_extensions(&[0x30, 0x02, 0x30], &[NONCE_OID]),
            Err(OcspError::Malformed { what: "extensions" })
        );
    }
}
