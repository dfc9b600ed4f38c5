//! The PKI: a root CA, an intermediate CA, and caches.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SerialNumber,
};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;

use crate::crl::CrlBuilder;
use crate::key::{KeyAlg, KeyMaterial};
use crate::leaf::{Leaf, LeafBuilder};

/// The SPIFFE ID carried (as a URI SAN) by [`Pki::default_client`].
pub const DEFAULT_CLIENT_SPIFFE_ID: &str = "spiffe://cluster.local/ns/default/sa/client";

/// The organisation (`O=`) put in every subject this kit generates, unless overridden.
pub const ORGANIZATION: &str = "mtls-testkit";

pub(crate) const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Which CA signs a leaf (and so, which CRL covers it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IssuedBy {
    /// Signed by the intermediate CA; the chain is `[leaf, intermediate]` (the default).
    #[default]
    Intermediate,
    /// Signed directly by the root CA; the chain is `[leaf]`.
    Root,
}

/// A certificate authority of a [`Pki`]: its certificate and key.
pub struct Ca {
    name: String,
    cert: CertificateDer<'static>,
    key: KeyMaterial,
    serial: Vec<u8>,
    pub(crate) issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("name", &self.name)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Ca {
    fn generate(
        name: String,
        alg: KeyAlg,
        path_len: BasicConstraints,
        parent: Option<&Self>,
    ) -> Self {
        let key = alg.generate();
        let serial = random_serial();
        let now = SystemTime::now();
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, name.as_str());
        params
            .distinguished_name
            .push(DnType::OrganizationName, ORGANIZATION);
        params.is_ca = IsCa::Ca(path_len);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = to_time(now - DAY);
        params.not_after = to_time(now + 3650 * DAY);
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.use_authority_key_identifier_extension = parent.is_some();
        let cert = match parent {
            Some(parent) => params.signed_by(&key, &parent.issuer),
            None => params.self_signed(&key),
        }
        .unwrap_or_else(|e| panic!("mtls-testkit: signing CA {name:?} failed: {e}"));
        Self {
            cert: cert.der().clone(),
            key: KeyMaterial::from_key_pair(alg, &key),
            serial,
            issuer: Issuer::new(params, key),
            name,
        }
    }

    /// The subject common name, e.g. `mtls-testkit Root CA 1`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        crate::pem::encode("CERTIFICATE", &self.cert)
    }

    /// The CA's private key.
    pub fn key(&self) -> &KeyMaterial {
        &self.key
    }

    /// The serial number of the CA certificate (big-endian bytes).
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }
}

/// A generated PKI: root CA → intermediate CA (path length 0), from which leaves are issued.
///
/// Each `Pki` is independent: certificates of one do not chain to another's root, and every
/// CA has a distinct subject name (`mtls-testkit Root CA <n>`), so a leaf of another `Pki` is
/// rejected as an *unknown issuer*, not as a bad signature.
///
/// Generating ECDSA and Ed25519 PKIs takes milliseconds; RSA takes much longer. Use
/// [`Pki::shared`] / [`Pki::shared_with`] to generate once per test binary.
pub struct Pki {
    alg: KeyAlg,
    root: Ca,
    intermediate: Ca,
    default_server: OnceLock<Leaf>,
    default_client: OnceLock<Leaf>,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("alg", &self.alg)
            .field("root", &self.root)
            .field("intermediate", &self.intermediate)
            .finish_non_exhaustive()
    }
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

