//! `chain_veto`: a differential target. Fuzz bytes describe a small chain (a root, up to two
//! intermediates, a leaf) and the DER fields that matter to path validation: basicConstraints
//! and pathLen, keyUsage, name constraints of each form, certificate-policy extensions and their
//! criticality, an unknown critical extension, validity, self-issued intermediates, and issuer
//! names equal per RFC 5280 7.1 but not in bytes. The chain is built with Ed25519 keys derived
//! from fixed seeds (so the corpus holds no key), then verified by our [`PolicyVerifier`] and by
//! rustls-webpki alone. Whenever ours accepts what webpki refuses, webpki's refusal must be one
//! of the exceptions [`mtls_verify::webpki_refusal_overrulable`] lists.

use std::sync::Arc;
use std::time::Duration;

use mtls_core::CaBundle;
use mtls_policy::PeerVerification;
use mtls_tower::{DomainOptions, LoadedTrustDomain, PolicyVerifier};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
    date_time_ymd,
};
use rustls_pki_types::{CertificateDer, UnixTime};

/// The committed seeds of `fuzz/corpus/chain_veto/` (`seed-<name>`), each a case of the veto
/// or a plain chain: (name, input).
pub const CHAIN_VETO_SEEDS: &[(&str, &[u8])] = &[
    ("valid", &[0]),
    ("one-intermediate", &[1]),
    ("two-intermediates-reversed", &[0x06]),
    ("email-constraint-permits", &[0, 0x08, 0, 0, 1, 0, 0, 2]),
    ("email-constraint-refuses", &[0, 0x08, 0, 0, 1, 0, 0, 3]),
    (
        "dirname-constraint-permits",
        &[0, 0x08, 0, 0, 2, 0, 0, 0x08],
    ),
    ("dirname-constraint-refuses", &[0, 0x08, 0, 0, 2, 0, 0, 0]),
    (
        "critical-policies-on-intermediate",
        &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x03],
    ),
    ("issuer-named-in-other-bytes", &[1, 0x80, 0, 0, 0, 0]),
    ("self-issued-intermediate", &[2, 0, 0, 0, 0, 0, 0x40]),
    (
        "intermediate-without-keycertsign",
        &[1, 0, 0, 0, 0, 0, 0x04, 0, 0x02],
    ),
    ("expired-intermediate", &[1, 0, 0, 0, 0, 0, 0x10]),
    (
        "unknown-critical-extension",
        &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40],
    ),
];

/// The verification time: 2026-06-01T00:00:00Z, inside the default validity.
const NOW: u64 = 1_780_272_000;

/// What the two verifiers said about one input (`None` from [`chain_veto_verdict`]: the input
/// built no chain, or its root loads as no trust domain).
#[derive(Debug)]
pub struct Verdict {
    /// Our verifier accepted the chain.
    pub ours_accepts: bool,
    /// rustls-webpki alone refused it, with this error.
    pub webpki_refusal: Option<webpki::Error>,
}

/// The `chain_veto` body: builds the chain `data` describes, verifies it both ways, and asserts
/// that our verifier overrules only the refusals of webpki the veto lists.
pub fn chain_veto(data: &[u8]) {
    let Some(verdict) = chain_veto_verdict(data) else {
        return;
    };
    if let (true, Some(refusal)) = (verdict.ours_accepts, &verdict.webpki_refusal) {
        assert!(
            mtls_verify::webpki_refusal_overrulable(refusal),
            "our verifier accepted a chain rustls-webpki refused with {refusal:?}, which is not \
             one of the refusals the veto lists"
        );
    }
}

