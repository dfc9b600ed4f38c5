//! The identity of a peer, read from its leaf certificate.
//!
//! Parse for identity, never for trust: build a [`PeerIdentity`] only from a certificate whose
//! chain has already been verified.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::CertificateDer;
use sha2::{Digest as _, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer as _;

use crate::name;
use crate::policies::CertificatePolicies;
use crate::spiffe::{SpiffeId, SpiffeIdError};
use crate::{Error, ErrorKind, Origin};

/// The identity facts of a certificate: subject, issuer, serial, validity, SANs by type, the
/// SPIFFE ID, and the SHA-256 fingerprints Envoy and Istio pin with; and, once the TLS layer
/// has verified its chain, the [certificate policies](Self::certificate_policies) valid for
/// that path.
///
/// Cheap to clone (one reference count, and one more when it holds policies).
#[derive(Clone)]
pub struct PeerIdentity {
    inner: Arc<Inner>,
    /// Facts of the verified path, not of the certificate: set by whoever verified it;
    /// `None`: [`CertificatePolicies::None`] (kept out of line, so the identity stays two
    /// words and an identity without policies allocates nothing for them).
    policies: Option<Arc<CertificatePolicies>>,
}

struct Inner {
    der: CertificateDer<'static>,
    subject: String,
    common_name: Option<String>,
    issuer: String,
    serial_hex: String,
    not_before: SystemTime,
    not_after: SystemTime,
    dns_names: Vec<String>,
    uris: Vec<String>,
    ip_addresses: Vec<IpAddr>,
    emails: Vec<String>,
    other_san_count: usize,
    spiffe: Result<Option<SpiffeId>, SpiffeIdError>,
    cert_sha256: [u8; 32],
    spki_sha256: [u8; 32],
}

impl PeerIdentity {
    /// Reads the identity facts of a DER certificate (one certificate, nothing after it).
    ///
    /// This parses for identity, not for trust: it checks no signature, no validity period and
    /// no chain. Call it on a leaf whose chain has already been verified.
    ///
    /// A certificate that is not valid X.509 DER, has trailing bytes, or has a subject
    /// alternative name extension that is malformed or present twice is an
    /// [`ErrorKind::BadCertificate`] error. A certificate that carries `spiffe://` URIs without
    /// being a valid X509-SVID is not an error: [`spiffe_id`](Self::spiffe_id) is then `None`
    /// and [`spiffe_error`](Self::spiffe_error) says why.
    ///
    /// ```
    /// use mtls_core::PeerIdentity;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let key = rcgen::KeyPair::generate()?;
    /// let mut params = rcgen::CertificateParams::new(vec!["web.example.com".to_owned()])?;
    /// params.distinguished_name = rcgen::DistinguishedName::new();
    /// params.distinguished_name.push(rcgen::DnType::OrganizationName, "Example");
    /// params.distinguished_name.push(rcgen::DnType::CommonName, "web");
    /// let cert = params.self_signed(&key)?;
    ///
    /// let peer = PeerIdentity::from_der(cert.der())?;
    /// assert_eq!(peer.subject(), "CN=web,O=Example");
    /// assert_eq!(peer.common_name(), Some("web"));
    /// assert_eq!(peer.dns_names(), ["web.example.com"]);
    /// assert_eq!(peer.spiffe_id(), None);
    /// // web.example.com (subject="CN=web,O=Example", serial=..., sha256=...)
    /// println!("{peer}");
    ///
    /// assert!(PeerIdentity::from_der(&b"not a certificate".to_vec().into()).is_err());
    /// # Ok(()) }
    /// ```
    pub fn from_der(der: &CertificateDer<'_>) -> Result<Self, Error> {
        let bad = |detail: String| {
            Error::new(
                Origin::memory("peer certificate"),
                ErrorKind::BadCertificate { index: 0, detail },
            )
        };
        let (rest, cert) = X509Certificate::from_der(der.as_ref()).map_err(|e| {
            bad(match e {
                x509_parser::nom::Err::Incomplete(_) => "truncated input".to_owned(),
                x509_parser::nom::Err::Error(e) | x509_parser::nom::Err::Failure(e) => {
                    e.to_string()
                }
            })
        })?;
        if !rest.is_empty() {
            return Err(bad(format!(
                "{} trailing bytes after the certificate",
                rest.len()
            )));
        }
        let sans = cert
            .subject_alternative_name()
            .map_err(|e| bad(format!("subject alternative name extension: {e}")))?;

        let mut dns_names = Vec::new();
        let mut uris = Vec::new();
        let mut ip_addresses = Vec::new();
        let mut emails = Vec::new();
        let mut other_san_count = 0;
        for san in sans.iter().flat_map(|ext| &ext.value.general_names) {
            match san {
                GeneralName::DNSName(dns) => dns_names.push((*dns).to_owned()),
                GeneralName::URI(uri) => uris.push((*uri).to_owned()),
                GeneralName::RFC822Name(email) => emails.push((*email).to_owned()),
                GeneralName::IPAddress(bytes) => match ip_address(bytes) {
                    Some(ip) => ip_addresses.push(ip),
                    None => other_san_count += 1,
                },
                _ => other_san_count += 1,
            }
        }
        let spiffe = svid_spiffe_id(&uris);

        let tbs = &cert.tbs_certificate;
        let inner = Arc::new(Inner {
            subject: name::rfc4514(&tbs.subject),
            common_name: name::common_name(&tbs.subject),
            issuer: name::rfc4514(&tbs.issuer),
            serial_hex: serial_hex(tbs.raw_serial()),
            not_before: system_time(tbs.validity.not_before.timestamp()),
            not_after: system_time(tbs.validity.not_after.timestamp()),
            dns_names,
            uris,
            ip_addresses,
            emails,
            other_san_count,
            spiffe,
            cert_sha256: Sha256::digest(der.as_ref()).into(),
            spki_sha256: Sha256::digest(tbs.subject_pki.raw).into(),
            der: der.clone().into_owned(),
        });
        Ok(Self {
            inner,
            policies: None,
        })
    }

    /// The same identity, holding `policies`: the certificate policies valid for the path its
    /// verifier built (mtls-verify computes them; mtls-tower attaches them to the identity of
    /// each connection).
    #[must_use]
    pub fn with_certificate_policies(mut self, policies: CertificatePolicies) -> Self {
        self.policies = (policies != CertificatePolicies::None).then(|| Arc::new(policies));
        self
    }

    /// The certificate policies valid for the verified path of this certificate, after the
    /// trust domain's initial policy set (RFC 5280 6.1.6's user-constrained policy set):
    /// [`None`](CertificatePolicies::None) (also for an identity read with
    /// [`from_der`](Self::from_der) alone, which knows no path),
    /// [`Any`](CertificatePolicies::Any), or the listed OIDs.
    ///
    /// They are facts of the path and its trust domain, not of the certificate alone: the same
    /// certificate may hold other policies through another path or domain. Two identities of
    /// the same certificate are equal whatever their policies.
    ///
    /// ```
    /// use mtls_core::{CertificatePolicies, PeerIdentity};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let pki = mtls_testkit::Pki::shared();
    /// # let leaf = pki.default_client().cert_der().clone();
    /// let peer = PeerIdentity::from_der(&leaf)?;
    /// assert_eq!(peer.certificate_policies(), &CertificatePolicies::None);
    ///
    /// let piv = CertificatePolicies::listed(["2.16.840.1.101.3.2.1.3.13"])?;
    /// let peer = peer.with_certificate_policies(piv);
    /// assert!(peer.certificate_policies().allows("2.16.840.1.101.3.2.1.3.13"));
    /// # Ok(()) }
    /// ```
    pub fn certificate_policies(&self) -> &CertificatePolicies {
        static NONE: CertificatePolicies = CertificatePolicies::None;
        self.policies.as_deref().unwrap_or(&NONE)
    }

    /// The certificate, DER encoded.
    pub fn der(&self) -> &CertificateDer<'static> {
        &self.inner.der
    }

    /// The subject as an RFC 4514 string (`CN=client,O=Example`), the format Envoy uses in
    /// `x-forwarded-client-cert`.
    pub fn subject(&self) -> &str {
        &self.inner.subject
    }

    /// The subject's (last) common name, if it has one.
    pub fn common_name(&self) -> Option<&str> {
        self.inner.common_name.as_deref()
    }

    /// The issuer as an RFC 4514 string.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The serial number as lowercase hex, without leading zero bytes (at least one digit pair).
    pub fn serial_hex(&self) -> &str {
        &self.inner.serial_hex
    }

    /// Start of the validity period.
    pub fn not_before(&self) -> SystemTime {
        self.inner.not_before
    }

    /// End of the validity period.
    pub fn not_after(&self) -> SystemTime {
        self.inner.not_after
    }

    /// DNS names of the subject alternative name extension, in certificate order.
    pub fn dns_names(&self) -> &[String] {
        &self.inner.dns_names
    }

    /// URIs of the subject alternative name extension, in certificate order.
    pub fn uris(&self) -> &[String] {
        &self.inner.uris
    }

    /// IP addresses of the subject alternative name extension, in certificate order.
    pub fn ip_addresses(&self) -> &[IpAddr] {
        &self.inner.ip_addresses
    }

    /// Email addresses (rfc822Name) of the subject alternative name extension.
    pub fn emails(&self) -> &[String] {
        &self.inner.emails
    }

    /// How many SANs of other types (otherName, directoryName, ...) the certificate has.
    pub fn other_san_count(&self) -> usize {
        self.inner.other_san_count
    }

    /// The SPIFFE ID, when the certificate is a valid X509-SVID (exactly one `spiffe://` URI SAN).
    pub fn spiffe_id(&self) -> Option<&SpiffeId> {
        self.inner.spiffe.as_ref().ok().and_then(Option::as_ref)
    }

    /// Why the certificate is not a valid X509-SVID although it carries `spiffe://` URIs.
    pub fn spiffe_error(&self) -> Option<&SpiffeIdError> {
        self.inner.spiffe.as_ref().err()
    }

    /// SHA-256 of the DER certificate.
    pub fn cert_sha256(&self) -> &[u8; 32] {
        &self.inner.cert_sha256
    }

    /// SHA-256 of the DER certificate as lowercase hex: the value of Istio's
    /// `verifyCertificateHash` (compare ignoring `:` separators and case).
    pub fn cert_sha256_hex(&self) -> String {
        hex(&self.inner.cert_sha256)
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo.
    pub fn spki_sha256(&self) -> &[u8; 32] {
        &self.inner.spki_sha256
    }

    /// Base64 (standard, padded) SHA-256 of the SubjectPublicKeyInfo: the value of Istio's
    /// `verifyCertificateSpki`.
    pub fn spki_sha256_base64(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(self.inner.spki_sha256)
    }
}

/// The X509-SVID rule: the SPIFFE ID is the one URI SAN with the `spiffe` scheme. The scheme is
/// matched ignoring case here, so that `SPIFFE://...` is reported as a bad SPIFFE ID instead of
/// silently ignored.
fn svid_spiffe_id(uris: &[String]) -> Result<Option<SpiffeId>, SpiffeIdError> {
    let mut spiffe_uris = uris.iter().filter(|uri| {
        uri.get(.."spiffe://".len())
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("spiffe://"))
    });
    match (spiffe_uris.next(), spiffe_uris.clone().count()) {
        (None, _) => Ok(None),
        (Some(uri), 0) => SpiffeId::parse(uri).map(Some),
        (Some(_), more) => Err(SpiffeIdError::MultipleSpiffeUris(more + 1)),
    }
}

