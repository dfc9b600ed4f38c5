//! `check --fetch-crls`: the CRLs the presented chain's certificates name in their
//! cRLDistributionPoints (`http://` URIs), fetched once each with the bounded HTTP client of
//! `check --ocsp` (one deadline, `--crl-timeout`, per fetch; at most [`MAX_CRL`] bytes),
//! read as `--crl` files are (DER or PEM) and added to them.
//!
//! A certificate naming several `http://` URIs is served by the first that gives a CRL. When a
//! certificate's URIs all fail, when none of the chain names one, or when a fetched CRL of a
//! trust anchor is not signed by it, the chain is rejected (`revocation_unknown`, "no usable
//! CRL: ..."): a fetch that fails never accepts. Whether a fetched CRL answers for a
//! certificate (its issuer, its signature by an intermediate, its scope) is the verifier's
//! decision, as for `--crl` files.

use std::sync::Arc;
use std::time::Duration;

use mtls_core::{CaBundle, CertificateChain, CrlSet, PeerIdentity};
use mtls_tower::tls::{DomainOptions, LoadedTrustDomain};
use mtls_verify::crl_distribution_uris;
use rustls::crypto::CryptoProvider;

use super::Outcome;
use mtls_tower::fetch::http::{self, HttpUrl};

/// The largest CRL fetched, in bytes.
pub(crate) const MAX_CRL: usize = 10 * 1024 * 1024;

/// The flags of `--fetch-crls`.
#[derive(clap::Args, Debug)]
pub(crate) struct FetchArgs {
    /// Fetch the CRLs the chain's certificates name (cRLDistributionPoints, `http://` URIs)
    /// and verify with them added to `--crl`'s; no usable CRL rejects.
    #[arg(long, conflicts_with = "config")]
    fetch_crls: bool,
    /// With `--fetch-crls`: seconds each fetch may take.
    #[arg(long, value_name = "SECS", requires = "fetch_crls", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    crl_timeout: u64,
}

/// With `--fetch-crls`, adds the chain's CRLs to `crls`; the rejection when there is no
/// usable one.
pub(crate) fn add_fetched(
    args: &FetchArgs,
    chain: &CertificateChain,
    bundle: &CaBundle,
    provider: &Arc<CryptoProvider>,
    crls: &mut CrlSet,
) -> Result<(), Outcome> {
    if !args.fetch_crls {
        return Ok(());
    }
    let fetched = fetch(chain, Duration::from_secs(args.crl_timeout)).and_then(|fetched| {
        // A CRL naming a trust anchor must be signed by it: checked here, alone, so that the
        // failure is this CRL's (a bad `--crl` file stays a configuration error).
        let options = DomainOptions::default();
        LoadedTrustDomain::new("check", bundle.clone(), Some(&fetched), options, provider)
            .map(|_| fetched)
            .map_err(|e| e.to_string())
    });
    match fetched {
        Ok(fetched) => {
            crls.extend(fetched);
            Ok(())
        }
        Err(why) => {
            let identity = PeerIdentity::from_der(chain.leaf()).ok();
            let reason = format!("no usable CRL: {why}");
            let mut outcome = Outcome::rejected("revocation_unknown", reason, identity, Vec::new());
            outcome.chain = super::built_chain(chain, Some(bundle));
            Err(outcome)
        }
    }
}

/// The CRLs of every certificate of `chain` that names `http://` distribution points.
fn fetch(chain: &CertificateChain, timeout: Duration) -> Result<CrlSet, String> {
    let mut crls = CrlSet::default();
    let mut any = false;
    let mut done: Vec<String> = Vec::new();
    for (i, cert) in chain.as_slice().iter().enumerate() {
        let uris = crl_distribution_uris(cert);
        if uris.is_empty() {
            continue;
        }
        any = true;
        if uris.iter().any(|u| done.contains(u)) {
            continue; // the CRL of an earlier certificate
        }
        let mut failures = Vec::new();
        let mut got = None;
        for uri in &uris {
            match fetch_one(uri, timeout) {
                Ok(set) => {
                    got = Some((uri.clone(), set));
                    break;
                }
                Err(e) => failures.push(e),
            }
        }
        let Some((uri, set)) = got else {
            return Err(format!(
                "certificate {i} of the chain: {}",
                failures.join("; ")
            ));
        };
        crls.extend(set);
        done.push(uri);
    }
    if !any {
        return Err("no certificate of the chain names an http:// CRL distribution point".into());
    }
    Ok(crls)
}

/// One CRL (or several, in PEM) from `uri`; the error names `uri`.
fn fetch_one(uri: &str, timeout: Duration) -> Result<CrlSet, String> {
    let url = HttpUrl::parse(uri).map_err(|e| format!("{uri}: {e}"))?;
    let body = http::get(&url, timeout, MAX_CRL).map_err(|e| format!("{uri}: {e}"))?;
    // The error of the CRL reader names its origin, the URI.
    CrlSet::from_bytes(&body, uri).map_err(|e| e.to_string())
}
