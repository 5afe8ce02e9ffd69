//! One measured test: its record, metrics, resources, write audit, validity and files.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use shared::{Group, IoDriver, Method, Operation, Style};

use super::arm::Arm;
use super::attackers::AttackSet;
use super::limits::{Accounting, KeptUpRecord, ScheduleLagRecord};

/// One measured test: one arm (server and I/O driver), workers count, endpoint, rate and repeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestRecord {
    /// `{arm}_w{workers}_{endpoint}_{rate}` (plus `_r{repeat}` beyond the first repeat): the file stem, the
    /// arm as [`Arm::file_name`] writes it.
    pub id: String,
    pub server: String,
    /// The `--io-driver` the server was started with, for an arm that takes one (absent for the others, and
    /// in runs recorded before the runner had the axis). `server_health.io_driver` says what actually ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_driver: Option<IoDriver>,
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
    /// Where the test's server listened (`127.x.y.z:port`): each test gets a loopback address of its own,
    /// so no earlier test's TIME_WAIT sockets meet it. The planned address when the server never started.
    #[serde(default)]
    pub server_addr: Option<String>,
    /// Exact CPU and run-queue accounting of the server and vegeta over the measured attack, with CPU µs
    /// per request and the projected capacity. Absent in runs recorded before it existed.
    #[serde(default)]
    pub accounting: Option<Accounting>,
    /// How late vegeta sent its requests against its own schedule.
    #[serde(default)]
    pub schedule_lag: Option<ScheduleLagRecord>,
    /// Whether the server completed requests as fast as they were sent, with no growing backlog.
    #[serde(default)]
    pub kept_up: Option<KeptUpRecord>,
    /// Caveats that do not invalidate the result but must be seen with it (e.g.
    /// [`super::GENERATOR_LATENCY_MARKER`] above the calibrated clean ceiling).
    #[serde(default)]
    pub markers: Vec<String>,
    /// The attackers of a test run with `--attackers`, each with its own figures; the metrics above are the
    /// merged requests'. Absent for the one local vegeta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attack_set: Option<AttackSet>,
    pub files: TestFiles,
    pub started_at: String,
    pub finished_at: String,
}

impl TestRecord {
    /// The arm this test measured, as reports name it.
    pub fn arm(&self) -> Arm<'_> {
        Arm::new(&self.server, self.io_driver)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestStatus {
    Ok,
    Failed,
}

/// The catalogue entry the test targeted, in the words of the catalogue's own JSON (`shared`'s serde enums).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRef {
    pub name: String,
    pub method: Method,
    pub path: String,
    /// `simple` or `db`.
    pub group: Group,
    /// `non_blocking`, `thread_pool` or `event_loop_blocking`.
    pub style: Style,
    /// `noop`, `sleep`, `read`, `write`.
    pub operation: Operation,
}

impl From<&shared::Endpoint> for EndpointRef {
    fn from(endpoint: &shared::Endpoint) -> EndpointRef {
        EndpointRef {
            name: endpoint.name.to_owned(),
            method: endpoint.method,
            path: endpoint.path.to_owned(),
            group: endpoint.group,
            style: endpoint.style,
            operation: endpoint.operation,
        }
    }
}

/// The word a catalogue enum is written as in JSON, for reports (the enums in `shared` have no `Display`).
pub fn style_word(style: Style) -> &'static str {
    match style {
        Style::NonBlocking => "non_blocking",
        Style::ThreadPool => "thread_pool",
        Style::EventLoopBlocking => "event_loop_blocking",
    }
}

/// See [`style_word`].
pub fn operation_word(operation: Operation) -> &'static str {
    match operation {
        Operation::Noop => "noop",
        Operation::Sleep => "sleep",
        Operation::Read => "read",
        Operation::Write => "write",
        Operation::Seed => "seed",
    }
}

/// An HTTP status code as vegeta recorded it; 0 means no response came (connection error, timeout). In JSON
/// it is a map key, written as text (`"200"`), as vegeta writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StatusCode(pub u16);

impl StatusCode {
    /// The only status that counts as a success (vegeta counts 200-399).
    pub const OK: StatusCode = StatusCode(200);
    /// No response at all.
    pub const NONE: StatusCode = StatusCode(0);
}

impl std::fmt::Display for StatusCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
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
    pub status_codes: BTreeMap<StatusCode, u64>,
    /// Error message -> count.
    pub errors: BTreeMap<String, u64>,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// The load generator kept up when it sent within this fraction of the target rate: one rule, applied by the
/// validity check and by every report that warns about a generator that fell behind.
pub const SEND_RATE_TOLERANCE: f64 = 0.01;

impl Metrics {
    /// Whether vegeta sent at the target `rate` (within [`SEND_RATE_TOLERANCE`]): below it, the open model
    /// silently became closed and latency is understated.
    pub fn kept_up_with(&self, rate: u32) -> bool {
        self.send_rate_rps >= f64::from(rate) * (1.0 - SEND_RATE_TOLERANCE)
    }
}

/// A result sustains its target rate when it delivered at least this share of it...
pub const SUSTAINED_ACHIEVED_SHARE: f64 = 0.95;
/// ...with at least this success percentage.
pub const SUSTAINED_SUCCESS_PCT: f64 = 99.0;

/// Whether a (valid) result with this achieved rate and success percentage sustained `rate`: the one
/// definition the terminal's capacity summary uses.
pub fn sustains(achieved_rps: f64, success_pct: f64, rate: u32) -> bool {
    achieved_rps >= SUSTAINED_ACHIEVED_SHARE * f64::from(rate) && success_pct >= SUSTAINED_SUCCESS_PCT
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

/// The file stem of a test: `{arm}_w{workers}_{endpoint}_{rate}`, with `_r{n}` for repeats after the first.
pub fn test_stem(arm: Arm<'_>, workers: u16, endpoint: &str, rate: u32, repeat: u32) -> String {
    let base = format!("{}_w{workers}_{endpoint}_{rate}", arm.file_name());
    if repeat > 1 { format!("{base}_r{repeat}") } else { base }
}
