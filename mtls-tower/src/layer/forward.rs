//! Forwarding the verified identity upstream, after removing whatever the client sent.
//!
//! Headers, as set by [`MtlsLayer`](super::MtlsLayer) on an allowed request:
//!
//! | format | header | value |
//! |---|---|---|
//! | Envoy XFCC ([`XfccConfig`]) | `x-forwarded-client-cert` | `By=<uri>;Hash=<sha256 hex>;Subject="<RFC 4514>";URI=<uri SAN>;Cert="<url-encoded PEM>";Chain="<url-encoded PEM chain>";DNS=<dns SAN>` (SANITIZE_SET: only when the peer has an identity) |
//! | RFC 9440 | `client-cert` | `:<base64 DER of the leaf>:` |
//! | RFC 9440 | `client-cert-chain` | `:<base64 DER>:, :<base64 DER>:` (the certificates after the leaf, as presented; absent when none) |
//! | nginx style | `ssl-client-verify` | `SUCCESS` (verified identity), `FAILED:<reason>` (the certificate failed verification and was let through: a `danger` option, a CRL treatment, audit mode), else `NONE` (always set) |
//! | nginx style | `ssl-client-subject-dn`, `ssl-client-issuer-dn` | RFC 4514 subject and issuer of the leaf |
//! | nginx style | `ssl-client-policies` | the certificate policies valid for the verified path ([`PeerIdentity::certificate_policies`]): `any`, or the policy OIDs as `2.16.840.1.101.3.2.1.3.13, 2.16.840.1.101.3.2.1.3.7`; absent when none is |

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use mtls_core::{CertificatePolicies, PeerIdentity};
use mtls_policy::PeerVerification;
use rustls_pki_types::CertificateDer;

use super::xfcc::XfccElement;
use crate::ConnectionInfo;
use crate::connection::CachedXfcc;

/// `x-forwarded-client-cert` (Envoy).
pub const X_FORWARDED_CLIENT_CERT: HeaderName = HeaderName::from_static("x-forwarded-client-cert");
/// `client-cert` (RFC 9440).
pub const CLIENT_CERT: HeaderName = HeaderName::from_static("client-cert");
/// `client-cert-chain` (RFC 9440).
pub const CLIENT_CERT_CHAIN: HeaderName = HeaderName::from_static("client-cert-chain");
/// `ssl-client-verify` (nginx `$ssl_client_verify`).
pub const SSL_CLIENT_VERIFY: HeaderName = HeaderName::from_static("ssl-client-verify");
/// `ssl-client-subject-dn` (nginx `$ssl_client_s_dn`).
pub const SSL_CLIENT_SUBJECT_DN: HeaderName = HeaderName::from_static("ssl-client-subject-dn");
/// `ssl-client-issuer-dn` (nginx `$ssl_client_i_dn`).
pub const SSL_CLIENT_ISSUER_DN: HeaderName = HeaderName::from_static("ssl-client-issuer-dn");
/// `ssl-client-policies`: the certificate policies valid for the verified path, as
/// [`CertificatePolicies`] displays them (`any`, or the OIDs
/// separated by `, `); not set when no policy is valid.
pub const SSL_CLIENT_POLICIES: HeaderName = HeaderName::from_static("ssl-client-policies");

/// Which identity headers the layer sets upstream. Inbound identity headers are always
/// removed first, whatever is configured (see [`strip_identity_headers`]).
///
/// The default is Envoy's XFCC with [`XfccConfig::default`] (Istio's gateway default), and
/// nothing else.
///
/// ```
/// use mtls_tower::layer::{ForwardIdentity, XfccConfig};
///
/// // Envoy XFCC with By and the chain, RFC 9440 headers and ssl-client-verify.
/// let forward = ForwardIdentity::none()
///     .xfcc(XfccConfig::default().by("spiffe://cluster.local/ns/gw/sa/gateway").chain(true))
///     .rfc9440()
///     .ssl_client();
/// # let _ = forward;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardIdentity {
    xfcc: Option<XfccConfig>,
    rfc9440: bool,
    ssl_client: bool,
}

impl Default for ForwardIdentity {
    fn default() -> Self {
        Self::none().xfcc(XfccConfig::default())
    }
}

