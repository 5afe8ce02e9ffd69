//! The contract every server implements, and everything the servers share, defined once.
//!
//! # Layout
//! - [`catalogue`]: every endpoint (name, method, path template, group, execution style, operation) and the
//!   route matcher that turns a method and a path into an endpoint and an item id.
//! - [`api`]: the JSON bodies the servers send.
//! - [`error`]: [`ApiError`], the one error type whose status code and JSON body both servers send.
//! - [`db`]: SQLite semantics: pragmas, schema, seed, read, write, the r2d2 pool for blocking work and the
//!   connections behind the non-blocking path.
//! - [`handler`]: what each endpoint does; a server only says *how* to sleep and *where* blocking work runs.
//! - [`cpus`]: the CPUs this process may run on.
//! - [`config`]: the command-line arguments and defaults every server takes.
//! - [`client`]: a minimal blocking HTTP/1.1 client for operational calls (health, catalogue, seed).
//! - [`binaries`]: where the server binaries of the current build profile are.
//! - [`entry`]: every server binary's `main`: flags, run, exit code.
//! - [`net`]: listener sockets with the same options for every server, and the readiness line.
//! - [`io_driver`]: [`IoDriver`], the socket I/O driver a server runs and `/healthz` reports.
//! - [`router`]: method and raw path to `/healthz`, `/api/endpoints` or a catalogue endpoint.
//! - [`dispatch`]: a route to a status and a JSON body on a worker's executor ([`dispatch::Responder`]),
//!   panics turned into 500s, so a codec only writes a [`dispatch::Reply`] in its own response type.
//! - [`accept_loop`]: the accept loop and the drain every arm runs on its own runtime: accept until stopped,
//!   back off after an accept error, then tell connections to finish and wait for them within the grace.
//! - [`per_core`]: the start-up and shutdown sequence every per-core arm shares: CPU plan, listeners,
//!   pinned worker threads, readiness, signals, and the accept loop and drain of each worker.
//! - [`select`]: waiting for the first of two futures on any runtime.
//! - `tokio_executor` (feature `tokio`): the `Executor` of both tokio arms.
//! - `hyper_conn` (feature `hyper`): the one place the hyper arms serve a connection.
//! - `http1` (feature `hyper`): one HTTP/1.1 connection served by hyper with the limits every hyper arm shares (head cap,
//!   header and idle timeouts, half-close, a stop that closes idle connections at once), on any runtime.

pub mod accept_loop;
pub mod api;
pub mod binaries;
pub mod catalogue;
pub mod client;
pub mod config;
pub mod cpus;
pub mod db;
pub mod dispatch;
pub mod entry;
pub mod error;
pub mod handler;
#[cfg(feature = "hyper")]
pub mod http1;
#[cfg(feature = "hyper")]
pub mod hyper_conn;
pub mod io_driver;
pub mod net;
pub mod per_core;
pub mod router;
pub mod select;
#[cfg(feature = "tokio")]
pub mod tokio_executor;

pub use catalogue::{CATALOGUE, Endpoint, Group, Method, Operation, Style};
pub use config::ServerArgs;
pub use error::ApiError;
pub use handler::{AppState, Executor};
pub use io_driver::IoDriver;
