//! The per-core server as a process: [`start`](super::start), the readiness line, serve until SIGINT or
//! SIGTERM, stop gracefully. A second signal exits at once.

use std::thread::{self, JoinHandle};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::{Arm, BoxError, PerCoreError, ShutdownHandle, Worker, start};
use crate::config::ServerArgs;

/// Runs the server until a signal stops it; see [`start`](super::start) for what `body` does.
pub fn run<B>(arm: &Arm, args: ServerArgs, body: B) -> Result<(), PerCoreError>
where
    B: Fn(Worker) -> Result<(), BoxError> + Send + Sync + 'static,
{
    // Registered first, so a signal that arrives right after the readiness line still stops us gracefully.
    let signals = Signals::new([SIGINT, SIGTERM]).map_err(PerCoreError::Signals)?;
    let signals_handle = signals.handle();
    let server = start(arm, args, body)?;
    eprintln!(
        "{}: {} worker(s) pinned to CPUs {:?}, {} driver",
        arm.binary,
        server.worker_cpus().len(),
        server.worker_cpus(),
        server.io_driver()
    );
    if let Err(error) = crate::net::announce_listening(server.local_addr()) {
        let _ = server.shutdown();
        return Err(PerCoreError::Announce(error));
    }
    let watcher = spawn_signal_watcher(arm.binary, signals, server.shutdown_handle())?;
    let result = server.wait();
    signals_handle.close();
    let _ = watcher.join();
    result
}

fn spawn_signal_watcher(
    binary: &'static str,
    mut signals: Signals,
    shutdown: ShutdownHandle,
) -> Result<JoinHandle<()>, PerCoreError> {
    thread::Builder::new()
        .name("signal-watcher".to_owned())
        .spawn(move || {
            let mut forever = signals.forever();
            if forever.next().is_none() {
                return;
            }
            shutdown.shutdown();
            if forever.next().is_some() {
                eprintln!("{binary}: second signal, exiting without waiting for connections");
                std::process::exit(1);
            }
        })
        .map_err(PerCoreError::SignalWatcher)
}
