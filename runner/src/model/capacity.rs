//! Saturation searches and calibrations: where each search ended, every probe's verdict, and the load
//! generator's calibrated ceiling.

use serde::{Deserialize, Serialize};
use shared::IoDriver;

use super::arm::Arm;
use super::limits::GeneratorFloorRecord;
use super::machine::Machine;
use super::test::EndpointRef;

/// The outcome of the saturation search for one arm x endpoint x workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityResult {
    pub server: String,
    /// The arm's `--io-driver`, as in [`super::TestRecord::io_driver`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_driver: Option<IoDriver>,
    pub workers: u16,
    pub endpoint: EndpointRef,
    /// The highest probed rate that met the SLO with a valid result; `None` when none did.
    pub sustainable_rps: Option<u32>,
    /// The lowest probed rate that missed the SLO.
    pub lowest_miss_rps: Option<u32>,
    /// True when the search converged on valid probes (or showed that nothing is sustainable); otherwise
    /// the sustainable rate is only a lower bound and `stop` says why.
    pub valid: bool,
    /// Why the search stopped, in words.
    pub stop: String,
    /// The search stopped at a probe the load generator limited: the sustainable rate is the generator's
    /// lower bound, not the server's capacity (`stop` gives the reason).
    #[serde(default)]
    pub generator_bound: bool,
    /// Latency, achieved rate and server CPU of the probe at the sustainable rate.
    pub p99_ms: Option<f64>,
    pub achieved_rps: Option<f64>,
    pub cpu_mean_pct: Option<f64>,
    /// Server CPU µs per request at the sustainable rate (exact accounting), when measured.
    #[serde(default)]
    pub server_us_per_request: Option<f64>,
    /// Every probe, in order; each is also a full test record.
    pub probes: Vec<ProbeRecord>,
}

impl CapacityResult {
    /// The arm this search measured, as reports name it.
    pub fn arm(&self) -> Arm<'_> {
        Arm::new(&self.server, self.io_driver)
    }
}

/// One probe of a saturation search or a calibration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub rate: u32,
    pub verdict: ProbeVerdict,
    /// Why it missed, was invalid or failed.
    pub detail: String,
    /// The id of its test record.
    pub test_id: String,
}

/// File name of the calibration inside the results folder (beside the run folders).
pub const CALIBRATION_FILE: &str = "calibration.json";

/// The highest rate vegeta holds with valid results against the no-op endpoint on this machine: above it,
/// a result measures the load generator rather than the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub ceiling_rps: Option<u32>,
    /// The server and workers count it was measured against.
    pub server: String,
    pub workers: u16,
    /// RFC 3339 UTC.
    pub measured_at: String,
    pub machine: Machine,
    pub vegeta: String,
    /// Why the search stopped; `valid` is false when the ceiling is only a lower bound.
    pub stop: String,
    pub valid: bool,
    /// The run folder holding the probes.
    pub run_id: String,
    pub probes: Vec<ProbeRecord>,
    /// The generator's own latency against the no-op: latency floor, clean ceiling, every probed rate.
    /// Absent in calibrations recorded before it existed.
    #[serde(default)]
    pub generator: Option<GeneratorFloorRecord>,
    /// CPUs vegeta was given (and told to use with `-cpus`).
    #[serde(default)]
    pub vegeta_cpus: Option<usize>,
}

/// How one probe went, in the words `results.json` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeVerdict {
    /// Valid, and within the SLO.
    Meets,
    /// Outside the SLO.
    Misses,
    /// Within the SLO but not trustworthy.
    Invalid,
    /// The test itself failed.
    Failed,
}

impl ProbeVerdict {
    pub fn word(self) -> &'static str {
        match self {
            ProbeVerdict::Meets => "meets",
            ProbeVerdict::Misses => "misses",
            ProbeVerdict::Invalid => "invalid",
            ProbeVerdict::Failed => "failed",
        }
    }
}

impl std::fmt::Display for ProbeVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}
