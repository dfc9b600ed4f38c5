//! The gateway's configuration file: mtls-policy's model in YAML ([`PolicyConfig`]: the
//! listeners with their hosts, certificates, client validation and routes, the backends, the
//! admin address), read once. Relative paths are resolved against the file's directory at load;
//! on top of the model's own checks the gateway needs a certificate for each host and an action
//! (`backend` or `respond`) for each route.

use std::fmt;
use std::path::{Path, PathBuf};

use mtls_policy::{Policy, PolicyConfig};

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

impl ConfigError {
    fn at(
        file: &Path,
        path: impl Into<String>,
        position: Option<(usize, usize)>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_path_buf(),
            path: path.into(),
            position,
            message: message.into(),
        }
    }
}

/// Reads, parses and validates `file`; relative paths in it are taken relative to the file's
/// directory (made absolute, so they mean the same whatever the working directory).
pub(crate) fn load(file: &Path) -> Result<Policy, ConfigError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| ConfigError::at(file, "", None, format!("cannot read: {e}")))?;
    let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let base = absolute.parent().unwrap_or(Path::new("/"));
    parse(&text, file, base)
}

/// Parses and validates `text` (named `file` in errors); relative paths resolve against
/// `base`.
pub(crate) fn parse(text: &str, file: &Path, base: &Path) -> Result<Policy, ConfigError> {
    let from_policy = |e: mtls_policy::ConfigError| {
        let path = if e.path() == "." { "" } else { e.path() };
        let position = e.line().map(|l| (l, e.column().unwrap_or(0)));
        ConfigError::at(file, path, position, e.message())
    };
    let mut config = PolicyConfig::from_yaml(text).map_err(from_policy)?;
    config.resolve_paths(base);
    gateway_checks(&config)
        .map_err(|(path, message)| ConfigError::at(file, path, None, message))?;
    Policy::new(config).map_err(from_policy)
}

/// What the gateway needs that a library using the model may supply otherwise: a
/// certificate for every host (a library may give certificates in code) and an action for
/// every route (a library's application serves the request itself).
fn gateway_checks(config: &PolicyConfig) -> Result<(), (String, String)> {
    if config.listeners.is_empty() {
        return Err(("listeners".into(), "at least one listener is needed".into()));
    }
    for (li, listener) in config.listeners.iter().enumerate() {
        if listener.hosts.is_empty() {
            return Err((
                format!("listeners[{li}].hosts"),
                "at least one host is needed".into(),
            ));
        }
        for (hi, host) in listener.hosts.iter().enumerate() {
            let at = format!("listeners[{li}].hosts[{hi}]");
            if host.certificate.is_none() {
                return Err((
                    format!("{at}.certificate"),
                    "missing: the gateway serves each host with its certificate (`chain` and `key`, or `secret_dir`)".into(),
                ));
            }
            for (ri, route) in host.routes.iter().enumerate() {
                if route.backend.is_none() && route.respond.is_none() {
                    return Err((
                        format!("{at}.routes[{ri}]"),
                        "no `backend` or `respond`: the gateway forwards each route to a backend or answers it".into(),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
