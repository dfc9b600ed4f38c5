//! HTTP/1 connections that a request upgraded (`Upgrade: websocket` answered with 101): hyper
//! hands their IO to the service (`hyper::upgrade::on`), and [`serve`](crate::serve()) still
//! ends them when it shuts down or when a reload revokes the peer's certificate.
//!
//! The IO of every HTTP/1 connection goes through a [`Tracked`] wrapper that shares a small
//! state with the connection's task. When hyper's connection ends and the IO is still alive,
//! a request upgraded it (hyper moved the IO out of the connection); the task then waits for
//! the IO to be dropped (the service is done with it) or for a signal. On a signal it makes
//! every read and write of the IO fail, which ends whatever copies it: an upgraded connection
//! has no request to finish, so draining it means closing it.
//!
//! The wrapper costs an atomic load per read or write, and the lock of a waker slot when a read
//! or write waits (a connection waiting for its next request), so that an end can wake the task
//! that waits on the IO, whichever task that is by then.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{Signals, revoked};

/// What a [`Tracked`] IO and its [`Handle`] share.
#[derive(Default)]
struct State {
    /// The IO was dropped.
    dropped: AtomicBool,
    /// Every read and write fails from now on.
    ended: AtomicBool,
    /// The tasks waiting on the IO (a read, a write) and for the IO to be dropped.
    wakers: Mutex<Wakers>,
}

#[derive(Default)]
struct Wakers {
    read: Option<Waker>,
    write: Option<Waker>,
    dropped: Option<Waker>,
}

impl State {
    fn wakers(&self) -> std::sync::MutexGuard<'_, Wakers> {
        // Waker slots: no invariant a panic could break half-way.
        self.wakers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Keeps `slot` holding `waker` (no clone when it already wakes the same task).
fn register(slot: &mut Option<Waker>, waker: &Waker) {
    if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
        *slot = Some(waker.clone());
    }
}

/// An HTTP/1 connection's IO, which its [`Handle`] can end after hyper has handed it on.
pub(super) struct Tracked<I> {
    io: I,
    state: Arc<State>,
}

/// The connection task's side of a [`Tracked`] IO.
pub(super) struct Handle {
    state: Arc<State>,
}

/// `io`, tracked.
pub(super) fn track<I>(io: I) -> (Tracked<I>, Handle) {
    let state = Arc::new(State::default());
    let handle = Handle {
        state: Arc::clone(&state),
    };
    (Tracked { io, state }, handle)
}

impl Handle {
    /// Whether the IO outlived its HTTP connection: a request upgraded it. Asked once the
    /// connection future has been dropped (it owned the IO otherwise).
    pub(super) fn upgraded(&self) -> bool {
        !self.state.dropped.load(Ordering::Acquire)
    }

    /// Waits until the service drops the upgraded IO, and ends it first when `signals` ask the
    /// connection to end: at once if they already have (`serve` draining or the peer's
    /// certificate revoked while the upgrade request was in flight), else when `serve` drains
    /// or shuts down, or a reload revokes the peer's certificate. The request header timeout
    /// does not apply: an upgraded connection is no longer an HTTP connection.
    pub(super) async fn bound(self, signals: &mut Signals) {
        if !signals.shutting_down {
            tokio::select! {
                () = self.dropped() => return,
                _ = signals.draining.changed() => {
                    tracing::debug!("closing an upgraded connection: shutting down");
                }
                (reason, _) = revoked(&mut signals.revocation) => {
                    tracing::info!(
                        %reason,
                        "closing an upgraded connection: a reload revoked its peer's certificate"
                    );
                }
            }
        } else {
            tracing::debug!("closing an upgraded connection: its connection was shutting down");
        }
        self.end();
    }

    /// Completes once the IO is dropped.
    async fn dropped(&self) {
        std::future::poll_fn(|cx| {
            if self.state.dropped.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            register(&mut self.state.wakers().dropped, cx.waker());
            // Dropped between the check and the registration: its wake found no waker.
            if self.state.dropped.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            Poll::Pending
        })
        .await;
    }

    /// Makes every read and write of the IO fail from now on, and wakes the tasks waiting on
    /// it.
    fn end(&self) {
        self.state.ended.store(true, Ordering::Release);
        let (read, write) = {
            let mut wakers = self.state.wakers();
            (wakers.read.take(), wakers.write.take())
        };
        read.into_iter().chain(write).for_each(Waker::wake);
    }
}

impl<I> Drop for Tracked<I> {
    fn drop(&mut self) {
        self.state.dropped.store(true, Ordering::Release);
        let waker = self.state.wakers().dropped.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<I> Tracked<I> {
    /// `Err` once the handle ended the IO.
    fn check(&self) -> io::Result<()> {
        if self.state.ended.load(Ordering::Acquire) {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "upgraded connection closed by the server (shutting down or certificate revoked)",
            ));
        }
        Ok(())
    }

    /// `poll` pending: registers the task's waker in `slot` so that an end wakes it, and
    /// returns `Ready(Err)` if the end came in between.
    fn pending<T>(
        &self,
        cx: &Context<'_>,
        slot: fn(&mut Wakers) -> &mut Option<Waker>,
    ) -> Poll<io::Result<T>> {
        register(slot(&mut self.state.wakers()), cx.waker());
        // `end` sets the flag, then takes the wakers: seen either here or by its wake.
        self.check()?;
        Poll::Pending
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Tracked<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Pending => this.pending(cx, |w| &mut w.read),
            ready => ready,
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Tracked<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Pending => this.pending(cx, |w| &mut w.write),
            ready => ready,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Pending => this.pending(cx, |w| &mut w.write),
            ready => ready,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Pending => this.pending(cx, |w| &mut w.write),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Closing is allowed after the end: it only sends what closes the connection.
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn an_end_fails_a_waiting_read_and_every_later_write() {
        let (client, server) = tokio::io::duplex(64);
        let (mut tracked, handle) = track(server);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            let read = tracked.read(&mut buf).await;
            (read.map_err(|e| e.kind()), tracked)
        });
        // The read waits (nothing was written): only the end can complete it.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!reader.is_finished());
        assert!(handle.upgraded());
        handle.end();
        let (read, mut tracked) = tokio::time::timeout(std::time::Duration::from_secs(5), reader)
            .await
            .expect("the end wakes the read")
            .expect("the reader task");
        assert_eq!(read, Err(io::ErrorKind::ConnectionAborted));
        let write = tracked.write_all(b"late").await.map_err(|e| e.kind());
        assert_eq!(write, Err(io::ErrorKind::ConnectionAborted));
        drop(client);
        drop(tracked);
        assert!(!handle.upgraded());
    }

    #[tokio::test]
    async fn dropping_the_io_completes_the_wait_for_it() {
        let (_client, server) = tokio::io::duplex(64);
        let (tracked, handle) = track(server);
        let waiting = tokio::spawn(async move { handle.dropped().await });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        drop(tracked);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("the drop wakes the wait")
            .expect("the waiting task");
    }
}
