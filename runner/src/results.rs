//! The results schema: the contract between measuring and reporting. `results.json` holds one
//! [`RunResults`]; each test also gets its own metrics, raw and samples files. Reports are pure functions of
//! these types, so `runner report` re-renders any run folder without re-running it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

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
}

impl Calibration {
    /// Reads `<results_dir>/calibration.json`; `None` when there is none or it was made on another machine.
    pub fn load_for(results_dir: &Path, machine: &Machine) -> Option<Calibration> {
        let text = std::fs::read_to_string(results_dir.join(CALIBRATION_FILE)).ok()?;
        let calibration: Calibration = serde_json::from_str(&text).ok()?;
        let same_machine =
            calibration.machine.cpu_model == machine.cpu_model && calibration.machine.cores == machine.cores;
        same_machine.then_some(calibration)
    }
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
    /// Present for `--find-max` runs.
    #[serde(default)]
    pub search: Option<SearchConfig>,
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

/// The outcome of the saturation search for one server x endpoint x workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityResult {
    pub server: String,
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
    /// Latency, achieved rate and server CPU of the probe at the sustainable rate.
    pub p99_ms: Option<f64>,
    pub achieved_rps: Option<f64>,
    pub cpu_mean_pct: Option<f64>,
    /// Every probe, in order; each is also a full test record.
    pub probes: Vec<ProbeRecord>,
}

/// One probe of a saturation search or a calibration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub rate: u32,
    /// `meets`, `misses`, `invalid` or `failed`.
    pub verdict: String,
    /// Why it missed, was invalid or failed.
    pub detail: String,
    /// The id of its test record.
    pub test_id: String,
}

/// The machine the numbers come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cpu_model: String,
    /// Logical CPUs the runner may use.
    pub cores: usize,
    pub kernel: String,
    /// Whether the kernel allows io_uring (`/proc/sys/kernel/io_uring_disabled` is 0 or absent).
    pub io_uring_available: bool,
    pub memory_total_bytes: u64,
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

/// One measured test: one server, workers count, endpoint, rate and repeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestRecord {
    /// `{server}_w{workers}_{endpoint}_{rate}` (plus `_r{repeat}` beyond the first repeat): the file stem.
    pub id: String,
    pub server: String,
    pub workers: u16,
    pub endpoint: EndpointRef,
    /// Target rate, requests per second.
    pub rate: u32,
    pub duration_s: f64,
    /// 1-based repeat index.
    pub repeat: u32,
    pub status: TestStatus,
    /// Why the test failed, when it did.
    pub failure: Option<String>,
    pub metrics: Option<Metrics>,
    pub resources: Option<Resources>,
    /// Only for write endpoints.
    pub write_audit: Option<WriteAudit>,
    pub validity: Validity,
    /// What a reader should know about how this test ran (e.g. a cold restart after a backlogged warm-up).
    #[serde(default)]
    pub notes: Vec<String>,
    /// The server's own `/healthz` at start: runtime, the I/O driver that actually ran (io_uring or epoll),
    /// workers, pool sizes.
    #[serde(default)]
    pub server_health: Option<shared::api::Health>,
    pub files: TestFiles,
    pub started_at: String,
    pub finished_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestStatus {
    Ok,
    Failed,
}

/// The catalogue entry the test targeted, as the server described it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRef {
    pub name: String,
    pub method: String,
    pub path: String,
    /// `simple` or `db`.
    pub group: String,
    /// `non_blocking`, `thread_pool` or `event_loop_blocking`.
    pub style: String,
    /// `noop`, `sleep`, `read`, `write`.
    pub operation: String,
}

