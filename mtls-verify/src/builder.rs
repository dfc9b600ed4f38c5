//! [`PolicyVerifierBuilder`]: how a [`PolicyVerifier`] is set up.

use std::fmt;
use std::sync::Arc;

use mtls_policy::{ClientCertMode, ClientValidation, DenyCode, SecretRef, TlsAlert, VerifyError};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::CertificateDer;

use crate::answer::OnFailure;
use crate::outcomes::Outcomes;
use crate::trust::{FetchedCrls, LoadedTrustDomain, ResolveError, TrustError};
use crate::verifier::PolicyVerifier;

/// Default number of handshake outcomes kept for [`PolicyVerifier::outcome_for_chain`].
pub const DEFAULT_OUTCOME_CAPACITY: usize = 4096;

/// Why a [`PolicyVerifier`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifierError {
    /// Client certificates are requested but no trust domain can verify them (and
    /// accept-any is off): every client would be rejected.
    #[error(
        "client certificates are {mode} but no trust domain is configured: every client \
         certificate would be rejected"
    )]
    NoTrustDomain {
        /// The client-certificate mode.
        mode: ClientCertMode,
    },
    /// Two trust domains have the same name, so outcomes could not say which verified.
    #[error("trust domain name {0:?} is used twice")]
    DuplicateDomain(String),
}

