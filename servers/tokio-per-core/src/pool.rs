//! The one blocking pool every per-core runtime shares, and the per-worker `shared::tokio_executor::TokioExecutor`
//! on it: sleeps on the calling worker's runtime, runs thread-pool work on that pool.

use std::io;

use shared::config::SHUTDOWN_GRACE;
use shared::tokio_executor::TokioExecutor;
use tokio::runtime::Runtime;

/// A tokio runtime kept only for its blocking pool: no task ever runs on it, so it needs no driver and no
/// thread of its own; its `Handle::spawn_blocking` is the process's one pool of `--blocking-threads`.
pub struct BlockingPool {
    runtime: Option<Runtime>,
}

impl BlockingPool {
    /// Reads the process's allowed CPUs now, on the unpinned starting thread: every pool thread resets its
    /// affinity to them, since it is spawned by (and would inherit the one CPU of) a pinned worker.
    pub fn new(blocking_threads: u16) -> io::Result<BlockingPool> {
        let allowed = shared::cpus::allowed_cpus()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(usize::from(blocking_threads))
            .thread_name("blocking-pool")
            .on_thread_start(move || {
                if let Err(error) = shared::cpus::pin_current_thread_to(&allowed) {
                    eprintln!("tokio-per-core-server: a pool thread keeps its parent's CPU: {error}");
                }
            })
            .build()?;
        Ok(BlockingPool { runtime: Some(runtime) })
    }

    /// An executor for one worker: its own handle to the pool, so no per-request reference count is shared.
    pub fn executor(&self) -> Option<TokioExecutor> {
        self.runtime.as_ref().map(|runtime| TokioExecutor::Pool(runtime.handle().clone()))
    }
}

impl Drop for BlockingPool {
    /// Work still running when the last worker ends gets the same grace as connections, not forever.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::{Arc, Barrier};
    use std::thread::{self, ThreadId};
    use std::time::{Duration, Instant};

    use shared::Executor;

    use super::*;

    const NAP: Duration = Duration::from_millis(150);

    /// Runs `tasks` concurrent naps through `executor` on a fresh current_thread runtime pinned to `cpu`,
    /// as a worker would, and returns the pool threads that ran them.
    fn nap_on_a_worker(executor: TokioExecutor, cpu: usize, tasks: usize, start: Arc<Barrier>) -> Vec<ThreadId> {
        shared::cpus::pin_current_thread(cpu).expect("pin");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        start.wait();
        runtime.block_on(async {
            let naps = (0..tasks).map(|_| {
                let executor = executor.clone();
                tokio::spawn(async move {
                    executor
                        .run_blocking(|| {
                            thread::sleep(NAP);
                            thread::current().id()
                        })
                        .await
                })
            });
            let mut threads = Vec::new();
            for nap in naps.collect::<Vec<_>>() {
                threads.push(nap.await.expect("task").expect("blocking work"));
            }
            threads
        })
    }

    /// Two per-core runtimes, two naps each, one pool of two threads: the four naps take two rounds on two
    /// threads. Per-runtime pools (`tokio::task::spawn_blocking`) would run them in one round on four.
    #[test]
    fn every_runtime_shares_the_one_pool() {
        let pool = BlockingPool::new(2).expect("pool");
        let cpus = shared::cpus::allowed_cpus().expect("affinity");
        let start = Arc::new(Barrier::new(2));
        let began = Instant::now();
        let workers: Vec<_> = (0..2)
            .map(|index| {
                let (executor, start) = (pool.executor().expect("pool alive"), Arc::clone(&start));
                let cpu = shared::cpus::cpu_for_worker(&cpus, index).expect("cpu");
                thread::spawn(move || nap_on_a_worker(executor, cpu, 2, start))
            })
            .collect();
        let threads: HashSet<ThreadId> =
            workers.into_iter().flat_map(|worker| worker.join().expect("worker thread")).collect();
        assert!(threads.len() <= 2, "{} pool threads ran the naps; the pool has 2", threads.len());
        assert!(began.elapsed() >= NAP * 2, "four naps on two threads finished in {:?}", began.elapsed());
    }

    /// A pool thread spawned on demand by a worker pinned to one CPU still runs on every allowed CPU.
    #[test]
    fn pool_threads_float_over_the_allowed_cpus() {
        let allowed = shared::cpus::allowed_cpus().expect("affinity");
        let pool = BlockingPool::new(1).expect("pool");
        let executor = pool.executor().expect("pool alive");
        let cpu = allowed[0];
        let seen = thread::spawn(move || {
            shared::cpus::pin_current_thread(cpu).expect("pin");
            let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            runtime.block_on(executor.run_blocking(shared::cpus::allowed_cpus))
        })
        .join()
        .expect("worker thread");
        assert_eq!(seen.expect("blocking work").expect("affinity"), allowed);
    }
}
