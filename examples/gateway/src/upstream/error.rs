//! Why a request through a [`Pool`](super::Pool) got no response from its upstream.

use std::sync::Arc;

use mtls_tower::tls::UpstreamConnectError;

/// Why a request got no response from the upstream.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// No connection: TCP connect or the TLS handshake failed or timed out.
    #[error(transparent)]
    Connect(#[from] UpstreamConnectError),
    /// Connected, but the HTTP/2 handshake failed.
    #[error("HTTP/2 handshake: {0}")]
    Handshake(#[source] hyper::Error),
    /// The request or the response head failed on the connection.
    #[error(transparent)]
    Request(hyper::Error),
    /// The HTTP/2 connection this request waited for could not be made (the error of the
    /// request that made it, shared).
    #[error(transparent)]
    Shared(Arc<Self>),
    /// A protocol upgrade needs HTTP/1.1, and the upstream speaks HTTP/2 (`http2_only`, or
    /// `h2` chosen by ALPN).
    #[error("a protocol upgrade (WebSocket) needs HTTP/1.1, and the upstream speaks HTTP/2 ({0})")]
    Http2Only(&'static str),
}

impl UpstreamError {
    /// No connection could be made (as opposed to a request failing on one).
    pub(crate) fn is_connect(&self) -> bool {
        match self {
            Self::Connect(_) | Self::Handshake(_) => true,
            Self::Request(_) | Self::Http2Only(_) => false,
            Self::Shared(e) => e.is_connect(),
        }
    }
}
