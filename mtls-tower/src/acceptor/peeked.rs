//! Telling TLS from plaintext by the first byte: `peek` on a TCP socket, read-and-give-back on
//! any other stream.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A stream whose first byte can be looked at without taking it from the reader.
pub(super) trait FirstByte: AsyncRead + AsyncWrite + Unpin + Send {
    /// The first byte, left for the next read; `None` when the peer closed before sending one.
    fn first_byte(&mut self) -> impl Future<Output = io::Result<Option<u8>>> + Send;
}

impl FirstByte for TcpStream {
    async fn first_byte(&mut self) -> io::Result<Option<u8>> {
        let mut first = [0u8; 1];
        let n = self.peek(&mut first).await?;
        Ok((n > 0).then_some(first[0]))
    }
}

/// A stream handed to [`Acceptor::accept_io`](super::Acceptor::accept_io): the acceptor read
/// its first byte to tell TLS from plaintext, and gives it back to the next read. Read and
/// write it like the stream it wraps.
#[derive(Debug)]
pub struct Peeked<S> {
    inner: S,
    /// The byte read ahead, until it is read again.
    first: Option<u8>,
}

impl<S> Peeked<S> {
    pub(super) fn new(inner: S) -> Self {
        Self { inner, first: None }
    }

    /// The stream it wraps.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> FirstByte for Peeked<S> {
    async fn first_byte(&mut self) -> io::Result<Option<u8>> {
        if self.first.is_none() {
            let mut first = [0u8; 1];
            if self.inner.read(&mut first).await? == 0 {
                return Ok(None);
            }
            self.first = Some(first[0]);
        }
        Ok(self.first)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Peeked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() > 0
            && let Some(first) = this.first.take()
        {
            buf.put_slice(&[first]);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Peeked<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
