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
//!
//! With `--config`, the fetched CRLs join every trust domain of the host as the gateway adds
//! those of a domain's `crl.distribution_points` ([`fetching`]): the chain's URIs are added to
//! the domain's distribution points and the verifier is built with the CRLs fetched from them.

use std::sync::Arc;
use std::time::Duration;

use mtls_core::{CaBundle, CertificateChain, CrlSet, PeerIdentity};
use mtls_policy::{ClientValidation, CrlOptions, DistributionPoints};
use mtls_tower::tls::{DomainOptions, FetchedCrls, LoadedTrustDomain};
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
    #[arg(long)]
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
        let fetched = merged(&fetched);
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

/// The CRLs of every certificate of `chain` that names `http://` distribution points, by the
/// URI that gave them.
fn fetch(chain: &CertificateChain, timeout: Duration) -> Result<FetchedCrls, String> {
    let mut crls = FetchedCrls::default();
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
        crls.insert(uri.clone(), set);
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

/// Every CRL of `fetched`, in one set.
fn merged(fetched: &FetchedCrls) -> CrlSet {
    let mut crls = CrlSet::default();
    for uri in fetched.uris() {
        if let Some(set) = fetched.get(uri) {
            crls.extend(set.clone());
        }
    }
    crls
}

/// With `--fetch-crls` and `--config`: the host's `validation` with the chain's distribution
/// points added to every trust domain's (`crl.distribution_points.urls`), the CRLs fetched
/// from them, and a trace line naming them; `Err` with the reason when there is no usable CRL
/// (none fetched, or one a trust domain refuses, such as a CRL of its CA not signed by it).
pub(super) fn fetching(
    args: &FetchArgs,
    validation: &ClientValidation,
    chain: &CertificateChain,
    provider: &CryptoProvider,
) -> Result<Option<(ClientValidation, FetchedCrls, String)>, String> {
    if !args.fetch_crls {
        return Ok(None);
    }
    let fetched = fetch(chain, Duration::from_secs(args.crl_timeout))
        .map_err(|why| format!("no usable CRL: {why}"))?;
    let uris: Vec<String> = fetched.uris().map(str::to_owned).collect();
    let mut validation = validation.clone();
    for domain in &mut validation.trust {
        let crl = domain
            .crl
            .get_or_insert_with(|| CrlOptions::new(Vec::new()));
        let points = crl
            .distribution_points
            .get_or_insert_with(DistributionPoints::default);
        points.urls.extend(uris.iter().cloned());
        // A CRL this domain refuses is this CRL's failure, as without --config.
        let no_secrets = |_: &_| Err("`check` reads no secrets".into());
        let loaded = LoadedTrustDomain::load_with(domain, provider, &no_secrets)
            .map_err(|e| e.to_string())?;
        loaded
            .check_crls(&merged(&fetched), provider)
            .map_err(|e| format!("no usable CRL: {e}"))?;
    }
    let line = format!("fetched from {}", uris.join(", "));
    Ok(Some((validation, fetched, line)))
}
