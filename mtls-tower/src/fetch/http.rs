//! A small blocking HTTP/1.0 client for OCSP responders (one POST) and CRL distribution points
//! (one GET, conditional on the last answer's `ETag` / `Last-Modified`) at an `http://` URL,
//! bounded in time (one deadline for resolving, connecting, sending and reading) and in the
//! size of the answer. It blocks its thread: async code runs it with
//! `tokio::task::spawn_blocking`.
//!
//! `https://` responders are refused: OCSP responders and CRL distribution points are almost
//! always plain HTTP (what they serve is signed), and a TLS client here would have to decide
//! whom to trust for the responder itself.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::time::{Duration, Instant};

/// The largest status line and headers read.
const MAX_HEAD: usize = 16 * 1024;

/// Why a request gave no body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The URL is not one this client can ask.
    #[error("responder URL {url:?}: {why}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The host name did not resolve.
    #[error("responder {authority}: cannot resolve: {detail}")]
    Resolve {
        /// `host:port` as the URL writes it.
        authority: String,
        /// The resolver's error.
        detail: String,
    },
    /// No address of the host accepted the connection.
    #[error("responder {authority}: cannot connect: {detail}")]
    Connect {
        /// `host:port` as the URL writes it.
        authority: String,
        /// The last address's error.
        detail: String,
    },
    /// The deadline passed.
    #[error("responder {authority}: no answer within {}s", timeout.as_secs_f64())]
    Timeout {
        /// `host:port` as the URL writes it.
        authority: String,
        /// The deadline.
        timeout: Duration,
    },
    /// The connection failed while sending or reading.
    #[error("responder {authority}: {detail}")]
    Io {
        /// `host:port` as the URL writes it.
        authority: String,
        /// The socket's error.
        detail: String,
    },
    /// The answer is not an HTTP answer this client reads.
    #[error("responder {authority}: malformed HTTP answer: {what}")]
    Malformed {
        /// `host:port` as the URL writes it.
        authority: String,
        /// What is wrong with it.
        what: &'static str,
    },
    /// The responder answered with a status other than 200.
    #[error("responder {authority} answered {status:?}")]
    Status {
        /// `host:port` as the URL writes it.
        authority: String,
        /// The status line.
        status: String,
    },
    /// The body is larger than allowed.
    #[error("responder {authority}: answer larger than {max} bytes")]
    TooLarge {
        /// `host:port` as the URL writes it.
        authority: String,
        /// The limit, in bytes.
        max: usize,
    },
}

impl HttpError {
    /// A metric label for the failure: `timeout`, `http_status`, `too_large`,
    /// `malformed_http`, `bad_url` or `unreachable`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Timeout { .. } => "timeout",
            Self::Status { .. } => "http_status",
            Self::TooLarge { .. } => "too_large",
            Self::Malformed { .. } => "malformed_http",
            Self::Url { .. } => "bad_url",
            Self::Resolve { .. } | Self::Connect { .. } | Self::Io { .. } => "unreachable",
        }
    }
}

/// An `http://` URL, split.
///
/// ```
/// use mtls_tower::fetch::HttpUrl;
///
/// assert!(HttpUrl::parse("http://pki.example.com/issuing.crl").is_ok());
/// assert!(HttpUrl::parse("https://pki.example.com/issuing.crl").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// `host:port` as written (the port may be absent).
    authority: String,
    host: String,
    port: u16,
    /// The path and query, `/` when absent.
    path: String,
}

