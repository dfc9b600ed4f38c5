//! From a policy to a serving listener: one TLS host per policy host (its certificate, its own
//! client verifier), the acceptor, and the layer, sharing one hot-swappable policy.

use std::sync::Arc;
use std::time::Duration;

use mtls_core::ServerCredential;
use mtls_policy::{ClientCertMode, HostConfig, ListenerConfig, Policy, SecretRef};
use rustls::crypto::CryptoProvider;

mod answers;

use crate::acceptor::Acceptor;
use crate::credentials::{Secrets, load_certificate};
use crate::layer::ForwardIdentity;
use crate::layer::{MtlsLayer, SharedPolicy};
use crate::tls::{
    FetchedCrls, HostTls, MinTlsVersion, PolicyVerifier, ResolveError, SnapshotError,
    TicketKeyError, TicketKeys, TlsSnapshot, TrustError, VerifierError,
};

mod shadow;

/// Why a listener could not be built from a policy; the message names the field
/// (`listeners[0].hosts[1].certificate`) and the cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenerError {
    /// The policy has no listener of that name.
    #[error("the policy has no listener named {0:?}")]
    NoSuchListener(String),
    /// No certificate for a host.
    #[error("{host}.certificate: {detail}")]
    Certificate {
        /// The listener.
        listener: String,
        /// The host's field path (`listeners[0].hosts[1]`).
        host: String,
        /// Why.
        detail: String,
    },
    /// A trust domain could not be loaded (CA bundle, CRLs, secrets).
    #[error("{host}.client_validation: {source}")]
    Trust {
        /// The listener.
        listener: String,
        /// The host's field path (`listeners[0].hosts[1]`).
        host: String,
        /// The cause.
        source: Box<TrustError>,
    },
    /// The verifier could not be built.
    #[error("{host}.client_validation: {source}")]
    Verifier {
        /// The listener.
        listener: String,
        /// The host's field path (`listeners[0].hosts[1]`).
        host: String,
        /// The cause.
        source: Box<VerifierError>,
    },
    /// The session-ticket keys could not be loaded.
    #[error("{at}.session_tickets: {source}")]
    SessionTickets {
        /// The listener.
        listener: String,
        /// The listener's field path (`listeners[0]`).
        at: String,
        /// The cause.
        source: TicketKeyError,
    },
    /// The TLS configuration could not be built.
    #[error("listener {listener:?}: {source}")]
    Snapshot {
        /// The listener.
        listener: String,
        /// The cause.
        source: SnapshotError,
    },
}

type Credentials<'a> = dyn Fn(&HostConfig) -> Result<ServerCredential, String> + 'a;

/// Builds the TLS side of one policy listener.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use mtls_core::ServerCredential;
/// use mtls_policy::Policy;
/// use mtls_tower::MtlsListener;
///
/// let provider = mtls_verify::crypto::default_provider();
/// let policy = Policy::from_yaml(&std::fs::read_to_string("policy.yaml")?)?;
/// let cert = ServerCredential::from_files("server.pem", "server.key")?;
/// let mtls = MtlsListener::builder(policy, "public", provider)
///     .certificates(move |_host| Ok(cert.clone()))
///     .build()?;
/// let (acceptor, layer) = (mtls.acceptor(), mtls.layer());
/// # let _ = (acceptor, layer);
/// # Ok(()) }
/// ```
pub struct MtlsListenerBuilder<'a> {
    policy: SharedPolicy,
    name: String,
    provider: Arc<CryptoProvider>,
    credentials: Option<Box<Credentials<'a>>>,
    secrets: Option<Box<Secrets<'a>>>,
    handshake_timeout: Option<Duration>,
    max_handshakes: Option<usize>,
    request_header_timeout: Option<Duration>,
    close_revoked: Option<Duration>,
}

/// One listener of a policy, ready to serve: an [`Acceptor`] (TLS per host, client
/// verification, PERMISSIVE/STRICT) and an [`MtlsLayer`] (per-request decisions), sharing one
/// policy that [`reload`](Self::reload) swaps together with the TLS configuration.
#[derive(Clone, Debug)]
pub struct MtlsListener {
    name: String,
    port: u16,
    acceptor: Acceptor,
    layer: MtlsLayer,
    policy: SharedPolicy,
    provider: Arc<CryptoProvider>,
}

