//! The command line, as clap types only: flags, their help, and typed values (durations are parsed here, by
//! clap). Defaults come from [`crate::defaults`]. Combinations are checked by the `config` layer above, which
//! resolves these flags into a plan.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::defaults;

/// The servers the workspace builds; the first is what `runner calibrate` targets by default.
const FIRST_SERVER: &str = shared::binaries::SERVERS[0];
/// The most workers a server accepts, for clap's range.
const MAX_WORKERS: i64 = shared::config::MAX_WORKERS as i64;

/// A positive duration such as `10s`, `1m30s` or `500ms`, at most a day.
pub fn positive_duration(value: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(value.trim())
        .map_err(|e| format!("{value:?} is not a duration ({e}); write it like 10s, 1m or 500ms"))?;
    if duration.is_zero() {
        return Err("must be longer than zero".to_owned());
    }
    if duration > defaults::MAX_DURATION {
        return Err(format!("{value:?} is longer than a day"));
    }
    Ok(duration)
}

/// Like [`positive_duration`], but `0` is allowed (it switches the feature off).
pub fn duration_or_zero(value: &str) -> Result<Duration, String> {
    match value.trim() {
        "0" => Ok(Duration::ZERO),
        _ => match positive_duration(value) {
            Err(message) if message == "must be longer than zero" => Ok(Duration::ZERO),
            other => other,
        },
    }
}

/// Benchmark the runtime-bench servers (every async-runtime arm the workspace builds) with vegeta and report.
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

impl Cli {
    /// Parses the process's arguments, with help text that reads its mode-dependent defaults from
    /// [`defaults`] (clap's derive can only show one fixed default).
    pub fn parse_with_defaults() -> Cli {
        use clap::{CommandFactory, FromArgMatches};
        let command = with_mode_defaults(Cli::command()).mut_subcommand("run", with_mode_defaults);
        let matches = command.get_matches();
        Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
    }
}

/// `--duration` and `--timeout` help naming both their defaults: for fixed rates and for search probes.
fn with_mode_defaults(command: clap::Command) -> clap::Command {
    let duration = format!(
        "Length of each measured attack, e.g. 10s, 1m, 500ms [default: {}; {} per probe with --find-max]",
        defaults::DURATION,
        defaults::PROBE_DURATION
    );
    let timeout = format!(
        "Per-request timeout; a request still unanswered after it counts as an error [default: {}; {} with \
         --find-max, where an overloaded probe would otherwise wait out long timeouts]",
        defaults::TIMEOUT,
        defaults::PROBE_TIMEOUT
    );
    command.mut_arg("duration", |arg| arg.help(duration)).mut_arg("timeout", |arg| arg.help(timeout))
}

// Parsed once per process: the size of the run variant costs nothing, boxing it would cost clap's derive.
#[allow(clippy::large_enum_variant)]
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
    /// Line up the matching tests of two run folders (same arm, workers, endpoint, rate and I/O driver) and
    /// flag figures (p50, p99, achieved rate, server CPU per request) that changed beyond the threshold and,
    /// with repeats, beyond their min–max spread. Exits 0 with "no regression", 1 when a test got worse, 2
    /// when the runs cannot be compared (missing or half-written results.json, other machines or arms).
    Compare(CompareArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The baseline run folder.
    #[arg(value_name = "OLD_DIR")]
    pub old: PathBuf,

    /// The run folder to judge against it.
    #[arg(value_name = "NEW_DIR")]
    pub new: PathBuf,

    /// Percent change of a median beyond which a figure counts as changed (latency changes under
    /// 0.5 ms never count).
    #[arg(long, default_value_t = defaults::COMPARE_THRESHOLD_PCT, value_name = "PCT")]
    pub threshold: f64,
}

#[derive(Debug, Clone, Args)]
pub struct CalibrateArgs {
    /// Server whose no-op endpoint is the target.
    #[arg(long, default_value = FIRST_SERVER)]
    pub server: String,

    /// Server workers.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=MAX_WORKERS))]
    pub workers: u16,

    /// Length of each probe.
    #[arg(long, default_value = defaults::CALIBRATE_DURATION, value_parser = positive_duration, value_name = "DURATION")]
    pub duration: Duration,

