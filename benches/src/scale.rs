//! The scale curves: one full mTLS handshake and the gateway's decision after it, as one
//! dimension of the configuration grows and the others stay at their smallest.
//!
//! - [`Dimension::Anchors`]: the client's root among `n - 1` other CAs in the bundle, client
//!   chain leaf → intermediate → root;
//! - [`Dimension::AnchorsRootLeaf`]: the same bundles, a leaf issued by the root itself (no
//!   intermediate to remember: every handshake builds its path from the anchors);
//! - [`Dimension::CrlEntries`]: `n` revoked serials in the intermediate's CRL (whole chain
//!   checked);
//! - [`Dimension::Hosts`]: `n` hosts on the listener, the client's SNI naming the last;
//! - [`Dimension::Routes`]: `n` routes on the host, the request matching the last;
//! - [`Dimension::Principals`]: `n` principals in the route's allow-list, the client the last.
//!
//! The `scale` criterion bench reports thread CPU time; the `scale` binary runs handshakes for
//! `valgrind --tool=callgrind`, whose instruction counts do not depend on the machine's load
//! (`benches/scale.sh`).

use std::path::Path;
use std::sync::Arc;

use mtls_testkit::{IssuedBy, KeyAlg};

use crate::cases::Case;
use crate::fixtures::{
    CLIENT_ID, ClientPki, Gateway, ServerResumption, ca_bundle_pem_of, policy_json, server_config,
};

/// What grows along a curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// CA certificates in the bundle (chain through an intermediate).
    Anchors,
    /// CA certificates in the bundle (leaf issued by the root).
    AnchorsRootLeaf,
    /// Revoked serials in the intermediate's CRL.
    CrlEntries,
    /// Hosts (SNI names) on the listener.
    Hosts,
    /// Routes on the host.
    Routes,
    /// Principals in the route's allow-list.
    Principals,
}

impl Dimension {
    /// Every dimension, in report order.
    pub const ALL: [Self; 6] = [
        Self::Anchors,
        Self::AnchorsRootLeaf,
        Self::CrlEntries,
        Self::Hosts,
        Self::Routes,
        Self::Principals,
    ];

    /// Its name in bench ids and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Anchors => "anchors",
            Self::AnchorsRootLeaf => "anchors_root_leaf",
            Self::CrlEntries => "crl_entries",
            Self::Hosts => "hosts",
            Self::Routes => "routes",
            Self::Principals => "principals",
        }
    }

    /// The dimension called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The sizes of its curve, smallest first.
    pub fn sizes(self) -> &'static [usize] {
        match self {
            Self::Anchors | Self::AnchorsRootLeaf => &[1, 10, 100, 1_000, 10_000],
            Self::CrlEntries => &[0, 1_000, 10_000, 100_000, 1_000_000],
            Self::Hosts | Self::Routes | Self::Principals => &[1, 10, 100, 1_000, 10_000, 100_000],
        }
    }
}

/// Generated material too slow to make again for every process (a 10,000-CA bundle, a
/// 1,000,000-entry CRL), kept as files in `dir` when given.
fn cached(dir: Option<&Path>, name: &str, make: impl FnOnce() -> String) -> String {
    let Some(dir) = dir else { return make() };
    let path = dir.join(name);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return text;
    }
    let text = make();
    std::fs::create_dir_all(dir).expect("fixture directory");
    std::fs::write(&path, &text).expect("fixture file");
    text
}

/// The case of `dimension` at `size`: our verifier (ECDSA P-256 client chain), rustls'
/// stateful resumption left on but the client never resuming, and the gateway's work after
/// each handshake (chain copy, outcome, identity, `Policy::decide` on `/orders/1`).
///
/// The PKI is generated per process; `cache` keeps the bundles of *other* CAs (self-signed,
/// unrelated to it) between processes.
pub fn case(dimension: Dimension, size: usize, cache: Option<&Path>) -> Case {
    let alg = KeyAlg::EcdsaP256;
    let revoked = if dimension == Dimension::CrlEntries {
        size
    } else {
        0
    };
    let mut pki = ClientPki::with_revoked(alg, revoked);
    if dimension == Dimension::AnchorsRootLeaf {
        pki.leaf = pki
            .pki
            .client()
            .uri(CLIENT_ID)
            .issued_by(IssuedBy::Root)
            .issue();
    }
    let others = match dimension {
        Dimension::Anchors | Dimension::AnchorsRootLeaf if size > 1 => {
            cached(cache, &format!("cas-{}.pem", size - 1), || {
                ca_bundle_pem_of(size - 1, true)
            })
        }
        _ => String::new(),
    };
    let verifier = pki.our_verifier_among(true, &others);
    let (hosts, routes, principals) = match dimension {
        Dimension::Hosts => (size, 1, 1),
        Dimension::Routes => (1, size, 1),
        Dimension::Principals => (1, 1, size),
        _ => (1, 1, 1),
    };
    let policy = mtls_policy::Policy::from_json(&policy_json(hosts, routes, principals))
        .expect("scale policy");
    Case {
        name: dimension.name(),
        client: pki.client_config(false),
        server: server_config(Arc::clone(&verifier) as _, ServerResumption::Stateful),
        gateway: Some(Arc::new(Gateway { verifier, policy })),
        resumed: false,
    }
}
