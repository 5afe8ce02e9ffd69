//! What a test's exact CPU accounting says: CPU microseconds per request for the server and the load
//! generator, the capacity that cost projects to, and the two rules that read the accounting (the load
//! generator starved of CPU; either process waiting too long for a CPU). Every figure comes from
//! [`crate::proc_account`]; an unmeasured input gives an absent figure and, for a rule, a reason the result
//! cannot be vouched for: an unmeasured process never passes a rule a quiet one passes.

use std::time::Duration;

use crate::proc_account::{CpuWindow, RunQueueDelay, Unmeasured, WindowAccount};
use crate::trust_record::{
    Accounting, CpuRecord, Measured, ProcessAccounting, ProjectedCapacityRecord, RunQueueRecord,
};
use crate::validity::LOAD_GENERATOR_STARVED;

/// A process that spent more than this share of the window waiting on a run queue (summed over its threads:
/// 0.25 = on average a quarter of a thread runnable but not running) makes the result invalid.
///
/// 25%: on CPUs of its own a process waits microseconds per wake-up, well under 1% of a window even at tens
/// of thousands of wake-ups per second. Measured here with other builds running on the same two cores,
/// vegeta waited 5-8% at 50-1,000 req/s and 24% at 4,000, the server 1-20%; vegeta sharing its core with
/// three busy loops waited 45%. Above a quarter, the process was short of CPU for much of the test and its
/// figures contain other tasks' timeslices.
pub const RUN_QUEUE_SHARE_LIMIT: f64 = 0.25;
/// How a projected capacity is labelled wherever it is shown: it is arithmetic, not a measurement.
pub const PROJECTION_LABEL: &str = "projected from CPU per request, not measured";

/// CPU time per request, with the error the tick resolution allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuPerRequest {
    pub us: f64,
    /// The true value is within `us ± uncertainty_us`.
    pub uncertainty_us: f64,
}

/// The CPU a window cost per request; `None` without requests.
pub fn per_request(cpu: &CpuWindow, requests: u64) -> Option<CpuPerRequest> {
    if requests == 0 {
        return None;
    }
    let per = |duration: Duration| duration.as_secs_f64() * 1e6 / requests as f64;
    Some(CpuPerRequest { us: per(cpu.cpu), uncertainty_us: per(cpu.uncertainty) })
}

/// A capacity computed from CPU per request: `cpus × 10^6 / µs per request`. It assumes the cost per
/// request stays what it was at the measured rate and that nothing but CPU limits the server; it is a
/// projection ([`PROJECTION_LABEL`]), never a measured rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProjectedCapacity {
    pub rps: f64,
    /// The range the CPU measurement's uncertainty allows (`high` is infinite when the cost may be zero).
    pub low_rps: f64,
    pub high_rps: f64,
    pub cpus: usize,
}

/// The projected capacity of `cpus` CPUs at this cost; `None` when the cost is not positive.
pub fn projected_capacity(cpus: usize, cost: &CpuPerRequest) -> Option<ProjectedCapacity> {
    if cost.us <= 0.0 || cpus == 0 {
        return None;
    }
    let at = |us: f64| if us > 0.0 { cpus as f64 * 1e6 / us } else { f64::INFINITY };
    Some(ProjectedCapacity {
        rps: at(cost.us),
        low_rps: at(cost.us + cost.uncertainty_us),
        high_rps: at(cost.us - cost.uncertainty_us),
        cpus,
    })
}

/// The starvation rule on the load generator's exact CPU over the window; a reason when it was starved or
/// could not be measured.
pub fn starvation_reason(cpu: &Result<CpuWindow, Unmeasured>, cpus: usize) -> Option<String> {
    let cpu = match cpu {
        Ok(cpu) => cpu,
        Err(why) => return Some(format!("vegeta's CPU could not be measured ({why}): starvation not ruled out")),
    };
    let used = cpu.percent_of_one_core();
    (used >= LOAD_GENERATOR_STARVED * 100.0 * cpus as f64)
        .then(|| format!("vegeta used {used:.0}% CPU of {cpus} CPU(s): the load generator was starved"))
}