impl ForwardIdentity {
    /// The headers a configuration's `forward_identity` asks for.
    ///
    /// ```
    /// use mtls_policy::ForwardIdentityConfig;
    /// use mtls_tower::layer::ForwardIdentity;
    ///
    /// let none = ForwardIdentity::from_config(&ForwardIdentityConfig::none());
    /// assert_eq!(none, ForwardIdentity::none());
    /// ```
    pub fn from_config(config: &mtls_policy::ForwardIdentityConfig) -> Self {
        let mut forward = Self::none();
        if let Some(fields) = &config.xfcc {
            forward = forward.xfcc(XfccConfig::from_fields(fields));
        }
        if config.rfc9440 {
            forward = forward.rfc9440();
        }
        if config.ssl_client {
            forward = forward.ssl_client();
        }
        forward
    }

    /// Set nothing: only remove inbound identity headers (Envoy's `SANITIZE`).
    pub fn none() -> Self {
        Self {
            xfcc: None,
            rfc9440: false,
            ssl_client: false,
        }
    }

    /// Set `x-forwarded-client-cert` with these elements (Envoy's `SANITIZE_SET`).
    pub fn xfcc(mut self, config: XfccConfig) -> Self {
        self.xfcc = Some(config);
        self
    }

    /// Set RFC 9440 `client-cert` and `client-cert-chain`.
    pub fn rfc9440(mut self) -> Self {
        self.rfc9440 = true;
        self
    }

    /// Set `ssl-client-verify`, `ssl-client-subject-dn`, `ssl-client-issuer-dn` and
    /// `ssl-client-policies`.
    pub fn ssl_client(mut self) -> Self {
        self.ssl_client = true;
        self
    }

