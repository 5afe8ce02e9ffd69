//! The run as a whole: what was asked for, on what machine and versions, with which CPU layout, and how it
//! ended. [`RunResults`] is what `results.json` holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::capacity::{Calibration, CapacityResult};
use super::machine::{Machine, ServerHost};
use super::test::TestRecord;

/// Bumped whenever a field changes meaning or is removed; readers refuse other versions with a clear message.
pub const SCHEMA_VERSION: u32 = 1;
/// File name of the run summary inside a run folder.
pub const RESULTS_FILE: &str = "results.json";

/// Everything one `runner` invocation measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    pub schema_version: u32,
    pub run: RunMetadata,
    /// One record per finished test (every repeat and every search probe), in the order they ran.
    pub tests: Vec<TestRecord>,
    /// With `--find-max`: the sustainable rate of every server x endpoint x workers.
    #[serde(default)]
    pub capacity: Vec<CapacityResult>,
}

/// What was run, when, on what, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMetadata {
    /// The run folder's name, `bench_YYYYMMDD_HHMMSS`.
    pub id: String,
    /// The runner's command line as typed.
    pub arguments: Vec<String>,
    pub config: RunConfig,
    pub machine: Machine,
    pub versions: Versions,
    pub core_layout: CoreLayout,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// RFC 3339 UTC; `None` while running or when killed hard.
    pub finished_at: Option<String>,
    pub status: RunStatus,
    /// Run-wide caveats a reader must see (shared cores, tests that failed, rates above the calibrated ceiling).
    pub notes: Vec<String>,
    /// The load generator's calibrated ceiling on this machine, when `runner calibrate` measured one.
    #[serde(default)]
    pub calibration: Option<Calibration>,
    /// With `--server-host`: the host the servers ran on (`machine` is then the load generator's). Absent in
    /// local runs and in runs recorded before the flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_host: Option<ServerHost>,
    /// Planned arm x endpoint cells that were not measured because the arm does not serve the endpoint (an
    /// external arm's catalogue lacks it): absent with the reason, never a zero. Empty in older runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<AbsentCell>,
}

/// One arm x endpoint cell of the plan that was not measured, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbsentCell {
    pub server: String,
    /// The catalogue endpoint's name.
    pub endpoint: String,
    pub reason: String,
}

/// An arm from `--manifest`, as the run started it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalArmConfig {
    pub name: String,
    /// The start command as the manifest writes it, placeholders unreplaced.
    pub command: Vec<String>,
    /// Where the manifest declares it (`file:line`).
    pub declared_at: String,
    /// The catalogue's path, and whether it is the workspace's contract or an OpenAPI document.
    pub catalogue: String,
    /// Its `/healthz` path in the workspace's format, if it serves one.
    pub health: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Complete,
    Interrupted,
}

/// The resolved options of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub servers: Vec<String>,
    /// `--io-drivers`: the drivers the arms that take `--io-driver` ran on (empty in runs recorded before
    /// the runner had the axis, which ran them on their default, io_uring).
    #[serde(default)]
    pub io_drivers: Vec<shared::IoDriver>,
    /// Path prefixes; empty means every benchmarked endpoint.
    pub filters: Vec<String>,
    pub rates: Vec<u32>,
    pub duration_s: f64,
    pub workers: Vec<u16>,
    pub timeout_s: f64,
    pub warmup_s: f64,
    pub repeat: u32,
    pub host: String,
    pub pin_cores: bool,
    pub sleep_ms: u64,
    /// vegeta's cap on connections per server (0 in runs recorded before the cap existed).
    #[serde(default)]
    pub max_connections: u32,
    /// Response bodies were kept in vegeta's results (`--keep-bodies`); false in older runs, which kept them.
    #[serde(default)]
    pub keep_bodies: bool,
    /// Present for `--find-max` runs (and the study's capacity phase).
    #[serde(default)]
    pub search: Option<SearchConfig>,
    /// Present for the default study.
    #[serde(default)]
    pub study: Option<StudyConfig>,
    /// The arms from `--manifest` (empty when there was none, and in older runs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external: Vec<ExternalArmConfig>,
    /// `--attackers` as named (`local`, `[user@]host`); absent for the one local vegeta.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attackers: Vec<String>,
}

/// What the default study measured: cost at equal rates, capacity where the server is the limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyConfig {
    /// Repeats of every cost test.
    pub repeat: u32,
    /// Endpoint name -> the rate its cost was measured at, the same for every arm.
    pub cost_rates: BTreeMap<String, u32>,
    /// Endpoints whose capacity the SLO search measured (the server, not the generator, limits them).
    pub capacity_endpoints: Vec<String>,
    /// Where the cost rate of endpoints that hold no thread came from (calibration, or the default).
    pub base_rate_source: String,
}

/// The SLO and limits of a saturation search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchConfig {
    pub slo_p99_ms: f64,
    pub slo_success_pct: f64,
    pub budget_s: f64,
    pub start_rate: u32,
    /// No probe went above this rate.
    #[serde(default)]
    pub max_rate: u32,
    /// The search stops once the bracket is this tight, in percent.
    pub precision_pct: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    pub runner: String,
    pub rustc: Option<String>,
    /// vegeta's module version (a `go install` build does not report its own).
    pub vegeta: String,
    pub git_commit: Option<String>,
}

/// Which CPUs the servers and the load generator were given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoreLayout {
    /// Whether pinning was on (`--no-pin` turns it off).
    pub pinned: bool,
    /// Per workers count, where the server and vegeta ran.
    pub placements: BTreeMap<u16, Placement>,
}

/// CPUs of one server start and of the vegeta attacking it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// Empty when unpinned.
    pub server_cpus: Vec<usize>,
    /// Empty when unpinned.
    pub load_generator_cpus: Vec<usize>,
    /// The server and vegeta could run on the same CPUs.
    pub shared: bool,
}