impl MtlsListener {
    /// Starts building the listener `name` of `policy` (a [`Policy`] or a [`SharedPolicy`]
    /// shared with other listeners).
    pub fn builder<'a>(
        policy: impl Into<SharedPolicy>,
        name: impl Into<String>,
        provider: Arc<CryptoProvider>,
    ) -> MtlsListenerBuilder<'a> {
        MtlsListenerBuilder {
            policy: policy.into(),
            name: name.into(),
            provider,
            credentials: None,
            secrets: None,
            handshake_timeout: None,
            max_handshakes: None,
            request_header_timeout: None,
            close_revoked: None,
        }
    }

    /// The acceptor to serve with.
    pub fn acceptor(&self) -> Acceptor {
        self.acceptor.clone()
    }

    /// The layer to put in front of the application.
    pub fn layer(&self) -> MtlsLayer {
        self.layer.clone()
    }

    /// The policy listener's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Swaps in a new policy and the TLS configuration built from it (certificates from
    /// `credentials`, else from each host's `certificate`). On error nothing changes.
    pub fn reload(
        &self,
        policy: Policy,
        credentials: Option<&Credentials<'_>>,
        secrets: Option<&Secrets<'_>>,
    ) -> Result<(), ListenerError> {
        let candidate = SharedPolicy::new(policy);
        // Build against the candidate (so the verifiers' defer rule reads it), then point the
        // live slot at it.
        let (_, snapshot) = snapshot_for(
            &candidate.load(),
            &self.name,
            &self.policy,
            &self.provider,
            credentials,
            secrets,
            &FetchedCrls::default(),
        )?;
        self.policy.store_arc(candidate.load());
        self.acceptor.reload(snapshot);
        Ok(())
    }
}

impl<'a> MtlsListenerBuilder<'a> {
    /// Where each host's server certificate comes from, in code (default: each host's
    /// `certificate` in the configuration).
    pub fn certificates(
        mut self,
        credentials: impl Fn(&HostConfig) -> Result<ServerCredential, String> + 'a,
    ) -> Self {
        self.credentials = Some(Box::new(credentials));
        self
    }

    /// How `secret:` trust sources are read (default: they are an error).
    pub fn secrets(
        mut self,
        secrets: impl Fn(&SecretRef) -> Result<Vec<u8>, ResolveError> + 'a,
    ) -> Self {
        self.secrets = Some(Box::new(secrets));
        self
    }

    /// How long a handshake may take, over the listener's `limits.handshake_timeout`
    /// (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = Some(timeout);
        self
    }

    /// How many handshakes may be in flight before new connections are shed, over the
    /// listener's `limits.max_handshakes` (default 1024).
    pub fn max_handshakes(mut self, max: usize) -> Self {
        self.max_handshakes = Some(max);
        self
    }

    /// How long [`serve`](crate::serve) keeps a connection that carries no request: an HTTP/1
    /// connection without a complete request head, an HTTP/2 connection without a request in
    /// flight, over the listener's `limits.request_header_timeout` (default 30 s). See [`Acceptor::with_request_header_timeout`], which takes the
    /// value as it is (zero closes every connection whose first request is not already in).
    pub fn request_header_timeout(mut self, timeout: Duration) -> Self {
        self.request_header_timeout = Some(timeout);
        self
    }

    /// **Opt-in**: at each [`reload`](MtlsListener::reload), close the open connections whose
    /// peer certificate the new CRLs revoke, after a graceful shutdown bounded by `grace`
    /// (default: the listener's `limits.close_revoked_connections`, else they stay open). See
    /// [`Acceptor::close_revoked_connections`].
    pub fn close_revoked_connections(mut self, grace: Duration) -> Self {
        self.close_revoked = Some(grace);
        self
    }

    /// Loads every host's certificate and trust material and builds the listener.
    pub fn build(self) -> Result<MtlsListener, ListenerError> {
        let policy = self.policy.load();
        let (port, snapshot) = snapshot_for(
            &policy,
            &self.name,
            &self.policy,
            &self.provider,
            self.credentials.as_deref(),
            self.secrets.as_deref(),
            &FetchedCrls::default(),
        )?;
        let mut limits = policy
            .listener(&self.name)
            .map(|l| l.limits.clone())
            .unwrap_or_default();
        // What the builder sets wins over the model.
        if let Some(timeout) = self.handshake_timeout {
            limits.handshake_timeout = Some(timeout.into());
        }
        if let Some(max) = self.max_handshakes {
            limits.max_handshakes = Some(max);
        }
        if let Some(grace) = self.close_revoked {
            limits.close_revoked_connections = Some(grace.into());
        }
        if let Some(timeout) = self.request_header_timeout {
            limits.request_header_timeout = Some(timeout.into());
        }
        let acceptor = Acceptor::from_limits(snapshot, &limits);
        let forward = ForwardIdentity::from_config(&policy.config().forward_identity);
        Ok(MtlsListener {
            layer: MtlsLayer::new(self.policy.clone())
                .port(port)
                .forward(forward),
            name: self.name,
            port,
            acceptor,
            policy: self.policy,
            provider: self.provider,
        })
    }
}

