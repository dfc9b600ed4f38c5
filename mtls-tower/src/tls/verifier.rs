//! [`PolicyVerifier`]: the rustls client-certificate verifier of a host.

use std::fmt;
use std::sync::Arc;

use mtls_policy::{ClientCertMode, ClientValidation, PeerVerification, SecretRef, VerifyError};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::tls::chain::{self, Failure, Pass, Usage};
use crate::tls::outcomes::Outcomes;
use crate::tls::server::ReportingVerifier;
use crate::tls::trust::{LoadedTrustDomain, ResolveError, TrustError};

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

type DeferPredicate = Arc<dyn Fn(&VerifyError) -> bool + Send + Sync>;

/// A rustls [`ClientCertVerifier`] enforcing one host's client validation: isolated trust
/// domains (each its own anchors, CRLs and options), Required / Optional / None, accept-any and
/// allow-expired (sharp tools), max chain depth, and deferred failures.
///
/// Chains are verified with rustls-webpki against each trust domain in order; the first domain
/// whose anchors build a path wins, and a chain is accepted by a domain only through that
/// domain's anchors and CRLs. Revocation is answered from each domain's
/// [`RevocationIndex`](crate::tls::RevocationIndex), whose CRL signatures were checked once at
/// load, not on every handshake.
///
/// Every handshake that passes the verifier leaves its [`PeerVerification`] for the acceptor:
/// [`outcome_for_chain`](Self::outcome_for_chain) the peer's chain. A failure the policy answers over HTTP
/// (e.g. revoked → 400) is *deferred* when the verifier is built with
/// [`defer_failures`](PolicyVerifierBuilder::defer_failures): the handshake completes and the
/// failure is reported. Otherwise a failure ends the handshake with the TLS alert rustls sends
/// for it (`unknown_ca`, `certificate_expired`, `certificate_revoked`, `access_denied` for our own
/// policy denials such as chain depth), and a missing certificate under
/// [`ClientCertMode::Required`] with `certificate_required`.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let pki = mtls_testkit::Pki::shared();
/// use std::sync::Arc;
/// use mtls_policy::{ClientCertMode, PeerVerification, TrustDomain, TrustSource};
/// use mtls_tower::tls::{LoadedTrustDomain, PolicyVerifier};
/// use mtls_testkit::tls;
///
/// let provider = mtls_core::crypto::default_provider();
/// let partners = LoadedTrustDomain::load(
///     &TrustDomain::new("partners", TrustSource::Pem(pki.root().cert_pem())),
///     &provider,
/// )?;
/// let verifier = Arc::new(
///     PolicyVerifier::builder(provider.clone())
///         .trust_domain(partners)
///         .mode(ClientCertMode::Required)
///         .build()?,
/// );
///
/// let client = pki.default_client();
/// let server_config = tls::server_config(pki.default_server(), verifier.clone());
/// let (_, server) = tls::handshake(tls::client_config(pki, Some(client)), server_config, "localhost")?;
/// let chain = server.peer_certificates().unwrap_or_default();
/// assert_eq!(verifier.outcome_for_chain(chain), PeerVerification::verified("partners"));
/// # Ok(()) }
/// ```
pub struct PolicyVerifier {
    domains: Vec<Arc<LoadedTrustDomain>>,
    provider: Arc<CryptoProvider>,
    mode: ClientCertMode,
    accept_any: bool,
    allow_expired: bool,
    defer: Option<DeferPredicate>,
    hints: Vec<DistinguishedName>,
    outcomes: Outcomes,
}

