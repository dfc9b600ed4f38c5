//! The certificate policies valid for a verified path: RFC 5280's user-constrained policy set
//! (6.1.6), as the TLS layer attaches it to a [`PeerIdentity`](crate::PeerIdentity).
//!
//! Path validation keeps a tree of the policies each certificate of the path asserts, follows
//! the policy mappings of its CAs, and at the end intersects what is left with the trust
//! domain's initial policy set. What survives is [`CertificatePolicies`]: no policy, any
//! policy, or a list of policy OIDs. The OIDs are those of the trust anchor's policy domain,
//! the ones a trust domain's `initial` set names: where a CA maps them to other OIDs
//! (`policyMappings`), the leaf itself asserts the mapped ones.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

/// anyPolicy (RFC 5280 4.2.1.4).
const ANY_POLICY: &str = "2.5.29.32.0";

/// The certificate policies valid for a verified path, after the trust domain's initial
/// policy set (RFC 5280 6.1.6's user-constrained policy set).
///
/// ```
/// use mtls_core::CertificatePolicies;
///
/// # fn main() -> Result<(), mtls_core::InvalidPolicyOid> {
/// let piv = CertificatePolicies::listed(["2.16.840.1.101.3.2.1.3.13"])?;
/// assert!(piv.allows("2.16.840.1.101.3.2.1.3.13"));
/// assert!(!piv.allows("2.16.840.1.101.3.2.1.3.7"));
/// assert_eq!(piv.oids(), ["2.16.840.1.101.3.2.1.3.13"]);
/// assert_eq!(piv.to_string(), "2.16.840.1.101.3.2.1.3.13");
///
/// // anyPolicy among them stands for every policy; no OID at all is no policy.
/// assert_eq!(
///     CertificatePolicies::listed(["1.2.3", "2.5.29.32.0"])?,
///     CertificatePolicies::Any
/// );
/// assert_eq!(CertificatePolicies::listed::<_, &str>([])?, CertificatePolicies::None);
/// assert!(CertificatePolicies::listed(["not an OID"]).is_err());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum CertificatePolicies {
    /// No policy is valid for the path (its valid_policy_tree is NULL): a certificate of it
    /// asserts no certificatePolicies, the policies of its certificates do not chain, or none
    /// of them is in the trust domain's initial set (a set it does not require). Also what a
    /// certificate not verified by a path validation that computes policies carries.
    #[default]
    None,
    /// Every policy: anyPolicy is valid down to the end entity, and the trust domain names no
    /// initial policy set (RFC 5280's default, anyPolicy).
    Any,
    /// These policies, and no other.
    Listed(PolicyList),
}

/// Policy OIDs in dotted decimal (`2.16.840.1.101.3.2.1.3.13`): at least one, none twice,
/// ordered by their arcs, never anyPolicy. Cheap to clone (one reference count).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PolicyList(Arc<[String]>);

impl PolicyList {
    /// The OIDs, ordered by their arcs.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Whether `oid` (dotted decimal) is one of them.
    pub fn contains(&self, oid: &str) -> bool {
        self.0.binary_search_by(|p| by_arcs(p, oid)).is_ok()
    }
}

impl fmt::Debug for PolicyList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

/// A string that is not an object identifier in dotted decimal form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a policy object identifier (dotted decimal arcs, e.g. 2.16.840.1.101.3.2.1.3.13)"
)]
pub struct InvalidPolicyOid(pub String);