/// The TLS snapshot of the policy listener `name`, and its port: one host per policy host,
/// selected by SNI with the policy's own host lookup, each with its certificate (from
/// `credentials`, else the host's `certificate`) and its own client verifier, and the
/// listener's `session_tickets` keys read again (a rotated key file takes effect). Verifiers read
/// `slot` (the live policy) to tell what each verification failure gets: a failure answered
/// over HTTP lets the handshake complete so the layer can answer; one answered by a TLS alert
/// ends it with that alert. A missing certificate ends the handshake only when its answer is
/// an alert, and plaintext on a STRICT listener is let in when its answer is HTTP. Trust
/// domains that fetch CRLs from distribution points get those of `fetched`
/// ([`CrlFetcher::fetched`](crate::fetch::CrlFetcher::fetched)).
pub fn snapshot_for(
    policy: &Policy,
    name: &str,
    slot: &SharedPolicy,
    provider: &Arc<CryptoProvider>,
    credentials: Option<&Credentials<'_>>,
    secrets: Option<&Secrets<'_>>,
    fetched: &FetchedCrls,
) -> Result<(u16, TlsSnapshot), ListenerError> {
    let listener: &ListenerConfig = policy
        .listener(name)
        .ok_or_else(|| ListenerError::NoSuchListener(name.to_string()))?;
    let no_secrets = |secret: &SecretRef| -> Result<Vec<u8>, ResolveError> {
        Err(format!("secret {:?}: no secret resolver is configured", secret.name).into())
    };
    let secrets: &Secrets<'_> = secrets.unwrap_or(&no_secrets);
    let port = listener.port();
    let at = match policy
        .config()
        .listeners
        .iter()
        .position(|l| l.name == name)
    {
        Some(i) => format!("listeners[{i}]"),
        None => format!("listener {name:?}"),
    };
    let min_tls = match listener.min_tls_version {
        mtls_policy::TlsVersion::Tls13 => MinTlsVersion::Tls13,
        _ => MinTlsVersion::Tls12,
    };
    let mut builder = TlsSnapshot::builder(Arc::clone(provider))
        .peer_mode(listener.peer_mode.unwrap_or(mtls_policy::PeerMode::Strict))
        .plaintext_answered(answers::plaintext_over_http(policy, listener))
        .unknown_sni(listener.unknown_sni.into())
        .min_tls_version(min_tls);
    if let Some(tickets) = &listener.session_tickets {
        let keys = TicketKeys::from_file(&tickets.key_file)
            .and_then(|keys| keys.lifetime(tickets.lifetime()))
            .map_err(|source| ListenerError::SessionTickets {
                listener: name.to_string(),
                at: at.clone(),
                source,
            })?;
        builder = builder.session_tickets(keys);
    }
    for (hi, host) in listener.hosts.iter().enumerate() {
        let label = format!("{at}.hosts[{hi}]");
        let key = match (credentials, &host.certificate) {
            (Some(credentials), _) => credentials(host),
            (None, Some(source)) => load_certificate(source, secrets),
            (None, None) => Err(format!(
                "hosts[{hi}] has no `certificate` (and none was given in code)"
            )),
        }
        .and_then(|credential| {
            mtls_verify::crypto::certified_key(&credential, provider).map_err(|e| e.to_string())
        })
        .map_err(|detail| ListenerError::Certificate {
            listener: name.to_string(),
            host: label.clone(),
            detail,
        })?;
        let mut tls_host = HostTls::new(host.hostnames.clone(), key);
        if let Some(validation) = &host.client_validation {
            let asks = validation.mode != ClientCertMode::None
                || validation.danger.skip_client_cert_validation;
            if asks {
                let verifier = PolicyVerifier::from_client_validation_fetched(
                    validation,
                    Arc::clone(provider),
                    secrets,
                    fetched,
                )
                .map_err(|source| ListenerError::Trust {
                    listener: name.to_string(),
                    host: label.clone(),
                    source: Box::new(source),
                })?;
                let verifier = answers::HostAnswers::new(slot, port, host)
                    .apply(verifier, policy, host)
                    .build()
                    .map_err(|source| ListenerError::Verifier {
                        listener: name.to_string(),
                        host: label.clone(),
                        source: Box::new(source),
                    })?;
                tls_host = tls_host.client_verifier(Arc::new(verifier));
            }
        }
        if let Some(candidate) = listener.candidate_for(host) {
            let at = shadow::Host {
                listener: name,
                label: &label,
                port,
                sni: host.hostnames.first().cloned(),
            };
            tls_host =
                shadow::with_candidate(tls_host, candidate, at, slot, provider, secrets, fetched)?;
        }
        builder = builder.host(tls_host);
    }
    let snapshot = builder.build().map_err(|source| ListenerError::Snapshot {
        listener: name.to_string(),
        source,
    })?;
    Ok((port, snapshot))
}
