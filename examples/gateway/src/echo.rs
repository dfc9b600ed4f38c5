//! `echo`: a plaintext HTTP backend for trying configurations. `/status/N` answers with status
//! N; every answer is JSON naming the request and the identity headers the gateway forwarded
//! (`x-forwarded-client-cert`, `client-cert`, `client-cert-chain`, `ssl-client-*`), so one
//! binary serves as gateway and backend in every example scenario.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

/// `mtls-gateway echo` arguments.
#[derive(clap::Args)]
pub(crate) struct EchoArgs {
    /// Where to listen (plaintext HTTP/1.1 and HTTP/2); port 0 picks a free port. The address
    /// it listens on is printed on stdout.
    #[arg(long, default_value = "127.0.0.1:3000", value_name = "ADDR")]
    listen: SocketAddr,
}

/// Serves until Ctrl-C (or SIGTERM, which ends the process).
pub(crate) async fn run(args: EchoArgs) -> Result<(), String> {
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("echo: cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| format!("echo: {e}"))?;
    println!("echo backend listening on http://{addr}");
    let accept = async {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(answer);
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "echo: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    };
    tokio::select! {
        () = accept => Ok(()),
        stop = tokio::signal::ctrl_c() => stop.map_err(|e| format!("echo: waiting for Ctrl-C: {e}")),
    }
}

/// The answer to one request: the status `/status/N` asks for (else 200), and the request as
/// JSON.
async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, error) = match requested_status(req.uri().path()) {
        Ok(status) => (status, None),
        Err(e) => (StatusCode::BAD_REQUEST, Some(e)),
    };
    let identity: Map<String, Value> = req
        .headers()
        .iter()
        .filter(|(name, _)| mtls_tower::layer::is_identity_header(name))
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), Value::String(value))
        })
        .collect();
    let mut body = json!({
        "status": status.as_u16(),
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "query": req.uri().query(),
        "host": req.headers().get(header::HOST).map(|h| String::from_utf8_lossy(h.as_bytes())),
        "identity_headers": identity,
    });
    if let Some(error) = error {
        body["error"] = Value::String(error);
    }
    // No body where HTTP forbids one.
    let bytes = if req.method() == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        Bytes::new()
    } else {
        Bytes::from(format!("{body:#}\n"))
    };
    let mut response = Response::new(Full::new(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// The status `/status/N` asks for: 200 for any other path; an error for an N that is not a
/// final status (200 to 599).
fn requested_status(path: &str) -> Result<StatusCode, String> {
    let Some(code) = path.strip_prefix("/status/") else {
        return Ok(StatusCode::OK);
    };
    let code = code.trim_end_matches('/');
    code.parse::<u16>()
        .ok()
        .filter(|n| (200..=599).contains(n))
        .and_then(|n| StatusCode::from_u16(n).ok())
        .ok_or_else(|| format!("/status/{code}: expected a status from 200 to 599"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_paths() {
        assert_eq!(requested_status("/"), Ok(StatusCode::OK));
        assert_eq!(requested_status("/status/418"), Ok(StatusCode::IM_A_TEAPOT));
        assert_eq!(requested_status("/status/204/"), Ok(StatusCode::NO_CONTENT));
        for bad in [
            "/status/",
            "/status/abc",
            "/status/101",
            "/status/600",
            "/status/-1",
        ] {
            assert!(requested_status(bad).is_err(), "{bad}");
        }
        assert_eq!(
            requested_status("/status/99999"),
            Err("/status/99999: expected a status from 200 to 599".into())
        );
    }
}
