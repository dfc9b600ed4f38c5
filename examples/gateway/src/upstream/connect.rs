//! Making the connections of a [`Pool`]: a new HTTP/1.1 or HTTP/2 one (an HTTP/2 one becomes
//! the shared one), the HTTP/2 connection made once for all the requests waiting for it, and
//! the connection of its own a protocol upgrade gets.

use std::sync::Arc;

use http::{Request, Response, Uri};
use hyper::client::conn::{http1, http2};
use hyper_util::client::legacy::connect::Connection;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::watch;
use tower_service::Service;

use super::{Checkout, Connecting, Inner, Pool, PooledBody, UpstreamError};
use crate::proxy::ProxyBody;

impl Pool {
    /// The HTTP/2 connection, made by the first request that needs it while the others wait for
    /// its outcome (an error is theirs too). A waiter whose maker was cancelled (its client
    /// left) makes its own.
    pub(super) async fn connect_once(&self) -> Result<Checkout, UpstreamError> {
        let (maker, mut outcome) = {
            let mut state = self.0.lock();
            match &state.http2_connecting {
                Some(connecting) => (None, connecting.clone()),
                None => {
                    let (maker, connecting) = watch::channel(None);
                    state.http2_connecting = Some(connecting.clone());
                    (Some(maker), connecting)
                }
            }
        };
        let Some(maker) = maker else {
            let known = outcome.wait_for(Option::is_some).await.map(|o| o.clone());
            return match known {
                Ok(Some(Ok(sender))) => Ok(Checkout::Http2 {
                    sender,
                    reused: true,
                }),
                Ok(Some(Err(e))) => Err(UpstreamError::Shared(e)),
                Ok(None) | Err(_) => self.connect().await,
            };
        };
        // Whatever happens to this request, the next one does not wait for this attempt.
        let _clear = ClearConnecting {
            pool: &self.0,
            connecting: outcome,
        };
        let made = self.connect().await;
        let shared = match made {
            Ok(Checkout::Http2 { ref sender, .. }) => Ok(sender.clone()),
            Ok(checkout) => return Ok(checkout),
            Err(e) => Err(Arc::new(e)),
        };
        let _ = maker.send(Some(shared.clone()));
        match shared {
            Ok(sender) => Ok(Checkout::Http2 {
                sender,
                reused: false,
            }),
            Err(e) => Err(UpstreamError::Shared(e)),
        }
    }

    /// Sends `request`, a protocol upgrade (`Upgrade: websocket`), on a new HTTP/1.1 connection
    /// of its own, never pooled. The response's extensions hold the upgrade
    /// (`hyper::upgrade::on`) when it is `101 Switching Protocols`; any other response is read
    /// as usual, and its connection closed after it.
    pub(crate) async fn send_upgrade(
        &self,
        request: Request<ProxyBody>,
    ) -> Result<Response<PooledBody>, UpstreamError> {
        if self.0.http2_only {
            return Err(UpstreamError::Http2Only("http2_only"));
        }
        let stream = self.0.connector.clone().call(self.0.target.clone()).await?;
        if stream.connected().is_negotiated_h2() {
            return Err(UpstreamError::Http2Only("h2 chosen by ALPN"));
        }
        let (mut sender, connection) = http1::handshake(stream)
            .await
            .map_err(UpstreamError::Request)?;
        spawn_connection(&self.0.target, connection.with_upgrades());
        let response = sender
            .send_request(request)
            .await
            .map_err(UpstreamError::Request)?;
        Ok(response.map(|body| PooledBody::new(body, None)))
    }

    /// A new connection; an HTTP/2 one becomes the shared one.
    pub(super) async fn connect(&self) -> Result<Checkout, UpstreamError> {
        let stream = self.0.connector.clone().call(self.0.target.clone()).await?;
        if self.0.http2_only || stream.connected().is_negotiated_h2() {
            let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(stream)
                .await
                .map_err(UpstreamError::Handshake)?;
            spawn_connection(&self.0.target, connection);
            self.0.lock().http2 = Some(sender.clone());
            Ok(Checkout::Http2 {
                sender,
                reused: false,
            })
        } else {
            let (sender, connection) = http1::handshake(stream)
                .await
                .map_err(UpstreamError::Request)?;
            spawn_connection(&self.0.target, connection);
            Ok(Checkout::Http1 {
                sender,
                reused: false,
            })
        }
    }
}

/// Forgets the HTTP/2 connection being made when its maker is done (or cancelled).
struct ClearConnecting<'a> {
    pool: &'a Inner,
    connecting: Connecting,
}

impl Drop for ClearConnecting<'_> {
    fn drop(&mut self) {
        let mut state = self.pool.lock();
        if state
            .http2_connecting
            .as_ref()
            .is_some_and(|c| c.same_channel(&self.connecting))
        {
            state.http2_connecting = None;
        }
    }
}

/// Runs a connection until it closes; its end is only worth a debug line (the request that
/// saw a failure reports it).
fn spawn_connection<F>(target: &Uri, connection: F)
where
    F: Future<Output = Result<(), hyper::Error>> + Send + 'static,
{
    let target = target.clone();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(upstream = %target, "upstream connection ended: {e}");
        }
    });
}
