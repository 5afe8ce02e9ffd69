//! The validity rules: whether a measured result can be trusted. A result is invalid when the load generator
//! did not hold its schedule (sent below the target, left requests unsent), was CPU-starved, or shared CPUs
//! with the server; the reasons travel with the result into every table and chart.

use std::fmt;
use std::time::Duration;

use crate::defaults::{LOAD_GENERATOR_STARVED, RUN_QUEUE_SHARE_LIMIT};
use crate::model::{Metrics, SEND_RATE_TOLERANCE, ScheduleLagRecord, Validity};

/// What the validity rules need to know about the load generator of one test.
#[derive(Debug, Clone, Copy)]
pub struct LoadGenerator {
    /// Its mean CPU over the attack; `None` when it could not be sampled (the starvation rule is then
    /// skipped, and the test says so in a note, rather than reading a failed sampler as 0%).
    pub cpu_mean_pct: Option<f64>,
    /// CPUs it could use.
    pub cpus: usize,
    /// It could run on the server's CPUs.
    pub shared_cores: bool,
}

/// Why a result cannot be trusted, as a type: the search tells a placement property (shared CPUs, the same
/// for every probe) from a probe that went wrong without comparing text.
#[derive(Debug, Clone, PartialEq)]
pub enum Invalidity {
    /// Sent more than the tolerance below the target rate.
    FellBehind { sent_rps: f64, rate: u32 },
    /// Left more than the tolerance of the scheduled requests unsent.
    Unsent { issued: f64, expected: f64 },
    /// Its CPU was (nearly) all used: latency is partly its own.
    Starved { cpu_mean_pct: f64, cpus: usize },
    /// The server and vegeta could run on the same CPUs.
    SharedCpus,
    /// vegeta sent its requests later than its own plan: p99 of the schedule lag above the bound.
    LagBehind { p99_ms: f64, max_ms: f64, bound_ms: f64 },
    /// A process waited on a run queue for more than the limit's share of the window.
    Contended { process: Process, share_pct: f64 },
    /// A figure a rule needs could not be measured: the rule cannot vouch for the result.
    Unmeasured { what: &'static str, why: String },
}

/// Which process of a test a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    Server,
    LoadGenerator,
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Process::Server => "the server",
            Process::LoadGenerator => "vegeta",
        })
    }
}

/// The start of the reason a result is invalid when vegeta fell behind its schedule; reports match on it.
pub const FELL_BEHIND_REASON: &str = "the load generator fell behind its schedule";

/// The lag rule on a test's schedule-lag record: p99 above the bound recorded with it.
pub fn lag_invalidity(lag: &ScheduleLagRecord) -> Option<Invalidity> {
    (lag.p99_ms > lag.bound_ms).then_some(Invalidity::LagBehind {
        p99_ms: lag.p99_ms,
        max_ms: lag.max_ms,
        bound_ms: lag.bound_ms,
    })
}

impl Invalidity {
    /// A property of the CPU placement rather than of the test.
    pub fn is_placement(&self) -> bool {
        matches!(self, Invalidity::SharedCpus)
    }
}

impl fmt::Display for Invalidity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalidity::FellBehind { sent_rps, rate } => {
                write!(f, "vegeta sent {sent_rps:.1}/s, more than 1% below the {rate} target")
            }
            Invalidity::Unsent { issued, expected } => {
                write!(f, "vegeta issued {issued} of {expected} scheduled requests")
            }
            Invalidity::Starved { cpu_mean_pct, cpus } => {
                write!(f, "vegeta used {cpu_mean_pct:.0}% CPU of {cpus} CPU(s): the load generator was starved")
            }
            Invalidity::SharedCpus => f.write_str(SHARED_CORES_REASON),
            Invalidity::LagBehind { p99_ms, max_ms, bound_ms } => {
                write!(f, "{FELL_BEHIND_REASON}: schedule lag p99 {p99_ms:.1} ms > {bound_ms} ms (max {max_ms:.1} ms)")
            }
            Invalidity::Contended { process, share_pct } => write!(
                f,
                "{process} waited for a CPU {share_pct:.0}% of the time (over {:.0}%): it was short of CPU",
                RUN_QUEUE_SHARE_LIMIT * 100.0
            ),
            Invalidity::Unmeasured { what, why } => write!(f, "{what} could not be measured ({why})"),
        }
    }
}

/// The reason given when the server and vegeta could run on the same CPUs.
pub const SHARED_CORES_REASON: &str = "the server and vegeta shared CPUs";

