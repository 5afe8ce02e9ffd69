//! One worker's serving life, whatever its runtime: report ready, accept until the process-wide stop flag
//! turns true, then close the listener, tell this worker's connections to finish ([`DrainSignal`]) and wait
//! for them at most [`SHUTDOWN_GRACE`].

use std::io;
use std::sync::mpsc;
use std::time::Duration;

use tokio::sync::{mpsc as async_mpsc, watch};

use super::worker::Readiness;
use crate::config::SHUTDOWN_GRACE;
use crate::handler::Executor;
use crate::io_driver::IoDriver;
use crate::select::{Either, first};

/// How long the accept loop backs off after an accept error such as EMFILE, instead of spinning on it.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// A worker's link to the sequence: its readiness report, the process-wide stop flag, its drain.
pub struct Lifecycle {
    binary: &'static str,
    stop: watch::Receiver<bool>,
    ready_tx: mpsc::Sender<Readiness>,
}

/// Given to every accepted connection: says when the worker drains, and while it lives the worker's drain
/// waits for it (at most [`SHUTDOWN_GRACE`]). Drop it when the connection ends.
pub struct DrainSignal {
    drain: watch::Receiver<bool>,
    _live: async_mpsc::Sender<()>,
}

impl DrainSignal {
    /// Completes once the worker drains: finish the request in flight, then close.
    pub async fn draining(&mut self) {
        // A dropped sender means the worker is going away too.
        let _ = self.drain.wait_for(|draining| *draining).await;
    }

    /// Whether the worker drains already: a codec that answers one request at a time asks this before it
    /// offers to keep the connection open.
    pub fn is_draining(&self) -> bool {
        *self.drain.borrow()
    }
}

impl Lifecycle {
    pub(super) fn new(binary: &'static str, stop: watch::Receiver<bool>, ready_tx: mpsc::Sender<Readiness>) -> Self {
        Lifecycle { binary, stop, ready_tx }
    }

    /// Reports this worker ready on `driver`, then accepts with `accept` and hands every connection to
    /// `on_connection` (which spawns its task on the runtime) until the stop flag turns true; then drops
    /// `accept` (and with it the listener), drains, and returns. `executor` provides the runtime's timer.
    ///
    /// Accept errors are about one connection (ECONNABORTED) or about resources (EMFILE, ENOBUFS): the
    /// listener stays usable, so the loop goes on after a short pause that lets resources free up.
    pub async fn serve<S, E, A, C>(self, driver: IoDriver, executor: &E, mut accept: A, mut on_connection: C)
    where
        E: Executor,
        A: AsyncFnMut() -> io::Result<S>,
        C: FnMut(S, DrainSignal),
    {
        let Lifecycle { binary, mut stop, ready_tx } = self;
        let _ = ready_tx.send(Readiness::Ready { driver });
        // Connections watch this worker's own drain flag, not the process-wide one: they poll it on every
        // wake-up, and a channel touched by one thread only keeps the hot path free of cross-core traffic.
        let (drain_tx, drain_rx) = watch::channel(false);
        // Every connection holds a sender; `recv` answers `None` once the last one is gone (mini-redis style).
        let (live_tx, mut live_rx) = async_mpsc::channel::<()>(1);
        loop {
            let accepted = match first(stop.wait_for(|stopped| *stopped), accept()).await {
                Either::Left(_) => break,
                Either::Right(accepted) => accepted,
            };
            match accepted {
                Ok(stream) => on_connection(stream, DrainSignal { drain: drain_rx.clone(), _live: live_tx.clone() }),
                Err(error) => {
                    eprintln!("{binary}: accept failed: {error}");
                    executor.sleep(ACCEPT_ERROR_BACKOFF).await;
                }
            }
        }
        drop(accept);
        drain_tx.send_replace(true);
        drop((live_tx, drain_rx));
        if let Either::Right(()) = first(live_rx.recv(), executor.sleep(SHUTDOWN_GRACE)).await {
            eprintln!("{binary}: connections still open after {SHUTDOWN_GRACE:?}; closing them");
        }
    }
}
