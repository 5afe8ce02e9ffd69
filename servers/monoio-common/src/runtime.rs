//! A monoio runtime on exactly the I/O driver asked for. monoio's own `FusionDriver` falls back to epoll
//! where io_uring is unavailable; that would measure an "io_uring" arm on epoll, so this builds the asked
//! driver's runtime directly and refuses to start otherwise.

use std::io;
use std::net::TcpListener;

use monoio::blocking::DefaultThreadPool;
use monoio::time::TimeDriver;
use monoio::{FusionRuntime, IoUringDriver, LegacyDriver, RuntimeBuilder};
use shared::IoDriver;
use thiserror::Error;

/// io_uring submission queue entries per runtime (monoio's default); epoll's event capacity likewise.
const ENTRIES: u32 = 1024;

/// A worker's runtime: io_uring or epoll, with the timer.
pub type Runtime = FusionRuntime<TimeDriver<IoUringDriver>, TimeDriver<LegacyDriver>>;

/// Why a worker's runtime could not be built.
#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error(
        "--io-driver io_uring: io_uring is not available here ({cause}); start with `--io-driver epoll` to \
         serve on epoll instead"
    )]
    UringUnavailable { cause: io::Error },
    #[error("--io-driver epoll: cannot build the epoll runtime")]
    Epoll(#[source] io::Error),
    #[error("cannot set the listener's blocking mode for the {driver} driver")]
    ListenerMode { driver: IoDriver, source: io::Error },
    #[error("cannot register the listener with the {driver} runtime")]
    Register { driver: IoDriver, source: io::Error },
}

/// The runtime `driver` asks for, with the shared blocking pool attached.
pub fn build(driver: IoDriver, pool: DefaultThreadPool) -> Result<Runtime, RuntimeError> {
    build_with_entries(driver, pool, ENTRIES)
}

fn build_with_entries(driver: IoDriver, pool: DefaultThreadPool, entries: u32) -> Result<Runtime, RuntimeError> {
    let pool = Box::new(pool);
    match driver {
        IoDriver::IoUring => RuntimeBuilder::<IoUringDriver>::new()
            .with_entries(entries)
            .enable_timer()
            .attach_thread_pool(pool)
            .build()
            .map(FusionRuntime::Uring)
            .map_err(|cause| RuntimeError::UringUnavailable { cause }),
        IoDriver::Epoll => RuntimeBuilder::<LegacyDriver>::new()
            .with_entries(entries)
            .enable_timer()
            .attach_thread_pool(pool)
            .build()
            .map(FusionRuntime::Legacy)
            .map_err(RuntimeError::Epoll),
    }
}

/// The driver a runtime really runs, read from the runtime itself.
pub fn driver_of(runtime: &Runtime) -> IoDriver {
    match runtime {
        FusionRuntime::Uring(_) => IoDriver::IoUring,
        FusionRuntime::Legacy(_) => IoDriver::Epoll,
    }
}

/// Puts a listener in the blocking mode `driver` expects: io_uring accepts on a blocking socket (monoio's
/// own bind leaves it blocking); epoll needs it non-blocking.
pub fn prepare_listener(listener: &TcpListener, driver: IoDriver) -> Result<(), RuntimeError> {
    listener.set_nonblocking(driver == IoDriver::Epoll).map_err(|source| RuntimeError::ListenerMode { driver, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> DefaultThreadPool {
        DefaultThreadPool::new(1)
    }

    #[test]
    fn epoll_is_built_when_asked() {
        let runtime = build(IoDriver::Epoll, pool()).expect("epoll runtime");
        assert_eq!(driver_of(&runtime), IoDriver::Epoll);
    }

    #[test]
    fn io_uring_is_built_when_the_kernel_allows_it() {
        if !monoio::utils::detect_uring() {
            eprintln!("io_uring is not available here: nothing to build");
            return;
        }
        let runtime = build(IoDriver::IoUring, pool()).expect("io_uring runtime");
        assert_eq!(driver_of(&runtime), IoDriver::IoUring);
    }

    /// An io_uring the kernel refuses (here: more entries than `IORING_MAX_ENTRIES`) is an error naming the
    /// flag, never an epoll runtime.
    #[test]
    fn a_refused_io_uring_is_an_error_naming_the_flag_not_a_fallback() {
        let error = build_with_entries(IoDriver::IoUring, pool(), 1 << 20).err().expect("the kernel refuses");
        assert!(matches!(error, RuntimeError::UringUnavailable { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("--io-driver io_uring") && message.contains("--io-driver epoll"), "{message}");
    }
}
