//! The handshake cases the `handshake` and `handshake_ratio` benches share (see the
//! `handshake` bench for what each measures).

use std::sync::Arc;

use mtls_testkit::KeyAlg;
use rustls::{ClientConfig, ServerConfig};

use crate::fixtures::{
    ALLOW_LIST, ClientPki, Gateway, ServerResumption, allow_list_policy, server_config,
    server_config_prefer_aes128,
};
use crate::pipe::Pipe;

/// One way of handshaking: a client config, a server config, and the gateway's per-connection
/// work (or nothing, for rustls alone).
pub struct Case {
    /// Bench id, e.g. `ours_crl1000_allow10k`.
    pub name: &'static str,
    /// The client config (resuming or not).
    pub client: Arc<ClientConfig>,
    /// The server config.
    pub server: Arc<ServerConfig>,
    /// What runs after each handshake, if anything.
    pub gateway: Option<Arc<Gateway>>,
    /// Whether every handshake after the first resumes.
    pub resumed: bool,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Case {
    /// One connection: the handshake, then the gateway's per-connection work if any (its CPU
    /// time counted as the server's).
    pub fn run(&self, pipe: &mut Pipe) {
        let done = pipe.handshake(&self.client, &self.server);
        let t = pipe.now();
        if let Some(gateway) = &self.gateway {
            assert!(
                gateway.after_handshake(&done.server),
                "{}: denied",
                self.name
            );
        }
        assert_eq!(done.resumed(), self.resumed, "{}: resumption", self.name);
        drop(done.server);
        pipe.add_server_time(pipe.now().saturating_sub(t));
        drop(done.client);
    }
}

/// Every case for a client chain of `alg`, ready: each has done one full handshake (which
/// checks it works, and gives resuming clients a ticket). Prints the negotiated suite and group
/// of `raw` and `raw_prefer_aes128`.
pub fn cases(alg: KeyAlg, pipe: &mut Pipe) -> Vec<Case> {
    let label = crate::fixtures::label(alg);
    let pki = ClientPki::new(alg);
    let full = pki.client_config(false);
    let resuming = || pki.client_config(true);
    let raw = pki.raw_verifier(false);
    let raw_crl = pki.raw_verifier(true);
    let ours = pki.our_verifier(false);
    let ours_crl = pki.our_verifier(true);
    let gateway = Arc::new(Gateway {
        verifier: Arc::clone(&ours),
        policy: allow_list_policy(ALLOW_LIST),
    });
    let gateway_crl = Arc::new(Gateway {
        verifier: Arc::clone(&ours_crl),
        policy: allow_list_policy(ALLOW_LIST),
    });
    let stateful = ServerResumption::Stateful;
    let tickets = ServerResumption::Tickets;
    let case = |name, client: &Arc<ClientConfig>, server, gateway: Option<&Arc<Gateway>>| Case {
        name,
        client: Arc::clone(client),
        server,
        gateway: gateway.cloned(),
        resumed: name.contains("resumed"),
    };
    let cases = vec![
        case("raw", &full, server_config(raw.clone(), stateful), None),
        case("ours", &full, server_config(ours.clone(), stateful), None),
        case(
            "ours_allow10k",
            &full,
            server_config(ours.clone(), stateful),
            Some(&gateway),
        ),
        case(
            "raw_crl1000",
            &full,
            server_config(raw_crl.clone(), stateful),
            None,
        ),
        case(
            "ours_crl1000",
            &full,
            server_config(ours_crl.clone(), stateful),
            None,
        ),
        case(
            "ours_crl1000_allow10k",
            &full,
            server_config(ours_crl.clone(), stateful),
            Some(&gateway_crl),
        ),
        case(
            "raw_resumed",
            &resuming(),
            server_config(raw.clone(), stateful),
            None,
        ),
        case(
            "ours_resumed_allow10k",
            &resuming(),
            server_config(ours.clone(), stateful),
            Some(&gateway),
        ),
        case(
            "raw_resumed_ticket",
            &resuming(),
            server_config(raw.clone(), tickets),
            None,
        ),
        case(
            "ours_resumed_ticket_allow10k",
            &resuming(),
            server_config(ours, tickets),
            Some(&gateway),
        ),
        case(
            "raw_prefer_aes128",
            &full,
            server_config_prefer_aes128(raw),
            None,
        ),
    ];
    // A first handshake per case: checks it works, and gives resuming clients a ticket.
    for case in &cases {
        let done = pipe.handshake(&case.client, &case.server);
        assert!(!done.resumed(), "{label}/{}: first handshake", case.name);
        if matches!(case.name, "raw" | "raw_prefer_aes128") {
            let s = &done.server;
            eprintln!(
                "handshake/{label}/{}: {:?}, {:?}",
                case.name,
                s.negotiated_cipher_suite().map(|s| s.suite()),
                s.negotiated_key_exchange_group().map(|g| g.name()),
            );
        }
        if let Some(gateway) = &case.gateway {
            assert!(
                gateway.after_handshake(&done.server),
                "{label}/{}",
                case.name
            );
        }
    }
    pipe.take_server_time();
    cases
}
