//! The certificate policies of a connection's peer, over real handshakes on 127.0.0.1: the
//! identity a service reads carries the policies valid for the path its host's verifier built,
//! after that host's trust domain's initial set; the same client certificate holds other
//! policies on a host whose domain names another set (the identity cache of the listener is
//! shared by its hosts, and must not carry them over). And the `ssl-client-policies` header
//! the layer forwards them in.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::convert::Infallible;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use mtls_policy::PeerMode;
use mtls_policy::trust::{CertificatePolicies as Initial, PolicyOid};
use mtls_testkit::Pki;
use mtls_testkit::custom::{TestCa, certificate_policies};
use mtls_tower::tls::{DomainOptions, LoadedTrustDomain, PolicyVerifier};
use mtls_tower::{Acceptor, ConnectionInfo, HostTls, TlsSnapshot};
use rustls::ClientConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use support::{credential, provider, start_with, tls_get};

/// 2.16.840.1.101.3.2.1.48.1 and .2 (the PKITS test policies).
const A: &str = "2.16.840.1.101.3.2.1.48.1";
const B: &str = "2.16.840.1.101.3.2.1.48.2";
const A_DER: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x02, 0x01, 0x30, 0x01];
const B_DER: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x02, 0x01, 0x30, 0x02];

/// Root -> "Policy CA" (A, B) -> client leaf (A, B): the root's PEM, the client's chain (leaf
/// first) and key.
fn client_pki() -> (String, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let a_and_b = || certificate_policies(&[A_DER, B_DER], false);
    let root = TestCa::root("Policy Root", |_| {});
    let int = root.intermediate("Policy CA", |p| p.custom_extensions = vec![a_and_b()]);
    let (leaf, key) = int.leaf_with_key(|p| p.custom_extensions = vec![a_and_b()]);
    (root.cert.pem(), vec![leaf, int.der().clone()], key)
}

/// A verifier over `root_pem` whose trust domain reports (without requiring) `initial`.
fn verifier(root_pem: &str, initial: &[&str]) -> Arc<PolicyVerifier> {
    let provider = provider();
    let bundle = mtls_core::CaBundle::from_bytes(root_pem.as_bytes(), "policy-root").unwrap();
    let mut domain =
        LoadedTrustDomain::new("piv", bundle, None, DomainOptions::default(), &provider).unwrap();
    if !initial.is_empty() {
        let oids = initial
            .iter()
            .map(|o| PolicyOid::try_from((*o).to_owned()).unwrap())
            .collect();
        let mut policies = Initial::new(oids);
        policies.require_explicit = false;
        domain = domain.with_certificate_policies(&policies);
    }
    Arc::new(
        PolicyVerifier::builder(provider)
            .trust_domain(domain)
            .build()
            .unwrap(),
    )
}

/// Answers with the certificate policies of the connection's peer.
async fn policies(req: Request<Incoming>) -> Result<Response<String>, Infallible> {
    let info = req.extensions().get::<ConnectionInfo>();
    let body = match info.and_then(ConnectionInfo::peer) {
        Some(peer) => format!("policies={}\n", peer.certificate_policies()),
        None => "no peer\n".to_owned(),
    };
    Ok(Response::new(body))
}

