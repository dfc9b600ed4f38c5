//! What a reload of large trust material costs: reading and parsing a CA bundle of `--cas`
//! certificates and a CRL set whose intermediate CRL has `--revoked` entries, indexing them
//! (`LoadedTrustDomain`), building the verifier and the listener's `TlsSnapshot`. Prints, as
//! a JSON line, the wall and thread CPU time and the peak resident memory the reload added
//! (`VmHWM` after resetting it through `/proc/self/clear_refs`, less `VmRSS` before).
//!
//! ```text
//! target/release/reload --cas 10000 --revoked 0
//! target/release/reload --cas 1 --revoked 1000000
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use mtls_benches::cpu::thread_time;
use mtls_benches::fixtures::{ClientPki, SERVER_NAME, TRUST_DOMAIN, ca_bundle_pem_of, provider};
use mtls_core::{CaBundle, CertificateChain, CrlSet, PrivateKey, ServerCredential};
use mtls_testkit::{KeyAlg, Pki};
use mtls_tower::tls::{DomainOptions, HostTls, LoadedTrustDomain, PolicyVerifier, TlsSnapshot};

#[derive(Parser, Debug)]
struct Args {
    /// CA certificates in the bundle (the client's root and `cas - 1` others).
    #[arg(long, default_value_t = 10_000)]
    cas: usize,
    /// Serials revoked in the intermediate's CRL.
    #[arg(long, default_value_t = 0)]
    revoked: usize,
}

/// A `/proc/self/status` field in KiB.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn reload(dir: &Path) -> TlsSnapshot {
    let provider = provider();
    let ca = std::fs::read(dir.join("ca.pem")).expect("ca.pem");
    let crl = std::fs::read(dir.join("crl.pem")).expect("crl.pem");
    let bundle = CaBundle::from_bytes(&ca, "ca.pem").expect("bundle");
    let crls = CrlSet::from_bytes(&crl, "crl.pem").expect("CRLs");
    let domain = LoadedTrustDomain::new(
        TRUST_DOMAIN,
        bundle,
        Some(&crls),
        DomainOptions::default(),
        &provider,
    )
    .expect("trust domain");
    let verifier = PolicyVerifier::builder(Arc::clone(&provider))
        .trust_domain(domain)
        .build()
        .expect("verifier");
    let server = Pki::shared().default_server();
    let chain =
        CertificateChain::from_bytes(server.chain_pem().as_bytes(), "tls.crt").expect("chain");
    let key = PrivateKey::from_bytes(server.key_pem().as_bytes(), "tls.key").expect("key");
    let credential = ServerCredential::new(chain, key).expect("credential");
    let key = mtls_verify::crypto::certified_key(&credential, &provider).expect("certified key");
    TlsSnapshot::builder(provider)
        .host(HostTls::new([SERVER_NAME], key).client_verifier(Arc::new(verifier)))
        .build()
        .expect("snapshot")
}

fn main() {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("mtls-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    {
        let pki = ClientPki::with_revoked(KeyAlg::EcdsaP256, args.revoked);
        let others = ca_bundle_pem_of(args.cas.saturating_sub(1), true);
        let ca = format!("{others}{}", pki.pki.root().cert_pem());
        std::fs::write(dir.as_path().join("ca.pem"), ca).expect("write ca.pem");
        std::fs::write(dir.as_path().join("crl.pem"), pki.crls.pem()).expect("write crl.pem");
    }
    let files: u64 = ["ca.pem", "crl.pem"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.as_path().join(f)).ok())
        .map(|m| m.len())
        .sum();
    // The generation's memory back to the system where it can be, then the peak reset.
    let rss_before = status_kib("VmRSS:");
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let (wall, cpu) = (Instant::now(), thread_time());
    let snapshot = reload(dir.as_path());
    let (wall, cpu) = (wall.elapsed(), thread_time().saturating_sub(cpu));
    let peak = status_kib("VmHWM:");
    let held = status_kib("VmRSS:");
    drop(snapshot);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        r#"{{"cas":{},"revoked":{},"file_bytes":{files},"wall_ms":{:.1},"cpu_ms":{:.1},"peak_added_kib":{},"held_added_kib":{}}}"#,
        args.cas,
        args.revoked,
        wall.as_secs_f64() * 1e3,
        cpu.as_secs_f64() * 1e3,
        peak.saturating_sub(rss_before),
        held.saturating_sub(rss_before),
    );
}