pub(crate) type FailureRule = Arc<dyn Fn(&VerifyError) -> OnFailure + Send + Sync>;
pub(crate) type VerifiedCheck =
    Arc<dyn Fn(&CertificateDer<'_>, &str) -> Option<(DenyCode, TlsAlert)> + Send + Sync>;

/// Builds a [`PolicyVerifier`]; start with [`PolicyVerifier::builder`].
#[must_use = "a builder does nothing until .build()"]
pub struct PolicyVerifierBuilder {
    provider: Arc<CryptoProvider>,
    domains: Vec<Arc<LoadedTrustDomain>>,
    mode: ClientCertMode,
    accept_any: bool,
    allow_expired: bool,
    defer: Option<FailureRule>,
    check: Option<VerifiedCheck>,
    capacity: usize,
}

impl fmt::Debug for PolicyVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyVerifierBuilder")
            .field("domains", &self.domains.len())
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl PolicyVerifierBuilder {
    /// Adds a trust domain (tried after those added before).
    pub fn trust_domain(mut self, domain: impl Into<Arc<LoadedTrustDomain>>) -> Self {
        self.domains.push(domain.into());
        self
    }

    /// Adds trust domains in order.
    pub fn trust_domains(
        mut self,
        domains: impl IntoIterator<Item = impl Into<Arc<LoadedTrustDomain>>>,
    ) -> Self {
        self.domains.extend(domains.into_iter().map(Into::into));
        self
    }

    /// Required (default: client auth mandatory), Optional (requested, not mandatory) or None
    /// (not requested).
    ///
    /// ```
    /// # let provider = mtls_verify::crypto::default_provider();
    /// use mtls_policy::ClientCertMode;
    /// use rustls::server::danger::ClientCertVerifier;
    ///
    /// let v = mtls_verify::PolicyVerifier::builder(provider)
    ///     .mode(ClientCertMode::None)
    ///     .build()
    ///     .expect("no trust domain is needed when no certificate is requested");
    /// assert!(!v.offer_client_auth());
    /// ```
    pub fn mode(mut self, mode: ClientCertMode) -> Self {
        self.mode = mode;
        self
    }

    /// **Sharp tool.** Any client certificate completes the handshake (the CertificateVerify
    /// signature is still checked, so the client proves it holds the key); its verification
    /// outcome is still computed and reported, for the policy (osm-edge
    /// `skipClientCertValidation`, Gateway API `AllowInsecureFallback`). Client auth is then
    /// offered but not mandatory.
    ///
    /// ```
    /// # let provider = mtls_verify::crypto::default_provider();
    /// use rustls::server::danger::ClientCertVerifier;
    ///
    /// let v = mtls_verify::PolicyVerifier::builder(provider)
    ///     .danger_accept_any_certificate(true)
    ///     .build()
    ///     .expect("accept-any needs no trust domain");
    /// assert!(v.offer_client_auth() && !v.client_auth_mandatory());
    /// ```
    pub fn danger_accept_any_certificate(mut self, yes: bool) -> Self {
        self.accept_any = yes;
        self
    }

    /// **Sharp tool.** A chain whose only fault is the validity period of a certificate
    /// completes the handshake and is reported as `Failed { Expired | NotYetValid }` with its
    /// trust domain (so the policy can tolerate it with an audit note). Everything else
    /// (anchors, signatures, revocation, EKU, depth) is still enforced.
    pub fn danger_allow_expired(mut self, yes: bool) -> Self {
        self.allow_expired = yes;
        self
    }

    /// When true, every verification failure completes the handshake and is reported through
    /// [`PolicyVerifier::outcome_for_chain`] instead of ending it with a TLS alert (for policies that
    /// answer failures over HTTP, e.g. revoked → 400 with the reason).
    ///
    /// ```
    /// # let provider = mtls_verify::crypto::default_provider();
    /// let builder = mtls_verify::PolicyVerifier::builder(provider).defer_failures(true);
    /// ```
    pub fn defer_failures(mut self, yes: bool) -> Self {
        self.defer = yes.then(|| Arc::new(|_: &VerifyError| OnFailure::Defer) as FailureRule);
        self
    }

    /// Defers only the failures `defer` says yes to; the others end the handshake with their
    /// TLS alert.
    ///
    /// ```
    /// # let provider = mtls_verify::crypto::default_provider();
    /// use mtls_policy::VerifyError;
    ///
    /// let builder = mtls_verify::PolicyVerifier::builder(provider)
    ///     .defer_failures_if(|e| matches!(e, VerifyError::Revoked { .. }));
    /// ```
    pub fn defer_failures_if(
        mut self,
        defer: impl Fn(&VerifyError) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.defer = Some(Arc::new(move |e: &VerifyError| {
            if defer(e) {
                OnFailure::Defer
            } else {
                OnFailure::Reject
            }
        }));
        self
    }

    /// What each verification failure gets: rustls' own alert ([`OnFailure::Reject`]), a
    /// completed handshake ([`OnFailure::Defer`]), or the alert the policy configured
    /// ([`OnFailure::Alert`], sent through [`alert_error`](crate::alert_error); an alert it does
    /// not know falls back to rustls' own). Called on failures only.
    ///
    /// ```
    /// # let provider = mtls_verify::crypto::default_provider();
    /// use mtls_policy::{TlsAlert, VerifyError};
    /// use mtls_verify::OnFailure;
    ///
    /// // Revoked: `bad_certificate` (42) instead of rustls' `certificate_revoked` (44).
    /// let builder = mtls_verify::PolicyVerifier::builder(provider).on_failure(|e| match e {
    ///     VerifyError::Revoked { .. } => OnFailure::Alert(TlsAlert::BadCertificate),
    ///     _ => OnFailure::Reject,
    /// });
    /// ```
    pub fn on_failure(
        mut self,
        rule: impl Fn(&VerifyError) -> OnFailure + Send + Sync + 'static,
    ) -> Self {
        self.defer = Some(Arc::new(rule));
        self
    }

    /// Runs `check` on each chain a trust domain verified (or whose failure is tolerated or
    /// deferred), given the leaf and the domain's name: `Some((code, alert))` ends the
    /// handshake with `alert`, the refusal reported under `code` (pins and issuer scopes that
    /// the policy answers with an alert). It runs on every such handshake: set it only for
    /// hosts that have those rules.
    ///
    /// ```
    /// # let provider = mtls_verify::crypto::default_provider();
    /// use mtls_policy::{DenyCode, TlsAlert};
    ///
    /// let pinned: Vec<u8> = Vec::new(); // the DER of the one certificate let in
    /// let builder = mtls_verify::PolicyVerifier::builder(provider).check_verified(move |leaf, _domain| {
    ///     (leaf.as_ref() != pinned.as_slice())
    ///         .then_some((DenyCode::PinMismatch, TlsAlert::AccessDenied))
    /// });
    /// ```
    pub fn check_verified(
        mut self,
        check: impl Fn(&CertificateDer<'_>, &str) -> Option<(DenyCode, TlsAlert)>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.check = Some(Arc::new(check));
        self
    }

    /// How many handshake outcomes are kept for [`PolicyVerifier::outcome_for_chain`] (default
    /// [`DEFAULT_OUTCOME_CAPACITY`]); older ones are evicted, and re-verified on demand.
    pub fn outcome_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Builds the verifier.
    ///
    /// # Errors
    /// [`VerifierError::NoTrustDomain`] when certificates are requested, accept-any is off and
    /// there is no trust domain; [`VerifierError::DuplicateDomain`] for two domains of one
    /// name.
    pub fn build(self) -> Result<PolicyVerifier, VerifierError> {
        if self.domains.is_empty() && self.mode != ClientCertMode::None && !self.accept_any {
            return Err(VerifierError::NoTrustDomain { mode: self.mode });
        }
        let mut names = std::collections::HashSet::new();
        for d in &self.domains {
            if !names.insert(d.name()) {
                return Err(VerifierError::DuplicateDomain(d.name().to_owned()));
            }
        }
        let hints = crate::trust::root_hints(&self.domains);
        Ok(PolicyVerifier {
            domains: self.domains,
            provider: self.provider,
            mode: self.mode,
            accept_any: self.accept_any,
            allow_expired: self.allow_expired,
            defer: self.defer,
            check: self.check,
            hints,
            outcomes: Outcomes::new(self.capacity),
        })
    }
}

impl PolicyVerifier {
    /// Starts a verifier using `provider` for signatures (chains, CRLs, CertificateVerify).
    pub fn builder(provider: Arc<CryptoProvider>) -> PolicyVerifierBuilder {
        PolicyVerifierBuilder {
            provider,
            domains: Vec::new(),
            mode: ClientCertMode::Required,
            accept_any: false,
            allow_expired: false,
            defer: None,
            check: None,
            capacity: DEFAULT_OUTCOME_CAPACITY,
        }
    }

    /// A builder set up from a policy host's [`ClientValidation`]: its trust domains (loaded,
    /// secrets read through `resolve`), mode, and the danger settings. Pins and issuer-scoped
    /// identity rules are the policy's to apply after the handshake. Add
    /// [`defer_failures`](PolicyVerifierBuilder::defer_failures) as the policy's answers say.
    ///
    /// # Errors
    /// The first trust domain that fails to load.
    pub fn from_client_validation(
        validation: &ClientValidation,
        provider: Arc<CryptoProvider>,
        resolve: &dyn Fn(&SecretRef) -> Result<Vec<u8>, ResolveError>,
    ) -> Result<PolicyVerifierBuilder, TrustError> {
        Self::from_client_validation_fetched(validation, provider, resolve, &FetchedCrls::default())
    }

    /// As [`from_client_validation`](Self::from_client_validation), with the CRLs fetched
    /// from distribution points added to the trust domains that fetch them
    /// ([`LoadedTrustDomain::load_with_fetched`]).
    ///
    /// # Errors
    /// The first trust domain that fails to load.
    pub fn from_client_validation_fetched(
        validation: &ClientValidation,
        provider: Arc<CryptoProvider>,
        resolve: &dyn Fn(&SecretRef) -> Result<Vec<u8>, ResolveError>,
        fetched: &FetchedCrls,
    ) -> Result<PolicyVerifierBuilder, TrustError> {
        let domains = validation
            .trust
            .iter()
            .map(|d| LoadedTrustDomain::load_with_fetched(d, &provider, resolve, fetched))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::builder(provider)
            .trust_domains(domains)
            .mode(validation.mode)
            .danger_accept_any_certificate(validation.danger.skip_client_cert_validation)
            .danger_allow_expired(validation.danger.allow_expired))
    }
}
