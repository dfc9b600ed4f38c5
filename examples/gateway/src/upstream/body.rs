//! How an HTTP/1.1 connection returns to its [`Pool`](super::Pool): the response body that
//! gives it back once read to its end ([`PooledBody`]), and the task that closes the
//! connections left idle past the timeout.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;

use super::{Idle, Inner};
use crate::proxy::ProxyBody;

impl Inner {
    /// Puts an HTTP/1.1 connection whose response was read to its end back in the pool.
    fn release(self: &Arc<Self>, sender: http1::SendRequest<ProxyBody>) {
        if sender.is_closed() {
            return;
        }
        let start_reaper = {
            let mut state = self.lock();
            state.idle.push(Idle {
                sender,
                since: Instant::now(),
            });
            !std::mem::replace(&mut state.reaping, true)
        };
        if start_reaper {
            self.spawn_reaper();
        }
    }

    /// Closes idle connections past the timeout, every `idle_timeout`, while any is idle. It
    /// holds the pool weakly: a pool dropped (its backend gone by a reload) ends it.
    fn spawn_reaper(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.lock().reaping = false;
            return;
        };
        let pool = Arc::downgrade(self);
        let period = self.idle_timeout;
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let Some(pool) = Weak::upgrade(&pool) else {
                    return;
                };
                let mut state = pool.lock();
                state
                    .idle
                    .retain(|idle| idle.since.elapsed() < period && !idle.sender.is_closed());
                if state.idle.is_empty() {
                    state.reaping = false;
                    return;
                }
            }
        });
    }
}

/// An upstream response body. For HTTP/1.1, it returns its connection to the pool once read to
/// the end; dropped before, it closes the connection.
pub(crate) struct PooledBody {
    body: Incoming,
    connection: Option<(http1::SendRequest<ProxyBody>, Weak<Inner>)>,
}

impl PooledBody {
    pub(super) fn new(
        body: Incoming,
        connection: Option<(http1::SendRequest<ProxyBody>, Weak<Inner>)>,
    ) -> Self {
        let mut body = Self { body, connection };
        // A response without a body (204, 304, HEAD, `content-length: 0`) is done already: the
        // connection can serve the next request at once.
        if body.body.is_end_stream() {
            body.release();
        }
        body
    }

    fn release(&mut self) {
        if let Some((sender, pool)) = self.connection.take()
            && let Some(pool) = pool.upgrade()
        {
            pool.release(sender);
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let frame = ready!(Pin::new(&mut self.body).poll_frame(cx));
        match &frame {
            None => self.release(),
            Some(Ok(_)) if self.body.is_end_stream() => self.release(),
            Some(Ok(_)) => {}
            // The connection is broken: never reused.
            Some(Err(_)) => self.connection = None,
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl fmt::Debug for PooledBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledBody")
            .field("pooled", &self.connection.is_some())
            .finish_non_exhaustive()
    }
}
