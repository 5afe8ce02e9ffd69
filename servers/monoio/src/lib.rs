//! The native monoio arm: the catalogue on thread-per-core monoio runtimes (one pinned runtime and
//! `SO_REUSEPORT` listener per worker), with sockets read and written through io_uring completions
//! (owned-buffer `AsyncReadRent`/`AsyncWriteRent`, no poll-io bridge) and HTTP/1.1 parsed by httparse.
//!
//! monoio-http 0.3 was the first choice for the codec and was set aside: its request decoder lets
//! `Transfer-Encoding: chunked` win over a `Content-Length` instead of refusing the pair, takes an empty
//! chunk-size line for the last chunk, refuses chunk extensions and trailers, and buffers a head without
//! bound. The README's "native arm" section has the details.
//!
//! # Layout
//! - [`h1`]: HTTP/1.1 without I/O: the meaning of a parsed head, request bodies followed to their end,
//!   response heads.
//! - [`connection`]: one connection's request loop on completion I/O: keep-alive, pipelining, bodies,
//!   limits, timeouts, drain; requests go to a [`connection::Dispatcher`].
//! - [`limits`]: the head size limit and the header and idle timeouts, and their flags.
//! - `dispatch`: the workers' dispatcher: router, `shared::handler`, panics as 500s.
//! - [`server`], `worker`, `affinity`, [`executor`], [`router`]: start-up, pinned workers, accept loops and
//!   drain (scaffolding until the shared per-core sequence lands).

mod affinity;
pub mod connection;
mod dispatch;
pub mod executor;
pub mod h1;
pub mod limits;
pub mod router;
pub mod server;
mod worker;

pub use executor::MonoioExecutor;
pub use server::{IoDriver, RunningServer, ShutdownHandle, run, start};
pub use worker::SHUTDOWN_GRACE;

/// The name `/healthz` reports and the default database file is named after.
pub const SERVER_NAME: &str = "monoio";
/// The runtime model, as `/healthz` reports it.
pub const RUNTIME_DESCRIPTION: &str = concat!(
    "monoio thread-per-core (one pinned runtime and SO_REUSEPORT listener per worker), ",
    "io_uring completion I/O, httparse HTTP/1.1"
);
