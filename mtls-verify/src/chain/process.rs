//! The basic path processing of RFC 5280 6.1.3 - 6.1.5 over a path [`build`](super::build)
//! found (signatures and name chaining are checked while building): validity at the time of
//! verification, basicConstraints cA and pathLenConstraint on
//! every CA (self-issued intermediates do not count, 6.1.4 (l)), keyCertSign when a CA has a
//! keyUsage, no critical extension this module does not process, and the extended key usage
//! of the purpose on the leaf (and on an intermediate that restricts its usages, as
//! rustls-webpki does). Name constraints of every form ([`name_constraints`], over
//! [`constraints`](super::constraints); a self-issued intermediate is exempt, 6.1.3 (b)),
//! certificate policies, the depth limit, the anchor's expiry and revocation are checked after,
//! for every path (webpki's too), by [`links`](super::links).

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;

use super::Usage;
use super::build::Cert;
use super::constraints::Constraints;

/// Why a path fails processing.
#[derive(Debug)]
pub(super) enum Fault {
    /// A certificate of the path is past its `notAfter` (seconds since the epoch).
    Expired(u64),
    /// A certificate of the path is before its `notBefore`.
    NotYetValid(u64),
    /// Any other rule; the message names the certificate and the rule.
    Rule(String),
}

/// Critical extensions processed here or after: keyUsage, subjectAltName, basicConstraints,
/// nameConstraints, cRLDistributionPoints, certificatePolicies, policyMappings,
/// policyConstraints, extKeyUsage, inhibitAnyPolicy (2.5.29.x), and the SCT list.
fn processed(oid: &[u8]) -> bool {
    const SCT_LIST: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02];
    matches!(
        oid,
        [0x55, 0x1d, 15 | 17 | 19 | 30 | 31 | 32 | 33 | 36 | 37 | 54]
    ) || oid == SCT_LIST
}

