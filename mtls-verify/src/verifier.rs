//! [`PolicyVerifier`]: the rustls client-certificate verifier of a host.

use std::fmt;
use std::sync::Arc;

use mtls_policy::{ClientCertMode, DenyCode, PeerVerification, VerifyError};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::answer::{OnFailure, alert_error, note_rejection};
use crate::builder::{FailureRule, VerifiedCheck};
use crate::chain::{self, Failure, Pass, Usage};
use crate::outcomes::{ChainOutcome, Outcomes};
use crate::trust::LoadedTrustDomain;

/// A rustls [`ClientCertVerifier`] enforcing one host's client validation: isolated trust
/// domains (each its own anchors, CRLs and options), Required / Optional / None, accept-any and
/// allow-expired (sharp tools), max chain depth, and deferred failures.
///
/// Chains are verified with rustls-webpki against each trust domain in order; the first domain
/// whose anchors build a path wins, and a chain is accepted by a domain only through that
/// domain's anchors and CRLs. Revocation is answered from each domain's
/// [`RevocationIndex`](crate::RevocationIndex), whose CRL signatures were checked once at
/// load, not on every handshake.
///
/// Every handshake that passes the verifier leaves its [`PeerVerification`] for the acceptor:
/// [`outcome_for_chain`](Self::outcome_for_chain) the peer's chain. A failure the policy answers over HTTP
/// (e.g. revoked → 400) is *deferred* when the verifier is built with
/// [`defer_failures`](crate::PolicyVerifierBuilder::defer_failures): the handshake completes and the
/// failure is reported. A failure the policy answers with a TLS alert ends the handshake with
/// that alert ([`on_failure`](crate::PolicyVerifierBuilder::on_failure),
/// [`alert_error`](crate::alert_error)); otherwise with the alert rustls sends for it
/// (`unknown_ca`, `certificate_expired`, `certificate_revoked`, `access_denied` for our own
/// policy denials such as chain depth), and a missing certificate under
/// [`ClientCertMode::Required`] with `certificate_required`. Why the last refusal on a thread
/// happened is kept for the acceptor's counters ([`take_rejection`](crate::take_rejection)).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let pki = mtls_testkit::Pki::shared();
/// use std::sync::Arc;
/// use mtls_policy::{ClientCertMode, PeerVerification, TrustDomain, TrustSource};
/// use mtls_verify::{LoadedTrustDomain, PolicyVerifier};
/// use mtls_testkit::tls;
///
/// let provider = mtls_verify::crypto::default_provider();
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
    pub(crate) domains: Vec<Arc<LoadedTrustDomain>>,
    pub(crate) provider: Arc<CryptoProvider>,
    pub(crate) mode: ClientCertMode,
    pub(crate) accept_any: bool,
    pub(crate) allow_expired: bool,
    pub(crate) defer: Option<FailureRule>,
    pub(crate) check: Option<VerifiedCheck>,
    pub(crate) hints: Vec<DistinguishedName>,
    pub(crate) outcomes: Outcomes,
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
            .field("check", &self.check.is_some())
            .finish_non_exhaustive()
    }
}

/// The outcome of one chain: what to report, and whether the handshake goes on (else the
/// error to end it with, and the reason).
struct Evaluation {
    outcome: ChainOutcome,
    verdict: Result<(), (rustls::Error, DenyCode)>,
}

impl PolicyVerifier {
    /// The trust domains, in the order they are tried.
    pub fn trust_domains(&self) -> &[Arc<LoadedTrustDomain>] {
        &self.domains
    }

    /// Feeds `feed` everything that decides whether a chain is accepted: the mode, the sharp
    /// tools, and per trust domain its name, options, CA certificates and CRLs (the deferral
    /// rule is not part of it: a deferred failure is decided per request). Two verifiers fed
    /// the same bytes accept the same chains; session tickets are bound to it.
    pub fn trust_state(&self, feed: &mut dyn FnMut(&[u8])) {
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
    /// use mtls_verify::{LoadedTrustDomain, PolicyVerifier};
    /// use rustls_pki_types::UnixTime;
    ///
    /// let provider = mtls_verify::crypto::default_provider();
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
        self.evaluate(end_entity, intermediates, now)
            .outcome
            .verification
    }

