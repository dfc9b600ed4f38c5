//! WebSocket through the proxy: over HTTP/1.1 (RFC 6455) and over HTTP/2 (RFC 8441).
//!
//! A `GET` with `Upgrade: websocket` and `Connection: upgrade` is authorised once, like any
//! request (the `MtlsLayer` decides before the proxy sees it), then sent to the route's backend
//! on a new HTTP/1.1 connection of its own with those two headers kept (every other hop-by-hop
//! header is removed as usual). The backend's `101 Switching Protocols` is passed back, and the
//! client's and the backend's upgraded connections are copied into each other until either
//! side closes, as Envoy's `upgrade_configs: [{upgrade_type: websocket}]` and nginx's
//! `proxy_set_header Upgrade $http_upgrade` do. A backend that answers anything else has its
//! answer passed back as a normal response.
//!
//! Over HTTP/2 a client asks with an extended `CONNECT` (`:protocol: websocket`); the backend
//! still gets the HTTP/1.1 `GET` upgrade above (with a fresh `Sec-WebSocket-Key`: RFC 8441 has
//! none), its 101 becomes the client's `200`, and the client's stream is joined to the
//! backend's upgraded connection the same way. A backend's other 2xx answer becomes a 502 (the
//! client would get a tunnel to a backend that did not switch); its other answers are passed
//! back.
//!
//! Other `Upgrade` values (`h2c`, ...) and other `CONNECT` requests are not forwarded: like
//! every hop-by-hop header, `Upgrade` and `Connection` are removed and the request goes on as a
//! plain one; a plain `CONNECT` gets 405.
//!
//! Limits:
//! - The backend must speak HTTP/1.1: a backend with `http2_only`, or one that chooses `h2` by
//!   ALPN, gets no upgrade and the client a 502 (`kind="upgrade"` in
//!   `mtls_gateway_upstream_errors_total`).
//! - The request timeout bounds the wait for the backend's answer; the joined connections
//!   have no timeout of their own. They end when either side closes, when the gateway shuts
//!   down, or when a reload revokes the client's certificate on a listener with
//!   `close_revoked_connections`: at once for an HTTP/1.1 connection (it has no request to
//!   finish), with its connection at the end of the grace period for an HTTP/2 stream.
//! - The upgrade is counted as one upstream request (`status_class="1xx"`); the bytes copied
//!   are logged (debug) when the connections end.

use std::hash::{BuildHasher as _, RandomState};
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Extensions, Method, Request, Response, StatusCode, Version};
use http_body::Body;
use http_body_util::{BodyExt, Empty};
use hyper::ext::Protocol;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use mtls_tower::layer::MatchedRoute;

use super::answer::text;
use super::headers::strip_hop_by_hop;
use super::{Backend, BoxError, ProxyBody};
use crate::upstream::PooledBody;

/// `websocket`, the `Upgrade` value forwarded.
const WEBSOCKET: HeaderValue = HeaderValue::from_static("websocket");
/// `upgrade`, the `Connection` value forwarded.
const UPGRADE: HeaderValue = HeaderValue::from_static("upgrade");
/// `13`, the WebSocket version (RFC 6455 4.1).
const VERSION_13: HeaderValue = HeaderValue::from_static("13");

/// How a client asks for a WebSocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WebSocket {
    /// An HTTP/1.1 `GET` with `Upgrade: websocket` (RFC 6455), answered with 101.
    Upgrade,
    /// An HTTP/2 extended `CONNECT` with `:protocol: websocket` (RFC 8441), answered with 200.
    Connect,
}

/// How `req` asks for a WebSocket, if it does: an HTTP/1.1 `GET` with `websocket` among its
/// `Upgrade` protocols and `upgrade` among its `Connection` options (RFC 6455 4.1), or an
/// HTTP/2 `CONNECT` whose `:protocol` is `websocket` (RFC 8441 4).
pub(super) fn websocket<B>(req: &Request<B>) -> Option<WebSocket> {
    let headers = req.headers();
    match (req.method(), req.version()) {
        (&Method::GET, Version::HTTP_11)
            if has_token(headers, &header::UPGRADE, "websocket")
                && has_token(headers, &header::CONNECTION, "upgrade") =>
        {
            Some(WebSocket::Upgrade)
        }
        (&Method::CONNECT, Version::HTTP_2)
            if req
                .extensions()
                .get::<Protocol>()
                .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket")) =>
        {
            Some(WebSocket::Connect)
        }
        _ => None,
    }
}

