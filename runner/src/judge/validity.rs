//! The validity rules: whether a measured result can be trusted. A result is invalid when the load generator
//! did not hold its schedule (sent below the target, left requests unsent, sent late against its own plan),
//! was CPU-starved, when either process waited too long for a CPU, or when a figure a rule needs could not be
//! measured; the reasons travel with the result into every table and chart. Sharing CPUs is recorded with
//! the result but does not invalidate it by itself: it is judged by how long each process actually waited.

use std::fmt;
use std::time::Duration;

use crate::defaults::{LAG_MIN_LATE, LOAD_GENERATOR_STARVED, RUN_QUEUE_SHARE_LIMIT};
use crate::model::{Accounting, Measured, Metrics, RunQueueRecord, SEND_RATE_TOLERANCE, ScheduleLagRecord, Validity};

/// What the validity rules read about one test.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    pub rate: u32,
    pub duration: Duration,
    pub metrics: &'a Metrics,
    /// `None` without requests to compute it from.
    pub schedule_lag: Option<&'a ScheduleLagRecord>,
    /// The exact accounting of both processes; `None` when none was taken.
    pub accounting: Option<&'a Accounting>,
    /// CPUs the load generator could use.
    pub load_generator_cpus: usize,
    /// Several attackers sent the load: their CPU is judged on each one's own record (see
    /// [`super::attackers`]), so the test's accounting is read for the server only.
    pub generators_apart: bool,
}

/// Why a result cannot be trusted, as a type: the search tells the load generator's limits from the server's
/// without comparing text.
#[derive(Debug, Clone, PartialEq)]
pub enum Invalidity {
    /// Sent more than the tolerance below the target rate.
    FellBehind { sent_rps: f64, rate: u32 },
    /// Left more than the tolerance of the scheduled requests unsent.
    Unsent { issued: f64, expected: f64 },
    /// Its CPU was (nearly) all used: latency is partly its own.
    Starved { cpu_mean_pct: f64, cpus: usize },
    /// vegeta sent its requests later than its own plan: p99 of the schedule lag above the bound.
    LagBehind { late: u64, requests: u64, p99_ms: f64, max_ms: f64, bound_ms: f64 },
    /// A process waited on a run queue for more than the limit's share of the window.
    Contended { process: Process, share_pct: f64 },
    /// A figure a rule needs could not be measured: the rule cannot vouch for the result.
    Unmeasured { process: Process, what: &'static str, why: String },
    /// One of several attackers broke a rule on its own results.
    Attacker { host: String, reason: Box<Invalidity> },
    /// The attackers' windows did not overlap enough for their sum to be the rate the server got.
    AttackersApart { overlap_pct: f64, start_spread_ms: f64 },
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
    (lag.p99_ms > lag.bound_ms && lag.late >= LAG_MIN_LATE).then_some(Invalidity::LagBehind {
        late: lag.late,
        requests: lag.requests,
        p99_ms: lag.p99_ms,
        max_ms: lag.max_ms,
        bound_ms: lag.bound_ms,
    })
}

impl Invalidity {
    /// Whether the load generator limited the measurement (rather than the server's own CPU): the latency and
    /// completions it measured are then partly its own.
    pub fn is_generator(&self) -> bool {
        match self {
            Invalidity::FellBehind { .. }
            | Invalidity::Unsent { .. }
            | Invalidity::Starved { .. }
            | Invalidity::LagBehind { .. }
            | Invalidity::Attacker { .. }
            | Invalidity::AttackersApart { .. } => true,
            Invalidity::Contended { process, .. } | Invalidity::Unmeasured { process, .. } => {
                *process == Process::LoadGenerator
            }
        }
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
            Invalidity::LagBehind { late, requests, p99_ms, max_ms, bound_ms } => write!(
                f,
                "{FELL_BEHIND_REASON}: {late} of {requests} requests sent over {bound_ms} ms late, schedule lag \
                 p99 {p99_ms:.1} ms > {bound_ms} ms (max {max_ms:.1} ms)"
            ),
            Invalidity::Contended { process, share_pct } => write!(
                f,
                "{process}'s busiest thread waited for a CPU {share_pct:.0}% of the time (over {:.0}%): it was short of CPU",
                RUN_QUEUE_SHARE_LIMIT * 100.0
            ),
            Invalidity::Unmeasured { process, what, why } => {
                write!(f, "{process}'s {what} could not be measured ({why}): the rule cannot vouch for it")
            }
            Invalidity::Attacker { host, reason } => write!(f, "attacker {host}: {reason}"),
            Invalidity::AttackersApart { overlap_pct, start_spread_ms } => write!(
                f,
                "the attackers sent together for only {overlap_pct:.1}% of the attack (first sends \
                 {start_spread_ms:.1} ms apart): their merged rate is not what each offered"
            ),
        }
    }
}