/// Load metrics, computed exactly from vegeta's per-request results (not its t-digest estimates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Requests vegeta issued (including ones that errored).
    pub requests: u64,
    /// Responses with HTTP 200.
    pub successes: u64,
    /// successes / requests x 100.
    pub success_pct: f64,
    /// successes / (first request sent to last response received), like vegeta's `throughput`: the capacity
    /// actually delivered, not inflated by a backlog answered after the attack stopped.
    pub achieved_rps: f64,
    /// Requests vegeta actually sent per second (its `rate`); below target means the generator fell behind.
    pub send_rate_rps: f64,
    /// Time from the first to the last request sent, seconds.
    pub attack_duration_s: f64,
    /// Time from the last request sent to the latest response received, seconds (vegeta's `wait`).
    pub wait_s: f64,
    /// Latency of every request (errors included), milliseconds.
    pub latency_ms: LatencyStats,
    /// Latency (ms) at the percentiles in [`LATENCY_CURVE_PERCENTILES`], for distribution charts.
    pub latency_curve_ms: Vec<PercentilePoint>,
    /// HTTP status code -> count; `"0"` counts requests that got no response.
    pub status_codes: BTreeMap<String, u64>,
    /// Error message -> count.
    pub errors: BTreeMap<String, u64>,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Latency summary, milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    pub mean: f64,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PercentilePoint {
    pub percentile: f64,
    pub latency_ms: f64,
}

/// The percentiles stored in every latency curve.
pub const LATENCY_CURVE_PERCENTILES: &[f64] =
    &[0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 97.5, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0];

/// CPU and memory of the server and of the load generator during the measured attack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    pub server: UsageSummary,
    pub load_generator: UsageSummary,
    pub sample_interval_ms: u64,
}

/// Summary of one process's samples. CPU is per core: 200% is two busy cores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageSummary {
    pub samples: usize,
    pub cpu_mean_pct: f64,
    pub cpu_max_pct: f64,
    pub rss_mean_bytes: u64,
    pub rss_max_bytes: u64,
}

/// The per-test `_cpu.json` file: every sample taken.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleSeries {
    pub interval_ms: u64,
    pub server_pid: u32,
    pub server: Vec<Sample>,
    pub load_generator: Vec<Sample>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the attack started.
    pub t_s: f64,
    pub cpu_pct: f64,
    pub rss_bytes: u64,
}

/// Did the database end up with exactly the increments the clients were told succeeded?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteAudit {
    /// Write responses with HTTP 200.
    pub acknowledged: u64,
    /// Sum of increments found in the database after the test.
    pub applied: i64,
    /// Acknowledged but not applied.
    pub lost: u64,
    /// Applied but never acknowledged (e.g. the client timed out after the commit).
    pub phantom: u64,
}

/// Whether the numbers can be trusted, and if not, why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validity {
    pub valid: bool,
    /// Human-readable reasons; empty when valid.
    pub reasons: Vec<String>,
    /// The server shared CPUs with the load generator.
    pub shared_cores: bool,
}

impl Validity {
    pub fn from_reasons(reasons: Vec<String>, shared_cores: bool) -> Validity {
        Validity { valid: reasons.is_empty(), reasons, shared_cores }
    }
}

/// Files of one test, relative to the run folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestFiles {
    pub metrics: String,
    /// vegeta's binary results, readable by `vegeta report` and `vegeta plot`.
    pub raw: String,
    pub samples: String,
}

impl TestFiles {
    pub fn for_stem(stem: &str) -> TestFiles {
        TestFiles { metrics: format!("{stem}.json"), raw: format!("{stem}.bin"), samples: format!("{stem}_cpu.json") }
    }
}

/// The file stem of a test: `{server}_w{workers}_{endpoint}_{rate}`, with `_r{n}` for repeats after the first.
pub fn test_stem(server: &str, workers: u16, endpoint: &str, rate: u32, repeat: u32) -> String {
    let base = format!("{server}_w{workers}_{endpoint}_{rate}");
    if repeat > 1 { format!("{base}_r{repeat}") } else { base }
}

/// Writes JSON atomically (temp file, then rename), so a crash never leaves a half-written file behind.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_vec_pretty(value).context("encoding JSON")?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