static SHARED: [OnceLock<Pki>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
static SHARED_UNRELATED: OnceLock<Pki> = OnceLock::new();
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Pki {
    /// Generates a fresh ECDSA P-256 PKI.
    pub fn new() -> Self {
        Self::with_alg(KeyAlg::EcdsaP256)
    }

    /// Generates a fresh PKI whose CAs and (by default) leaves use `alg`.
    pub fn with_alg(alg: KeyAlg) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let root = Ca::generate(
            format!("mtls-testkit Root CA {id}"),
            alg,
            BasicConstraints::Unconstrained,
            None,
        );
        let intermediate = Ca::generate(
            format!("mtls-testkit Intermediate CA {id}"),
            alg,
            BasicConstraints::Constrained(0),
            Some(&root),
        );
        Self {
            alg,
            root,
            intermediate,
            default_server: OnceLock::new(),
            default_client: OnceLock::new(),
        }
    }

    /// The ECDSA P-256 PKI shared by every test of this process (generated on first use).
    pub fn shared() -> &'static Self {
        Self::shared_with(KeyAlg::EcdsaP256)
    }

    /// The PKI of algorithm `alg` shared by every test of this process (generated on first
    /// use). This is the cheap way to test RSA.
    pub fn shared_with(alg: KeyAlg) -> &'static Self {
        let slot = match alg {
            KeyAlg::EcdsaP256 => &SHARED[0],
            KeyAlg::Rsa2048 => &SHARED[1],
            KeyAlg::Ed25519 => &SHARED[2],
        };
        slot.get_or_init(|| Self::with_alg(alg))
    }

    /// A second shared ECDSA PKI, unrelated to [`Pki::shared`]: its leaves must be rejected
    /// with `UnknownIssuer` by anything trusting the shared root.
    pub fn shared_unrelated() -> &'static Self {
        SHARED_UNRELATED.get_or_init(Self::new)
    }

    /// The algorithm of the CAs, and the default for leaves.
    pub fn alg(&self) -> KeyAlg {
        self.alg
    }

    /// The root CA (the trust anchor).
    pub fn root(&self) -> &Ca {
        &self.root
    }

    /// The intermediate CA (signed by the root, path length 0).
    pub fn intermediate(&self) -> &Ca {
        &self.intermediate
    }

    /// The CA that signs leaves issued with `by`.
    pub fn ca(&self, by: IssuedBy) -> &Ca {
        match by {
            IssuedBy::Root => &self.root,
            IssuedBy::Intermediate => &self.intermediate,
        }
    }

    /// A rustls root store holding only this PKI's root.
    pub fn root_store(&self) -> RootCertStore {
        let mut store = RootCertStore::empty();
        store
            .add(self.root.cert.clone())
            .expect("mtls-testkit: rustls rejected the generated root");
        store
    }

    /// Starts a server certificate: CN `localhost`, SANs DNS `localhost` and IP `127.0.0.1`,
    /// EKU serverAuth, valid now, issued by the intermediate.
    pub fn server(&self) -> LeafBuilder<'_> {
        LeafBuilder::new(self, "localhost", crate::Eku::ServerAuth)
            .dns("localhost")
            .ip([127, 0, 0, 1].into())
    }

    /// Starts a server certificate for exactly `hosts` (SNI names; entries that parse as IP
    /// addresses become IP SANs). CN is the first host. EKU serverAuth.
    ///
    /// # Panics
    /// If `hosts` is empty.
    pub fn server_for(&self, hosts: &[&str]) -> LeafBuilder<'_> {
        let first = hosts
            .first()
            .expect("mtls-testkit: server_for needs at least one host");
        hosts.iter().fold(
            LeafBuilder::new(self, first, crate::Eku::ServerAuth),
            |b, host| match host.parse() {
                Ok(ip) => b.ip(ip),
                Err(_) => b.dns(host),
            },
        )
    }

    /// Starts a client certificate: CN `client`, O `mtls-testkit`, EKU clientAuth, no SAN,
    /// valid now, issued by the intermediate. Add SANs with the builder.
    pub fn client(&self) -> LeafBuilder<'_> {
        LeafBuilder::new(self, "client", crate::Eku::ClientAuth)
    }

    /// `self.server().issue()`, issued once per `Pki` and cached.
    pub fn default_server(&self) -> &Leaf {
        self.default_server.get_or_init(|| self.server().issue())
    }

    /// `self.client().uri(DEFAULT_CLIENT_SPIFFE_ID).issue()`, issued once per `Pki` and
    /// cached.
    pub fn default_client(&self) -> &Leaf {
        self.default_client
            .get_or_init(|| self.client().uri(DEFAULT_CLIENT_SPIFFE_ID).issue())
    }

    /// Starts a pair of CRLs (root's and intermediate's); see [`CrlBuilder`].
    pub fn crls(&self) -> CrlBuilder<'_> {
        CrlBuilder::new(self)
    }
}

/// rcgen wants `time::OffsetDateTime`; the API speaks `SystemTime`.
pub(crate) fn to_time(t: SystemTime) -> time::OffsetDateTime {
    time::OffsetDateTime::from(t)
}

/// 16 random bytes, positive, no leading zero byte (what real CAs issue).
pub(crate) fn random_serial() -> Vec<u8> {
    let state = std::collections::hash_map::RandomState::new();
    let mut out = Vec::with_capacity(16);
    for i in 0..2u64 {
        let mut h = state.build_hasher();
        h.write_u64(i);
        h.write_u128(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        h.write_u64(NEXT_ID.load(Ordering::Relaxed));
        out.extend_from_slice(&h.finish().to_be_bytes());
    }
    out[0] = (out[0] & 0x7f) | 0x40;
    out
}

/// `n` as a minimal positive big-endian integer.
pub(crate) fn serial_bytes(n: u64) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    bytes[skip..].to_vec()
}