/// An iPAddress SAN: 4 bytes for IPv4, 16 for IPv6; other lengths are not addresses.
fn ip_address(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        Some(IpAddr::V4(Ipv4Addr::from(v4)))
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        Some(IpAddr::V6(Ipv6Addr::from(v6)))
    } else {
        None
    }
}

/// Lowercase hex of the serial's content octets, leading zero bytes stripped, at least `00`.
fn serial_hex(raw: &[u8]) -> String {
    let significant = raw
        .iter()
        .position(|&b| b != 0)
        .map_or(&[][..], |i| &raw[i..]);
    if significant.is_empty() {
        "00".to_owned()
    } else {
        hex(significant)
    }
}

/// Seconds since the Unix epoch (negative before 1970) as a `SystemTime`. A time the platform
/// cannot represent saturates to the closest one it can try (never panics).
fn system_time(secs: i64) -> SystemTime {
    let magnitude = Duration::from_secs(secs.unsigned_abs());
    if secs < 0 {
        UNIX_EPOCH.checked_sub(magnitude).unwrap_or(UNIX_EPOCH)
    } else {
        UNIX_EPOCH
            .checked_add(magnitude)
            .or_else(|| UNIX_EPOCH.checked_add(Duration::from_secs(u64::from(u32::MAX))))
            .unwrap_or(UNIX_EPOCH)
    }
}