impl RunResults {
    /// Writes `results.json` into `run_dir`.
    pub fn save(&self, run_dir: &Path) -> Result<()> {
        write_json_atomic(&run_dir.join(RESULTS_FILE), self)
    }

    /// Reads a run folder's `results.json`, refusing other schema versions with a clear message.
    pub fn load(run_dir: &Path) -> Result<RunResults> {
        let path = run_dir.join(RESULTS_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("no readable {RESULTS_FILE} in {} (is it a run folder?)", run_dir.display()))?;
        let probe: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?;
        let version = probe.get("schema_version").and_then(serde_json::Value::as_u64);
        if version != Some(u64::from(SCHEMA_VERSION)) {
            bail!(
                "{} has schema version {}, this runner reads version {SCHEMA_VERSION}; re-run the benchmark or \
                 use the runner that wrote it",
                path.display(),
                version.map_or_else(|| "(none)".to_owned(), |v| v.to_string())
            );
        }
        serde_json::from_value(probe).with_context(|| format!("{} does not match the results schema", path.display()))
    }
}

/// The newest `bench_*` folder under `results_dir`.
pub fn newest_run_dir(results_dir: &Path) -> Result<PathBuf> {
    let entries = std::fs::read_dir(results_dir)
        .with_context(|| format!("cannot read results folder {}", results_dir.display()))?;
    let mut runs: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_dir() && path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("bench_")))
        .collect();
    runs.sort();
    runs.pop().with_context(|| format!("no bench_* run folder in {}; run a benchmark first", results_dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../tests/fixtures/bench_fixture/results.json");

    fn run_dir_with(text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(RESULTS_FILE), text).expect("written");
        dir
    }

    #[test]
    fn results_survive_a_round_trip() {
        let results: RunResults = serde_json::from_str(FIXTURE).expect("fixture parses");
        let dir = tempfile::tempdir().expect("temp dir");
        results.save(dir.path()).expect("saved");
        assert_eq!(RunResults::load(dir.path()).expect("loaded"), results);
        assert!(!dir.path().join("results.json.tmp").exists(), "no temp file left behind");
    }

    #[test]
    fn unreadable_folders_say_what_is_wrong() {
        let empty = tempfile::tempdir().expect("temp dir");
        let message = format!("{:#}", RunResults::load(empty.path()).expect_err("no file"));
        assert!(message.contains("is it a run folder"), "{message}");

        let garbage = run_dir_with("{ half written");
        let message = format!("{:#}", RunResults::load(garbage.path()).expect_err("not JSON"));
        assert!(message.contains("not valid JSON"), "{message}");

        let old = run_dir_with(&FIXTURE.replacen("\"schema_version\": 1", "\"schema_version\": 0", 1));
        let message = format!("{:#}", RunResults::load(old.path()).expect_err("old schema"));
        assert!(message.contains("schema version 0") && message.contains("reads version 1"), "{message}");
    }

    #[test]
    fn an_interrupted_run_still_loads() {
        let mut results: RunResults = serde_json::from_str(FIXTURE).expect("fixture parses");
        results.run.status = RunStatus::Running;
        results.run.finished_at = None;
        results.tests.truncate(1);
        let dir = tempfile::tempdir().expect("temp dir");
        results.save(dir.path()).expect("saved");
        let loaded = RunResults::load(dir.path()).expect("a run killed mid-way is readable");
        assert_eq!((loaded.run.status, loaded.tests.len()), (RunStatus::Running, 1));
    }

    #[test]
    fn the_newest_run_folder_is_found() {
        let out = tempfile::tempdir().expect("temp dir");
        for name in ["bench_20260101_000000", "bench_20261128_120000", "notes"] {
            std::fs::create_dir(out.path().join(name)).expect("created");
        }
        let newest = newest_run_dir(out.path()).expect("found");
        assert!(newest.ends_with("bench_20261128_120000"));
        let none = tempfile::tempdir().expect("temp dir");
        assert!(format!("{:#}", newest_run_dir(none.path()).expect_err("none")).contains("run a benchmark first"));
    }
}
