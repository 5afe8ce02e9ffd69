//! The arguments and defaults every server takes, defined once so both servers are configured alike.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

pub const DEFAULT_HOST: &str = "127.0.0.1";
pub const DEFAULT_PORT: u16 = 8000;
pub const DEFAULT_SLEEP_MS: u64 = 50;
/// Like the ancestor's default thread pool (Starlette's 40 threads).
pub const DEFAULT_BLOCKING_THREADS: u16 = 40;
/// As many pooled connections as blocking threads, so the pool is never what a thread waits on.
pub const DEFAULT_POOL_SIZE: u32 = 40;
pub const DEFAULT_ASYNC_CONNECTIONS: u16 = 4;
pub const DEFAULT_BUSY_TIMEOUT_MS: u64 = 5000;
/// How long a thread waits for a pooled connection, and how long start-up waits for the pool to fill.
pub const DEFAULT_POOL_TIMEOUT_MS: u64 = 5000;
/// `--pool-timeout-ms` accepts this range: below 100 ms the pool cannot open its connections at start-up on a
/// loaded machine (40 connections took ~10 ms here, idle), above an hour a request would never give up.
pub const POOL_TIMEOUT_MS_RANGE: std::ops::RangeInclusive<u64> = 100..=3_600_000;
pub const DEFAULT_BACKLOG: i32 = 1024;
/// The most event-loop threads (`--workers`) a server accepts; the runner refuses more before starting any.
pub const MAX_WORKERS: u16 = 1024;
/// How long a stopping server lets open connections finish before it exits anyway.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
/// The longest a stop may take, for whoever waits for one: connections get [`SHUTDOWN_GRACE`], the blocking
/// pool's leftover work gets it again (tokio-per-core), then the database is closed with a TRUNCATE checkpoint
/// (a margin of 3 s). Killed earlier, a server leaves its `-wal` file behind.
pub const STOP_DEADLINE: std::time::Duration = SHUTDOWN_GRACE.saturating_mul(2).saturating_add(Duration::from_secs(3));

/// The largest request head (request line and headers) any server accepts; a larger one is answered 431 and
/// the connection closed. nginx's default is 8 KiB (`large_client_header_buffers` up to 32 KiB); hyper's own
/// would be ~400 KB, which lets one client make a server buffer that much per connection.
pub const MAX_REQUEST_HEAD_BYTES: usize = 64 * 1024;
/// How long a client may take to send one request head, from its first byte (from the accept, for the first
/// request of a connection); a slower client is closed.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a keep-alive connection may sit between requests before it is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// `--header-timeout` accepts this range.
pub const HEADER_TIMEOUT_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(3600);
/// `--idle-timeout` accepts this range.
pub const IDLE_TIMEOUT_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(86_400);

/// What every server enforces on each connection, whatever its HTTP codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// See [`MAX_REQUEST_HEAD_BYTES`].
    pub max_head_bytes: usize,
    /// See [`DEFAULT_HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// See [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_head_bytes: MAX_REQUEST_HEAD_BYTES,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// SQLite's `synchronous` pragma.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Synchronous {
    Off,
    Normal,
    Full,
}

impl Synchronous {
    pub fn pragma_value(self) -> &'static str {
        match self {
            Synchronous::Off => "OFF",
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// Flags shared by every server binary (flattened into each binary's clap parser).
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Address to listen on. Load tests only ever target loopback addresses.
    #[arg(long, default_value = DEFAULT_HOST)]
    pub host: String,

    /// Port to listen on; 0 picks a free port (the `listening on` line tells which).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,

    /// Event-loop threads: tokio worker threads for axum, pinned single-threaded runtimes for monoio.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=MAX_WORKERS as i64))]
    pub workers: u16,

    /// SQLite database file, created and seeded if missing [default: <temp dir>/runtime-bench-<server>.db].
    #[arg(long)]
    pub db: Option<PathBuf>,

    /// Milliseconds each sleep endpoint waits.
    #[arg(long, default_value_t = DEFAULT_SLEEP_MS, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub sleep_ms: u64,

    /// Connections in the r2d2 pool used by the thread-pool and blocking DB endpoints.
    #[arg(long, default_value_t = DEFAULT_POOL_SIZE, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub pool_size: u32,

    /// Threads in the pool that runs thread-pool-style work (shared by all workers).
    #[arg(long, default_value_t = DEFAULT_BLOCKING_THREADS, value_parser = clap::value_parser!(u16).range(1..=10_000))]
    pub blocking_threads: u16,

    /// SQLite connections (each on its own thread) behind the non-blocking DB endpoints.
    #[arg(long, default_value_t = DEFAULT_ASYNC_CONNECTIONS, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub async_connections: u16,

    /// SQLite `synchronous` pragma (WAL mode is always on).
    #[arg(long, value_enum, default_value = "normal")]
    pub synchronous: Synchronous,

    /// SQLite busy timeout in milliseconds; a write still locked after it answers 503.
    #[arg(long, default_value_t = DEFAULT_BUSY_TIMEOUT_MS, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub busy_timeout_ms: u64,

    /// Milliseconds a thread waits for a pooled connection (then 503), and start-up for the pool to open
    /// its connections (100..=3600000).
    #[arg(
        long,
        default_value_t = DEFAULT_POOL_TIMEOUT_MS,
        value_parser = clap::value_parser!(u64).range(*POOL_TIMEOUT_MS_RANGE.start()..=*POOL_TIMEOUT_MS_RANGE.end())
    )]
    pub pool_timeout_ms: u64,

    /// Longest a client may take to send a request head (e.g. 10s, 500ms; 100ms..=1h); slower ones are closed.
    #[arg(long, default_value = "10s", value_parser = parse_header_timeout)]
    pub header_timeout: Duration,

    /// Longest a keep-alive connection may wait for its next request (e.g. 60s; 100ms..=24h) before it is closed.
    #[arg(long, default_value = "60s", value_parser = parse_idle_timeout)]
    pub idle_timeout: Duration,

    /// Listen backlog (the same for both servers).
    #[arg(long, default_value_t = DEFAULT_BACKLOG)]
    pub backlog: i32,
}