impl PartialEq for PeerIdentity {
    /// Two identities are equal when their certificates are (same SHA-256), whatever their
    /// certificate policies.
    fn eq(&self, other: &Self) -> bool {
        self.inner.cert_sha256 == other.inner.cert_sha256
    }
}

impl Eq for PeerIdentity {}

impl Hash for PeerIdentity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.inner.cert_sha256.hash(state);
    }
}

impl fmt::Display for PeerIdentity {
    /// One log line: the name that identifies the peer (its SPIFFE ID, else its first DNS SAN,
    /// else its first URI SAN, else its CN), then its subject, serial and the first 16 hex
    /// digits of its certificate SHA-256:
    ///
    /// `spiffe://cluster.local/ns/default/sa/web (subject="CN=web,O=Example", serial=1f2e, sha256=0123456789abcdef...)`
    ///
    /// When the certificate carries `spiffe://` URIs but is not a valid X509-SVID, the reason
    /// follows as `svid_error="..."`. Control characters are escaped, so the line never breaks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        let name = inner
            .spiffe
            .as_ref()
            .ok()
            .and_then(Option::as_ref)
            .map(SpiffeId::as_str)
            .or_else(|| inner.dns_names.first().map(String::as_str))
            .or_else(|| inner.uris.first().map(String::as_str))
            .or(inner.common_name.as_deref());
        match name {
            Some(name) => write_one_line(f, name)?,
            None => f.write_str("<unnamed>")?,
        }
        f.write_str(" (subject=\"")?;
        write_one_line(f, &inner.subject)?;
        write!(f, "\", serial=")?;
        write_one_line(f, &inner.serial_hex)?;
        write!(f, ", sha256={}...", &hex(&inner.cert_sha256[..8]))?;
        if let Err(e) = &inner.spiffe {
            f.write_str(", svid_error=\"")?;
            write_one_line(f, &e.to_string())?;
            f.write_str("\"")?;
        }
        f.write_str(")")
    }
}

