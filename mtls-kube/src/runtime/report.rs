//! What an update reports: a `tracing` line and a metric when a problem starts, a status
//! condition on the object while it lasts.

use std::collections::BTreeSet;

use crate::model::{Condition, ConditionStatus, ObjectRef, ObjectStatus, Translation};
use crate::runtime::{Broken, Kept};

/// What was reported last time, to log and count each problem once when it starts.
#[derive(Default)]
pub(crate) struct Reported {
    broken: BTreeSet<String>,
    kept: BTreeSet<String>,
}

pub(crate) fn report(
    translation: &mut Translation,
    broken: &[Broken],
    kept: &[Kept],
    reported: &mut Reported,
) {
    let mut now = Reported::default();
    for b in broken {
        let id = format!("{}: {}", b.object, b.error);
        if !reported.broken.contains(&id) {
            metrics::counter!("mtls_kube_broken_objects_total", "kind" => b.object.kind.clone())
                .increment(1);
            tracing::warn!(object = %b.object, error = %b.error, kept_last_good = b.kept_last_good, "object cannot be read");
        }
        now.broken.insert(id);
        let message = if b.kept_last_good {
            format!("{}; the last readable version stays in use", b.error)
        } else {
            format!("{}; not used", b.error)
        };
        let condition = Condition::new("Accepted", ConditionStatus::False, "Invalid", message);
        set_condition(translation, &b.object, condition);
    }
    for k in kept {
        let id = format!("{} {:?}: {}", k.object, k.purpose, k.reason);
        if !reported.kept.contains(&id) {
            metrics::counter!("mtls_kube_kept_credentials_total", "kind" => k.object.kind.clone())
                .increment(1);
            tracing::warn!(object = %k.object, purpose = ?k.purpose, reason = %k.reason, last_good = k.last_good, "credential unusable; keeping its last good version");
        }
        now.kept.insert(id);
        let (reason, message) = if k.last_good {
            (
                "KeptLastGood",
                format!("{}; the last good version stays in use", k.reason),
            )
        } else {
            (
                "NoLastGood",
                format!("{}; no earlier version to use", k.reason),
            )
        };
        let condition = Condition::new("ResolvedRefs", ConditionStatus::False, reason, message);
        set_condition(translation, &k.object, condition);
        if k.last_good {
            // The translation read the last good version: its users resolve, and are told.
            for user in &k.used_by {
                if !unresolved(translation, user) {
                    let message = format!(
                        "{}: {}; its last good version stays in use",
                        k.object, k.reason
                    );
                    let condition = Condition::new(
                        "ResolvedRefs",
                        ConditionStatus::False,
                        "KeptLastGood",
                        message,
                    );
                    set_condition(translation, user, condition);
                }
            }
        }
    }
    metrics::gauge!("mtls_kube_broken_objects").set(broken.len() as f64);
    metrics::gauge!("mtls_kube_kept_credentials").set(kept.len() as f64);
    *reported = now;
}

/// Whether `object` has a `ResolvedRefs=False` condition (on the object or a section).
fn unresolved(translation: &Translation, object: &ObjectRef) -> bool {
    translation
        .status
        .iter()
        .filter(|s| &s.object == object)
        .filter_map(|s| s.condition("ResolvedRefs"))
        .any(|c| c.status == ConditionStatus::False)
}

/// Sets a condition of an object (its whole-object status), replacing one of the same type.
fn set_condition(translation: &mut Translation, object: &ObjectRef, condition: Condition) {
    let existing = translation
        .status
        .iter_mut()
        .find(|s| &s.object == object && s.section.is_none());
    match existing {
        Some(status) => {
            status.conditions.retain(|c| c.kind != condition.kind);
            status.conditions.push(condition);
        }
        None => translation.status.push(ObjectStatus {
            object: object.clone(),
            section: None,
            conditions: vec![condition],
        }),
    }
}
