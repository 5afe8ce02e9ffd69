//! The catalogue on thread-per-core monoio runtimes: one OS thread per `--workers`, each pinned to one CPU of
//! the process's allowed set, each with its own monoio runtime (io_uring where the kernel allows, epoll
//! otherwise) and its own `SO_REUSEPORT` listener on the shared port. HTTP/1.1 is hyper's, the same codec
//! axum uses, so a comparison between the two servers isolates the runtime model.
//!
//! The routes come from `shared::CATALOGUE`; what each endpoint does comes from `shared::handler`. This crate
//! decides only how work runs on monoio: sleeps on the runtime's timer, thread-pool work on one
//! `--blocking-threads` pool shared by every runtime, event-loop-blocking work on the runtime thread itself.
//!
//! # Layout
//! - [`server`]: [`start`] binds every listener, builds the shared state, spawns the workers and returns a
//!   [`RunningServer`] once all of them accept; the handle stops and joins them.
//! - `worker`: one pinned thread: its runtime, its accept loop, the graceful drain of its connections.
//! - `http`: hyper on a monoio socket: one connection, one response per request, panics turned into 500s.
//! - [`router`]: method and path to the operational routes or a catalogue endpoint (pure, tested alone).
//! - [`executor`]: [`MonoioExecutor`], the `shared::Executor` for monoio.
//! - `affinity`: the CPUs the process may run on, and pinning a thread to one of them.

mod affinity;
pub mod executor;
mod http;
pub mod router;
pub mod server;
mod worker;

pub use executor::MonoioExecutor;
pub use server::{IoDriver, RunningServer, ShutdownHandle, run, start};
pub use worker::SHUTDOWN_GRACE;

/// The name `/healthz` reports and the default database file is named after.
pub const SERVER_NAME: &str = "monoio-hyper";
/// The runtime model, as `/healthz` reports it.
pub const RUNTIME_DESCRIPTION: &str =
    concat!("monoio thread-per-core (one pinned runtime and SO_REUSEPORT listener per worker), ", "hyper HTTP/1.1");
