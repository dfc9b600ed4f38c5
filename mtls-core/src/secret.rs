//! Kubernetes and Istio secret layouts.

use std::fmt;

/// The key layout of a Kubernetes Secret or ConfigMap holding TLS material.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecretLayout {
    /// `kubernetes.io/tls` (also ingress-nginx): `tls.crt`, `tls.key`, optional `ca.crt`, `ca.crl`.
    KubernetesTls,
    /// Istio's generic layout: `cert`, `key`, optional `cacert`, `crl`.
    IstioGeneric,
    /// A CA-only secret: Istio's separate `<name>-cacert` secret (`cacert`, optional `crl`).
    IstioCaCert,
    /// A CA-only secret or ConfigMap with `ca.crt` (optional `ca.crl`): Gateway API
    /// `caCertificateRefs`, ingress-nginx `auth-tls-secret`, AGC `caCertificateRef`.
    CaOnly,
}

impl fmt::Display for SecretLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::KubernetesTls => "kubernetes.io/tls",
            Self::IstioGeneric => "Istio generic",
            Self::IstioCaCert => "Istio <name>-cacert",
            Self::CaOnly => "ca.crt",
        })
    }
}
