//! What both monoio arms (`monoio-hyper`, `monoio`) need and no other arm does, written once: a monoio
//! runtime on the I/O driver `--io-driver` asks for ([`runtime`]), the one `DefaultThreadPool` of
//! `--blocking-threads` every runtime shares, [`MonoioExecutor`], the flag itself ([`IoDriverArgs`]) and the
//! monoio worker body that plugs a connection handler into `shared::per_core`'s start-up and shutdown
//! sequence ([`start`], [`run`]). An arm supplies only "serve this accepted `TcpStream`".
//!
//! Why a crate of its own rather than a `monoio` feature of `shared`: `shared` is the runtime-agnostic layer
//! every server and the runner build on, and the monoio-only knowledge here (driver types, the listener's
//! blocking mode per driver, pool attachment, `FusionRuntime`) would sit among it behind `cfg`s; a crate
//! builds and tests it on its own (`cargo test -p monoio-common`), keeps monoio out of `cargo build -p runner`
//! or `-p axum-server`, and keeps the dependency arrow pointing down: monoio arm -> monoio-common -> shared.
//!
//! # Layout
//! - [`runtime`]: building a runtime on exactly the asked driver, never falling back.
//! - [`executor`]: [`MonoioExecutor`], the `shared::Executor` for monoio.
//! - `worker`: the per-core worker body on monoio: runtime, listener, accept loop, one task per connection.

pub mod executor;
pub mod runtime;
mod worker;

use std::future::Future;
use std::rc::Rc;

use clap::Args;
use monoio::blocking::DefaultThreadPool;
use monoio::net::TcpStream;
use shared::dispatch::Responder;
use shared::per_core::{Arm, DrainSignal, PerCoreError, RunningServer};
use shared::{IoDriver, ServerArgs};

pub use executor::MonoioExecutor;
pub use runtime::RuntimeError;

/// A monoio arm's command line: every server's flags and the monoio arms' own.
#[derive(Debug, Clone, Args)]
pub struct MonoioArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub io: IoDriverArgs,
}

/// The monoio arms' own flag, flattened next to `shared::ServerArgs` in each binary's parser.
#[derive(Debug, Clone, Copy, Args)]
pub struct IoDriverArgs {
    /// Socket I/O driver: io_uring, or epoll (monoio's legacy driver). A server asked for io_uring where the
    /// kernel refuses it does not start: it never silently runs on epoll.
    #[arg(long = "io-driver", value_enum, default_value = "io_uring")]
    pub io_driver: IoDriver,
}

/// The per-worker state every connection of a monoio worker gets.
pub type MonoioResponder = Responder<MonoioExecutor>;

/// Starts a monoio arm in-process: `shared::per_core::start` with one runtime per worker on `io_driver`, every
/// accepted connection served by `serve_connection` in its own task on the worker's runtime.
pub fn start<C, F>(
    arm: &Arm,
    args: ServerArgs,
    io_driver: IoDriver,
    serve_connection: C,
) -> Result<RunningServer, PerCoreError>
where
    C: Fn(TcpStream, Rc<MonoioResponder>, DrainSignal) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + 'static,
{
    let pool = blocking_pool(&args);
    shared::per_core::start(arm, args, move |worker| worker::serve(worker, io_driver, &pool, &serve_connection))
}

/// The monoio arm as a process: [`start`], the readiness line, SIGINT/SIGTERM, graceful stop.
pub fn run<C, F>(arm: &Arm, args: ServerArgs, io_driver: IoDriver, serve_connection: C) -> Result<(), PerCoreError>
where
    C: Fn(TcpStream, Rc<MonoioResponder>, DrainSignal) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + 'static,
{
    let pool = blocking_pool(&args);
    shared::per_core::run(arm, args, move |worker| worker::serve(worker, io_driver, &pool, &serve_connection))
}

/// One pool for every runtime, created on the starting thread so its threads inherit the unpinned mask and
/// float over all the server's cores instead of sharing one worker's.
fn blocking_pool(args: &ServerArgs) -> DefaultThreadPool {
    DefaultThreadPool::new(usize::from(args.blocking_threads))
}
