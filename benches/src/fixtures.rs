//! What the benches handshake with: generated PKIs, both verifiers, configs and the policy.
//!
//! The server always presents the same ECDSA P-256 certificate (from [`Pki::shared`]), so that
//! only the *client* chain changes between the ECDSA / RSA / Ed25519 cases: leaf and
//! intermediate (and root) of the client PKI all use the algorithm of the case.

use std::sync::Arc;

use mtls_core::{CaBundle, CrlSet, PeerIdentity};
use mtls_policy::{Context, Policy};
use mtls_testkit::{Crls, IssuedBy, KeyAlg, Leaf, Pki};
use mtls_tower::tls::{DomainOptions, LoadedTrustDomain, PolicyVerifier};
use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{ClientConfig, ServerConfig, ServerConnection};
use rustls_pki_types::CertificateDer;

/// The trust domain name our verifier reports, and the policy expects.
pub const TRUST_DOMAIN: &str = "bench";

/// The SPIFFE ID (URI SAN) of every bench client certificate; the allow-list ends with it.
pub const CLIENT_ID: &str = "spiffe://bench.example/ns/prod/sa/web";

/// The SNI, the server certificate's DNS name, and the policy's host.
pub const SERVER_NAME: &str = "localhost";

/// Entries in the allow-list of the "allow-list" cases.
pub const ALLOW_LIST: usize = 10_000;

/// Serials revoked in the intermediate's CRL of the "CRL" cases.
pub const REVOKED: usize = 1_000;

/// The provider every config and verifier of these benches uses: rustls' own aws-lc-rs
/// provider, as it ships (its client prefers `TLS13_AES_256_GCM_SHA384`, as OpenSSL's and
/// curl's do), never the process default. `mtls_verify::crypto::default_provider` moves
/// `TLS13_AES_128_GCM_SHA256` first; using it here would make the clients ask for AES-128
/// and hide what a server-side preference changes (the `raw_prefer_aes128` case shows that).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Short label of a key algorithm, for bench ids.
pub fn label(alg: KeyAlg) -> &'static str {
    match alg {
        KeyAlg::EcdsaP256 => "ecdsa_p256",
        KeyAlg::Rsa2048 => "rsa2048",
        KeyAlg::Ed25519 => "ed25519",
        _ => "other",
    }
}

/// A deterministic pseudo-random generator (splitmix64), for revoked serials and the like.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A 16-byte positive serial with no leading zero byte, like real CAs issue.
    pub fn serial(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&self.next_u64().to_be_bytes());
        out.extend_from_slice(&self.next_u64().to_be_bytes());
        out[0] = (out[0] & 0x7f) | 0x40;
        out
    }
}

/// A PEM bundle of `n` distinct self-signed CA certificates (RSA and ECDSA keys, a third of
/// them ECDSA): the large bundles of the material and verification benches.
pub fn ca_bundle_pem(n: usize) -> String {
    ca_bundle_pem_of(n, false)
}

/// [`ca_bundle_pem`], all ECDSA P-256 when `ecdsa_only` (quicker to generate: the scale
/// benches' 10,000-CA bundles).
pub fn ca_bundle_pem_of(n: usize, ecdsa_only: bool) -> String {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let rsa =
        (!ecdsa_only).then(|| KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key"));
    let ecdsa = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("ECDSA key");
    let mut pem = String::new();
    for i in 0..n {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("Bench Root CA {i}"));
        params
            .distinguished_name
            .push(DnType::OrganizationName, format!("mtls-benches {}", i % 37));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = match &rsa {
            Some(rsa) if i % 3 != 2 => rsa,
            _ => &ecdsa,
        };
        pem.push_str(&params.self_signed(key).expect("CA cert").pem());
    }
    pem
}

/// The client side of one case: a PKI of one algorithm, a client certificate issued by its
/// intermediate (URI SAN [`CLIENT_ID`]), and CRLs of the whole chain with [`REVOKED`] random
/// serials in the intermediate's CRL (the root's CRL is empty).
pub struct ClientPki {
    /// The algorithm of the whole client chain.
    pub alg: KeyAlg,
    /// The client PKI (root → intermediate).
    pub pki: &'static Pki,
    /// The client certificate (chain: leaf, intermediate).
    pub leaf: Leaf,
    /// The root's CRL and the intermediate's 1,000-entry CRL.
    pub crls: Crls,
}

