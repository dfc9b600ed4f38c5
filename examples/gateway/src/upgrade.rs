//! WebSocket through the proxy (RFC 6455 over HTTP/1.1).
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
//! Other `Upgrade` values (`h2c`, ...) are not forwarded: like every hop-by-hop header, `Upgrade`
//! and `Connection` are removed and the request goes on as a plain one.
//!
//! Limits:
//! - The backend must speak HTTP/1.1: a backend with `http2_only`, or one that chooses `h2` by
//!   ALPN, gets no upgrade and the client a 502 (`kind="upgrade"` in
//!   `mtls_gateway_upstream_errors_total`).
//! - The request timeout bounds the wait for the backend's answer; the joined connections
//!   have no timeout of their own. They end when either side closes, when the gateway shuts
//!   down (draining starts: the listener closes its upgraded connections at once), or when a
//!   reload revokes the client's certificate on a listener with `close_revoked_connections`.
//! - The upgrade is counted as one upstream request (`status_class="1xx"`); the bytes copied
//!   are logged (debug) when the connections end.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body::Body;
use http_body_util::{BodyExt, Empty};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use super::{Backend, BoxError, ProxyBody, strip_hop_by_hop, text};
use crate::upstream::PooledBody;

/// `websocket`, the `Upgrade` value forwarded.
const WEBSOCKET: HeaderValue = HeaderValue::from_static("websocket");
/// `upgrade`, the `Connection` value forwarded.
const UPGRADE: HeaderValue = HeaderValue::from_static("upgrade");

/// Whether `req` asks for a WebSocket (RFC 6455 4.1): an HTTP/1.1 `GET` with `websocket` among
/// its `Upgrade` protocols and `upgrade` among its `Connection` options.
pub(super) fn is_websocket<B>(req: &Request<B>) -> bool {
    req.method() == Method::GET
        && req.version() == Version::HTTP_11
        && has_token(req.headers(), &header::UPGRADE, "websocket")
        && has_token(req.headers(), &header::CONNECTION, "upgrade")
}

/// Whether a `name` header of `headers` lists `token` (comma-separated, any case).
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

impl Backend {
    /// Forwards `req`, a WebSocket upgrade ([`is_websocket`]), on a new HTTP/1.1 connection
    /// and, when the upstream switches protocols, joins the two upgraded connections; the
    /// upstream's other answers (and 502/504 for its failures) are passed back as
    /// [`Backend::forward`] passes them.
    pub(super) async fn forward_upgrade<B>(
        self: Arc<Self>,
        mut req: Request<B>,
    ) -> Response<ProxyBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let client = hyper::upgrade::on(&mut req);
        let mut upstream = match self.upstream_request(req) {
            Ok((upstream, _authority)) => upstream,
            Err(e) => return text(StatusCode::BAD_REQUEST, format!("bad request target: {e}")),
        };
        let headers = upstream.headers_mut();
        headers.insert(header::CONNECTION, UPGRADE);
        headers.insert(header::UPGRADE, WEBSOCKET);
        let sent =
            tokio::time::timeout(self.timeouts.request, self.pool.send_upgrade(upstream)).await;
        let response = match sent {
            Ok(Ok(response)) if response.status() == StatusCode::SWITCHING_PROTOCOLS => {
                self.switch(client, response)
            }
            sent => self.response(sent),
        };
        self.finish(response)
    }

    /// The client's `101 Switching Protocols` for the upstream's `response`, with the task
    /// that joins the two connections once hyper has handed them over; a 502 if the upstream
    /// switched to something other than WebSocket.
    fn switch(&self, client: OnUpgrade, mut response: Response<PooledBody>) -> Response<ProxyBody> {
        if !has_token(response.headers(), &header::UPGRADE, "websocket") {
            let switched_to = response.headers().get(header::UPGRADE);
            let reason = format!(
                "upstream {:?} switched to {switched_to:?} instead of websocket",
                self.name
            );
            tracing::warn!(backend = %self.name, kind = "upgrade", "{reason}");
            self.count_error("upgrade");
            return text(StatusCode::BAD_GATEWAY, reason);
        }
        let upstream = hyper::upgrade::on(&mut response);
        let (mut parts, _empty) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers, false);
        parts.headers.insert(header::CONNECTION, UPGRADE);
        parts.headers.insert(header::UPGRADE, WEBSOCKET);
        parts.version = Version::default();
        tokio::spawn(join(Arc::clone(&self.name), client, upstream));
        let body = Empty::new().map_err(|e| match e {}).boxed_unsync();
        Response::from_parts(parts, body)
    }
}

/// Copies the client's and the upstream's upgraded connections into each other until both
/// directions are closed or one fails (the gateway ending the client's connection included).
async fn join(backend: Arc<str>, client: OnUpgrade, upstream: OnUpgrade) {
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
    fn only_http11_get_websocket_upgrades_are_websockets() {
        let ws = [("upgrade", "websocket"), ("connection", "Upgrade")];
        assert!(is_websocket(&request(Method::GET, Version::HTTP_11, &ws)));
        let listed = [
            ("upgrade", "foo, WebSocket"),
            ("connection", "keep-alive, upgrade"),
        ];
        assert!(is_websocket(&request(
            Method::GET,
            Version::HTTP_11,
            &listed
        )));
        assert!(!is_websocket(&request(Method::POST, Version::HTTP_11, &ws)));
        assert!(!is_websocket(&request(Method::GET, Version::HTTP_10, &ws)));
        let h2c = [
            ("upgrade", "h2c"),
            ("connection", "Upgrade, HTTP2-Settings"),
        ];
        assert!(!is_websocket(&request(Method::GET, Version::HTTP_11, &h2c)));
        let no_connection = [("upgrade", "websocket")];
        assert!(!is_websocket(&request(
            Method::GET,
            Version::HTTP_11,
            &no_connection
        )));
    }
}