/// Writes `s` with control characters escaped (`\n`, `\u{85}`), so it stays on one line.
fn write_one_line(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    for c in s.chars() {
        if c.is_control() {
            write!(f, "{}", c.escape_default())?;
        } else {
            fmt::Write::write_char(f, c)?;
        }
    }
    Ok(())
}

impl fmt::Debug for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        let spiffe = inner
            .spiffe
            .as_ref()
            .map(|id| id.as_ref().map(SpiffeId::as_str));
        f.debug_struct("PeerIdentity")
            .field("subject", &inner.subject)
            .field("issuer", &inner.issuer)
            .field("serial", &inner.serial_hex)
            .field("not_before", &Rfc3339(inner.not_before))
            .field("not_after", &Rfc3339(inner.not_after))
            .field("spiffe", &spiffe)
            .field("dns_names", &inner.dns_names)
            .field("uris", &inner.uris)
            .field("ip_addresses", &inner.ip_addresses)
            .field("emails", &inner.emails)
            .field("other_san_count", &inner.other_san_count)
            .field("cert_sha256", &format_args!("{}", hex(&inner.cert_sha256)))
            .field("certificate_policies", self.certificate_policies())
            .finish_non_exhaustive()
    }
}

/// Formats a `SystemTime` as RFC 3339 UTC with second precision (`2025-01-31T23:59:59Z`).
struct Rfc3339(SystemTime);

