//! `demo`: a throw-away PKI, an echo backend and a gateway on loopback, and the `curl`
//! commands that show each decision. `--self-test` runs those commands and checks them.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mtls_testkit::{IssuedBy, Pki};
use tokio::net::TcpListener;

/// Arguments of `demo`.
#[derive(clap::Args, Debug)]
pub(crate) struct DemoArgs {
    /// Where to write the PKI and the configuration (default: a temporary directory, removed
    /// at exit).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Port of the STRICT mTLS listener (0: any free port).
    #[arg(long, default_value_t = 8443)]
    https_port: u16,
    /// Port of the PERMISSIVE listener: plaintext and mTLS on one port (0: any free port).
    #[arg(long, default_value_t = 8080)]
    permissive_port: u16,
    /// Port of the admin listener (/healthz, /readyz, /metrics; 0: any free port).
    #[arg(long, default_value_t = 9901)]
    admin_port: u16,
    /// Run the printed curl commands, check each outcome, and exit (0 when all pass).
    #[arg(long)]
    self_test: bool,
}

const CLIENT_ID: &str = "spiffe://demo.local/ns/default/sa/web";
const ADMIN_ID: &str = "spiffe://demo.local/ns/ops/sa/admin";

pub(crate) async fn run(args: DemoArgs) -> Result<(), String> {
    let temp;
    let dir = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("mtls-demo-")
                .tempdir()
                .map_err(|e| format!("temporary directory: {e}"))?;
            temp.path().to_path_buf()
        }
    };
    write_pki(&dir).map_err(|e| format!("writing the PKI into {}: {e}", dir.display()))?;

    let backend = start_echo_backend().await?;
    let https = free_port(args.https_port)?;
    let permissive = free_port(args.permissive_port)?;
    let admin = free_port(args.admin_port)?;
    let config = dir.join("gateway.yaml");
    std::fs::write(&config, demo_config(backend, https, permissive, admin))
        .map_err(|e| format!("{}: {e}", config.display()))?;

    let gateway = crate::server::start(&config).await?;
    let commands = commands(&dir, https, permissive, admin);
    if args.self_test {
        let failures = self_test(&commands).await;
        gateway.shutdown().await;
        return if failures == 0 {
            println!("demo self-test: {} passed, 0 failed", commands.len());
            Ok(())
        } else {
            Err(format!(
                "demo self-test: {} passed, {failures} failed",
                commands.len() - failures
            ))
        };
    }
    println!("{}", banner(&dir, &config, &commands));
    crate::server::terminate_signal().await;
    gateway.shutdown().await;
    Ok(())
}

/// Writes the PKI: a root → intermediate CA, a server certificate for localhost/127.0.0.1,
/// clients (allowed, admin, revoked, from an unrelated CA) and the CRLs.
fn write_pki(dir: &Path) -> std::io::Result<()> {
    let pki = Pki::new();
    std::fs::write(dir.join("ca.pem"), pki.root().cert_pem())?;
    pki.server().issue().write_to(dir, "server")?;
    pki.client()
        .common_name("web")
        .uri(CLIENT_ID)
        .issue()
        .write_to(dir, "client")?;
    pki.client()
        .common_name("admin")
        .uri(ADMIN_ID)
        .issue()
        .write_to(dir, "admin")?;
    let revoked = pki
        .client()
        .common_name("revoked")
        .uri("spiffe://demo.local/ns/default/sa/stolen")
        .issued_by(IssuedBy::Intermediate)
        .issue();
    revoked.write_to(dir, "revoked")?;
    std::fs::write(
        dir.join("crl.pem"),
        pki.crls().revoke(&revoked).build().pem(),
    )?;
    // A partner's CA, not trusted yet: the candidate trust (shadow) would let its client in.
    let partner = Pki::new();
    std::fs::write(dir.join("partner-ca.pem"), partner.root().cert_pem())?;
    partner
        .client()
        .common_name("stranger")
        .uri("spiffe://elsewhere.example/ns/x/sa/y")
        .issue()
        .write_to(dir, "untrusted")?;
    Ok(())
}