impl fmt::Debug for PolicyVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyVerifier")
            .field(
                "domains",
                &self.domains.iter().map(|d| d.name()).collect::<Vec<_>>(),
            )
            .field("mode", &self.mode)
            .field("accept_any", &self.accept_any)
            .field("allow_expired", &self.allow_expired)
            .field("defer", &self.defer.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds a [`PolicyVerifier`]; start with [`PolicyVerifier::builder`].
#[must_use = "a builder does nothing until .build()"]
pub struct PolicyVerifierBuilder {
    provider: Arc<CryptoProvider>,
    domains: Vec<Arc<LoadedTrustDomain>>,
    mode: ClientCertMode,
    accept_any: bool,
    allow_expired: bool,
    defer: Option<DeferPredicate>,
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
    /// # let provider = mtls_core::crypto::default_provider();
    /// use mtls_policy::ClientCertMode;
    /// use rustls::server::danger::ClientCertVerifier;
    ///
    /// let v = mtls_tower::tls::PolicyVerifier::builder(provider)
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
    /// # let provider = mtls_core::crypto::default_provider();
    /// use rustls::server::danger::ClientCertVerifier;
    ///
    /// let v = mtls_tower::tls::PolicyVerifier::builder(provider)
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
    /// # let provider = mtls_core::crypto::default_provider();
    /// let builder = mtls_tower::tls::PolicyVerifier::builder(provider).defer_failures(true);
    /// ```
    pub fn defer_failures(mut self, yes: bool) -> Self {
        self.defer = yes.then(|| Arc::new(|_: &VerifyError| true) as DeferPredicate);
        self
    }

    /// Defers only the failures `defer` says yes to; the others end the handshake with their
    /// TLS alert.
    ///
    /// ```
    /// # let provider = mtls_core::crypto::default_provider();
    /// use mtls_policy::VerifyError;
    ///
    /// let builder = mtls_tower::tls::PolicyVerifier::builder(provider)
    ///     .defer_failures_if(|e| matches!(e, VerifyError::Revoked { .. }));
    /// ```
    pub fn defer_failures_if(
        mut self,
        defer: impl Fn(&VerifyError) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.defer = Some(Arc::new(defer));
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
        // Deduplicated through a set: a linear scan made this quadratic in the anchors
        // (1.1 ms of a reload at 1,000 CAs, about 100 times that at 10,000).
        let mut seen = std::collections::HashSet::new();
        let mut hints: Vec<DistinguishedName> = Vec::new();
        for anchor in self.domains.iter().flat_map(|d| d.anchors.iter()) {
            if seen.insert(anchor.subject.as_ref()) {
                hints.push(DistinguishedName::in_sequence(anchor.subject.as_ref()));
            }
        }
        Ok(PolicyVerifier {
            domains: self.domains,
            provider: self.provider,
            mode: self.mode,
            accept_any: self.accept_any,
            allow_expired: self.allow_expired,
            defer: self.defer,
            hints,
            outcomes: Outcomes::new(self.capacity),
        })
    }
}

/// The outcome of one chain: what to report, and whether the handshake goes on.
struct Evaluation {
    verification: PeerVerification,
    verdict: Result<(), rustls::Error>,
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
        let domains = validation
            .trust
            .iter()
            .map(|d| LoadedTrustDomain::load_with(d, &provider, resolve))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::builder(provider)
            .trust_domains(domains)
            .mode(validation.mode)
            .danger_accept_any_certificate(validation.danger.skip_client_cert_validation)
            .danger_allow_expired(validation.danger.allow_expired))
    }

    /// The trust domains, in the order they are tried.
    pub fn trust_domains(&self) -> &[Arc<LoadedTrustDomain>] {
        &self.domains
    }

    /// Verifies a chain as a handshake would at `now`, without recording anything: which trust
    /// domain verified it, or why it failed (and in which domain, when the chain builds to one
    /// of its anchors). For the gateway's `check` command and conformance runners.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let pki = mtls_testkit::Pki::shared();
    /// # let other = mtls_testkit::Pki::shared_unrelated();
    /// use mtls_policy::{PeerVerification, TrustDomain, TrustSource, VerifyError};
    /// use mtls_tower::tls::{LoadedTrustDomain, PolicyVerifier};
    /// use rustls_pki_types::UnixTime;
    ///
    /// let provider = mtls_core::crypto::default_provider();
    /// let verifier = PolicyVerifier::builder(provider.clone())
    ///     .trust_domain(LoadedTrustDomain::load(
    ///         &TrustDomain::new("mesh", TrustSource::Pem(pki.root().cert_pem())),
    ///         &provider,
    ///     )?)
    ///     .build()?;
    /// let stranger = other.default_client().chain_der();
    /// assert_eq!(
    ///     verifier.verify_chain(&stranger[0], &stranger[1..], UnixTime::now()),
    ///     PeerVerification::failed(None, VerifyError::UnknownIssuer),
    /// );
    /// # Ok(()) }
    /// ```
    pub fn verify_chain(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> PeerVerification {
        self.evaluate(end_entity, intermediates, now).verification
    }

    /// The verification outcome of the handshake that presented `chain` (leaf first, as
    /// `ServerConnection::peer_certificates` gives it): the record the verifier left for that
    /// end-entity certificate or, when there is none (evicted, or a session resumed from before
    /// this verifier), computed again now with the whole chain. An empty chain is
    /// [`PeerVerification::NoCertificate`].
    ///
    /// Records are keyed by the full DER of the end-entity certificate and are not consumed, so
    /// concurrent connections presenting the same certificate all find theirs; the oldest is
    /// evicted beyond [`outcome_capacity`](PolicyVerifierBuilder::outcome_capacity).
    pub fn outcome_for_chain(&self, chain: &[CertificateDer<'_>]) -> PeerVerification {
        let Some((end_entity, intermediates)) = chain.split_first() else {
            return PeerVerification::NoCertificate;
        };
        match self.outcomes.get(end_entity.as_ref()) {
            Some(outcome) => outcome,
            None => {
                self.evaluate(end_entity, intermediates, UnixTime::now())
                    .verification
            }
        }
    }

    fn evaluate(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Evaluation {
        let algs = &self.provider.signature_verification_algorithms;
        let usage = |d: &LoadedTrustDomain| Usage::Client {
            require_eku: d.options.require_client_auth_eku,
        };
        let mut stray: Option<Failure> = None;
        let mut failed: Option<(&str, Failure)> = None;
        for domain in &self.domains {
            match chain::verify(
                domain,
                algs,
                end_entity,
                intermediates,
                now,
                usage(domain),
                self.allow_expired,
            ) {
                Ok(Pass::Clean) => {
                    return Evaluation {
                        verification: PeerVerification::verified(domain.name()),
                        verdict: Ok(()),
                    };
                }
                Ok(Pass::Tolerated(f)) => {
                    return Evaluation {
                        verification: PeerVerification::failed(Some(domain.name()), f.error),
                        verdict: Ok(()),
                    };
                }
                Err(f) if f.anchored => {
                    failed = Some((domain.name(), f));
                    break;
                }
                // Keep the most telling error of a chain no domain anchors: anything beats
                // "unknown issuer".
                Err(f) => {
                    if stray
                        .as_ref()
                        .is_none_or(|s| s.error == VerifyError::UnknownIssuer)
                    {
                        stray = Some(f);
                    }
                }
            }
        }
        let (domain, failure) = match (failed, stray) {
            (Some((name, f)), _) => (Some(name), f),
            (None, Some(f)) => (None, f),
            (None, None) => (None, chain::from_webpki(&webpki::Error::UnknownIssuer)),
        };
        let deferred = self.accept_any || self.defer.as_ref().is_some_and(|d| d(&failure.error));
        Evaluation {
            verification: PeerVerification::failed(domain, failure.error),
            verdict: if deferred { Ok(()) } else { Err(failure.tls) },
        }
    }
}

impl ClientCertVerifier for PolicyVerifier {
    fn offer_client_auth(&self) -> bool {
        self.mode != ClientCertMode::None
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mode == ClientCertMode::Required && !self.accept_any
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let evaluation = self.evaluate(end_entity, intermediates, now);
        match &evaluation.verification {
            PeerVerification::Verified { trust_domain } => {
                tracing::debug!(trust_domain, "client certificate verified");
            }
            PeerVerification::Failed {
                trust_domain,
                error,
            } => {
                tracing::debug!(
                    trust_domain = trust_domain.as_deref(),
                    %error,
                    deferred = evaluation.verdict.is_ok(),
                    "client certificate failed verification"
                );
            }
            _ => {}
        }
        evaluation.verdict?;
        self.outcomes
            .record(end_entity.as_ref(), evaluation.verification);
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl ReportingVerifier for PolicyVerifier {
    /// The record left by the handshake; when there is none (evicted), the chain is verified
    /// again. See [`PolicyVerifier::outcome_for_chain`].
    fn outcome_for(&self, chain: &[CertificateDer<'_>]) -> PeerVerification {
        self.outcome_for_chain(chain)
    }

    /// The mode, the sharp tools, and per trust domain its name, options, CA certificates and
    /// CRLs (the deferral rule is not part of it: a deferred failure is decided per request).
    fn trust_state(&self, feed: &mut dyn FnMut(&[u8])) -> bool {
        feed(format!("{:?} {} {}", self.mode, self.accept_any, self.allow_expired).as_bytes());
        for domain in &self.domains {
            feed(domain.name().as_bytes());
            feed(format!("{:?}", domain.options()).as_bytes());
            for ca in domain.bundle().certificates() {
                feed(ca.der().as_ref());
            }
            for crl in domain.revocation().into_iter().flat_map(|r| r.crl_ders()) {
                feed(crl);
            }
        }
        true
    }
}
