//! A small blocking HTTP/1.0 client for `check --ocsp` (one POST) and `check --fetch-crls`
//! (one GET) to an `http://` URL, bounded in time (one deadline for resolving, connecting,
//! sending and reading) and in the size of the answer.
//!
//! `https://` responders are refused: OCSP responders are almost always plain HTTP (the
//! response is signed), and a TLS client here would have to decide whom to trust for the
//! responder itself.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::time::{Duration, Instant};

/// The largest status line and headers read.
const MAX_HEAD: usize = 16 * 1024;

/// Why a POST gave no body.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    /// The URL is not one this client can ask.
    #[error("responder URL {url:?}: {why}")]
    Url { url: String, why: &'static str },
    /// The host name did not resolve.
    #[error("responder {authority}: cannot resolve: {detail}")]
    Resolve { authority: String, detail: String },
    /// No address of the host accepted the connection.
    #[error("responder {authority}: cannot connect: {detail}")]
    Connect { authority: String, detail: String },
    /// The deadline passed.
    #[error("responder {authority}: no answer within {}s", timeout.as_secs_f64())]
    Timeout {
        authority: String,
        timeout: Duration,
    },
    /// The connection failed while sending or reading.
    #[error("responder {authority}: {detail}")]
    Io { authority: String, detail: String },
    /// The answer is not an HTTP answer this client reads.
    #[error("responder {authority}: malformed HTTP answer: {what}")]
    Malformed {
        authority: String,
        what: &'static str,
    },
    /// The responder answered with a status other than 200.
    #[error("responder {authority} answered {status:?}")]
    Status { authority: String, status: String },
    /// The body is larger than allowed.
    #[error("responder {authority}: answer larger than {max} bytes")]
    TooLarge { authority: String, max: usize },
}

/// An `http://` URL, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpUrl {
    /// `host:port` as written (the port may be absent).
    authority: String,
    host: String,
    port: u16,
    /// The path and query, `/` when absent.
    path: String,
}

impl HttpUrl {
    /// Parses `http://HOST[:PORT][/PATH]`; `https://` and other schemes are refused.
    pub(crate) fn parse(url: &str) -> Result<Self, HttpError> {
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
pub(crate) fn post(
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
    exchange(url, &head, body, timeout, max_body)
}

/// GETs `url` and returns the body of the `200` answer, all within `timeout`, reading no more
/// than `max_body` bytes of body.
pub(crate) fn get(url: &HttpUrl, timeout: Duration, max_body: usize) -> Result<Vec<u8>, HttpError> {
    let head = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nConnection: close\r\n\r\n",
        url.path, url.authority
    );
    exchange(url, &head, &[], timeout, max_body)
}

/// Sends `head` and `body` to `url` and reads the answer, all within `timeout`.
fn exchange(
    url: &HttpUrl,
    head: &str,
    body: &[u8],
    timeout: Duration,
    max_body: usize,
) -> Result<Vec<u8>, HttpError> {
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

/// The body of a complete HTTP/1.x answer, when its status is 200.
fn body_of(mut answer: Vec<u8>, authority: &str, max_body: usize) -> Result<Vec<u8>, HttpError> {
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
    if parts.next() != Some("200") {
        return Err(HttpError::Status {
            authority: authority.to_string(),
            status: status.to_string(),
        });
    }
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(malformed("a header line without a colon"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") && !value.eq_ignore_ascii_case("identity")
        {
            return Err(malformed("a transfer encoding on an HTTP/1.0 request"));
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
        _ => Ok(body),
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
        let ok = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi".to_vec();
        assert_eq!(body_of(ok, "h", 10).unwrap(), b"hi");
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
