//! CPU and memory sampling of the server and the load generator during an attack: one background thread
//! takes a [`procfs::Snapshot`] of just those two PIDs every interval, and the series is summarised per
//! process. Each process is read through a [`ProcReader`] of its own host: this host's `/proc`, or (a server
//! on another host) the ssh reader, so both are measured the same way.
//!
//! CPU is per core (200% = two busy cores) and covers every thread of the PID, not its children, which is
//! why servers are started by direct exec. It is computed here from the process's accumulated CPU time over
//! the wall time between two readings (not sysinfo's `cpu_usage()`, which stays 0 for the first interval of
//! a process that had not used a whole CPU tick at the baseline, which is exactly a load generator started a
//! moment earlier). A process that exits (or is a zombie) simply stops producing samples.
//!
//! The samples make the time series. The figures a test is judged on come from [`account`]: the exact CPU
//! time and run-queue delay of both processes over the whole window (read through [`procfs`]), which the same
//! thread keeps observing at every tick (so a thread that exits loses at most one interval of its run-queue
//! delay); [`record`] turns them into the results schema.

pub mod account;
pub mod cgroup;
pub mod procfs;
pub mod record;

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use self::account::{ProcessAccount, WindowAccount};
use self::procfs::{LocalProc, ProcReader, Snapshot, Unmeasured};
use crate::model::{Resources, Sample, SampleSeries, UsageSummary};

/// A safety cap on samples per process (over 5 days at the default interval), so a forgotten monitor ends.
const MAX_SAMPLES: usize = 1 << 20;

/// A running sampler. [`Monitor::stop`] returns what it measured; dropping it stops the thread too.
#[derive(Debug)]
pub struct Monitor {
    server_pid: u32,
    interval: Duration,
    stop: Option<mpsc::Sender<()>>,
    sampler: Option<JoinHandle<Collected>>,
    /// The exact accounting of both processes, observed by the sampling thread at every tick.
    accounts: Option<SharedAccounts>,
}

type SharedAccounts = Arc<Mutex<(ProcessAccount, Option<ProcessAccount>)>>;

/// The server's and the load generator's exact accounting over one window.
#[derive(Debug, Clone, PartialEq)]
pub struct Accounts {
    pub server: WindowAccount,
    pub load_generator: WindowAccount,
}

#[derive(Debug, Default)]
struct Collected {
    server: Vec<Sample>,
    load_generator: Vec<Sample>,
    /// The server's reader, handed back so the accounting window closes through it.
    server_reader: Option<Box<dyn ProcReader>>,
}