fn demo_config(backend: SocketAddr, https: u16, permissive: u16, admin: u16) -> String {
    format!(
        r#"# Written by `mtls-gateway demo`; run it again with `mtls-gateway run --config <this file>`.
admin:
  address: 127.0.0.1:{admin}

listeners:
  - name: strict                      # mTLS only (Istio STRICT / AGC frontend mTLS)
    address: 127.0.0.1:{https}
    peer_mode: strict
    hosts:
      - certificate: {{ chain: server.pem, key: server.key }}
        client_validation:
          mode: required              # no certificate: TLS alert certificate_required
          trust:
            - name: demo
              ca: [{{ file: ca.pem }}]
              crl: {{ sources: [{{ file: crl.pem }}] }}   # revoked: HTTP 400 with the reason
        shadow_client_validation:     # a candidate trust adding a partner's CA, judged beside
          mode: required              # the active one on every handshake and request, never
          trust:                      # enforced; disagreements are counted and logged
            - name: demo
              ca: [{{ file: ca.pem }}]
              crl: {{ sources: [{{ file: crl.pem }}] }}
            - name: partner
              ca: [{{ file: partner-ca.pem }}]
        routes:
          - path_prefix: /admin       # only the admin identity; others: 403
            authorization:
              principals: ["{ADMIN_ID}"]
            backend: echo
          - {{ path_prefix: /, backend: echo }}
  - name: permissive                  # plaintext and mTLS on one port (Istio PERMISSIVE)
    address: 127.0.0.1:{permissive}
    peer_mode: permissive
    hosts:
      - certificate: {{ chain: server.pem, key: server.key }}
        client_validation:
          mode: optional
          trust:
            - name: demo
              ca: [{{ file: ca.pem }}]
              crl: {{ sources: [{{ file: crl.pem }}] }}
        routes:
          - {{ path_prefix: /, backend: echo }}

backends:
  echo: {{ url: "http://{backend}" }}

forward_identity:
  xfcc: {{ hash: true, subject: true, uri: true, dns: true }}
  ssl_client: true
"#
    )
}

/// One demonstrated command and what it must show.
pub(crate) struct DemoCommand {
    what: &'static str,
    args: Vec<String>,
    /// Expected curl exit code.
    exit: i32,
    /// Text the output (stdout + stderr) must contain.
    shows: &'static str,
}

fn commands(dir: &Path, https: u16, permissive: u16, admin: u16) -> Vec<DemoCommand> {
    let file = |name: &str| dir.join(name).display().to_string();
    let tls = |extra: &[&str], url: String| {
        let mut args: Vec<String> = vec!["-sS".into(), "--cacert".into(), file("ca.pem")];
        args.extend(extra.iter().map(|s| (*s).to_string()));
        args.push(url);
        args
    };
    let cert = |name: &str| -> [String; 4] {
        [
            "--cert".into(),
            file(&format!("{name}.pem")),
            "--key".into(),
            file(&format!("{name}.key")),
        ]
    };
    let with = |name: &str, url: String| {
        let c = cert(name);
        tls(&[&c[0], &c[1], &c[2], &c[3]], url)
    };
    vec![
        DemoCommand {
            what: "no client certificate: the TLS handshake ends with alert certificate_required",
            args: tls(&[], format!("https://localhost:{https}/")),
            exit: 56,
            shows: "alert certificate required",
        },
        DemoCommand {
            what: "a valid client certificate: 200, the backend sees the verified identity",
            args: with("client", format!("https://localhost:{https}/hello")),
            exit: 0,
            shows: CLIENT_ID,
        },
        DemoCommand {
            what: "a SAN the /admin route does not allow: 403 with the reason",
            args: with("client", format!("https://localhost:{https}/admin")),
            exit: 0,
            shows: "403",
        },
        DemoCommand {
            what: "the admin identity on /admin: 200",
            args: with("admin", format!("https://localhost:{https}/admin")),
            exit: 0,
            shows: ADMIN_ID,
        },
        DemoCommand {
            what: "a revoked certificate: HTTP 400 with the reason (as AGC answers)",
            args: with("revoked", format!("https://localhost:{https}/")),
            exit: 0,
            shows: "400",
        },
        DemoCommand {
            what: "a certificate from a partner's CA, not trusted: TLS alert unknown_ca",
            args: with("untrusted", format!("https://localhost:{https}/")),
            exit: 56,
            shows: "unknown ca",
        },
        DemoCommand {
            what: "plaintext on the PERMISSIVE port: 200, anonymous",
            args: vec!["-sS".into(), format!("http://localhost:{permissive}/")],
            exit: 0,
            shows: "anonymous",
        },
        DemoCommand {
            what: "mTLS on the same PERMISSIVE port: 200 with the identity",
            args: with("client", format!("https://localhost:{permissive}/")),
            exit: 0,
            shows: CLIENT_ID,
        },
        DemoCommand {
            what: "plaintext on the STRICT port: the connection is closed",
            args: vec!["-sS".into(), format!("http://localhost:{https}/")],
            exit: 52,
            shows: "Empty reply from server",
        },
        DemoCommand {
            what: "who would break if the PERMISSIVE port became STRICT (as a table: \
                   mtls-gateway strict-readiness --admin ADDR)",
            args: vec![
                "-sS".into(),
                format!("http://127.0.0.1:{admin}/strict-readiness"),
            ],
            exit: 0,
            shows: r#""would_break": 1"#,
        },
        DemoCommand {
            what: "metrics: handshakes, decisions and reasons, reloads, client-certificate \
                   lifetimes, CA and CRL expiry; the partner's client above is a shadow-trust \
                   disagreement (active deny, candidate allow)",
            args: vec!["-sS".into(), format!("http://127.0.0.1:{admin}/metrics")],
            exit: 0,
            shows: r#"mtls_shadow_disagreements_total{listener="strict",stage="handshake",active="deny",candidate="allow"} 1"#,
        },
    ]
}

