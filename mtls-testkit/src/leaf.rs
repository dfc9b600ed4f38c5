//! Leaf certificates and their builder.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SanType,
    SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::key::{KeyAlg, KeyMaterial};
use crate::pki::{DAY, IssuedBy, ORGANIZATION, Pki, random_serial, serial_bytes, to_time};

/// Extended key usage of a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Eku {
    /// `id-kp-clientAuth` only.
    ClientAuth,
    /// `id-kp-serverAuth` only.
    ServerAuth,
    /// Both `serverAuth` and `clientAuth`.
    Both,
    /// No EKU extension at all (which WebPKI treats as "any usage").
    Absent,
}

/// Validity window of a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Validity {
    /// From one day ago to one year from now (the default).
    #[default]
    Current,
    /// From 30 days ago to 1 day ago.
    Expired,
    /// From 1 day from now to 30 days from now.
    NotYetValid,
    /// An explicit window: `not_before`, `not_after`.
    Between(SystemTime, SystemTime),
}

impl Validity {
    /// The `(not_before, not_after)` window, relative to `now`.
    pub fn window(self, now: SystemTime) -> (SystemTime, SystemTime) {
        match self {
            Self::Current => (now - DAY, now + 365 * DAY),
            Self::Expired => (now - 30 * DAY, now - DAY),
            Self::NotYetValid => (now + DAY, now + 30 * DAY),
            Self::Between(not_before, not_after) => (not_before, not_after),
        }
    }
}

/// Builds one leaf certificate; start it with [`Pki::server`], [`Pki::server_for`] or
/// [`Pki::client`], finish it with [`issue`](Self::issue).
///
/// SAN setters add to the list; [`clear_sans`](Self::clear_sans) empties it.
#[derive(Debug, Clone)]
#[must_use = "a LeafBuilder does nothing until .issue()"]
pub struct LeafBuilder<'a> {
    pki: &'a Pki,
    common_name: Option<String>,
    organization: Option<String>,
    sans: Vec<SanType>,
    eku: Eku,
    validity: Validity,
    issued_by: IssuedBy,
    serial: Option<Vec<u8>>,
    alg: KeyAlg,
}

impl<'a> LeafBuilder<'a> {
    pub(crate) fn new(pki: &'a Pki, common_name: &str, eku: Eku) -> Self {
        Self {
            pki,
            common_name: Some(common_name.to_owned()),
            organization: Some(ORGANIZATION.to_owned()),
            sans: Vec::new(),
            eku,
            validity: Validity::Current,
            issued_by: IssuedBy::Intermediate,
            serial: None,
            alg: pki.alg(),
        }
    }

    /// Sets the subject common name (`CN=`).
    pub fn common_name(mut self, cn: &str) -> Self {
        self.common_name = Some(cn.to_owned());
        self
    }

    /// Removes the common name from the subject.
    pub fn no_common_name(mut self) -> Self {
        self.common_name = None;
        self
    }

    /// Sets the subject organisation (`O=`); the default is [`ORGANIZATION`](crate::ORGANIZATION).
    pub fn organization(mut self, o: &str) -> Self {
        self.organization = Some(o.to_owned());
        self
    }

    /// Removes the organisation from the subject.
    pub fn no_organization(mut self) -> Self {
        self.organization = None;
        self
    }

    /// Adds a DNS SAN (`httpbin.example.com`, `*.example.com`).
    ///
    /// # Panics
    /// If `name` is not an IA5 string.
    pub fn dns(mut self, name: &str) -> Self {
        let name = name
            .try_into()
            .unwrap_or_else(|e| panic!("mtls-testkit: bad DNS SAN {name:?}: {e}"));
        self.sans.push(SanType::DnsName(name));
        self
    }

    /// Adds a URI SAN, e.g. a SPIFFE ID `spiffe://cluster.local/ns/default/sa/web`.
    ///
    /// # Panics
    /// If `uri` is not an IA5 string.
    pub fn uri(mut self, uri: &str) -> Self {
        let uri = uri
            .try_into()
            .unwrap_or_else(|e| panic!("mtls-testkit: bad URI SAN {uri:?}: {e}"));
        self.sans.push(SanType::URI(uri));
        self
    }