/// Both verdicts on the chain `data` describes.
pub fn chain_veto_verdict(data: &[u8]) -> Option<Verdict> {
    let chain = build(&mut Bytes(data))?;
    let provider = mtls_verify::crypto::default_provider();
    let bundle = CaBundle::from_bytes(&chain.root, "root").ok()?;
    let domain = LoadedTrustDomain::new(
        "fuzz",
        bundle.clone(),
        None,
        DomainOptions::default(),
        &provider,
    )
    .ok()?;
    let verifier = PolicyVerifier::builder(Arc::clone(&provider))
        .trust_domain(domain)
        .build()
        .ok()?;
    let now = UnixTime::since_unix_epoch(Duration::from_secs(NOW));
    let ours = verifier.verify_chain(&chain.leaf, &chain.intermediates, now);
    let anchors = bundle.trust_anchors();
    let webpki_refusal = webpki::EndEntityCert::try_from(&chain.leaf)
        .and_then(|leaf| {
            leaf.verify_for_usage(
                provider.signature_verification_algorithms.all,
                &anchors,
                &chain.intermediates,
                now,
                webpki::KeyUsage::client_auth(),
                None,
                None,
            )
            .map(|_| ())
        })
        .err();
    Some(Verdict {
        ours_accepts: matches!(ours, PeerVerification::Verified { .. }),
        webpki_refusal,
    })
}

/// Fuzz bytes read one at a time; zeros once they run out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
}

/// A chain, DER: the root (the trust anchor), the intermediates as presented, the leaf.
struct Chain {
    root: Vec<u8>,
    intermediates: Vec<CertificateDer<'static>>,
    leaf: CertificateDer<'static>,
}

/// Reads a chain description and builds it. Layout: byte 0 picks the number of intermediates
/// (bits 0-1, `% 3`) and their order (bit 2: reversed; bit 3: the last one left out); then 5 bytes per CA,
/// root first ([`ca_params`]), then 2 bytes for the leaf ([`leaf_params`]).
fn build(r: &mut Bytes<'_>) -> Option<Chain> {
    let head = r.next();
    let cas = 1 + usize::from((head & 0x03) % 3);
    let mut certs: Vec<Vec<u8>> = Vec::new();
    let mut issuer: Option<(CertificateParams, KeyPair)> = None;
    // Whether the certificate signed next names its issuer in other bytes.
    let mut rename = false;
    for k in 0..cas {
        let key = key(k)?;
        let (params, rename_below) = ca_params(k, r, issuer.as_ref().map(|(p, _)| p));
        certs.push(sign(&params, &key, issuer.as_ref(), rename)?);
        issuer = Some((params, key));
        rename = rename_below;
    }
    let leaf = sign(&leaf_params(r), &key(cas)?, issuer.as_ref(), rename)?;
    let root = certs.remove(0);
    let mut intermediates: Vec<CertificateDer<'static>> =
        certs.into_iter().rev().map(CertificateDer::from).collect();
    if head & 0x04 != 0 {
        intermediates.reverse();
    }
    if head & 0x08 != 0 {
        intermediates.pop();
    }
    Some(Chain {
        root,
        intermediates,
        leaf: CertificateDer::from(leaf),
    })
}

/// The Ed25519 key of certificate `k` (root 0), from a fixed seed: PKCS#8 v1 around 32 bytes.
fn key(k: usize) -> Option<KeyPair> {
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend(std::iter::repeat_n(
        u8::try_from(k).ok()?.wrapping_add(0x5a),
        32,
    ));
    KeyPair::try_from(pkcs8.as_slice()).ok()
}

/// `O=fuzz, CN=<cn>`, the CN as a UTF8String or (`printable`) a PrintableString.
fn dn(cn: &str, printable: bool) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "fuzz");
    if printable {
        if let Ok(value) = cn.to_string().try_into() {
            dn.push(DnType::CommonName, DnValue::PrintableString(value));
        }
    } else {
        dn.push(DnType::CommonName, cn);
    }
    dn
}

/// A name equal per RFC 5280 7.1 to `dn(cn, false)` and different in bytes: another string type
/// and case.
fn renamed(cn: &str) -> DistinguishedName {
    dn(&cn.to_ascii_uppercase(), true)
}