    /// [`verify_chain`](Self::verify_chain), with the certificate policies valid for the
    /// verified path ([`ChainOutcome`]).
    pub fn verify_chain_outcome(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> ChainOutcome {
        self.evaluate(end_entity, intermediates, now).outcome
    }

    /// The verification outcome of the handshake that presented `chain` (leaf first, as
    /// `ServerConnection::peer_certificates` gives it): the record the verifier left for that
    /// end-entity certificate or, when there is none (evicted, or a session resumed from before
    /// this verifier), computed again now with the whole chain. An empty chain is
    /// [`PeerVerification::NoCertificate`].
    ///
    /// Records are keyed by the full DER of the end-entity certificate and are not consumed, so
    /// concurrent connections presenting the same certificate all find theirs; the oldest is
    /// evicted beyond [`outcome_capacity`](crate::PolicyVerifierBuilder::outcome_capacity).
    pub fn outcome_for_chain(&self, chain: &[CertificateDer<'_>]) -> PeerVerification {
        self.chain_outcome(chain).verification
    }

    /// [`outcome_for_chain`](Self::outcome_for_chain), with the certificate policies valid for
    /// the path the handshake verified ([`ChainOutcome`]): recorded with the outcome, for the
    /// chain presented, in this verifier's trust domains.
    pub fn chain_outcome(&self, chain: &[CertificateDer<'_>]) -> ChainOutcome {
        let Some((end_entity, intermediates)) = chain.split_first() else {
            return ChainOutcome::new(PeerVerification::NoCertificate);
        };
        match self.outcomes.get(end_entity.as_ref(), intermediates) {
            Some(outcome) => outcome,
            None => {
                self.evaluate(end_entity, intermediates, UnixTime::now())
                    .outcome
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
                Ok(Pass::Clean(policies)) => {
                    if let Some(f) = domain.ocsp_refusal(end_entity, intermediates, now) {
                        failed = Some((domain.name(), f));
                        break;
                    }
                    return Evaluation {
                        outcome: ChainOutcome {
                            verification: PeerVerification::verified(domain.name()),
                            policies,
                        },
                        verdict: Ok(()),
                    };
                }
                Ok(Pass::Tolerated(f)) => {
                    return Evaluation {
                        outcome: ChainOutcome::new(PeerVerification::failed(
                            Some(domain.name()),
                            f.error,
                        )),
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
        let rule = match &self.defer {
            _ if self.accept_any => OnFailure::Defer,
            Some(rule) => rule(&failure.error),
            None => OnFailure::Reject,
        };
        let code = failure.error.code();
        let verdict = match rule {
            OnFailure::Defer => Ok(()),
            OnFailure::Alert(alert) => Err((alert_error(alert).unwrap_or(failure.tls), code)),
            _ => Err((failure.tls, code)),
        };
        Evaluation {
            outcome: ChainOutcome::new(PeerVerification::failed(domain, failure.error)),
            verdict,
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
        match &evaluation.outcome.verification {
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
        if let Err((error, code)) = evaluation.verdict {
            note_rejection(code);
            return Err(error);
        }
        if let Some(check) = &self.check {
            let domain = match &evaluation.outcome.verification {
                PeerVerification::Verified { trust_domain } => Some(trust_domain.as_str()),
                PeerVerification::Failed { trust_domain, .. } => trust_domain.as_deref(),
                _ => None,
            };
            if let Some((code, alert)) = domain.and_then(|d| check(end_entity, d)) {
                tracing::debug!(
                    code = code.as_str(),
                    ?alert,
                    "client certificate refused by the host's check"
                );
                if let Some(error) = alert_error(alert) {
                    note_rejection(code);
                    return Err(error);
                }
            }
        }
        self.outcomes
            .record(end_entity.as_ref(), intermediates, evaluation.outcome);
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
