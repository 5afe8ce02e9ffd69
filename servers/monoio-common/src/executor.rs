//! [`MonoioExecutor`]: how a shared handler sleeps and where its thread-pool work runs on monoio.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use monoio::blocking::JoinError;
use shared::{ApiError, Executor};

/// Sleeps on the runtime's timer; runs thread-pool work with `monoio::spawn_blocking`.
///
/// `spawn_blocking` uses the pool attached to the current runtime. Every runtime [`crate::runtime`] builds has
/// the one shared `--blocking-threads` pool attached: without it monoio would panic, or with
/// `BlockingStrategy::ExecuteLocal` run the work on the event-loop thread, silently turning the thread-pool
/// endpoints into the event-loop-blocking anti-pattern.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonoioExecutor;

impl Executor for MonoioExecutor {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> {
        monoio::time::sleep(duration)
    }

    async fn run_blocking<F, R>(&self, work: F) -> Result<R, ApiError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        // A panic escaping into the pool thread would leave this task's join handle waiting forever: catch it
        // there and answer 500 instead.
        let joined = monoio::spawn_blocking(move || catch_unwind(AssertUnwindSafe(work))).await;
        match joined {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_panic)) => Err(ApiError::Internal { detail: "blocking work panicked".to_owned() }),
            Err(JoinError::Canceled) => Err(ApiError::Internal { detail: "blocking work was cancelled".to_owned() }),
        }
    }
}
