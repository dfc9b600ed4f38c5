//! The telemetry helpers: one reload counted once, by result and trigger.

mod support;

use mtls_tower::telemetry::{ReloadTrigger, count_reload};
use support::Counters;

#[test]
fn a_reload_is_counted_once_by_result_and_trigger() {
    let counters = Counters::default();
    metrics::with_local_recorder(&counters, || {
        count_reload(ReloadTrigger::File, true);
        count_reload(ReloadTrigger::Signal, false);
        count_reload(ReloadTrigger::Kube, false);
        count_reload(ReloadTrigger::Kube, false);
    });
    assert_eq!(
        counters.get(r#"mtls_reloads_total{result="ok",trigger="file"}"#),
        Some(1)
    );
    assert_eq!(
        counters.get(r#"mtls_reloads_total{result="failed",trigger="signal"}"#),
        Some(1)
    );
    assert_eq!(
        counters.get(r#"mtls_reloads_total{result="failed",trigger="kube"}"#),
        Some(2)
    );
    assert_eq!(
        counters.get(r#"mtls_reloads_total{result="ok",trigger="kube"}"#),
        None
    );
}
