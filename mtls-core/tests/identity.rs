//! `PeerIdentity::from_der` on certificates generated here with rcgen.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use mtls_core::{ErrorKind, Origin, PeerIdentity, SpiffeIdError};
use proptest::prelude::*;
use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue, Issuer, KeyPair,
    OtherNameValue, PublicKeyData as _, SanType, SerialNumber, date_time_ymd,
};
use rustls_pki_types::CertificateDer;
use sha2::{Digest as _, Sha256};

const SAN_OID: &[u64] = &[2, 5, 29, 17];

fn ia5(s: &str) -> rcgen::string::Ia5String {
    s.try_into().expect("ASCII")
}

/// Params with an empty subject, no SANs and a fixed validity.
fn params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.not_before = date_time_ymd(2024, 1, 2);
    params.not_after = date_time_ymd(2030, 6, 30);
    params
}

fn self_signed(params: &CertificateParams) -> CertificateDer<'static> {
    let key = KeyPair::generate().expect("key");
    params.self_signed(&key).expect("certificate").der().clone()
}

fn with_cn(cn: &str) -> CertificateParams {
    let mut params = params();
    params.distinguished_name.push(DnType::CommonName, cn);
    params
}

fn with_uris(uris: &[&str]) -> PeerIdentity {
    let mut params = with_cn("svid");
    params.subject_alt_names = uris.iter().map(|u| SanType::URI(ia5(u))).collect();
    PeerIdentity::from_der(&self_signed(&params)).expect("valid certificate")
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bad_certificate_detail(der: &[u8]) -> String {
    let err =
        PeerIdentity::from_der(&CertificateDer::from(der.to_vec())).expect_err("must be rejected");
    assert_eq!(err.origin(), &Origin::memory("peer certificate"));
    match err.kind() {
        ErrorKind::BadCertificate { index: 0, detail } => detail.clone(),
        other => panic!("expected BadCertificate, got {other:?}"),
    }
}

#[test]
fn every_accessor_of_a_full_client_certificate() {
    let ca_key = KeyPair::generate().expect("key");
    let mut ca_params = params();
    ca_params
        .distinguished_name
        .push(DnType::OrganizationName, "Example");
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Example CA");
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate().expect("key");
    let mut leaf = params();
    leaf.serial_number = Some(SerialNumber::from_slice(&[0x00, 0x8f, 0x01, 0x02]));
    let dn = &mut leaf.distinguished_name;
    dn.push(
        DnType::CountryName,
        DnValue::PrintableString("US".try_into().expect("ok")),
    );
    dn.push(DnType::StateOrProvinceName, "CA");
    dn.push(DnType::LocalityName, "San Francisco");
    dn.push(DnType::OrganizationName, "Example");
    dn.push(DnType::OrganizationalUnitName, "eng");
    dn.push(DnType::CommonName, "client");
    leaf.subject_alt_names = vec![
        SanType::DnsName(ia5("client.example.com")),
        SanType::URI(ia5("spiffe://example.org/ns/default/sa/client")),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
        SanType::DnsName(ia5("alt.example.com")),
        SanType::IpAddress(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))),
        SanType::Rfc822Name(ia5("client@example.com")),
        SanType::URI(ia5("https://example.com/client")),
        SanType::OtherName((
            vec![1, 3, 6, 1, 4, 1, 311, 20, 2, 3],
            OtherNameValue::Utf8String("upn@example.com".into()),
        )),
    ];
    let der = leaf
        .signed_by(&key, &issuer)
        .expect("certificate")
        .der()
        .clone();

    let peer = PeerIdentity::from_der(&der).expect("valid certificate");

    assert_eq!(peer.der(), &der);
    assert_eq!(
        peer.subject(),
        "CN=client,OU=eng,O=Example,L=San Francisco,ST=CA,C=US"
    );
    assert_eq!(peer.common_name(), Some("client"));
    assert_eq!(peer.issuer(), "CN=Example CA,O=Example");
    assert_eq!(peer.serial_hex(), "8f0102");
    assert_eq!(
        peer.not_before(),
        UNIX_EPOCH + Duration::from_secs(1_704_153_600)
    );
    assert_eq!(
        peer.not_after(),
        UNIX_EPOCH + Duration::from_secs(1_909_008_000)
    );
    assert_eq!(peer.dns_names(), ["client.example.com", "alt.example.com"]);
    assert_eq!(
        peer.uris(),
        [
            "spiffe://example.org/ns/default/sa/client",
            "https://example.com/client"
        ]
    );
    assert_eq!(
        peer.ip_addresses(),
        [
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        ]
    );
    assert_eq!(peer.emails(), ["client@example.com"]);
    assert_eq!(peer.other_san_count(), 1);

    let id = peer.spiffe_id().expect("an X509-SVID");
    assert_eq!(id.as_str(), "spiffe://example.org/ns/default/sa/client");
    assert_eq!(id.trust_domain(), "example.org");
    assert_eq!(id.path(), "/ns/default/sa/client");
    assert_eq!(peer.spiffe_error(), None);

    let cert_sha256 = sha256(der.as_ref());
    assert_eq!(peer.cert_sha256(), &cert_sha256);
    assert_eq!(peer.cert_sha256_hex(), hex(&cert_sha256));
    let spki_sha256 = sha256(&key.subject_public_key_info());
    assert_eq!(peer.spki_sha256(), &spki_sha256);
    assert_eq!(
        peer.spki_sha256_base64(),
        base64::engine::general_purpose::STANDARD.encode(spki_sha256)
    );

    assert_eq!(
        peer.to_string(),
        format!(
            "spiffe://example.org/ns/default/sa/client (subject=\"CN=client,OU=eng,O=Example,\
             L=San Francisco,ST=CA,C=US\", serial=8f0102, sha256={}...)",
            &hex(&cert_sha256)[..16]
        )
    );

    let debug = format!("{peer:?}");
    assert!(
        debug.starts_with("PeerIdentity { subject: \"CN=client,"),
        "{debug}"
    );
    for part in [
        "serial: \"8f0102\"",
        "not_before: 2024-01-02T00:00:00Z",
        "not_after: 2030-06-30T00:00:00Z",
        "spiffe: Ok(Some(\"spiffe://example.org/ns/default/sa/client\"))",
        "ip_addresses: [192.0.2.1, 2001:db8::1]",
        "other_san_count: 1",
        &format!("cert_sha256: {}", hex(&cert_sha256)),
    ] {
        assert!(debug.contains(part), "{part} not in {debug}");
    }
    assert!(debug.len() < 1000, "Debug is not compact: {debug}");
}

