//! Certificate policies (RFC 5280 6.1.2 - 6.1.5): the valid_policy_tree ([`Tree`]) with
//! policy mappings, requireExplicitPolicy, inhibitPolicyMapping and inhibitAnyPolicy, against a
//! user-initial-policy-set and initial-explicit-policy ([`PolicyInput`]; by default anyPolicy and
//! false, with which a path fails only when a certificate of it requires an explicit policy that
//! no policy valid along the path satisfies).
//!
//! Each certificate's policy extensions are read once ([`PolicyFacts::of`]) and cached per
//! trust domain by DER.

use std::collections::BTreeSet;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer as _;

use mtls_core::CertificatePolicies;

use super::names;
use super::policy_tree::{Oid, Tree};

/// anyPolicy (2.5.29.32.0), DER contents.
pub(super) const ANY_POLICY: &[u8] = &[0x55, 0x1d, 0x20, 0x00];

/// What one certificate says about policies.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct PolicyFacts {
    /// certificatePolicies' OIDs (DER contents); `None`: no such extension.
    policies: Option<BTreeSet<Oid>>,
    /// policyConstraints requireExplicitPolicy.
    require_explicit: Option<u32>,
    /// policyConstraints inhibitPolicyMapping.
    inhibit_mapping: Option<u32>,
    /// inhibitAnyPolicy skipCerts.
    inhibit_any: Option<u32>,
    /// policyMappings (issuerDomainPolicy, subjectDomainPolicy).
    mappings: Vec<(Oid, Oid)>,
    /// Subject and issuer are the same name (RFC 5280 7.1).
    self_issued: bool,
}

impl PolicyFacts {
    /// Reads the policy extensions of the certificate `der`.
    pub(crate) fn of(der: &[u8]) -> Result<Self, String> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| format!("certificate is malformed: {e}"))?;
        let mut facts = Self {
            self_issued: names::same(cert.subject(), cert.issuer()),
            ..Self::default()
        };
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::CertificatePolicies(policies) => {
                    facts.policies = Some(
                        policies
                            .iter()
                            .map(|p| p.policy_id.as_bytes().to_vec())
                            .collect(),
                    );
                }
                ParsedExtension::PolicyConstraints(pc) => {
                    facts.require_explicit = pc.require_explicit_policy;
                    facts.inhibit_mapping = pc.inhibit_policy_mapping;
                }
                ParsedExtension::InhibitAnyPolicy(inhibit) => {
                    facts.inhibit_any = Some(inhibit.skip_certs);
                }
                ParsedExtension::PolicyMappings(pm) => {
                    facts.mappings = pm
                        .mappings
                        .iter()
                        .map(|m| {
                            (
                                m.issuer_domain_policy.as_bytes().to_vec(),
                                m.subject_domain_policy.as_bytes().to_vec(),
                            )
                        })
                        .collect();
                }
                ParsedExtension::ParseError { error }
                    if is_policy_extension(ext.oid.as_bytes()) =>
                {
                    return Err(format!(
                        "has a malformed {} extension: {error}",
                        ext.oid.to_id_string()
                    ));
                }
                _ => {}
            }
        }
        Ok(facts)
    }
}

/// certificatePolicies, policyMappings, policyConstraints, inhibitAnyPolicy.
pub(super) fn is_policy_extension(oid: &[u8]) -> bool {
    matches!(oid, [0x55, 0x1d, 32 | 33 | 36 | 54])
}

/// The relying party's inputs to policy processing (RFC 5280 6.1.1 (c), (f)).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PolicyInput<'a> {
    /// user-initial-policy-set; `None`: anyPolicy.
    pub(crate) initial: Option<&'a BTreeSet<Oid>>,
    /// initial-explicit-policy.
    pub(crate) explicit: bool,
}

/// A trust domain's policy inputs ([`mtls_policy::trust::CertificatePolicies`]), as
/// [`check`] reads them; by default anyPolicy, none required.
#[derive(Clone, Debug, Default)]
pub(crate) struct InitialPolicies {
    initial: Option<BTreeSet<Oid>>,
    explicit: bool,
}