    /// Adds an IP address SAN.
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.sans.push(SanType::IpAddress(ip));
        self
    }

    /// Adds an email (rfc822Name) SAN.
    ///
    /// # Panics
    /// If `email` is not an IA5 string.
    pub fn email(mut self, email: &str) -> Self {
        let email = email
            .try_into()
            .unwrap_or_else(|e| panic!("mtls-testkit: bad email SAN {email:?}: {e}"));
        self.sans.push(SanType::Rfc822Name(email));
        self
    }

    /// Removes every SAN added so far (including the presets of [`Pki::server`]).
    pub fn clear_sans(mut self) -> Self {
        self.sans.clear();
        self
    }

    /// Sets the extended key usage.
    pub fn eku(mut self, eku: Eku) -> Self {
        self.eku = eku;
        self
    }

    /// Sets the validity window.
    pub fn validity(mut self, validity: Validity) -> Self {
        self.validity = validity;
        self
    }

    /// Chooses the signing CA (the intermediate by default).
    pub fn issued_by(mut self, by: IssuedBy) -> Self {
        self.issued_by = by;
        self
    }

    /// Sets the serial number (default: 16 random bytes).
    pub fn serial(mut self, serial: u64) -> Self {
        self.serial = Some(serial_bytes(serial));
        self
    }

    /// Sets the leaf's key algorithm (default: the PKI's). An RSA PKI can issue ECDSA leaves
    /// quickly this way, and vice versa.
    pub fn key_alg(mut self, alg: KeyAlg) -> Self {
        self.alg = alg;
        self
    }

    /// Generates the key and signs the certificate.
    ///
    /// # Panics
    /// If rcgen refuses the parameters (e.g. `Validity::Between` with `not_after` before the
    /// Unix epoch).
    pub fn issue(self) -> Leaf {
        let key = self.alg.generate();
        let serial = self.serial.unwrap_or_else(random_serial);
        let ca = self.pki.ca(self.issued_by);

        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(cn) = &self.common_name {
            params
                .distinguished_name
                .push(DnType::CommonName, cn.as_str());
        }
        if let Some(o) = &self.organization {
            params
                .distinguished_name
                .push(DnType::OrganizationName, o.as_str());
        }
        params.subject_alt_names = self.sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = match self.eku {
            Eku::ClientAuth => vec![ExtendedKeyUsagePurpose::ClientAuth],
            Eku::ServerAuth => vec![ExtendedKeyUsagePurpose::ServerAuth],
            Eku::Both => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            Eku::Absent => Vec::new(),
        };
        let (not_before, not_after) = self.validity.window(SystemTime::now());
        params.not_before = to_time(not_before);
        params.not_after = to_time(not_after);
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.use_authority_key_identifier_extension = true;

        let cert = params
            .signed_by(&key, &ca.issuer)
            .unwrap_or_else(|e| panic!("mtls-testkit: signing leaf failed: {e}"));
        let mut chain = vec![cert.der().clone()];
        if self.issued_by == IssuedBy::Intermediate {
            chain.push(self.pki.intermediate().cert_der().clone());
        }
        Leaf {
            chain,
            key: KeyMaterial::from_key_pair(self.alg, &key),
            serial,
            issued_by: self.issued_by,
            issuer_cert: ca.cert_der().clone(),
            root: self.pki.root().cert_der().clone(),
            not_after,
        }
    }
}

/// An issued leaf certificate with its chain and key. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Leaf {
    /// `[leaf, intermediate]` or `[leaf]`.
    chain: Vec<CertificateDer<'static>>,
    key: KeyMaterial,
    serial: Vec<u8>,
    issued_by: IssuedBy,
    pub(crate) issuer_cert: CertificateDer<'static>,
    root: CertificateDer<'static>,
    not_after: SystemTime,
}

impl Leaf {
    /// The leaf certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }

    /// The leaf certificate alone, PEM.
    pub fn cert_pem(&self) -> String {
        crate::pem::encode("CERTIFICATE", &self.chain[0])
    }

    /// The chain to present: the leaf then its intermediates (never the root).
    pub fn chain_der(&self) -> Vec<CertificateDer<'static>> {
        self.chain.clone()
    }

    /// [`chain_der`](Self::chain_der) as concatenated PEM blocks (a `tls.crt`).
    pub fn chain_pem(&self) -> String {
        crate::pem::certs(self.chain.iter().map(|c| c.as_ref()))
    }

    /// The private key in all its encodings.
    pub fn key(&self) -> &KeyMaterial {
        &self.key
    }

    /// The private key as rustls wants it (PKCS#8). Same as `self.key().der()`.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        self.key.der()
    }

    /// The private key, PKCS#8 PEM. Same as `self.key().pem()`.
    pub fn key_pem(&self) -> String {
        self.key.pem()
    }

    /// The serial number (big-endian, minimal, positive).
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }

    /// Which CA signed this leaf.
    pub fn issued_by(&self) -> IssuedBy {
        self.issued_by
    }

    /// The signing CA's certificate, DER.
    pub fn issuer_cert_der(&self) -> &CertificateDer<'static> {
        &self.issuer_cert
    }

    /// The root (trust anchor) of the PKI that issued this leaf, DER.
    pub fn ca_cert_der(&self) -> &CertificateDer<'static> {
        &self.root
    }

    /// The root of the PKI that issued this leaf, PEM (a `ca.crt`).
    pub fn ca_cert_pem(&self) -> String {
        crate::pem::encode("CERTIFICATE", &self.root)
    }

    /// The end of the validity window.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// Writes `<dir>/<stem>.pem` (the chain) and `<dir>/<stem>.key` (PKCS#8 PEM); returns
    /// their paths.
    ///
    /// # Errors
    /// Any I/O error from writing the files.
    pub fn write_to(&self, dir: &Path, stem: &str) -> io::Result<(PathBuf, PathBuf)> {
        let cert = dir.join(format!("{stem}.pem"));
        let key = dir.join(format!("{stem}.key"));
        std::fs::write(&cert, self.chain_pem())?;
        std::fs::write(&key, self.key_pem())?;
        Ok((cert, key))
    }
}
