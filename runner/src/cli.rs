//! The command line, as clap types only. Nothing here is validated beyond syntax: [`crate::plan`] resolves
//! these flags into a checked plan.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Default cap on vegeta's connections per server: far above what a healthy test needs (rate x latency, e.g.
/// 2000 req/s x 50 ms = 100), far below the ~28,000 ephemeral ports.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 1000;

/// Benchmark the runtime-bench servers (tokio/axum vs thread-per-core monoio) with vegeta and report.
///
/// With no subcommand, runs a benchmark (`runner run`). Every server x workers x endpoint x rate
/// combination is one test: a fresh server on its own port and database, seeded, then attacked by vegeta
/// at a constant open-model rate while its CPU and memory are sampled. Results land in
/// `<out>/bench_YYYYMMDD_HHMMSS/` after every test, then the report is rendered there.
#[derive(Debug, Parser)]
#[command(name = "runner", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a benchmark (the default when no subcommand is given).
    Run(RunArgs),
    /// Re-render the terminal tables, ASCII charts and HTML report of a finished (or interrupted) run.
    Report(ReportArgs),
    /// Find the load generator's own ceiling on this machine: the highest rate vegeta holds, with valid
    /// results, against the no-op endpoint. Stored in <out>/calibration.json; later runs and reports show
    /// results as a fraction of it and warn about rates above it.
    Calibrate(CalibrateArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CalibrateArgs {
    /// Server whose no-op endpoint is the target.
    #[arg(long, default_value = "axum")]
    pub server: String,

    /// Server workers.
    #[arg(long, default_value_t = 1)]
    pub workers: u16,

    /// Length of each probe.
    #[arg(long, default_value = "3s", value_name = "DURATION")]
    pub duration: String,

    /// Warm-up before each probe; 0 skips it.
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    pub warmup: String,

    /// The time the whole calibration may take.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub budget: String,

    /// The first rate probed, in requests per second.
    #[arg(long, default_value_t = 1000, value_name = "RPS")]
    pub start_rate: u32,

    /// Folder the run folder and calibration.json are written to.
    #[arg(long, default_value = "results", value_name = "DIR")]
    pub out: PathBuf,

    /// vegeta binary [default: $VEGETA, then PATH, then tools/bin/vegeta of this checkout].
    #[arg(long, value_name = "PATH")]
    pub vegeta: Option<PathBuf>,

    /// Don't pin the server and vegeta to disjoint CPUs.
    #[arg(long)]
    pub no_pin: bool,
}

impl CalibrateArgs {
    /// The equivalent benchmark flags: a saturation search of the no-op endpoint with no latency bound.
    pub fn as_run_args(&self) -> RunArgs {
        RunArgs {
            servers: vec![self.server.clone()],
            filter: vec![shared::catalogue::CALIBRATION_PATH_PREFIX.to_owned()],
            rates: vec![self.start_rate],
            duration: Some(self.duration.clone()),
            warmup: self.warmup.clone(),
            repeat: 1,
            find_max: true,
            // No latency bound: the ceiling is where the generator stops holding the rate.
            slo_p99: "1h".to_owned(),
            slo_success: 99.9,
            budget: self.budget.clone(),
            start_rate: self.start_rate,
            max_rate: crate::search::MAX_RATE,
            workers: vec![self.workers],
            host: shared::config::DEFAULT_HOST.to_owned(),
            port: None,
            timeout: None,
            out: self.out.clone(),
            vegeta: self.vegeta.clone(),
            sleep_ms: shared::config::DEFAULT_SLEEP_MS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            no_pin: self.no_pin,
            no_html: true,
            dry_run: false,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Servers to benchmark, comma-separated [default: every server in the workspace: axum,monoio].
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub servers: Vec<String>,

    /// Only endpoints whose path starts with this prefix (repeatable or comma-separated), e.g. /api/simple,
    /// /api/db or /api/db/async/read [default: every benchmarked endpoint].
    #[arg(long, value_delimiter = ',', value_name = "PREFIX")]
    pub filter: Vec<String>,

    /// Target request rates in requests per second, one test per rate.
    #[arg(long, num_args = 1.., value_delimiter = ',', default_values_t = [1000u32, 2000], value_name = "RPS")]
    pub rates: Vec<u32>,

    /// Length of each measured attack, e.g. 10s, 1m, 500ms [default: 10s; 3s per probe with --find-max].
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,

    /// Warm-up attack before each measured test, at the test's rate, excluded from the metrics; 0 skips it.
    #[arg(long, default_value = "2s", value_name = "DURATION")]
    pub warmup: String,

    /// Run each test this many times, each on a fresh server; tables and charts show the median and the
    /// spread, and every repeat is kept.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100), value_name = "N")]
    pub repeat: u32,

    /// Instead of the fixed --rates, find for every server x endpoint x workers the highest rate that meets
    /// the SLO: double the rate until a probe fails, then bisect to within 5%.
    #[arg(long)]
    pub find_max: bool,

    /// With --find-max: the p99 latency a sustainable rate must stay under.
    #[arg(long, default_value = "100ms", value_name = "DURATION")]
    pub slo_p99: String,

    /// With --find-max: the success percentage (HTTP 200) a sustainable rate must reach.
    #[arg(long, default_value_t = 99.9, value_name = "PERCENT")]
    pub slo_success: f64,

    /// With --find-max: the time the whole search may take, shared evenly by the combinations.
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    pub budget: String,

    /// With --find-max: the first rate probed, in requests per second.
    #[arg(long, default_value_t = 100, value_name = "RPS")]
    pub start_rate: u32,

    /// With --find-max: no probe goes above this rate (e.g. the calibrated load-generator ceiling).
    #[arg(long, default_value_t = crate::search::MAX_RATE, value_name = "RPS")]
    pub max_rate: u32,

    /// Server worker counts to test (event-loop threads), one test per count.
    #[arg(long, num_args = 1.., value_delimiter = ',', default_values_t = [1u16], value_name = "N")]
    pub workers: Vec<u16>,

    /// Address the servers listen on; must be a loopback address (load only ever targets this machine).
    #[arg(long, default_value = shared::config::DEFAULT_HOST)]
    pub host: String,

    /// Fixed port for the servers; absent or 0 picks a free port for every start (a taken port falls back to
    /// a free one with a warning).
    #[arg(long)]
    pub port: Option<u16>,

    /// Per-request timeout; a request still unanswered after it counts as an error [default: 10s; 2s with
    /// --find-max, where an overloaded probe would otherwise wait out long timeouts].
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    /// Folder the run folder is created in.
    #[arg(long, default_value = "results", value_name = "DIR")]
    pub out: PathBuf,

    /// vegeta binary [default: $VEGETA, then PATH, then tools/bin/vegeta of this checkout].
    #[arg(long, value_name = "PATH")]
    pub vegeta: Option<PathBuf>,

    /// Most connections vegeta opens to a server. Beyond it, requests queue inside vegeta (still sent on
    /// schedule, their wait counted in their latency), so an overloaded test cannot exhaust the machine's
    /// ephemeral ports and slow every later test.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    pub max_connections: u32,

    /// Milliseconds each sleep endpoint waits (passed to the servers as --sleep-ms).
    #[arg(long, default_value_t = shared::config::DEFAULT_SLEEP_MS, value_parser = clap::value_parser!(u64).range(0..=3_600_000), value_name = "MS")]
    pub sleep_ms: u64,

    /// Don't pin the servers and vegeta to disjoint CPUs (by default they are pinned when the machine has
    /// enough CPUs, and results that had to share are marked).
    #[arg(long)]
    pub no_pin: bool,

    /// Skip the HTML report at the end of the run (the terminal tables and charts are still printed).
    #[arg(long)]
    pub no_html: bool,

    /// Print the test matrix and how long it would take, then exit without running anything.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Run folder to render [default: the newest bench_* folder under --out].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Folder holding the run folders, used when --dir is absent.
    #[arg(long, default_value = "results", value_name = "DIR")]
    pub out: PathBuf,

    /// HTML file to write [default: report.html inside the run folder].
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Print only the terminal tables and ASCII charts; write no HTML.
    #[arg(long)]
    pub no_html: bool,
}
