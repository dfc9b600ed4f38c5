//! Looking at a stream's first bytes without taking them from its reader: `peek` on a TCP
//! socket, read-ahead-and-give-back on any other stream (and for `serve`'s HTTP/2 preface).

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

/// The most bytes read ahead: the HTTP/2 connection preface, the longest look (by
/// [`serve`](crate::serve), to tell HTTP/2 from HTTP/1).
pub(crate) const LOOKAHEAD: usize = 24;

/// A stream handed to [`Acceptor::accept_io`](super::Acceptor::accept_io): the acceptor read
/// its first byte to tell TLS from plaintext, and gives it back to the next read. Read and
/// write it like the stream it wraps.
#[derive(Debug)]
pub struct Peeked<S> {
    inner: S,
    head: [u8; LOOKAHEAD],
    /// `head[start..end]` was read ahead and is still to be read.
    start: usize,
    end: usize,
}

impl<S> Peeked<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            head: [0; LOOKAHEAD],
            start: 0,
            end: 0,
        }
    }

    /// The stream it wraps.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The bytes read ahead and not read again yet.
    pub(crate) fn ahead(&self) -> &[u8] {
        &self.head[self.start..self.end]
    }
}

impl<S: AsyncRead + Unpin> Peeked<S> {
    /// Reads more ahead, before anything is read again: how many bytes came (0 at the end of
    /// the stream, or when [`LOOKAHEAD`] bytes are ahead).
    pub(crate) async fn read_ahead(&mut self) -> io::Result<usize> {
        let n = self.inner.read(&mut self.head[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> FirstByte for Peeked<S> {
    async fn first_byte(&mut self) -> io::Result<Option<u8>> {
        if self.ahead().is_empty() && self.read_ahead().await? == 0 {
            return Ok(None);
        }
        Ok(self.ahead().first().copied())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Peeked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.start < this.end {
            let n = (this.end - this.start).min(buf.remaining());
            buf.put_slice(&this.head[this.start..this.start + n]);
            this.start += n;
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