impl Monitor {
    /// Starts sampling `server_pid` (and the load generator, when given) every `interval` (at least sysinfo's
    /// minimum CPU update interval). A baseline refresh is taken at once, so the first sample, one interval
    /// later, already has a CPU figure. Times are seconds since this call.
    ///
    /// Sampling is best effort: if the sampler cannot start, the series comes back empty.
    pub fn start(server_pid: u32, load_generator_pid: Option<u32>, interval: Duration) -> Monitor {
        let interval = interval.max(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        let (stop, stopped) = mpsc::channel();
        let server = Box::new(LocalProc);
        let sampler = std::thread::Builder::new()
            .name("monitor".to_owned())
            .spawn(move || sample_until_stopped(server, server_pid, load_generator_pid, interval, &stopped, None))
            .ok();
        Monitor { server_pid, interval, stop: Some(stop), sampler, accounts: None }
    }

    /// Like [`Monitor::start`], and follows both processes' exact accounting: the server from now, the load
    /// generator (spawned after `opened`) from its birth. [`Monitor::stop_accounting`] closes the window;
    /// call it once the load generator has exited but before it is reaped, so its final CPU still reads.
    /// Without a local load generator (every attacker on another host), only the server is accounted.
    pub fn start_accounting(
        server_pid: u32,
        load_generator_pid: Option<u32>,
        opened: Instant,
        interval: Duration,
    ) -> Monitor {
        Monitor::start_accounting_on(Box::new(LocalProc), server_pid, load_generator_pid, opened, interval)
    }

    /// Like [`Monitor::start_accounting`], with the server read through `server` (its host's reader); the
    /// load generator is a process of this host.
    pub fn start_accounting_on(
        mut server: Box<dyn ProcReader>,
        server_pid: u32,
        load_generator_pid: Option<u32>,
        opened: Instant,
        interval: Duration,
    ) -> Monitor {
        let interval = interval.max(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        let server_account = ProcessAccount::open_at(server_pid, server.snapshot(server_pid, true));
        let load_generator = load_generator_pid.map(|pid| ProcessAccount::born(pid, opened));
        let accounts = Arc::new(Mutex::new((server_account, load_generator)));
        let observed = Arc::clone(&accounts);
        let (stop, stopped) = mpsc::channel();
        let sampler = std::thread::Builder::new()
            .name("monitor".to_owned())
            .spawn(move || {
                sample_until_stopped(server, server_pid, load_generator_pid, interval, &stopped, Some(&observed))
            })
            .ok();
        Monitor { server_pid, interval, stop: Some(stop), sampler, accounts: Some(accounts) }
    }

    /// Stops sampling, closes the accounting window now and returns both.
    pub fn stop_accounting(mut self) -> (SampleSeries, Option<Accounts>) {
        let accounts = self.accounts.take();
        let mut collected = self.finish();
        let mut server_reader = collected.server_reader.take().unwrap_or_else(|| Box::new(LocalProc));
        let series = self.series(collected);
        let accounts = accounts.map(|shared| {
            let (server, load_generator) = Arc::try_unwrap(shared)
                .map(|mutex| mutex.into_inner().unwrap_or_else(PoisonError::into_inner))
                .unwrap_or_else(|shared| shared.lock().unwrap_or_else(PoisonError::into_inner).clone());
            let server_last = server_reader.snapshot(server.pid(), true);
            Accounts {
                server: server.close_at(server_last, server_reader.ticks_per_second()),
                load_generator: load_generator.map_or_else(not_local, |lg| lg.close(LocalProc.ticks_per_second())),
            }
        });
        (series, accounts)
    }

    /// Stops sampling and returns every sample taken.
    pub fn stop(mut self) -> SampleSeries {
        let collected = self.finish();
        self.series(collected)
    }

    fn series(&self, collected: Collected) -> SampleSeries {
        SampleSeries {
            interval_ms: u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX),
            server_pid: self.server_pid,
            server: collected.server,
            load_generator: collected.load_generator,
        }
    }

    fn finish(&mut self) -> Collected {
        // Dropping the sender wakes the sampler at once.
        self.stop.take();
        self.sampler.take().and_then(|sampler| sampler.join().ok()).unwrap_or_default()
    }
}

/// The account of a load generator that did not run on this machine.
fn not_local() -> WindowAccount {
    WindowAccount { cpu: Err(Unmeasured::NotLocal), run_queue: Err(Unmeasured::NotLocal) }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.finish();
    }
}

fn sample_until_stopped(
    mut server_reader: Box<dyn ProcReader>,
    server_pid: u32,
    load_generator_pid: Option<u32>,
    interval: Duration,
    stopped: &mpsc::Receiver<()>,
    accounts: Option<&SharedAccounts>,
) -> Collected {
    let started = Instant::now();
    let mut collected = Collected::default();
    let with_threads = accounts.is_some();
    let mut local = LocalProc;
    let mut server = Tracked::new(server_pid, server_reader.ticks_per_second().ok());
    let mut load_generator = load_generator_pid.map(|pid| Tracked::new(pid, local.ticks_per_second().ok()));
    // The baseline: the first sample, one interval later, already has a CPU figure.
    server.read(&server_reader.snapshot(server_pid, false), 0.0);
    if let Some(tracked) = load_generator.as_mut() {
        tracked.read(&local.snapshot(tracked.pid, false), 0.0);
    }

    let mut tick: u32 = 0;
    while collected.server.len().max(collected.load_generator.len()) < MAX_SAMPLES {
        tick = next_tick(tick, started.elapsed(), interval);
        let due = started + interval * tick;
        match stopped.recv_timeout(due.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => {}
            // A message or a dropped sender: stop.
            Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
        }
        let server_now = server_reader.snapshot(server_pid, with_threads);
        let load_now = load_generator.as_ref().map(|tracked| local.snapshot(tracked.pid, with_threads));
        if let Some(accounts) = accounts {
            let mut accounts = accounts.lock().unwrap_or_else(PoisonError::into_inner);
            accounts.0.observe_snapshot(&server_now);
            if let (Some(load_now), Some(load_generator)) = (&load_now, accounts.1.as_mut()) {
                load_generator.observe_snapshot(load_now);
            }
        }
        let t_s = started.elapsed().as_secs_f64();
        let server_sample = server.read(&server_now, t_s);
        let load_sample = load_generator.as_mut().zip(load_now.as_ref()).and_then(|(t, now)| t.read(now, t_s));
        if server_sample.is_none() && load_sample.is_none() {
            // Both processes are gone: nothing more to measure.
            break;
        }
        collected.server.extend(server_sample);
        collected.load_generator.extend(load_sample);
    }
    collected.server_reader = Some(server_reader);
    collected
}

