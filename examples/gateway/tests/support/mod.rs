//! Helpers of the seed-scenario tests: the example configurations with test ports, the PKI
//! they name (generated with mtls-testkit), test backends, the `mtls-gateway` process, and the
//! real `curl` and `openssl` clients, every one of them bounded in time.

#![allow(dead_code)]

use std::collections::HashSet;
use std::convert::Infallible;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mtls_testkit::{Leaf, Pki};

pub(crate) mod keep_alive;

/// How long any one client command may take.
pub(crate) const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the gateway may take to become ready.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a file change may take to be served.
pub(crate) const RELOAD_TIMEOUT: Duration = Duration::from_secs(15);

// ------------------------------------------------------------------------------------- ports

/// A free loopback port, never the same twice in this process.
pub(crate) fn free_port() -> u16 {
    static TAKEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0")
            .port();
        let mut taken = TAKEN.lock().unwrap();
        if taken.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
}

// ---------------------------------------------------------------------------- the examples

/// The text of `configs/<name>` with each `(example port, test port)` substituted where it
/// follows `:` or `: ` (addresses, `port:` fields, URLs) and is not followed by a digit.
pub(crate) fn example(name: &str, ports: &[(u16, u16)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("configs")
        .join(name);
    let mut text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for &(from, to) in ports {
        text = replace_port(&text, from, to);
    }
    text
}

fn replace_port(text: &str, from: u16, to: u16) -> String {
    let from = from.to_string();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(&from) {
        let before = &rest[..i];
        let after = &rest[i + from.len()..];
        let follows_colon = before.ends_with(':') || before.ends_with(": ");
        let ends = !after.starts_with(|c: char| c.is_ascii_digit());
        out.push_str(before);
        if follows_colon && ends {
            out.push_str(&to.to_string());
        } else {
            out.push_str(&from);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Writes `text` to `path` atomically: a new file renamed over the old one.
pub(crate) fn write_atomic(path: &Path, text: impl AsRef<[u8]>) {
    let tmp = path.with_extension("tmp-new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

// ----------------------------------------------------------------------------------- the PKI

/// The SPIFFE ID of `client.pem`.
pub(crate) const CLIENT_ID: &str = "spiffe://example.org/ns/default/sa/web";
/// The SPIFFE ID of `apim-gateway.pem`, the gateway's own client certificate.
pub(crate) const GATEWAY_ID: &str = "spiffe://example.org/ns/apim/sa/gateway";
/// The osm principal allowed by `osm-ingress-backend.yaml`.
pub(crate) const INGRESS_PRINCIPAL: &str = "ingress-nginx.ingress-ns.cluster.local";
/// Another workload's principal.
pub(crate) const OTHER_PRINCIPAL: &str = "bookbuyer.bookbuyer.cluster.local";

/// Writes every file the example configurations name (see `configs/README.md`) into `dir`,
/// from mtls-testkit's shared PKI (and its unrelated one for `untrusted*`). Plus, for the
/// tests only, `stranger.pem`: a certificate of the unrelated PKI naming `OTHER_PRINCIPAL`.
pub(crate) fn write_pki(dir: &Path) {
    let pki = Pki::shared();
    let unrelated = Pki::shared_unrelated();
    std::fs::write(dir.join("ca.pem"), pki.root().cert_pem()).unwrap();
    std::fs::write(dir.join("untrusted-ca.pem"), unrelated.root().cert_pem()).unwrap();
    let write = |leaf: &Leaf, stem: &str| {
        leaf.write_to(dir, stem).unwrap();
    };
    write(pki.default_server(), "server");
    write(&server_leaf(pki, "helloworld.example.com"), "helloworld");
    write(
        &server_leaf(pki, "aks-ingress.internal.example"),
        "aks-ingress",
    );
    write(
        &pki.client().common_name("web").uri(CLIENT_ID).issue(),
        "client",
    );
    let revoked = pki
        .client()
        .common_name("revoked")
        .uri("spiffe://example.org/ns/default/sa/stolen")
        .issue();
    write(&revoked, "revoked");
    std::fs::write(
        dir.join("crl.pem"),
        pki.crls().revoke(&revoked).build().pem(),
    )
    .unwrap();
    write(
        &pki.client().common_name("gateway").uri(GATEWAY_ID).issue(),
        "apim-gateway",
    );
    write(
        &pki.client()
            .common_name("ingress-nginx")
            .dns(INGRESS_PRINCIPAL)
            .issue(),
        "ingress-nginx",
    );
    write(
        &pki.client()
            .common_name("bookbuyer")
            .dns(OTHER_PRINCIPAL)
            .issue(),
        "other",
    );
    write(
        &unrelated
            .client()
            .common_name("untrusted")
            .dns(INGRESS_PRINCIPAL)
            .issue(),
        "untrusted",
    );
    write(
        &unrelated
            .client()
            .common_name("stranger")
            .dns(OTHER_PRINCIPAL)
            .issue(),
        "stranger",
    );
    let secret = dir.join("secrets/httpbin-credential");
    std::fs::create_dir_all(&secret).unwrap();
    write_secret(&secret, pki, &server_leaf(pki, "httpbin.example.com"));
}

/// A server certificate for exactly `host`.
pub(crate) fn server_leaf(pki: &Pki, host: &str) -> Leaf {
    pki.server_for(&[host]).issue()
}

/// Writes a TLS secret's keys (`tls.crt`, `tls.key`, `ca.crt`) into `dir`.
pub(crate) fn write_secret(dir: &Path, pki: &Pki, leaf: &Leaf) {
    std::fs::write(dir.join("tls.crt"), leaf.chain_pem()).unwrap();
    std::fs::write(dir.join("tls.key"), leaf.key_pem()).unwrap();
    std::fs::write(dir.join("ca.crt"), pki.root().cert_pem()).unwrap();
}

/// Turns `secret` (a directory holding the keys) into the kubelet's layout:
/// `..<version>/` with the files, `..data -> ..<version>`, and `key -> ..data/key` links.
pub(crate) fn kubelet_layout(secret: &Path, version: &str) {
    let data = secret.join(format!("..{version}"));
    std::fs::create_dir(&data).unwrap();
    let keys: Vec<String> = std::fs::read_dir(secret)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    for key in &keys {
        std::fs::rename(secret.join(key), data.join(key)).unwrap();
    }
    std::os::unix::fs::symlink(format!("..{version}"), secret.join("..data")).unwrap();
    for key in &keys {
        std::os::unix::fs::symlink(format!("..data/{key}"), secret.join(key)).unwrap();
    }
}

/// What the kubelet does when a mounted secret changes: writes the new keys into a fresh
/// `..<version>/`, points `..data_tmp` at it and renames that over `..data` (one atomic step).
pub(crate) fn kubelet_swap(secret: &Path, version: &str, pki: &Pki, leaf: &Leaf) {
    let data = secret.join(format!("..{version}"));
    std::fs::create_dir(&data).unwrap();
    write_secret(&data, pki, leaf);
    let tmp = secret.join("..data_tmp");
    std::os::unix::fs::symlink(format!("..{version}"), &tmp).unwrap();
    std::fs::rename(&tmp, secret.join("..data")).unwrap();
}

// ------------------------------------------------------------------------------ the backends

/// A test backend in its own runtime (stopped on drop). `/status/<code>` answers `<code>`
/// (like httpbin); anything else answers 200 with `backend=<name>`, `path=<path>` and the
/// request headers as `name: value` lines.
pub(crate) struct Backend {
    pub(crate) port: u16,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

pub(crate) fn backend(name: &'static str) -> Backend {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    runtime.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| answer(name, req));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Backend {
        port,
        runtime: Some(runtime),
    }
}

async fn answer(name: &str, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    if let Some(ms) = path.strip_prefix("/sleep/") {
        // A slow answer, for graceful-shutdown tests (bounded: at most 5 s).
        let ms = ms.parse::<u64>().unwrap_or(0).min(5_000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        return Ok(Response::new(Full::new(Bytes::from(format!(
            "backend={name}\nslept={ms}ms\n"
        )))));
    }
    if let Some(code) = path.strip_prefix("/status/") {
        let status = code
            .parse::<u16>()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = Response::new(Full::new(Bytes::from(format!(
            "backend={name}\nstatus={}\n",
            status.as_u16()
        ))));
        *response.status_mut() = status;
        return Ok(response);
    }
    let mut body = format!("backend={name}\npath={path}\n");
    for (header, value) in req.headers() {
        body.push_str(&format!(
            "{header}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    Ok(Response::new(Full::new(Bytes::from(body))))
}

// ------------------------------------------------------------------------------ the gateway

/// A running `mtls-gateway --workers 1 run --config FILE`, killed on drop. Its stdout and
/// stderr go to `log` (keep that out of the directories the configuration names: the gateway
/// watches them). One worker: the single-threaded runtime a one-CPU deployment gets, where a
/// task that blocks the thread would stall every connection (the demo tests cover two).
pub(crate) struct Gateway {
    child: Child,
    pub(crate) config: PathBuf,
    pub(crate) log: PathBuf,
    pub(crate) admin: u16,
}

impl Gateway {
    /// Starts the gateway and waits (bounded) until its admin `/readyz` answers 200.
    pub(crate) fn start(config: &Path, log: &Path, admin: u16) -> Self {
        Self::spawn(None, config, log, admin)
    }

    /// Starts the gateway as the configs README says: from `dir`, with `--config FILE` a path
    /// relative to it.
    pub(crate) fn start_in(dir: &Path, config: &str, log: &Path, admin: u16) -> Self {
        Self::spawn(Some(dir), Path::new(config), log, admin)
    }

    fn spawn(dir: Option<&Path>, config: &Path, log: &Path, admin: u16) -> Self {
        let file = std::fs::File::create(log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_mtls-gateway"));
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        let child = command
            .args(["--workers", "1", "run"])
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("the gateway binary runs");
        let mut gateway = Self {
            child,
            config: dir.map_or_else(|| config.to_path_buf(), |d| d.join(config)),
            log: log.to_path_buf(),
            admin,
        };
        let started = Instant::now();
        loop {
            if let Some(status) = gateway.child.try_wait().unwrap() {
                panic!(
                    "the gateway exited ({status}) before it was ready:\n{}",
                    gateway.log_text()
                );
            }
            if http_get(admin, "/readyz").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
                return gateway;
            }
            assert!(
                started.elapsed() < READY_TIMEOUT,
                "the gateway was not ready within {READY_TIMEOUT:?}:\n{}",
                gateway.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the gateway logged so far.
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many log lines contain `needle`.
    pub(crate) fn log_count(&self, needle: &str) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits (bounded) until more than `before` log lines contain `needle`; returns the first
    /// new one.
    pub(crate) fn wait_for_log(&self, needle: &str, before: usize) -> String {
        let started = Instant::now();
        loop {
            let text = self.log_text();
            if let Some(line) = text.lines().filter(|l| l.contains(needle)).nth(before) {
                return line.to_string();
            }
            assert!(
                started.elapsed() < RELOAD_TIMEOUT,
                "no new log line with {needle:?} within {RELOAD_TIMEOUT:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGHUP (with the real `kill`).
    /// Sends SIGTERM and waits (bounded) for the process to exit; its exit status.
    pub(crate) fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < within {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub(crate) fn hup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The admin endpoint's answer (status line, headers, body).
    pub(crate) fn admin_get(&self, path: &str) -> String {
        http_get(self.admin, path).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bounded HTTP/1.1 GET to 127.0.0.1:`port`; `None` if nothing answers.
pub(crate) fn http_get(port: u16, path: &str) -> Option<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    stream.read_to_string(&mut out).ok()?;
    Some(out)
}

// ------------------------------------------------------------------------------ the clients

/// What a client command did.
#[derive(Debug)]
pub(crate) struct Output {
    /// The exit code (-1 if killed by a signal).
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Output {
    /// stdout and stderr together.
    pub(crate) fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `command` with `input` on stdin, killing it after `CLIENT_TIMEOUT`.
pub(crate) fn run(command: &mut Command, input: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CLIENT_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not finish within {CLIENT_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = writer.join();
    Output {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// `curl -sS --max-time 10 ARGS...` in `dir` (so file names are relative to it).
pub(crate) fn curl(dir: &Path, args: &[&str]) -> Output {
    run(
        Command::new("curl")
            .current_dir(dir)
            .args(["-sS", "--max-time", "10"])
            .args(args),
        b"",
    )
}

/// `curl` printing the status code then the body: `(exit code, status, body, stderr)`.
pub(crate) fn curl_status(dir: &Path, args: &[&str]) -> (i32, u16, String, String) {
    let mut all = vec!["-w", "\n%{http_code}"];
    all.extend_from_slice(args);
    let out = curl(dir, &all);
    let (body, status) = out.stdout.rsplit_once('\n').unwrap_or(("", &out.stdout));
    (
        out.code,
        status.trim().parse().unwrap_or(0),
        body.to_string(),
        out.stderr,
    )
}

/// `openssl s_client -connect 127.0.0.1:PORT ARGS...` in `dir`, sending `request` then
/// waiting for the server to close (`-ign_eof`), so alerts sent after the handshake show.
pub(crate) fn s_client(dir: &Path, port: u16, args: &[&str], request: &str) -> Output {
    run(
        Command::new("openssl")
            .current_dir(dir)
            .arg("s_client")
            .arg("-connect")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-ign_eof")
            .args(args),
        request.as_bytes(),
    )
}

/// The chain file's certificates after the first (the intermediates), for `-cert_chain`.
pub(crate) fn intermediates_of(chain: &Path, out: &Path) {
    let text = std::fs::read_to_string(chain).unwrap();
    let start = text
        .match_indices("-----BEGIN CERTIFICATE-----")
        .nth(1)
        .map_or(text.len(), |(i, _)| i);
    std::fs::write(out, &text[start..]).unwrap();
}

/// The value of the metric line that starts with `name{` and holds every label of `labels`.
pub(crate) fn metric(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix('{')?;
        let (set, value) = rest.split_once("} ")?;
        labels
            .iter()
            .all(|label| set.contains(label))
            .then(|| value.trim().parse().ok())?
    })
}

/// Retries `probe` until it returns true (bounded by `RELOAD_TIMEOUT`).
pub(crate) fn eventually(what: &str, mut probe: impl FnMut() -> bool) {
    let started = Instant::now();
    while !probe() {
        assert!(
            started.elapsed() < RELOAD_TIMEOUT,
            "{what}: not within {RELOAD_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A scenario's working directory: `etc/` holds the configuration and the PKI (what the
/// gateway watches), the logs go next to it.
pub(crate) struct Workdir {
    pub(crate) temp: tempfile::TempDir,
    pub(crate) etc: PathBuf,
}

impl Workdir {
    pub(crate) fn new() -> Self {
        let temp = tempfile::Builder::new()
            .prefix("mtls-scenario-")
            .tempdir()
            .unwrap();
        let etc = temp.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        write_pki(&etc);
        Self { temp, etc }
    }

    /// Writes `text` as `etc/<name>` and starts a gateway on it, logging to `<name>.log`.
    pub(crate) fn start(&self, name: &str, text: &str, admin: u16) -> Gateway {
        let config = self.etc.join(name);
        std::fs::write(&config, text).unwrap();
        let log = self.temp.path().join(format!("{name}.log"));
        Gateway::start(&config, &log, admin)
    }
}