    /// Warm-up before each probe; 0 skips it.
    #[arg(long, default_value = defaults::CALIBRATE_WARMUP, value_parser = duration_or_zero, value_name = "DURATION")]
    pub warmup: Duration,

    /// The time the whole calibration may take.
    #[arg(long, default_value = defaults::CALIBRATE_BUDGET, value_parser = positive_duration, value_name = "DURATION")]
    pub budget: Duration,

    /// The first rate probed, in requests per second.
    #[arg(long, default_value_t = defaults::CALIBRATE_START_RATE, value_name = "RPS")]
    pub start_rate: u32,

    /// Folder the run folder and calibration.json are written to.
    #[arg(long, default_value = defaults::OUT, value_name = "DIR")]
    pub out: PathBuf,

    /// vegeta binary [default: $VEGETA, then PATH, then tools/bin/vegeta of this checkout].
    #[arg(long, value_name = "PATH")]
    pub vegeta: Option<PathBuf>,

    /// Don't pin the server and vegeta to disjoint CPUs.
    #[arg(long)]
    pub no_pin: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Servers to benchmark, comma-separated [default: every server the workspace builds].
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub servers: Vec<String>,

    /// I/O drivers to run the arms that take `--io-driver` on (the monoio arms), comma-separated: io_uring,
    /// epoll. Each driver is an arm of its own (`monoio/epoll`); arms without a driver choice run once.
    #[arg(long, value_enum, value_delimiter = ',', default_value = defaults::IO_DRIVERS, value_name = "DRIVERS")]
    pub io_drivers: Vec<shared::IoDriver>,

    /// Only endpoints whose path starts with this prefix (repeatable or comma-separated), e.g. /api/simple,
    /// /api/db or /api/db/async/read [default: every benchmarked endpoint].
    #[arg(long, value_delimiter = ',', value_name = "PREFIX")]
    pub filter: Vec<String>,

    /// Target request rates in requests per second, one test per rate: the fixed matrix (e.g. --rates 1000
    /// 2000) instead of the default study [default: the study: every arm's cost per endpoint at an equal clean
    /// rate, repeated, then the capacity of the endpoints the server limits].
    #[arg(long, num_args = 1.., value_delimiter = ',', value_name = "RPS")]
    pub rates: Vec<u32>,

    /// Length of each measured attack, e.g. 10s, 1m, 500ms (defaults in --help).
    #[arg(long, value_parser = positive_duration, value_name = "DURATION")]
    pub duration: Option<Duration>,

    /// Warm-up attack before each measured test, at the test's rate, excluded from the metrics; 0 skips it
    /// [default: 2s; 500ms in the study].
    #[arg(long, value_parser = duration_or_zero, value_name = "DURATION")]
    pub warmup: Option<Duration>,

    /// Run each test this many times, each on a fresh server; tables and charts show the median and the
    /// spread, and every repeat is kept.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=defaults::MAX_REPEAT as i64), value_name = "N")]
    pub repeat: u32,

    /// Instead of the fixed --rates, find for every server x endpoint x workers the highest rate that meets
    /// the SLO: double the rate until a probe fails, then bisect to within 5%.
    #[arg(long)]
    pub find_max: bool,

    /// With --find-max: the p99 latency a sustainable rate must stay under.
    #[arg(long, default_value = defaults::SLO_P99, value_parser = positive_duration, value_name = "DURATION")]
    pub slo_p99: Duration,

    /// With --find-max: the success percentage (HTTP 200) a sustainable rate must reach.
    #[arg(long, default_value_t = defaults::SLO_SUCCESS_PCT, value_name = "PERCENT")]
    pub slo_success: f64,

    /// With --find-max: the time the whole search may take, shared evenly by the combinations.
    #[arg(long, default_value = defaults::BUDGET, value_parser = positive_duration, value_name = "DURATION")]
    pub budget: Duration,

    /// With --find-max: the first rate probed, in requests per second.
    #[arg(long, default_value_t = defaults::START_RATE, value_name = "RPS")]
    pub start_rate: u32,

    /// With --find-max: no probe goes above this rate (e.g. the calibrated load-generator ceiling).
    #[arg(long, default_value_t = defaults::MAX_RATE, value_name = "RPS")]
    pub max_rate: u32,

