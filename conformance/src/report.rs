//! Counting results: CLIENT and SERVER totals, and the same per feature tag, per id prefix
//! (`rfc5280::`) and per id group (`rfc5280::nc::`); a text table for people.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::runner::{CaseResult, Verifier};
use crate::suite::Kind;

/// Testcases of one kind in one bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Testcases.
    pub total: usize,
    /// Testcases whose result matched the expectation.
    pub passed: usize,
    /// Testcases the verifier rejected because it refused the trust material at load
    /// (passes when FAILURE was expected).
    pub refused_at_load: usize,
    /// Failed testcases listed in [`crate::DELIBERATE`] (we differ on purpose).
    pub deliberate: usize,
}

impl Tally {
    fn add(&mut self, result: &CaseResult) {
        self.total += 1;
        self.passed += usize::from(result.passed);
        self.refused_at_load += usize::from(result.stage.is_load_refusal());
        self.deliberate += usize::from(!result.passed && crate::deliberate(&result.id).is_some());
    }

    /// Failed testcases.
    pub fn failed(&self) -> usize {
        self.total - self.passed
    }

    /// Pass rate in percent (100 for an empty tally).
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            return 100.0;
        }
        // Counts are far below 2^52: exact as f64.
        #[allow(clippy::cast_precision_loss)]
        let rate = self.passed as f64 * 100.0 / self.total as f64;
        rate
    }
}

/// CLIENT and SERVER tallies of one bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PerKind {
    /// CLIENT testcases.
    pub client: Tally,
    /// SERVER testcases.
    pub server: Tally,
}

impl PerKind {
    fn add(&mut self, result: &CaseResult) {
        match result.kind {
            Kind::Client => self.client.add(result),
            Kind::Server => self.server.add(result),
        }
    }
}

/// The aggregated counts of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Which verifier ran.
    pub verifier: Verifier,
    /// CLIENT and SERVER over the whole suite.
    pub totals: PerKind,
    /// Per feature tag; `(none)` for testcases without one. A testcase with two tags counts
    /// in both.
    pub by_feature: BTreeMap<String, PerKind>,
    /// Per first id segment (`bettertls::`).
    pub by_prefix: BTreeMap<String, PerKind>,
    /// Per first two id segments (`bettertls::nameconstraints::`).
    pub by_group: BTreeMap<String, PerKind>,
    /// Wall-clock time of the run.
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Summary {
    /// Counts `results`.
    pub fn new(verifier: Verifier, results: &[CaseResult], elapsed: Duration) -> Self {
        let mut summary = Self {
            verifier,
            totals: PerKind::default(),
            by_feature: BTreeMap::new(),
            by_prefix: BTreeMap::new(),
            by_group: BTreeMap::new(),
            elapsed,
        };
        for result in results {
            summary.totals.add(result);
            if result.features.is_empty() {
                summary
                    .by_feature
                    .entry("(none)".into())
                    .or_default()
                    .add(result);
            }
            for feature in &result.features {
                summary
                    .by_feature
                    .entry(feature.clone())
                    .or_default()
                    .add(result);
            }
            summary
                .by_prefix
                .entry(id_prefix(&result.id, 1))
                .or_default()
                .add(result);
            summary
                .by_group
                .entry(id_prefix(&result.id, 2))
                .or_default()
                .add(result);
        }
        summary
    }

    /// One line: `x509-limbo (gateway): CLIENT 5/10, SERVER 9713/9770 (99.42 %), ...`.
    pub fn line(&self) -> String {
        let (c, s) = (&self.totals.client, &self.totals.server);
        format!(
            "x509-limbo ({}): CLIENT {}/{} passed, SERVER {}/{} passed ({:.2} %); {} refused at \
             load; {} failures on purpose; {} testcases in {:.1} s",
            verifier_name(self.verifier),
            c.passed,
            c.total,
            s.passed,
            s.total,
            s.percent(),
            c.refused_at_load + s.refused_at_load,
            c.deliberate + s.deliberate,
            c.total + s.total,
            self.elapsed.as_secs_f64(),
        )
    }

    /// The per-feature, per-prefix and per-group tables.
    pub fn table(&self) -> String {
        let mut out = String::new();
        section(&mut out, "feature", &self.by_feature);
        section(&mut out, "id prefix", &self.by_prefix);
        section(&mut out, "id group", &self.by_group);
        out
    }
}

/// The name used in reports: `gateway` or `raw-webpki`.
pub fn verifier_name(verifier: Verifier) -> &'static str {
    match verifier {
        Verifier::Gateway => "gateway",
        Verifier::GatewayStrict => "gateway, profile strict",
        Verifier::RawWebpki => "raw-webpki",
    }
}

/// The first `segments` segments of an id, with the trailing `::` (the whole id when shorter).
pub fn id_prefix(id: &str, segments: usize) -> String {
    let parts: Vec<&str> = id.split("::").collect();
    if parts.len() <= segments {
        return id.to_string();
    }
    let mut prefix = parts[..segments].join("::");
    prefix.push_str("::");
    prefix
}

fn section(out: &mut String, title: &str, rows: &BTreeMap<String, PerKind>) {
    let _ = writeln!(
        out,
        "{title:<38} {:>16} {:>20} {:>6} {:>9}",
        "CLIENT pass/all", "SERVER pass/all", "load", "purpose"
    );
    for (key, per) in rows {
        let cell = |t: &Tally| {
            if t.total == 0 {
                "-".to_string()
            } else {
                format!("{}/{}", t.passed, t.total)
            }
        };
        let server = if per.server.total == 0 {
            "-".to_string()
        } else {
            format!("{} ({:.1}%)", cell(&per.server), per.server.percent())
        };
        let _ = writeln!(
            out,
            "{key:<38} {:>16} {:>20} {:>6} {:>9}",
            cell(&per.client),
            server,
            per.client.refused_at_load + per.server.refused_at_load,
            per.client.deliberate + per.server.deliberate,
        );
    }
    out.push('\n');
}
