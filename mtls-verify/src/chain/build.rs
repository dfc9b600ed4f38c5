//! Path building of our own (RFC 5280 6, and the search of RFC 4158 in its simplest form): a
//! depth-first search from the end entity over every candidate issuer, presented
//! intermediates and trust anchors alike, whose subject is the certificate's issuer compared
//! per RFC 5280 7.1 ([`names`](super::names)). Candidates whose subjectKeyIdentifier matches the
//! certificate's authorityKeyIdentifier are tried first; a mismatch only puts them last (key
//! identifiers are a hint, never a requirement). Cross-certificates, bridge CAs and self-issued
//! intermediates (key rollover) are paths like any other.
//!
//! The work is bounded: at most [`MAX_SIGNATURES`] signature checks and [`MAX_INTERMEDIATES`]
//! intermediates per path, and a certificate appears once in a path. Each complete path is
//! handed to the caller, which validates it; the first it accepts ends the search.

use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls_pki_types::TrustAnchor;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer as _;

use super::names::{AnchorNames, Name, sequence};
use crate::der;
use crate::revocation::verify_signature;

/// Signature checks one path search may make.
pub(super) const MAX_SIGNATURES: usize = 64;
/// Intermediates one path may have.
pub(super) const MAX_INTERMEDIATES: usize = 8;

/// A certificate parsed for path building and validation.
pub(super) struct Cert<'a> {
    pub(super) der: &'a [u8],
    pub(super) x509: X509Certificate<'a>,
    pub(super) subject: Name,
    pub(super) issuer: Name,
    /// Subject and issuer are the same name (RFC 5280 7.1).
    pub(super) self_issued: bool,
    /// The contents of the subject and issuer Name SEQUENCEs (webpki's and the CRL index's form).
    pub(super) subject_contents: &'a [u8],
    pub(super) issuer_contents: &'a [u8],
}

impl<'a> Cert<'a> {
    /// Parses `der`; the error says why it does not parse.
    pub(super) fn parse(der: &'a [u8]) -> Result<Self, String> {
        let (rest, x509) =
            X509Certificate::from_der(der).map_err(|e| format!("is malformed: {e}"))?;
        if !rest.is_empty() {
            return Err("has data after its encoding".into());
        }
        let contents = |raw: &'a [u8]| der::read(raw).map_or(raw, |(tlv, _)| tlv.contents);
        let subject = Name::of(x509.subject());
        let issuer = Name::of(x509.issuer());
        let tbs = &x509.tbs_certificate;
        Ok(Self {
            der,
            self_issued: subject == issuer,
            subject_contents: contents(tbs.subject.as_raw()),
            issuer_contents: contents(tbs.issuer.as_raw()),
            subject,
            issuer,
            x509,
        })
    }

    /// The full SPKI encoding.
    pub(super) fn spki(&self) -> &'a [u8] {
        self.x509.tbs_certificate.subject_pki.raw
    }

    fn key_id(&self, authority: bool) -> Option<&[u8]> {
        self.x509
            .extensions()
            .iter()
            .find_map(|ext| match ext.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(aki) if authority => {
                    aki.key_identifier.as_ref().map(|k| k.0)
                }
                ParsedExtension::SubjectKeyIdentifier(ski) if !authority => Some(ski.0),
                _ => None,
            })
    }
}

/// A trust anchor of the domain as path building reads it (webpki's form: a name, a key and
/// optional name constraints).
pub(super) struct Anchor<'a> {
    /// Index in the domain's anchors.
    pub(super) index: usize,
    pub(super) subject: Name,
    pub(super) subject_contents: &'a [u8],
    /// The full SPKI encoding.
    pub(super) spki: Vec<u8>,
    /// The nameConstraints SEQUENCE, encoded.
    pub(super) name_constraints: Option<Vec<u8>>,
}

impl<'a> Anchor<'a> {
    /// The anchor `index` of the domain; `None` when its subject does not parse.
    pub(super) fn of(index: usize, anchor: &'a TrustAnchor<'_>) -> Option<Self> {
        Some(Self {
            index,
            subject: AnchorNames::name(anchor)?,
            subject_contents: anchor.subject.as_ref(),
            spki: webpki::spki_for_anchor(anchor).as_ref().to_vec(),
            name_constraints: anchor
                .name_constraints
                .as_ref()
                .map(|nc| sequence(nc.as_ref())),
        })
    }
}

/// Whether a certificate whose issuer is (`issuer`, `issuer_contents`) may have been issued by
/// the CA named (`subject`, `subject_contents`) (RFC 5280 6.1.3 (a)(4), names per 7.1).
fn names_chain(cert: &Cert<'_>, subject: &Name, subject_contents: &[u8]) -> bool {
    cert.issuer_contents == subject_contents || cert.issuer == *subject
}

/// One complete candidate path: the intermediates (indices, nearest the leaf first) and the
/// anchor (index in the search's anchors).
pub(super) struct Candidate<'p> {
    pub(super) intermediates: &'p [usize],
    pub(super) anchor: usize,
}

/// Why no path was accepted.
pub(super) enum NoPath<E> {
    /// No path to an anchor exists within the bounds.
    NotFound,
    /// Paths to an anchor exist; the last one's validation failed with this.
    Rejected(E),
}

/// The candidates and bounds of one search.
pub(super) struct Search<'s, 'a> {
    pub(super) algs: &'s WebPkiSupportedAlgorithms,
    pub(super) intermediates: &'s [Cert<'a>],
    pub(super) anchors: &'s [Anchor<'a>],
    signatures: usize,
}

