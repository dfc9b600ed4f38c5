//! The upstream connector against real upstreams on 127.0.0.1: one plain, one requiring mTLS.

mod support;

use std::sync::Arc;

use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mtls_core::CaBundle;
use mtls_policy::PeerVerification;
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
    let backend = pki.server_for(&["backend.internal"]).issue();
    let verifier = Arc::new(WebPki(mtls_testkit::tls::webpki_verifier(pki, &[])));
    let snapshot = TlsSnapshot::builder(provider())
        .host(HostTls::new(["backend.internal"], credential(&backend)).client_verifier(verifier))
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
