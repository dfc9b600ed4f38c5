//! The trust anchors of a domain: what the checks after path building need to know of each
//! that rustls-webpki does not keep, and the index by subject that path building looks
//! candidates up in.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use mtls_core::CaCertificate;
use mtls_policy::CertificateProfile;
use rustls::DistinguishedName;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};

use super::LoadedTrustDomain;
use crate::{chain, der};

/// What the checks after path building need to know of a trust anchor that rustls-webpki
/// does not keep (an anchor is only a name and a key there), resolved over every bundle
/// certificate with the anchor's name and key: a renewed root counts as the same anchor.
#[derive(Debug, Clone)]
pub(crate) struct AnchorFacts {
    /// The latest `notAfter` among those certificates: a path through an anchor all of whose
    /// certificates expired is refused, as OpenSSL and Go do.
    pub(crate) not_after: UnixTime,
    /// Why none of those certificates may anchor a path under the RFC 5280 profile checks
    /// ([`chain::anchor_faults`]; the first certificate's reason); `None` when one may.
    pub(crate) fault: Option<String>,
    /// Why none of them may anchor a path for the server purpose: `fault`, or under the
    /// strict profile its CA/Browser Forum rules; `None` when one may.
    pub(crate) server_fault: Option<String>,
}

impl AnchorFacts {
    /// The facts of each anchor of `anchors` (made from `certs`, in the same order) under
    /// `profile`. Faults are logged once, per certificate.
    pub(super) fn resolve(
        anchors: &[TrustAnchor<'_>],
        certs: &[CaCertificate],
        domain: &str,
        profile: CertificateProfile,
    ) -> Vec<Self> {
        let own: Vec<Self> = certs
            .iter()
            .map(|cert| {
                let chain::AnchorFaults { any: fault, server } =
                    chain::anchor_faults(cert.der(), profile);
                if let Some(fault) = &fault {
                    tracing::warn!(
                        trust_domain = %domain,
                        "{fault}: no chain through this CA certificate will be accepted"
                    );
                }
                if let Some(server) = &server {
                    tracing::warn!(
                        trust_domain = %domain,
                        "{server}: no server chain through this CA certificate will be accepted"
                    );
                }
                let since = cert
                    .not_after()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                Self {
                    not_after: UnixTime::since_unix_epoch(since),
                    server_fault: fault.clone().or(server),
                    fault,
                }
            })
            .collect();
        // Certificates of the same name and key, merged: the latest expiry, and no fault as
        // soon as one has none.
        fn key<'a>(anchor: &'a TrustAnchor<'_>) -> (&'a [u8], &'a [u8]) {
            (
                anchor.subject.as_ref(),
                anchor.subject_public_key_info.as_ref(),
            )
        }
        let mut merged: HashMap<(&[u8], &[u8]), Self> = HashMap::new();
        for (anchor, facts) in anchors.iter().zip(&own) {
            merged
                .entry(key(anchor))
                .and_modify(|m| {
                    if facts.not_after.as_secs() > m.not_after.as_secs() {
                        m.not_after = facts.not_after;
                    }
                    if facts.fault.is_none() {
                        m.fault = None;
                    }
                    if facts.server_fault.is_none() {
                        m.server_fault = None;
                    }
                })
                .or_insert_with(|| facts.clone());
        }
        anchors
            .iter()
            .zip(own)
            .map(|(anchor, own)| merged.get(&key(anchor)).cloned().unwrap_or(own))
            .collect()
    }
}

/// Orders a domain's anchors (and their facts, index for index) by subject, keeping the
/// bundle's order among anchors of one name: the anchors a chain may end at are then one run
/// of the slice, found by binary search ([`LoadedTrustDomain::candidates_for`]).
pub(super) fn by_subject(
    anchors: Vec<TrustAnchor<'static>>,
    facts: Vec<AnchorFacts>,
) -> (Vec<TrustAnchor<'static>>, Vec<AnchorFacts>) {
    let mut pairs: Vec<_> = anchors.into_iter().zip(facts).collect();
    pairs.sort_by(|(a, _), (b, _)| a.subject.as_ref().cmp(b.subject.as_ref()));
    pairs.into_iter().unzip()
}

