//! The results-schema record of a test's accounting: both processes' CPU and run-queue figures over the
//! window, the server's CPU per request and the capacity it projects to. An unmeasured figure stays absent,
//! with its reason.

use super::account::{CpuWindow, RunQueueDelay, WindowAccount};
use crate::judge::cost::{ProjectedCapacity, per_request, projected_capacity};
use crate::model::{
    Accounting, CpuRecord, Measured, PROJECTION_LABEL, ProcessAccounting, ProjectedCapacityRecord, RunQueueRecord,
};

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
        Ok(cpu) => per_request(cpu.cpu, cpu.uncertainty, requests)
            .and_then(|cost| projected_capacity(server_cpus, &cost))
            .map_or_else(
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

/// The schema record of a CPU window, with its cost per request of `requests`.
pub fn cpu_record(cpu: &CpuWindow, requests: u64) -> CpuRecord {
    let cost = per_request(cpu.cpu, cpu.uncertainty, requests);
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
        busiest_thread_share_pct: Some(delay.busiest_thread_share() * 100.0),
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
    use std::time::Duration;

    use super::*;
    use crate::sampling::account::Unmeasured;

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
            busiest_thread: Duration::from_millis(delay_ms / 2),
            missing_at_most: Duration::ZERO,
            wall: Duration::from_millis(wall_ms),
            threads_seen: 2,
            threads_born: 0,
            threads_exited: 0,
        }
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