    /// Removes inbound identity headers, then sets the configured ones for `identity` (the
    /// identity the policy let through; `None` for an anonymous peer), its `chain` as
    /// presented (leaf first) and the `verification` outcome.
    ///
    /// A value that cannot be a header value is left out, with a log line.
    pub fn apply(
        &self,
        headers: &mut HeaderMap,
        identity: Option<&PeerIdentity>,
        chain: &[CertificateDer<'_>],
        verification: &PeerVerification,
    ) {
        self.apply_memo(headers, identity, chain, verification, None);
    }

    /// [`apply`](Self::apply), taking the XFCC value of an identity seen before from `memo`.
    pub(crate) fn apply_memo(
        &self,
        headers: &mut HeaderMap,
        identity: Option<&PeerIdentity>,
        chain: &[CertificateDer<'_>],
        verification: &PeerVerification,
        memo: Option<(&XfccMemo, &ConnectionInfo)>,
    ) {
        strip_identity_headers(headers);
        // The chain belongs to this identity only if it starts with its certificate (compared
        // only when a header carries the chain).
        let needs_chain = self.rfc9440 || self.xfcc.as_ref().is_some_and(|c| c.chain);
        let chain = match (identity, chain.first()) {
            (Some(id), Some(leaf)) if needs_chain && leaf.as_ref() == id.der().as_ref() => chain,
            _ => &[],
        };
        if let (Some(cfg), Some(id)) = (&self.xfcc, identity) {
            match memo.filter(|_| !cfg.cert && !cfg.chain) {
                // The element depends on the identity alone: format it once per certificate.
                Some((memo, conn)) => {
                    let format = || cfg.element(id, chain).to_string();
                    if let Some(value) = memo.get(id, conn, format) {
                        headers.insert(X_FORWARDED_CLIENT_CERT, value);
                    }
                }
                None => set(
                    headers,
                    X_FORWARDED_CLIENT_CERT,
                    cfg.element(id, chain).to_string(),
                ),
            }
        }
        if let (true, Some(id)) = (self.rfc9440, identity) {
            set(headers, CLIENT_CERT, sf_binary(id.der()));
            if chain.len() > 1 {
                let list: Vec<String> = chain[1..].iter().map(|c| sf_binary(c)).collect();
                set(headers, CLIENT_CERT_CHAIN, list.join(", "));
            }
        }
        if self.ssl_client {
            let verify = match (identity, verification) {
                (_, PeerVerification::Failed { error, .. }) => format!(
                    "FAILED:{}",
                    error.to_string().replace(|c: char| c.is_control(), " ")
                ),
                (Some(_), PeerVerification::Verified { .. }) => "SUCCESS".to_owned(),
                _ => "NONE".to_owned(),
            };
            set(headers, SSL_CLIENT_VERIFY, verify);
            if let Some(id) = identity {
                set(headers, SSL_CLIENT_SUBJECT_DN, id.subject().to_owned());
                set(headers, SSL_CLIENT_ISSUER_DN, id.issuer().to_owned());
                let policies = id.certificate_policies();
                if *policies != CertificatePolicies::None {
                    set(headers, SSL_CLIENT_POLICIES, policies.to_string());
                }
            }
        }
    }
}

/// The XFCC values of the identities a layer has seen, by certificate hash: formatting an
/// element (hash hex, subject, SANs, quoting) costs more than the rest of the layer's work on a
/// kept-alive connection. Bounded; cleared when full.
///
/// A value is also kept with its connection (the first memo to format it there keeps it), so
/// that the next requests of a kept-alive connection find it without a lock or a hash.
#[derive(Debug)]
pub(crate) struct XfccMemo {
    /// Which memo this is, for the values it left with connections: unique in the process.
    id: u64,
    values: std::sync::Mutex<std::collections::HashMap<[u8; 32], HeaderValue>>,
}

impl Default for XfccMemo {
    fn default() -> Self {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Self {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            values: std::sync::Mutex::default(),
        }
    }
}

impl XfccMemo {
    const CAPACITY: usize = 4096;

    /// The value for `id` on `conn`: the one kept with the connection, else the memo's, else
    /// formatted by `format` (and kept in both); `None` (with a log line) when it cannot be a
    /// header value.
    fn get(
        &self,
        id: &PeerIdentity,
        conn: &ConnectionInfo,
        format: impl FnOnce() -> String,
    ) -> Option<HeaderValue> {
        let key = *id.cert_sha256();
        let slot = conn.xfcc_slot();
        if let Some(kept) = slot.get()
            && kept.memo == self.id
            && kept.cert_sha256 == key
        {
            return Some(kept.value.clone());
        }
        let value = self.get_shared(key, format)?;
        let _ = slot.set(CachedXfcc {
            memo: self.id,
            cert_sha256: key,
            value: value.clone(),
        });
        Some(value)
    }

    fn get_shared(&self, key: [u8; 32], format: impl FnOnce() -> String) -> Option<HeaderValue> {
        if let Some(value) = self.values.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Some(value);
        }
        let value = match HeaderValue::try_from(format()) {
            Ok(value) => value,
            Err(_) => {
                tracing::warn!(
                    header = %X_FORWARDED_CLIENT_CERT,
                    "identity value is not a valid header value; header left out"
                );
                return None;
            }
        };
        if let Ok(mut map) = self.values.lock() {
            if map.len() >= Self::CAPACITY {
                map.clear();
            }
            map.insert(key, value.clone());
        }
        Some(value)
    }
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: String) {
    match HeaderValue::try_from(value) {
        Ok(v) => {
            headers.insert(name, v);
        }
        Err(_) => {
            tracing::warn!(header = %name, "identity value is not a valid header value; header left out")
        }
    }
}

/// An RFC 8941 byte sequence: `:base64:`.
fn sf_binary(der: &[u8]) -> String {
    format!(":{}:", STANDARD.encode(der))
}

/// A DER certificate as PEM, 64 columns, trailing newline (what OpenSSL writes).
pub(crate) fn pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 60);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Which XFCC elements to set, in Envoy's terms (`set_current_client_cert_details` plus the
/// connection manager's `By` and `Hash`).
///
/// The default (Istio's gateway default) is `Hash`, `Subject`, `URI` and `DNS`.
///
/// ```
/// use mtls_tower::layer::XfccConfig;
///
/// let all = XfccConfig::default().by("spiffe://example.org/gateway").cert(true).chain(true);
/// let hash_only = XfccConfig::default().subject(false).uri(false).dns(false);
/// # let _ = (all, hash_only);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XfccConfig {
    by: Option<String>,
    hash: bool,
    subject: bool,
    uri: bool,
    cert: bool,
    chain: bool,
    dns: bool,
}

