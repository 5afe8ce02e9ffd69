//! The catalogue on thread-per-core monoio runtimes: one OS thread per `--workers`, each pinned to one CPU of
//! the process's allowed set, each with its own monoio runtime (io_uring by default, epoll with
//! `--io-driver epoll`) and its own `SO_REUSEPORT` listener on the shared port. HTTP/1.1 is hyper's, the same
//! codec axum and tokio-per-core use, reading through monoio's poll-io bridge: comparing it with
//! tokio-per-core isolates the runtime with the codec held equal.
//!
//! Everything but the codec's I/O object is shared: the per-core start-up and shutdown sequence, routing
//! and dispatch come from `shared`, the runtime, driver choice, blocking pool and executor from
//! `monoio-common`, the hyper connection from `shared::hyper_conn`. This crate only turns a monoio socket
//! into something hyper reads (the `http` module).
//!
//! # Layout
//! - [`start`] / [`run`]: the server in-process (tests, port 0) and as the process.
//! - `http`: a monoio socket switched to poll-io and served by hyper.

mod http;

use shared::ServerArgs;
use shared::per_core::Arm;

pub use shared::IoDriver;
pub use shared::config::SHUTDOWN_GRACE;
pub use shared::per_core::{RunningServer, ShutdownHandle};

/// The name `/healthz` reports and the default database file is named after.
pub const SERVER_NAME: &str = "monoio-hyper";
/// The runtime model, as `/healthz` reports it.
pub const RUNTIME_DESCRIPTION: &str =
    concat!("monoio thread-per-core (one pinned runtime and SO_REUSEPORT listener per worker), ", "hyper HTTP/1.1");

const ARM: Arm = Arm { server: SERVER_NAME, runtime: RUNTIME_DESCRIPTION, binary: "monoio-hyper-server" };

/// Binds, prepares the database, spawns `--workers` pinned workers on `io_driver` and returns once every one
/// of them accepts connections. Does not print the readiness line: that is [`run`]'s job.
pub fn start(args: ServerArgs, io_driver: IoDriver) -> anyhow::Result<RunningServer> {
    Ok(monoio_common::start(&ARM, args, io_driver, http::serve_connection)?)
}

/// The process: start, print the readiness line, serve until SIGINT or SIGTERM, stop gracefully.
pub fn run(args: ServerArgs, io_driver: IoDriver) -> anyhow::Result<()> {
    Ok(monoio_common::run(&ARM, args, io_driver, http::serve_connection)?)
}