/// The contention rule for one process (`who`: "the server", "vegeta"); a reason when it waited on a run
/// queue for more than [`RUN_QUEUE_SHARE_LIMIT`] of the window or its delay could not be measured. The
/// measured delay is a lower bound (exited threads may add up to its `missing_at_most`), so a delay over the
/// limit is over it for certain.
pub fn contention_reason(who: &str, delay: &Result<RunQueueDelay, Unmeasured>) -> Option<String> {
    let delay = match delay {
        Ok(delay) => delay,
        Err(why) => return Some(format!("{who}'s run-queue delay could not be measured ({why})")),
    };
    let share = delay.share_of_window();
    (share > RUN_QUEUE_SHARE_LIMIT).then(|| {
        format!(
            "{who} waited for a CPU {:.0}% of the time (over {:.0}%): it was short of CPU",
            share * 100.0,
            RUN_QUEUE_SHARE_LIMIT * 100.0
        )
    })
}

/// The schema record of a test's accounting: both processes over the window, the server's cost per request
/// (`requests` = what vegeta sent) and the capacity it projects to on `server_cpus` CPUs.
pub fn accounting_record(
    server: &WindowAccount,
    vegeta: &WindowAccount,
    requests: u64,
    server_cpus: usize,
) -> Accounting {
    let projected = match &server.cpu {
        Err(why) => Measured::Absent(format!("the server's CPU was not measured: {why}")),
        Ok(cpu) => per_request(cpu, requests).and_then(|cost| projected_capacity(server_cpus, &cost)).map_or_else(
            || Measured::Absent("no requests, or no measurable server CPU".to_owned()),
            |p| Measured::Measured(projection_record(&p)),
        ),
    };
    Accounting {
        server: process_record(server, requests),
        load_generator: process_record(vegeta, requests),
        server_cpus,
        projected_capacity: projected,
    }
}

fn process_record(account: &WindowAccount, requests: u64) -> ProcessAccounting {
    let cpu = account.cpu.as_ref().map(|cpu| cpu_record(cpu, requests)).map_err(ToString::to_string);
    let run_queue = account.run_queue.as_ref().map(run_queue_record).map_err(ToString::to_string);
    ProcessAccounting { cpu: cpu.into(), run_queue: run_queue.into() }
}

fn cpu_record(cpu: &CpuWindow, requests: u64) -> CpuRecord {
    let cost = per_request(cpu, requests);
    CpuRecord {
        cpu_s: cpu.cpu.as_secs_f64(),
        uncertainty_s: cpu.uncertainty.as_secs_f64(),
        window_s: cpu.wall.as_secs_f64(),
        cpu_pct: cpu.percent_of_one_core(),
        us_per_request: cost.map(|c| c.us),
        us_per_request_uncertainty: cost.map(|c| c.uncertainty_us),
    }
}

fn run_queue_record(delay: &RunQueueDelay) -> RunQueueRecord {
    RunQueueRecord {
        delay_s: delay.delay.as_secs_f64(),
        missing_at_most_s: delay.missing_at_most.as_secs_f64(),
        window_s: delay.wall.as_secs_f64(),
        share_pct: delay.share_of_window() * 100.0,
        threads_seen: delay.threads_seen,
        threads_born: delay.threads_born,
        threads_exited: delay.threads_exited,
    }
}