/// Every rule on one test's evidence.
pub fn invalidities(evidence: &Evidence<'_>) -> Vec<Invalidity> {
    let mut found = schedule_invalidities(evidence.rate, evidence.duration, evidence.metrics);
    found.extend(evidence.schedule_lag.and_then(lag_invalidity));
    if evidence.generators_apart {
        found.extend(server_invalidities(evidence.accounting));
    } else {
        found.extend(accounting_invalidities(evidence.accounting, evidence.load_generator_cpus));
    }
    found
}

/// The generator sent within the tolerance of the target rate and left no scheduled request unsent.
pub(super) fn schedule_invalidities(rate: u32, duration: Duration, metrics: &Metrics) -> Vec<Invalidity> {
    let mut found = Vec::new();
    if !metrics.kept_up_with(rate) {
        found.push(Invalidity::FellBehind { sent_rps: metrics.send_rate_rps, rate });
    }
    let expected = (f64::from(rate) * duration.as_secs_f64()).floor();
    let issued = metrics.requests as f64;
    if issued < expected * (1.0 - SEND_RATE_TOLERANCE) {
        found.push(Invalidity::Unsent { issued, expected });
    }
    found
}

/// The load generator was not starved (exact CPU over the window below the share of its CPUs), and neither
/// process waited on a run queue for more than [`RUN_QUEUE_SHARE_LIMIT`] of the window. An absent figure is
/// an [`Invalidity::Unmeasured`]: never read as an idle process.
fn accounting_invalidities(accounting: Option<&Accounting>, load_generator_cpus: usize) -> Vec<Invalidity> {
    let Some(accounting) = accounting else {
        let why = "no accounting was taken".to_owned();
        return vec![Invalidity::Unmeasured { process: Process::LoadGenerator, what: "CPU", why }];
    };
    let mut found = Vec::new();
    match &accounting.load_generator.cpu {
        Measured::Measured(cpu) if cpu.cpu_pct >= LOAD_GENERATOR_STARVED * 100.0 * load_generator_cpus as f64 => {
            found.push(Invalidity::Starved { cpu_mean_pct: cpu.cpu_pct, cpus: load_generator_cpus });
        }
        Measured::Measured(_) => {}
        Measured::Absent(why) => {
            found.push(Invalidity::Unmeasured { process: Process::LoadGenerator, what: "CPU", why: why.clone() });
        }
    }
    found.extend(contention(Process::Server, &accounting.server.run_queue));
    found.extend(contention(Process::LoadGenerator, &accounting.load_generator.run_queue));
    found
}

/// The server's part of the accounting rules, when the load generators are judged apart.
fn server_invalidities(accounting: Option<&Accounting>) -> Option<Invalidity> {
    match accounting {
        Some(accounting) => contention(Process::Server, &accounting.server.run_queue),
        None => {
            let why = "no accounting was taken".to_owned();
            Some(Invalidity::Unmeasured { process: Process::Server, what: "run-queue delay", why })
        }
    }
}

