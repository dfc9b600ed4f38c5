//! Shadow trust: a candidate client validation decided beside the active one and never
//! enforced.
//!
//! A host's `shadow_client_validation` (or its listener's, for hosts that validate client
//! certificates and name no candidate of their own) is a [`ClientValidation`] like any other:
//! trust domains with their CA bundles, CRLs and issuer scopes, pins, mode. The candidate is
//! decided by the same [`Policy::decide`], on a policy compiled from the same configuration
//! with each host's `client_validation` replaced by its candidate
//! ([`Policy::candidate`]). Promoting the candidate is a reload with it moved to
//! `client_validation`.
//!
//! ```
//! use mtls_policy::{Context, PeerVerification, Policy};
//!
//! let policy = Policy::from_yaml(r#"
//! listeners:
//!   - name: public
//!     port: 8443
//!     hosts:
//!       - client_validation:
//!           trust: [{ name: old, ca: [{ file: old-ca.pem }] }]
//!         shadow_client_validation:
//!           trust: [{ name: new, ca: [{ file: new-ca.pem }] }]
//! "#)?;
//! let candidate = policy.candidate().expect("a candidate is configured");
//! // The candidate's verifier does not know a client's issuer: the candidate denies it,
//! // whatever the active trust said.
//! let unknown = PeerVerification::failed(None, mtls_policy::VerifyError::UnknownIssuer);
//! assert!(!candidate.decide(&Context::new(8443, &unknown)).is_allow());
//! # Ok::<(), mtls_policy::ConfigError>(())
//! ```

use crate::config::{ClientValidation, ConfigError, HostConfig, ListenerConfig, PolicyConfig};
use crate::mode::ClientCertMode;
use crate::policy::Policy;

/// Where a host's candidate was written, to name it in errors.
enum Origin {
    Host,
    Listener,
}

/// The configuration the candidate is decided with, and where each host's candidate came
/// from; `None` when no candidate is configured.
fn candidate_config(config: &PolicyConfig) -> Option<(PolicyConfig, Vec<Vec<Option<Origin>>>)> {
    let any = config.listeners.iter().any(|l| {
        l.shadow_client_validation.is_some()
            || l.hosts.iter().any(|h| h.shadow_client_validation.is_some())
    });
    if !any {
        return None;
    }
    let mut candidate = config.clone();
    let mut origins = Vec::with_capacity(candidate.listeners.len());
    for (listener, written) in candidate.listeners.iter_mut().zip(&config.listeners) {
        let mut hosts = Vec::with_capacity(listener.hosts.len());
        for (host, h) in listener.hosts.iter_mut().zip(&written.hosts) {
            let origin = written.candidate_for(h).map(|validation| {
                host.client_validation = Some(validation.clone());
                match h.shadow_client_validation {
                    Some(_) => Origin::Host,
                    None => Origin::Listener,
                }
            });
            host.shadow_client_validation = None;
            hosts.push(origin);
        }
        listener.shadow_client_validation = None;
        origins.push(hosts);
    }
    Some((candidate, origins))
}

impl ListenerConfig {
    /// The candidate client validation of shadow trust for `host` (one of this listener's):
    /// the host's own `shadow_client_validation`, else the listener's when the host asks
    /// for client certificates; `None` when it has none.
    pub fn candidate_for<'a>(&'a self, host: &'a HostConfig) -> Option<&'a ClientValidation> {
        host.shadow_client_validation.as_ref().or_else(|| {
            self.shadow_client_validation
                .as_ref()
                .filter(|_| validates(host.client_validation.as_ref()))
        })
    }
}

/// Whether a host asks for client certificates.
fn validates(validation: Option<&ClientValidation>) -> bool {
    validation
        .is_some_and(|v| v.mode != ClientCertMode::None || v.danger.skip_client_cert_validation)
}

/// The candidate policy of `config`, compiled; errors name the `shadow_client_validation`
/// field the user wrote.
pub(crate) fn compile(config: &PolicyConfig) -> Result<Option<Policy>, ConfigError> {
    let Some((candidate, origins)) = candidate_config(config) else {
        return Ok(None);
    };
    Policy::new(candidate).map(Some).map_err(|e| {
        let path = rename(e.path(), &origins);
        ConfigError::new(e.kind(), path, e.message())
    })
}

