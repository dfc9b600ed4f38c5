//! The response body: the inner service's, or the layer's own denial text.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The body of a response from [`MtlsService`](super::MtlsService): the inner service's
    /// body `B` unchanged, or the layer's denial (text or `application/problem+json`).
    ///
    /// Its `Data` is `B::Data` (which must be constructible from [`Bytes`]) and its `Error` is
    /// `B::Error`, so it fits wherever `B` did.
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Denied { body: Option<Bytes> },
    }
}

impl<B> ResponseBody<B> {
    /// Wraps the inner service's body.
    pub fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    /// A denial body.
    pub(crate) fn denied(body: Bytes) -> Self {
        Self {
            kind: Kind::Denied {
                body: Some(body).filter(|b| !b.is_empty()),
            },
        }
    }

    /// Whether this is the layer's denial rather than the inner service's body.
    pub fn is_denial(&self) -> bool {
        matches!(self.kind, Kind::Denied { .. })
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Data: From<Bytes>,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Denied { body } => {
                Poll::Ready(body.take().map(|b| Ok(Frame::data(b.into()))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Denied { body } => body.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Denied { body } => {
                SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}