fn shell_words(args: &[String]) -> String {
    let mut out = String::from("curl");
    for a in args {
        out.push(' ');
        if a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@".contains(c))
        {
            out.push_str(a);
        } else {
            let _ = write!(out, "'{}'", a.replace('\'', r"'\''"));
        }
    }
    out
}

fn banner(dir: &Path, config: &Path, commands: &[DemoCommand]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nmtls-gateway demo is running (Ctrl-C to stop).");
    let _ = writeln!(out, "  PKI and configuration: {}", dir.display());
    let _ = writeln!(out, "  configuration:         {}\n", config.display());
    let _ = writeln!(
        out,
        "Try it (add -v to see the TLS handshake; add -i for the status line):\n"
    );
    for c in commands {
        let _ = writeln!(out, "# {}", c.what);
        let _ = writeln!(out, "{}\n", shell_words(&c.args));
    }
    out
}

/// Runs every command with the real `curl` and checks exit code and output.
async fn self_test(commands: &[DemoCommand]) -> usize {
    let mut failures = 0;
    for c in commands {
        let mut args = c.args.clone();
        args.insert(0, "--max-time".into());
        args.insert(1, "10".into());
        if c.exit == 0 {
            args.insert(0, "-i".into());
        }
        let output = tokio::process::Command::new("curl")
            .args(&args)
            .output()
            .await;
        let (code, text) = match output {
            Ok(o) => (
                o.status.code().unwrap_or(-1),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ),
            ),
            Err(e) => (-1, format!("cannot run curl: {e}")),
        };
        let ok = code == c.exit
            && text
                .to_ascii_lowercase()
                .contains(&c.shows.to_ascii_lowercase());
        println!("[{}] {}", if ok { "pass" } else { "FAIL" }, c.what);
        if !ok {
            failures += 1;
            println!("    {}", shell_words(&c.args));
            println!(
                "    wanted exit {} showing {:?}; got exit {code}:",
                c.exit, c.shows
            );
            for line in text.lines().take(20) {
                println!("      {line}");
            }
        }
    }
    failures
}

/// Port 0 means any free port: bind one, note it, release it for the gateway.
fn free_port(port: u16) -> Result<u16, String> {
    if port != 0 {
        return Ok(port);
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

/// The echo backend: answers with who the gateway says the caller is.
async fn start_echo_backend() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("echo backend: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(echo);
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

async fn echo(req: Request<Incoming>) -> Result<Response<String>, Infallible> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string()
    };
    let xfcc = header("x-forwarded-client-cert");
    let who = mtls_tower::layer::parse_xfcc(&xfcc)
        .ok()
        .and_then(|elements| elements.into_iter().next())
        .and_then(|e| e.uri.into_iter().find(|u| !u.is_empty()).or(e.subject))
        .unwrap_or_else(|| "anonymous".into());
    let body = format!(
        "hello from the echo backend\n\
         you are: {who}\n\
         path: {}\n\
         ssl-client-verify: {}\n\
         x-forwarded-client-cert: {xfcc}\n",
        req.uri().path(),
        header("ssl-client-verify"),
    );
    Ok(Response::new(body))
}