/// The next tick strictly after `previous` that is still ahead of `elapsed`: a slow refresh skips ticks
/// rather than taking a burst of samples a few microseconds apart (whose CPU figures would be noise).
fn next_tick(previous: u32, elapsed: Duration, interval: Duration) -> u32 {
    let behind = u32::try_from(elapsed.as_nanos() / interval.as_nanos().max(1)).unwrap_or(u32::MAX);
    previous.saturating_add(1).max(behind.saturating_add(1))
}

/// One sampled process and its CPU time at the previous reading.
#[derive(Debug)]
struct Tracked {
    pid: u32,
    /// Its host's clock ticks per second; `None` (unknown) leaves its CPU figures at 0.
    ticks_per_second: Option<u64>,
    /// Accumulated CPU milliseconds and when they were read.
    previous: Option<(u64, Instant)>,
}

impl Tracked {
    fn new(pid: u32, ticks_per_second: Option<u64>) -> Tracked {
        Tracked { pid, ticks_per_second, previous: None }
    }

    /// A sample from a snapshot; `None` once the process is gone (or a zombie). The first reading (the
    /// baseline) only matters for the CPU time it records.
    fn read(&mut self, snapshot: &Snapshot, t_s: f64) -> Option<Sample> {
        let cpu = snapshot.cpu.as_ref().ok().filter(|_| !snapshot.exited)?;
        let ticks = self.ticks_per_second.unwrap_or(0);
        let cpu_ms =
            if ticks > 0 { u64::try_from(u128::from(cpu.cpu_ticks) * 1000 / u128::from(ticks)).ok()? } else { 0 };
        let cpu_pct = self.previous.map_or(0.0, |(before, at)| cpu_percent(before, cpu_ms, cpu.at - at));
        self.previous = Some((cpu_ms, cpu.at));
        Some(Sample { t_s, cpu_pct, rss_bytes: snapshot.rss_bytes.unwrap_or(0) })
    }
}

/// CPU time used over a wall-clock span, in percent of one core.
fn cpu_percent(before_ms: u64, after_ms: u64, wall: Duration) -> f64 {
    let wall_ms = wall.as_secs_f64() * 1000.0;
    if wall_ms <= 0.0 {
        return 0.0;
    }
    after_ms.saturating_sub(before_ms) as f64 / wall_ms * 100.0
}

/// Mean and max of one process's samples; all zeros for none.
pub fn summarize(samples: &[Sample]) -> UsageSummary {
    let count = samples.len();
    if count == 0 {
        return UsageSummary { samples: 0, cpu_mean_pct: 0.0, cpu_max_pct: 0.0, rss_mean_bytes: 0, rss_max_bytes: 0 };
    }
    let cpu_total: f64 = samples.iter().map(|s| s.cpu_pct).sum();
    let rss_total: u128 = samples.iter().map(|s| u128::from(s.rss_bytes)).sum();
    UsageSummary {
        samples: count,
        cpu_mean_pct: cpu_total / count as f64,
        cpu_max_pct: samples.iter().map(|s| s.cpu_pct).fold(0.0, f64::max),
        rss_mean_bytes: u64::try_from(rss_total / count as u128).unwrap_or(u64::MAX),
        rss_max_bytes: samples.iter().map(|s| s.rss_bytes).max().unwrap_or(0),
    }
}