impl HttpUrl {
    /// Parses `http://HOST[:PORT][/PATH]`; `https://` and other schemes are refused.
    pub fn parse(url: &str) -> Result<Self, HttpError> {
        let bad = |why| HttpError::Url {
            url: url.to_string(),
            why,
        };
        let lower = url.to_ascii_lowercase();
        let rest = if lower.starts_with("http://") {
            &url[7..]
        } else if lower.starts_with("https://") {
            return Err(bad(
                "https responders are not supported; give an http:// URL (OCSP responses are signed)",
            ));
        } else {
            return Err(bad("not an http:// URL"));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("no host, or user information in the URL"));
        }
        if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(bad("spaces or control characters in the path"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ in host"))?;
            match after {
                "" => (host, None),
                p => (
                    host,
                    Some(p.strip_prefix(':').ok_or_else(|| bad("bad port"))?),
                ),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        let port = match port {
            None => 80,
            Some(p) => p.parse().map_err(|_| bad("bad port"))?,
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Self {
            authority: authority.to_string(),
            host: host.to_string(),
            port,
            path,
        })
    }
}

/// POSTs `body` with `content_type` to `url` and returns the body of the `200` answer, all
/// within `timeout`, reading no more than `max_body` bytes of body.
///
/// # Errors
/// Every way the exchange can fail, naming the URL's authority ([`HttpError`]).
pub fn post(
    url: &HttpUrl,
    content_type: &str,
    body: &[u8],
    timeout: Duration,
    max_body: usize,
) -> Result<Vec<u8>, HttpError> {
    let head = format!(
        "POST {} HTTP/1.0\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        url.path,
        url.authority,
        body.len()
    );
    ok_body(url, exchange(url, &head, body, timeout, max_body)?)
}

/// GETs `url` and returns the body of the `200` answer, all within `timeout`, reading no more
/// than `max_body` bytes of body.
///
/// # Errors
/// Every way the exchange can fail, naming the URL's authority ([`HttpError`]).
pub fn get(url: &HttpUrl, timeout: Duration, max_body: usize) -> Result<Vec<u8>, HttpError> {
    ok_body(
        url,
        get_if_changed(url, &Validators::default(), timeout, max_body)?,
    )
}

/// What identifies the version of a resource a server sent: its `ETag` and `Last-Modified`,
/// sent back as `If-None-Match` and `If-Modified-Since`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validators {
    /// The `ETag` header, as sent.
    pub etag: Option<String>,
    /// The `Last-Modified` header, as sent.
    pub last_modified: Option<String>,
}

/// The answer to a conditional GET.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fetched {
    /// `304 Not Modified`: the version the validators name is current.
    NotModified,
    /// `200`: the body, and the validators of this version.
    Body {
        /// The body.
        body: Vec<u8>,
        /// Its `ETag` and `Last-Modified`.
        validators: Validators,
    },
}

/// GETs `url` unless the version `known` names is current (`If-None-Match`,
/// `If-Modified-Since`): [`Fetched::NotModified`] on `304`, else the body of the `200` answer,
/// all within `timeout`, reading no more than `max_body` bytes of body.
///
/// # Errors
/// Every way the exchange can fail, naming the URL's authority ([`HttpError`]).
pub fn get_if_changed(
    url: &HttpUrl,
    known: &Validators,
    timeout: Duration,
    max_body: usize,
) -> Result<Fetched, HttpError> {
    let mut head = format!("GET {} HTTP/1.0\r\nHost: {}\r\n", url.path, url.authority);
    // Header values come from a server's answer: only visible ASCII is sent back.
    let clean = |v: &String| v.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    if let Some(etag) = known.etag.as_ref().filter(|v| clean(v)) {
        head.push_str(&format!("If-None-Match: {etag}\r\n"));
    }
    if let Some(date) = known.last_modified.as_ref().filter(|v| clean(v)) {
        head.push_str(&format!("If-Modified-Since: {date}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    exchange(url, &head, &[], timeout, max_body)
}

/// The body of a `200`; a `304` to a request that was not conditional is an error.
fn ok_body(url: &HttpUrl, fetched: Fetched) -> Result<Vec<u8>, HttpError> {
    match fetched {
        Fetched::Body { body, .. } => Ok(body),
        Fetched::NotModified => Err(HttpError::Status {
            authority: url.authority.clone(),
            status: "304 Not Modified to a request that was not conditional".into(),
        }),
    }
}

/// Sends `head` and `body` to `url` and reads the answer, all within `timeout`.
fn exchange(
    url: &HttpUrl,
    head: &str,
    body: &[u8],
    timeout: Duration,
    max_body: usize,
) -> Result<Fetched, HttpError> {
    let authority = || url.authority.clone();
    let deadline = Instant::now() + timeout;
    let timed_out = || HttpError::Timeout {
        authority: authority(),
        timeout,
    };
    let addrs = resolve(url, timeout).map_err(|detail| match detail {
        None => timed_out(),
        Some(detail) => HttpError::Resolve {
            authority: authority(),
            detail,
        },
    })?;
    let mut last = String::from("no address");
    let mut stream = None;
    for addr in addrs {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(timed_out)?;
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) if e.kind() == ErrorKind::TimedOut => return Err(timed_out()),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    let mut stream = stream.ok_or_else(|| HttpError::Connect {
        authority: authority(),
        detail: last,
    })?;
    let io = |e: std::io::Error| match e.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => timed_out(),
        _ => HttpError::Io {
            authority: authority(),
            detail: e.to_string(),
        },
    };
    let left = |deadline: Instant| {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    };
    stream
        .set_write_timeout(Some(left(deadline).ok_or_else(timed_out)?))
        .map_err(io)?;
    stream.write_all(head.as_bytes()).map_err(io)?;
    if !body.is_empty() {
        stream.write_all(body).map_err(io)?;
    }
    let limit = MAX_HEAD + max_body;
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        stream
            .set_read_timeout(Some(left(deadline).ok_or_else(timed_out)?))
            .map_err(io)?;
        let n = stream.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        if answer.len() > limit {
            return Err(HttpError::TooLarge {
                authority: authority(),
                max: max_body,
            });
        }
    }
    body_of(answer, &url.authority, max_body)
}

/// The addresses of the URL's host, resolved within `timeout` (the system resolver blocks, so
/// it runs on a thread of its own, left behind when it is late); `None` when it was late.
fn resolve(url: &HttpUrl, timeout: Duration) -> Result<Vec<SocketAddr>, Option<String>> {
    if let Ok(ip) = url.host.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, url.port)]);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let (host, port) = (url.host.clone(), url.port);
    std::thread::spawn(move || {
        let result = (host.as_str(), port)
            .to_socket_addrs()
            .map(Iterator::collect::<Vec<_>>)
            .map_err(|e| e.to_string());
        let _ = tx.send(result);
    });
    match rx.recv_timeout(timeout) {
        Ok(result) => result.map_err(Some),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(None),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            Err(Some("the resolver stopped without an answer".into()))
        }
    }
}

