//! A kept-alive mTLS connection of a rustls client, and requests on it: what a reload that
//! revokes the client's certificate must close.

/// A blocking rustls client connection with `stem.pem` / `stem.key` of `dir`, kept alive.
pub(crate) fn keep_alive_client(
    dir: &std::path::Path,
    port: u16,
    stem: &str,
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(dir.join("ca.pem")).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let chain = CertificateDer::pem_file_iter(dir.join(format!("{stem}.pem")))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join(format!("{stem}.key"))).unwrap();
    let config =
        rustls::ClientConfig::builder_with_provider(mtls_verify::crypto::default_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let conn =
        rustls::ClientConnection::new(config.into(), ServerName::try_from("localhost").unwrap())
            .unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// Sends a GET on a kept-alive connection; the status line and the body (`Content-Length`
/// framed), or the I/O error.
pub(crate) fn get_on(
    stream: &mut rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>,
) -> std::io::Result<(String, String)> {
    use std::io::{Read as _, Write as _};
    stream.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                let status = head.lines().next().unwrap_or("").to_owned();
                return Ok((status, body.to_owned()));
            }
        }
    }
}

/// Reads `stream` until the server ends it: `Ok` when it closed the connection (EOF or a
/// reset), the error when the read timed out instead.
pub(crate) fn closed_by_server(
    stream: &mut rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>,
) -> Result<(), std::io::Error> {
    use std::io::Read as _;
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Err(e)
        }
        _ => Ok(()),
    }
}
