//! The validity rules applied to each of several attackers: its own send rate against its share, the
//! requests it left unsent, its schedule lag and its CPU, each reason named with its host in the test's
//! validity; and whether the attackers' windows overlapped enough for the merged rate to mean anything.

use std::time::Duration;

use super::validity::{Invalidity, lag_invalidity, schedule_invalidities};
use crate::defaults::{ATTACKERS_OVERLAP_SHARE, LOAD_GENERATOR_STARVED};
use crate::model::{CpuRecord, Measured, Metrics, ScheduleLagRecord};

/// What the rules read about one attacker.
#[derive(Debug, Clone, Copy)]
pub struct AttackerEvidence<'a> {
    pub host: &'a str,
    /// Its share of the test's rate.
    pub rate: u32,
    pub duration: Duration,
    /// The metrics of its own requests.
    pub metrics: &'a Metrics,
    pub schedule_lag: Option<&'a ScheduleLagRecord>,
    /// Its vegeta's CPU over the attack.
    pub cpu: &'a Measured<CpuRecord>,
    /// CPUs its vegeta could use; `None` when its host did not say.
    pub cpus: Option<usize>,
}

/// The rules on one attacker's own results, unnamed (see [`named`]).
pub fn attacker_invalidities(evidence: &AttackerEvidence<'_>) -> Vec<Invalidity> {
    let mut found = schedule_invalidities(evidence.rate, evidence.duration, evidence.metrics);
    found.extend(evidence.schedule_lag.and_then(lag_invalidity));
    match (evidence.cpu, evidence.cpus) {
        (Measured::Measured(cpu), Some(cpus)) if cpu.cpu_pct >= LOAD_GENERATOR_STARVED * 100.0 * cpus as f64 => {
            found.push(Invalidity::Starved { cpu_mean_pct: cpu.cpu_pct, cpus });
        }
        (Measured::Measured(_), _) => {}
        (Measured::Absent(why), _) => {
            found.push(Invalidity::Unmeasured { process: super::Process::LoadGenerator, what: "CPU", why: why.clone() })
        }
    }
    found
}

/// `found` as reasons of the test, each naming the attacker it is about.
pub fn named(host: &str, found: Vec<Invalidity>) -> Vec<Invalidity> {
    found.into_iter().map(|reason| Invalidity::Attacker { host: host.to_owned(), reason: Box::new(reason) }).collect()
}

/// The attackers' windows overlapped for less than [`ATTACKERS_OVERLAP_SHARE`] of the merged span.
pub fn apart(overlap_share: f64, start_spread: Duration) -> Option<Invalidity> {
    (overlap_share < ATTACKERS_OVERLAP_SHARE).then_some(Invalidity::AttackersApart {
        overlap_pct: overlap_share * 100.0,
        start_spread_ms: start_spread.as_secs_f64() * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TestRecord;

    fn metrics(requests: u64, send_rate_rps: f64) -> Metrics {
        let record: TestRecord =
            serde_json::from_str(include_str!("../../tests/fixtures/one_record.json")).expect("fixture record");
        Metrics { requests, send_rate_rps, ..record.metrics.expect("fixture has metrics") }
    }

    fn cpu(cpu_pct: f64) -> Measured<CpuRecord> {
        Measured::Measured(CpuRecord {
            cpu_s: cpu_pct / 100.0,
            uncertainty_s: 0.02,
            window_s: 1.0,
            cpu_pct,
            us_per_request: Some(40.0),
            us_per_request_uncertainty: Some(0.4),
        })
    }

    fn judged(host: &str, metrics: &Metrics, cpu: &Measured<CpuRecord>) -> Vec<String> {
        let evidence = AttackerEvidence {
            host,
            rate: 50,
            duration: Duration::from_secs(2),
            metrics,
            schedule_lag: None,
            cpu,
            cpus: Some(1),
        };
        named(evidence.host, attacker_invalidities(&evidence)).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn an_attacker_on_its_share_is_valid() {
        assert!(judged("h1", &metrics(100, 50.0), &cpu(10.0)).is_empty());
    }

    #[test]
    fn each_reason_names_the_attacker_it_is_about() {
        let behind = judged("bench@h2", &metrics(80, 40.0), &cpu(10.0));
        assert_eq!(behind.len(), 2, "{behind:?}");
        assert!(behind.iter().all(|r| r.starts_with("attacker bench@h2: vegeta")), "{behind:?}");
        assert!(behind[0].contains("below the 50 target") && behind[1].contains("80 of 100"), "{behind:?}");
        let starved = judged("h3", &metrics(100, 50.0), &cpu(95.0));
        assert!(starved.len() == 1 && starved[0].contains("h3: vegeta used 95% CPU"), "{starved:?}");
        let unread = judged("h4", &metrics(100, 50.0), &Measured::Absent("ssh h4 closed".to_owned()));
        assert!(unread.len() == 1 && unread[0].contains("h4: vegeta's CPU could not be measured (ssh h4"));
        let named = named("h5", vec![Invalidity::FellBehind { sent_rps: 1.0, rate: 2 }]);
        assert!(named[0].is_generator());
    }

    #[test]
    fn windows_that_did_not_overlap_are_a_reason() {
        assert_eq!(apart(0.995, Duration::from_millis(20)), None);
        let reason = apart(0.5, Duration::from_secs(1)).expect("apart").to_string();
        assert!(reason.contains("only 50.0%") && reason.contains("1000.0 ms apart"), "{reason}");
    }
}