/// The rules: the generator sent within the tolerance of the target rate and left no scheduled request
/// unsent, it was not CPU-starved, and it did not share CPUs with the server.
pub fn invalidities(rate: u32, duration: Duration, metrics: &Metrics, load: &LoadGenerator) -> Vec<Invalidity> {
    let mut found = Vec::new();
    if !metrics.kept_up_with(rate) {
        found.push(Invalidity::FellBehind { sent_rps: metrics.send_rate_rps, rate });
    }
    let expected = (f64::from(rate) * duration.as_secs_f64()).floor();
    let issued = metrics.requests as f64;
    if issued < expected * (1.0 - SEND_RATE_TOLERANCE) {
        found.push(Invalidity::Unsent { issued, expected });
    }
    let starved_at = LOAD_GENERATOR_STARVED * 100.0 * load.cpus as f64;
    if let Some(cpu_mean_pct) = load.cpu_mean_pct.filter(|&cpu| cpu >= starved_at) {
        found.push(Invalidity::Starved { cpu_mean_pct, cpus: load.cpus });
    }
    if load.shared_cores {
        found.push(Invalidity::SharedCpus);
    }
    found
}

/// The record's validity: the reasons in words.
pub fn validity_from(found: &[Invalidity], shared_cores: bool) -> Validity {
    Validity::from_reasons(found.iter().map(ToString::to_string).collect(), shared_cores)
}

/// [`invalidities`] as the record stores them.
pub fn validity_of(rate: u32, duration: Duration, metrics: &Metrics, load: &LoadGenerator) -> Validity {
    validity_from(&invalidities(rate, duration, metrics, load), load.shared_cores)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TestRecord;

    fn fixture_metrics() -> Metrics {
        let record: TestRecord =
            serde_json::from_str(include_str!("../../tests/fixtures/one_record.json")).expect("fixture record");
        record.metrics.expect("fixture has metrics")
    }

    fn load(cpu_mean_pct: f64, cpus: usize, shared_cores: bool) -> LoadGenerator {
        LoadGenerator { cpu_mean_pct: Some(cpu_mean_pct), cpus, shared_cores }
    }

    #[test]
    fn a_held_schedule_on_its_own_cpu_is_valid() {
        let metrics = fixture_metrics();
        let validity = validity_of(100, Duration::from_secs(2), &metrics, &load(12.0, 1, false));
        assert!(validity.valid, "{validity:?}");
    }

    #[test]
    fn each_validity_rule_names_its_reason() {
        let mut metrics = fixture_metrics();
        let quiet = load(12.0, 1, false);
        let two_seconds = Duration::from_secs(2);
        metrics.send_rate_rps = 98.5;
        let behind = validity_of(100, two_seconds, &metrics, &quiet);
        assert!(!behind.valid && behind.reasons[0].contains("below the 100 target"), "{behind:?}");

        let mut metrics = fixture_metrics();
        metrics.requests = 190;
        let unsent = validity_of(100, two_seconds, &metrics, &quiet);
        assert!(unsent.reasons.iter().any(|r| r.contains("190 of 200")), "{unsent:?}");

        let metrics = fixture_metrics();
        let starved = validity_of(100, two_seconds, &metrics, &load(185.0, 2, false));
        assert!(starved.reasons.iter().any(|r| r.contains("starved")), "{starved:?}");
        assert!(
            validity_of(100, two_seconds, &metrics, &load(170.0, 2, false)).valid,
            "85% of two CPUs is not starved"
        );

        let sharing = validity_of(100, two_seconds, &metrics, &load(12.0, 2, true));
        assert!(!sharing.valid && sharing.shared_cores);
        assert_eq!(sharing.reasons, [SHARED_CORES_REASON]);
    }

    fn lag(p99_ms: f64) -> ScheduleLagRecord {
        ScheduleLagRecord { p50_ms: 0.5, p99_ms, max_ms: p99_ms * 2.0, bound_ms: 5.0 }
    }

    #[test]
    fn the_lag_bound_is_exclusive() {
        assert_eq!(lag_invalidity(&lag(5.0)), None);
        let behind = lag_invalidity(&lag(5.1)).expect("fell behind");
        let reason = behind.to_string();
        assert!(reason.starts_with(FELL_BEHIND_REASON) && reason.contains("p99 5.1 ms > 5 ms"), "{reason}");
    }

    #[test]
    fn an_unmeasured_load_generator_is_not_judged_starved_nor_idle() {
        let metrics = fixture_metrics();
        let unmeasured = LoadGenerator { cpu_mean_pct: None, cpus: 1, shared_cores: false };
        assert!(invalidities(100, Duration::from_secs(2), &metrics, &unmeasured).is_empty());
    }
}
