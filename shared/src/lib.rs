//! The contract both servers implement, defined once.
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
//! - [`net`]: listener sockets with the same options for every server, and the readiness line.
//! - [`http1`]: one HTTP/1.1 connection served by hyper with the limits every hyper arm shares (head cap,
//!   header and idle timeouts, half-close, a stop that closes idle connections at once), on any runtime.

pub mod api;
pub mod binaries;
pub mod catalogue;
pub mod client;
pub mod config;
pub mod cpus;
pub mod db;
pub mod error;
pub mod handler;
pub mod http1;
pub mod net;

pub use catalogue::{CATALOGUE, Endpoint, Group, Method, Operation, Style};
pub use config::ServerArgs;
pub use error::ApiError;
pub use handler::{AppState, Executor};