/// Whether a `name` header of `headers` lists `token` (comma-separated, any case).
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// A fresh `Sec-WebSocket-Key` (16 bytes, base64) for the backend of an HTTP/2 client, whose
/// request has none. Not a secret: RFC 6455 asks for a nonce so that the answer shows the
/// backend read this handshake; the standard hasher's random keys make one.
fn websocket_key() -> HeaderValue {
    let state = RandomState::new();
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&state.hash_one(1u8).to_le_bytes());
    nonce[8..].copy_from_slice(&state.hash_one(2u8).to_le_bytes());
    let key = base64::engine::general_purpose::STANDARD.encode(nonce);
    // Base64 is always a valid header value; RFC 6455's sample nonce otherwise.
    HeaderValue::try_from(key).unwrap_or(HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="))
}

impl Backend {
    /// Forwards `req`, a WebSocket request ([`websocket`]), as an HTTP/1.1 upgrade on a new
    /// connection and, when the upstream switches protocols, joins the client's and the
    /// upstream's upgraded connections; the upstream's other answers (and 502/504 for its
    /// failures) are passed back as [`Backend::forward`] passes them.
    pub(super) async fn forward_upgrade<B>(
        self: Arc<Self>,
        mut req: Request<B>,
        websocket: WebSocket,
    ) -> Response<ProxyBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let client = hyper::upgrade::on(&mut req);
        *req.method_mut() = Method::GET;
        let mut upstream = match self.upstream_request(req) {
            Ok((upstream, _authority)) => upstream,
            Err(e) => return text(StatusCode::BAD_REQUEST, format!("bad request target: {e}")),
        };
        // An HTTP/2 request's extensions live as long as its tunnel: `mtls_tower::serve`
        // counts the tunnel as a request in flight while they do. Not the route: it holds the
        // policy snapshot (and its backends) that a reload replaces.
        let mut extensions = std::mem::take(upstream.extensions_mut());
        extensions.remove::<MatchedRoute>();
        if websocket == WebSocket::Upgrade {
            extensions.clear();
        }
        let headers = upstream.headers_mut();
        headers.insert(header::CONNECTION, UPGRADE);
        headers.insert(header::UPGRADE, WEBSOCKET);
        if websocket == WebSocket::Connect {
            headers.insert(header::SEC_WEBSOCKET_KEY, websocket_key());
            headers
                .entry(header::SEC_WEBSOCKET_VERSION)
                .or_insert(VERSION_13);
        }
        let sent =
            tokio::time::timeout(self.timeouts.request, self.pool.send_upgrade(upstream)).await;
        let response = match sent {
            Ok(Ok(response)) if response.status() == StatusCode::SWITCHING_PROTOCOLS => {
                self.switch(websocket, client, response, extensions)
            }
            Ok(Ok(response))
                if websocket == WebSocket::Connect && response.status().is_success() =>
            {
                let reason = format!(
                    "upstream {:?} answered {} instead of switching to websocket",
                    self.name,
                    response.status()
                );
                self.refuse_switch(reason)
            }
            sent => self.response(sent),
        };
        self.finish(response)
    }

    /// The client's answer to the upstream's 101 (`101 Switching Protocols` over HTTP/1.1,
    /// `200` over HTTP/2), with the task that joins the two connections once hyper has handed
    /// them over; a 502 if the upstream switched to something other than WebSocket.
    fn switch(
        &self,
        websocket: WebSocket,
        client: OnUpgrade,
        mut response: Response<PooledBody>,
        extensions: Extensions,
    ) -> Response<ProxyBody> {
        if !has_token(response.headers(), &header::UPGRADE, "websocket") {
            let switched_to = response.headers().get(header::UPGRADE);
            let reason = format!(
                "upstream {:?} switched to {switched_to:?} instead of websocket",
                self.name
            );
            return self.refuse_switch(reason);
        }
        let upstream = hyper::upgrade::on(&mut response);
        let (mut parts, _empty) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers, false);
        match websocket {
            WebSocket::Upgrade => {
                parts.headers.insert(header::CONNECTION, UPGRADE);
                parts.headers.insert(header::UPGRADE, WEBSOCKET);
            }
            WebSocket::Connect => {
                parts.status = StatusCode::OK;
                parts.headers.remove(header::SEC_WEBSOCKET_ACCEPT);
            }
        }
        parts.version = Version::default();
        tokio::spawn(join(Arc::clone(&self.name), client, upstream, extensions));
        let body = Empty::new().map_err(|e| match e {}).boxed_unsync();
        Response::from_parts(parts, body)
    }

    /// A 502 for an upstream that answered the upgrade with something other than WebSocket.
    fn refuse_switch(&self, reason: String) -> Response<ProxyBody> {
        tracing::warn!(backend = %self.name, kind = "upgrade", "{reason}");
        self.count_error("upgrade");
        text(StatusCode::BAD_GATEWAY, reason)
    }
}

