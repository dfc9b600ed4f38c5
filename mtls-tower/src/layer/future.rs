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
        // OCSP `hard` mode: waits for the connection's status, then decides: the inner
        // service's future (and the request's span), or a denial.
        Waiting { decide: Deciding<F> },
    }
}

/// The decision of a request that waits for its connection's OCSP status.
pub(crate) struct Deciding<F>(pub(crate) Pin<Box<dyn Future<Output = Decided<F>> + Send>>);

/// The inner service's future and the request's span, or the denial to answer.
pub(crate) type Decided<F> = Result<(F, tracing::Span), Response<Bytes>>;

impl<F> std::fmt::Debug for Deciding<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deciding")
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

    /// A request that waits for its connection's OCSP status before it is decided.
    pub(crate) fn waiting(decide: Deciding<F>) -> Self {
        Self {
            kind: Kind::Waiting { decide },
            span: tracing::Span::none(),
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

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            let next = {
                let _entered = this.span.enter();
                match this.kind.as_mut().project() {
                    KindProj::Inner { future } => {
                        return future.poll(cx).map_ok(|r| r.map(ResponseBody::inner));
                    }
                    KindProj::Denied { response } => {
                        return match response.take() {
                            Some(r) => Poll::Ready(Ok(r.map(ResponseBody::denied))),
                            // Polled again after completion: a contract violation, but never
                            // a panic.
                            None => Poll::Pending,
                        };
                    }
                    KindProj::Waiting { decide } => match decide.0.as_mut().poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok((future, span))) => (Kind::Inner { future }, Some(span)),
                        Poll::Ready(Err(response)) => (
                            Kind::Denied {
                                response: Some(response),
                            },
                            None,
                        ),
                    },
                }
            };
            let (kind, span) = next;
            if let Some(span) = span {
                *this.span = span;
            }
            this.kind.set(kind);
        }
    }
}