/// CA `k`'s parameters from 5 bytes: flags, pathLen, keyUsage, name constraints, extensions.
/// Flags: bits 0-1 basicConstraints (CA, CA with pathLen, CA, not a CA); bit 2 keyUsage; bit 3
/// name constraints; bit 4 expired, bit 5 not yet valid; bit 6 self-issued (the issuer's name,
/// not the root); bit 7 the certificate below names this CA in 7.1-equal other bytes.
fn ca_params(
    k: usize,
    r: &mut Bytes<'_>,
    issuer: Option<&CertificateParams>,
) -> (CertificateParams, bool) {
    let (flags, path_len, ku, nc, ext) = (r.next(), r.next(), r.next(), r.next(), r.next());
    let mut params = CertificateParams::default();
    params.serial_number = Some(SerialNumber::from(k as u64 + 1));
    params.distinguished_name = match issuer {
        Some(parent) if flags & 0x40 != 0 => parent.distinguished_name.clone(),
        _ => dn(&format!("ca {k}"), false),
    };
    params.is_ca = match flags & 0x03 {
        1 => IsCa::Ca(BasicConstraints::Constrained(path_len % 3)),
        3 => IsCa::ExplicitNoCa,
        _ => IsCa::Ca(BasicConstraints::Unconstrained),
    };
    if flags & 0x04 != 0 {
        params.key_usages = [
            (0x01, KeyUsagePurpose::KeyCertSign),
            (0x02, KeyUsagePurpose::CrlSign),
            (0x04, KeyUsagePurpose::DigitalSignature),
        ]
        .into_iter()
        .filter(|(bit, _)| ku & bit != 0)
        .map(|(_, usage)| usage)
        .collect();
    }
    validity(&mut params, flags >> 4);
    params.custom_extensions = extensions(ext);
    if flags & 0x08 != 0 {
        params.custom_extensions.push(name_constraints(nc));
    }
    (params, flags & 0x80 != 0)
}

/// Name constraints from one byte: bits 0-1 the form (DNS, e-mail, directoryName, IP), bit 2
/// excluded instead of permitted, bit 3 a second subtree of the next form. Encoded here, not by
/// rcgen, whose directoryName subtree is tagged implicitly: RFC 5280's `[4] Name` is explicit
/// (Name is a CHOICE), and parsers read rcgen's as no directoryName at all.
fn name_constraints(nc: u8) -> CustomExtension {
    let subtree = |form: u8| {
        let base = match form % 4 {
            0 => der(0x82, b"example.com"),
            1 => der(0x81, b"example.com"),
            2 => {
                let rdn = |oid: u8, value: &[u8]| {
                    let attribute = [der(0x06, &[0x55, 0x04, oid]), der(0x0c, value)].concat();
                    der(0x31, &der(0x30, &attribute))
                };
                let name = der(0x30, &[rdn(0x0a, b"fuzz"), rdn(0x03, b"leaf")].concat());
                der(0xa4, &name)
            }
            _ => der(0x87, &[10, 0, 0, 0, 255, 0, 0, 0]),
        };
        der(0x30, &base)
    };
    let mut trees = subtree(nc);
    if nc & 0x08 != 0 {
        trees.extend(subtree(nc.wrapping_add(1)));
    }
    let tag = if nc & 0x04 != 0 { 0xa1 } else { 0xa0 };
    let mut e = CustomExtension::from_oid_content(&[2, 5, 29, 30], der(0x30, &der(tag, &trees)));
    e.set_criticality(true);
    e
}

/// Extensions from one byte: bit 0 certificatePolicies (anyPolicy or, bit 4, 1.3.6.1.4.1.99999.1),
/// critical with bit 1; bit 2 policyConstraints (requireExplicitPolicy 0, critical); bit 3
/// inhibitAnyPolicy 0 (critical); bit 5 policyMappings (critical); bit 6 an unknown critical
/// extension; bit 7 the policy extensions non-critical.
fn extensions(ext: u8) -> Vec<CustomExtension> {
    let critical = ext & 0x80 == 0;
    let mut out = Vec::new();
    let mut add = |oid: &[u64], content: Vec<u8>, crit: bool| {
        let mut e = CustomExtension::from_oid_content(oid, content);
        e.set_criticality(crit);
        out.push(e);
    };
    // OIDs: anyPolicy 2.5.29.32.0; a private one 1.3.6.1.4.1.99999.1.
    let any_policy = [0x06, 0x04, 0x55, 0x1d, 0x20, 0x00];
    let private = [
        0x06, 0x09, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f, 0x01,
    ];
    let policy: &[u8] = if ext & 0x10 != 0 {
        &private
    } else {
        &any_policy
    };
    if ext & 0x01 != 0 {
        let info = der(0x30, policy);
        add(&[2, 5, 29, 32], der(0x30, &info), ext & 0x02 != 0);
    }
    if ext & 0x04 != 0 {
        add(&[2, 5, 29, 36], der(0x30, &[0x80, 0x01, 0x00]), critical);
    }
    if ext & 0x08 != 0 {
        add(&[2, 5, 29, 54], vec![0x02, 0x01, 0x00], critical);
    }
    if ext & 0x20 != 0 {
        let mapping = der(0x30, &[policy, &private].concat());
        add(&[2, 5, 29, 33], der(0x30, &mapping), critical);
    }
    if ext & 0x40 != 0 {
        add(&[1, 3, 6, 1, 4, 1, 99999, 2], vec![0x05, 0x00], true);
    }
    out
}

