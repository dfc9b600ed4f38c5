use std::net::SocketAddr;

use mtls_policy::PeerVerification;
use mtls_testkit::Pki;
use proptest::prelude::*;

use super::*;
use crate::TlsInfo;

const WEB: &str = "spiffe://demo.local/ns/default/sa/web";

fn addr(text: &str) -> Option<SocketAddr> {
    Some(text.parse().unwrap())
}

fn plaintext(remote: &str) -> ConnectionInfo {
    ConnectionInfo::plaintext(addr(remote), addr("127.0.0.1:8080"))
}

fn tls(remote: &str, sni: Option<&str>, with_certificate: bool) -> ConnectionInfo {
    let info = TlsInfo::new(
        sni.map(str::to_owned),
        "TLSv1_3",
        "TLS13_AES_128_GCM_SHA256",
    );
    if !with_certificate {
        return ConnectionInfo::tls(
            addr(remote),
            addr("127.0.0.1:8080"),
            info,
            Vec::new(),
            None,
            PeerVerification::NoCertificate,
        );
    }
    let leaf = Pki::shared().client().uri(WEB).issue();
    let peer = PeerIdentity::from_der(leaf.cert_der()).unwrap();
    ConnectionInfo::tls(
        addr(remote),
        addr("127.0.0.1:8080"),
        info,
        vec![leaf.cert_der().clone()],
        Some(peer),
        PeerVerification::verified("clients"),
    )
}

