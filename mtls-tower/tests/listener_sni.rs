//! A ClientHello without SNI, against listeners built from the policy's `unknown_sni`, with
//! and without a default host: the real acceptor over loopback, the client connecting by IP
//! address (rustls then sends no SNI).
#![cfg(feature = "serve")]

mod support;

use std::net::{IpAddr, Ipv4Addr};

use mtls_policy::Policy;
use mtls_testkit::{Leaf, Pki};
use mtls_tower::{AcceptError, Acceptor, ConnectionInfo, MtlsListener};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::{TcpListener, TcpStream};

use support::{LIMIT, client};

/// Host certificates, each also valid for 127.0.0.1 (the name a client without SNI checks).
struct Hosts {
    a: Leaf,
    b: Leaf,
    default: Leaf,
    dir: tempfile::TempDir,
}

impl Hosts {
    fn new() -> Self {
        let pki = Pki::shared();
        let dir = tempfile::tempdir().unwrap();
        let hosts = Self {
            a: pki.server_for(&["a.example.com", "127.0.0.1"]).issue(),
            b: pki.server_for(&["b.example.com", "127.0.0.1"]).issue(),
            default: pki.server_for(&["default.example", "127.0.0.1"]).issue(),
            dir,
        };
        for (leaf, stem) in [
            (&hosts.a, "a"),
            (&hosts.b, "b"),
            (&hosts.default, "default"),
        ] {
            leaf.write_to(hosts.dir.path(), stem).unwrap();
        }
        hosts
    }

    /// The listener of a policy with hosts `a.example.com` and `b.example.com`, and a host
    /// without names when `with_default`; each host's certificate is in the model.
    fn listener(&self, unknown_sni: &str, with_default: bool) -> MtlsListener {
        let d = self.dir.path().display();
        let host = |names: &str, stem: &str| {
            format!(
                "      - hostnames: {names}\n        \
                 certificate: {{ chain: {d}/{stem}.pem, key: {d}/{stem}.key }}\n"
            )
        };
        let mut yaml = format!(
            "listeners:\n  - name: web\n    port: 8443\n    unknown_sni: {unknown_sni}\n    \
             hosts:\n{}{}",
            host("[a.example.com]", "a"),
            host("[b.example.com]", "b"),
        );
        if with_default {
            yaml += &host("[]", "default");
        }
        let policy = Policy::from_yaml(&yaml).unwrap();
        MtlsListener::builder(policy, "web", support::provider())
            .build()
            .unwrap()
    }
}

/// One connection to `acceptor` from a client that sends no SNI: what the acceptor made of
/// it, and the certificate the client was served (or why its handshake failed).
async fn hello_without_sni(
    acceptor: Acceptor,
) -> (
    Result<ConnectionInfo, AcceptError>,
    std::io::Result<CertificateDer<'static>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = async {
        let (tcp, _) = listener.accept().await.unwrap();
        acceptor.accept(tcp).await.map(|(_, info)| info)
    };
    let config = client(Pki::shared(), None);
    let client = async {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::from(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await?;
        let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
        Ok(leaf.into_owned())
    };
    tokio::time::timeout(LIMIT, async { tokio::join!(server, client) })
        .await
        .unwrap()
}

#[tokio::test]
async fn refuse_without_a_default_host_refuses_a_hello_without_sni() {
    let hosts = Hosts::new();
    let (accepted, served) = hello_without_sni(hosts.listener("refuse", false).acceptor()).await;
    assert!(
        matches!(accepted, Err(AcceptError::UnknownSni(None))),
        "{accepted:?}"
    );
    assert!(served.is_err(), "the client was served {served:?}");
}

#[tokio::test]
async fn refuse_with_a_default_host_serves_it_a_hello_without_sni() {
    let hosts = Hosts::new();
    let (accepted, served) = hello_without_sni(hosts.listener("refuse", true).acceptor()).await;
    assert_eq!(accepted.unwrap().sni(), None);
    assert_eq!(&served.unwrap(), hosts.default.cert_der());
}

#[tokio::test]
async fn default_without_a_default_host_serves_the_first_host() {
    let hosts = Hosts::new();
    let (accepted, served) = hello_without_sni(hosts.listener("default", false).acceptor()).await;
    assert_eq!(accepted.unwrap().sni(), None);
    assert_eq!(&served.unwrap(), hosts.a.cert_der());
}