/// A short-form DER TLV.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag, u8::try_from(content.len()).unwrap_or(0)];
    out.extend_from_slice(content);
    out
}

/// Validity 2025..2030, or (bit 0) expired at 2026-01-01, or (bit 1) valid from 2027.
fn validity(params: &mut CertificateParams, bits: u8) {
    params.not_before = date_time_ymd(2025, 1, 1);
    params.not_after = date_time_ymd(2030, 1, 1);
    if bits & 0x01 != 0 {
        params.not_after = date_time_ymd(2026, 1, 1);
    }
    if bits & 0x02 != 0 {
        params.not_before = date_time_ymd(2027, 1, 1);
    }
}

/// The leaf's parameters from 2 bytes: flags (bits 0-1 the EKU: clientAuth, serverAuth, none,
/// both; bit 2 basicConstraints CA:FALSE; bits 4-5 validity as a CA's) and its names (bits 0-2: DNS in or out of example.com, e-mail in or out, IP in
/// or out of 10/8, none; bit 3 subject `CN=leaf` rather than `CN=client`).
fn leaf_params(r: &mut Bytes<'_>) -> CertificateParams {
    let (flags, names) = (r.next(), r.next());
    let mut params = CertificateParams::default();
    params.serial_number = Some(SerialNumber::from(100u64));
    params.distinguished_name = dn(if names & 0x08 != 0 { "leaf" } else { "client" }, false);
    params.is_ca = if flags & 0x04 != 0 {
        IsCa::ExplicitNoCa
    } else {
        IsCa::NoCa
    };
    params.extended_key_usages = match flags & 0x03 {
        0 => vec![ExtendedKeyUsagePurpose::ClientAuth],
        1 => vec![ExtendedKeyUsagePurpose::ServerAuth],
        2 => Vec::new(),
        _ => vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ],
    };
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let dns = |name: &str| name.try_into().map(SanType::DnsName).ok();
    let email = |name: &str| name.try_into().map(SanType::Rfc822Name).ok();
    let san = match names % 8 {
        0 => dns("a.example.com"),
        1 => dns("a.other.org"),
        2 => email("u@example.com"),
        3 => email("u@other.org"),
        4 => Some(SanType::IpAddress([10, 1, 2, 3].into())),
        5 => Some(SanType::IpAddress([192, 0, 2, 1].into())),
        _ => None,
    };
    params.subject_alt_names = san.into_iter().collect();
    validity(&mut params, flags >> 4);
    params
}

/// `params` signed with `key` by `issuer` (self-signed without one), the issuer named in other
/// bytes when `rename`.
fn sign(
    params: &CertificateParams,
    key: &KeyPair,
    issuer: Option<&(CertificateParams, KeyPair)>,
    rename: bool,
) -> Option<Vec<u8>> {
    let cert = match issuer {
        None => params.self_signed(key).ok()?,
        Some((issuer_params, issuer_key)) => {
            let mut named = issuer_params.clone();
            if rename {
                let cn = named
                    .distinguished_name
                    .get(&DnType::CommonName)
                    .and_then(|v| match v {
                        DnValue::Utf8String(s) => Some(s.clone()),
                        _ => None,
                    });
                if let Some(cn) = cn {
                    named.distinguished_name = renamed(&cn);
                }
            }
            params
                .signed_by(key, &Issuer::new(named, issuer_key))
                .ok()?
        }
    };
    Some(cert.der().to_vec())
}