impl Default for XfccConfig {
    /// The configuration's default fields ([`XfccFields::default`](mtls_policy::XfccFields)).
    fn default() -> Self {
        Self::from_fields(&mtls_policy::XfccFields::default())
    }
}

impl XfccConfig {
    /// The elements a configuration's `forward_identity.xfcc` names.
    pub fn from_fields(fields: &mtls_policy::XfccFields) -> Self {
        Self {
            by: fields.by.clone(),
            hash: fields.hash,
            subject: fields.subject,
            uri: fields.uri,
            cert: fields.cert,
            chain: fields.chain,
            dns: fields.dns,
        }
    }

    /// `By=<uri>`: this proxy's own identity (Envoy uses the URI SANs of its certificate).
    pub fn by(mut self, uri: impl Into<String>) -> Self {
        self.by = Some(uri.into());
        self
    }
    /// `Hash=<sha256 hex>` (default on).
    pub fn hash(mut self, on: bool) -> Self {
        self.hash = on;
        self
    }
    /// `Subject="<RFC 4514>"`, written even when empty, like Envoy (default on).
    pub fn subject(mut self, on: bool) -> Self {
        self.subject = on;
        self
    }
    /// `URI=<san>` for each URI SAN; one empty `URI=` without any, like Envoy (default on).
    pub fn uri(mut self, on: bool) -> Self {
        self.uri = on;
        self
    }
    /// `Cert="<url-encoded PEM>"` (default off).
    pub fn cert(mut self, on: bool) -> Self {
        self.cert = on;
        self
    }
    /// `Chain="<url-encoded PEM>"`: the chain as presented, leaf included (default off).
    pub fn chain(mut self, on: bool) -> Self {
        self.chain = on;
        self
    }
    /// `DNS=<san>` for each DNS SAN (default on).
    pub fn dns(mut self, on: bool) -> Self {
        self.dns = on;
        self
    }

    /// The element for a peer; `chain` is its chain as presented, leaf first (the leaf alone
    /// is used when it is empty).
    pub fn element(&self, id: &PeerIdentity, chain: &[CertificateDer<'_>]) -> XfccElement {
        let mut e = XfccElement::default();
        e.by.extend(self.by.clone());
        if self.hash {
            e.hash = Some(id.cert_sha256_hex());
        }
        if self.subject {
            e.subject = Some(id.subject().to_owned());
        }
        if self.uri {
            e.uri = id.uris().to_vec();
            if e.uri.is_empty() {
                e.uri.push(String::new());
            }
        }
        if self.cert {
            e.cert = Some(pem(id.der()));
        }
        if self.chain {
            e.chain = Some(if chain.is_empty() {
                pem(id.der())
            } else {
                chain.iter().map(|c| pem(c)).collect()
            });
        }
        if self.dns {
            e.dns = id.dns_names().to_vec();
        }
        e
    }
}

/// Whether a header name carries a client identity that only this layer may set:
/// `x-forwarded-client-cert`, `client-cert`, `client-cert-chain`, `ssl-client-*` and
/// `x-ssl-client-*`, with `_` read as `-` (CGI-style upstreams map both to the same variable).
pub fn is_identity_header(name: &HeaderName) -> bool {
    let name = name.as_str();
    let matches = |n: &str| {
        matches!(
            n,
            "x-forwarded-client-cert" | "client-cert" | "client-cert-chain"
        ) || n.starts_with("ssl-client-")
            || n.starts_with("x-ssl-client-")
    };
    if name.contains('_') {
        matches(&name.replace('_', "-"))
    } else {
        matches(name)
    }
}

/// Removes every inbound identity header (see [`is_identity_header`]): a client must never
/// forge its identity. Header names are case-insensitive (the `http` crate stores them in
/// lowercase).
pub fn strip_identity_headers(headers: &mut HeaderMap) {
    let forged: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_identity_header(n))
        .cloned()
        .collect();
    for name in forged {
        headers.remove(&name);
    }
}
