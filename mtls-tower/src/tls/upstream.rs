//! The upstream leg: a connector for hyper-util's client that speaks TLS to `https` upstreams,
//! presents our client certificate and verifies the upstream's certificate and name (or its
//! identity against an allow-list).

mod san;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use mtls_core::CaBundle;
use mtls_policy::{IdentityMatchSpec, PatternError};
use rustls::ClientConfig;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::ServerName;
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tower_service::Service;

pub use san::UpstreamIdentityError;

/// How to reach `https` upstreams: which CAs to trust, which client certificate to present,
/// and which name the upstream's certificate must carry (Gateway API `BackendTLSPolicy`
/// `hostname`; Istio `DestinationRule` `sni`), or which identities it may carry
/// ([`subject_alt_names`](UpstreamTlsBuilder::subject_alt_names)).
///
/// ```
/// # let pki = mtls_testkit::Pki::shared();
/// # let ca = mtls_core::CaBundle::from_bytes(pki.root().cert_pem().as_bytes(), "ca").unwrap();
/// let provider = mtls_verify::crypto::default_provider();
/// let tls = mtls_tower::UpstreamTls::builder(provider, &ca)
///     .expected_name("backend.internal")
///     .build()
///     .unwrap();
/// let connector = mtls_tower::UpstreamConnector::new(tls);
/// ```
#[derive(Clone)]
pub struct UpstreamTls {
    config: Arc<ArcSwap<ClientConfig>>,
    expected_name: Option<ServerName<'static>>,
}

/// Builds an [`UpstreamTls`].
pub struct UpstreamTlsBuilder {
    provider: Arc<CryptoProvider>,
    roots: rustls::RootCertStore,
    client: Option<Arc<CertifiedKey>>,
    expected_name: Option<String>,
    subject_alt_names: Option<IdentityMatchSpec>,
    alpn: Vec<Vec<u8>>,
}

/// Errors building an [`UpstreamTls`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamTlsError {
    /// The expected name is neither a DNS name nor an IP address.
    #[error("expected upstream name {0:?} is not a DNS name or IP address")]
    BadName(String),
    /// rustls refused the configuration.
    #[error("upstream TLS configuration: {0}")]
    Rustls(String),
    /// The `subject_alt_names` allow-list does not compile.
    #[error("upstream subject_alt_names: {0}")]
    SubjectAltNames(PatternError),
}

impl UpstreamTls {
    /// Trusts the CAs of `ca` for upstream certificates (no client certificate, the name from
    /// the request URI) until the builder says otherwise.
    pub fn builder(provider: Arc<CryptoProvider>, ca: &CaBundle) -> UpstreamTlsBuilder {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(ca.trust_anchors());
        UpstreamTlsBuilder {
            provider,
            roots,
            client: None,
            expected_name: None,
            subject_alt_names: None,
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        }
    }

    /// Replaces the configuration (CA bundle, client certificate) for new upstream connections;
    /// pooled connections keep the one they were made with.
    pub fn reload(&self, new: &Self) {
        self.config.store(new.config.load_full());
    }
}

impl UpstreamTlsBuilder {
    /// Presents `key` as our client certificate (mTLS to the upstream): a certificate chain
    /// and its signing key, as [`mtls_verify::crypto::certified_key`] loads a
    /// [`ServerCredential`](mtls_core::ServerCredential) with the builder's crypto provider.
    pub fn client_certificate(mut self, key: Arc<CertifiedKey>) -> Self {
        self.client = Some(key);
        self
    }

    /// The name the upstream certificate must carry (a DNS name or an IP address); it is also
    /// the SNI sent. Without it, the host of the request URI is used. With
    /// [`subject_alt_names`](Self::subject_alt_names) it is only the SNI.
    pub fn expected_name(mut self, name: impl Into<String>) -> Self {
        self.expected_name = Some(name.into());
        self
    }