fn contention(process: Process, run_queue: &Measured<RunQueueRecord>) -> Option<Invalidity> {
    match run_queue {
        Measured::Measured(delay) => {
            let share_pct = delay.busiest_thread_share_pct.unwrap_or(delay.share_pct);
            (share_pct > RUN_QUEUE_SHARE_LIMIT * 100.0).then_some(Invalidity::Contended { process, share_pct })
        }
        Measured::Absent(why) => Some(Invalidity::Unmeasured { process, what: "run-queue delay", why: why.clone() }),
    }
}

/// The record's validity: the reasons in words; `shared_cores` records the placement.
pub fn validity_from(found: &[Invalidity], shared_cores: bool) -> Validity {
    Validity::from_reasons(found.iter().map(ToString::to_string).collect(), shared_cores)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CpuRecord, ProcessAccounting, TestRecord};

    fn fixture_metrics() -> Metrics {
        let record: TestRecord =
            serde_json::from_str(include_str!("../../tests/fixtures/one_record.json")).expect("fixture record");
        record.metrics.expect("fixture has metrics")
    }

    fn process(cpu_pct: f64, waited_pct: f64) -> ProcessAccounting {
        ProcessAccounting {
            cpu: Measured::Measured(CpuRecord {
                cpu_s: cpu_pct / 100.0 * 2.0,
                uncertainty_s: 0.02,
                window_s: 2.0,
                cpu_pct,
                us_per_request: Some(50.0),
                us_per_request_uncertainty: Some(0.1),
            }),
            run_queue: Measured::Measured(RunQueueRecord {
                delay_s: waited_pct / 100.0 * 2.0,
                missing_at_most_s: 0.0,
                window_s: 2.0,
                share_pct: waited_pct * 3.0,
                busiest_thread_share_pct: Some(waited_pct),
                threads_seen: 3,
                threads_born: 0,
                threads_exited: 0,
            }),
        }
    }

    fn accounting(vegeta_cpu_pct: f64, server_waited_pct: f64, vegeta_waited_pct: f64) -> Accounting {
        Accounting {
            server: process(20.0, server_waited_pct),
            load_generator: process(vegeta_cpu_pct, vegeta_waited_pct),
            server_cpus: 1,
            projected_capacity: Measured::Absent("not needed here".to_owned()),
        }
    }

    fn lag(p99_ms: f64) -> ScheduleLagRecord {
        let late = if p99_ms > 5.0 { 30 } else { 0 };
        ScheduleLagRecord { p50_ms: 0.5, p99_ms, max_ms: p99_ms * 2.0, bound_ms: 5.0, requests: 1000, late }
    }

    fn judged(metrics: &Metrics, lag_p99_ms: f64, accounting: Option<&Accounting>, cpus: usize) -> Vec<String> {
        let lag = lag(lag_p99_ms);
        let evidence = Evidence {
            rate: 100,
            duration: Duration::from_secs(2),
            metrics,
            schedule_lag: Some(&lag),
            accounting,
            load_generator_cpus: cpus,
            generators_apart: false,
        };
        invalidities(&evidence).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_held_schedule_with_cpu_to_spare_is_valid() {
        let quiet = accounting(12.0, 1.0, 3.0);
        assert!(judged(&fixture_metrics(), 1.0, Some(&quiet), 1).is_empty());
    }

    #[test]
    fn each_validity_rule_names_its_reason() {
        let quiet = accounting(12.0, 1.0, 3.0);
        let mut metrics = fixture_metrics();
        metrics.send_rate_rps = 98.5;
        let behind = judged(&metrics, 1.0, Some(&quiet), 1);
        assert!(behind[0].contains("below the 100 target"), "{behind:?}");

        let mut metrics = fixture_metrics();
        metrics.requests = 190;
        assert!(judged(&metrics, 1.0, Some(&quiet), 1).iter().any(|r| r.contains("190 of 200")));

        let metrics = fixture_metrics();
        let late = judged(&metrics, 40.0, Some(&quiet), 1);
        assert!(late.len() == 1 && late[0].starts_with(FELL_BEHIND_REASON), "{late:?}");

        let starved = judged(&metrics, 1.0, Some(&accounting(185.0, 1.0, 3.0)), 2);
        assert!(starved.iter().any(|r| r.contains("starved")), "{starved:?}");
        assert!(judged(&metrics, 1.0, Some(&accounting(170.0, 1.0, 3.0)), 2).is_empty(), "85% of two CPUs");

        let waiting_server = judged(&metrics, 1.0, Some(&accounting(12.0, 40.0, 3.0)), 1);
        assert_eq!(
            waiting_server,
            ["the server's busiest thread waited for a CPU 40% of the time (over 25%): it was short of CPU"]
        );
        let waiting_vegeta = judged(&metrics, 1.0, Some(&accounting(12.0, 1.0, 60.0)), 1);
        assert!(waiting_vegeta[0].starts_with("vegeta's busiest thread waited for a CPU 60%"), "{waiting_vegeta:?}");
        assert!(judged(&metrics, 1.0, Some(&accounting(12.0, 25.0, 25.0)), 1).is_empty(), "25% is the limit");
    }

    #[test]
    fn the_lag_bound_is_exclusive() {
        assert_eq!(lag_invalidity(&lag(5.0)), None);
        let behind = lag_invalidity(&lag(5.1)).expect("fell behind");
        let reason = behind.to_string();
        assert!(reason.starts_with(FELL_BEHIND_REASON) && reason.contains("p99 5.1 ms > 5 ms"), "{reason}");
        assert!(behind.is_generator());
        assert!(reason.contains("30 of 1000 requests sent over 5 ms late"), "{reason}");
        // A short probe whose p99 is its maximum: one or two late sends are preemptions, not falling behind.
        let short = ScheduleLagRecord { requests: 25, late: 2, ..lag(5.5) };
        assert_eq!(lag_invalidity(&short), None);
        assert!(lag_invalidity(&ScheduleLagRecord { late: 3, ..short }).is_some());
    }

    #[test]
    fn an_unmeasured_figure_is_never_vouched_for() {
        let metrics = fixture_metrics();
        let none = judged(&metrics, 1.0, None, 1);
        assert!(none.len() == 1 && none[0].contains("vegeta's CPU could not be measured"), "{none:?}");
        let mut gone = accounting(12.0, 1.0, 3.0);
        gone.load_generator.cpu = Measured::Absent("process 9 was gone when /proc/9/stat was read".to_owned());
        gone.server.run_queue = Measured::Absent("no permission to read /proc/7/task".to_owned());
        let reasons = judged(&metrics, 1.0, Some(&gone), 1);
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons[0].contains("/proc/9/stat") && reasons[1].starts_with("the server's run-queue delay"));
    }

    /// Measured here: the five threads of the non-blocking DB path handing work to each other on one core
    /// summed 29-36% of the window with nothing else on that core. Only the busiest thread counts.
    #[test]
    fn threads_waiting_for_each_other_are_not_contention() {
        let metrics = fixture_metrics();
        let mut handing_off = accounting(12.0, 1.0, 3.0);
        if let Measured::Measured(queue) = &mut handing_off.server.run_queue {
            queue.share_pct = 36.0;
            queue.busiest_thread_share_pct = Some(9.0);
        }
        assert!(judged(&metrics, 1.0, Some(&handing_off), 1).is_empty());
        if let Measured::Measured(queue) = &mut handing_off.server.run_queue {
            queue.busiest_thread_share_pct = None;
        }
        assert_eq!(judged(&metrics, 1.0, Some(&handing_off), 1).len(), 1, "an old record is judged on the sum");
    }

    #[test]
    fn server_side_reasons_are_not_the_generators() {
        let server = Invalidity::Contended { process: Process::Server, share_pct: 40.0 };
        assert!(!server.is_generator());
        assert!(Invalidity::Contended { process: Process::LoadGenerator, share_pct: 40.0 }.is_generator());
        assert!(Invalidity::Starved { cpu_mean_pct: 95.0, cpus: 1 }.is_generator());
    }
}