    /// Server worker counts to test (event-loop threads), one test per count, within the servers' own range.
    #[arg(long, num_args = 1.., value_delimiter = ',', default_values_t = defaults::WORKERS, value_parser = clap::value_parser!(u16).range(1..=MAX_WORKERS), value_name = "N")]
    pub workers: Vec<u16>,

    /// Address every server listens on; must be a loopback address (load only ever targets this machine)
    /// [default: each test's server gets a 127.x.y.z address of its own, so no earlier test's TIME_WAIT
    /// sockets meet it].
    #[arg(long)]
    pub host: Option<String>,

    /// Run every test's server on this host over ssh (`[user@]host`): started, stopped, sampled and audited
    /// there, listening on that host's address, which the load targets. Only aim load at machines you control.
    /// The binaries there must be this build (checked by sha256 before anything starts).
    #[arg(long, value_name = "[USER@]HOST")]
    pub server_host: Option<String>,

    /// ssh config file for --server-host and --attackers (`ssh -F FILE`): key, port, user and known-hosts
    /// policy [default: ssh's own, ~/.ssh/config].
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,

    /// Folder of the server binaries on --server-host [default: the same path as this build's folder].
    #[arg(long, value_name = "DIR")]
    pub remote_bin_dir: Option<PathBuf>,

    /// Folder on --server-host for the tests' databases [default: a fresh temporary folder there, removed at
    /// the end].
    #[arg(long, value_name = "DIR")]
    pub remote_work_dir: Option<PathBuf>,

    /// Fixed port for the servers; absent or 0 picks a free port for every start (a taken port falls back to
    /// a free one with a warning).
    #[arg(long)]
    pub port: Option<u16>,

    /// Per-request timeout; a request still unanswered after it counts as an error (defaults in --help).
    #[arg(long, value_parser = positive_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,

    /// Folder the run folder is created in.
    #[arg(long, default_value = defaults::OUT, value_name = "DIR")]
    pub out: PathBuf,

    /// vegeta binary [default: $VEGETA, then PATH, then tools/bin/vegeta of this checkout].
    #[arg(long, value_name = "PATH")]
    pub vegeta: Option<PathBuf>,

    /// Most connections vegeta opens to a server. Beyond it, requests queue inside vegeta (still sent on
    /// schedule, their wait counted in their latency), so an overloaded test cannot exhaust the machine's
    /// ephemeral ports and slow every later test.
    #[arg(long, default_value_t = defaults::MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    pub max_connections: u32,

    /// Keep response bodies in vegeta's results file (`vegeta attack -max-body -1`). Off by default
    /// (`-max-body 0`): the runner never reads them, and storing them costs the load generator CPU.
    #[arg(long)]
    pub keep_bodies: bool,

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

    /// Keep every test's SQLite database (and its -wal file) in the run folder's db/; by default each is
    /// deleted once its write audit has read it, which keeps a run's disk use to its results.
    #[arg(long)]
    pub keep_db: bool,

    /// Hosts that run vegeta, comma-separated as [user@]host (over OpenSSH; `local` names this machine), each
    /// at its share of every rate, started on one agreed schedule; their results are merged per request.
    /// Load must only be aimed from and at machines you control [default: one vegeta on this machine].
    #[arg(long, value_delimiter = ',', value_name = "HOSTS")]
    pub attackers: Vec<String>,

    /// With --attackers: vegeta's path on the attacker hosts [default: their PATH, then ~/go/bin/vegeta].
    #[arg(long, value_name = "PATH")]
    pub attacker_vegeta: Option<String>,

    /// Print the test matrix and how long it would take, then exit without running anything.
    #[arg(long)]
    pub dry_run: bool,

    /// A servers.toml declaring arms from outside the workspace (start command, readiness path, catalogue);
    /// --servers then takes their names too, e.g. --servers axum,fastapi --manifest
    /// examples/fastapi/servers.toml [default with a manifest: every workspace arm and every manifest arm].
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Run folder to render [default: the newest bench_* folder under --out].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Folder holding the run folders, used when --dir is absent.
    #[arg(long, default_value = defaults::OUT, value_name = "DIR")]
    pub out: PathBuf,

    /// HTML file to write [default: report.html inside the run folder].
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Print only the terminal tables and ASCII charts; write no HTML.
    #[arg(long)]
    pub no_html: bool,
}
