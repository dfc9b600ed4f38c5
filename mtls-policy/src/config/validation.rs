//! How a host validates client certificates, and who may use a route.

use serde::{Deserialize, Serialize};

use crate::danger::DangerousClientValidation;
use crate::enforce::EnforceAt;
use crate::identity::{IdentityMatchSpec, IdentityRule, Pins};
use crate::mode::ClientCertMode;
use crate::trust::TrustDomain;

/// How a host validates client certificates.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ClientValidationRepr")]
#[non_exhaustive]
pub struct ClientValidation {
    /// Required (default), optional or none.
    pub mode: ClientCertMode,
    /// Isolated trust domains.
    pub trust: Vec<TrustDomain>,
    /// Certificate / SPKI pins.
    #[serde(skip_serializing_if = "Pins::is_empty")]
    pub pins: Pins,
    /// Sharp tools.
    #[serde(skip_serializing_if = "crate::config::is_default")]
    pub danger: DangerousClientValidation,
    /// Where the reasons of the client certificate are answered: in the handshake (default)
    /// or at each request.
    #[serde(skip_serializing_if = "crate::config::is_default")]
    pub enforce_at: EnforceAt,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientValidationRepr {
    #[serde(default)]
    mode: ClientCertMode,
    #[serde(default)]
    trust: Vec<TrustDomain>,
    #[serde(default)]
    pins: Pins,
    #[serde(default)]
    danger: DangerousClientValidation,
    #[serde(default)]
    enforce_at: EnforceAt,
}

impl ClientValidation {
    /// Requires a client certificate that one of `trust` verifies.
    pub fn required(trust: Vec<TrustDomain>) -> Self {
        Self {
            mode: ClientCertMode::Required,
            trust,
            ..Self::default()
        }
    }

    /// Asks for a client certificate that one of `trust` verifies; lets clients without one
    /// through (Istio `OPTIONAL_MUTUAL`).
    pub fn optional(trust: Vec<TrustDomain>) -> Self {
        Self {
            mode: ClientCertMode::Optional,
            trust,
            ..Self::default()
        }
    }

    /// Answers the reasons of the client certificate at `at` ([`EnforceAt::Request`]: the
    /// handshake accepts any certificate, each request is answered over HTTP).
    pub fn enforce_at(mut self, at: EnforceAt) -> Self {
        self.enforce_at = at;
        self
    }
}

impl TryFrom<ClientValidationRepr> for ClientValidation {
    type Error = String;
    fn try_from(r: ClientValidationRepr) -> Result<Self, String> {
        let skip = r.danger.skip_client_cert_validation;
        let conflict = |a: &str, b: &str| Err(format!("conflicting settings: {a} and {b}"));
        if r.mode == ClientCertMode::None && !r.trust.is_empty() {
            return conflict("`mode: none`", "`trust`");
        }
        if r.mode == ClientCertMode::None && skip {
            return conflict("`mode: none`", "`danger.skip_client_cert_validation`");
        }
        if r.mode != ClientCertMode::None && r.trust.is_empty() && !skip {
            return Err(format!(
                "`mode: {}` needs at least one `trust` domain",
                r.mode
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, t) in r.trust.iter().enumerate() {
            if !names.insert(t.name.as_str()) {
                return Err(format!("trust[{i}].name {:?} is used twice", t.name));
            }
            if t.ca.is_empty() {
                return Err(format!("trust[{i}].ca is empty"));
            }
            if t.max_chain_depth == Some(0) {
                return Err(format!("trust[{i}].max_chain_depth must be at least 1"));
            }
        }
        Ok(Self {
            mode: r.mode,
            trust: r.trust,
            pins: r.pins,
            danger: r.danger,
            enforce_at: r.enforce_at,
        })
    }
}

/// An allow-list of identities for a route.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Authorization {
    /// Exact principals (osm `AuthenticatedPrincipal`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    /// Rules by field.
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<IdentityRule>,
    /// Decide and report, but allow.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub audit: bool,
}

impl Authorization {
    /// Allows exactly these principals (SPIFFE IDs, URI or DNS SANs).
    pub fn principals<I, S>(principals: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            principals: principals.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// The identities this authorization allows.
    pub fn spec(&self) -> IdentityMatchSpec {
        IdentityMatchSpec {
            principals: self.principals.clone(),
            rules: self.rules.clone(),
        }
    }
}