impl<'s, 'a> Search<'s, 'a> {
    pub(super) fn new(
        algs: &'s WebPkiSupportedAlgorithms,
        intermediates: &'s [Cert<'a>],
        anchors: &'s [Anchor<'a>],
    ) -> Self {
        Self {
            algs,
            intermediates,
            anchors,
            signatures: MAX_SIGNATURES,
        }
    }

    /// Searches paths from `leaf`; `accept` validates each complete one.
    pub(super) fn run<E>(
        &mut self,
        leaf: &Cert<'_>,
        accept: &mut dyn FnMut(Candidate<'_>) -> Result<(), E>,
    ) -> Result<(), NoPath<E>> {
        let mut path = Vec::with_capacity(MAX_INTERMEDIATES);
        let mut last = NoPath::NotFound;
        match self.extend(leaf, &mut path, accept, &mut last) {
            true => Ok(()),
            false => Err(last),
        }
    }

    /// Whether the key `spki` signed `cert`, within the budget.
    fn signed(&mut self, cert: &Cert<'_>, spki: &[u8]) -> bool {
        if self.signatures == 0 {
            return false;
        }
        self.signatures -= 1;
        verify_signature(cert.der, spki, self.algs).is_ok()
    }

    /// The candidate issuers of `cert` among `certs`, by name, key identifier matches first.
    fn candidates<'c>(
        cert: &Cert<'_>,
        certs: impl Iterator<Item = (usize, &'c Cert<'a>)>,
    ) -> Vec<usize>
    where
        'a: 'c,
    {
        let aki = cert.key_id(true);
        let mut found: Vec<(u8, usize)> = certs
            .filter(|(_, c)| names_chain(cert, &c.subject, c.subject_contents))
            .map(|(k, c)| {
                let rank = match (aki, c.key_id(false)) {
                    (Some(a), Some(s)) if a == s => 0,
                    (Some(_), Some(_)) => 2,
                    _ => 1,
                };
                (rank, k)
            })
            .collect();
        found.sort_unstable();
        found.into_iter().map(|(_, k)| k).collect()
    }

    fn extend<E>(
        &mut self,
        cert: &Cert<'_>,
        path: &mut Vec<usize>,
        accept: &mut dyn FnMut(Candidate<'_>) -> Result<(), E>,
        last: &mut NoPath<E>,
    ) -> bool {
        let anchors = self.anchors;
        for (k, anchor) in anchors.iter().enumerate() {
            if !names_chain(cert, &anchor.subject, anchor.subject_contents)
                || !self.signed(cert, &anchor.spki)
            {
                continue;
            }
            match accept(Candidate {
                intermediates: path,
                anchor: k,
            }) {
                Ok(()) => return true,
                Err(e) => *last = NoPath::Rejected(e),
            }
        }
        if path.len() >= MAX_INTERMEDIATES {
            return false;
        }
        let intermediates = self.intermediates;
        let unused = intermediates
            .iter()
            .enumerate()
            .filter(|(k, _)| !path.contains(k));
        for k in Self::candidates(cert, unused) {
            let Some(issuer) = intermediates.get(k) else {
                continue;
            };
            if !self.signed(cert, issuer.spki()) {
                continue;
            }
            path.push(k);
            if self.extend(issuer, path, accept, last) {
                return true;
            }
            path.pop();
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    use super::*;

    fn mesh_ca() -> CertificateParams {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "Mesh CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
    }

    /// 30 CA certificates of one name and key, each verifying every other's signature: without
    /// bounds, 30^8 paths. No anchor ends any of them.
    #[test]
    fn the_search_stops_when_its_signature_budget_is_spent() {
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::new(mesh_ca(), &key);
        let cas: Vec<_> = (0..30)
            .map(|_| mesh_ca().signed_by(&key, &issuer).unwrap().der().clone())
            .collect();
        let leaf_params = CertificateParams::new(vec!["leaf.test".to_owned()]).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf_der = leaf_params
            .signed_by(&leaf_key, &issuer)
            .unwrap()
            .der()
            .clone();
        let certs: Vec<Cert<'_>> = cas.iter().map(|d| Cert::parse(d).unwrap()).collect();
        let leaf = Cert::parse(&leaf_der).unwrap();
        let provider = crate::crypto::default_provider();
        let mut search = Search::new(&provider.signature_verification_algorithms, &certs, &[]);
        let mut complete = 0;
        let result = search.run(&leaf, &mut |_| -> Result<(), ()> {
            complete += 1;
            Err(())
        });
        assert!(matches!(result, Err(NoPath::NotFound)));
        assert_eq!(complete, 0);
        assert_eq!(
            search.signatures, 0,
            "the budget is spent and the search ended"
        );
    }

    /// The same certificates under an anchor of their name and key: the first complete path
    /// the caller accepts ends the search.
    #[test]
    fn the_first_accepted_path_ends_the_search() {
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::new(mesh_ca(), &key);
        let root = mesh_ca().self_signed(&key).unwrap().der().clone();
        let anchor = webpki::anchor_from_trusted_cert(&root).unwrap();
        let anchors = [Anchor::of(0, &anchor).unwrap()];
        let leaf_params = CertificateParams::new(vec!["leaf.test".to_owned()]).unwrap();
        let leaf_der = leaf_params
            .signed_by(&KeyPair::generate().unwrap(), &issuer)
            .unwrap()
            .der()
            .clone();
        let leaf = Cert::parse(&leaf_der).unwrap();
        let provider = crate::crypto::default_provider();
        let mut search = Search::new(&provider.signature_verification_algorithms, &[], &anchors);
        let mut seen = Vec::new();
        let result = search.run(&leaf, &mut |c| -> Result<(), ()> {
            seen.push((c.intermediates.len(), c.anchor));
            Ok(())
        });
        assert!(result.is_ok());
        assert_eq!(seen, [(0, 0)]);
        assert_eq!(search.signatures, MAX_SIGNATURES - 1);
    }
}
