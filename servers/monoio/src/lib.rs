//! The native monoio arm: the catalogue on thread-per-core monoio runtimes (one pinned runtime and
//! `SO_REUSEPORT` listener per worker), with sockets read and written through io_uring completions
//! (owned-buffer `AsyncReadRent`/`AsyncWriteRent`, no poll-io bridge) and HTTP/1.1 parsed by httparse.
//!
//! monoio-http 0.3 was the first choice for the codec and was set aside: its request decoder lets
//! `Transfer-Encoding: chunked` win over a `Content-Length` instead of refusing the pair, takes an empty
//! chunk-size line for the last chunk, refuses chunk extensions and trailers, and buffers a head without
//! bound. The README's "native arm" section has the details.
//!
//! Everything but the codec is shared: start-up and shutdown, routing and dispatch come from `shared`, the
//! runtime on `--io-driver`, the blocking pool and the executor from `monoio-common`.
//!
//! # Layout
//! - [`h1`]: HTTP/1.1 without I/O: the meaning of a parsed head, request bodies followed to their end,
//!   response heads.
//! - [`connection`]: one connection's request loop on completion I/O: keep-alive, pipelining, bodies,
//!   limits, timeouts, drain.
//! - [`start`] / [`run`]: the server in-process (tests, port 0) and as the process.

pub mod connection;
pub mod h1;

use shared::ServerArgs;
use shared::per_core::Arm;

pub use shared::config::ConnectionLimits;

pub use shared::IoDriver;
pub use shared::config::SHUTDOWN_GRACE;
pub use shared::per_core::{RunningServer, ShutdownHandle};

/// The name `/healthz` reports and the default database file is named after.
pub const SERVER_NAME: &str = "monoio";
/// The runtime model, as `/healthz` reports it.
pub const RUNTIME_DESCRIPTION: &str = concat!(
    "monoio thread-per-core (one pinned runtime and SO_REUSEPORT listener per worker), ",
    "completion I/O (owned buffers), httparse HTTP/1.1"
);

const ARM: Arm = Arm { server: SERVER_NAME, runtime: RUNTIME_DESCRIPTION, binary: "monoio-server" };

/// Binds, prepares the database, spawns `--workers` pinned workers on `io_driver` and returns once every one
/// of them accepts connections. Does not print the readiness line: that is [`run`]'s job. Each connection is
/// held to `limits` (the binary passes `args.connection_limits()`; tests may pass shorter timeouts).
pub fn start(args: ServerArgs, io_driver: IoDriver, limits: ConnectionLimits) -> anyhow::Result<RunningServer> {
    let serve = move |stream, responder, drain| connection::serve(stream, responder, limits, drain);
    Ok(monoio_common::start(&ARM, args, io_driver, serve)?)
}

/// The process: start, print the readiness line, serve until SIGINT or SIGTERM, stop gracefully.
pub fn run(args: ServerArgs, io_driver: IoDriver, limits: ConnectionLimits) -> anyhow::Result<()> {
    let serve = move |stream, responder, drain| connection::serve(stream, responder, limits, drain);
    Ok(monoio_common::run(&ARM, args, io_driver, serve)?)
}
