//! SCAFFOLDING copied from monoio-hyper until engineer B's shared router lands (arms-infra); deleted then.
//!
//! Starting and stopping the whole server: bind one listener per worker on one port, build the shared state
//! and the one blocking pool, spawn the pinned workers, report ready only once every worker accepts.
//!
//! [`start`] is the in-process entry point (tests run it on port 0); [`run`] is the process: [`start`], the
//! readiness line, SIGINT/SIGTERM, graceful stop.

use std::fmt;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};

use anyhow::{Context, anyhow};
use monoio::blocking::DefaultThreadPool;
use shared::{AppState, ServerArgs};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tokio::sync::watch;

use crate::affinity;
use crate::limits::ConnectionLimits;
use crate::worker::{self, Readiness, WorkerSpec};
use crate::{RUNTIME_DESCRIPTION, SERVER_NAME};

/// The I/O driver a worker's runtime was built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoDriver {
    IoUring,
    Epoll,
}

impl IoDriver {
    /// The name `/healthz` reports.
    pub fn as_str(self) -> &'static str {
        match self {
            IoDriver::IoUring => "io_uring",
            IoDriver::Epoll => "epoll",
        }
    }
}

impl fmt::Display for IoDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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
    shutdown_tx: watch::Sender<bool>,
    workers: Vec<JoinHandle<anyhow::Result<()>>>,
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
        ShutdownHandle(self.shutdown_tx.clone())
    }

    /// Stops accepting, lets connections finish (at most
    /// [`SHUTDOWN_GRACE`](crate::SHUTDOWN_GRACE) per worker) and joins every worker.
    pub fn shutdown(self) -> anyhow::Result<()> {
        self.shutdown_tx.send_replace(true);
        self.wait()
    }

    /// Blocks until every worker has ended: after a shutdown request, or after any worker failed (the others
    /// then stop too). Reports the first failure.
    pub fn wait(mut self) -> anyhow::Result<()> {
        let results: Vec<anyhow::Result<()>> = std::mem::take(&mut self.workers).into_iter().map(join_worker).collect();
        results.into_iter().collect()
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown_tx.send_replace(true);
    }
}

fn join_worker(handle: JoinHandle<anyhow::Result<()>>) -> anyhow::Result<()> {
    let name = handle.thread().name().unwrap_or("monoio worker").to_owned();
    handle.join().map_err(|_| anyhow!("{name} panicked"))?
}

/// Binds, prepares the database, spawns `--workers` pinned workers and returns once every one of them
/// accepts connections. Does not print the readiness line: that is [`run`]'s job.
pub fn start(args: ServerArgs, limits: ConnectionLimits) -> anyhow::Result<RunningServer> {
    let worker_cpus = plan_worker_cpus(args.workers())?;
    let listeners = shared::net::bind_server_listeners(&args, args.workers())?;
    let local_addr =
        listeners.first().context("no listener was bound")?.local_addr().context("reading the bound address")?;
    // One pool for every runtime, created here so its threads inherit the unpinned mask and float over all the
    // server's cores instead of sharing one worker's.
    let blocking_pool = DefaultThreadPool::new(usize::from(args.blocking_threads));
    let state = Arc::new(AppState::new(SERVER_NAME, RUNTIME_DESCRIPTION, args).context("preparing the database")?);
    let (shutdown_tx, _) = watch::channel(false);
    let mut server = RunningServer {
        local_addr,
        // Replaced by what the workers report once they are ready.
        io_driver: IoDriver::Epoll,
        worker_cpus,
        shutdown_tx,
        workers: Vec::new(),
    };
    let (ready_tx, ready_rx) = mpsc::channel();
    let started = spawn_workers(&mut server, listeners, &state, &blocking_pool, limits, ready_tx)
        .and_then(|()| await_ready(&ready_rx, server.workers.len()));
    match started {
        Ok(io_driver) => {
            server.io_driver = io_driver;
            Ok(server)
        }
        Err(error) => Err(abort_start(server, error)),
    }
}