/// The summary of a whole series, as stored with a test; `None` when the server was never sampled (a sampler
/// that failed must read as "not measured", never as 0% CPU).
pub fn resources(series: &SampleSeries) -> Option<Resources> {
    if series.server.is_empty() {
        return None;
    }
    Some(Resources {
        server: summarize(&series.server),
        load_generator: summarize(&series.load_generator),
        sample_interval_ms: series.interval_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn samples_a_busy_process() {
        let busy = Arc::new(AtomicBool::new(true));
        let spinner = {
            let busy = busy.clone();
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(5);
                let mut x: u64 = 0;
                while busy.load(Ordering::Relaxed) && Instant::now() < deadline {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                }
            })
        };
        let monitor = Monitor::start(std::process::id(), None, Duration::from_millis(250));
        std::thread::sleep(Duration::from_millis(1200));
        let series = monitor.stop();
        busy.store(false, Ordering::Relaxed);
        let _ = spinner.join();

        println!("{series:?}");
        assert_eq!(series.interval_ms, 250);
        assert!(series.server.len() >= 2, "{} samples", series.server.len());
        assert!(series.load_generator.is_empty());
        assert!(series.server.iter().all(|s| s.rss_bytes > 1 << 20), "rss below 1 MiB");
        assert!(series.server.windows(2).all(|w| w[0].t_s < w[1].t_s));
        assert!(series.server[0].t_s >= 0.2, "first sample comes after the baseline");
        assert!(series.server[0].cpu_pct > 0.0, "the first sample already has a CPU figure");
        let summary = summarize(&series.server);
        // One spinning thread is ~100% of a core; a loaded 2-core CI machine can leave it a fraction of that.
        // The first sample only has to be non-zero: sysinfo's own figure would be exactly 0 there.
        assert!(summary.cpu_max_pct > 10.0, "{summary:?}");
        assert!(summary.cpu_max_pct >= summary.cpu_mean_pct && summary.rss_max_bytes >= summary.rss_mean_bytes);
    }

    /// Kills and reaps a test child even when an assertion fails first.
    struct KillOnDrop(std::process::Child);

    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn a_freshly_started_busy_child_has_cpu_in_its_first_sample() {
        // Like vegeta right after its start: no CPU tick used yet at the baseline.
        let child =
            Command::new("sh").args(["-c", "while :; do :; done"]).stdin(Stdio::null()).spawn().expect("sh runs");
        let child = KillOnDrop(child);
        let monitor = Monitor::start(std::process::id(), Some(child.0.id()), Duration::from_millis(250));
        std::thread::sleep(Duration::from_millis(800));
        let series = monitor.stop();
        drop(child);
        println!("{series:?}");
        let first = series.load_generator.first().expect("samples of the child");
        assert!(first.cpu_pct > 0.0, "{first:?}");
        assert!(first.rss_bytes > 0);
    }

    #[test]
    fn a_process_that_exits_stops_producing_samples() {
        let mut child = Command::new("sleep").arg("0.3").stdin(Stdio::null()).spawn().expect("sleep runs");
        let monitor = Monitor::start(child.id(), Some(std::process::id()), Duration::from_millis(200));
        std::thread::sleep(Duration::from_millis(1200));
        // Reaped only now: until then the exited child is a zombie, which must not count as alive.
        let series = monitor.stop();
        let _ = child.wait();
        println!("{series:?}");
        assert!(series.server.len() <= 2, "{:?}", series.server);
        assert!(series.server.iter().all(|s| s.t_s < 0.9));
        assert!(series.load_generator.len() >= 2, "the other process is still sampled");
    }

    #[test]
    fn a_missing_process_gives_an_empty_series_quickly() {
        // PIDs above the kernel maximum (4194304) never exist.
        let monitor = Monitor::start(u32::MAX - 1, None, crate::defaults::SAMPLE_INTERVAL);
        let series = monitor.stop();
        assert!(series.server.is_empty());
        assert!(resources(&series).is_none(), "an unsampled server has no CPU figure, not 0%");
    }

    #[test]
    fn summaries() {
        let empty = summarize(&[]);
        assert_eq!((empty.samples, empty.cpu_mean_pct, empty.rss_max_bytes), (0, 0.0, 0));
        let samples =
            [Sample { t_s: 0.5, cpu_pct: 50.0, rss_bytes: 100 }, Sample { t_s: 1.0, cpu_pct: 150.0, rss_bytes: 300 }];
        let summary = summarize(&samples);
        assert_eq!(summary.samples, 2);
        assert_eq!(summary.cpu_mean_pct, 100.0);
        assert_eq!(summary.cpu_max_pct, 150.0);
        assert_eq!(summary.rss_mean_bytes, 200);
        assert_eq!(summary.rss_max_bytes, 300);
    }

    #[test]
    fn cpu_percent_is_per_core() {
        assert_eq!(cpu_percent(100, 1100, Duration::from_millis(500)), 200.0);
        assert_eq!(cpu_percent(100, 100, Duration::from_millis(500)), 0.0);
        assert_eq!(cpu_percent(100, 90, Duration::from_millis(500)), 0.0);
        assert_eq!(cpu_percent(0, 10, Duration::ZERO), 0.0);
    }

    #[test]
    fn slow_refreshes_skip_ticks() {
        let interval = Duration::from_millis(500);
        assert_eq!(next_tick(0, Duration::from_millis(10), interval), 1);
        assert_eq!(next_tick(1, Duration::from_millis(510), interval), 2);
        assert_eq!(next_tick(1, Duration::from_millis(1700), interval), 4);
    }
}