/// `listeners[i].hosts[j].client_validation…` as written: the host's or the listener's
/// `shadow_client_validation`.
fn rename(path: &str, origins: &[Vec<Option<Origin>>]) -> String {
    let parsed = (|| {
        let rest = path.strip_prefix("listeners[")?;
        let (li, rest) = rest.split_once("].hosts[")?;
        let (hi, rest) = rest.split_once(']')?;
        let field = rest.strip_prefix(".client_validation")?;
        let (li, hi): (usize, usize) = (li.parse().ok()?, hi.parse().ok()?);
        Some((li, hi, field))
    })();
    match parsed {
        Some((li, hi, field)) => match origins.get(li).and_then(|h| h.get(hi)) {
            Some(Some(Origin::Host)) => {
                format!("listeners[{li}].hosts[{hi}].shadow_client_validation{field}")
            }
            Some(Some(Origin::Listener)) => {
                format!("listeners[{li}].shadow_client_validation{field}")
            }
            _ => path.to_owned(),
        },
        None => path.to_owned(),
    }
}

impl Policy {
    /// The candidate of shadow trust: this policy with each host's `client_validation`
    /// replaced by its `shadow_client_validation` (or its listener's), decided with the same
    /// [`decide`](Self::decide); `None` when no candidate is configured (then shadow
    /// evaluation costs nothing).
    pub fn candidate(&self) -> Option<&Self> {
        self.candidate.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_HOSTS: &str = r#"
listeners:
  - name: public
    port: 8443
    shadow_client_validation:
      trust: [{ name: next, ca: [{ file: next.pem }] }]
    hosts:
      - hostnames: [a.example]
        client_validation:
          trust: [{ name: old, ca: [{ file: old.pem }] }]
      - hostnames: [b.example]
      - client_validation:
          trust: [{ name: old, ca: [{ file: old.pem }] }]
        shadow_client_validation:
          trust: [{ name: own, ca: [{ file: own.pem }] }]
"#;

    #[test]
    fn no_candidate_no_second_policy() {
        let policy = Policy::from_yaml(
            "listeners: [{ name: a, port: 1, hosts: [{ client_validation: { trust: [{ name: x, ca: [{ file: x.pem }] }] } }] }]",
        )
        .unwrap();
        assert!(policy.candidate().is_none());
    }

    #[test]
    fn the_listeners_candidate_covers_hosts_that_validate_clients() {
        let config = PolicyConfig::from_yaml(TWO_HOSTS).unwrap();
        let (candidate, _) = candidate_config(&config).unwrap();
        let hosts = &candidate.listeners[0].hosts;
        let trust = |i: usize| {
            hosts[i]
                .client_validation
                .as_ref()
                .map(|v| v.trust[0].name.clone())
        };
        assert_eq!(trust(0).as_deref(), Some("next"));
        assert_eq!(trust(1), None, "a host without client validation stays so");
        assert_eq!(trust(2).as_deref(), Some("own"));
        assert!(candidate.listeners[0].shadow_client_validation.is_none());
        assert!(hosts.iter().all(|h| h.shadow_client_validation.is_none()));
        assert!(Policy::new(config).unwrap().candidate().is_some());
    }

    #[test]
    fn a_bad_candidate_is_refused_at_its_own_field() {
        let own = "trust: [{ name: own, ca: [{ file: own.pem }] }]";
        let bad = TWO_HOSTS.replace(own, "trust: [{ name: own, ca: [], nope: 1 }]");
        let e = Policy::from_yaml(&bad).unwrap_err();
        assert!(
            e.path()
                .starts_with("listeners[0].hosts[2].shadow_client_validation.trust[0]"),
            "{e}"
        );
        let bad = TWO_HOSTS.replace(
            own,
            "mode: none\n          trust: [{ name: own, ca: [{ file: x }] }]",
        );
        let e = Policy::from_yaml(&bad).unwrap_err();
        assert_eq!(
            e.path(),
            "listeners[0].hosts[2].shadow_client_validation",
            "{e}"
        );
    }

    #[test]
    fn errors_of_the_candidate_name_the_field_written() {
        let origins = vec![vec![Some(Origin::Host), Some(Origin::Listener), None]];
        let at = |path: &str| rename(path, &origins);
        assert_eq!(
            at("listeners[0].hosts[0].client_validation.trust[1].may_vouch_for"),
            "listeners[0].hosts[0].shadow_client_validation.trust[1].may_vouch_for"
        );
        assert_eq!(
            at("listeners[0].hosts[1].client_validation.trust[0]"),
            "listeners[0].shadow_client_validation.trust[0]"
        );
        assert_eq!(
            at("listeners[0].hosts[2].client_validation"),
            "listeners[0].hosts[2].client_validation"
        );
        assert_eq!(at("listeners[0].port"), "listeners[0].port");
    }
}
