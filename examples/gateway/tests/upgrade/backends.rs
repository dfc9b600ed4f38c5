//! The backends behind the gateway: a WebSocket one (hyper's HTTP/1.1 server, upgrades
//! answered with tungstenite) and a gRPC-style one (h2c) that streams and ends with trailers.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// A body fed frame by frame through a channel (a streaming request or response).
pub(crate) struct ChannelBody(pub(crate) mpsc::Receiver<Frame<Bytes>>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|frame| frame.map(Ok))
    }
}

/// Serves `listener` with HTTP/1.1 (upgrades on) or, with `h2c`, HTTP/2 prior knowledge.
pub(crate) fn serve<S, B>(listener: TcpListener, h2c: bool, service: S)
where
    S: Fn(Request<Incoming>) -> Response<B> + Clone + Send + Sync + 'static,
    B: Body<Data = Bytes, Error = Infallible> + Send + 'static,
{
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service.clone();
            let service = hyper::service::service_fn(move |req| {
                std::future::ready(Ok::<_, Infallible>(service(req)))
            });
            let io = TokioIo::new(stream);
            tokio::spawn(async move {
                if h2c {
                    let builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                    let _ = builder.serve_connection(io, service).await;
                } else {
                    let builder = hyper::server::conn::http1::Builder::new();
                    let _ = builder.serve_connection(io, service).with_upgrades().await;
                }
            });
        }
    });
}

/// What the WebSocket backend saw: upgrades it accepted, requests on `/ws/sleep` received.
#[derive(Default)]
pub(crate) struct Seen {
    pub(crate) upgrades: AtomicUsize,
    pub(crate) sleeping: AtomicUsize,
}

/// The WebSocket backend (HTTP/1.1). `/ws/echo`: accepts the upgrade, says `welcome`, then
/// answers each text message with `echo: <text>`. `/ws/refuse`: 400 `no websocket here`.
/// `/ws/sleep`: 200 after 4 s. Anything else: 200 with the request's `upgrade` and
/// `connection` headers (`-` when absent).
pub(crate) async fn ws_backend() -> (u16, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Seen::default());
    let counts = Arc::clone(&seen);
    serve(listener, false, move |mut req: Request<Incoming>| {
        let text = |status: StatusCode, body: String| {
            let body = Full::new(Bytes::from(body)).boxed_unsync();
            Response::builder().status(status).body(body).unwrap()
        };
        match req.uri().path() {
            "/ws/echo" => {
                let key = req.headers()["sec-websocket-key"].as_bytes().to_vec();
                counts.upgrades.fetch_add(1, Ordering::SeqCst);
                let upgrade = hyper::upgrade::on(&mut req);
                tokio::spawn(async move {
                    let io = TokioIo::new(upgrade.await.unwrap());
                    let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
                    ws.send(Message::text("welcome")).await.unwrap();
                    while let Some(Ok(Message::Text(text))) = ws.next().await {
                        let _ = ws.send(Message::text(format!("echo: {text}"))).await;
                    }
                });
                Response::builder()
                    .status(StatusCode::SWITCHING_PROTOCOLS)
                    .header("upgrade", "websocket")
                    .header("connection", "upgrade")
                    .header("sec-websocket-accept", derive_accept_key(&key))
                    .body(Full::new(Bytes::new()).boxed_unsync())
                    .unwrap()
            }
            "/ws/refuse" => text(StatusCode::BAD_REQUEST, "no websocket here\n".into()),
            "/ws/sleep" => {
                counts.sleeping.fetch_add(1, Ordering::SeqCst);
                let (tx, rx) = mpsc::channel(1);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(4)).await;
                    let _ = tx.send(Frame::data(Bytes::from("slept\n"))).await;
                });
                Response::new(ChannelBody(rx).boxed_unsync())
            }
            _ => {
                let header = |name| {
                    let value = req.headers().get(name);
                    value.map_or("-".into(), |v| {
                        String::from_utf8_lossy(v.as_bytes()).into_owned()
                    })
                };
                let body = format!(
                    "upgrade={}\nconnection={}\n",
                    header("upgrade"),
                    header("connection")
                );
                text(StatusCode::OK, body)
            }
        }
    });
    (port, seen)
}

/// A gRPC-style backend (h2c): answers each request at once with `content-type:
/// application/grpc` and `x-saw-te` (the request's `te`), echoes each request body frame as it
/// arrives, and ends with the trailers `grpc-status: 0` and `x-echoed: <frames>`.
pub(crate) async fn grpc_backend() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    serve(listener, true, |req: Request<Incoming>| {
        let te = req.headers().get("te").cloned();
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(async move {
            let mut body = req.into_body();
            let mut echoed = 0;
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(data) = frame.into_data()
                    && !data.is_empty()
                {
                    echoed += 1;
                    let _ = tx.send(Frame::data(data)).await;
                }
            }
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", "0".parse().unwrap());
            trailers.insert("x-echoed", echoed.to_string().parse().unwrap());
            let _ = tx.send(Frame::trailers(trailers)).await;
        });
        let mut response = Response::builder().header("content-type", "application/grpc");
        if let Some(te) = te {
            response = response.header("x-saw-te", te);
        }
        response.body(ChannelBody(rx)).unwrap()
    });
    port
}
