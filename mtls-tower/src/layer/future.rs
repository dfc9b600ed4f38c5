//! The response future of [`MtlsService`](super::MtlsService).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use pin_project_lite::pin_project;

use super::body::ResponseBody;

pin_project! {
    /// The future of [`MtlsService`](super::MtlsService): the inner service's future, or a
    /// denial that is ready at once.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
        // The request's span, entered while the inner service runs.
        span: tracing::Span,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<F> {
        Inner { #[pin] future: F },
        Denied { response: Option<Response<Bytes>> },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn inner(future: F) -> Self {
        Self::in_span(future, tracing::Span::none())
    }

    /// The inner service's future, polled inside `span`.
    pub(crate) fn in_span(future: F, span: tracing::Span) -> Self {
        Self {
            kind: Kind::Inner { future },
            span,
        }
    }

    pub(crate) fn denied(response: Response<Bytes>) -> Self {
        Self {
            kind: Kind::Denied {
                response: Some(response),
            },
            span: tracing::Span::none(),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        match this.kind.project() {
            KindProj::Inner { future } => future.poll(cx).map_ok(|r| r.map(ResponseBody::inner)),
            KindProj::Denied { response } => match response.take() {
                Some(r) => Poll::Ready(Ok(r.map(ResponseBody::denied))),
                // Polled again after completion: a contract violation, but never a panic.
                None => Poll::Pending,
            },
        }
    }
}
