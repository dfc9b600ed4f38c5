//! Test CAs made with rcgen (custom extensions where the test kit cannot express a fault),
//! and one trust domain over them.
#![allow(dead_code, unreachable_pub)]

use mtls_core::{CaBundle, CrlSet};
use mtls_policy::{PeerVerification, VerifyError};
use mtls_verify::{DomainOptions, LoadedTrustDomain, PolicyVerifier, TrustError};
use rcgen::SigningKey;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

pub const DOMAIN: &str = "profile";
#[allow(unused_imports)]
pub use mtls_testkit::custom::{HOST, TestCa, ca_params, extension, tlv};

pub const NAME_CONSTRAINTS: &[u64] = &[2, 5, 29, 30];
/// NameConstraints { permittedSubtrees [0] { GeneralSubtree { dNSName "test" } } }.
pub const PERMIT_DOT_TEST: &[u8] = &[
    0x30, 0x0a, 0xa0, 0x08, 0x30, 0x06, 0x82, 0x04, b't', b'e', b's', b't',
];

pub fn domain_of(
    roots: &[&TestCa],
    crls: Option<&CrlSet>,
) -> Result<LoadedTrustDomain, TrustError> {
    domain_with(roots, crls, DomainOptions::default())
}

/// The trust domain of `roots` (and `crls`) with `options`.
pub fn domain_with(
    roots: &[&TestCa],
    crls: Option<&CrlSet>,
    options: DomainOptions,
) -> Result<LoadedTrustDomain, TrustError> {
    let pem: String = roots.iter().map(|r| r.cert.pem()).collect();
    let bundle = CaBundle::from_bytes(pem.as_bytes(), "ca.pem").unwrap();
    LoadedTrustDomain::new(
        DOMAIN,
        bundle,
        crls,
        options,
        &mtls_verify::crypto::default_provider(),
    )
}

/// A v2 CRL of `ca` listing nothing, with a cRLNumber extension (critical or not) or without
/// one (rcgen always writes it non-critical), signed with the CA's ECDSA P-256 key.
pub fn crl_of(ca: &TestCa, crl_number: Option<bool>) -> CrlSet {
    use x509_parser::prelude::FromDer as _;
    const ECDSA_SHA256: &[u8] = &[
        0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
    ];
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(ca.der()).unwrap();
    let mut tbs = tlv(0x02, &[0x01]);
    tbs.extend_from_slice(ECDSA_SHA256);
    tbs.extend_from_slice(cert.subject().as_raw());
    tbs.extend(tlv(0x17, b"250101000000Z"));
    tbs.extend(tlv(0x18, b"20991231000000Z"));
    // rustls-webpki wants crlExtensions: an authorityKeyIdentifier is always there.
    let mut extensions = tlv(
        0x30,
        &[
            tlv(0x06, &[0x55, 0x1d, 0x23]),
            tlv(0x04, &tlv(0x30, &tlv(0x80, &[1, 2, 3, 4]))),
        ]
        .concat(),
    );
    if let Some(critical) = crl_number {
        let mut ext = tlv(0x06, &[0x55, 0x1d, 0x14]);
        if critical {
            ext.extend(tlv(0x01, &[0xff]));
        }
        ext.extend(tlv(0x04, &tlv(0x02, &[0x07])));
        extensions.extend(tlv(0x30, &ext));
    }
    tbs.extend(tlv(0xa0, &tlv(0x30, &extensions)));
    let tbs = tlv(0x30, &tbs);
    let mut signature = vec![0];
    signature.extend(ca.key.sign(&tbs).unwrap());
    let mut crl = tbs;
    crl.extend_from_slice(ECDSA_SHA256);
    crl.extend(tlv(0x03, &signature));
    CrlSet::from_bytes(&tlv(0x30, &crl), "crl.der").unwrap()
}

pub fn verify_server(
    domain: &LoadedTrustDomain,
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> PeerVerification {
    domain.verify_server(
        &mtls_verify::crypto::default_provider(),
        leaf,
        intermediates,
        &ServerName::try_from(HOST).unwrap(),
        UnixTime::now(),
    )
}

pub fn verify_client(
    domain: LoadedTrustDomain,
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> PeerVerification {
    PolicyVerifier::builder(mtls_verify::crypto::default_provider())
        .trust_domain(domain)
        .build()
        .unwrap()
        .verify_chain(leaf, intermediates, UnixTime::now())
}

pub fn refused(message: &str) -> PeerVerification {
    PeerVerification::failed(Some(DOMAIN), VerifyError::Other(message.to_owned()))
}
