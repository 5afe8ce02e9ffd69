//! The catalogue on N tokio `current_thread` runtimes, one per `--workers`: each on its own OS thread pinned
//! to one CPU of the process's allowed set, with its own `SO_REUSEPORT` listener on the shared port, and no
//! work stealing between them. HTTP/1.1 is hyper's `http1` with the settings axum serves with (keep-alive
//! on, `TCP_NODELAY` on accepted sockets), so comparing it with axum isolates work stealing, and comparing
//! it with monoio-hyper isolates the runtime with the codec held equal.
//!
//! **One thread pool for the whole process.** tokio's `spawn_blocking` belongs to the runtime it is called
//! on: N per-core runtimes would mean N pools of `--blocking-threads` each. So the thread-pool endpoints run
//! on one more runtime, built only for its blocking pool (`max_blocking_threads = --blocking-threads`, never
//! driven), and every per-core runtime hands work to it through `Handle::spawn_blocking` ([`pool`]). Its
//! threads are spawned on demand by whichever pinned worker needs one, so each starts by resetting its
//! affinity to the process's allowed set: like axum's, they float over every core the server was given.
//!
//! The routes come from `shared::router` and `shared::dispatch`, the start-up and shutdown sequence from
//! `shared::per_core`, the connection from `shared::hyper_conn`. This crate decides only how work runs on
//! tokio: sleeps on the worker runtime's timer, thread-pool work on the shared pool, event-loop-blocking work
//! on the worker thread itself.
//!
//! # Layout
//! - [`start`] / [`run`]: the server in-process (tests, port 0) and as the process.
//! - [`pool`]: [`pool::BlockingPool`], the one pool, and an executor on it per worker.
//! - `worker`: one worker body: its runtime, its listener, one task per connection.

pub mod pool;
mod worker;

use anyhow::Context;
use shared::ServerArgs;
use shared::per_core::Arm;

pub use shared::config::SHUTDOWN_GRACE;
pub use shared::per_core::{RunningServer, ShutdownHandle};

/// The name `/healthz` reports and the default database file is named after.
pub const SERVER_NAME: &str = "tokio-per-core";
/// The runtime model, as `/healthz` reports it.
pub const RUNTIME_DESCRIPTION: &str = concat!(
    "tokio current_thread per core (one pinned runtime and SO_REUSEPORT listener per worker, no work stealing), ",
    "hyper HTTP/1.1"
);

const ARM: Arm = Arm { server: SERVER_NAME, runtime: RUNTIME_DESCRIPTION, binary: "tokio-per-core-server" };

/// Binds, prepares the database, spawns `--workers` pinned workers and returns once every one of them
/// accepts connections. Does not print the readiness line: that is [`run`]'s job.
pub fn start(args: ServerArgs) -> anyhow::Result<RunningServer> {
    let pool = pool::BlockingPool::new(args.blocking_threads).context("building the blocking pool")?;
    Ok(shared::per_core::start(&ARM, args, move |worker| worker::serve(worker, &pool))?)
}

/// The process: start, print the readiness line, serve until SIGINT or SIGTERM, stop gracefully.
pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    let pool = pool::BlockingPool::new(args.blocking_threads).context("building the blocking pool")?;
    Ok(shared::per_core::run(&ARM, args, move |worker| worker::serve(worker, &pool))?)
}
