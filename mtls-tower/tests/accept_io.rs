//! The acceptor over streams other than TCP: an in-memory pipe and a Unix socket, with a real
//! rustls client presenting a client certificate, plaintext under PERMISSIVE and STRICT, and
//! per-source limits keyed by the address the application gives.

mod support;

use std::net::SocketAddr;

use mtls_policy::{PeerMode, SourceLimits};
use mtls_testkit::Pki;
use mtls_tower::{AcceptError, Acceptor, HostTls, TlsSnapshot};
use rustls_pki_types::ServerName;
use support::{LIMIT, client, client_verifier, credential, provider};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

fn snapshot(mode: PeerMode) -> TlsSnapshot {
    let pki = Pki::shared();
    let server = pki.server_for(&["api.example.com"]).issue();
    TlsSnapshot::builder(provider())
        .host(
            HostTls::new(["api.example.com"], credential(&server))
                .client_verifier(client_verifier(&pki.root().cert_pem())),
        )
        .peer_mode(mode)
        .build()
        .unwrap()
}

/// A TLS client on `io` (SNI api.example.com, the default client certificate): says `ping`
/// and reads the reply until the server closes.
async fn tls_client<S: AsyncRead + AsyncWrite + Unpin>(io: S) -> std::io::Result<String> {
    let pki = Pki::shared();
    let config = client(pki, Some(pki.default_client()));
    let name = ServerName::try_from("api.example.com").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, io)
        .await?;
    tls.write_all(b"ping").await?;
    tls.flush().await?;
    let mut reply = String::new();
    tls.read_to_string(&mut reply).await?;
    Ok(reply)
}

/// Serves one accepted stream: reads `ping` (4 bytes), answers `pong`, closes.
async fn pong<S: AsyncRead + AsyncWrite + Unpin>(mut io: S) {
    let mut ping = [0u8; 4];
    io.read_exact(&mut ping).await.unwrap();
    assert_eq!(&ping, b"ping");
    io.write_all(b"pong").await.unwrap();
    io.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_in_memory_pipe_gets_sni_and_the_peer_identity() {
    let acceptor = Acceptor::new(snapshot(PeerMode::Strict));
    let (client_io, server_io) = tokio::io::duplex(16 * 1024);
    let remote: SocketAddr = "203.0.113.7:40000".parse().unwrap();
    let server = async {
        let (io, info) = acceptor.accept_io(server_io, Some(remote)).await.unwrap();
        assert!(io.is_tls());
        pong(io).await;
        info
    };
    let (info, reply) =
        tokio::time::timeout(LIMIT, async { tokio::join!(server, tls_client(client_io)) })
            .await
            .unwrap();
    assert_eq!(reply.unwrap(), "pong");
    assert_eq!(info.sni(), Some("api.example.com"));
    assert_eq!(info.remote_addr(), Some(remote));
    assert_eq!(info.local_addr(), None);
    let peer = info.peer().expect("the client certificate's identity");
    let presented = mtls_core::PeerIdentity::from_der(Pki::shared().default_client().cert_der());
    assert_eq!(peer.cert_sha256(), presented.unwrap().cert_sha256());
}

#[tokio::test]
async fn a_unix_socket_is_served_like_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let acceptor = Acceptor::new(snapshot(PeerMode::Permissive));
    let server = async {
        // TLS first, then plaintext on the same socket path (PERMISSIVE).
        let (stream, _) = listener.accept().await.unwrap();
        let (io, tls) = acceptor.accept_io(stream, None).await.unwrap();
        pong(io).await;
        let (stream, _) = listener.accept().await.unwrap();
        let (io, plain) = acceptor.accept_io(stream, None).await.unwrap();
        assert!(!io.is_tls());
        pong(io).await;
        (tls, plain)
    };
    let clients = async {
        let tls = tls_client(tokio::net::UnixStream::connect(&path).await.unwrap()).await;
        let mut plain = tokio::net::UnixStream::connect(&path).await.unwrap();
        plain.write_all(b"ping").await.unwrap();
        let mut reply = String::new();
        plain.read_to_string(&mut reply).await.unwrap();
        (tls.unwrap(), reply)
    };
    let ((tls, plain), replies) =
        tokio::time::timeout(LIMIT, async { tokio::join!(server, clients) })
            .await
            .unwrap();
    assert_eq!(replies, ("pong".to_owned(), "pong".to_owned()));
    assert!(tls.peer().is_some());
    assert_eq!(tls.remote_addr(), None);
    assert!(plain.is_plaintext());
}

#[tokio::test]
async fn strict_refuses_plaintext_and_source_limits_use_the_given_address() {
    let acceptor = Acceptor::new(snapshot(PeerMode::Strict));
    let (mut client_io, server_io) = tokio::io::duplex(1024);
    client_io
        .write_all(b"GET / HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let err = tokio::time::timeout(LIMIT, acceptor.accept_io(server_io, None))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, AcceptError::PlaintextRefused), "{err}");

    // A closed stream before any byte.
    let (client_io, server_io) = tokio::io::duplex(1024);
    drop(client_io);
    let err = acceptor.accept_io(server_io, None).await.unwrap_err();
    assert!(matches!(err, AcceptError::Closed), "{err}");

    let mut limits = SourceLimits::default();
    limits.max_connections = Some(1);
    let acceptor = Acceptor::new(snapshot(PeerMode::Permissive)).with_source_limits(limits);
    let remote: SocketAddr = "198.51.100.1:1".parse().unwrap();
    let (mut first_client, server_io) = tokio::io::duplex(1024);
    first_client.write_all(b"ping").await.unwrap();
    let (held, _) = acceptor.accept_io(server_io, Some(remote)).await.unwrap();
    let (_second_client, server_io) = tokio::io::duplex(1024);
    let err = acceptor
        .accept_io(server_io, Some(remote))
        .await
        .unwrap_err();
    assert!(matches!(err, AcceptError::SourceLimited(_)), "{err}");
    // Without an address, per-source limits do not apply.
    let (mut third_client, server_io) = tokio::io::duplex(1024);
    third_client.write_all(b"ping").await.unwrap();
    assert!(acceptor.accept_io(server_io, None).await.is_ok());
    drop(held);
}
