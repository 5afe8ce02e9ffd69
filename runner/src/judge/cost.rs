//! What a test's exact CPU accounting says: CPU microseconds per request, the capacity that cost projects
//! to, and the two rules that read the accounting (the load generator starved of CPU; either process
//! waiting too long for a CPU). The rules read the schema records ([`crate::model`]), so they judge
//! exactly what is stored; an absent figure gives a reason the result cannot be vouched for: an unmeasured
//! process never passes a rule a quiet one passes.

use std::time::Duration;

use crate::defaults::{LOAD_GENERATOR_STARVED, RUN_QUEUE_SHARE_LIMIT};
use crate::model::{CpuRecord, Measured, RunQueueRecord};

/// CPU time per request, with the error the tick resolution allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuPerRequest {
    pub us: f64,
    /// The true value is within `us ± uncertainty_us`.
    pub uncertainty_us: f64,
}

/// CPU time `cpu` (known to ± `uncertainty`) spent on `requests` requests; `None` without requests.
pub fn per_request(cpu: Duration, uncertainty: Duration, requests: u64) -> Option<CpuPerRequest> {
    if requests == 0 {
        return None;
    }
    let per = |duration: Duration| duration.as_secs_f64() * 1e6 / requests as f64;
    Some(CpuPerRequest { us: per(cpu), uncertainty_us: per(uncertainty) })
}

/// A capacity computed from CPU per request: `cpus × 10^6 / µs per request`. It assumes the cost per
/// request stays what it was at the measured rate and that nothing but CPU limits the server; it is a
/// projection ([`crate::model::PROJECTION_LABEL`]), never a measured rate.
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
pub fn starvation_reason(cpu: &Measured<CpuRecord>, cpus: usize) -> Option<String> {
    let cpu = match cpu {
        Measured::Measured(cpu) => cpu,
        Measured::Absent(why) => {
            return Some(format!("vegeta's CPU could not be measured ({why}): starvation not ruled out"));
        }
    };
    (cpu.cpu_pct >= LOAD_GENERATOR_STARVED * 100.0 * cpus as f64)
        .then(|| format!("vegeta used {:.0}% CPU of {cpus} CPU(s): the load generator was starved", cpu.cpu_pct))
}

/// The contention rule for one process (`who`: "the server", "vegeta"); a reason when it waited on a run
/// queue for more than [`RUN_QUEUE_SHARE_LIMIT`] of the window or its delay could not be measured. The
/// measured delay is a lower bound (exited threads may add up to its `missing_at_most_s`), so a delay over
/// the limit is over it for certain.
pub fn contention_reason(who: &str, run_queue: &Measured<RunQueueRecord>) -> Option<String> {
    let run_queue = match run_queue {
        Measured::Measured(run_queue) => run_queue,
        Measured::Absent(why) => return Some(format!("{who}'s run-queue delay could not be measured ({why})")),
    };
    (run_queue.share_pct > RUN_QUEUE_SHARE_LIMIT * 100.0).then(|| {
        format!(
            "{who} waited for a CPU {:.0}% of the time (over {:.0}%): it was short of CPU",
            run_queue.share_pct,
            RUN_QUEUE_SHARE_LIMIT * 100.0
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(cpu_pct: f64) -> Measured<CpuRecord> {
        Measured::Measured(CpuRecord {
            cpu_s: cpu_pct / 100.0,
            uncertainty_s: 0.02,
            window_s: 1.0,
            cpu_pct,
            us_per_request: None,
            us_per_request_uncertainty: None,
        })
    }

    fn waited(share_pct: f64) -> Measured<RunQueueRecord> {
        Measured::Measured(RunQueueRecord {
            delay_s: share_pct / 100.0,
            missing_at_most_s: 0.0,
            window_s: 1.0,
            share_pct,
            threads_seen: 2,
            threads_born: 0,
            threads_exited: 0,
        })
    }

    #[test]
    fn cost_per_request_and_its_uncertainty() {
        // The measurement: 26% of a core at 13,500 req/s for 10 s is about 19 µs per request.
        let cost = per_request(Duration::from_millis(2600), Duration::from_millis(20), 135_000).expect("requests");
        assert!((cost.us - 19.259).abs() < 0.001, "{cost:?}");
        assert!((cost.uncertainty_us - 20_000.0 / 135_000.0).abs() < 1e-9, "{cost:?}");
        assert_eq!(per_request(Duration::from_millis(10), Duration::ZERO, 0), None);
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
        assert!(crate::model::PROJECTION_LABEL.contains("not measured"));
    }

    #[test]
    fn a_generator_at_ninety_percent_of_its_cpus_is_starved() {
        assert_eq!(starvation_reason(&cpu(85.0), 1), None);
        let starved = starvation_reason(&cpu(90.0), 1).expect("starved");
        assert!(starved.contains("starved") && starved.contains("90%"), "{starved}");
        assert_eq!(starvation_reason(&cpu(170.0), 2), None, "85% of two CPUs");
    }

    #[test]
    fn an_unmeasured_process_is_never_vouched_for() {
        let gone = Measured::Absent("process 7 was gone".to_owned());
        let reason = starvation_reason(&gone, 1).expect("a reason, not a pass");
        assert!(reason.contains("could not be measured (process 7 was gone)"), "{reason}");
        let reason = contention_reason("the server", &Measured::Absent("no schedstat".to_owned())).expect("reason");
        assert!(reason.starts_with("the server's run-queue delay could not be measured"), "{reason}");
    }

    #[test]
    fn waiting_more_than_a_quarter_of_the_window_is_contention() {
        assert_eq!(contention_reason("vegeta", &waited(25.0)), None, "exactly 25% passes");
        let reason = contention_reason("vegeta", &waited(45.0)).expect("contended");
        assert!(reason.starts_with("vegeta waited for a CPU 45% of the time (over 25%)"), "{reason}");
    }
}
