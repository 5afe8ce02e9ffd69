//! How one probe of a search went: a measured test judged against the SLO.

use std::time::Duration;

use super::validity::Invalidity;
use crate::model::{TestRecord, TestStatus};
use crate::search::Verdict;

/// The service level a sustainable rate must meet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slo {
    pub p99: Duration,
    pub success_pct: f64,
}

/// The start of an invalid verdict's reason when the load generator limited the probe: the search's result is
/// then a generator-bound lower bound.
pub const GENERATOR_LIMITED: &str = "the load generator limited this probe";

/// Judges one measured test against the SLO; `found` are the test's invalidities as the rules found them.
///
/// In order: a probe the load generator limited (fell behind, starved, waited for a CPU, unmeasured) is
/// invalid whatever its latency, since what it measured is partly the generator's own; then the SLO (success,
/// p99); then whether the server kept up with what it was sent (a probe whose backlog was still growing meets
/// no SLO for long, however short the probe); then any other invalidity (the server short of CPU).
pub fn judge(record: &TestRecord, found: &[Invalidity], slo: &Slo) -> Verdict {
    if record.status == TestStatus::Failed {
        return Verdict::Failed(record.failure.clone().unwrap_or_else(|| "the test failed".to_owned()));
    }
    let Some(metrics) = &record.metrics else { return Verdict::Failed("no metrics".to_owned()) };
    let generator: Vec<String> = found.iter().filter(|i| i.is_generator()).map(ToString::to_string).collect();
    if !generator.is_empty() {
        return Verdict::Invalid(format!("{GENERATOR_LIMITED}: {}", generator.join("; ")));
    }
    let p99_limit_ms = slo.p99.as_secs_f64() * 1000.0;
    if metrics.success_pct < slo.success_pct {
        return Verdict::Misses(format!("success {:.2}% < {}%", metrics.success_pct, slo.success_pct));
    }
    if metrics.latency_ms.p99 > p99_limit_ms {
        return Verdict::Misses(format!("p99 {:.1} ms > {p99_limit_ms} ms", metrics.latency_ms.p99));
    }
    match &record.kept_up {
        Some(kept_up) if !kept_up.kept_up => {
            return Verdict::Misses(kept_up.shortfall.clone().unwrap_or_else(|| "the server fell behind".to_owned()));
        }
        Some(_) => {}
        None => return Verdict::Misses("too few requests to tell whether the server kept up".to_owned()),
    }
    let others: Vec<String> = found.iter().map(ToString::to_string).collect();
    if !others.is_empty() {
        return Verdict::Invalid(others.join("; "));
    }
    Verdict::Meets
}

/// In a calibration an invalid probe is where the generator stopped holding the rate: the ceiling, so the
/// search bisects below it.
pub fn for_calibration(verdict: Verdict) -> Verdict {
    match verdict {
        Verdict::Invalid(why) => Verdict::Misses(why),
        verdict => verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::validity::Process;
    use crate::model::KeptUpRecord;

    fn record() -> TestRecord {
        let mut record: TestRecord =
            serde_json::from_str(include_str!("../../tests/fixtures/one_record.json")).expect("fixture record");
        record.kept_up = Some(kept_up(None));
        record
    }

    fn kept_up(shortfall: Option<&str>) -> KeptUpRecord {
        KeptUpRecord {
            kept_up: shortfall.is_none(),
            offered_rps: 100.0,
            achieved_rps: if shortfall.is_some() { 87.0 } else { 100.0 },
            first_third_p50_ms: 50.0,
            last_third_p50_ms: 52.0,
            shortfall: shortfall.map(str::to_owned),
        }
    }

    const SLO: Slo = Slo { p99: Duration::from_millis(100), success_pct: 99.9 };

    #[test]
    fn the_generators_limits_come_before_the_slo() {
        let mut record = record();
        assert_eq!(judge(&record, &[], &SLO), Verdict::Meets);
        let behind = [Invalidity::FellBehind { sent_rps: 90.0, rate: 100 }];
        let Verdict::Invalid(why) = judge(&record, &behind, &SLO) else { panic!("invalid") };
        assert!(why.starts_with(GENERATOR_LIMITED), "{why}");
        if let Some(metrics) = record.metrics.as_mut() {
            metrics.latency_ms.p99 = 250.0;
        }
        // The latency of a probe the generator limited is partly the generator's: not the server's miss.
        assert!(matches!(judge(&record, &behind, &SLO), Verdict::Invalid(_)));
        assert!(matches!(judge(&record, &[], &SLO), Verdict::Misses(_)));
        let server_short = [Invalidity::Contended { process: Process::Server, share_pct: 40.0 }];
        assert!(matches!(judge(&record, &server_short, &SLO), Verdict::Misses(_)), "the server's miss counts");
        record.status = TestStatus::Failed;
        assert!(matches!(judge(&record, &[], &SLO), Verdict::Failed(_)));
    }

    #[test]
    fn a_probe_within_the_slo_meets_only_if_the_server_kept_up() {
        let mut record = record();
        record.kept_up = Some(kept_up(Some("the server fell behind: completed 20.0/s of 23.0/s sent")));
        assert_eq!(
            judge(&record, &[], &SLO),
            Verdict::Misses("the server fell behind: completed 20.0/s of 23.0/s sent".into())
        );
        record.kept_up = None;
        assert!(matches!(judge(&record, &[], &SLO), Verdict::Misses(why) if why.contains("too few requests")));
    }

    #[test]
    fn a_server_short_of_cpu_within_the_slo_is_invalid() {
        let server_short = [Invalidity::Contended { process: Process::Server, share_pct: 40.0 }];
        let Verdict::Invalid(why) = judge(&record(), &server_short, &SLO) else { panic!("invalid") };
        assert!(!why.starts_with(GENERATOR_LIMITED) && why.contains("the server's busiest thread waited"), "{why}");
    }

    #[test]
    fn a_calibration_reads_an_invalid_probe_as_the_ceiling() {
        assert_eq!(for_calibration(Verdict::Invalid("behind".into())), Verdict::Misses("behind".into()));
        assert_eq!(for_calibration(Verdict::Meets), Verdict::Meets);
    }
}