impl std::fmt::Debug for ClientPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientPki")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl ClientPki {
    /// Generates the client material of `alg` (the PKI itself is shared per process).
    pub fn new(alg: KeyAlg) -> Self {
        Self::with_revoked(alg, REVOKED)
    }

    /// [`ClientPki::new`] with `revoked` random serials in the intermediate's CRL.
    pub fn with_revoked(alg: KeyAlg, revoked: usize) -> Self {
        let pki = Pki::shared_with(alg);
        let leaf = pki.client().uri(CLIENT_ID).issue();
        let mut rng = SplitMix::new(0x6d74_6c73);
        let crls = (0..revoked)
            .fold(pki.crls(), |b, _| {
                b.revoke_serial(IssuedBy::Intermediate, &rng.serial())
            })
            .build();
        Self {
            alg,
            pki,
            leaf,
            crls,
        }
    }

    /// Bench-id label of the algorithm.
    pub fn label(&self) -> &'static str {
        label(self.alg)
    }

    /// The chain the client presents: leaf, intermediate.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.leaf.chain_der()
    }

    /// rustls' own verifier trusting the client root, with both CRLs when `crls` (rustls
    /// defaults: whole chain checked, unknown status denied).
    pub fn raw_verifier(&self, crls: bool) -> Arc<dyn ClientCertVerifier> {
        let crls = if crls { self.crls.ders() } else { Vec::new() };
        WebPkiClientVerifier::builder_with_provider(Arc::new(self.pki.root_store()), provider())
            .with_crls(crls)
            .build()
            .expect("raw WebPkiClientVerifier")
    }

    /// Our trust domain over the same root, with both CRLs (indexed at load) when `crls`.
    pub fn trust_domain(&self, crls: bool) -> LoadedTrustDomain {
        self.trust_domain_among(crls, "")
    }

    /// [`trust_domain`](Self::trust_domain) with the root after `other_cas` (PEM) in the
    /// bundle.
    pub fn trust_domain_among(&self, crls: bool, other_cas: &str) -> LoadedTrustDomain {
        self.trust_domain_with(crls, other_cas, DomainOptions::default())
    }

    /// [`trust_domain_among`](Self::trust_domain_among) with `options`.
    pub fn trust_domain_with(
        &self,
        crls: bool,
        other_cas: &str,
        options: DomainOptions,
    ) -> LoadedTrustDomain {
        let pem = format!("{other_cas}{}", self.pki.root().cert_pem());
        let bundle = CaBundle::from_bytes(pem.as_bytes(), "ca.pem").expect("root bundle");
        let set = crls.then(|| CrlSet::from_bytes(self.crls.pem().as_bytes(), "crl.pem"));
        let set = set.transpose().expect("CRL set");
        LoadedTrustDomain::new(TRUST_DOMAIN, bundle, set.as_ref(), options, &provider())
            .expect("trust domain")
    }

    /// Our verifier (client certificates required, no other rule) over [`Self::trust_domain`].
    pub fn our_verifier(&self, crls: bool) -> Arc<PolicyVerifier> {
        self.our_verifier_among(crls, "")
    }

    /// [`our_verifier`](Self::our_verifier) with the root after `other_cas` (PEM) in the
    /// bundle.
    pub fn our_verifier_among(&self, crls: bool, other_cas: &str) -> Arc<PolicyVerifier> {
        Arc::new(
            PolicyVerifier::builder(provider())
                .trust_domain(self.trust_domain_among(crls, other_cas))
                .build()
                .expect("PolicyVerifier"),
        )
    }

    /// [`our_verifier`](Self::our_verifier) with the trust domain's strict certificate
    /// profile (`profile: strict`).
    pub fn our_strict_verifier(&self, crls: bool) -> Arc<PolicyVerifier> {
        let mut options = DomainOptions::default();
        options.profile = mtls_policy::CertificateProfile::Strict;
        Arc::new(
            PolicyVerifier::builder(provider())
                .trust_domain(self.trust_domain_with(crls, "", options))
                .build()
                .expect("PolicyVerifier"),
        )
    }

    /// A TLS 1.3 client config presenting the client chain and trusting the server's root.
    /// With `resume` false, the client never resumes (every handshake is full).
    pub fn client_config(&self, resume: bool) -> Arc<ClientConfig> {
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("TLS 1.3")
            .with_root_certificates(Pki::shared().root_store())
            .with_client_auth_cert(self.leaf.chain_der(), self.leaf.key_der())
            .expect("client key");
        if !resume {
            config.resumption = Resumption::disabled();
        }
        Arc::new(config)
    }
}

/// How a server resumes TLS 1.3 sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerResumption {
    /// rustls' default: a 256-entry in-memory session cache (stateful tickets, i.e. session
    /// IDs); what `TlsSnapshot` configures.
    Stateful,
    /// Stateless, encrypted tickets (`aws_lc_rs::Ticketer`).
    Tickets,
}

/// A TLS 1.3 server config presenting the shared P-256 server certificate and checking clients
/// with `verifier`. Built with an explicit provider, as everything in mtls.
pub fn server_config(
    verifier: Arc<dyn ClientCertVerifier>,
    resumption: ServerResumption,
) -> Arc<ServerConfig> {
    let server = Pki::shared().default_server();
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_client_cert_verifier(verifier)
        .with_single_cert(server.chain_der(), server.key_der())
        .expect("server key");
    if resumption == ServerResumption::Tickets {
        config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().expect("ticketer");
    }
    Arc::new(config)
}