    /// Admits an upstream whose certificate chains to the CAs and whose identity matches
    /// `allowed` (a principal, or a rule on its DNS, URI, IP or email SANs, SPIFFE ID, common
    /// name or subject), instead of checking one name. The spec is compiled by
    /// [`build`](Self::build); a refused upstream fails the handshake with an
    /// [`UpstreamIdentityError`] naming its identity and the allow-list.
    ///
    /// ```
    /// # let pki = mtls_testkit::Pki::shared();
    /// # let ca = mtls_core::CaBundle::from_bytes(pki.root().cert_pem().as_bytes(), "ca").unwrap();
    /// use mtls_policy::{IdentityMatchSpec, IdentityRule, SpiffeMatch};
    ///
    /// let mut allowed = IdentityMatchSpec::default();
    /// allowed.rules.push(IdentityRule::Spiffe(SpiffeMatch::new("cluster.local", None)));
    /// let tls = mtls_tower::UpstreamTls::builder(mtls_verify::crypto::default_provider(), &ca)
    ///     .expected_name("backend.internal")
    ///     .subject_alt_names(allowed)
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn subject_alt_names(mut self, allowed: IdentityMatchSpec) -> Self {
        self.subject_alt_names = Some(allowed);
        self
    }

    /// The ALPN protocols offered (default `h2`, `http/1.1`).
    pub fn alpn(mut self, protocols: Vec<Vec<u8>>) -> Self {
        self.alpn = protocols;
        self
    }

    /// Builds the client configuration.
    pub fn build(self) -> Result<UpstreamTls, UpstreamTlsError> {
        let expected_name = match self.expected_name {
            Some(name) => Some(
                ServerName::try_from(name.clone()).map_err(|_| UpstreamTlsError::BadName(name))?,
            ),
            None => None,
        };
        let algorithms = self.provider.signature_verification_algorithms;
        let builder = ClientConfig::builder_with_provider(self.provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| UpstreamTlsError::Rustls(e.to_string()))?;
        let builder = match &self.subject_alt_names {
            None => builder.with_root_certificates(self.roots),
            Some(spec) => {
                let verifier = san::AllowListVerifier::new(Arc::new(self.roots), algorithms, spec)
                    .map_err(UpstreamTlsError::SubjectAltNames)?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
            }
        };
        let mut config = match self.client {
            Some(key) => builder
                .with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(key))),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn;
        Ok(UpstreamTls {
            config: Arc::new(ArcSwap::from_pointee(config)),
            expected_name,
        })
    }
}

/// A hyper-util client connector: plain TCP for `http://` URIs, TLS per [`UpstreamTls`] for
/// `https://` URIs.
///
/// Cheap to clone (one reference count): hyper-util's legacy client clones its connector for
/// every request, pooled connection or not.
#[derive(Clone)]
pub struct UpstreamConnector(Arc<ConnectorInner>);

#[derive(Clone)]
struct ConnectorInner {
    http: HttpConnector,
    tls: Option<UpstreamTls>,
    target: Option<Uri>,
}

impl UpstreamConnector {
    /// A connector using `tls` for `https` upstreams, with a 5 s connect timeout.
    pub fn new(tls: UpstreamTls) -> Self {
        Self::with_optional_tls(Some(tls))
    }

    /// A connector for plain `http` upstreams only.
    pub fn plain() -> Self {
        Self::with_optional_tls(None)
    }

    fn with_optional_tls(tls: Option<UpstreamTls>) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        Self(Arc::new(ConnectorInner {
            http,
            tls,
            target: None,
        }))
    }

    /// Connects to `target` (`scheme://host:port`) whatever authority the request URI names.
    /// A proxy uses this to keep the client's authority in the request (HTTP/2 `:authority`,
    /// HTTP/1.1 `Host`) while reaching its backend; the TLS name checked is then the
    /// [`expected_name`](UpstreamTlsBuilder::expected_name), else the target's host.
    pub fn connect_to(mut self, target: Uri) -> Self {
        Arc::make_mut(&mut self.0).target = Some(target);
        self
    }

    /// Sets the TCP connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        Arc::make_mut(&mut self.0)
            .http
            .set_connect_timeout(Some(timeout));
        self
    }
}

