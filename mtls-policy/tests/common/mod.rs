//! Test identities generated with rcgen at test time (no certificate files).
#![allow(dead_code, unreachable_pub)]

use mtls_core::PeerIdentity;
use rcgen::{CertificateParams, DnType, KeyPair, SanType};

/// A self-signed leaf with a CN and SANs written `dns:x`, `uri:x`, `ip:x`, `email:x`.
pub fn identity(cn: &str, sans: &[&str]) -> PeerIdentity {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    for san in sans {
        let (kind, v) = san.split_once(':').unwrap();
        params.subject_alt_names.push(match kind {
            "dns" => SanType::DnsName(v.try_into().unwrap()),
            "uri" => SanType::URI(v.try_into().unwrap()),
            "ip" => SanType::IpAddress(v.parse().unwrap()),
            "email" => SanType::Rfc822Name(v.try_into().unwrap()),
            _ => panic!("{san}"),
        });
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    PeerIdentity::from_der(cert.der()).unwrap()
}