impl LoadedTrustDomain {
    /// The anchors whose subject is `issuer_name` (the contents of a Name SEQUENCE, as webpki
    /// keeps names): a run of the domain's anchors, found by binary search on the index built
    /// at load, whatever the size of the bundle. Empty when no anchor has that name.
    pub(crate) fn candidates_for(&self, issuer_name: &[u8]) -> &[TrustAnchor<'static>] {
        let range = self.run_of(issuer_name);
        self.anchors.get(range).unwrap_or_default()
    }

    /// The anchors a path built from `end_entity_issuer` (the leaf's issuer name) and the
    /// presented `intermediates` may end at: the smallest run of the domain's anchors holding
    /// every anchor named as the issuer of one of them. Every anchor of the domain when an
    /// intermediate cannot be read (path building then reports it).
    pub(crate) fn candidates_for_chain(
        &self,
        end_entity_issuer: &[u8],
        intermediates: &[CertificateDer<'_>],
    ) -> &[TrustAnchor<'static>] {
        if intermediates.is_empty() {
            return self.candidates_for(end_entity_issuer);
        }
        let mut span: Option<Range<usize>> = None;
        let names = std::iter::once(Some(end_entity_issuer))
            .chain(intermediates.iter().map(|c| der::cert_issuer(c.as_ref())));
        for name in names {
            let Some(name) = name else {
                return &self.anchors;
            };
            let run = self.run_of(name);
            if run.is_empty() {
                continue;
            }
            span = Some(match span {
                Some(s) => s.start.min(run.start)..s.end.max(run.end),
                None => run,
            });
        }
        span.and_then(|s| self.anchors.get(s)).unwrap_or_default()
    }

    /// The index range of the anchors named `name` in the sorted anchors.
    fn run_of(&self, name: &[u8]) -> Range<usize> {
        let start = self.anchors.partition_point(|a| a.subject.as_ref() < name);
        let same = self
            .anchors
            .get(start..)
            .unwrap_or_default()
            .partition_point(|a| a.subject.as_ref() == name);
        start..start + same
    }
}

/// The most bytes of CA names a CertificateRequest carries (its `certificate_authorities`
/// extension). Beyond it the server names no CA at all: the list costs every handshake in
/// proportion to its size (encoding, sending, the client's parsing), and one past 64 KiB
/// cannot be encoded at all (rustls clients refuse the message as too large).
pub(crate) const MAX_HINT_BYTES: usize = 8 * 1024;

/// The subjects of the anchors of `domains`, once each, as the CA names a CertificateRequest
/// offers the client; none when they take more than [`MAX_HINT_BYTES`] (a client with one
/// certificate sends it either way; one choosing among several then chooses without them).
pub(crate) fn root_hints(domains: &[Arc<LoadedTrustDomain>]) -> Vec<DistinguishedName> {
    let mut seen = HashSet::new();
    let mut hints = Vec::new();
    let mut bytes = 0;
    for anchor in domains.iter().flat_map(|d| d.anchors.iter()) {
        if seen.insert(anchor.subject.as_ref()) {
            let name = DistinguishedName::in_sequence(anchor.subject.as_ref());
            // Two bytes of length before each name.
            bytes += name.as_ref().len() + 2;
            hints.push(name);
        }
    }
    if bytes > MAX_HINT_BYTES {
        tracing::info!(
            ca_names = hints.len(),
            bytes,
            limit = MAX_HINT_BYTES,
            "the trust bundle's CA names are too many to list in every CertificateRequest: \
             the server names no CA to its clients"
        );
        return Vec::new();
    }
    hints
}
