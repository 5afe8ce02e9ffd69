//! [`TokioExecutor`], the `Executor` of both tokio arms: sleeps on the timer of the runtime it is awaited on,
//! runs thread-pool work on that runtime's blocking pool or on one pool the process shares.

use std::future::Future;
use std::time::Duration;

use tokio::runtime::Handle;

use crate::{ApiError, Executor};

/// Where a tokio arm runs its blocking work.
#[derive(Debug, Clone)]
pub enum TokioExecutor {
    /// The blocking pool of the runtime the request runs on (the work-stealing arm's one runtime).
    CurrentRuntime,
    /// A pool other runtimes share, through a handle of its own per worker so no per-request reference count
    /// is shared between cores (the per-core arm).
    Pool(Handle),
}

impl Executor for TokioExecutor {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> {
        tokio::time::sleep(duration)
    }

    async fn run_blocking<F, R>(&self, work: F) -> Result<R, ApiError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let task = match self {
            TokioExecutor::CurrentRuntime => tokio::task::spawn_blocking(work),
            TokioExecutor::Pool(pool) => pool.spawn_blocking(work),
        };
        task.await.map_err(|e| ApiError::Internal { detail: format!("blocking task failed: {e}") })
    }
}
