//! One worker: a thread pinned to one CPU running the arm's body with what it needs ([`Worker`]). Whenever
//! the thread ends, by a clean stop, an error or a panic, it sets the stop flag, so the other workers stop
//! too instead of serving a fraction of the port's traffic.

use std::net::TcpListener;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};

use tokio::sync::watch;

use super::serve::Lifecycle;
use super::{Arm, BoxError, PerCoreError};
use crate::cpus;
use crate::handler::AppState;
use crate::io_driver::IoDriver;

/// What one worker body gets, on its own thread, already pinned to [`Worker::cpu`].
pub struct Worker {
    /// 0-based, in start order.
    pub index: usize,
    /// The CPU this thread is pinned to.
    pub cpu: usize,
    /// This worker's own `SO_REUSEPORT` listener: non-blocking, not yet registered with any runtime.
    pub listener: TcpListener,
    /// What every request of the process shares.
    pub state: Arc<AppState>,
    /// Readiness, the accept loop and the drain: hand it the registered listener.
    pub lifecycle: Lifecycle,
}

/// Sent by every worker: ready to serve on its driver, or failed (its join result says why).
pub(super) enum Readiness {
    Ready { driver: IoDriver },
    Failed { index: usize },
}

/// Everything one worker thread needs before it runs the body.
pub(super) struct WorkerSpec {
    pub arm: Arm,
    pub index: usize,
    pub cpu: usize,
    pub listener: TcpListener,
    pub state: Arc<AppState>,
    pub stop_tx: watch::Sender<bool>,
    pub ready_tx: mpsc::Sender<Readiness>,
}

/// Starts the worker thread.
pub(super) fn spawn<B>(spec: WorkerSpec, body: Arc<B>) -> std::io::Result<JoinHandle<Result<(), PerCoreError>>>
where
    B: Fn(Worker) -> Result<(), BoxError> + Send + Sync + 'static,
{
    // Thread names are cut to 15 bytes by the kernel: keep the index visible in `top -H`.
    thread::Builder::new().name(format!("worker-{}", spec.index)).spawn(move || {
        let _stop_all = StopAllOnExit(spec.stop_tx.clone());
        let (index, failed_tx) = (spec.index, spec.ready_tx.clone());
        let result =
            catch_unwind(AssertUnwindSafe(|| run(spec, &*body))).unwrap_or(Err(PerCoreError::Panicked { index }));
        if result.is_err() {
            // Tells a start still waiting for readiness to stop waiting; ignored once it has returned.
            let _ = failed_tx.send(Readiness::Failed { index });
        }
        result
    })
}

struct StopAllOnExit(watch::Sender<bool>);

impl Drop for StopAllOnExit {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

fn run<B>(spec: WorkerSpec, body: &B) -> Result<(), PerCoreError>
where
    B: Fn(Worker) -> Result<(), BoxError>,
{
    let WorkerSpec { arm, index, cpu, listener, state, stop_tx, ready_tx } = spec;
    cpus::pin_current_thread(cpu).map_err(|source| PerCoreError::Pin { index, cpu, source })?;
    let lifecycle = Lifecycle::new(arm.binary, stop_tx.subscribe(), ready_tx);
    body(Worker { index, cpu, listener, state, lifecycle }).map_err(|source| PerCoreError::Worker { index, source })
}