impl InitialPolicies {
    /// The inputs a trust domain's configuration sets (an empty `initial`: anyPolicy).
    pub(crate) fn new(config: &mtls_policy::trust::CertificatePolicies) -> Self {
        let initial: BTreeSet<Oid> = config.initial.iter().map(|p| p.der_contents()).collect();
        Self {
            initial: (!initial.is_empty() && !initial.contains(ANY_POLICY)).then_some(initial),
            explicit: config.require_explicit,
        }
    }

    pub(crate) fn input(&self) -> PolicyInput<'_> {
        PolicyInput {
            initial: self.initial.as_ref(),
            explicit: self.explicit,
        }
    }
}

/// Whether a path whose certificates say `path` (issued by the anchor first, leaf last) is
/// valid under `input`, with the policies valid for it (RFC 5280 6.1.6, in the anchor's
/// policy domain: [`Tree::user_policies`]); the error says why not.
pub(crate) fn check(
    path: &[&PolicyFacts],
    input: PolicyInput<'_>,
) -> Result<CertificatePolicies, String> {
    // Nothing can require an explicit policy and a certificate asserts none: the tree is NULL
    // and the path valid (6.1.3 (e), 6.1.5 (g)), decided without building it (the common
    // case, on every handshake).
    if input.initial.is_none()
        && !input.explicit
        && path.iter().all(|f| f.require_explicit.is_none())
        && path.iter().any(|f| f.policies.is_none())
    {
        return Ok(CertificatePolicies::None);
    }
    let n = u32::try_from(path.len()).unwrap_or(u32::MAX);
    let start = |inhibited: bool| if inhibited { 0 } else { n.saturating_add(1) };
    let mut explicit = start(input.explicit);
    let mut mapping = n.saturating_add(1);
    let mut inhibit_any = n.saturating_add(1);
    let mut tree = Some(Tree::new());
    for (i, facts) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        tree = match (&facts.policies, tree) {
            (Some(asserted), Some(t)) => {
                let any_allowed = inhibit_any > 0 || (!last && facts.self_issued);
                t.add_level(asserted, any_allowed) // 6.1.3 (d)
            }
            _ => None, // 6.1.3 (e)
        };
        if explicit == 0 && tree.is_none() {
            return Err(no_policy(i + 1)); // 6.1.3 (f)
        }
        if last {
            break;
        }
        if !facts.mappings.is_empty() {
            let any = |p: &Oid| p.as_slice() == ANY_POLICY;
            if facts.mappings.iter().any(|(a, b)| any(a) || any(b)) {
                return Err(format!(
                    "certificate {} of the path maps anyPolicy in its policyMappings (RFC 5280 \
                     6.1.4 (a))",
                    i + 1
                ));
            }
            tree = tree.and_then(|t| t.map(&facts.mappings, mapping > 0)); // 6.1.4 (b)
        }
        if !facts.self_issued {
            // 6.1.4 (h)
            explicit = explicit.saturating_sub(1);
            mapping = mapping.saturating_sub(1);
            inhibit_any = inhibit_any.saturating_sub(1);
        }
        if let Some(r) = facts.require_explicit {
            explicit = explicit.min(r); // 6.1.4 (i)
        }
        if let Some(m) = facts.inhibit_mapping {
            mapping = mapping.min(m); // 6.1.4 (i)
        }
        if let Some(s) = facts.inhibit_any {
            inhibit_any = inhibit_any.min(s); // 6.1.4 (j)
        }
    }
    // 6.1.5 (a), (b), (g)
    explicit = explicit.saturating_sub(1);
    if path.last().and_then(|f| f.require_explicit) == Some(0) {
        explicit = 0;
    }
    if let Some(initial) = input.initial {
        tree = tree.and_then(|t| t.intersect(initial));
    }
    match tree {
        Some(t) => Ok(public(&t.user_policies())),
        None if explicit > 0 => Ok(CertificatePolicies::None),
        None => Err(no_policy(path.len())),
    }
}