/// [`server_config`] (stateful resumption) whose server picks `TLS13_AES_128_GCM_SHA256`
/// whatever the client prefers (rustls clients, like OpenSSL's, put
/// `TLS13_AES_256_GCM_SHA384` first): HKDF and the transcript then use SHA-256, which has
/// hardware support on x86-64 (SHA-NI), where SHA-384 has not.
pub fn server_config_prefer_aes128(verifier: Arc<dyn ClientCertVerifier>) -> Arc<ServerConfig> {
    let mut provider = (*provider()).clone();
    provider
        .cipher_suites
        .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    let server = Pki::shared().default_server();
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_client_cert_verifier(verifier)
        .with_single_cert(server.chain_der(), server.key_der())
        .expect("server key");
    config.ignore_client_order = true;
    Arc::new(config)
}

/// The JSON of a policy: one listener on 443, host [`SERVER_NAME`] requiring client
/// certificates of trust domain [`TRUST_DOMAIN`], one route whose allow-list has `n` SPIFFE
/// principals, the last being [`CLIENT_ID`] (so the peer matches through the last entry).
pub fn allow_list_json(n: usize) -> String {
    policy_json(1, 1, n)
}

/// The JSON of a policy of one listener on 443 with `hosts` hosts, the last being
/// [`SERVER_NAME`] (the others `h<i>.bench.example`); that host requires client certificates
/// of trust domain [`TRUST_DOMAIN`] and has `routes` routes, the last being the prefix
/// `/orders` (the others `/r<i>`), whose allow-list has `principals` SPIFFE principals, the
/// last being [`CLIENT_ID`]. A request to `/orders/1` with SNI [`SERVER_NAME`] from the bench
/// client is therefore found through the last host, route and principal.
pub fn policy_json(hosts: usize, routes: usize, principals: usize) -> String {
    let mut ids: Vec<String> = (1..principals.max(1))
        .map(|i| format!("\"spiffe://bench.example/ns/n{i}/sa/s{i}\""))
        .collect();
    ids.push(format!("\"{CLIENT_ID}\""));
    let mut paths: Vec<String> = (1..routes.max(1))
        .map(|i| format!(r#"{{"path_prefix":"/r{i}"}}"#))
        .collect();
    paths.push(format!(
        r#"{{"path_prefix":"/orders","authorization":{{"principals":[{}]}}}}"#,
        ids.join(",")
    ));
    let mut all: Vec<String> = (1..hosts.max(1))
        .map(|i| {
            format!(r#"{{"hostnames":["h{i}.bench.example"],"routes":[{{"path_prefix":"/"}}]}}"#)
        })
        .collect();
    all.push(format!(
        r#"{{"hostnames":["{SERVER_NAME}"],
        "client_validation":{{"mode":"required","trust":[{{"name":"{TRUST_DOMAIN}","ca":[{{"file":"/ca.pem"}}]}}]}},
        "routes":[{}]}}"#,
        paths.join(",")
    ));
    format!(
        r#"{{"listeners":[{{"name":"l","port":443,"hosts":[{}]}}]}}"#,
        all.join(",")
    )
}

/// The policy of [`allow_list_json`].
pub fn allow_list_policy(n: usize) -> Policy {
    Policy::from_json(&allow_list_json(n)).expect("allow-list policy")
}

/// What our gateway does per connection after the handshake, outside rustls: the acceptor
/// copies the peer chain, judges a resumed session's chain again (as a full handshake would,
/// now), asks the verifier for the handshake's outcome and parses the peer identity; the layer
/// then decides the request (`/orders/1`, already normal, so once).
pub struct Gateway {
    /// The verifier of the server config.
    pub verifier: Arc<PolicyVerifier>,
    /// The policy deciding each connection's request.
    pub policy: Policy,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").finish_non_exhaustive()
    }
}

impl Gateway {
    /// Runs the post-handshake work on a completed server connection; true when allowed. Not
    /// inlined, for callgrind's `--toggle-collect` (`benches/scale.sh`).
    #[inline(never)]
    pub fn after_handshake(&self, server: &ServerConnection) -> bool {
        let chain: Vec<CertificateDer<'static>> = server
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        if server.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
            && let Some((leaf, rest)) = chain.split_first()
            && self
                .verifier
                .verify_client_cert(leaf, rest, rustls_pki_types::UnixTime::now())
                .is_err()
        {
            return false;
        }
        self.decide_chain(&chain)
    }

    /// The same, from a chain already copied out of the connection.
    pub fn decide_chain(&self, chain: &[CertificateDer<'static>]) -> bool {
        let verification = self.verifier.outcome_for_chain(chain);
        let identity = chain.first().and_then(|c| PeerIdentity::from_der(c).ok());
        let mut ctx = Context::new(443, &verification)
            .sni(SERVER_NAME)
            .host(SERVER_NAME)
            .path("/orders/1");
        if let Some(id) = &identity {
            ctx = ctx.identity(id);
        }
        self.policy.decide(&ctx).is_allow()
    }
}
