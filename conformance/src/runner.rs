//! One testcase through one verifier: the gateway's path ([`Verifier::Gateway`]), the same under
//! the strict certificate profile ([`Verifier::GatewayStrict`]), or raw rustls-webpki for
//! comparison ([`Verifier::RawWebpki`]).
//!
//! The gateway path is the one `mtls-gateway check` and the handshake take:
//! - `trusted_certs` → [`CaBundle`] (which refuses anchors that are not CAs), `crls` →
//!   [`CrlSet`], then [`LoadedTrustDomain::new`] (which indexes the CRLs and refuses those it
//!   cannot). A refusal at load is a rejection by the gateway: it never accepts a chain it cannot
//!   load the trust for. It counts as a pass when the suite expects FAILURE, and is reported
//!   with its stage ([`Stage::Anchors`], [`Stage::Crls`]).
//! - The peer's chain is PEM-decoded to DER only, as rustls hands it to the verifier.
//! - CLIENT: [`PolicyVerifier::verify_chain`] (clientAuth EKU required, as the gateway's
//!   default); then each `expected_peer_names` entry must be a name of the leaf (e-mail:
//!   rfc822Name SAN, domain part case-insensitive; DNS / IP: as webpki matches them).
//! - SERVER: [`LoadedTrustDomain::verify_server`] with `expected_peer_name` (serverAuth EKU);
//!   without one, [`LoadedTrustDomain::verify_server_chain`] (the path only, as
//!   `mtls-gateway check --purpose server` without `--name`).
//! - Then the handshake's CertificateVerify is emulated: a leaf key of a type or size no
//!   signature scheme of the provider verifies fails the handshake ([`Stage::Handshake`]); when
//!   the testcase gives the leaf's private key, a signature made with it must verify.
//! - `max_chain_depth` counts intermediates (0: the leaf is issued by an anchor);
//!   [`DomainOptions::max_chain_depth`] counts the leaf too, so it is set to the suite's + 1.
//!
//! What the API cannot express is run the closest way and noted in
//! [`CaseResult::notes`], never skipped.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use mtls_core::{CaBundle, CrlSet, PeerIdentity};
use mtls_policy::{CertificateProfile, PeerVerification};
use mtls_tower::tls::{DomainOptions, LoadedTrustDomain, PolicyVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use serde::Serialize;

use crate::handshake;
use crate::suite::{Expected, Kind, PeerName, Testcase};
use crate::time::parse_rfc3339;

/// Which verifier a run exercises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verifier {
    /// The gateway's path (mtls-core loaders, mtls-tower trust domain and verifiers).
    Gateway,
    /// The gateway's path with the trust domain's `profile: strict`
    /// ([`CertificateProfile::Strict`]).
    GatewayStrict,
    /// `webpki::EndEntityCert::verify_for_usage` with the CRLs given to webpki, anchors taken
    /// as they are, no depth limit; DNS / IP names checked by webpki, e-mail names not at all.
    RawWebpki,
}

/// Where a verdict was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// The chain was accepted.
    Accepted,
    /// The trusted certificates were refused at load.
    Anchors,
    /// The CRLs were refused at load.
    Crls,
    /// The peer's certificates could not be decoded.
    Chain,
    /// Path verification rejected the chain.
    Verify,
    /// The chain verified, but not for the expected name.
    Name,
    /// The chain verified, but the handshake's CertificateVerify would fail with the leaf's
    /// key (the emulated CertificateVerify).
    Handshake,
    /// The testcase itself could not be run (e.g. an unreadable `validation_time`); always a
    /// failure of the runner.
    Testcase,
}

impl Stage {
    /// Whether this is a refusal to load the trust material.
    pub fn is_load_refusal(self) -> bool {
        matches!(self, Self::Anchors | Self::Crls)
    }
}

/// The outcome of one testcase.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// Testcase id.
    pub id: String,
    /// CLIENT or SERVER.
    pub kind: Kind,
    /// The testcase's feature tags.
    pub features: Vec<String>,
    /// What the suite expects.
    pub expected: Expected,
    /// Whether the verifier accepted the chain.
    pub accepted: bool,
    /// Whether that matches the expectation.
    pub passed: bool,
    /// Where the verdict was reached.
    pub stage: Stage,
    /// Why (the verifier's error), or `accepted`.
    pub reason: String,
    /// How the testcase was approximated where the API cannot express it.
    pub notes: Vec<String>,
}

type Verdict = Result<(), (Stage, String)>;

/// Runs testcases through one [`Verifier`].
pub struct Runner {
    verifier: Verifier,
    provider: Arc<CryptoProvider>,
    now: UnixTime,
}