/// TLS with a certificate from which no identity was read: counted as mTLS, identity none.
fn unnamed_certificate(remote: &str) -> ConnectionInfo {
    ConnectionInfo::tls(
        addr(remote),
        None,
        TlsInfo::new(None, "TLSv1_3", "TLS13_AES_128_GCM_SHA256"),
        vec![Pki::shared().default_server().cert_der().clone()],
        None,
        PeerVerification::NoCertificate,
    )
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn each_transport_is_counted_under_its_source_sni_and_identity() {
    let r = StrictReadiness::new(16);
    r.record(&plaintext("10.0.0.1:1000"));
    r.record(&plaintext("10.0.0.1:1001"));
    r.record(&tls("10.0.0.2:1000", Some("api.example"), false));
    r.record(&tls("10.0.0.3:1000", Some("api.example"), true));
    r.record(&tls("10.0.0.3:1001", Some("api.example"), true));
    // Another SNI from the same source is another entry.
    r.record(&tls("10.0.0.3:1002", Some("www.example"), true));

    let report = r.snapshot();
    assert_eq!(report.capacity, 16);
    assert_eq!(report.would_break, 3);
    assert_eq!(report.overflow, ReadinessOverflow::default());
    let found: Vec<_> = report
        .entries
        .iter()
        .map(|e| {
            (
                e.source,
                e.sni.as_deref(),
                e.identity.as_deref(),
                (
                    e.counts.plaintext,
                    e.counts.tls_without_certificate,
                    e.counts.mtls,
                ),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (ip("10.0.0.1"), None, None, (2, 0, 0)),
            (ip("10.0.0.2"), Some("api.example"), None, (0, 1, 0)),
            (ip("10.0.0.3"), Some("api.example"), Some(WEB), (0, 0, 2)),
            (ip("10.0.0.3"), Some("www.example"), Some(WEB), (0, 0, 1)),
        ]
    );
    let since = report.since_unix_seconds;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(since <= now && now - since < 60, "{since} vs {now}");
}

#[test]
fn entries_are_sorted_by_what_strict_would_break_then_by_total() {
    let r = StrictReadiness::new(16);
    for _ in 0..5 {
        r.record(&tls("10.0.0.9:1", None, true));
    }
    r.record(&tls("10.0.0.8:1", None, false));
    for _ in 0..3 {
        r.record(&plaintext("10.0.0.7:1"));
    }
    // Same would-break count as .8, more connections in all: before it.
    r.record(&plaintext("10.0.0.6:1"));
    r.record(&unnamed_certificate("10.0.0.6:2"));
    let order: Vec<_> = r.snapshot().entries.iter().map(|e| e.source).collect();
    assert_eq!(
        order,
        [
            ip("10.0.0.7"),
            ip("10.0.0.6"),
            ip("10.0.0.8"),
            ip("10.0.0.9")
        ]
    );
}

#[test]
fn a_full_table_evicts_its_smallest_entry_into_the_overflow() {
    let r = StrictReadiness::new(2);
    for _ in 0..3 {
        r.record(&plaintext("10.0.0.1:1"));
    }
    r.record(&tls("10.0.0.2:1", None, false));
    // A third key: 10.0.0.2 (1 connection) makes room for it.
    r.record(&tls("10.0.0.3:1", None, true));
    let report = r.snapshot();
    let kept: Vec<_> = report.entries.iter().map(|e| e.source).collect();
    assert_eq!(kept, [ip("10.0.0.1"), ip("10.0.0.3")]);
    assert_eq!(report.overflow.entries, 1);
    assert_eq!(report.overflow.counts.tls_without_certificate, 1);
    // What was evicted still counts in what STRICT would break.
    assert_eq!(report.would_break, 4);

    // The heavy hitter stays while newcomers churn at the bottom.
    for i in 10..20 {
        r.record(&plaintext(&format!("10.0.1.{i}:1")));
    }
    let report = r.snapshot();
    assert_eq!(report.entries.len(), 2);
    assert_eq!(report.entries[0].source, ip("10.0.0.1"));
    assert_eq!(report.overflow.entries, 11);
    assert_eq!(report.would_break, 14);
}

#[test]
fn a_full_table_evicts_its_smallest_eighth_at_once() {
    let r = StrictReadiness::new(16);
    // Source i has i + 1 connections, 16 sources: full.
    for i in 0..16u8 {
        for _ in 0..=i {
            r.record(&plaintext(&format!("10.0.0.{i}:1")));
        }
    }
    assert_eq!(r.snapshot().overflow.entries, 0);
    // A newcomer evicts the two smallest (1 and 2 connections) and takes one place.
    r.record(&tls("10.0.1.1:1", None, false));
    let report = r.snapshot();
    assert_eq!(report.entries.len(), 15);
    assert_eq!(report.overflow.entries, 2);
    assert_eq!(report.overflow.counts.plaintext, 3);
    let sources: Vec<_> = report.entries.iter().map(|e| e.source).collect();
    assert!(!sources.contains(&ip("10.0.0.0")) && !sources.contains(&ip("10.0.0.1")));
    assert!(sources.contains(&ip("10.0.0.2")) && sources.contains(&ip("10.0.1.1")));
    // The next newcomer finds room without evicting.
    r.record(&tls("10.0.1.2:1", None, false));
    assert_eq!(r.snapshot().overflow.entries, 2);
    assert_eq!(r.snapshot().entries.len(), 16);
}

#[test]
fn ties_at_the_threshold_evict_only_as_many_as_needed() {
    let r = StrictReadiness::new(16);
    for i in 0..16u8 {
        r.record(&plaintext(&format!("10.0.0.{i}:1")));
    }
    r.record(&plaintext("10.0.1.1:1"));
    let report = r.snapshot();
    assert_eq!(report.entries.len(), 15);
    assert_eq!(report.overflow.entries, 2);
    assert_eq!(report.would_break, 17);
}

#[test]
fn long_names_are_cut_at_a_character_boundary() {
    assert_eq!(clip("api.example"), "api.example");
    let long = "é".repeat(200); // 400 bytes
    let cut = clip(&long);
    assert_eq!(cut.len(), 256);
    assert!(long.starts_with(cut));
    let odd = format!("a{long}"); // byte 256 falls inside a character
    assert_eq!(clip(&odd).len(), 255);
    // Two SNIs alike in their first 256 bytes are one entry.
    let r = StrictReadiness::new(4);
    let sni = "a".repeat(300);
    r.record(&tls("10.0.0.1:1", Some(&sni), false));
    r.record(&tls("10.0.0.1:1", Some(&format!("{sni}b")), false));
    let report = r.snapshot();
    assert_eq!(report.entries.len(), 1);
    assert_eq!(report.entries[0].sni.as_deref(), Some(&sni[..256]));
    assert_eq!(report.entries[0].counts.tls_without_certificate, 2);
}

#[test]
fn a_capacity_of_zero_counts_only_the_overflow() {
    let r = StrictReadiness::new(0);
    r.record(&plaintext("10.0.0.1:1"));
    r.record(&tls("10.0.0.1:1", None, true));
    let report = r.snapshot();
    assert!(report.entries.is_empty());
    assert_eq!(report.overflow.counts.plaintext, 1);
    assert_eq!(report.overflow.counts.mtls, 1);
    assert_eq!(report.would_break, 1);
}

#[test]
fn an_ipv4_mapped_address_is_its_ipv4_source() {
    let r = StrictReadiness::default();
    assert_eq!(r.capacity(), DEFAULT_READINESS_CAPACITY);
    r.record(&plaintext("[::ffff:10.0.0.1]:1"));
    r.record(&plaintext("10.0.0.1:2"));
    r.record(&plaintext("[2001:db8::1]:3"));
    let report = r.snapshot();
    assert_eq!(report.entries.len(), 2);
    assert_eq!(report.entries[0].source, ip("10.0.0.1"));
    assert_eq!(report.entries[0].counts.plaintext, 2);
    assert_eq!(report.entries[1].source, ip("2001:db8::1"));
}

#[test]
fn the_report_round_trips_through_json() {
    let r = StrictReadiness::new(4);
    r.record(&tls("10.0.0.3:1", Some("api.example"), true));
    r.record(&plaintext("10.0.0.1:1"));
    let report = r.snapshot();
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["entries"][0]["source"], "10.0.0.1");
    assert_eq!(json["entries"][0]["sni"], serde_json::Value::Null);
    assert_eq!(json["entries"][0]["counts"]["plaintext"], 1);
    assert_eq!(json["entries"][1]["identity"], WEB);
    assert_eq!(json["entries"][1]["counts"]["mtls"], 1);
    assert_eq!(json["overflow"]["entries"], 0);
    let back: ReadinessReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, report);
}

proptest! {
    /// Whatever arrives, the table holds at most its capacity and entries plus overflow add
    /// up to every connection recorded, kind by kind.
    #[test]
    fn entries_and_overflow_add_up_to_every_connection(
        capacity in 0usize..6,
        connections in prop::collection::vec((0u8..12, 0u8..3), 0..80),
    ) {
        let r = StrictReadiness::new(capacity);
        let mut expected = TransportCounts::default();
        for &(source, kind) in &connections {
            let remote = format!("10.0.0.{source}:1");
            let info = match kind {
                0 => plaintext(&remote),
                1 => tls(&remote, None, false),
                _ => unnamed_certificate(&remote),
            };
            expected.add(match kind {
                0 => Transport::Plaintext,
                1 => Transport::TlsWithoutCertificate,
                _ => Transport::Mtls,
            });
            r.record(&info);
        }
        let report = r.snapshot();
        prop_assert!(report.entries.len() <= capacity);
        let mut sum = report.overflow.counts;
        for e in &report.entries {
            sum.merge(&e.counts);
        }
        prop_assert_eq!(sum, expected);
        prop_assert_eq!(report.would_break, expected.would_break());
    }
}
