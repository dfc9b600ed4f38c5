//! The upstream connector against real upstreams on 127.0.0.1: one plain, one requiring mTLS.

mod support;

use std::sync::Arc;

use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mtls_core::CaBundle;
use mtls_policy::{IdentityMatchSpec, PeerVerification};
use mtls_testkit::Pki;
use mtls_tower::{
    Acceptor, HostTls, ReportingVerifier, TlsSnapshot, UpstreamConnector, UpstreamTls,
};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls_pki_types::{CertificateDer, UnixTime};
use support::{credential, provider, start};

/// rustls' own WebPKI verifier, reporting every accepted certificate as verified by "upstream".
#[derive(Debug)]
struct WebPki(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for WebPki {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.0.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.0.verify_client_cert(end_entity, intermediates, now)
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

impl ReportingVerifier for WebPki {
    fn outcome_for(&self, _: &[CertificateDer<'_>]) -> PeerVerification {
        PeerVerification::verified("upstream")
    }
}

async fn mtls_upstream(pki: &Pki) -> support::Server {
    upstream_with(pki, &pki.server_for(&["backend.internal"]).issue()).await
}

/// An upstream answering SNI `backend.internal` with `backend`, requiring client certificates.
async fn upstream_with(pki: &Pki, backend: &mtls_testkit::Leaf) -> support::Server {
    let verifier = Arc::new(WebPki(mtls_testkit::tls::webpki_verifier(pki, &[])));
    let snapshot = TlsSnapshot::builder(provider())
        .host(HostTls::new(["backend.internal"], credential(backend)).client_verifier(verifier))
        .build()
        .unwrap();
    start(Acceptor::new(snapshot)).await
}

async fn get(connector: UpstreamConnector, uri: String) -> Result<String, String> {
    let client = Client::builder(TokioExecutor::new()).build::<_, Empty<bytes::Bytes>>(connector);
    let response = tokio::time::timeout(support::LIMIT, client.get(uri.parse().unwrap()))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| {
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                source = s.source();
            }
            msg
        })?;
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn ca(pki: &Pki) -> CaBundle {
    CaBundle::from_bytes(pki.root().cert_pem().as_bytes(), "ca").unwrap()
}

#[tokio::test]
async fn presents_our_client_certificate_and_checks_the_upstream_name() {
    let pki = Pki::shared();
    let upstream = mtls_upstream(pki).await;
    let gateway_identity = pki
        .client()
        .uri("spiffe://cluster.local/ns/ingress/sa/gateway")
        .issue();
    let tls = UpstreamTls::builder(provider(), &ca(pki))
        .client_certificate(credential(&gateway_identity))
        .expected_name("backend.internal")
        .build()
        .unwrap();
    let body = get(
        UpstreamConnector::new(tls),
        format!("https://{}/", upstream.addr),
    )
    .await
    .unwrap();
    assert!(
        body.contains(
            "transport=tls sni=backend.internal peer=spiffe://cluster.local/ns/ingress/sa/gateway"
        ),
        "{body}"
    );
    upstream.stop().await;
}

#[tokio::test]
async fn a_wrong_upstream_name_fails_with_the_reason() {
    let pki = Pki::shared();
    let upstream = mtls_upstream(pki).await;
    let tls = UpstreamTls::builder(provider(), &ca(pki))
        .client_certificate(credential(pki.default_client()))
        .expected_name("other.internal")
        .build()
        .unwrap();
    let err = get(
        UpstreamConnector::new(tls),
        format!("https://{}/", upstream.addr),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("TLS handshake with https://127.0.0.1:"),
        "{err}"
    );
    assert!(
        err.contains("certificate not valid for name \"other.internal\""),
        "{err}"
    );
    upstream.stop().await;
}

#[tokio::test]
async fn an_upstream_of_an_untrusted_ca_fails() {
    let pki = Pki::shared();
    let upstream = mtls_upstream(pki).await;
    let tls = UpstreamTls::builder(provider(), &ca(Pki::shared_unrelated()))
        .expected_name("backend.internal")
        .build()
        .unwrap();
    let err = get(
        UpstreamConnector::new(tls),
        format!("https://{}/", upstream.addr),
    )
    .await
    .unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");
    upstream.stop().await;
}

#[tokio::test]
async fn plain_http_upstreams_and_misconfiguration() {
    let pki = Pki::shared();
    let leaf = pki.server_for(&["plain.internal"]).issue();
    let snapshot = TlsSnapshot::builder(provider())
        .host(HostTls::new(["plain.internal"], credential(&leaf)))
        .peer_mode(mtls_policy::PeerMode::Permissive)
        .build()
        .unwrap();
    let upstream = start(Acceptor::new(snapshot)).await;
    let body = get(
        UpstreamConnector::plain(),
        format!("http://{}/", upstream.addr),
    )
    .await
    .unwrap();
    assert!(body.contains("transport=plaintext"), "{body}");
    let err = get(
        UpstreamConnector::plain(),
        format!("https://{}/", upstream.addr),
    )
    .await
    .unwrap_err();
    assert!(err.contains("https upstream without TLS settings"), "{err}");
    upstream.stop().await;
}

/// An allow-list as the configuration writes it (`backends.<name>.tls.subject_alt_names`).
fn allow(yaml: &str) -> IdentityMatchSpec {
    let text = format!(
        "listeners: []\nbackends:\n  api:\n    url: https://backend.internal\n    tls:\n      \
         ca: ca.pem\n      subject_alt_names: {yaml}\n"
    );
    let config = mtls_policy::PolicyConfig::from_yaml(&text).unwrap();
    let tls = config.backends["api"].tls.clone().unwrap();
    tls.subject_alt_names.unwrap()
}

/// A GET through a connector presenting our client certificate, sending SNI
/// `backend.internal` and admitting the upstream by `allowed`.
async fn get_allowed(
    pki: &Pki,
    upstream: &support::Server,
    allowed: &str,
) -> Result<String, String> {
    let tls = UpstreamTls::builder(provider(), &ca(pki))
        .client_certificate(credential(pki.default_client()))
        .expected_name("backend.internal")
        .subject_alt_names(allow(allowed))
        .build()
        .unwrap();
    get(
        UpstreamConnector::new(tls),
        format!("https://{}/", upstream.addr),
    )
    .await
}

#[tokio::test]
async fn an_allow_list_admits_the_upstream_by_its_sans_instead_of_the_name() {
    let pki = Pki::shared();
    let leaf = pki
        .server_for(&["backend.internal", "10.1.2.3"])
        .uri("spiffe://cluster.local/ns/api/sa/server")
        .issue();
    let upstream = upstream_with(pki, &leaf).await;
    for allowed in [
        "{ principals: [backend.internal] }",
        "{ match: [{ dns: { wildcard: \"*.internal\" } }] }",
        "{ match: [{ spiffe: { trust_domain: cluster.local } }] }",
        "{ match: [{ spiffe: { trust_domain: cluster.local, path: { prefix: /ns/api/ } } }] }",
        "{ match: [{ uri: { exact: \"spiffe://cluster.local/ns/api/sa/server\" } }] }",
        "{ match: [{ ip: { exact: 10.1.2.3 } }] }",
        "{ principals: [10.1.2.3] }",
        "{ principals: [nobody.internal], match: [{ ip: { exact: 10.1.2.3 } }] }",
    ] {
        let body = get_allowed(pki, &upstream, allowed)
            .await
            .unwrap_or_else(|e| panic!("{allowed}: {e}"));
        // The expected name is still the SNI.
        assert!(
            body.contains("transport=tls sni=backend.internal"),
            "{allowed}: {body}"
        );
    }
    upstream.stop().await;
}

#[tokio::test]
async fn an_upstream_outside_the_allow_list_fails_with_its_identity_and_the_list() {
    let pki = Pki::shared();
    let leaf = pki
        .server_for(&["backend.internal", "10.1.2.3"])
        .uri("spiffe://cluster.local/ns/api/sa/server")
        .issue();
    let upstream = upstream_with(pki, &leaf).await;
    let cases = [
        (
            "{ match: [{ spiffe: { trust_domain: other.example } }] }",
            "spiffe trust domain \"other.example\"",
        ),
        (
            "{ match: [{ spiffe: { trust_domain: cluster.local, path: { prefix: /ns/web/ } } }] }",
            "spiffe trust domain \"cluster.local\" path prefix \"/ns/web/\"",
        ),
        (
            "{ principals: [backend.other], match: [{ ip: { exact: 10.1.2.4 } }] }",
            "\"backend.other\", ip exact \"10.1.2.4\"",
        ),
    ];
    for (allowed, described) in cases {
        let err = get_allowed(pki, &upstream, allowed).await.unwrap_err();
        let want = format!(
            "TLS handshake with https://{}/: upstream certificate identity DNS:backend.internal, \
             URI:spiffe://cluster.local/ns/api/sa/server, IP:10.1.2.3 is not in \
             subject_alt_names [{described}]",
            upstream.addr
        );
        assert!(err.contains(&want), "{allowed}:\n{err}\nwant: {want}");
    }
    upstream.stop().await;
}

#[tokio::test]
async fn an_allow_list_still_requires_a_trusted_chain() {
    let pki = Pki::shared();
    let upstream = mtls_upstream(pki).await;
    let tls = UpstreamTls::builder(provider(), &ca(Pki::shared_unrelated()))
        .expected_name("backend.internal")
        .subject_alt_names(allow("{ principals: [backend.internal] }"))
        .build()
        .unwrap();
    let err = get(
        UpstreamConnector::new(tls),
        format!("https://{}/", upstream.addr),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("invalid peer certificate: UnknownIssuer"),
        "{err}"
    );
    upstream.stop().await;
}

#[test]
fn an_allow_list_that_does_not_compile_fails_the_build() {
    let pki = Pki::shared();
    let mut allowed = IdentityMatchSpec::default();
    allowed.rules.push(mtls_policy::IdentityRule::Dns(
        mtls_policy::StringMatch::Regex("(".into()),
    ));
    let err = UpstreamTls::builder(provider(), &ca(pki))
        .subject_alt_names(allowed)
        .build()
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .starts_with("upstream subject_alt_names: invalid regex \"(\": "),
        "{err}"
    );
}