/// Why an upstream connection failed; the message is fit for a 502 reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamConnectError {
    /// TCP connect failed or timed out.
    #[error("connecting to {uri}: {source}")]
    Connect {
        /// The upstream.
        uri: Uri,
        /// The cause.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An `https` URI without TLS configured, or a URI without a host.
    #[error("cannot connect to {0}: {1}")]
    Config(Uri, &'static str),
    /// The TLS handshake with the upstream failed (certificate not trusted, wrong name, an
    /// identity outside the allow-list ([`UpstreamIdentityError`] as the source), our client
    /// certificate refused, ...).
    #[error("TLS handshake with {uri}: {source}")]
    Tls {
        /// The upstream.
        uri: Uri,
        /// The cause.
        source: io::Error,
    },
}

impl Service<Uri> for UpstreamConnector {
    type Response = UpstreamStream;
    type Error = UpstreamConnectError;
    type Future =
        Pin<Box<dyn Future<Output = Result<UpstreamStream, UpstreamConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // HttpConnector is always ready (it connects in `call`).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let inner = Arc::clone(&self.0);
        Box::pin(async move {
            let mut http = inner.http.clone();
            let tls = inner.tls.clone();
            let uri = inner.target.clone().unwrap_or(uri);
            let https = uri.scheme_str() == Some("https");
            let Some(host) = uri
                .host()
                .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string())
            else {
                return Err(UpstreamConnectError::Config(uri, "no host in the URI"));
            };
            if https && tls.is_none() {
                return Err(UpstreamConnectError::Config(
                    uri,
                    "https upstream without TLS settings",
                ));
            }
            let tcp = http
                .call(uri.clone())
                .await
                .map_err(|e| UpstreamConnectError::Connect {
                    uri: uri.clone(),
                    source: Box::new(e),
                })?;
            let tcp = tcp.into_inner();
            let Some(tls) = tls.filter(|_| https) else {
                return Ok(UpstreamStream(Upstream::Plain(tcp)));
            };
            let name = match &tls.expected_name {
                Some(name) => name.clone(),
                None => ServerName::try_from(host).map_err(|_| {
                    UpstreamConnectError::Config(uri.clone(), "host is not a valid server name")
                })?,
            };
            let connector = TlsConnector::from(tls.config.load_full());
            let stream = connector.connect(name, tcp).await.map_err(|source| {
                // A refusal by the allow-list reads as itself, not as rustls' wrapping.
                let source = match san::refusal(&source) {
                    Some(refused) => io::Error::new(io::ErrorKind::InvalidData, refused.clone()),
                    None => source,
                };
                UpstreamConnectError::Tls { uri, source }
            })?;
            Ok(UpstreamStream(Upstream::Tls(Box::new(stream))))
        })
    }
}

/// A connection to an upstream, plaintext or TLS.
#[derive(Debug)]
pub struct UpstreamStream(Upstream);

#[derive(Debug)]
enum Upstream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for UpstreamStream {
    fn connected(&self) -> Connected {
        match &self.0 {
            Upstream::Plain(_) => Connected::new(),
            Upstream::Tls(s) => {
                if s.get_ref().1.alpn_protocol() == Some(b"h2") {
                    Connected::new().negotiated_h2()
                } else {
                    Connected::new()
                }
            }
        }
    }
}

impl hyper::rt::Read for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // Delegate through TokioIo, which adapts tokio's AsyncRead to hyper's Read.
        let this = self.get_mut();
        match &mut this.0 {
            Upstream::Plain(s) => Pin::new(&mut TokioIo::new(s)).poll_read(cx, buf),
            Upstream::Tls(s) => Pin::new(&mut TokioIo::new(s.as_mut())).poll_read(cx, buf),
        }
    }
}

impl hyper::rt::Write for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().0 {
            Upstream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Upstream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Upstream::Plain(s) => Pin::new(s).poll_flush(cx),
            Upstream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Upstream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Upstream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