fn projection_record(projection: &ProjectedCapacity) -> ProjectedCapacityRecord {
    ProjectedCapacityRecord {
        rps: projection.rps,
        low_rps: projection.low_rps,
        high_rps: projection.high_rps.is_finite().then_some(projection.high_rps),
        label: PROJECTION_LABEL.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(cpu_ms: u64, wall_ms: u64) -> CpuWindow {
        CpuWindow {
            cpu: Duration::from_millis(cpu_ms),
            uncertainty: Duration::from_millis(20),
            wall: Duration::from_millis(wall_ms),
        }
    }

    fn delay(delay_ms: u64, wall_ms: u64) -> RunQueueDelay {
        RunQueueDelay {
            delay: Duration::from_millis(delay_ms),
            missing_at_most: Duration::ZERO,
            wall: Duration::from_millis(wall_ms),
            threads_seen: 2,
            threads_born: 0,
            threads_exited: 0,
        }
    }

    #[test]
    fn cost_per_request_and_its_uncertainty() {
        // The measurement: 26% of a core at 13,500 req/s for 10 s is about 19 µs per request.
        let cost = per_request(&window(2600, 10_000), 135_000).expect("requests");
        assert!((cost.us - 19.259).abs() < 0.001, "{cost:?}");
        assert!((cost.uncertainty_us - 20_000.0 / 135_000.0).abs() < 1e-9, "{cost:?}");
        assert_eq!(per_request(&window(10, 1000), 0), None);
    }

    #[test]
    fn projection_is_cpus_times_a_million_over_the_cost() {
        let cost = CpuPerRequest { us: 20.0, uncertainty_us: 0.5 };
        let one = projected_capacity(1, &cost).expect("projects");
        assert!((one.rps - 50_000.0).abs() < 1e-9);
        assert!(one.low_rps < one.rps && one.rps < one.high_rps, "{one:?}");
        assert!((projected_capacity(2, &cost).expect("projects").rps - 100_000.0).abs() < 1e-9);
        let noise = CpuPerRequest { us: 0.1, uncertainty_us: 0.4 };
        assert_eq!(projected_capacity(1, &noise).map(|p| p.high_rps), Some(f64::INFINITY));
        assert_eq!(projected_capacity(1, &CpuPerRequest { us: 0.0, uncertainty_us: 0.1 }), None);
        assert_eq!(projected_capacity(0, &cost), None);
        assert!(PROJECTION_LABEL.contains("not measured"));
    }

    #[test]
    fn a_generator_at_ninety_percent_of_its_cpus_is_starved() {
        assert_eq!(starvation_reason(&Ok(window(850, 1000)), 1), None);
        let starved = starvation_reason(&Ok(window(900, 1000)), 1).expect("starved");
        assert!(starved.contains("starved") && starved.contains("90%"), "{starved}");
        assert_eq!(starvation_reason(&Ok(window(1700, 1000)), 2), None, "85% of two CPUs");
    }

    #[test]
    fn an_unmeasured_generator_is_never_vouched_for() {
        let gone = Err(Unmeasured::EmptyWindow);
        let reason = starvation_reason(&gone, 1).expect("a reason, not a pass");
        assert!(reason.contains("could not be measured"), "{reason}");
        let reason = contention_reason("the server", &Err(Unmeasured::EmptyWindow)).expect("a reason");
        assert!(reason.starts_with("the server's run-queue delay could not be measured"), "{reason}");
    }

    #[test]
    fn waiting_more_than_a_quarter_of_the_window_is_contention() {
        assert_eq!(contention_reason("vegeta", &Ok(delay(250, 1000))), None, "exactly 25% passes");
        let reason = contention_reason("vegeta", &Ok(delay(450, 1000))).expect("contended");
        assert!(reason.starts_with("vegeta waited for a CPU 45% of the time (over 25%)"), "{reason}");
    }
    #[test]
    fn the_accounting_record_keeps_absent_figures_absent() {
        let measured = WindowAccount { cpu: Ok(window(2600, 10_000)), run_queue: Ok(delay(50, 10_000)) };
        let gone = WindowAccount {
            cpu: Err(Unmeasured::ProcessGone { pid: 7, path: "/proc/7/stat".into() }),
            run_queue: Err(Unmeasured::EmptyWindow),
        };
        let record = accounting_record(&measured, &gone, 135_000, 1);
        let cpu = record.server.cpu.value().expect("measured");
        assert!((cpu.us_per_request.expect("requests") - 19.259).abs() < 0.001, "{cpu:?}");
        assert!((cpu.cpu_pct - 26.0).abs() < 1e-9);
        let projection = record.projected_capacity.value().expect("projected");
        assert!((projection.rps - 1e6 / 19.259_259).abs() < 1.0, "{projection:?}");
        assert_eq!(projection.label, PROJECTION_LABEL);
        assert!(record.server.run_queue.value().is_some_and(|q| (q.share_pct - 0.5).abs() < 1e-9));
        let why = record.load_generator.cpu.absent_reason().expect("absent");
        assert!(why.contains("process 7 was gone"), "{why}");
        let unprojected = accounting_record(&gone, &measured, 135_000, 1);
        assert!(unprojected.projected_capacity.absent_reason().is_some_and(|r| r.contains("not measured")));
        let idle = accounting_record(&measured, &measured, 0, 1);
        assert!(idle.projected_capacity.absent_reason().is_some());
        assert_eq!(idle.server.cpu.value().and_then(|c| c.us_per_request), None);
    }
}
