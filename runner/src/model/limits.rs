//! The results-schema types of what limits a measurement: exact CPU and run-queue accounting of the server
//! and the load generator, the generator's schedule lag, whether the server kept up, and the calibrated
//! latency floor and clean ceiling. Plain data (serde types, units in the names), importing nothing else from
//! the crate, so they sit in the results schema; the modules that measure fill them. Every field that
//! records them is optional: run folders written before they existed still load, with `schema_version` 1.

use serde::{Deserialize, Serialize};

/// How a projected capacity is labelled wherever it is shown: it is arithmetic, not a measurement.
pub const PROJECTION_LABEL: &str = "projected from CPU per request, not measured";
/// The marker of a test whose rate is above the calibrated clean ceiling: not invalid, but visible.
pub const GENERATOR_LATENCY_MARKER: &str = "latency includes the load generator's own";

/// A figure that was measured, or why it could not be: never a silent zero.
/// JSON: `{"measured": {...}}` or `{"absent": "process 4242 was gone when /proc/4242/stat was read"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measured<T> {
    Measured(T),
    Absent(String),
}

impl<T> Measured<T> {
    pub fn value(&self) -> Option<&T> {
        match self {
            Measured::Measured(value) => Some(value),
            Measured::Absent(_) => None,
        }
    }

    /// Why it is absent; `None` when measured.
    pub fn absent_reason(&self) -> Option<&str> {
        match self {
            Measured::Measured(_) => None,
            Measured::Absent(reason) => Some(reason),
        }
    }
}

impl<T, E: std::fmt::Display> From<Result<T, E>> for Measured<T> {
    fn from(result: Result<T, E>) -> Measured<T> {
        match result {
            Ok(value) => Measured::Measured(value),
            Err(why) => Measured::Absent(why.to_string()),
        }
    }
}

/// Exact accounting of one test's measured window (from the moment before vegeta started to its exit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accounting {
    pub server: ProcessAccounting,
    pub load_generator: ProcessAccounting,
    /// CPUs the server was given (its pinned set, or every CPU when unpinned).
    pub server_cpus: usize,
    /// `server_cpus × 10^6 / server CPU µs per request`: a projection from CPU cost, never a measured rate.
    /// Absent when the server's CPU was not measured or cost nothing measurable.
    pub projected_capacity: Measured<ProjectedCapacityRecord>,
}

/// CPU and run-queue figures of one process over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessAccounting {
    pub cpu: Measured<CpuRecord>,
    pub run_queue: Measured<RunQueueRecord>,
}

/// CPU time over the window: `/proc/<pid>/stat` utime + stime, every thread including exited ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuRecord {
    pub cpu_s: f64,
    /// The true CPU time is within `cpu_s ± uncertainty_s` (two clock ticks).
    pub uncertainty_s: f64,
    pub window_s: f64,
    /// Mean over the window, per core (200% = two busy cores).
    pub cpu_pct: f64,
    /// CPU microseconds per request vegeta sent; absent without requests.
    pub us_per_request: Option<f64>,
    pub us_per_request_uncertainty: Option<f64>,
}

/// Time spent runnable but waiting for a CPU, summed over threads (`/proc/<pid>/task/*/schedstat`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunQueueRecord {
    pub delay_s: f64,
    /// The true delay is within `[delay_s, delay_s + missing_at_most_s]` (threads that exited).
    pub missing_at_most_s: f64,
    pub window_s: f64,
    /// `delay_s / window_s` in percent (summed over threads, so it can pass 100).
    pub share_pct: f64,
    /// The delay of the thread that waited longest, as a share of the window in percent: what the
    /// contention rule judges. Absent in records made before it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busiest_thread_share_pct: Option<f64>,
    pub threads_seen: usize,
    pub threads_born: usize,
    pub threads_exited: usize,
}

