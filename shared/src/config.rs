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
pub const DEFAULT_BACKLOG: i32 = 1024;
/// The most event-loop threads (`--workers`) a server accepts; the runner refuses more before starting any.
pub const MAX_WORKERS: u16 = 1024;
/// How long a stopping server lets open connections finish before it exits anyway.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

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
        }
    }
}
