//! The gateway's YAML configuration: where to listen with which certificates, the policy
//! (an `mtls-policy` document), routes and backends. Validated at load with field paths.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mtls_policy::{Policy, PolicyConfig, TrustSource};
use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GatewayConfig {
    /// The admin listener (`/healthz`, `/readyz`, `/metrics`).
    #[serde(default)]
    pub(crate) admin: Option<AdminConfig>,
    /// Where each policy listener is served, and with which certificates.
    pub(crate) listeners: Vec<ListenerConfig>,
    /// Host + path → a backend, or a fixed answer (`respond`).
    #[serde(default)]
    pub(crate) routes: Vec<RouteConfig>,
    /// Upstreams by name.
    #[serde(default)]
    pub(crate) backends: BTreeMap<String, BackendConfig>,
    /// Which identity headers are sent upstream.
    #[serde(default)]
    pub(crate) forward_identity: ForwardConfig,
    /// Who gets in: an mtls-policy document (see mtls-policy/examples/policy.yaml).
    pub(crate) policy: PolicyConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminConfig {
    pub(crate) address: SocketAddr,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListenerConfig {
    /// The name of the policy listener this serves (`policy.listeners[].name`).
    pub(crate) name: String,
    /// The socket address; its port must be the policy listener's port.
    pub(crate) address: SocketAddr,
    /// One certificate per policy host, matched by the same `hostnames`.
    pub(crate) certificates: Vec<CertificateConfig>,
    /// How long a TLS handshake may take (default `10s`).
    #[serde(default, with = "duration_opt")]
    pub(crate) handshake_timeout: Option<Duration>,
    /// How long a connection may carry no request before it is closed: an HTTP/1 one waiting
    /// for a complete request head (idle between requests, or trickling a head), an HTTP/2 one
    /// without a request in flight (default `30s`; see
    /// `mtls_tower::Acceptor::with_request_header_timeout`).
    #[serde(default, with = "duration_opt")]
    pub(crate) request_header_timeout: Option<Duration>,
    /// Handshakes in flight before new connections are shed (default 1024).
    #[serde(default)]
    pub(crate) max_handshakes: Option<usize>,
    /// `default` (serve the default host) or `refuse` for an SNI no host has.
    #[serde(default)]
    pub(crate) unknown_sni: UnknownSniConfig,
    /// `tls12` (default) or `tls13`.
    #[serde(default)]
    pub(crate) min_tls_version: MinTlsConfig,
    /// When set (a grace period such as `5s`), a reload that revokes the certificate of a
    /// connected client also closes that client's open connections: gracefully (the request
    /// in flight finishes), then at the end of the grace period. Off by default: revocation
    /// then applies to new handshakes only.
    #[serde(default, with = "duration_opt")]
    pub(crate) close_revoked_connections: Option<Duration>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum UnknownSniConfig {
    #[default]
    Default,
    Refuse,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MinTlsConfig {
    #[default]
    Tls12,
    Tls13,
}

/// A server certificate: PEM files, or a mounted Kubernetes secret directory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CertificateConfig {
    /// The policy host's `hostnames` (empty for the default host).
    #[serde(default)]
    pub(crate) hostnames: Vec<String>,
    /// The chain file (leaf first).
    #[serde(default)]
    pub(crate) chain: Option<PathBuf>,
    /// The key file.
    #[serde(default)]
    pub(crate) key: Option<PathBuf>,
    /// A mounted secret (`tls.crt`/`tls.key` or `cert`/`key`).
    #[serde(default)]
    pub(crate) secret_dir: Option<PathBuf>,
}

/// A route: requests on `listener` for `host` whose path matches go to `backend`, or are
/// answered by the gateway itself with `respond` (exactly one of the two).
///
/// ```yaml
/// routes:
///   - { listener: public, path_prefix: /api, backend: api }
///   - listener: public
///     path_exact: /ping
///     respond: { status: 200, body: "ok\n", content_type: text/plain }
/// ```
///
/// Precedence: the host first (exact, then `*.parent`, then host-less routes), then an exact
/// path before the longest prefix; of two identical routes the first wins.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteConfig {
    /// The listener name.
    pub(crate) listener: String,
    /// An exact host or `*.parent`; any host when absent.
    #[serde(default)]
    pub(crate) host: Option<String>,
    /// Path prefix (on segment boundaries).
    #[serde(default)]
    pub(crate) path_prefix: Option<String>,
    /// Exact path.
    #[serde(default)]
    pub(crate) path_exact: Option<String>,
    /// The backend's name (`backends.<name>`). Or give `respond`.
    #[serde(default)]
    pub(crate) backend: Option<String>,
    /// A fixed answer instead of a backend (Envoy `direct_response`, nginx `return`). The
    /// client still goes through the TLS handshake and the policy first.
    #[serde(default)]
    pub(crate) respond: Option<RespondConfig>,
}

/// A route's fixed answer, built once at load and sent as is to every request the route gets
/// (`HEAD` gets the headers only). The access log names it `routes[<index>].respond`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RespondConfig {
    /// The status, 200 to 599 (default 200).
    #[serde(default = "ok_status")]
    pub(crate) status: u16,
    /// The body, sent verbatim (default empty; must be empty for 204 and 304).
    #[serde(default)]
    pub(crate) body: String,
    /// The `Content-Type` header. Default: `text/plain; charset=utf-8` when there is a body,
    /// none when there is not.
    #[serde(default)]
    pub(crate) content_type: Option<String>,
}

fn ok_status() -> u16 {
    200
}

impl RespondConfig {
    /// The status; validated at load (200 to 599).
    pub(crate) fn status_code(&self) -> Result<http::StatusCode, String> {
        match self.status {
            200..=599 => http::StatusCode::from_u16(self.status).map_err(|e| e.to_string()),
            other => Err(format!("{other} is not an HTTP status from 200 to 599")),
        }
    }

    /// The `Content-Type` value (the default when none is given); validated at load.
    pub(crate) fn content_type_value(&self) -> Result<Option<http::HeaderValue>, String> {
        match &self.content_type {
            Some(text) if text.trim().is_empty() => Err("must not be empty".into()),
            Some(text) => http::HeaderValue::from_str(text)
                .map(Some)
                .map_err(|_| format!("{text:?} is not a valid header value")),
            None if self.body.is_empty() => Ok(None),
            None => Ok(Some(http::HeaderValue::from_static(
                "text/plain; charset=utf-8",
            ))),
        }
    }

    /// Checks every field; the error names the field (under `respond.`).
    fn validate(&self) -> Result<(), (&'static str, String)> {
        let status = self.status_code().map_err(|e| ("status", e))?;
        if matches!(status.as_u16(), 204 | 304) && !self.body.is_empty() {
            return Err(("body", format!("a {} answer has no body", status.as_u16())));
        }
        self.content_type_value().map_err(|e| ("content_type", e))?;
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BackendConfig {
    /// `http://host:port[/base]` or `https://host:port[/base]`.
    pub(crate) url: String,
    /// For `https` URLs.
    #[serde(default)]
    pub(crate) tls: Option<BackendTlsConfig>,
    /// TCP connect timeout (default `5s`).
    #[serde(default, with = "duration_opt")]
    pub(crate) connect_timeout: Option<Duration>,
    /// Time to the response head (default `30s`).
    #[serde(default, with = "duration_opt")]
    pub(crate) request_timeout: Option<Duration>,
    /// Speak HTTP/2 to the upstream: with prior knowledge (h2c) on `http`, by ALPN (`h2` only)
    /// on `https`. Default: HTTP/1.1 (ALPN `http/1.1` on `https`), as Envoy and nginx.
    #[serde(default)]
    pub(crate) http2_only: bool,
    /// Send the URL's authority as `Host` instead of the client's (nginx `proxy_set_header
    /// Host $proxy_host`): for upstreams that route or check by their own name.
    #[serde(default)]
    pub(crate) rewrite_host: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BackendTlsConfig {
    /// CA bundle file for the upstream's certificate.
    pub(crate) ca: PathBuf,
    /// The name the upstream certificate must carry (also the SNI).
    #[serde(default)]
    pub(crate) expected_name: Option<String>,
    /// Our client certificate for upstream mTLS.
    #[serde(default)]
    pub(crate) client_certificate: Option<ClientCertificateConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientCertificateConfig {
    pub(crate) chain: PathBuf,
    pub(crate) key: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForwardConfig {
    /// Envoy `x-forwarded-client-cert` (SANITIZE_SET).
    #[serde(default = "xfcc_default")]
    pub(crate) xfcc: Option<XfccConfig>,
    /// RFC 9440 `Client-Cert` / `Client-Cert-Chain`.
    #[serde(default)]
    pub(crate) rfc9440: bool,
    /// nginx-style `ssl-client-verify` and DN headers.
    #[serde(default)]
    pub(crate) ssl_client: bool,
}

impl Default for ForwardConfig {
    fn default() -> Self {
        Self {
            xfcc: xfcc_default(),
            rfc9440: false,
            ssl_client: false,
        }
    }
}

fn xfcc_default() -> Option<XfccConfig> {
    Some(XfccConfig::default())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct XfccConfig {
    #[serde(default)]
    pub(crate) by: Option<String>,
    #[serde(default = "yes")]
    pub(crate) hash: bool,
    #[serde(default = "yes")]
    pub(crate) subject: bool,
    #[serde(default = "yes")]
    pub(crate) uri: bool,
    #[serde(default = "yes")]
    pub(crate) dns: bool,
    #[serde(default)]
    pub(crate) cert: bool,
    #[serde(default)]
    pub(crate) chain: bool,
}

impl Default for XfccConfig {
    fn default() -> Self {
        Self {
            by: None,
            hash: true,
            subject: true,
            uri: true,
            dns: true,
            cert: false,
            chain: false,
        }
    }
}

fn yes() -> bool {
    true
}

/// A configuration error: the file, the field path, line/column when known, and what.
#[derive(Debug)]
pub(crate) struct ConfigError {
    file: PathBuf,
    path: String,
    position: Option<(usize, usize)>,
    message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A loaded, validated configuration.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) config: GatewayConfig,
    pub(crate) policy: Policy,
}

impl GatewayConfig {
    /// Reads, parses and validates `file`; relative paths in it are taken relative to the
    /// file's directory.
    pub(crate) fn load(file: &Path) -> Result<Loaded, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|e| ConfigError {
            file: file.to_path_buf(),
            path: String::new(),
            position: None,
            message: format!("cannot read: {e}"),
        })?;
        let base = file.parent().unwrap_or(Path::new("."));
        Self::parse(&text, file, base)
    }

    /// Parses and validates `text` (named `file` in errors); relative paths resolve against
    /// `base`.
    pub(crate) fn parse(text: &str, file: &Path, base: &Path) -> Result<Loaded, ConfigError> {
        let err = |path: String, position, message: String| ConfigError {
            file: file.to_path_buf(),
            path,
            position,
            message,
        };
        let deserializer = serde_norway::Deserializer::from_str(text);
        let mut config: Self = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let position = inner.location().map(|l| (l.line(), l.column()));
            let path = if path == "." { String::new() } else { path };
            err(path, position, strip_position(&inner.to_string()))
        })?;
        config.resolve_paths(base);
        let policy = Policy::new(config.policy.clone()).map_err(|e| {
            let path = if e.path().is_empty() {
                "policy".to_string()
            } else {
                format!("policy.{}", e.path())
            };
            let position = e.line().map(|l| (l, e.column().unwrap_or(0)));
            err(path, position, e.message().to_string())
        })?;
        config
            .validate()
            .map_err(|(path, message)| err(path, None, message))?;
        Ok(Loaded { config, policy })
    }

    fn resolve_paths(&mut self, base: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for listener in &mut self.listeners {
            for cert in &mut listener.certificates {
                for p in [&mut cert.chain, &mut cert.key, &mut cert.secret_dir]
                    .into_iter()
                    .flatten()
                {
                    join(p);
                }
            }
        }
        for backend in self.backends.values_mut() {
            if let Some(tls) = &mut backend.tls {
                join(&mut tls.ca);
                if let Some(c) = &mut tls.client_certificate {
                    join(&mut c.chain);
                    join(&mut c.key);
                }
            }
        }
        for listener in &mut self.policy.listeners {
            for host in &mut listener.hosts {
                let Some(validation) = &mut host.client_validation else {
                    continue;
                };
                for domain in &mut validation.trust {
                    let crls = domain.crl.iter_mut().flat_map(|c| c.sources.iter_mut());
                    for source in domain.ca.iter_mut().chain(crls) {
                        if let TrustSource::File(p) = source {
                            join(p);
                        }
                    }
                }
            }
        }
    }

    /// The directories holding the files this configuration names (certificates, keys, CAs,
    /// CRLs, secret directories): the ones to watch for changes.
    pub(crate) fn watched_dirs(&self) -> Vec<PathBuf> {
        let (files, mut dirs) = self.watched_files();
        dirs.extend(
            files
                .into_iter()
                .filter_map(|f| f.parent().map(Path::to_path_buf)),
        );
        dirs.sort();
        dirs.dedup();
        dirs
    }

    /// The files this configuration names (certificates, keys, CAs, CRLs) and the secret
    /// directories it reads whole.
    pub(crate) fn watched_files(&self) -> (Vec<&Path>, Vec<PathBuf>) {
        let mut files: Vec<&Path> = Vec::new();
        let mut dirs: Vec<PathBuf> = Vec::new();
        for listener in &self.listeners {
            for cert in &listener.certificates {
                files.extend(cert.chain.as_deref());
                files.extend(cert.key.as_deref());
                dirs.extend(cert.secret_dir.clone());
            }
        }
        for backend in self.backends.values() {
            if let Some(tls) = &backend.tls {
                files.push(&tls.ca);
                if let Some(c) = &tls.client_certificate {
                    files.push(&c.chain);
                    files.push(&c.key);
                }
            }
        }
        for listener in &self.policy.listeners {
            for host in &listener.hosts {
                for domain in host.client_validation.iter().flat_map(|v| &v.trust) {
                    let crls = domain.crl.iter().flat_map(|c| &c.sources);
                    for source in domain.ca.iter().chain(crls) {
                        if let TrustSource::File(p) = source {
                            files.push(p);
                        }
                    }
                }
            }
        }
        (files, dirs)
    }

    /// Cross-references: listeners ↔ policy listeners, certificates ↔ policy hosts, routes ↔
    /// listeners and backends.
    fn validate(&self) -> Result<(), (String, String)> {
        let mut names = BTreeSet::new();
        for (i, listener) in self.listeners.iter().enumerate() {
            let at = |field: &str| format!("listeners[{i}].{field}");
            if !names.insert(listener.name.as_str()) {
                return Err((
                    at("name"),
                    format!("listener {:?} is configured twice", listener.name),
                ));
            }
            let Some(policy) = self
                .policy
                .listeners
                .iter()
                .find(|l| l.name == listener.name)
            else {
                return Err((
                    at("name"),
                    format!(
                        "no policy listener named {:?} (policy.listeners[].name)",
                        listener.name
                    ),
                ));
            };
            if listener.address.port() != policy.port {
                return Err((
                    at("address"),
                    format!(
                        "port {} differs from the policy listener's port {}",
                        listener.address.port(),
                        policy.port
                    ),
                ));
            }
            for (field, timeout) in [
                ("handshake_timeout", listener.handshake_timeout),
                ("request_header_timeout", listener.request_header_timeout),
            ] {
                if timeout == Some(Duration::ZERO) {
                    return Err((
                        at(field),
                        "must be longer than 0 (it would close every connection)".into(),
                    ));
                }
            }
            if listener.certificates.is_empty() {
                return Err((
                    at("certificates"),
                    "at least one certificate is needed".into(),
                ));
            }
            for (j, cert) in listener.certificates.iter().enumerate() {
                let at = |field: &str| format!("listeners[{i}].certificates[{j}].{field}");
                match (&cert.chain, &cert.key, &cert.secret_dir) {
                    (Some(_), Some(_), None) | (None, None, Some(_)) => {}
                    (_, _, Some(_)) => {
                        return Err((
                            at("secret_dir"),
                            "conflicting settings: `secret_dir` and `chain`/`key`".into(),
                        ));
                    }
                    (None, _, None) => {
                        return Err((at("chain"), "missing (or give `secret_dir`)".into()));
                    }
                    (_, None, None) => {
                        return Err((at("key"), "missing (or give `secret_dir`)".into()));
                    }
                }
            }
            for (h, host) in policy.hosts.iter().enumerate() {
                let wanted = normalized(&host.hostnames);
                if !listener
                    .certificates
                    .iter()
                    .any(|c| normalized(&c.hostnames) == wanted)
                {
                    return Err((
                        at("certificates"),
                        format!(
                            "no certificate for policy host {h} (hostnames {:?}); add one with the same hostnames",
                            host.hostnames
                        ),
                    ));
                }
            }
            for (j, cert) in listener.certificates.iter().enumerate() {
                let names = normalized(&cert.hostnames);
                if !policy
                    .hosts
                    .iter()
                    .any(|h| normalized(&h.hostnames) == names)
                {
                    return Err((
                        format!("listeners[{i}].certificates[{j}].hostnames"),
                        format!("no policy host has hostnames {:?}", cert.hostnames),
                    ));
                }
            }
        }
        for (i, route) in self.routes.iter().enumerate() {
            let at = |field: &str| format!("routes[{i}].{field}");
            if !names.contains(route.listener.as_str()) {
                return Err((
                    at("listener"),
                    format!("no listener named {:?}", route.listener),
                ));
            }
            match (&route.backend, &route.respond) {
                (Some(_), Some(_)) => {
                    return Err((
                        at("respond"),
                        "conflicting settings: `backend` and `respond`".into(),
                    ));
                }
                (None, None) => {
                    return Err((at("backend"), "missing (or give `respond`)".into()));
                }
                (Some(backend), None) if !self.backends.contains_key(backend) => {
                    return Err((at("backend"), format!("no backend named {backend:?}")));
                }
                (Some(_), None) => {}
                (None, Some(respond)) => respond
                    .validate()
                    .map_err(|(field, message)| (at(&format!("respond.{field}")), message))?,
            }
            match (&route.path_prefix, &route.path_exact) {
                (Some(_), Some(_)) => {
                    return Err((
                        at("path_exact"),
                        "conflicting settings: `path_prefix` and `path_exact`".into(),
                    ));
                }
                (Some(p), None) | (None, Some(p)) if !p.starts_with('/') => {
                    return Err((at("path_prefix"), format!("{p:?} must start with `/`")));
                }
                _ => {}
            }
        }
        for (name, backend) in &self.backends {
            let at = |field: &str| format!("backends.{name}.{field}");
            let uri: http::Uri = backend
                .url
                .parse()
                .map_err(|e| (at("url"), format!("not a URL: {e}")))?;
            match uri.scheme_str() {
                Some("http") => {}
                Some("https") if backend.tls.is_some() => {}
                Some("https") => {
                    return Err((
                        at("tls"),
                        "an https backend needs `tls` (at least `ca`)".into(),
                    ));
                }
                _ => return Err((at("url"), "the scheme must be http or https".into())),
            }
            if uri.host().is_none() {
                return Err((at("url"), "no host".into()));
            }
        }
        Ok(())
    }
}

fn normalized(names: &[String]) -> BTreeSet<String> {
    names
        .iter()
        .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
        .collect()
}

/// serde_norway prefixes its own path (`listeners[0]: `) and appends " at line L column C";
/// we print both ourselves.
fn strip_position(message: &str) -> String {
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    let looks_like_path = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "[]._-".contains(c))
    };
    match message.split_once(": ") {
        Some((path, rest)) if looks_like_path(path) => rest.to_string(),
        _ => message.to_string(),
    }
}

