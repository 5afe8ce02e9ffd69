//! SCAFFOLDING copied from monoio-hyper until engineer B's shared router lands (arms-infra); deleted then.
//!
//! One worker: a thread pinned to one CPU, running its own monoio runtime over its own `SO_REUSEPORT`
//! listener, until the shutdown flag turns true; then it stops accepting and lets its connections finish
//! within [`SHUTDOWN_GRACE`].

use std::io;
use std::net::TcpListener as StdTcpListener;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::Context;
use monoio::blocking::DefaultThreadPool;
use monoio::net::{TcpListener, TcpStream};
use shared::AppState;
use tokio::sync::{mpsc as async_mpsc, watch};

use crate::affinity;
use crate::connection;
use crate::dispatch::WorkerContext;
use crate::limits::ConnectionLimits;
use crate::server::IoDriver;

/// How long a stopping worker waits for its open connections before it exits anyway (the same for both servers).
pub use shared::config::SHUTDOWN_GRACE;

/// io_uring submission queue entries per runtime (monoio's default).
const URING_ENTRIES: u32 = 1024;

/// How long the accept loop backs off after an accept error such as EMFILE, instead of spinning on it.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(10);

type Runtime = monoio::FusionRuntime<
    monoio::time::TimeDriver<monoio::IoUringDriver>,
    monoio::time::TimeDriver<monoio::LegacyDriver>,
>;

/// Sent once by every worker: ready to serve (its driver) or why it could not start.
pub type Readiness = Result<IoDriver, String>;

/// Everything one worker thread needs.
pub struct WorkerSpec {
    pub index: usize,
    pub cpu: usize,
    pub listener: StdTcpListener,
    pub state: Arc<AppState>,
    pub blocking_pool: DefaultThreadPool,
    pub limits: ConnectionLimits,
    pub shutdown_tx: watch::Sender<bool>,
    pub ready_tx: mpsc::Sender<Readiness>,
}

/// Starts the worker thread. Whenever the thread ends, by a clean stop, an error or a panic, it sets the
/// shutdown flag, so the other workers stop too instead of serving a fraction of the port's traffic.
pub fn spawn(spec: WorkerSpec) -> io::Result<JoinHandle<anyhow::Result<()>>> {
    thread::Builder::new().name(format!("monoio-worker-{}", spec.index)).spawn(move || {
        let _stop_all = StopAllOnExit(spec.shutdown_tx.clone());
        run(spec)
    })
}

struct StopAllOnExit(watch::Sender<bool>);

impl Drop for StopAllOnExit {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

fn run(spec: WorkerSpec) -> anyhow::Result<()> {
    let WorkerSpec { index, cpu, listener, state, blocking_pool, limits, shutdown_tx, ready_tx } = spec;
    let mut runtime = match prepare(index, cpu, &listener, blocking_pool) {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = ready_tx.send(Err(format!("{error:#}")));
            return Err(error);
        }
    };
    let io_driver = driver_of(&runtime);
    let context = Rc::new(WorkerContext::new(state, io_driver.as_str()));
    let shutdown = shutdown_tx.subscribe();
    runtime
        .block_on(serve(listener, context, limits, shutdown, move |ready| {
            let _ = ready_tx.send(ready.map(|()| io_driver).map_err(|error| format!("worker {index}: {error}")));
        }))
        .with_context(|| format!("worker {index}"))
}

/// Pins the thread, builds its runtime and puts the listener in the blocking mode that runtime's driver expects.
fn prepare(index: usize, cpu: usize, listener: &StdTcpListener, pool: DefaultThreadPool) -> anyhow::Result<Runtime> {
    affinity::pin_current_thread(cpu).with_context(|| format!("worker {index}: cannot pin to CPU {cpu}"))?;
    let runtime = build_runtime(pool).with_context(|| format!("worker {index}: cannot build the monoio runtime"))?;
    // io_uring accepts on a blocking socket (monoio's own bind leaves it blocking); epoll needs it non-blocking.
    let nonblocking = driver_of(&runtime) == IoDriver::Epoll;
    listener
        .set_nonblocking(nonblocking)
        .with_context(|| format!("worker {index}: cannot set the listener's blocking mode"))?;
    Ok(runtime)
}

/// io_uring when the kernel allows it, epoll otherwise; every runtime gets the one shared blocking pool.
fn build_runtime(pool: DefaultThreadPool) -> io::Result<Runtime> {
    monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .with_entries(URING_ENTRIES)
        .enable_timer()
        .attach_thread_pool(Box::new(pool))
        .build()
}

fn driver_of(runtime: &Runtime) -> IoDriver {
    if matches!(runtime, monoio::FusionRuntime::Uring(_)) { IoDriver::IoUring } else { IoDriver::Epoll }
}

/// The worker's whole life inside its runtime: register the listener, report readiness, accept until the
/// shutdown flag turns true, then drain.
async fn serve(
    listener: StdTcpListener,
    context: Rc<WorkerContext>,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
    report_ready: impl FnOnce(Result<(), String>),
) -> anyhow::Result<()> {
    let listener = TcpListener::from_std(listener).context("cannot register the listener with the runtime");
    report_ready(listener.as_ref().map(|_| ()).map_err(|error| format!("{error:#}")));
    let listener = listener?;
    // Connections watch this worker's own drain flag, not the process-wide one: they poll it on every wake-up,
    // and a channel touched by one thread only keeps the hot path free of cross-core cache traffic.
    let (drain_tx, drain_rx) = watch::channel(false);
    // Every connection task holds a sender; `recv` answers `None` once the last one is gone (mini-redis style).
    let (live_tx, mut live_rx) = async_mpsc::channel::<()>(1);
    loop {
        let accepted = monoio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stopped| *stopped) => break,
        };
        match accepted {
            Ok((stream, _peer)) => spawn_connection(stream, &context, limits, &drain_rx, &live_tx),
            Err(error) => accept_failed(error).await,
        }
    }
    drop(listener);
    drain_tx.send_replace(true);
    drop(live_tx);
    if monoio::time::timeout(SHUTDOWN_GRACE, live_rx.recv()).await.is_err() {
        eprintln!("monoio-server: connections still open after {SHUTDOWN_GRACE:?}; closing them");
    }
    Ok(())
}

fn spawn_connection(
    stream: TcpStream,
    context: &Rc<WorkerContext>,
    limits: ConnectionLimits,
    drain: &watch::Receiver<bool>,
    live_tx: &async_mpsc::Sender<()>,
) {
    // Small JSON responses must not wait for Nagle's algorithm; the axum server sets the same. A socket that
    // refuses the option is already broken, and its first read will find out.
    let _ = stream.set_nodelay(true);
    let (context, drain, live) = (Rc::clone(context), drain.clone(), live_tx.clone());
    monoio::spawn(async move {
        connection::serve(stream, &*context, limits, drain).await;
        drop(live);
    });
}

/// Accept errors are about one connection (ECONNABORTED) or about resources (EMFILE, ENOBUFS): the listener
/// stays usable, so the loop goes on after a short pause that lets resources free up.
async fn accept_failed(error: io::Error) {
    eprintln!("monoio-server: accept failed: {error}");
    monoio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
}