impl CertificatePolicies {
    /// The policies `oids` (dotted decimal), in any order, duplicates allowed: none is
    /// [`None`](Self::None), a list with anyPolicy (`2.5.29.32.0`) is [`Any`](Self::Any).
    ///
    /// # Errors
    /// The first string that is not two or more dotted decimal arcs.
    pub fn listed<I, S>(oids: I) -> Result<Self, InvalidPolicyOid>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut list = Vec::new();
        for oid in oids {
            let oid: String = oid.into();
            let mut arcs = oid.split('.');
            let arc_ok = |a: &str| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit());
            if !(arcs.clone().count() >= 2 && arcs.all(arc_ok)) {
                return Err(InvalidPolicyOid(oid));
            }
            list.push(oid);
        }
        if list
            .iter()
            .any(|p| by_arcs(p, ANY_POLICY) == Ordering::Equal)
        {
            return Ok(Self::Any);
        }
        list.sort_by(|a, b| by_arcs(a, b));
        list.dedup_by(|a, b| by_arcs(a, b) == Ordering::Equal);
        Ok(if list.is_empty() {
            Self::None
        } else {
            Self::Listed(PolicyList(list.into()))
        })
    }

    /// Whether a peer holding these policies holds `oid` (dotted decimal): always under
    /// [`Any`](Self::Any), never under [`None`](Self::None).
    pub fn allows(&self, oid: &str) -> bool {
        match self {
            Self::None => false,
            Self::Any => true,
            Self::Listed(list) => list.contains(oid),
        }
    }

    /// The listed OIDs; empty for [`None`](Self::None) and [`Any`](Self::Any) (tell those
    /// apart with a `match`).
    pub fn oids(&self) -> &[String] {
        match self {
            Self::Listed(list) => list.as_slice(),
            Self::None | Self::Any => &[],
        }
    }
}

impl fmt::Display for CertificatePolicies {
    /// `none`, `any`, or the OIDs separated by `, ` (an HTTP list).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::Any => f.write_str("any"),
            Self::Listed(list) => {
                for (i, oid) in list.as_slice().iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(oid)?;
                }
                Ok(())
            }
        }
    }
}

/// Orders dotted OIDs by their arcs as numbers (`1.9` before `1.10`); leading zeros of an arc
/// do not count.
fn by_arcs(a: &str, b: &str) -> Ordering {
    fn arc(s: &str) -> (usize, &str) {
        let digits = s.trim_start_matches('0');
        (digits.len(), digits)
    }
    let (mut x, mut y) = (a.split('.'), b.split('.'));
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) => match arc(p).cmp(&arc(q)) {
                Ordering::Equal => {}
                other => return other,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arcs_order_numerically() {
        assert_eq!(by_arcs("1.9", "1.10"), Ordering::Less);
        assert_eq!(by_arcs("1.10", "1.9"), Ordering::Greater);
        assert_eq!(by_arcs("1.2", "1.2.0"), Ordering::Less);
        assert_eq!(by_arcs("1.02", "1.2"), Ordering::Equal);
        assert_eq!(by_arcs("2.5.29.32.0", ANY_POLICY), Ordering::Equal);
    }

    #[test]
    fn listed_sorts_and_drops_duplicates() {
        let p = CertificatePolicies::listed(["1.10", "1.9", "1.10"]).unwrap();
        assert_eq!(p.oids(), ["1.9", "1.10"]);
        assert_eq!(p.to_string(), "1.9, 1.10");
        assert!(p.allows("1.9") && p.allows("1.10") && !p.allows("1.1"));
        assert!(p.allows("1.09"), "leading zeros do not count");
    }

    #[test]
    fn none_and_any() {
        assert_eq!(CertificatePolicies::default(), CertificatePolicies::None);
        assert_eq!(CertificatePolicies::None.to_string(), "none");
        assert!(!CertificatePolicies::None.allows("1.2"));
        assert!(CertificatePolicies::None.oids().is_empty());
        assert_eq!(CertificatePolicies::Any.to_string(), "any");
        assert!(CertificatePolicies::Any.allows("1.2"));
        assert!(CertificatePolicies::Any.oids().is_empty());
    }

    #[test]
    fn bad_oids_are_named() {
        for bad in ["", "1", "1.", ".1", "1..2", "1.a", "1.2 ", "1,2", "1.2\n"] {
            assert_eq!(
                CertificatePolicies::listed([bad]),
                Err(InvalidPolicyOid(bad.to_owned())),
                "{bad:?}"
            );
        }
        let err = CertificatePolicies::listed(["x"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"x\" is not a policy object identifier (dotted decimal arcs, e.g. \
             2.16.840.1.101.3.2.1.3.13)"
        );
    }
}
