//! The start-up and shutdown sequence every per-core arm shares, whatever its runtime: one CPU per worker
//! from the allowed set, one `SO_REUSEPORT` listener per worker, one thread per worker pinned to its CPU,
//! readiness only once every worker accepts, then (for the process) the readiness line, SIGINT/SIGTERM, a
//! drain broadcast and a join within [`SHUTDOWN_GRACE`](crate::config::SHUTDOWN_GRACE).
//!
//! An arm supplies only a worker body, "build my runtime and serve this listener until drain": a function
//! of a [`Worker`] that builds its runtime on the worker's (already pinned) thread, registers the listener,
//! and hands accepted connections to its codec through [`Lifecycle::serve`], which owns the accept loop and
//! the drain.
//!
//! # Layout
//! - [`start`] (in-process, port 0 for tests) returns a [`RunningServer`]; [`run`] is the process.
//! - `worker`: one pinned thread running the arm's body, and what the body gets ([`Worker`]).
//! - `serve`: one worker's readiness, then the shared accept loop and drain ([`Lifecycle`], [`DrainSignal`],
//!   both from [`crate::accept_loop`]).
//! - `process`: the process around [`start`]: signals, the readiness line.

mod process;
mod serve;
mod worker;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use thiserror::Error;
use tokio::sync::watch;

pub use crate::accept_loop::DrainSignal;
pub use process::run;
pub use serve::Lifecycle;
pub use worker::Worker;

use crate::config::ServerArgs;
use crate::cpus;
use crate::db::DbError;
use crate::handler::AppState;
use crate::io_driver::IoDriver;
use crate::net::BindError;
use worker::{Readiness, WorkerSpec};

/// Any error a worker body reports (an `anyhow::Error` converts into it), kept with its chain of causes.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Who a per-core server is: what `/healthz` reports and what its messages are prefixed with.
#[derive(Debug, Clone, Copy)]
pub struct Arm {
    /// The server name `/healthz` reports and the default database file is named after.
    pub server: &'static str,
    /// The runtime model, in words, as `/healthz` reports it.
    pub runtime: &'static str,
    /// The binary's name, prefixed to what the server prints on stderr.
    pub binary: &'static str,
}