/// The CPU of each worker, read before any pinning: this is the mask the runner (or the shell) gave the process.
fn plan_worker_cpus(workers: usize) -> anyhow::Result<Vec<usize>> {
    let allowed = affinity::allowed_cpus().context("cannot read the process's CPU affinity")?;
    (0..workers)
        .map(|index| affinity::cpu_for_worker(&allowed, index))
        .collect::<Option<_>>()
        .context("no CPU to pin workers to")
}

/// Spawns one worker per listener; each reports on `ready_tx` once it accepts.
fn spawn_workers(
    server: &mut RunningServer,
    listeners: Vec<StdTcpListener>,
    state: &Arc<AppState>,
    blocking_pool: &DefaultThreadPool,
    limits: ConnectionLimits,
    ready_tx: mpsc::Sender<Readiness>,
) -> anyhow::Result<()> {
    let cpus = server.worker_cpus.clone();
    for (index, (listener, cpu)) in listeners.into_iter().zip(cpus).enumerate() {
        let spec = WorkerSpec {
            index,
            cpu,
            listener,
            state: Arc::clone(state),
            blocking_pool: blocking_pool.clone(),
            limits,
            shutdown_tx: server.shutdown_tx.clone(),
            ready_tx: ready_tx.clone(),
        };
        let handle = worker::spawn(spec).with_context(|| format!("cannot spawn worker {index}"))?;
        server.workers.push(handle);
    }
    Ok(())
}

/// Waits for every worker's readiness; the first failure wins.
fn await_ready(ready_rx: &mpsc::Receiver<Readiness>, workers: usize) -> anyhow::Result<IoDriver> {
    let mut first_driver = None;
    for _ in 0..workers {
        let readiness = ready_rx.recv().map_err(|_| anyhow!("a worker ended before it was ready"))?;
        let driver = readiness.map_err(|message| anyhow!(message))?;
        first_driver.get_or_insert(driver);
    }
    first_driver.context("no worker was started")
}

/// Stops the workers already running and returns the error that made the start fail, with any worker's own.
fn abort_start(server: RunningServer, error: anyhow::Error) -> anyhow::Error {
    match server.shutdown() {
        Ok(()) => error,
        Err(worker_error) => error.context(format!("(while stopping the other workers: {worker_error:#})")),
    }
}

/// The process: start, print the readiness line, serve until SIGINT or SIGTERM, stop gracefully. A second
/// signal exits at once.
pub fn run(args: ServerArgs, limits: ConnectionLimits) -> anyhow::Result<()> {
    // Registered first, so a signal that arrives right after the readiness line still stops us gracefully.
    let signals = Signals::new([SIGINT, SIGTERM]).context("installing the SIGINT/SIGTERM handlers")?;
    let signals_handle = signals.handle();
    let server = start(args, limits)?;
    eprintln!(
        "monoio-server: {} worker(s) pinned to CPUs {:?}, {} driver",
        server.worker_cpus().len(),
        server.worker_cpus(),
        server.io_driver()
    );
    if let Err(error) = shared::net::announce_listening(server.local_addr()) {
        let _ = server.shutdown();
        return Err(error).context("writing the readiness line");
    }
    let watcher = spawn_signal_watcher(signals, server.shutdown_handle())?;
    let result = server.wait();
    signals_handle.close();
    let _ = watcher.join();
    result
}

fn spawn_signal_watcher(mut signals: Signals, shutdown: ShutdownHandle) -> anyhow::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("signal-watcher".to_owned())
        .spawn(move || {
            let mut forever = signals.forever();
            if forever.next().is_none() {
                return;
            }
            shutdown.shutdown();
            if forever.next().is_some() {
                eprintln!("monoio-server: second signal, exiting without waiting for connections");
                std::process::exit(1);
            }
        })
        .context("spawning the signal watcher thread")
}
