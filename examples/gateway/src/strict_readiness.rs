//! `strict-readiness --admin ADDR`: asks a running gateway's admin listener who connects to its
//! PERMISSIVE listeners without mTLS, and prints who would break if they became STRICT.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use crate::admin::ReadinessBody;

/// How long connecting, sending the request and reading the answer may each take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The largest answer read (a full table of 1,024 entries is a few hundred KiB per listener).
const MAX_ANSWER: u64 = 64 << 20;

/// The path the admin listener serves the report at.
const PATH: &str = "/strict-readiness";

/// `mtls-gateway strict-readiness`.
#[derive(clap::Args, Debug)]
pub(crate) struct ReadinessArgs {
    /// The gateway's admin listener: `HOST:PORT` (or `http://HOST:PORT`).
    #[arg(long, value_name = "ADDR")]
    admin: String,
}

/// Why the report could not be read.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("cannot resolve {admin:?}: {source}")]
    Resolve {
        admin: String,
        source: std::io::Error,
    },
    #[error("{admin:?} resolves to no address")]
    NoAddress { admin: String },
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("GET http://{address}/strict-readiness: {source}")]
    Io {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("GET http://{address}/strict-readiness: the answer is not HTTP/1.1 ({first_line:?})")]
    NotHttp {
        address: SocketAddr,
        first_line: String,
    },
    #[error("GET http://{address}/strict-readiness: status {status} ({body})")]
    Status {
        address: SocketAddr,
        status: u16,
        body: String,
    },
    #[error(
        "GET http://{address}/strict-readiness: the body is not a STRICT-readiness report: {source}"
    )]
    Json {
        address: SocketAddr,
        source: serde_json::Error,
    },
}

/// Prints who would break under STRICT: exit 0 when nobody would, 1 when somebody would, 2
/// when the report cannot be read.
pub(crate) fn run(args: &ReadinessArgs) -> ExitCode {
    match fetch(&args.admin) {
        Ok(body) => {
            let (text, anyone) = render(&body);
            print!("{text}");
            ExitCode::from(u8::from(anyone))
        }
        Err(e) => {
            eprintln!("mtls-gateway strict-readiness: {e}");
            ExitCode::from(2)
        }
    }
}

fn fetch(admin: &str) -> Result<ReadinessBody, FetchError> {
    let host_port = admin
        .strip_prefix("http://")
        .unwrap_or(admin)
        .trim_end_matches('/');
    let address = host_port
        .to_socket_addrs()
        .map_err(|source| FetchError::Resolve {
            admin: admin.to_owned(),
            source,
        })?
        .next()
        .ok_or_else(|| FetchError::NoAddress {
            admin: admin.to_owned(),
        })?;
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT)
        .map_err(|source| FetchError::Connect { address, source })?;
    let io = |source| FetchError::Io { address, source };
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    write!(
        stream,
        "GET {PATH} HTTP/1.1\r\nHost: {host_port}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .map_err(io)?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let first_line = head.lines().next().unwrap_or_default();
    let status = first_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| FetchError::NotHttp {
            address,
            first_line: first_line.to_owned(),
        })?;
    if status != 200 {
        return Err(FetchError::Status {
            address,
            status,
            body: body.trim().to_owned(),
        });
    }
    serde_json::from_str(body).map_err(|source| FetchError::Json { address, source })
}

/// The text to print, and whether anybody would break under STRICT.
fn render(body: &ReadinessBody) -> (String, bool) {
    if body.listeners.is_empty() {
        return (
            "no PERMISSIVE listener: nothing to switch to STRICT\n".into(),
            false,
        );
    }
    let mut rows = vec![[
        "LISTENER".to_owned(),
        "SOURCE".to_owned(),
        "SNI".to_owned(),
        "PLAINTEXT".to_owned(),
        "TLS-NO-CERT".to_owned(),
    ]];
    let mut summary = String::new();
    let mut anyone = false;
    for (name, report) in &body.listeners {
        anyone |= report.would_break > 0;
        for entry in report.entries.iter().filter(|e| e.counts.would_break() > 0) {
            rows.push([
                name.clone(),
                entry.source.to_string(),
                entry.sni.clone().unwrap_or_else(|| "-".into()),
                entry.counts.plaintext.to_string(),
                entry.counts.tls_without_certificate.to_string(),
            ]);
        }
        let total = report
            .entries
            .iter()
            .map(|e| e.counts.total())
            .fold(report.overflow.counts.total(), u64::saturating_add);
        let since = humantime::format_rfc3339_seconds(
            UNIX_EPOCH + Duration::from_secs(report.since_unix_seconds),
        );
        summary += &format!(
            "{name}: {} of {total} connections since {since} would break under STRICT\n",
            report.would_break
        );
        let overflow = &report.overflow;
        if overflow.entries > 0 {
            summary += &format!(
                "{name}: {} of them among {} entries evicted from the table (it keeps {})\n",
                overflow.counts.would_break(),
                overflow.entries,
                report.capacity
            );
        }
    }
    if !anyone {
        return (
            format!(
                "nobody would break under STRICT: no connection without a client certificate\n{summary}"
            ),
            false,
        );
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut text = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text += line.join("  ").trim_end();
        text.push('\n');
    }
    (text + &summary, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> ReadinessBody {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_table_lists_only_who_would_break() {
        let (text, anyone) = render(&body(
            r#"{"listeners": {"permissive": {
                "since_unix_seconds": 0, "capacity": 2, "would_break": 5,
                "entries": [
                  {"source": "10.0.0.1", "sni": null, "identity": null,
                   "counts": {"plaintext": 3, "tls_without_certificate": 0, "mtls": 0}},
                  {"source": "10.0.0.3", "sni": "api.example", "identity": "spiffe://x/y",
                   "counts": {"plaintext": 0, "tls_without_certificate": 0, "mtls": 4}}
                ],
                "overflow": {"entries": 2, "counts":
                   {"plaintext": 1, "tls_without_certificate": 1, "mtls": 0}}}}}"#,
        ));
        assert!(anyone);
        assert_eq!(
            text,
            "LISTENER    SOURCE    SNI  PLAINTEXT  TLS-NO-CERT\n\
             permissive  10.0.0.1  -    3          0\n\
             permissive: 5 of 9 connections since 1970-01-01T00:00:00Z would break under STRICT\n\
             permissive: 2 of them among 2 entries evicted from the table (it keeps 2)\n"
        );
    }

    #[test]
    fn nobody_would_break_when_every_connection_is_mtls() {
        let (text, anyone) = render(&body(
            r#"{"listeners": {"p": {
                "since_unix_seconds": 0, "capacity": 2, "would_break": 0,
                "entries": [{"source": "10.0.0.3", "sni": null, "identity": "spiffe://x/y",
                   "counts": {"plaintext": 0, "tls_without_certificate": 0, "mtls": 4}}],
                "overflow": {"entries": 0, "counts":
                   {"plaintext": 0, "tls_without_certificate": 0, "mtls": 0}}}}}"#,
        ));
        assert!(!anyone);
        assert!(
            text.starts_with("nobody would break under STRICT"),
            "{text}"
        );
        assert!(text.contains("p: 0 of 4 connections"), "{text}");
        let (text, anyone) = render(&body(r#"{"listeners": {}}"#));
        assert!(!anyone);
        assert!(text.starts_with("no PERMISSIVE listener"), "{text}");
    }
}