/// Why a per-core server could not start or stopped with an error.
#[derive(Debug, Error)]
pub enum PerCoreError {
    #[error("cannot read the process's CPU affinity")]
    Affinity(#[source] io::Error),
    #[error("the process's CPU affinity allows no CPU to pin workers to")]
    NoCpu,
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("reading the bound address")]
    LocalAddr(#[source] io::Error),
    #[error("preparing the database")]
    Database(#[source] DbError),
    #[error("cannot spawn worker {index}")]
    Spawn { index: usize, source: io::Error },
    #[error("worker {index}: cannot pin to CPU {cpu}")]
    Pin { index: usize, cpu: usize, source: io::Error },
    #[error("worker {index}")]
    Worker { index: usize, source: BoxError },
    #[error("worker {index} panicked")]
    Panicked { index: usize },
    #[error("worker {index} ended before it was ready")]
    NotReady { index: usize },
    #[error("installing the SIGINT/SIGTERM handlers")]
    Signals(#[source] io::Error),
    #[error("spawning the signal watcher thread")]
    SignalWatcher(#[source] io::Error),
    #[error("writing the readiness line")]
    Announce(#[source] io::Error),
}

/// Asks every worker to stop accepting and finish its connections. Cheap to clone, usable from any thread.
#[derive(Debug, Clone)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    pub fn shutdown(&self) {
        self.0.send_replace(true);
    }
}

/// A server whose workers all accept. Dropping it asks the workers to stop without waiting for them.
pub struct RunningServer {
    local_addr: SocketAddr,
    io_driver: IoDriver,
    worker_cpus: Vec<usize>,
    stop_tx: watch::Sender<bool>,
    workers: Vec<JoinHandle<Result<(), PerCoreError>>>,
    /// Closed (every database connection closed, the WAL checkpointed, no `-wal` left) once every worker has
    /// ended.
    state: Option<Arc<AppState>>,
    binary: &'static str,
}

impl RunningServer {
    /// The address every worker listens on (the real port when `--port 0` was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The I/O driver the workers run (the first to report; all are built alike).
    pub fn io_driver(&self) -> IoDriver {
        self.io_driver
    }

    /// The CPU each worker is pinned to, by worker index.
    pub fn worker_cpus(&self) -> &[usize] {
        &self.worker_cpus
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.stop_tx.clone())
    }

    /// Stops accepting, lets connections finish (at most
    /// [`SHUTDOWN_GRACE`](crate::config::SHUTDOWN_GRACE) per worker) and joins every worker.
    pub fn shutdown(self) -> Result<(), PerCoreError> {
        self.stop_tx.send_replace(true);
        self.wait()
    }

    /// Blocks until every worker has ended: after a shutdown request, or after any worker failed (the others
    /// then stop too); then closes the database. Reports the first worker failure.
    pub fn wait(mut self) -> Result<(), PerCoreError> {
        let results: Vec<_> = std::mem::take(&mut self.workers).into_iter().enumerate().map(join_worker).collect();
        if let Some(state) = self.state.take()
            && let Err(error) = AppState::close(state)
        {
            eprintln!("{}: closing the database: {error}", self.binary);
        }
        results.into_iter().collect()
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop_tx.send_replace(true);
    }
}

fn join_worker((index, handle): (usize, JoinHandle<Result<(), PerCoreError>>)) -> Result<(), PerCoreError> {
    handle.join().unwrap_or(Err(PerCoreError::Panicked { index }))
}

/// Binds, prepares the database, spawns `--workers` pinned workers running `body` and returns once every
/// one of them accepts connections. Does not print the readiness line: that is [`run`]'s job.
///
/// `body` runs once per worker, on that worker's thread, already pinned to its CPU. It builds its runtime,
/// registers [`Worker::listener`] and serves it with [`Lifecycle::serve`] until the drain; an error it
/// returns before serving makes the whole start fail with it.
pub fn start<B>(arm: &Arm, args: ServerArgs, body: B) -> Result<RunningServer, PerCoreError>
where
    B: Fn(Worker) -> Result<(), BoxError> + Send + Sync + 'static,
{
    let worker_cpus = plan_worker_cpus(args.workers())?;
    let listeners = crate::net::bind_server_listeners(&args, args.workers())?;
    let local_addr = listeners
        .first()
        .ok_or_else(|| PerCoreError::LocalAddr(io::Error::other("no listener was bound")))?
        .local_addr()
        .map_err(PerCoreError::LocalAddr)?;
    let state = Arc::new(AppState::new(arm.server, arm.runtime, args).map_err(PerCoreError::Database)?);
    let (stop_tx, _) = watch::channel(false);
    let mut server = RunningServer {
        local_addr,
        // Replaced by what the workers report once they are ready.
        io_driver: IoDriver::Epoll,
        worker_cpus,
        stop_tx,
        workers: Vec::new(),
        state: Some(Arc::clone(&state)),
        binary: arm.binary,
    };
    let (ready_tx, ready_rx) = mpsc::channel();
    let body = Arc::new(body);
    let cpus = server.worker_cpus.clone();
    for (index, (listener, cpu)) in listeners.into_iter().zip(cpus).enumerate() {
        let spec = WorkerSpec {
            arm: *arm,
            index,
            cpu,
            listener,
            state: Arc::clone(&state),
            stop_tx: server.stop_tx.clone(),
            ready_tx: ready_tx.clone(),
        };
        match worker::spawn(spec, Arc::clone(&body)) {
            Ok(handle) => server.workers.push(handle),
            Err(source) => return Err(abort_start(server, PerCoreError::Spawn { index, source })),
        }
    }
    // Only the workers hold senders now: if every one of them ends, waiting for readiness ends too.
    drop(ready_tx);
    match await_ready(&ready_rx, server.workers.len()) {
        Ok(io_driver) => {
            server.io_driver = io_driver;
            Ok(server)
        }
        Err(error) => Err(abort_start(server, error)),
    }
}

/// The CPU of each worker, read before any pinning: this is the mask the runner (or the shell) gave the process.
fn plan_worker_cpus(workers: usize) -> Result<Vec<usize>, PerCoreError> {
    let allowed = cpus::allowed_cpus().map_err(PerCoreError::Affinity)?;
    (0..workers).map(|index| cpus::cpu_for_worker(&allowed, index)).collect::<Option<_>>().ok_or(PerCoreError::NoCpu)
}

/// Waits until every worker reported ready; a worker that failed first wins.
fn await_ready(ready_rx: &mpsc::Receiver<Readiness>, workers: usize) -> Result<IoDriver, PerCoreError> {
    let mut first_driver = None;
    let mut ready = 0;
    while ready < workers {
        match ready_rx.recv() {
            Ok(Readiness::Ready { driver }) => {
                ready += 1;
                first_driver.get_or_insert(driver);
            }
            Ok(Readiness::Failed { index }) => return Err(PerCoreError::NotReady { index }),
            Err(mpsc::RecvError) => return Err(PerCoreError::NotReady { index: ready }),
        }
    }
    first_driver.ok_or(PerCoreError::NotReady { index: 0 })
}

/// Stops the workers already running and returns the reason the start failed: a worker's own error when one
/// reported it (it says why, where `NotReady` says only who), else `error`.
fn abort_start(server: RunningServer, error: PerCoreError) -> PerCoreError {
    match server.shutdown() {
        Err(worker_error) => worker_error,
        Ok(()) => error,
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct TestCli {
        #[command(flatten)]
        server: ServerArgs,
    }

    const ARM: Arm = Arm { server: "per-core-test", runtime: "none", binary: "per-core-test" };

    /// Arguments for a server on port 0 with its own database, removed when dropped.
    struct TestDb(std::path::PathBuf);

    impl TestDb {
        fn new(name: &str) -> TestDb {
            TestDb(std::env::temp_dir().join(format!("shared-per-core-{name}-{}.db", std::process::id())))
        }

        fn args(&self, workers: &str) -> ServerArgs {
            let db = self.0.display().to_string();
            TestCli::parse_from(["test", "--port", "0", "--workers", workers, "--db", &db]).server
        }
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
            }
        }
    }

    #[test]
    fn a_worker_that_fails_before_serving_fails_the_start_with_its_own_error() {
        let db = TestDb::new("fails");
        let fail_second = |worker: Worker| -> Result<(), BoxError> {
            if worker.index == 1 { Err("no runtime for you".into()) } else { Ok(()) }
        };
        let error = start(&ARM, db.args("2"), fail_second).err().expect("the start fails");
        assert!(matches!(error, PerCoreError::Worker { index: 1, .. }), "{error:?}");
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("no runtime for you"));
    }