#[test]
fn clone_eq_and_hash_follow_the_certificate_hash() {
    let der = self_signed(&with_cn("a"));
    let a = PeerIdentity::from_der(&der).expect("valid");
    let a_again = PeerIdentity::from_der(&der).expect("valid");
    let b = PeerIdentity::from_der(&self_signed(&with_cn("a"))).expect("valid");
    assert_eq!(a, a_again);
    assert_eq!(a, a.clone());
    assert_ne!(a, b, "same subject, different key: different certificates");
    let set: HashSet<_> = [a.clone(), a_again, b.clone()].into_iter().collect();
    assert_eq!(set.len(), 2);
    assert!(set.contains(&a) && set.contains(&b));
}

#[test]
fn rfc4514_escaping_in_the_subject() {
    let cases = [
        ("#a,b+c ", r"CN=\#a\,b\+c\ "),
        (" lead", r"CN=\ lead"),
        ("q\"b\\s<l>;", r#"CN=q\"b\\s\<l\>\;"#),
        ("mid#and space", "CN=mid#and space"),
        ("nul\0ctl\n", r"CN=nul\00ctl\0A"),
    ];
    for (cn, subject) in cases {
        let peer = PeerIdentity::from_der(&self_signed(&with_cn(cn))).expect("valid");
        assert_eq!(peer.subject(), subject, "{cn:?}");
        assert_eq!(peer.issuer(), subject, "self-signed: issuer is the subject");
        assert_eq!(peer.common_name(), Some(cn));
        assert!(!peer.to_string().contains('\n'), "{peer}");
    }
}

#[test]
fn subject_with_several_organizational_units_and_unknown_attribute() {
    let mut params = params();
    let dn = &mut params.distinguished_name;
    dn.push(DnType::OrganizationName, "Example, Inc.");
    dn.push(DnType::OrganizationalUnitName, "eng");
    dn.push(DnType::CustomDnType(vec![2, 5, 4, 12]), "boss");
    dn.push(DnType::CustomDnType(vec![1, 3, 6, 1, 4, 1, 99_999, 1]), "x");
    dn.push(DnType::CommonName, "client");
    let peer = PeerIdentity::from_der(&self_signed(&params)).expect("valid");
    assert_eq!(
        peer.subject(),
        r"CN=client,1.3.6.1.4.1.99999.1=#0C0178,title=boss,OU=eng,O=Example\, Inc."
    );
}

#[test]
fn spiffe_svid_rules() {
    let valid = with_uris(&["https://example.com", "spiffe://td.example/ns/a/sa/b"]);
    let id = valid.spiffe_id().expect("exactly one spiffe URI");
    assert_eq!((id.trust_domain(), id.path()), ("td.example", "/ns/a/sa/b"));
    assert_eq!(valid.spiffe_error(), None);

    let two = with_uris(&["spiffe://td/a", "spiffe://td/b"]);
    assert_eq!(two.spiffe_id(), None);
    assert_eq!(
        two.spiffe_error(),
        Some(&SpiffeIdError::MultipleSpiffeUris(2))
    );
    assert!(
        two.to_string()
            .contains("svid_error=\"2 spiffe:// URI SANs, an X509-SVID has exactly one\")")
    );
    assert!(
        two.to_string()
            .starts_with("spiffe://td/a (subject=\"CN=svid\""),
        "{two}"
    );

    let invalid = with_uris(&["spiffe://Example.org/x"]);
    assert_eq!(invalid.spiffe_id(), None);
    assert_eq!(
        invalid.spiffe_error(),
        Some(&SpiffeIdError::BadTrustDomainChar('E'))
    );

    let upper_scheme = with_uris(&["SPIFFE://example.org/x"]);
    assert_eq!(
        upper_scheme.spiffe_error(),
        Some(&SpiffeIdError::WrongScheme)
    );

    let trailing = with_uris(&["spiffe://example.org/x/"]);
    assert_eq!(trailing.spiffe_error(), Some(&SpiffeIdError::TrailingSlash));

    for none in [
        with_uris(&[]),
        with_uris(&["https://example.com/spiffe://x"]),
    ] {
        assert_eq!(none.spiffe_id(), None);
        assert_eq!(none.spiffe_error(), None);
    }
}

#[test]
fn display_picks_the_best_name() {
    let mut dns = with_cn("cn-name");
    dns.subject_alt_names = vec![
        SanType::URI(ia5("https://uri.example")),
        SanType::DnsName(ia5("dns.example")),
    ];
    let peer = PeerIdentity::from_der(&self_signed(&dns)).expect("valid");
    assert!(
        peer.to_string()
            .starts_with("dns.example (subject=\"CN=cn-name\", serial=")
    );

    let uri = with_uris(&["https://uri.example"]);
    assert!(
        uri.to_string()
            .starts_with("https://uri.example (subject=\"CN=svid\"")
    );

    let cn = PeerIdentity::from_der(&self_signed(&with_cn("cn-name"))).expect("valid");
    assert!(
        cn.to_string()
            .starts_with("cn-name (subject=\"CN=cn-name\"")
    );

    let der = self_signed(&params());
    let unnamed = PeerIdentity::from_der(&der).expect("valid");
    assert_eq!(unnamed.subject(), "");
    assert_eq!(unnamed.common_name(), None);
    let serial = unnamed.serial_hex().to_owned();
    assert_eq!(
        unnamed.to_string(),
        format!(
            "<unnamed> (subject=\"\", serial={serial}, sha256={}...)",
            &hex(&sha256(der.as_ref()))[..16]
        )
    );

    let mut control = params();
    control.subject_alt_names = vec![SanType::DnsName(ia5("evil\nname\r"))];
    let peer = PeerIdentity::from_der(&self_signed(&control)).expect("valid");
    assert_eq!(peer.dns_names(), ["evil\nname\r"]);
    assert!(
        peer.to_string().starts_with("evil\\nname\\r (subject="),
        "{peer}"
    );
}

#[test]
fn serial_zero_and_times_before_1970() {
    let mut params = with_cn("old");
    params.serial_number = Some(SerialNumber::from_slice(&[0]));
    params.not_before = date_time_ymd(1950, 1, 1);
    params.not_after = date_time_ymd(1969, 12, 31);
    let peer = PeerIdentity::from_der(&self_signed(&params)).expect("valid");
    assert_eq!(peer.serial_hex(), "00");
    assert_eq!(
        peer.not_before(),
        UNIX_EPOCH - Duration::from_secs(631_152_000)
    );
    assert_eq!(peer.not_after(), UNIX_EPOCH - Duration::from_secs(86_400));
    assert!(format!("{peer:?}").contains("not_before: 1950-01-01T00:00:00Z"));

    let mut far = with_cn("far");
    far.not_after = date_time_ymd(9999, 12, 31);
    let peer = PeerIdentity::from_der(&self_signed(&far)).expect("valid");
    assert_eq!(
        peer.not_after(),
        UNIX_EPOCH + Duration::from_secs(253_402_214_400)
    );
    assert!(peer.not_after() > SystemTime::now());
}

#[test]
fn san_ip_of_other_length_counts_as_other() {
    // SEQUENCE { [7] 10.0.0.0/255.0.0.0 (8 bytes, a name-constraint form), [2] "x.example" }
    let mut san = vec![
        0x30, 0x15, 0x87, 0x08, 10, 0, 0, 0, 255, 0, 0, 0, 0x82, 0x09,
    ];
    san.extend_from_slice(b"x.example");
    let mut params = with_cn("odd");
    params.custom_extensions = vec![CustomExtension::from_oid_content(SAN_OID, san)];
    let peer = PeerIdentity::from_der(&self_signed(&params)).expect("valid");
    assert!(peer.ip_addresses().is_empty());
    assert_eq!(peer.dns_names(), ["x.example"]);
    assert_eq!(peer.other_san_count(), 1);
}

#[test]
fn duplicate_san_extension_is_a_bad_certificate() {
    let mut params = with_cn("dup");
    params.subject_alt_names = vec![SanType::DnsName(ia5("a.example"))];
    let mut san = vec![0x30, 0x0b, 0x82, 0x09];
    san.extend_from_slice(b"b.example");
    params.custom_extensions = vec![CustomExtension::from_oid_content(SAN_OID, san)];
    let der = self_signed(&params);
    assert_eq!(
        bad_certificate_detail(der.as_ref()),
        "subject alternative name extension: duplicate extensions"
    );
}

#[test]
fn malformed_san_extension_is_a_bad_certificate() {
    let mut params = with_cn("bad-san");
    // Not a SEQUENCE of GeneralName.
    params.custom_extensions = vec![CustomExtension::from_oid_content(SAN_OID, vec![0x04, 0x00])];
    let der = self_signed(&params);
    assert!(
        bad_certificate_detail(der.as_ref()).starts_with("subject alternative name extension: "),
    );
}

#[test]
fn not_a_certificate() {
    assert!(!bad_certificate_detail(b"").is_empty());
    assert!(!bad_certificate_detail(b"-----BEGIN CERTIFICATE-----").is_empty());
    assert!(!bad_certificate_detail(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_empty());

    let der = valid_der();
    assert!(!bad_certificate_detail(&der[..der.len() - 1]).is_empty());

    let mut trailing = der.to_vec();
    trailing.extend_from_slice(&[0, 0, 0]);
    assert_eq!(
        bad_certificate_detail(&trailing),
        "3 trailing bytes after the certificate"
    );

    let err = PeerIdentity::from_der(&CertificateDer::from(trailing)).expect_err("rejected");
    assert_eq!(
        err.to_string(),
        "peer certificate: certificate 0: not a valid X.509 certificate: \
         3 trailing bytes after the certificate"
    );
}

#[test]
fn identity_is_not_trust_a_bad_signature_still_parses() {
    let mut der = valid_der().to_vec();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let peer = PeerIdentity::from_der(&CertificateDer::from(der.clone())).expect("parses");
    assert_eq!(peer.subject(), "O=Example,CN=fuzz");
    assert_eq!(peer.cert_sha256(), &sha256(&der));
    let original = PeerIdentity::from_der(&CertificateDer::from(valid_der())).expect("parses");
    assert_ne!(peer, original);
    assert_eq!(peer.spki_sha256(), original.spki_sha256());
}

/// One certificate with every SAN type, shared by the property tests.
fn valid_der() -> &'static [u8] {
    static DER: OnceLock<CertificateDer<'static>> = OnceLock::new();
    DER.get_or_init(|| {
        let mut params = with_cn("fuzz");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Example");
        params.subject_alt_names = vec![
            SanType::DnsName(ia5("fuzz.example")),
            SanType::URI(ia5("spiffe://example.org/fuzz")),
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            SanType::Rfc822Name(ia5("fuzz@example.org")),
        ];
        self_signed(&params)
    })
    .as_ref()
}

/// Parses, and exercises every accessor and formatter of a successful result.
fn parse_and_use(bytes: Vec<u8>) {
    if let Ok(peer) = PeerIdentity::from_der(&CertificateDer::from(bytes)) {
        let line = peer.to_string();
        assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
        let _ = format!("{peer:?}");
        let _ = (
            peer.subject(),
            peer.issuer(),
            peer.common_name(),
            peer.serial_hex(),
        );
        let _ = (
            peer.not_before(),
            peer.not_after(),
            peer.spiffe_id(),
            peer.spiffe_error(),
        );
        let _ = (peer.cert_sha256_hex(), peer.spki_sha256_base64());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        parse_and_use(bytes);
    }

    #[test]
    fn random_bytes_behind_a_sequence_header_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..600)
    ) {
        let mut der = vec![0x30, 0x82];
        der.extend_from_slice(&u16::try_from(bytes.len()).unwrap_or(0).to_be_bytes());
        der.extend_from_slice(&bytes);
        parse_and_use(der);
    }

    #[test]
    fn mutated_certificates_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 0..8u8), 1..8),
        overwrite in proptest::option::of((any::<prop::sample::Index>(), any::<u8>())),
        truncate in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut der = valid_der().to_vec();
        for (at, bit) in flips {
            let i = at.index(der.len());
            der[i] ^= 1 << bit;
        }
        if let Some((at, byte)) = overwrite {
            let i = at.index(der.len());
            der[i] = byte;
        }
        if let Some(at) = truncate {
            der.truncate(at.index(der.len()));
        }
        parse_and_use(der);
    }

    #[test]
    fn every_truncation_is_rejected(at in any::<prop::sample::Index>()) {
        let der = valid_der();
        let cut = at.index(der.len());
        prop_assert!(PeerIdentity::from_der(&CertificateDer::from(der[..cut].to_vec())).is_err());
    }
}
