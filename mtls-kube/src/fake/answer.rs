//! How the fake API server answers a request: the path routed to a served resource, a list
//! in one JSON document, the start of a watch stream ([`WatchStream`]), and Kubernetes
//! `Status` objects for what it does not serve.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use hyper::body::Incoming;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::Shared;
use super::stream::WatchStream;

/// A response body fed through a channel (a list in one chunk, a watch line by line).
#[derive(Debug)]
pub(super) struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

fn respond(status: StatusCode, body: &Value) -> Response<ChannelBody> {
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.try_send(Bytes::from(body.to_string()));
    let mut response = Response::new(ChannelBody(rx));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response<ChannelBody> {
    respond(
        code,
        &json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code.as_u16()
        }),
    )
}

/// The resource path of a request: (apiVersion, namespace, plural).
fn route(path: &str) -> Option<(String, Option<String>, String)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (api_version, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => ((*v).to_string(), rest),
        ["apis", g, v, rest @ ..] => (format!("{g}/{v}"), rest),
        _ => return None,
    };
    match rest {
        [plural] => Some((api_version, None, (*plural).to_string())),
        ["namespaces", ns, plural] => {
            Some((api_version, Some((*ns).to_string()), (*plural).to_string()))
        }
        _ => None,
    }
}

fn query(uri: &http::Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn answer(shared: &Arc<Shared>, req: &Request<Incoming>) -> Response<ChannelBody> {
    let line = format!(
        "{} {}",
        req.method(),
        req.uri().path_and_query().map_or("", |p| p.as_str())
    );
    shared.lock().requests.push(line);
    if req.method() != Method::GET {
        return status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the fake API server serves GET only",
        );
    }
    let Some((api_version, namespace, plural)) = route(req.uri().path()) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let q = query(req.uri());
    let state = shared.lock();
    let Some(resource) = state.resource(&api_version, &plural) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let watching = matches!(q.get("watch").map(String::as_str), Some("true" | "1"));
    if !watching {
        let items: Vec<Value> = state
            .objects
            .iter()
            .filter(|((r, ns, _), _)| *r == resource && namespace.as_ref().is_none_or(|n| n == ns))
            .map(|(_, o)| without_type(o))
            .collect();
        return respond(
            StatusCode::OK,
            &json!({
                "kind": format!("{}List", state.resources[resource].kind),
                "apiVersion": api_version,
                "metadata": { "resourceVersion": state.rv.to_string() },
                "items": items,
            }),
        );
    }
    let from = q
        .get("resourceVersion")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v > 0);
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|v| v == "true");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_secs(3600), Duration::from_secs);
    let (tx, rx) = mpsc::channel(64);
    let mut response = Response::new(ChannelBody(rx));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let gone = from.is_some_and(|rv| rv < state.oldest);
    // A watch from "now" (no version): the current objects first, as ADDED.
    let (initial, cursor) = match from {
        Some(rv) => (Vec::new(), rv),
        None => {
            let current = state
                .objects
                .iter()
                .filter(|((r, ns, _), _)| {
                    *r == resource && namespace.as_ref().is_none_or(|n| n == ns)
                })
                .map(|(_, o)| json!({"type": "ADDED", "object": o}))
                .collect();
            (current, state.rv)
        }
    };
    let stream = WatchStream {
        shared: Arc::clone(shared),
        resource,
        namespace,
        cursor,
        bookmarks,
        timeout,
        tx,
    };
    drop(state);
    tokio::spawn(stream.run(gone, initial));
    response
}

fn without_type(object: &Value) -> Value {
    let mut o = object.clone();
    if let Some(map) = o.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::timestamp;

    #[test]
    fn routes() {
        assert_eq!(
            route("/api/v1/secrets"),
            Some(("v1".into(), None, "secrets".into()))
        );
        assert_eq!(
            route("/apis/security.istio.io/v1/namespaces/web/peerauthentications"),
            Some((
                "security.istio.io/v1".into(),
                Some("web".into()),
                "peerauthentications".into()
            ))
        );
        assert_eq!(route("/version"), None);
        assert_eq!(timestamp(61), "2025-01-01T00:01:01Z");
    }
}
