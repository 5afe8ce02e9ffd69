//! One worker's serving life, whatever its runtime: report ready, then run the shared accept loop
//! ([`crate::accept_loop`]) until the process-wide stop flag turns true, which closes the acceptor, tells
//! this worker's connections to finish ([`DrainSignal`]) and waits for them at most
//! [`SHUTDOWN_GRACE`](crate::config::SHUTDOWN_GRACE).

use std::io;
use std::sync::mpsc;

use tokio::sync::watch;

use super::worker::Readiness;
use crate::accept_loop::{DrainSignal, accept_until_stopped};
use crate::handler::Executor;
use crate::io_driver::IoDriver;

/// A worker's link to the sequence: its readiness report, the process-wide stop flag, its drain.
pub struct Lifecycle {
    binary: &'static str,
    stop: watch::Receiver<bool>,
    ready_tx: mpsc::Sender<Readiness>,
}

impl Lifecycle {
    pub(super) fn new(binary: &'static str, stop: watch::Receiver<bool>, ready_tx: mpsc::Sender<Readiness>) -> Self {
        Lifecycle { binary, stop, ready_tx }
    }

    /// Reports this worker ready on `driver`, then accepts with `accept` and hands every connection to
    /// `on_connection` (which spawns its task on the runtime) until the stop flag turns true; then drops
    /// `accept`, drains, and returns ([`accept_until_stopped`]). `executor` provides the runtime's timer.
    pub async fn serve<S, E, A, C>(self, driver: IoDriver, executor: &E, accept: A, on_connection: C)
    where
        E: Executor,
        A: AsyncFnMut() -> io::Result<S>,
        C: FnMut(S, DrainSignal),
    {
        let Lifecycle { binary, mut stop, ready_tx } = self;
        let _ = ready_tx.send(Readiness::Ready { driver });
        // A dropped stop sender means the process is going away: stop too.
        let stopped = async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        };
        accept_until_stopped(binary, executor, stopped, accept, on_connection).await;
    }
}
