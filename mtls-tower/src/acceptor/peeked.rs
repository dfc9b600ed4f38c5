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
///
/// The read that gives back the bytes read ahead also reads what the stream has ready after
/// them, into the same buffer: a reader sized for a whole message (hyper's 8 KiB buffer for a
/// request head) gets it in one read, as from the stream itself, rather than a prefix that
/// makes it grow its buffer for the rest.
#[derive(Debug)]
pub struct Peeked<S> {
    inner: S,
    head: [u8; LOOKAHEAD],
    /// `head[start..end]` was read ahead and is still to be read.
    start: usize,
    end: usize,
    /// An error of the stream met while reading after the bytes given back: the next read's.
    error: Option<io::Error>,
}

impl<S> Peeked<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            head: [0; LOOKAHEAD],
            start: 0,
            end: 0,
            error: None,
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
        if let Some(error) = this.error.take() {
            return Poll::Ready(Err(error));
        }
        if this.start < this.end {
            let n = (this.end - this.start).min(buf.remaining());
            buf.put_slice(&this.head[this.start..this.start + n]);
            this.start += n;
            if this.start == this.end && buf.remaining() > 0 {
                // What is ready behind the bytes given back; nothing ready is no error here (the
                // stream will wake the task when it is), and an error is the next read's.
                if let Poll::Ready(Err(error)) = Pin::new(&mut this.inner).poll_read(cx, buf) {
                    this.error = Some(error);
                }
            }
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

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use tokio::io::AsyncReadExt as _;

    use super::*;

    /// Reads: each item is what one read returns (at most the buffer's room of it).
    struct Script(VecDeque<io::Result<Vec<u8>>>);

    impl AsyncRead for Script {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let reads = &mut self.get_mut().0;
            match reads.pop_front() {
                Some(Ok(mut bytes)) => {
                    let rest = bytes.split_off(bytes.len().min(buf.remaining()));
                    buf.put_slice(&bytes);
                    if !rest.is_empty() {
                        reads.push_front(Ok(rest));
                    }
                    Poll::Ready(Ok(()))
                }
                Some(Err(e)) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            }
        }
    }

    fn script(reads: Vec<io::Result<&[u8]>>) -> Peeked<Script> {
        Peeked::new(Script(
            reads.into_iter().map(|r| r.map(<[u8]>::to_vec)).collect(),
        ))
    }

    #[tokio::test]
    async fn the_bytes_given_back_come_with_what_is_ready_behind_them() {
        let mut s = script(vec![Ok(b"GET / HT"), Ok(b"TP/1.1\r\nHost: a\r\n\r\n")]);
        assert_eq!(s.read_ahead().await.unwrap(), 8);
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    }

    #[tokio::test]
    async fn nothing_ready_behind_them_gives_them_back_alone() {
        let mut s = script(vec![Ok(b"GET")]);
        s.read_ahead().await.unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"GET");
    }

    #[tokio::test]
    async fn an_error_behind_them_is_the_next_reads() {
        let reset = io::Error::new(io::ErrorKind::ConnectionReset, "reset");
        let mut s = script(vec![Ok(b"GET"), Err(reset), Ok(b"")]);
        s.read_ahead().await.unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"GET");
        let e = s.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(s.read(&mut buf).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_small_buffer_takes_them_in_turns() {
        let mut s = script(vec![Ok(b"GET / "), Ok(b"HTTP")]);
        s.read_ahead().await.unwrap();
        let mut buf = [0u8; 4];
        let n = s.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"GET ");
        let n = s.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"/ HT");
        let n = s.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"TP");
    }
}