#[tokio::test]
async fn each_host_sees_the_policies_its_trust_domain_validates() {
    let pki = Pki::shared();
    let (root_pem, chain, key) = client_pki();
    let server = pki
        .server_for(&["a.policies.test", "b.policies.test", "any.policies.test"])
        .issue();
    let host = |name: &str, initial: &[&str]| {
        HostTls::new([name], credential(&server)).client_verifier(verifier(&root_pem, initial))
    };
    let snapshot = TlsSnapshot::builder(provider())
        .host(host("a.policies.test", &[A]))
        .host(host("b.policies.test", &[B]))
        .host(host("any.policies.test", &[]))
        .peer_mode(PeerMode::Strict)
        .build()
        .unwrap();
    let server = start_with(Acceptor::new(snapshot), tower::service_fn(policies)).await;
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(pki.root_store())
        .with_client_auth_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let config = Arc::new(config);
    // Each host twice, interleaved: the second visit finds the identity in the cache.
    for (name, expected) in [
        ("a.policies.test", format!("policies={A}")),
        ("b.policies.test", format!("policies={B}")),
        ("any.policies.test", format!("policies={A}, {B}")),
        ("a.policies.test", format!("policies={A}")),
        ("b.policies.test", format!("policies={B}")),
        ("any.policies.test", format!("policies={A}, {B}")),
    ] {
        let reply = tls_get(server.addr, config.clone(), name, name)
            .await
            .unwrap();
        assert!(
            reply.response.starts_with("HTTP/1.1 200 OK"),
            "{name}: {}",
            reply.response
        );
        assert!(
            reply.response.ends_with(&format!("{expected}\n")),
            "{name}: {}",
            reply.response
        );
    }
    // A client of the test kit's PKI asserts no policy: none, on the same listener.
    let verified_elsewhere = pki.default_client();
    let snapshot = TlsSnapshot::builder(provider())
        .host(
            HostTls::new(["plain.policies.test"], credential(&server_leaf(pki)))
                .client_verifier(support::client_verifier(&pki.root().cert_pem())),
        )
        .build()
        .unwrap();
    let plain = start_with(Acceptor::new(snapshot), tower::service_fn(policies)).await;
    let reply = tls_get(
        plain.addr,
        support::client(pki, Some(verified_elsewhere)),
        "plain.policies.test",
        "plain.policies.test",
    )
    .await
    .unwrap();
    assert!(
        reply.response.ends_with("policies=none\n"),
        "{}",
        reply.response
    );
    plain.stop().await;
    server.stop().await;
}

fn server_leaf(pki: &Pki) -> mtls_testkit::Leaf {
    pki.server_for(&["plain.policies.test"]).issue()
}

/// The `ssl-client-policies` header: the peer's policies as the layer forwards them, and a
/// forged inbound copy removed.
#[cfg(feature = "layer")]
#[test]
fn ssl_client_headers_forward_the_policies() {
    use http::HeaderMap;
    use mtls_core::{CertificatePolicies, PeerIdentity};
    use mtls_policy::PeerVerification;
    use mtls_tower::layer::ForwardIdentity;
    use mtls_tower::layer::forward::SSL_CLIENT_POLICIES;

    let (_, chain, _) = client_pki();
    let peer = PeerIdentity::from_der(&chain[0]).unwrap();
    let verified = PeerVerification::verified("piv");
    let forward = ForwardIdentity::none().ssl_client();
    for (policies, expected) in [
        (
            CertificatePolicies::listed([B, A]).unwrap(),
            Some(format!("{A}, {B}")),
        ),
        (CertificatePolicies::Any, Some("any".to_owned())),
        // No policy valid: no header (and the forged one removed).
        (CertificatePolicies::None, None),
    ] {
        let mut headers = HeaderMap::new();
        headers.insert(SSL_CLIENT_POLICIES, "2.5.29.32.0".parse().unwrap());
        headers.insert("ssl_client_policies", "forged".parse().unwrap());
        let id = peer.clone().with_certificate_policies(policies);
        forward.apply(&mut headers, Some(&id), &chain, &verified);
        let values: Vec<&str> = headers
            .get_all(SSL_CLIENT_POLICIES)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(values, expected.as_slice());
        assert!(headers.get("ssl_client_policies").is_none());
    }
    // No identity: no policies header, and the forged one is gone.
    let mut headers = HeaderMap::new();
    headers.insert(SSL_CLIENT_POLICIES, "2.5.29.32.0".parse().unwrap());
    forward.apply(&mut headers, None, &[], &PeerVerification::NoCertificate);
    assert!(headers.get(SSL_CLIENT_POLICIES).is_none());
}