    #[test]
    fn a_worker_that_panics_fails_the_start() {
        let db = TestDb::new("panics");
        let error = start(&ARM, db.args("1"), |_: Worker| panic!("boom")).err().expect("the start fails");
        assert!(matches!(error, PerCoreError::Panicked { index: 0 }), "{error:?}");
    }

    #[test]
    fn a_worker_that_never_serves_is_not_ready() {
        let db = TestDb::new("never");
        let error = start(&ARM, db.args("1"), |_: Worker| Ok(())).err().expect("the start fails");
        assert!(matches!(error, PerCoreError::NotReady { index: 0 }), "{error:?}");
    }

    #[test]
    fn every_worker_runs_pinned_to_its_planned_cpu() {
        let db = TestDb::new("pinned");
        let (seen_tx, seen_rx) = mpsc::channel();
        let seen_tx = std::sync::Mutex::new(seen_tx);
        let error = start(&ARM, db.args("2"), move |worker: Worker| {
            let pinned = cpus::allowed_cpus().map_err(|e| e.to_string());
            let _ = seen_tx.lock().map(|tx| tx.send((worker.index, worker.cpu, pinned)));
            Ok(())
        });
        assert!(error.is_err(), "bodies that never serve cannot be ready");
        let allowed = cpus::allowed_cpus().expect("affinity");
        let mut seen: Vec<_> = seen_rx.try_iter().collect();
        seen.sort_by_key(|(index, _, _)| *index);
        assert_eq!(seen.len(), 2);
        for (index, cpu, pinned) in seen {
            assert_eq!(Some(cpu), cpus::cpu_for_worker(&allowed, index));
            assert_eq!(pinned, Ok(vec![cpu]), "worker {index}");
        }
    }
}