impl ServerArgs {
    /// The database file, defaulting to one per server name under the system temp dir.
    pub fn db_path(&self, server: &str) -> PathBuf {
        self.db.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("runtime-bench-{server}.db")))
    }

    pub fn sleep(&self) -> Duration {
        Duration::from_millis(self.sleep_ms)
    }

    pub fn workers(&self) -> usize {
        usize::from(self.workers)
    }

    pub fn db_config(&self, server: &str) -> crate::db::DbConfig {
        crate::db::DbConfig {
            path: self.db_path(server),
            synchronous: self.synchronous,
            busy_timeout: Duration::from_millis(self.busy_timeout_ms),
            pool_timeout: Duration::from_millis(self.pool_timeout_ms),
        }
    }

    /// The per-connection limits these flags ask for.
    pub fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_head_bytes: MAX_REQUEST_HEAD_BYTES,
            header_timeout: self.header_timeout,
            idle_timeout: self.idle_timeout,
        }
    }
}

fn parse_header_timeout(text: &str) -> Result<Duration, String> {
    parse_duration_in(text, &HEADER_TIMEOUT_RANGE)
}

fn parse_idle_timeout(text: &str) -> Result<Duration, String> {
    parse_duration_in(text, &IDLE_TIMEOUT_RANGE)
}

/// A human duration (`10s`, `500ms`, `2m`) inside `range`; clap names the flag in front of the error.
fn parse_duration_in(text: &str, range: &std::ops::RangeInclusive<Duration>) -> Result<Duration, String> {
    let allowed = || {
        format!("allowed {}..={}", humantime::format_duration(*range.start()), humantime::format_duration(*range.end()))
    };
    let duration =
        humantime::parse_duration(text).map_err(|e| format!("{e} (a duration such as 10s or 500ms; {})", allowed()))?;
    if range.contains(&duration) { Ok(duration) } else { Err(format!("{text} is out of range ({})", allowed())) }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerArgs,
    }

    fn parse(args: &[&str]) -> Result<ServerArgs, String> {
        Cli::try_parse_from(std::iter::once("server").chain(args.iter().copied()))
            .map(|cli| cli.server)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn timeouts_default_to_the_shared_constants() {
        let args = parse(&[]).expect("defaults parse");
        assert_eq!(args.connection_limits(), ConnectionLimits::default());
        assert_eq!(args.pool_timeout_ms, DEFAULT_POOL_TIMEOUT_MS);
    }

    #[test]
    fn timeouts_take_human_durations() {
        let args = parse(&["--header-timeout", "1500ms", "--idle-timeout", "2m"]).expect("durations parse");
        assert_eq!(args.header_timeout, Duration::from_millis(1500));
        assert_eq!(args.idle_timeout, Duration::from_secs(120));
    }

    #[test]
    fn out_of_range_knobs_are_refused_naming_the_flag_and_the_range() {
        for (flag, value, range) in [
            ("--header-timeout", "0s", "100ms..=1h"),
            ("--header-timeout", "2h", "100ms..=1h"),
            ("--idle-timeout", "10ms", "100ms..=1day"),
            ("--header-timeout", "soon", "100ms..=1h"),
            ("--pool-timeout-ms", "5", "100..=3600000"),
        ] {
            let error = parse(&[flag, value]).expect_err("out of range");
            assert!(error.contains(flag) && error.contains(range), "{flag} {value}: {error}");
        }
    }
}