/// `policies` (DER contents) in dotted form; anyPolicy among them is [`CertificatePolicies::Any`].
/// An OID with an arc beyond 64 bits has no dotted form here, and is left out with a log line.
fn public(policies: &BTreeSet<Oid>) -> CertificatePolicies {
    if policies.contains(ANY_POLICY) {
        return CertificatePolicies::Any;
    }
    let dotted = policies.iter().filter_map(|der| {
        let oid = x509_parser::oid_registry::Oid::new(der.as_slice().into());
        let arcs = oid.iter();
        if arcs.is_none() {
            tracing::debug!(oid = %oid.to_id_string(), "valid policy OID with an arc beyond 64 bits left out");
        }
        arcs.map(|arcs| arcs.map(|a| a.to_string()).collect::<Vec<_>>().join("."))
    });
    // Dotted decimal arcs, two or more (the first byte holds two): what `listed` accepts.
    CertificatePolicies::listed(dotted.filter(|d| d.contains('.'))).unwrap_or_default()
}

fn no_policy(depth: usize) -> String {
    format!(
        "no certificate policy is valid for the path down to certificate {depth}, and the path \
         requires an explicit policy (policyConstraints requireExplicitPolicy, or the trust \
         domain's initial policy set; RFC 5280 6.1.3 (f), 6.1.5)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const P1: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x02, 0x01, 0x30, 0x01];
    const P2: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x02, 0x01, 0x30, 0x02];

    fn listed(oids: &[&str]) -> CertificatePolicies {
        CertificatePolicies::listed(oids.iter().copied()).unwrap()
    }

    fn check_any(path: &[&PolicyFacts]) -> Result<CertificatePolicies, String> {
        check(path, PolicyInput::default())
    }

    fn cert(policies: &[&[u8]], require_explicit: Option<u32>) -> PolicyFacts {
        PolicyFacts {
            policies: Some(policies.iter().map(|p| p.to_vec()).collect()),
            require_explicit,
            ..PolicyFacts::default()
        }
    }

    #[test]
    fn without_require_explicit_policy_any_policies_pass() {
        let (ca, leaf) = (cert(&[P1], None), cert(&[P2], None));
        assert!(check_any(&[&ca, &leaf]).is_ok());
    }

    #[test]
    fn require_explicit_policy_refuses_disjoint_policies() {
        // PKITS 4.8.4: Good CA (P1) -> Good subCA (P1, requireExplicitPolicy 0) -> EE (P2).
        let (ca, sub, leaf) = (cert(&[P1], None), cert(&[P1], Some(0)), cert(&[P2], None));
        let err = check_any(&[&ca, &sub, &leaf]).unwrap_err();
        assert!(err.contains("no certificate policy is valid"), "{err}");
        // The same path with the leaf in P1 is valid.
        let good = cert(&[P1], None);
        assert!(check_any(&[&ca, &sub, &good]).is_ok());
    }

    #[test]
    fn require_explicit_policy_refuses_a_certificate_without_policies() {
        let sub = cert(&[P1], Some(0));
        let leaf = PolicyFacts::default();
        assert!(check_any(&[&sub, &leaf]).is_err());
    }

    #[test]
    fn any_policy_matches_every_policy_until_inhibited() {
        let ca = cert(&[ANY_POLICY], Some(0));
        assert!(check_any(&[&ca, &cert(&[P2], None)]).is_ok());
        let inhibiting = PolicyFacts {
            inhibit_any: Some(0),
            ..cert(&[P1], Some(0))
        };
        assert!(check_any(&[&inhibiting, &cert(&[ANY_POLICY], None)]).is_err());
    }

    #[test]
    fn mappings_carry_a_policy_into_the_subject_domain() {
        let ca = PolicyFacts {
            mappings: vec![(P1.to_vec(), P2.to_vec())],
            ..cert(&[P1], Some(0))
        };
        // Reported in the anchor's domain: P1, which the leaf holds as P2.
        assert_eq!(
            check_any(&[&ca, &cert(&[P2], None)]),
            Ok(listed(&["2.16.840.1.101.3.2.1.48.1"]))
        );
        // The issuer-domain policy no longer matches below the mapping.
        assert!(check_any(&[&ca, &cert(&[P1], None)]).is_err());
        // Mapping inhibited from above: the mapped policy is deleted.
        let inhibiting = PolicyFacts {
            inhibit_mapping: Some(0),
            ..cert(&[P1], Some(0))
        };
        assert!(check_any(&[&inhibiting, &ca, &cert(&[P2], None)]).is_err());
    }

    #[test]
    fn an_initial_policy_set_narrows_the_valid_policies() {
        let (ca, leaf) = (cert(&[P1, P2], None), cert(&[P1, P2], None));
        let initial = BTreeSet::from([P2.to_vec()]);
        let input = PolicyInput {
            initial: Some(&initial),
            explicit: true,
        };
        assert_eq!(
            check(&[&ca, &leaf], input),
            Ok(listed(&["2.16.840.1.101.3.2.1.48.2"]))
        );
        let other = cert(&[P1], None);
        assert!(check(&[&other, &other], input).is_err());
    }

    #[test]
    fn valid_policies_are_reported_whether_required_or_not() {
        let (p1, p2) = ("2.16.840.1.101.3.2.1.48.1", "2.16.840.1.101.3.2.1.48.2");
        let both = cert(&[P1, P2], None);
        assert_eq!(check_any(&[&both, &both]), Ok(listed(&[p1, p2])));
        // An initial set that is not required only narrows what is reported.
        let initial = BTreeSet::from([P1.to_vec()]);
        let narrowing = PolicyInput {
            initial: Some(&initial),
            explicit: false,
        };
        assert_eq!(check(&[&both, &both], narrowing), Ok(listed(&[p1])));
        let other = cert(&[P2], None);
        assert_eq!(
            check(&[&other, &other], narrowing),
            Ok(CertificatePolicies::None)
        );
        // A certificate without policies: the tree is NULL, nothing is valid.
        assert_eq!(
            check_any(&[&both, &PolicyFacts::default()]),
            Ok(CertificatePolicies::None)
        );
    }

    #[test]
    fn any_policy_down_to_the_leaf_is_any() {
        let any = cert(&[ANY_POLICY], None);
        assert_eq!(check_any(&[&any, &any]), Ok(CertificatePolicies::Any));
        // Under anyPolicy CAs a leaf's own policy is what holds.
        assert_eq!(
            check_any(&[&any, &cert(&[P2], None)]),
            Ok(listed(&["2.16.840.1.101.3.2.1.48.2"]))
        );
        // A CA asserting P1 and anyPolicy over an anyPolicy leaf: every policy.
        assert_eq!(
            check_any(&[&cert(&[P1, ANY_POLICY], None), &any]),
            Ok(CertificatePolicies::Any)
        );
        // An initial set turns anyPolicy into its own policies.
        let initial = BTreeSet::from([P2.to_vec()]);
        let input = PolicyInput {
            initial: Some(&initial),
            explicit: true,
        };
        assert_eq!(
            check(&[&any, &any], input),
            Ok(listed(&["2.16.840.1.101.3.2.1.48.2"]))
        );
        // anyPolicy inhibited at the leaf: nothing valid, and nothing required.
        let inhibiting = PolicyFacts {
            inhibit_any: Some(0),
            ..cert(&[P1], None)
        };
        assert_eq!(
            check_any(&[&inhibiting, &any]),
            Ok(CertificatePolicies::None)
        );
    }

    #[test]
    fn mapping_any_policy_is_refused_even_when_no_policy_is_required() {
        let ca = PolicyFacts {
            mappings: vec![(ANY_POLICY.to_vec(), P2.to_vec())],
            ..cert(&[P1], None)
        };
        let err = check_any(&[&ca, &cert(&[P2], None)]).unwrap_err();
        assert!(err.contains("maps anyPolicy"), "{err}");
    }
}
