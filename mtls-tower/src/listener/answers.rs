//! The policy's answers, given where the client can get them: a host's verifier ends the
//! handshake with the configured alert, or lets it complete for a reason answered over HTTP
//! (then the layer answers every request); a STRICT listener lets plaintext in when its answer
//! is HTTP. The policy refused, at load, every answer that cannot be given
//! ([`mtls_policy::enforce`]).

use mtls_core::PeerIdentity;
use mtls_policy::{
    Answer, ClientCertMode, Context, Decision, DenyCode, EnforceAt, HostConfig, ListenerConfig,
    PeerVerification, Policy, VerifyError,
};

use crate::layer::SharedPolicy;
use crate::tls::{OnFailure, PolicyVerifierBuilder};

/// Where a host's verifier sits: the policy slot it reads at each failure, the port and the
/// name that select the host.
#[derive(Clone)]
pub(super) struct HostAnswers {
    slot: SharedPolicy,
    port: u16,
    sni: Option<String>,
}

impl HostAnswers {
    pub(super) fn new(slot: &SharedPolicy, port: u16, host: &HostConfig) -> Self {
        Self {
            slot: slot.clone(),
            port,
            sni: host.hostnames.first().cloned(),
        }
    }

    /// Sets up `builder` so that the host's answers reach the client: whether a missing
    /// certificate ends the handshake (only when its answer is an alert), what each failure
    /// gets, and, for a host with pins or issuer scopes answered by an alert, the check of
    /// each verified chain.
    pub(super) fn apply(
        self,
        builder: PolicyVerifierBuilder,
        policy: &Policy,
        host: &HostConfig,
    ) -> PolicyVerifierBuilder {
        let Some(validation) = &host.client_validation else {
            return builder;
        };
        // A missing certificate ends the handshake only when the policy answers it with an
        // alert; answered over HTTP, or let through (audit, a peer mode that needs none), the
        // handshake completes.
        let no_certificate = self.answer(policy, &PeerVerification::NoCertificate, None);
        let mut builder = match (validation.mode, no_certificate) {
            (ClientCertMode::None, _) => builder,
            (_, Some(Answer::TlsAlert(_))) => builder.mode(ClientCertMode::Required),
            _ => builder.mode(ClientCertMode::Optional),
        };
        let scoped = validation.trust.iter().any(|t| t.may_vouch_for.is_some());
        let checks = validation.enforce_at == EnforceAt::Handshake
            && (scoped || !validation.pins.is_empty());
        if checks {
            let me = self.clone();
            builder = builder.check_verified(move |leaf, domain| {
                let id = PeerIdentity::from_der(leaf).ok()?;
                let verified = PeerVerification::verified(domain);
                match me.answer_with(&me.slot.load(), &verified, Some(&id))? {
                    (code, Answer::TlsAlert(alert)) => Some((code, alert)),
                    _ => None,
                }
            });
        }
        builder.on_failure(move |error: &VerifyError| {
            let failed = PeerVerification::failed(None, error.clone());
            match self.answer(&self.slot.load(), &failed, None) {
                Some(Answer::TlsAlert(alert)) => OnFailure::Alert(alert),
                // Answered over HTTP, or let through (tolerated, audit): complete the handshake.
                _ => OnFailure::Defer,
            }
        })
    }

    /// The answer the policy gives the host's peer at the handshake (no request yet), if it
    /// denies it.
    fn answer(
        &self,
        policy: &Policy,
        verification: &PeerVerification,
        identity: Option<&PeerIdentity>,
    ) -> Option<Answer> {
        self.answer_with(policy, verification, identity)
            .map(|(_, answer)| answer)
    }

    fn answer_with(
        &self,
        policy: &Policy,
        verification: &PeerVerification,
        identity: Option<&PeerIdentity>,
    ) -> Option<(DenyCode, Answer)> {
        let mut ctx = Context::new(self.port, verification);
        if let Some(sni) = &self.sni {
            ctx = ctx.sni(sni).host(sni);
        }
        if let Some(id) = identity {
            ctx = ctx.identity(id);
        }
        match policy.decide(&ctx) {
            Decision::Deny { reason, answer } => Some((reason.kind(), answer)),
            _ => None,
        }
    }
}

/// Whether plaintext on `listener` is answered over HTTP (so the acceptor lets it in and the
/// layer answers it) rather than closed.
pub(super) fn plaintext_over_http(policy: &Policy, listener: &ListenerConfig) -> bool {
    let answer = listener
        .answers
        .get(DenyCode::PlaintextNotAllowed, &policy.config().answers);
    matches!(answer, Answer::Http(_))
}

#[cfg(test)]
mod tests {
    use mtls_policy::{TrustDomain, TrustSource};
    use rustls::server::danger::ClientCertVerifier;

    use super::*;
    use crate::tls::{LoadedTrustDomain, PolicyVerifier};

    /// Whether the verifier the policy's answers set up for its only host makes a client
    /// certificate mandatory in the handshake.
    fn mandatory(listener: &str, answers: &str) -> bool {
        let yaml = format!(
            "answers: {answers}\nlisteners:\n  - {{ name: edge, port: 8443, {listener} hosts: [{{ \
             client_validation: {{ mode: required, trust: [{{ name: c, ca: [{{ pem: x }}] }}] }} }}] }}\n"
        );
        let policy = Policy::from_yaml(&yaml).unwrap();
        let host = &policy.config().listeners[0].hosts[0];
        let provider = mtls_verify::crypto::default_provider();
        let pem = mtls_testkit::Pki::shared().root().cert_pem();
        let domain =
            LoadedTrustDomain::load(&TrustDomain::new("c", TrustSource::Pem(pem)), &provider)
                .unwrap();
        let builder = PolicyVerifier::builder(provider).trust_domain(domain);
        let slot = SharedPolicy::new(policy.clone());
        let verifier = HostAnswers::new(&slot, 8443, host)
            .apply(builder, &policy, host)
            .build()
            .unwrap();
        verifier.client_auth_mandatory()
    }

    #[test]
    fn a_missing_certificate_ends_the_handshake_only_when_its_answer_is_an_alert() {
        assert!(mandatory("", "{}"));
        assert!(mandatory(
            "",
            "{ no_certificate: { tls_alert: certificate_required } }"
        ));
        assert!(!mandatory(
            "",
            "{ no_certificate: { http: { status: 496 } } }"
        ));
        // An audit listener lets the client through: its handshake must complete.
        assert!(!mandatory("audit: true,", "{}"));
    }
}