impl fmt::Debug for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = match self.0.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => {
                let d = e.duration();
                let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                // Round toward the past, so 0.5 s before the epoch prints as 23:59:59.
                0i64.saturating_sub(whole)
                    .saturating_sub(i64::from(d.subsec_nanos() > 0))
            }
        };
        let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            day_secs / 3600,
            day_secs / 60 % 60,
            day_secs % 60
        )
    }
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_is_two_words_with_or_without_policies() {
        assert_eq!(size_of::<PeerIdentity>(), 2 * size_of::<usize>());
    }

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xf0, 0xff]), "000fa5f0ff");
        let all: Vec<u8> = (0..=255).collect();
        let expected: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&all), expected);
    }

    #[test]
    fn serial_hex_strips_leading_zero_bytes() {
        assert_eq!(serial_hex(&[]), "00");
        assert_eq!(serial_hex(&[0]), "00");
        assert_eq!(serial_hex(&[0, 0]), "00");
        assert_eq!(serial_hex(&[0, 0x8f, 0x01]), "8f01");
        assert_eq!(serial_hex(&[0x01, 0x00]), "0100");
        assert_eq!(serial_hex(&[0xff]), "ff");
    }

    #[test]
    fn system_time_handles_the_whole_range() {
        assert_eq!(system_time(0), UNIX_EPOCH);
        assert_eq!(
            system_time(86_400),
            UNIX_EPOCH + Duration::from_secs(86_400)
        );
        assert_eq!(
            system_time(-86_400),
            UNIX_EPOCH - Duration::from_secs(86_400)
        );
        // Must not panic, whatever the platform can represent.
        let _ = system_time(i64::MIN);
        let _ = system_time(i64::MAX);
    }

    #[test]
    fn rfc3339() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_735_689_599, "2024-12-31T23:59:59Z"),
            (-1, "1969-12-31T23:59:59Z"),
            (-631_152_000, "1950-01-01T00:00:00Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
            (-62_167_219_200, "0000-01-01T00:00:00Z"),
        ];
        for (secs, expected) in cases {
            assert_eq!(
                format!("{:?}", Rfc3339(system_time(secs))),
                expected,
                "{secs}"
            );
        }
        let half_before = UNIX_EPOCH - Duration::from_millis(500);
        assert_eq!(
            format!("{:?}", Rfc3339(half_before)),
            "1969-12-31T23:59:59Z"
        );
    }

    #[test]
    fn ip_address_lengths() {
        assert_eq!(
            ip_address(&[10, 0, 0, 1]),
            Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
        );
        assert_eq!(
            ip_address(&[0; 16]),
            Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED))
        );
        assert_eq!(ip_address(&[]), None);
        assert_eq!(ip_address(&[10, 0, 0, 0, 255, 0, 0, 0]), None);
        assert_eq!(ip_address(&[0; 32]), None);
    }

    #[test]
    fn svid_rule() {
        let uris = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(svid_spiffe_id(&uris(&[])), Ok(None));
        assert_eq!(svid_spiffe_id(&uris(&["https://example.com"])), Ok(None));
        let one = svid_spiffe_id(&uris(&["https://example.com", "spiffe://td/a"]));
        assert_eq!(
            one.map(|id| id.map(|id| id.to_string())),
            Ok(Some("spiffe://td/a".to_owned()))
        );
        assert_eq!(
            svid_spiffe_id(&uris(&[
                "spiffe://td/a",
                "https://x",
                "spiffe://td/b",
                "spiffe://td/c"
            ])),
            Err(SpiffeIdError::MultipleSpiffeUris(3))
        );
        assert_eq!(
            svid_spiffe_id(&uris(&["SPIFFE://td/a"])),
            Err(SpiffeIdError::WrongScheme)
        );
        assert_eq!(
            svid_spiffe_id(&uris(&["spiffe://td/a/"])),
            Err(SpiffeIdError::TrailingSlash)
        );
        // A multi-byte character where the scheme would end: no panic, not a SPIFFE URI.
        assert_eq!(svid_spiffe_id(&uris(&["spiffe:/é"])), Ok(None));
    }
}
