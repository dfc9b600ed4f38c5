//! Certificates with hand-made extensions, for the faults and features [`Pki`](crate::Pki)
//! does not express: rcgen parameters a test tweaks, custom extensions, DER by hand.
//!
//! ```
//! use mtls_testkit::custom::{TestCa, certificate_policies};
//!
//! // 2.16.840.1.101.3.2.1.48.1, DER contents.
//! const P1: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x02, 0x01, 0x30, 0x01];
//! let root = TestCa::root("Root", |_| {});
//! let int = root.intermediate("Policy CA", |p| {
//!     p.custom_extensions = vec![certificate_policies(&[P1], false)];
//! });
//! let (leaf, _key) = int.leaf_with_key(|p| {
//!     p.custom_extensions = vec![certificate_policies(&[P1], false)];
//! });
//! assert!(!leaf.is_empty());
//! ```

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The DNS name (and common name) of [`TestCa::leaf`]'s leaves.
pub const HOST: &str = "server.test";

/// A CA made with rcgen: its parameters and key (to issue), and its certificate.
pub struct TestCa {
    /// Its parameters, as issued.
    pub params: CertificateParams,
    /// Its key.
    pub key: KeyPair,
    /// Its certificate.
    pub cert: rcgen::Certificate,
}

impl TestCa {
    /// A self-signed CA named `name`, its parameters tweaked by `tweak` before signing.
    pub fn root(name: &str, tweak: impl FnOnce(&mut CertificateParams)) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = ca_params(name);
        tweak(&mut params);
        let cert = params.self_signed(&key).unwrap();
        Self { params, key, cert }
    }

    /// This CA as rcgen's issuer.
    pub fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::new(self.params.clone(), &self.key)
    }

    /// A CA named `name` issued by this one (with an authorityKeyIdentifier), tweaked by
    /// `tweak` before signing.
    pub fn intermediate(&self, name: &str, tweak: impl FnOnce(&mut CertificateParams)) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = ca_params(name);
        params.use_authority_key_identifier_extension = true;
        tweak(&mut params);
        let cert = params.signed_by(&key, &self.issuer()).unwrap();
        Self { params, key, cert }
    }

    /// A leaf for [`HOST`] (serverAuth and clientAuth) issued by this CA, tweaked by `tweak`
    /// before signing.
    pub fn leaf(&self, tweak: impl FnOnce(&mut CertificateParams)) -> CertificateDer<'static> {
        self.leaf_with_key(tweak).0
    }

    /// A leaf (as [`leaf`](Self::leaf)) and its private key, for a handshake.
    pub fn leaf_with_key(
        &self,
        tweak: impl FnOnce(&mut CertificateParams),
    ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![HOST.to_owned()]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, HOST);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        tweak(&mut params);
        let cert = params.signed_by(&key, &self.issuer()).unwrap();
        let key = PrivateKeyDer::Pkcs8(key.serialize_der().into());
        (cert.der().clone(), key)
    }

    /// The CA's certificate.
    pub fn der(&self) -> &CertificateDer<'static> {
        self.cert.der()
    }
}

/// The parameters of a CA named `name`: unconstrained, keyCertSign, cRLSign and
/// digitalSignature.
pub fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// The extension `oid` with DER contents `value`.
pub fn extension(oid: &[u64], value: Vec<u8>, critical: bool) -> CustomExtension {
    let mut ext = CustomExtension::from_oid_content(oid, value);
    ext.set_criticality(critical);
    ext
}

/// One DER TLV.
pub fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap());
    } else if len < 0x100 {
        out.extend([0x81, u8::try_from(len).unwrap()]);
    } else {
        out.extend([
            0x82,
            u8::try_from(len >> 8).unwrap(),
            u8::try_from(len & 0xff).unwrap(),
        ]);
    }
    out.extend_from_slice(contents);
    out
}

/// certificatePolicies (2.5.29.32) asserting each of `oids` (DER contents of the OIDs), without
/// qualifiers.
pub fn certificate_policies(oids: &[&[u8]], critical: bool) -> CustomExtension {
    let infos: Vec<u8> = oids
        .iter()
        .flat_map(|oid| tlv(0x30, &tlv(0x06, oid)))
        .collect();
    extension(&[2, 5, 29, 32], tlv(0x30, &infos), critical)
}
