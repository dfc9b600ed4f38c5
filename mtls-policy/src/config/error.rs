//! A configuration's errors, and reading it from YAML or JSON (and writing it back): the field
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

    /// The kind of a message a deserializer (or our own `Deserialize`) wrote.
    pub(crate) fn kind_of_message(message: &str) -> ConfigErrorKind {
        if message.starts_with("conflicting settings") {
            ConfigErrorKind::Conflict
        } else if message.starts_with("unknown field")
            || message.starts_with("missing field")
            || message.starts_with("invalid type")
            || message.starts_with("unknown variant")
            || message.starts_with("unknown deny code")
        {
            ConfigErrorKind::Syntax
        } else {
            ConfigErrorKind::Invalid
        }
    }

    pub(crate) fn located(
        kind: ConfigErrorKind,
        path: String,
        message: String,
        position: Option<(usize, usize)>,
    ) -> Self {
        let (line, column) = position.unzip();
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

/// Strips the location (" at line L column C") that serde_json adds to its messages, to keep
/// only the cause.
fn bare_message(text: &str, pos: Option<(usize, usize)>) -> String {
    match pos {
        Some((l, c)) => {
            let at = format!(" at line {l} column {c}");
            match text.strip_suffix(&at) {
                Some(rest) => rest.to_owned(),
                None => text.replacen(&at, "", 1),
            }
        }
        None => text.to_owned(),
    }
}

impl PolicyConfig {
    /// Parses YAML (read as [`crate::yaml`] says).
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        crate::yaml::from_str(text)
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
        crate::yaml::to_string(self)
    }

    /// Parses JSON.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let pos = (inner.line() > 0).then(|| (inner.line(), inner.column()));
            let msg = bare_message(&inner.to_string(), pos);
            ConfigError::located(ConfigError::kind_of_message(&msg), path, msg, pos)
        })
    }
}