impl Runner {
    /// A runner using the gateway's default crypto provider; testcases without a
    /// `validation_time` are verified at the time of this call.
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            provider: mtls_verify::crypto::default_provider(),
            now: UnixTime::now(),
        }
    }

    /// Runs one testcase.
    pub fn run(&self, case: &Testcase) -> CaseResult {
        let mut notes = Vec::new();
        let verdict = self.verdict(case, &mut notes);
        let accepted = verdict.is_ok();
        let (stage, reason) = verdict
            .err()
            .unwrap_or((Stage::Accepted, "accepted".into()));
        let passed =
            stage != Stage::Testcase && accepted == (case.expected_result == Expected::Success);
        CaseResult {
            id: case.id.clone(),
            kind: case.validation_kind,
            features: case.features.clone(),
            expected: case.expected_result,
            accepted,
            passed,
            stage,
            reason,
            notes,
        }
    }

    fn verdict(&self, case: &Testcase, notes: &mut Vec<String>) -> Verdict {
        let time = match &case.validation_time {
            Some(text) => parse_rfc3339(text)
                .map(|s| UnixTime::since_unix_epoch(Duration::from_secs(s)))
                .map_err(|e| (Stage::Testcase, e))?,
            None => {
                notes.push("no validation_time: verified now".into());
                self.now
            }
        };
        let leaf = CertificateDer::from_pem_slice(case.peer_certificate.as_bytes())
            .map_err(|e| (Stage::Chain, format!("peer_certificate: {e}")))?;
        let intermediates = case
            .untrusted_intermediates
            .iter()
            .enumerate()
            .map(|(i, pem)| {
                CertificateDer::from_pem_slice(pem.as_bytes())
                    .map_err(|e| (Stage::Chain, format!("untrusted_intermediates[{i}]: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        approximations(case, notes);
        match self.verifier {
            Verifier::Gateway | Verifier::GatewayStrict => {
                self.gateway(case, &leaf, &intermediates, time, notes)
            }
            Verifier::RawWebpki => self.raw_webpki(case, &leaf, &intermediates, time, notes),
        }
    }

    fn gateway(
        &self,
        case: &Testcase,
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        time: UnixTime,
        notes: &mut Vec<String>,
    ) -> Verdict {
        let bundle = CaBundle::from_bytes(joined(&case.trusted_certs).as_bytes(), "trusted_certs")
            .map_err(|e| (Stage::Anchors, e.to_string()))?;
        let crls = if case.crls.is_empty() {
            None
        } else {
            Some(
                CrlSet::from_bytes(joined(&case.crls).as_bytes(), "crls")
                    .map_err(|e| (Stage::Crls, e.to_string()))?,
            )
        };
        let mut options = DomainOptions::default();
        options.max_chain_depth = case
            .max_chain_depth
            .map(|n| u8::try_from(n.saturating_add(1)).unwrap_or(u8::MAX));
        options.require_client_auth_eku = case.validation_kind == Kind::Client;
        if self.verifier == Verifier::GatewayStrict {
            options.profile = CertificateProfile::Strict;
        }
        let domain =
            LoadedTrustDomain::new("limbo", bundle, crls.as_ref(), options, &self.provider)
                .map_err(|e| (Stage::Crls, e.to_string()))?;
        let verification = match case.validation_kind {
            Kind::Client => PolicyVerifier::builder(Arc::clone(&self.provider))
                .trust_domain(domain)
                .build()
                .map_err(|e| (Stage::Anchors, e.to_string()))?
                .verify_chain(leaf, intermediates, time),
            Kind::Server => match server_name(case, notes)? {
                Some(name) => {
                    domain.verify_server(&self.provider, leaf, intermediates, &name, time)
                }
                None => domain.verify_server_chain(&self.provider, leaf, intermediates, time),
            },
        };
        match verification {
            PeerVerification::Verified { .. } => {}
            PeerVerification::Failed { error, .. } => {
                return Err((Stage::Verify, error.to_string()));
            }
            other => return Err((Stage::Verify, format!("{other:?}"))),
        }
        if let Some(problem) = name_problem(leaf, &case.expected_peer_names, true) {
            return Err((Stage::Name, problem));
        }
        let key = case.peer_certificate_key.as_deref();
        match handshake::certificate_verify(&self.provider, leaf, key) {
            Ok(note) => {
                notes.extend(note);
                Ok(())
            }
            Err(e) => Err((Stage::Handshake, e)),
        }
    }

    fn raw_webpki(
        &self,
        case: &Testcase,
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        time: UnixTime,
        notes: &mut Vec<String>,
    ) -> Verdict {
        let trusted = case
            .trusted_certs
            .iter()
            .map(|pem| CertificateDer::from_pem_slice(pem.as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| (Stage::Anchors, e.to_string()))?;
        let anchors = trusted
            .iter()
            .map(webpki::anchor_from_trusted_cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| (Stage::Anchors, e.to_string()))?;
        let crl_ders = case
            .crls
            .iter()
            .map(|pem| CertificateRevocationListDer::from_pem_slice(pem.as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| (Stage::Crls, e.to_string()))?;
        let crls = crl_ders
            .iter()
            .map(|der| webpki::BorrowedCertRevocationList::from_der(der).map(Into::into))
            .collect::<Result<Vec<webpki::CertRevocationList<'_>>, _>>()
            .map_err(|e| (Stage::Crls, e.to_string()))?;
        let crl_refs: Vec<_> = crls.iter().collect();
        let revocation = match webpki::RevocationOptionsBuilder::new(&crl_refs) {
            Ok(builder) => Some(builder.build()),
            Err(_) => None, // no CRLs
        };
        let cert = webpki::EndEntityCert::try_from(leaf)
            .map_err(|e| (Stage::Verify, format!("end-entity certificate: {e}")))?;
        let algs = self.provider.signature_verification_algorithms.all;
        let usage = match case.validation_kind {
            Kind::Client => webpki::KeyUsage::client_auth(),
            Kind::Server => webpki::KeyUsage::server_auth(),
        };
        cert.verify_for_usage(algs, &anchors, intermediates, time, usage, revocation, None)
            .map_err(|e| (Stage::Verify, e.to_string()))?;
        if case.validation_kind == Kind::Server
            && let Some(name) = server_name(case, notes)?
        {
            cert.verify_is_valid_for_subject_name(&name)
                .map_err(|e| (Stage::Name, e.to_string()))?;
        }
        if case.expected_peer_names.iter().any(|n| n.kind == "RFC822") {
            notes.push("raw webpki: e-mail names not checked (webpki has no API for them)".into());
        }
        match name_problem(leaf, &case.expected_peer_names, false) {
            Some(problem) => Err((Stage::Name, problem)),
            None => Ok(()),
        }
    }
}

/// Notes for constraints the gateway's API has no setting for; the testcase still runs.
fn approximations(case: &Testcase, notes: &mut Vec<String>) {
    if !case.signature_algorithms.is_empty() {
        notes.push(format!(
            "signature_algorithms {:?} not expressible: the provider's algorithms are used",
            case.signature_algorithms
        ));
    }
    if !case.key_usage.is_empty() {
        notes.push(format!(
            "key_usage {:?} not expressible: the leaf's keyUsage is not constrained",
            case.key_usage
        ));
    }
    let natural = match case.validation_kind {
        Kind::Client => "clientAuth",
        Kind::Server => "serverAuth",
    };
    if case.extended_key_usage.iter().any(|e| e != natural) {
        notes.push(format!(
            "extended_key_usage {:?} not expressible: verified for {natural}",
            case.extended_key_usage
        ));
    }
}

fn joined(pems: &[String]) -> String {
    let mut all = String::new();
    for pem in pems {
        all.push_str(pem);
        all.push('\n');
    }
    all
}

/// The name a SERVER testcase connects to; `None` without `expected_peer_name`: limbo then
/// judges the path alone, and no name is checked.
fn server_name(
    case: &Testcase,
    notes: &mut Vec<String>,
) -> Result<Option<ServerName<'static>>, (Stage, String)> {
    let Some(name) = &case.expected_peer_name else {
        notes.push("no expected_peer_name: the path is verified without a name check".into());
        return Ok(None);
    };
    to_server_name(name).map(Some).map_err(|e| (Stage::Name, e))
}

fn to_server_name(name: &PeerName) -> Result<ServerName<'static>, String> {
    match name.kind.as_str() {
        "DNS" => ServerName::try_from(name.value.clone())
            .map_err(|e| format!("{name}: not a server name the gateway can connect to: {e}")),
        "IP" => name
            .value
            .parse::<IpAddr>()
            .map(ServerName::from)
            .map_err(|e| format!("{name}: not an IP address: {e}")),
        _ => Err(format!(
            "{name}: a server is connected to by DNS name or IP"
        )),
    }
}

/// Every name must be one the leaf holds (as `mtls-gateway check --name` checks): DNS and IP
/// as webpki matches server names, e-mail against the rfc822Name SANs (domain part
/// case-insensitive) when `emails`.
fn name_problem(leaf: &CertificateDer<'_>, names: &[PeerName], emails: bool) -> Option<String> {
    if names.is_empty() {
        return None;
    }
    let cert = match webpki::EndEntityCert::try_from(leaf) {
        Ok(cert) => cert,
        Err(e) => return Some(format!("end-entity certificate: {e}")),
    };
    let identity = PeerIdentity::from_der(leaf);
    for name in names {
        let ok = match name.kind.as_str() {
            "DNS" | "IP" => to_server_name(name)
                .is_ok_and(|n| cert.verify_is_valid_for_subject_name(&n).is_ok()),
            "RFC822" if !emails => true,
            "RFC822" => identity
                .as_ref()
                .is_ok_and(|id| id.emails().iter().any(|e| email_eq(e, &name.value))),
            _ => false,
        };
        if !ok {
            return Some(format!("certificate is not valid for {name}"));
        }
    }
    None
}

fn email_eq(a: &str, b: &str) -> bool {
    match (a.rsplit_once('@'), b.rsplit_once('@')) {
        (Some((la, da)), Some((lb, db))) => la == lb && da.eq_ignore_ascii_case(db),
        _ => false,
    }
}