/// Processes `path` (the leaf first, then its intermediates, the last issued by a trust
/// anchor) at `now`.
pub(super) fn process(path: &[&Cert<'_>], now: u64, usage: Usage) -> Result<(), Fault> {
    let n = path.len();
    let mut max_path_length = n;
    // From the certificate the anchor issued down to the leaf.
    for (i, cert) in path.iter().rev().enumerate() {
        let last = i + 1 == n;
        let who = || {
            if last {
                format!(
                    "the end-entity certificate (subject \"{}\")",
                    cert.x509.subject()
                )
            } else {
                format!(
                    "intermediate CA certificate {} (subject \"{}\")",
                    n - 1 - i,
                    cert.x509.subject()
                )
            }
        };
        let rule = |what: String| Fault::Rule(format!("{} {what}", who()));
        validity(&cert.x509, now)?;
        let (inner, outer) = (
            &cert.x509.tbs_certificate.signature,
            &cert.x509.signature_algorithm,
        );
        if inner.algorithm != outer.algorithm
            || inner.parameters.as_ref().map(|p| p.data)
                != outer.parameters.as_ref().map(|p| p.data)
        {
            return Err(rule(
                "has a signature algorithm in its tbsCertificate that differs from its \
                 signatureAlgorithm (RFC 5280 4.1.1.2)"
                    .into(),
            ));
        }
        for ext in cert.x509.extensions() {
            if ext.critical && !processed(ext.oid.as_bytes()) {
                return Err(rule(format!(
                    "has a critical extension {} that is not processed (RFC 5280 4.2)",
                    ext.oid.to_id_string()
                )));
            }
            if let ParsedExtension::ParseError { error } = ext.parsed_extension()
                && processed(ext.oid.as_bytes())
            {
                return Err(rule(format!(
                    "has a malformed {} extension: {error}",
                    ext.oid.to_id_string()
                )));
            }
        }
        eku(&cert.x509, usage).map_err(rule)?;
        let bc = cert
            .x509
            .basic_constraints()
            .map_err(|e| rule(format!("has a malformed basicConstraints: {e}")))?;
        let is_ca = bc.as_ref().is_some_and(|b| b.value.ca);
        if last {
            if is_ca {
                return Err(rule(
                    "is a CA certificate (cA=TRUE), which is not accepted as a peer identity"
                        .into(),
                ));
            }
            break;
        }
        // 6.1.4 (k)
        let Some(bc) = bc.filter(|b| b.value.ca) else {
            return Err(rule(
                "is not a CA certificate (no basicConstraints cA=TRUE; RFC 5280 6.1.4 (k))".into(),
            ));
        };
        // 6.1.4 (l), (m)
        if !cert.self_issued {
            if max_path_length == 0 {
                return Err(rule(
                    "exceeds the pathLenConstraint of a CA above it (RFC 5280 6.1.4 (l))".into(),
                ));
            }
            max_path_length -= 1;
        }
        if let Some(len) = bc.value.path_len_constraint {
            max_path_length = max_path_length.min(usize::try_from(len).unwrap_or(usize::MAX));
        }
        // 6.1.4 (n)
        let ku = cert
            .x509
            .key_usage()
            .map_err(|e| rule(format!("has a malformed keyUsage: {e}")))?;
        if ku.is_some_and(|ku| !ku.value.key_cert_sign()) {
            return Err(rule(
                "has a keyUsage without keyCertSign, so it may not sign certificates (RFC 5280 \
                 6.1.4 (n))"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// The name constraints of a path (6.1.3 (b), (c), 6.1.4 (g)): those of the anchor
/// (`anchor`: its nameConstraints SEQUENCE, encoded) and of each CA apply to every certificate
/// below it, self-issued intermediates excepted. `path`: the leaf first.
pub(super) fn name_constraints(path: &[&Cert<'_>], anchor: Option<&[u8]>) -> Result<(), String> {
    let mut constraints = Constraints::default();
    if let Some(nc) = anchor {
        constraints
            .add_encoded(nc)
            .map_err(|e| format!("the trust anchor {e}"))?;
    }
    let n = path.len();
    for (i, cert) in path.iter().rev().enumerate() {
        let last = i + 1 == n;
        let who = || describe(cert, last, n - 1 - i);
        if !cert.self_issued || last {
            constraints
                .check(&cert.x509)
                .map_err(|e| format!("{} {e}", who()))?;
        }
        if !last {
            constraints
                .add(&cert.x509)
                .map_err(|e| format!("{} {e}", who()))?;
        }
    }
    Ok(())
}

/// How messages name a certificate of a path (`k`: an intermediate's position, 1 nearest the
/// leaf).
fn describe(cert: &Cert<'_>, leaf: bool, k: usize) -> String {
    if leaf {
        format!(
            "the end-entity certificate (subject \"{}\")",
            cert.x509.subject()
        )
    } else {
        format!(
            "intermediate CA certificate {k} (subject \"{}\")",
            cert.x509.subject()
        )
    }
}

fn validity(cert: &X509Certificate<'_>, now: u64) -> Result<(), Fault> {
    let secs = |t: i64| u64::try_from(t).unwrap_or(0);
    let validity = cert.validity();
    let not_before = validity.not_before.timestamp();
    let not_after = validity.not_after.timestamp();
    if i128::from(now) < i128::from(not_before) {
        return Err(Fault::NotYetValid(secs(not_before)));
    }
    if i128::from(now) > i128::from(not_after) {
        return Err(Fault::Expired(secs(not_after)));
    }
    Ok(())
}

/// The extended key usage the purpose needs, when the certificate restricts its usages.
fn eku(cert: &X509Certificate<'_>, usage: Usage) -> Result<(), String> {
    let eku = cert
        .extended_key_usage()
        .map_err(|e| format!("has a malformed extKeyUsage: {e}"))?;
    let Some(eku) = eku else {
        return Ok(());
    };
    match usage {
        Usage::Client { require_eku: false } => Ok(()),
        Usage::Client { require_eku: true } if eku.value.client_auth => Ok(()),
        Usage::Server if eku.value.server_auth => Ok(()),
        Usage::Client { .. } => Err("has an extKeyUsage without clientAuth".into()),
        Usage::Server => Err("has an extKeyUsage without serverAuth".into()),
    }
}
