//! WebSocket and gRPC through the real `mtls-gateway run` binary: TLS clients with client
//! certificates (tokio-rustls; tungstenite for WebSocket, hyper's HTTP/2 client for gRPC), a
//! WebSocket backend (hyper + tungstenite) and an h2c gRPC-style backend, all on loopback,
//! with certificates generated at test time.
//!
//! Every test picks free 127.0.0.1 ports, bounds every wait, and kills what it started.

mod backends;
mod gateway;

use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{Request, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2::{self, SendRequest};
use hyper::ext::Protocol;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mtls_testkit::Pki;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use backends::{ChannelBody, grpc_backend, ws_backend};
use gateway::{Gateway, STEP, echo, get, next, run, tls, websocket, write_atomic};

#[test]
fn an_allowed_identity_exchanges_websocket_messages_both_ways() {
    run(|| async {
        let (ws, seen) = ws_backend().await;
        let gateway = Gateway::start(ws, grpc_backend().await, "{}");
        let mut socket = websocket(&gateway, "client", "/ws/echo")
            .await
            .expect("upgraded");
        // The backend speaks first, then answers: both directions carry frames.
        assert_eq!(
            next(&mut socket).await.unwrap().unwrap(),
            Message::text("welcome")
        );
        echo(&mut socket, "one").await;
        echo(&mut socket, "two").await;
        socket.close(None).await.unwrap();
        assert_eq!(seen.upgrades.load(Ordering::SeqCst), 1);
        // The upgrade is counted as an upstream request answered with 1xx.
        let upgrades = [r#"backend="ws""#, r#"status_class="1xx""#];
        let counted = gateway.metric("mtls_gateway_upstream_requests_total", &upgrades);
        assert_eq!(counted.as_deref(), Some("1"));
    });
}

#[test]
fn a_refused_identity_gets_403_and_no_upgrade() {
    run(|| async {
        let (ws, seen) = ws_backend().await;
        let gateway = Gateway::start(ws, grpc_backend().await, "{}");
        let (status, body) = websocket(&gateway, "other", "/ws/echo")
            .await
            .expect_err("refused");
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(
            seen.upgrades.load(Ordering::SeqCst),
            0,
            "the backend saw no upgrade"
        );
        // The allowed identity on the same route is upgraded: the refusal was the identity's.
        websocket(&gateway, "client", "/ws/echo")
            .await
            .expect("upgraded");
        assert_eq!(seen.upgrades.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn answers_other_than_101_and_non_websocket_upgrades_are_plain_requests() {
    run(|| async {
        let (ws, seen) = ws_backend().await;
        let gateway = Gateway::start(ws, grpc_backend().await, "{}");
        // A plain request on the WebSocket backend's route.
        let (status, body) = get(&gateway, "/ws/plain", &[]).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "upgrade=-\nconnection=-\n")
        );
        // An h2c upgrade is not forwarded: the backend sees a plain request.
        let h2c = [
            ("upgrade", "h2c"),
            ("connection", "Upgrade, HTTP2-Settings"),
            ("http2-settings", "AAMAAABkAARAAAAAAAIAAAAA"),
        ];
        let (status, body) = get(&gateway, "/ws/plain", &h2c).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "upgrade=-\nconnection=-\n")
        );
        // A backend that refuses the upgrade: its answer reaches the client as it is.
        let (status, body) = websocket(&gateway, "client", "/ws/refuse")
            .await
            .expect_err("refused");
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::BAD_REQUEST, "no websocket here\n")
        );
        // A WebSocket to the HTTP/2-only backend: 502 with the reason.
        let (status, body) = websocket(&gateway, "client", "/h2ws")
            .await
            .expect_err("refused");
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        assert!(body.contains("needs HTTP/1.1"), "{body}");
        assert_eq!(seen.upgrades.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn websocket_over_http2_extended_connect_reaches_an_http11_backend() {
    run(|| async {
        let (ws, seen) = ws_backend().await;
        let gateway = Gateway::start(ws, grpc_backend().await, "{}");
        let port = gateway.port;
        let mut client = h2(&gateway, "client").await;
        let connect = |path: &str| {
            let mut request = Request::connect(format!("https://localhost:{port}{path}"))
                .header("sec-websocket-version", "13")
                .body(Empty::new())
                .unwrap();
            request
                .extensions_mut()
                .insert(Protocol::from_static("websocket"));
            request
        };
        let response = client.send_request(connect("/ws/echo")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(!response.headers().contains_key("sec-websocket-accept"));
        let stream = TokioIo::new(hyper::upgrade::on(response).await.unwrap());
        let mut socket = WebSocketStream::from_raw_socket(stream, Role::Client, None).await;
        assert_eq!(
            next(&mut socket).await.unwrap().unwrap(),
            Message::text("welcome")
        );
        echo(&mut socket, "over h2").await;
        // The same connection still carries requests while its stream is a tunnel.
        let plain = Request::get(format!("https://localhost:{port}/ws/plain"));
        let plain = client.send_request(plain.body(Empty::new()).unwrap());
        assert_eq!(plain.await.unwrap().status(), StatusCode::OK);
        echo(&mut socket, "still open").await;
        assert_eq!(seen.upgrades.load(Ordering::SeqCst), 1);

        // A refused identity gets 403, and the backend no upgrade.
        let mut other = h2(&gateway, "other").await;
        let refused = other.send_request(connect("/ws/echo")).await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        // A backend that refuses the upgrade: its answer passes. Another protocol: 405.
        let refused = client.send_request(connect("/ws/refuse")).await.unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let mut udp = connect("/ws/echo");
        udp.extensions_mut()
            .insert(Protocol::from_static("connect-udp"));
        let refused = client.send_request(udp).await.unwrap();
        assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(seen.upgrades.load(Ordering::SeqCst), 1);
    });
}

/// An open WebSocket is not an idle connection: the request header timeout (here 500 ms) does
/// not close it, over HTTP/1.1 (no longer an HTTP connection) or HTTP/2 (its stream counts
/// as a request in flight).
#[test]
fn open_websockets_outlive_the_request_header_timeout() {
    run(|| async {
        let (ws, _seen) = ws_backend().await;
        let limits = "{ request_header_timeout: 500ms }";
        let gateway = Gateway::start(ws, grpc_backend().await, limits);
        let mut http1 = websocket(&gateway, "client", "/ws/echo")
            .await
            .expect("upgraded");
        let mut client = h2(&gateway, "client").await;
        let mut connect = Request::connect(format!("https://localhost:{}/ws/echo", gateway.port))
            .header("sec-websocket-version", "13")
            .body(Empty::new())
            .unwrap();
        connect
            .extensions_mut()
            .insert(Protocol::from_static("websocket"));
        let response = client.send_request(connect).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let stream = TokioIo::new(hyper::upgrade::on(response).await.unwrap());
        let mut http2 = WebSocketStream::from_raw_socket(stream, Role::Client, None).await;
        let welcome = Message::text("welcome");
        assert_eq!(next(&mut http1).await.unwrap().unwrap(), welcome);
        assert_eq!(next(&mut http2).await.unwrap().unwrap(), welcome);
        // Four timeouts without a byte (an idle HTTP/2 connection would be gone after two).
        tokio::time::sleep(Duration::from_secs(2)).await;
        echo(&mut http1, "after 2 s").await;
        echo(&mut http2, "after 2 s").await;
    });
}

/// An HTTP/2 connection to the gateway as `stem`, its SETTINGS received (so that it knows
/// the gateway accepts extended CONNECT).
async fn h2(gateway: &Gateway, stem: &str) -> SendRequest<Empty<Bytes>> {
    let stream = tls(gateway, stem, b"h2").await;
    let (mut sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    // A first exchange: the server's SETTINGS come before its first answer.
    let ping = Request::get(format!("https://localhost:{}/", gateway.port));
    let ping = sender.send_request(ping.body(Empty::new()).unwrap());
    tokio::time::timeout(STEP, ping).await.unwrap().unwrap();
    sender
}

#[test]
fn shutting_down_closes_websockets_at_once_and_drains_requests() {
    run(|| async {
        let (ws, seen) = ws_backend().await;
        let mut gateway = Gateway::start(ws, grpc_backend().await, "{}");
        let mut socket = websocket(&gateway, "client", "/ws/echo")
            .await
            .expect("upgraded");
        assert_eq!(
            next(&mut socket).await.unwrap().unwrap(),
            Message::text("welcome")
        );
        // A request in flight (the backend answers after 4 s) keeps the gateway draining.
        let stream = tls(&gateway, "client", b"http/1.1").await;
        let slow = tokio::spawn(async move {
            let io = TokioIo::new(stream);
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(conn);
            let request = Request::get("/ws/sleep").header("host", "localhost");
            let response = sender.send_request(request.body(Full::new(Bytes::new())).unwrap());
            let response = response.await.unwrap();
            let status = response.status();
            (
                status,
                response.into_body().collect().await.unwrap().to_bytes(),
            )
        });
        let started = Instant::now();
        while seen.sleeping.load(Ordering::SeqCst) == 0 {
            assert!(started.elapsed() < STEP, "the slow request did not arrive");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let terminated = Instant::now();
        let killed = Command::new("kill")
            .args(["-TERM", &gateway.child.id().to_string()])
            .status();
        assert!(killed.unwrap().success());
        // The WebSocket ends well before the draining request is answered.
        match next(&mut socket).await {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => {}
            Some(Ok(other)) => panic!("a message after shutdown: {other:?}"),
        }
        let closed_after = terminated.elapsed();
        assert!(
            closed_after < Duration::from_secs(2),
            "closed after {closed_after:?}"
        );
        let (status, body) = tokio::time::timeout(STEP, slow).await.unwrap().unwrap();
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"slept\n"[..]));
        let exited = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            while started.elapsed() < STEP {
                if let Some(status) = gateway.child.try_wait().unwrap() {
                    return Some(status);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            None
        });
        assert!(
            exited.await.unwrap().is_some_and(|s| s.success()),
            "the gateway exits"
        );
    });
}

#[test]
fn a_reload_that_revokes_a_client_closes_its_websocket() {
    run(|| async {
        let (ws, _seen) = ws_backend().await;
        let gateway = Gateway::start(
            ws,
            grpc_backend().await,
            "{ close_revoked_connections: 10s }",
        );
        let mut doomed = websocket(&gateway, "victim", "/ws/echo")
            .await
            .expect("upgraded");
        let mut kept = websocket(&gateway, "client", "/ws/echo")
            .await
            .expect("upgraded");
        for socket in [&mut doomed, &mut kept] {
            assert_eq!(
                next(socket).await.unwrap().unwrap(),
                Message::text("welcome")
            );
        }
        let crl = Pki::shared()
            .crls()
            .revoke(gateway.client("victim"))
            .build();
        write_atomic(&gateway.etc().join("crl.pem"), crl.pem());
        gateway.logged("configuration reloaded").await;
        // Closed at once, not after the 10 s grace a connection with requests would get.
        let revoked = Instant::now();
        match next(&mut doomed).await {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => {}
            Some(Ok(other)) => panic!("a message after the revocation: {other:?}"),
        }
        assert!(revoked.elapsed() < Duration::from_secs(5));
        echo(&mut kept, "still here").await;
    });
}

#[test]
fn grpc_streams_both_ways_and_its_trailers_reach_the_client() {
    run(|| async {
        let (ws, _seen) = ws_backend().await;
        let gateway = Gateway::start(ws, grpc_backend().await, "{}");
        let stream = tls(&gateway, "client", b"h2").await;
        assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (mut sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let (messages, body) = mpsc::channel(4);
        let request = Request::post(format!("https://localhost:{}/echo.Echo/Chat", gateway.port))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(ChannelBody(body))
            .unwrap();
        messages
            .send(Frame::data(grpc_message(b"first")))
            .await
            .unwrap();
        let response = tokio::time::timeout(STEP, sender.send_request(request))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "application/grpc");
        assert_eq!(response.headers()["x-saw-te"], "trailers");
        let mut body = response.into_body();
        let mut received = BytesMut::new();
        // The first echo arrives while the request is still open: the gateway streams it.
        read_message(&mut body, &mut received, b"first").await;
        messages
            .send(Frame::data(grpc_message(b"second")))
            .await
            .unwrap();
        read_message(&mut body, &mut received, b"second").await;
        drop(messages);
        let trailers = loop {
            let frame = tokio::time::timeout(STEP, body.frame()).await.unwrap();
            let frame = frame.expect("trailers before the end").unwrap();
            match frame.into_trailers() {
                Ok(trailers) => break trailers,
                Err(frame) => assert!(frame.data_ref().is_some_and(Bytes::is_empty)),
            }
        };
        assert_eq!(trailers["grpc-status"], "0");
        assert_eq!(trailers["x-echoed"], "2");
    });
}

/// `payload` as one gRPC message: uncompressed flag, 4-byte length, payload.
fn grpc_message(payload: &[u8]) -> Bytes {
    let mut message = vec![0];
    message.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    message.extend_from_slice(payload);
    Bytes::from(message)
}

/// Reads `body` (bounded) until `received` holds one whole message, and asserts it is
/// `expected`.
async fn read_message(body: &mut Incoming, received: &mut BytesMut, expected: &[u8]) {
    let whole = grpc_message(expected);
    while received.len() < whole.len() {
        let frame = tokio::time::timeout(STEP, body.frame())
            .await
            .expect("an echo in time");
        let data = frame
            .expect("more body")
            .unwrap()
            .into_data()
            .expect("data, not trailers");
        received.extend_from_slice(&data);
    }
    assert_eq!(received.split_to(whole.len()), whole);
}