/// The body of a complete HTTP/1.x answer when its status is 200 (with its validators), or
/// [`Fetched::NotModified`] when it is 304.
fn body_of(mut answer: Vec<u8>, authority: &str, max_body: usize) -> Result<Fetched, HttpError> {
    let malformed = |what| HttpError::Malformed {
        authority: authority.to_string(),
        what,
    };
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| malformed("no end of headers"))?;
    if split > MAX_HEAD {
        return Err(malformed("headers too large"));
    }
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let mut parts = status.splitn(3, ' ');
    if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(malformed("no HTTP/1.x status line"));
    }
    match parts.next() {
        Some("200") => {}
        Some("304") => return Ok(Fetched::NotModified),
        _ => {
            return Err(HttpError::Status {
                authority: authority.to_string(),
                status: status.to_string(),
            });
        }
    }
    let mut length = None;
    let mut validators = Validators::default();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(malformed("a header line without a colon"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") && !value.eq_ignore_ascii_case("identity")
        {
            return Err(malformed("a transfer encoding on an HTTP/1.0 request"));
        }
        if name.eq_ignore_ascii_case("etag") {
            validators.etag = Some(value.to_string());
        }
        if name.eq_ignore_ascii_case("last-modified") {
            validators.last_modified = Some(value.to_string());
        }
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| malformed("a Content-Length that is not a number"))?,
            );
        }
    }
    let body = answer.split_off(split + 4);
    if body.len() > max_body || length.is_some_and(|l| l > max_body) {
        return Err(HttpError::TooLarge {
            authority: authority.to_string(),
            max: max_body,
        });
    }
    match length {
        Some(l) if l != body.len() => {
            Err(malformed("a body shorter or longer than Content-Length"))
        }
        _ => Ok(Fetched::Body { body, validators }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = HttpUrl::parse("http://ocsp.example.com/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("ocsp.example.com", 80, "/")
        );
        let u = HttpUrl::parse("HTTP://127.0.0.1:8080").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 8080, "/")
        );
        let u = HttpUrl::parse("http://[::1]:9/ocsp?x").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 9, "/ocsp?x")
        );
        for bad in [
            "https://ocsp.example.com/",
            "ldap://x",
            "http://",
            "http://h:port/",
            "http://u@h/",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
        let https = HttpUrl::parse("https://ocsp.example.com/").unwrap_err();
        assert!(
            https
                .to_string()
                .contains("https responders are not supported"),
            "{https}"
        );
    }

    #[test]
    fn answers() {
        let ok = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nETag: \"v1\"\r\n\r\nhi".to_vec();
        let Fetched::Body { body, validators } = body_of(ok, "h", 10).unwrap() else {
            panic!("a body");
        };
        assert_eq!(
            (body.as_slice(), validators.etag.as_deref()),
            (&b"hi"[..], Some("\"v1\""))
        );
        let same = b"HTTP/1.1 304 Not Modified\r\n\r\n".to_vec();
        assert_eq!(body_of(same, "h", 10).unwrap(), Fetched::NotModified);
        let not_found = b"HTTP/1.0 404 Not Found\r\n\r\n".to_vec();
        assert_eq!(
            body_of(not_found, "h", 10).unwrap_err().to_string(),
            "responder h answered \"HTTP/1.0 404 Not Found\""
        );
        let big = b"HTTP/1.0 200 OK\r\nContent-Length: 11\r\n\r\n".to_vec();
        assert!(matches!(
            body_of(big, "h", 10),
            Err(HttpError::TooLarge { .. })
        ));
        let short = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nhi".to_vec();
        assert!(matches!(
            body_of(short, "h", 10),
            Err(HttpError::Malformed { .. })
        ));
        let garbage = b"garbage".to_vec();
        assert!(matches!(
            body_of(garbage, "h", 10),
            Err(HttpError::Malformed { .. })
        ));
    }
}
