//! Reading a configuration from YAML or JSON (and writing it back), and its errors: the field
//! path, the line and column when the source has them, and what is wrong.

use std::fmt;

use crate::config::PolicyConfig;

/// What kind of problem a [`ConfigError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// Not YAML / JSON, or not of the schema's shape (unknown key, wrong type).
    Syntax,
    /// A value is invalid (bad regex, bad pin, missing trust).
    Invalid,
    /// Two settings contradict each other; the message names both.
    Conflict,
}

/// A configuration error: where (field path, line, column) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    kind: ConfigErrorKind,
    path: String,
    line: Option<usize>,
    column: Option<usize>,
    message: String,
}

impl ConfigError {
    pub(crate) fn new(
        kind: ConfigErrorKind,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            path: path.into(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    fn from_message(path: String, message: String, pos: Option<(usize, usize)>) -> Self {
        let kind = if message.starts_with("conflicting settings") {
            ConfigErrorKind::Conflict
        } else if message.starts_with("unknown field")
            || message.starts_with("missing field")
            || message.starts_with("invalid type")
            || message.starts_with("unknown variant")
            || message.starts_with("unknown deny code")
            || message.contains("while parsing")
        {
            ConfigErrorKind::Syntax
        } else {
            ConfigErrorKind::Invalid
        };
        let (line, column) = pos.unzip();
        Self {
            kind,
            path,
            line,
            column,
            message,
        }
    }

    /// The kind.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }
    /// The field path (`listeners[1].hosts[0].client_validation`), `.` for the root.
    pub fn path(&self) -> &str {
        &self.path
    }
    /// The 1-based line, when known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }
    /// The 1-based column, when known.
    pub fn column(&self) -> Option<usize> {
        self.column
    }
    /// What is wrong, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path != "." {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, " at line {l} column {c}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Strips the location (" at line L column C") and the path prefix ("a.b: ") that the YAML
/// crate adds to its messages, to keep only the cause.
fn bare_message(text: &str, yaml_path: Option<&str>, pos: Option<(usize, usize)>) -> String {
    // The location may end the message, or stand before a clause (", while parsing ...").
    let located;
    let mut t = text;
    if let Some((l, c)) = pos {
        let at = format!(" at line {l} column {c}");
        t = match t.strip_suffix(&at) {
            Some(rest) => rest,
            None => {
                located = t.replacen(&at, "", 1);
                &located
            }
        };
    }
    if let Some(p) = yaml_path {
        // The YAML crate's own path may stop short of ours (ours names an unknown key).
        let cuts = p
            .char_indices()
            .filter(|(_, c)| matches!(c, '.' | '['))
            .map(|(i, _)| i);
        for end in std::iter::once(p.len()).chain(cuts.collect::<Vec<_>>().into_iter().rev()) {
            if let Some(rest) = t.strip_prefix(&p[..end]).and_then(|r| r.strip_prefix(": ")) {
                t = rest;
                break;
            }
        }
    }
    t.to_owned()
}

impl PolicyConfig {
    /// Parses YAML.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let de = serde_norway::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let pos = inner.location().map(|l| (l.line(), l.column()));
            let msg = bare_message(&inner.to_string(), Some(&path), pos);
            ConfigError::from_message(path, msg, pos)
        })
    }

    /// Writes the configuration as YAML that [`from_yaml`](Self::from_yaml) reads back as the
    /// same configuration (pins included). Fails only if a value has no YAML form.
    ///
    /// ```
    /// use mtls_policy::{BackendConfig, HostConfig, ListenerConfig, PolicyConfig, RouteConfig};
    ///
    /// let host = HostConfig::new(["api.example.com"]).route(RouteConfig::prefix("/").backend("api"));
    /// let config = PolicyConfig::new()
    ///     .listener(ListenerConfig::on_port("public", 8443).host(host))
    ///     .backend("api", BackendConfig::new("http://127.0.0.1:3000"));
    /// let yaml = config.to_yaml()?;
    /// assert_eq!(PolicyConfig::from_yaml(&yaml)?, config);
    /// # Ok::<(), mtls_policy::ConfigError>(())
    /// ```
    pub fn to_yaml(&self) -> Result<String, ConfigError> {
        serde_norway::to_string(self)
            .map_err(|e| ConfigError::new(ConfigErrorKind::Invalid, ".", e.to_string()))
    }

    /// Parses JSON.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let pos = (inner.line() > 0).then(|| (inner.line(), inner.column()));
            let msg = bare_message(&inner.to_string(), None, pos);
            ConfigError::from_message(path, msg, pos)
        })
    }
}