/// Parses `250ms`, `5s`, `2m`, `1h`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 250ms, 5s, 2m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("{text:?} has no unit: use ms, s, m or h")),
    }
}

mod duration_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| super::parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
policy:
  listeners:
    - name: public
      port: 8443
      hosts:
        - hostnames: [a.example.com]
"#;

    fn parse(text: &str) -> Result<Loaded, String> {
        GatewayConfig::parse(text, Path::new("gw.yaml"), Path::new("/etc/mtls"))
            .map_err(|e| e.to_string())
    }

    fn listener(extra: &str) -> String {
        format!(
            "listeners:\n  - name: public\n    address: 127.0.0.1:8443\n    certificates:\n      - {{ hostnames: [a.example.com], chain: a.pem, key: a.key }}\n{extra}{POLICY}"
        )
    }

    #[test]
    fn a_valid_config_resolves_relative_paths() {
        let loaded = parse(&listener("")).unwrap();
        let cert = &loaded.config.listeners[0].certificates[0];
        assert_eq!(cert.chain.as_deref(), Some(Path::new("/etc/mtls/a.pem")));
        assert_eq!(
            loaded.config.watched_dirs(),
            vec![PathBuf::from("/etc/mtls")]
        );
    }

    #[test]
    fn listener_timeouts_are_read_and_optional() {
        let loaded = parse(&listener("")).unwrap();
        assert_eq!(loaded.config.listeners[0].request_header_timeout, None);
        let loaded = parse(&listener(
            "    handshake_timeout: 5s\n    request_header_timeout: 250ms\n",
        ))
        .unwrap();
        let l = &loaded.config.listeners[0];
        assert_eq!(l.handshake_timeout, Some(Duration::from_secs(5)));
        assert_eq!(l.request_header_timeout, Some(Duration::from_millis(250)));
    }

    #[test]
    fn errors_name_the_field_path_and_position() {
        let cases: Vec<(String, &str)> = vec![
            (
                listener("    bogus: 1\n"),
                "gw.yaml:6:5: listeners[0].bogus: unknown field `bogus`, expected one of `name`, `address`, `certificates`, `handshake_timeout`, `request_header_timeout`, `max_handshakes`, `unknown_sni`, `min_tls_version`, `close_revoked_connections`",
            ),
            (
                listener("    handshake_timeout: soon\n"),
                "gw.yaml:2:5: listeners[0].handshake_timeout: \"soon\" is not a duration like 250ms, 5s, 2m",
            ),
            (
                listener("    request_header_timeout: 30 seconds\n"),
                "gw.yaml:2:5: listeners[0].request_header_timeout: \"30 seconds\" has no unit: use ms, s, m or h",
            ),
            (
                listener("    handshake_timeout: 0ms\n"),
                "gw.yaml: listeners[0].handshake_timeout: must be longer than 0 (it would close every connection)",
            ),
            (
                listener("    request_header_timeout: 0s\n"),
                "gw.yaml: listeners[0].request_header_timeout: must be longer than 0 (it would close every connection)",
            ),
            (
                listener("").replace("address: 127.0.0.1:8443", "address: 127.0.0.1:9443"),
                "gw.yaml: listeners[0].address: port 9443 differs from the policy listener's port 8443",
            ),
            (
                listener("").replace("name: public\n    address", "name: other\n    address"),
                "gw.yaml: listeners[0].name: no policy listener named \"other\" (policy.listeners[].name)",
            ),
            (
                listener("").replace(
                    "hostnames: [a.example.com], chain",
                    "hostnames: [b.example.com], chain",
                ),
                "gw.yaml: listeners[0].certificates: no certificate for policy host 0 (hostnames [\"a.example.com\"]); add one with the same hostnames",
            ),
            (
                listener("").replace(", key: a.key", ""),
                "gw.yaml: listeners[0].certificates[0].key: missing (or give `secret_dir`)",
            ),
            (
                format!(
                    "{}routes:\n  - {{ listener: public, backend: nope }}\n",
                    listener("")
                ),
                "gw.yaml: routes[0].backend: no backend named \"nope\"",
            ),
            (
                format!(
                    "{}backends:\n  up: {{ url: \"https://up:443\" }}\n",
                    listener("")
                ),
                "gw.yaml: backends.up.tls: an https backend needs `tls` (at least `ca`)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(&text).unwrap_err(), want, "{text}");
        }
    }

    /// `listener("")` with `routes:` (one per line, inline maps) and an `app` backend.
    fn with_routes(routes: &[&str]) -> String {
        let mut text = listener("");
        text.push_str("routes:\n");
        for route in routes {
            text.push_str(&format!("  - {route}\n"));
        }
        text.push_str("backends:\n  app: { url: \"http://127.0.0.1:3000\" }\n");
        text
    }

    #[test]
    fn respond_routes_parse_with_defaults() {
        let loaded = parse(&with_routes(&[
            "{ listener: public, path_exact: /ping, respond: { status: 200, body: \"ok\\n\", content_type: text/plain } }",
            "{ listener: public, path_prefix: /empty, respond: {} }",
            "{ listener: public, path_prefix: /text, respond: { status: 503, body: down } }",
            "{ listener: public, backend: app }",
        ]))
        .unwrap();
        let routes = &loaded.config.routes;
        let ping = routes[0].respond.as_ref().unwrap();
        assert_eq!((ping.status, ping.body.as_str()), (200, "ok\n"));
        assert_eq!(
            ping.content_type_value().unwrap(),
            Some(http::HeaderValue::from_static("text/plain"))
        );
        assert_eq!(routes[0].backend, None);
        let empty = routes[1].respond.as_ref().unwrap();
        assert_eq!((empty.status, empty.body.as_str()), (200, ""));
        assert_eq!(empty.content_type_value().unwrap(), None);
        let text = routes[2].respond.as_ref().unwrap();
        assert_eq!(
            text.status_code().unwrap(),
            http::StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            text.content_type_value().unwrap(),
            Some(http::HeaderValue::from_static("text/plain; charset=utf-8"))
        );
        assert_eq!(routes[3].backend.as_deref(), Some("app"));
        assert!(routes[3].respond.is_none());
    }

    #[test]
    fn respond_route_errors_name_the_field_path() {
        let cases: &[(&[&str], &str)] = &[
            (
                &[
                    "{ listener: public, backend: app }",
                    "{ listener: public, path_prefix: /x, backend: app, respond: { body: ok } }",
                ],
                "gw.yaml: routes[1].respond: conflicting settings: `backend` and `respond`",
            ),
            (
                &["{ listener: public, path_prefix: /x }"],
                "gw.yaml: routes[0].backend: missing (or give `respond`)",
            ),
            (
                &["{ listener: public, respond: { status: 700 } }"],
                "gw.yaml: routes[0].respond.status: 700 is not an HTTP status from 200 to 599",
            ),
            (
                &["{ listener: public, respond: { status: 101 } }"],
                "gw.yaml: routes[0].respond.status: 101 is not an HTTP status from 200 to 599",
            ),
            (
                &["{ listener: public, respond: { status: 70000 } }"],
                "gw.yaml:14:44: routes[0].respond.status: invalid value: integer `70000`, expected u16",
            ),
            (
                &["{ listener: public, respond: { status: ok } }"],
                "gw.yaml:14:44: routes[0].respond.status: invalid type: string \"ok\", expected u16",
            ),
            (
                &["{ listener: public, respond: { status: 204, body: x } }"],
                "gw.yaml: routes[0].respond.body: a 204 answer has no body",
            ),
            (
                &["{ listener: public, respond: { content_type: \"text/plain\\n\" } }"],
                "gw.yaml: routes[0].respond.content_type: \"text/plain\\n\" is not a valid header value",
            ),
            (
                &["{ listener: public, respond: { content_type: \" \" } }"],
                "gw.yaml: routes[0].respond.content_type: must not be empty",
            ),
            (
                &["{ listener: public, respond: { code: 200 } }"],
                "gw.yaml:14:36: routes[0].respond.code: unknown field `code`, expected one of `status`, `body`, `content_type`",
            ),
            (
                &["{ listener: public, backend: nope }"],
                "gw.yaml: routes[0].backend: no backend named \"nope\"",
            ),
        ];
        for (routes, want) in cases {
            let text = with_routes(routes);
            assert_eq!(parse(&text).unwrap_err(), *want, "{text}");
        }
    }

    #[test]
    fn policy_errors_are_prefixed_with_policy() {
        let text = listener("").replace(
            "hostnames: [a.example.com]\n",
            "hostnames: [a.example.com]\n          client_validation: { mode: required }\n",
        );
        let err = parse(&text).unwrap_err();
        assert!(err.starts_with("gw.yaml:"), "{err}");
        assert!(
            err.contains("policy.listeners[0].hosts[0].client_validation"),
            "{err}"
        );
        assert!(err.contains("needs at least one `trust` domain"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("5").unwrap_err().contains("no unit"));
        assert!(parse_duration("").is_err());
    }
}
