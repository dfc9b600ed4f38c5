//! Certificate policies (RFC 5280 6.1.3 (d)-(f), 6.1.4 (h)-(j), 6.1.5 (a), (b), (g)) with the
//! user-initial-policy-set anyPolicy and initial-explicit-policy false: a path is refused when
//! a requireExplicitPolicy in it (critical or not) brings explicit_policy to 0 while no policy
//! is valid for the whole path.
//!
//! Without policy mappings the valid_policy_tree reduces to the set of policies valid at the
//! current depth (a policy OID keeps its name along the path), which is what is computed here.
//! Policy mappings are not applied: when a path maps policies *and* requires an explicit
//! policy, it is refused rather than judged on a tree that would be wrong. A path that does not
//! require an explicit policy is valid whatever its policies (6.1.5 (g), step (f)), so nothing
//! here refuses it.
//!
//! Each certificate's policy extensions are read once ([`PolicyFacts::of`]) and cached per
//! trust domain by DER.

use std::collections::BTreeSet;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer as _;

/// anyPolicy (2.5.29.32.0), DER contents.
const ANY_POLICY: &[u8] = &[0x55, 0x1d, 0x20, 0x00];

/// What one certificate says about policies.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct PolicyFacts {
    /// certificatePolicies' OIDs (DER contents); `None`: no such extension.
    policies: Option<BTreeSet<Vec<u8>>>,
    /// policyConstraints requireExplicitPolicy.
    require_explicit: Option<u32>,
    /// inhibitAnyPolicy skipCerts.
    inhibit_any: Option<u32>,
    /// A policyMappings extension is present.
    maps: bool,
    /// Subject and issuer are the same name (byte for byte).
    self_issued: bool,
}

impl PolicyFacts {
    /// Reads the policy extensions of the certificate `der`.
    pub(crate) fn of(der: &[u8]) -> Result<Self, String> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| format!("certificate is malformed: {e}"))?;
        let mut facts = Self {
            self_issued: cert.subject().as_raw() == cert.issuer().as_raw(),
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
                }
                ParsedExtension::InhibitAnyPolicy(inhibit) => {
                    facts.inhibit_any = Some(inhibit.skip_certs);
                }
                ParsedExtension::PolicyMappings(_) => facts.maps = true,
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
fn is_policy_extension(oid: &[u8]) -> bool {
    matches!(oid, [0x55, 0x1d, 32 | 33 | 36 | 54])
}

/// Whether a path whose certificates say `path` (issued by the anchor first, leaf last) is
/// valid under the user-initial-policy-set anyPolicy; the error says why not.
pub(crate) fn check(path: &[&PolicyFacts]) -> Result<(), String> {
    // Nothing requires an explicit policy: explicit_policy starts at n + 1 and at most n
    // decrements leave it above 0, so the path is valid (the common case, decided at once).
    if path.iter().all(|f| f.require_explicit.is_none()) {
        return Ok(());
    }
    let n = u32::try_from(path.len()).unwrap_or(u32::MAX);
    let mut explicit = n.saturating_add(1);
    let mut inhibit_any = n.saturating_add(1);
    let any: Vec<u8> = ANY_POLICY.to_vec();
    // `None`: the valid_policy_tree is NULL.
    let mut valid: Option<BTreeSet<Vec<u8>>> = Some(BTreeSet::from([any.clone()]));
    let mut mapped = false;
    for (i, facts) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        valid = match (&facts.policies, valid) {
            (None, _) | (_, None) => None, // 6.1.3 (e)
            (Some(asserted), Some(set)) => {
                // 6.1.3 (d)
                let any_allowed = inhibit_any > 0 || (!last && facts.self_issued);
                let mut next: BTreeSet<Vec<u8>> = asserted
                    .iter()
                    .filter(|p| **p != any && (set.contains(*p) || set.contains(&any)))
                    .cloned()
                    .collect();
                if any_allowed && asserted.contains(&any) {
                    next.extend(set);
                }
                (!next.is_empty()).then_some(next)
            }
        };
        if explicit == 0 {
            refuse_if_null(&valid, mapped, i + 1)?; // 6.1.3 (f)
        }
        if last {
            break;
        }
        mapped |= facts.maps;
        if !facts.self_issued {
            // 6.1.4 (h)
            explicit = explicit.saturating_sub(1);
            inhibit_any = inhibit_any.saturating_sub(1);
        }
        if let Some(r) = facts.require_explicit {
            explicit = explicit.min(r); // 6.1.4 (i)
        }
        if let Some(s) = facts.inhibit_any {
            inhibit_any = inhibit_any.min(s); // 6.1.4 (j)
        }
    }
    // 6.1.5 (a), (b)
    explicit = explicit.saturating_sub(1);
    if path.last().and_then(|f| f.require_explicit) == Some(0) {
        explicit = 0;
    }
    if explicit > 0 {
        return Ok(());
    }
    refuse_if_null(&valid, mapped, path.len())
}

fn refuse_if_null(
    valid: &Option<BTreeSet<Vec<u8>>>,
    mapped: bool,
    depth: usize,
) -> Result<(), String> {
    if mapped {
        return Err(format!(
            "the path requires an explicit certificate policy (policyConstraints \
             requireExplicitPolicy) from certificate {depth} of the path on, and maps policies \
             (policyMappings), which is not processed"
        ));
    }
    match valid {
        Some(_) => Ok(()),
        None => Err(format!(
            "no certificate policy is valid for the path down to certificate {depth}, and the \
             path requires an explicit policy (policyConstraints requireExplicitPolicy; RFC \
             5280 6.1.3 (f), 6.1.5)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P1: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x02, 0x01, 0x30, 0x01];
    const P2: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x02, 0x01, 0x30, 0x02];

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
        assert_eq!(check(&[&ca, &leaf]), Ok(()));
    }

    #[test]
    fn require_explicit_policy_refuses_disjoint_policies() {
        // PKITS 4.8.4: Good CA (P1) -> Good subCA (P1, requireExplicitPolicy 0) -> EE (P2).
        let (ca, sub, leaf) = (cert(&[P1], None), cert(&[P1], Some(0)), cert(&[P2], None));
        let err = check(&[&ca, &sub, &leaf]).unwrap_err();
        assert!(err.contains("no certificate policy is valid"), "{err}");
        // The same path with the leaf in P1 is valid.
        let good = cert(&[P1], None);
        assert_eq!(check(&[&ca, &sub, &good]), Ok(()));
    }

    #[test]
    fn require_explicit_policy_refuses_a_certificate_without_policies() {
        let sub = cert(&[P1], Some(0));
        let leaf = PolicyFacts::default();
        assert!(check(&[&sub, &leaf]).is_err());
    }

    #[test]
    fn any_policy_matches_every_policy_until_inhibited() {
        let ca = cert(&[ANY_POLICY], Some(0));
        assert_eq!(check(&[&ca, &cert(&[P2], None)]), Ok(()));
        let inhibiting = PolicyFacts {
            inhibit_any: Some(0),
            ..cert(&[P1], Some(0))
        };
        assert!(check(&[&inhibiting, &cert(&[ANY_POLICY], None)]).is_err());
    }

    #[test]
    fn mapped_paths_that_require_a_policy_are_refused() {
        let ca = PolicyFacts {
            maps: true,
            ..cert(&[P1], Some(0))
        };
        let err = check(&[&ca, &cert(&[P2], None)]).unwrap_err();
        assert!(err.contains("policyMappings"), "{err}");
    }
}
