//! The validity rules: whether a measured result can be trusted. A result is invalid when the load generator
//! did not hold its schedule (sent below the target, left requests unsent), was CPU-starved, or shared CPUs
//! with the server; the reasons travel with the result into every table and chart.

use std::time::Duration;

use crate::results::{Metrics, Validity};

/// The load generator must send within this fraction of the target rate for a result to be valid.
pub const SEND_RATE_TOLERANCE: f64 = 0.01;
/// Mean CPU of the load generator, as a fraction of the CPUs it may use, above which it counts as starved.
pub const LOAD_GENERATOR_STARVED: f64 = 0.9;

/// The reason given when the server and vegeta could run on the same CPUs: a property of the placement, the
/// same for every test of a workers count.
pub const SHARED_CORES_REASON: &str = "the server and vegeta shared CPUs";

/// What the validity rules need to know about the load generator of one test.
pub struct LoadGenerator {
    pub cpu_mean_pct: f64,
    /// CPUs it could use.
    pub cpus: usize,
    /// It could run on the server's CPUs.
    pub shared_cores: bool,
}

/// The rules: the generator sent within 1% of the target rate and left no scheduled request unsent, it was
/// not CPU-starved, and it did not share CPUs with the server.
pub fn validity_of(rate: u32, duration: Duration, metrics: &Metrics, load: &LoadGenerator) -> Validity {
    let mut reasons = Vec::new();
    let target = f64::from(rate);
    if metrics.send_rate_rps < target * (1.0 - SEND_RATE_TOLERANCE) {
        reasons.push(format!("vegeta sent {:.1}/s, more than 1% below the {rate} target", metrics.send_rate_rps));
    }
    let expected = (target * duration.as_secs_f64()).floor();
    let requests = metrics.requests as f64;
    if requests < expected * (1.0 - SEND_RATE_TOLERANCE) {
        reasons.push(format!("vegeta issued {requests} of {expected} scheduled requests"));
    }
    let starved_at = LOAD_GENERATOR_STARVED * 100.0 * load.cpus as f64;
    if load.cpu_mean_pct >= starved_at {
        reasons.push(format!(
            "vegeta used {:.0}% CPU of {} CPU(s): the load generator was starved",
            load.cpu_mean_pct, load.cpus
        ));
    }
    if load.shared_cores {
        reasons.push(SHARED_CORES_REASON.to_owned());
    }
    Validity::from_reasons(reasons, load.shared_cores)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::TestRecord;

    fn fixture_metrics() -> Metrics {
        let record: TestRecord =
            serde_json::from_str(include_str!("../tests/fixtures/one_record.json")).expect("fixture record");
        record.metrics.expect("fixture has metrics")
    }

    #[test]
    fn a_held_schedule_on_its_own_cpu_is_valid() {
        let metrics = fixture_metrics();
        let load = LoadGenerator { cpu_mean_pct: 12.0, cpus: 1, shared_cores: false };
        let validity = validity_of(100, Duration::from_secs(2), &metrics, &load);
        assert!(validity.valid, "{validity:?}");
    }

    #[test]
    fn each_validity_rule_names_its_reason() {
        let mut metrics = fixture_metrics();
        let quiet = LoadGenerator { cpu_mean_pct: 12.0, cpus: 1, shared_cores: false };
        let two_seconds = Duration::from_secs(2);
        metrics.send_rate_rps = 98.5;
        let behind = validity_of(100, two_seconds, &metrics, &quiet);
        assert!(!behind.valid && behind.reasons[0].contains("below the 100 target"), "{behind:?}");

        let mut metrics = fixture_metrics();
        metrics.requests = 190;
        let unsent = validity_of(100, two_seconds, &metrics, &quiet);
        assert!(unsent.reasons.iter().any(|r| r.contains("190 of 200")), "{unsent:?}");

        let metrics = fixture_metrics();
        let busy = LoadGenerator { cpu_mean_pct: 185.0, cpus: 2, shared_cores: false };
        let starved = validity_of(100, two_seconds, &metrics, &busy);
        assert!(starved.reasons.iter().any(|r| r.contains("starved")), "{starved:?}");
        let almost = LoadGenerator { cpu_mean_pct: 170.0, cpus: 2, shared_cores: false };
        assert!(validity_of(100, two_seconds, &metrics, &almost).valid, "85% of two CPUs is not starved");

        let shared = LoadGenerator { cpu_mean_pct: 12.0, cpus: 2, shared_cores: true };
        let sharing = validity_of(100, two_seconds, &metrics, &shared);
        assert!(!sharing.valid && sharing.shared_cores);
    }
}