/// The projected capacity and the range the CPU measurement's uncertainty allows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectedCapacityRecord {
    pub rps: f64,
    pub low_rps: f64,
    /// `None` when the cost may be zero within its uncertainty (no upper bound).
    pub high_rps: Option<f64>,
    /// Always the projection label: a reader of the JSON alone must not mistake it for a measurement.
    pub label: String,
}

/// How late vegeta sent its requests against its own plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleLagRecord {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The lag bound of the rule.
    pub bound_ms: f64,
    /// Requests sent, and how many of them later than the bound.
    pub requests: u64,
    pub late: u64,
}

/// Whether the server completed requests as fast as they were sent, with no growing backlog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptUpRecord {
    pub kept_up: bool,
    pub offered_rps: f64,
    pub achieved_rps: f64,
    pub first_third_p50_ms: f64,
    pub last_third_p50_ms: f64,
    /// Why it did not keep up.
    pub shortfall: Option<String>,
}

/// The load generator's own latency, from calibration against the no-op endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorFloorRecord {
    /// The highest rate whose no-op p99 and schedule lag stayed within their bounds (below the lowest rate
    /// that did not); `None` when even the lowest probed rate did not.
    pub clean_ceiling_rps: Option<u32>,
    /// The lowest p50 and p99 observed against the no-op over the valid probes.
    pub latency_floor_p50_ms: Option<f64>,
    pub latency_floor_p99_ms: Option<f64>,
    /// The no-op p99 bound of a clean rate.
    pub clean_p99_bound_ms: f64,
    /// What calibration observed at each probed rate, lowest first.
    pub probes: Vec<GeneratorProbeRecord>,
}

/// vegeta against the no-op at one rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorProbeRecord {
    pub rate: u32,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub lag_p99_ms: Option<f64>,
    pub vegeta_us_per_request: Option<f64>,
    pub clean: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_figures_carry_their_reason_in_the_json() {
        let absent: Measured<CpuRecord> = Err::<CpuRecord, _>("process 7 was gone").into();
        let json = serde_json::to_string(&absent).expect("encodes");
        assert_eq!(json, r#"{"absent":"process 7 was gone"}"#);
        assert_eq!(serde_json::from_str::<Measured<CpuRecord>>(&json).expect("decodes"), absent);
        assert_eq!(absent.absent_reason(), Some("process 7 was gone"));
        assert_eq!(absent.value(), None);
    }

    #[test]
    fn a_record_from_before_these_fields_still_loads_and_new_ones_round_trip() {
        use crate::model::TestRecord;
        let old: TestRecord =
            serde_json::from_str(include_str!("../../tests/fixtures/one_record.json")).expect("an older record loads");
        assert!(old.accounting.is_none() && old.schedule_lag.is_none() && old.kept_up.is_none());
        assert!(old.markers.is_empty());
        let mut new = old.clone();
        new.schedule_lag =
            Some(ScheduleLagRecord { p50_ms: 0.4, p99_ms: 1.1, max_ms: 2.0, bound_ms: 5.0, requests: 200, late: 0 });
        new.markers = vec![GENERATOR_LATENCY_MARKER.to_owned()];
        let json = serde_json::to_string(&new).expect("encodes");
        assert_eq!(serde_json::from_str::<TestRecord>(&json).expect("decodes"), new);
    }

    #[test]
    fn measured_figures_round_trip() {
        let cpu = CpuRecord {
            cpu_s: 2.6,
            uncertainty_s: 0.02,
            window_s: 10.0,
            cpu_pct: 26.0,
            us_per_request: Some(19.26),
            us_per_request_uncertainty: Some(0.15),
        };
        let measured: Measured<CpuRecord> = Ok::<_, String>(cpu.clone()).into();
        let json = serde_json::to_value(&measured).expect("encodes");
        assert_eq!(json["measured"]["us_per_request"], 19.26);
        assert_eq!(serde_json::from_value::<Measured<CpuRecord>>(json).expect("decodes").value(), Some(&cpu));
    }
}