/// Copies the client's and the upstream's upgraded connections into each other until both
/// directions are closed or one fails (the gateway ending the client's connection included);
/// `_request` (the client request's extensions) is dropped with them.
async fn join(backend: Arc<str>, client: OnUpgrade, upstream: OnUpgrade, _request: Extensions) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(both) => both,
        Err(e) => {
            tracing::debug!(%backend, error = %e, "upgrade not completed");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        Ok((to_upstream, to_client)) => {
            tracing::debug!(%backend, to_upstream, to_client, "upgraded connection closed");
        }
        Err(e) => tracing::debug!(%backend, error = %e, "upgraded connection ended"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, version: Version, headers: &[(&str, &str)]) -> Request<()> {
        let mut req = Request::builder()
            .method(method)
            .version(version)
            .uri("/ws");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.body(()).expect("test request")
    }

    #[test]
    fn websockets_are_http11_get_upgrades_and_http2_extended_connects() {
        let upgrade = Some(WebSocket::Upgrade);
        let ws = [("upgrade", "websocket"), ("connection", "Upgrade")];
        assert_eq!(
            websocket(&request(Method::GET, Version::HTTP_11, &ws)),
            upgrade
        );
        let listed = [
            ("upgrade", "foo, WebSocket"),
            ("connection", "keep-alive, upgrade"),
        ];
        let listed = request(Method::GET, Version::HTTP_11, &listed);
        assert_eq!(websocket(&listed), upgrade);
        assert_eq!(
            websocket(&request(Method::POST, Version::HTTP_11, &ws)),
            None
        );
        assert_eq!(
            websocket(&request(Method::GET, Version::HTTP_10, &ws)),
            None
        );
        let h2c = [
            ("upgrade", "h2c"),
            ("connection", "Upgrade, HTTP2-Settings"),
        ];
        assert_eq!(
            websocket(&request(Method::GET, Version::HTTP_11, &h2c)),
            None
        );
        let no_connection = request(Method::GET, Version::HTTP_11, &[("upgrade", "websocket")]);
        assert_eq!(websocket(&no_connection), None);

        let mut connect = request(Method::CONNECT, Version::HTTP_2, &[]);
        assert_eq!(websocket(&connect), None, "a plain CONNECT");
        let protocols = connect.extensions_mut();
        protocols.insert(Protocol::from_static("websocket"));
        assert_eq!(websocket(&connect), Some(WebSocket::Connect));
        let protocols = connect.extensions_mut();
        protocols.insert(Protocol::from_static("connect-udp"));
        assert_eq!(websocket(&connect), None, "another protocol");
    }

    #[test]
    fn websocket_keys_are_16_bytes_in_base64_and_differ() {
        let (one, two) = (websocket_key(), websocket_key());
        assert_ne!(one, two);
        let decoded = base64::engine::general_purpose::STANDARD.decode(one.as_bytes());
        assert_eq!(decoded.map(|d| d.len()), Ok(16));
    }
}
