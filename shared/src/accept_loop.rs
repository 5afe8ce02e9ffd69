//! The accept loop and the drain every arm runs, whatever its runtime and whoever spawns its connection
//! tasks ([`accept_until_stopped`]): accept until the stop future completes, backing off after an accept
//! error; then drop the acceptor, tell every connection to finish ([`DrainSignal`]) and wait for them at
//! most [`SHUTDOWN_GRACE`]. axum runs it once on tokio's multi-thread runtime; each per-core worker runs it
//! on its own runtime (`crate::per_core`'s `Lifecycle`).

use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::config::SHUTDOWN_GRACE;
use crate::handler::Executor;
use crate::select::{Either, first};

/// How long the accept loop backs off after an accept error such as EMFILE, instead of spinning on it.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// Given to every accepted connection: says when the server drains, and while it lives the drain waits for
/// it (at most [`SHUTDOWN_GRACE`]). Drop it when the connection ends, not before.
pub struct DrainSignal {
    drain: watch::Receiver<bool>,
    _live: mpsc::Sender<()>,
}

impl DrainSignal {
    /// Completes once the server drains: finish the request in flight, then close.
    pub async fn draining(&mut self) {
        // A dropped sender means the server is going away too.
        let _ = self.drain.wait_for(|draining| *draining).await;
    }

    /// Whether the server drains already: a codec that answers one request at a time asks this before it
    /// offers to keep the connection open.
    pub fn is_draining(&self) -> bool {
        *self.drain.borrow()
    }
}

/// Accepts with `accept` and hands every connection to `on_connection` (which spawns its task on the
/// runtime) until `stop` completes; then drops `accept` (an acceptor that owns its listener closes it),
/// drains, and returns once every connection ended or [`SHUTDOWN_GRACE`] passed. `executor` provides the
/// runtime's timer; `binary` prefixes what the loop prints on stderr.
///
/// Accept errors are about one connection (ECONNABORTED) or about resources (EMFILE, ENOBUFS): the listener
/// stays usable, so the loop goes on after a short pause that lets resources free up.
pub async fn accept_until_stopped<S, E, A, C>(
    binary: &str,
    executor: &E,
    stop: impl Future<Output = ()>,
    mut accept: A,
    mut on_connection: C,
) where
    E: Executor,
    A: AsyncFnMut() -> io::Result<S>,
    C: FnMut(S, DrainSignal),
{
    // Connections watch this loop's own drain flag, not the process-wide stop: they poll it on every
    // wake-up, and on a per-core arm a channel touched by one thread only keeps the hot path free of
    // cross-core traffic.
    let (drain_tx, drain_rx) = watch::channel(false);
    // Every connection holds a sender; `recv` answers `None` once the last one is gone (mini-redis style).
    let (live_tx, mut live_rx) = mpsc::channel::<()>(1);
    let mut stop = pin!(stop);
    loop {
        let accepted = match first(stop.as_mut(), accept()).await {
            Either::Left(()) => break,
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

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    use tokio::time::Instant;

    use super::*;
    use crate::error::ApiError;

    /// tokio's timer, whose clock these tests pause (it advances whenever every task waits).
    struct TokioTimer;

    impl Executor for TokioTimer {
        fn sleep(&self, duration: Duration) -> impl Future<Output = ()> {
            tokio::time::sleep(duration)
        }

        async fn run_blocking<F, R>(&self, work: F) -> Result<R, ApiError>
        where
            F: FnOnce() -> R + Send + 'static,
            R: Send + 'static,
        {
            Ok(work())
        }
    }

    /// Each connection the loop handed over: its id, when, and its drain signal (held until cleared).
    type Accepted = Rc<RefCell<Vec<(u32, Duration, DrainSignal)>>>;

    /// Runs the loop over a scripted acceptor (each call takes the next result; past the script it waits
    /// forever) and returns how often it was called.
    async fn run_loop(script: Vec<io::Result<u32>>, stop: impl Future<Output = ()>, accepted: Accepted) -> usize {
        let calls = Rc::new(Cell::new(0));
        let script = RefCell::new(script.into_iter());
        let counted = Rc::clone(&calls);
        let accept = async || {
            counted.set(counted.get() + 1);
            let next = script.borrow_mut().next();
            match next {
                Some(result) => result,
                None => std::future::pending().await,
            }
        };
        let started = Instant::now();
        let on_connection = |id, drain| accepted.borrow_mut().push((id, started.elapsed(), drain));
        accept_until_stopped("test", &TokioTimer, stop, accept, on_connection).await;
        calls.get()
    }

    fn ids(accepted: &Accepted) -> Vec<u32> {
        accepted.borrow().iter().map(|(id, _, _)| *id).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_a_pending_accept_and_the_drain_waits_the_grace_for_open_connections() {
        let accepted = Accepted::default();
        let started = Instant::now();
        let calls =
            run_loop(vec![Ok(1), Ok(2)], tokio::time::sleep(Duration::from_secs(1)), Rc::clone(&accepted)).await;
        assert_eq!(calls, 3, "two connections, then a pending accept the stop ended");
        assert_eq!(ids(&accepted), [1, 2]);
        assert!(accepted.borrow().iter().all(|(_, _, drain)| drain.is_draining()), "told to finish");
        // Their signals are still held here: the drain waited for them the whole grace, no longer.
        assert_eq!(started.elapsed(), Duration::from_secs(1) + SHUTDOWN_GRACE);
    }

    #[tokio::test(start_paused = true)]
    async fn the_drain_ends_when_the_last_connection_does() {
        let accepted = Accepted::default();
        let started = Instant::now();
        let held = Rc::clone(&accepted);
        let connection_ends = async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            held.borrow_mut().clear();
        };
        let served = async {
            run_loop(vec![Ok(7)], tokio::time::sleep(Duration::from_secs(1)), Rc::clone(&accepted)).await;
            started.elapsed()
        };
        let (returned_after, ()) = tokio::join!(served, connection_ends);
        assert_eq!(
            returned_after,
            Duration::from_secs(2),
            "returned as the connection ended, not before or at the grace"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_accept_error_backs_off_and_the_loop_goes_on() {
        let accepted = Accepted::default();
        let emfile = || Err(io::Error::from_raw_os_error(libc::EMFILE));
        let stop = tokio::time::sleep(Duration::from_secs(1));
        let calls = run_loop(vec![emfile(), emfile(), Ok(3)], stop, Rc::clone(&accepted)).await;
        assert_eq!(calls, 4);
        let at = accepted.borrow().iter().map(|(id, at, _)| (*id, *at)).collect::<Vec<_>>();
        assert_eq!(at, [(3, 2 * ACCEPT_ERROR_BACKOFF)], "each error paused the loop once, then it accepted");
    }
}
