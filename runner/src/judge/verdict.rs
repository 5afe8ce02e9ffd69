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

/// Judges one measured test against the SLO; `found` are the test's invalidities as the rules found them.
/// A miss counts even when the probe is invalid (a server that misses at a lower effective rate would miss at
/// the full one). Shared CPUs are a property of the placement, the same for every probe: judged per probe they
/// would stop every search at its first probe, so the capacity result carries them instead.
pub fn judge(record: &TestRecord, found: &[Invalidity], slo: &Slo) -> Verdict {
    if record.status == TestStatus::Failed {
        return Verdict::Failed(record.failure.clone().unwrap_or_else(|| "the test failed".to_owned()));
    }
    let Some(metrics) = &record.metrics else { return Verdict::Failed("no metrics".to_owned()) };
    let p99_limit_ms = slo.p99.as_secs_f64() * 1000.0;
    if metrics.success_pct < slo.success_pct {
        return Verdict::Misses(format!("success {:.2}% < {}%", metrics.success_pct, slo.success_pct));
    }
    if metrics.latency_ms.p99 > p99_limit_ms {
        return Verdict::Misses(format!("p99 {:.1} ms > {p99_limit_ms} ms", metrics.latency_ms.p99));
    }
    let reasons: Vec<String> = found.iter().filter(|i| !i.is_placement()).map(ToString::to_string).collect();
    if !reasons.is_empty() {
        return Verdict::Invalid(reasons.join("; "));
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

    fn record() -> TestRecord {
        serde_json::from_str(include_str!("../../tests/fixtures/one_record.json")).expect("fixture record")
    }

    const SLO: Slo = Slo { p99: Duration::from_millis(100), success_pct: 99.9 };

    #[test]
    fn misses_take_precedence_over_invalidity() {
        let mut record = record();
        assert_eq!(judge(&record, &[], &SLO), Verdict::Meets);
        let behind = [Invalidity::FellBehind { sent_rps: 90.0, rate: 100 }];
        assert!(matches!(judge(&record, &behind, &SLO), Verdict::Invalid(_)));
        if let Some(metrics) = record.metrics.as_mut() {
            metrics.latency_ms.p99 = 250.0;
        }
        assert!(matches!(judge(&record, &behind, &SLO), Verdict::Misses(_)));
        record.status = TestStatus::Failed;
        assert!(matches!(judge(&record, &[], &SLO), Verdict::Failed(_)));
    }

    #[test]
    fn shared_cpus_alone_do_not_stop_a_search() {
        assert_eq!(judge(&record(), &[Invalidity::SharedCpus], &SLO), Verdict::Meets);
    }

    #[test]
    fn a_calibration_reads_an_invalid_probe_as_the_ceiling() {
        assert_eq!(for_calibration(Verdict::Invalid("behind".into())), Verdict::Misses("behind".into()));
        assert_eq!(for_calibration(Verdict::Meets), Verdict::Meets);
    }
}
