//! Exact CPU and run-queue accounting of one process over a window, read from `/proc`. It owns reading
//! `/proc/<pid>/stat` and `/proc/<pid>/task/*/schedstat`, the arithmetic between two readings, and the error
//! bound of every figure. A reading that fails is [`Unmeasured`] with its reason, never a zero: a process
//! whose CPU could not be read must not pass a rule that a quiet process passes.
//!
//! # CPU time
//! `utime + stime` (fields 14 and 15 of `/proc/<pid>/stat`, in clock ticks of `sysconf(_SC_CLK_TCK)`) cover
//! every thread of the process, exited threads included. The kernel keeps the exact runtime in nanoseconds
//! and truncates `utime` and `stime` to whole ticks separately, so one reading is up to 2 ticks below the
//! truth and a difference of two readings is within ±2 ticks (20 ms at 100 ticks/s). [`CpuWindow`] carries
//! that bound. The start time (field 22) identifies the process, so a pid reused between two readings is
//! refused rather than subtracted.
//!
//! # Run-queue delay
//! The second field of `/proc/<pid>/task/<tid>/schedstat` is the nanoseconds that thread spent runnable but
//! waiting for a CPU. There is no per-process total that keeps exited threads, so [`RunQueueAccount`]
//! follows every thread over a series of readings:
//! - a thread seen in the first reading counts from its value there;
//! - a thread first seen later was born inside the window, so all of its delay counts (exact);
//! - a thread that disappears has exited: its delay between its last sighting and its exit is missing. That
//!   gap is at most the wall time between the reading that last saw it and the one that first missed it,
//!   and [`RunQueueDelay::missing_at_most`] adds those gaps up: the true delay lies in
//!   `[delay, delay + missing_at_most]`.
//! - a thread born and exited between two readings is never seen; with readings every sampling interval that
//!   is a thread living less than one interval. Such threads are not counted and cannot be bounded here.
//!
//! A thread id whose value goes down between readings was reused by a new thread (tids are allocated
//! cyclically over `pid_max`, so this needs millions of thread creations in between): the new thread counts
//! as born, the old one as exited at its last sighting.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use super::procfs::{
    CpuReading, ThreadSchedstat, ThreadsReading, Unmeasured, clock_ticks_per_second, exited_unreaped, read_cpu,
    read_threads,
};

/// CPU time a process used over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuWindow {
    pub cpu: Duration,
    /// The true CPU time is within `cpu ± uncertainty` (two ticks: see the module docs).
    pub uncertainty: Duration,
    /// Wall time between the two readings.
    pub wall: Duration,
}

impl CpuWindow {
    /// Mean CPU over the window in percent of one core (200% = two busy cores).
    pub fn percent_of_one_core(&self) -> f64 {
        let wall = self.wall.as_secs_f64();
        if wall > 0.0 { self.cpu.as_secs_f64() / wall * 100.0 } else { 0.0 }
    }
}

/// The CPU a process used between two readings. `start` is `None` for a process born inside the window
/// (started after the window opened): everything it used then counts, from the instant `opened`.
pub fn cpu_between(
    start: Option<&CpuReading>,
    opened: Instant,
    end: &CpuReading,
    ticks_per_second: u64,
) -> Result<CpuWindow, Unmeasured> {
    let (base_ticks, from) = match start {
        Some(start) if start.start_ticks != end.start_ticks || start.pid != end.pid => {
            return Err(Unmeasured::PidReused { pid: end.pid, start: start.start_ticks, end: end.start_ticks });
        }
        Some(start) => (start.cpu_ticks, start.at),
        None => (0, opened),
    };
    let wall = end.at.saturating_duration_since(from);
    if wall.is_zero() {
        return Err(Unmeasured::EmptyWindow);
    }
    let tick = Duration::from_nanos(1_000_000_000 / ticks_per_second.max(1));
    // utime + stime never go down for one process; saturating keeps a kernel oddity from wrapping around.
    let used = end.cpu_ticks.saturating_sub(base_ticks);
    Ok(CpuWindow { cpu: ticks_to_duration(used, ticks_per_second), uncertainty: tick * 2, wall })
}

fn ticks_to_duration(ticks: u64, ticks_per_second: u64) -> Duration {
    let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(ticks_per_second.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Run-queue delay of a process over a window, with its error bound (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunQueueDelay {
    /// Summed over threads: two threads waiting for 1 ms each make 2 ms.
    pub delay: Duration,
    /// The delay of the thread that waited longest (the contention rule's figure: see
    /// [`crate::defaults::RUN_QUEUE_SHARE_LIMIT`]).
    pub busiest_thread: Duration,
    /// The true delay is within `[delay, delay + missing_at_most]`.
    pub missing_at_most: Duration,
    /// Wall time from the first reading to the last.
    pub wall: Duration,
    /// Threads seen over the window, how many were born in it and how many exited before its end.
    pub threads_seen: usize,
    pub threads_born: usize,
    pub threads_exited: usize,
}

impl RunQueueDelay {
    /// The delay as a share of the window's wall time (0.25 = a quarter of the window, summed over threads).
    pub fn share_of_window(&self) -> f64 {
        let wall = self.wall.as_secs_f64();
        if wall > 0.0 { self.delay.as_secs_f64() / wall } else { 0.0 }
    }

    /// The busiest thread's delay as a share of the window's wall time.
    pub fn busiest_thread_share(&self) -> f64 {
        let wall = self.wall.as_secs_f64();
        if wall > 0.0 { self.busiest_thread.as_secs_f64() / wall } else { 0.0 }
    }
}

/// One thread followed over the readings.
#[derive(Debug, Clone, Copy)]
struct Followed {
    /// Its delay when the window opened (0 for a thread born inside it).
    base_ns: u64,
    last_ns: u64,
    last_seen: Instant,
    /// When a reading first missed it.
    missed_at: Option<Instant>,
}

impl Followed {
    fn counted_ns(&self) -> u64 {
        self.last_ns.saturating_sub(self.base_ns)
    }
}

/// Follows every thread of one process over a series of readings (see the module docs for what is exact
/// and what is bounded).
#[derive(Debug, Clone)]
pub struct RunQueueAccount {
    opened: Instant,
    last_reading: Instant,
    live: BTreeMap<u32, Followed>,
    /// Threads that exited (or whose tid was reused), with their final figures.
    gone: Vec<Followed>,
    born: usize,
}

impl RunQueueAccount {
    /// Opens the window at `first`: its threads count from their values there.
    pub fn open(first: &ThreadsReading) -> RunQueueAccount {
        let live = first
            .threads
            .iter()
            .map(|(&tid, stat)| {
                let base = stat.run_delay_ns;
                (tid, Followed { base_ns: base, last_ns: base, last_seen: first.at, missed_at: None })
            })
            .collect();
        RunQueueAccount { opened: first.at, last_reading: first.at, live, gone: Vec::new(), born: 0 }
    }

    /// Takes a later reading into account. Readings must come in time order; an older one is ignored.
    pub fn observe(&mut self, reading: &ThreadsReading) {
        if reading.at < self.last_reading {
            return;
        }
        let at = reading.at;
        let exited: Vec<u32> = self.live.keys().filter(|tid| !reading.threads.contains_key(tid)).copied().collect();
        for tid in exited {
            if let Some(mut thread) = self.live.remove(&tid) {
                thread.missed_at = Some(at);
                self.gone.push(thread);
            }
        }
        for (&tid, stat) in &reading.threads {
            let now_ns = stat.run_delay_ns;
            match self.live.get_mut(&tid) {
                Some(thread) if now_ns >= thread.last_ns => {
                    thread.last_ns = now_ns;
                    thread.last_seen = at;
                }
                Some(thread) => {
                    // Went down: a new thread with a reused id. The old one ended after its last sighting.
                    let mut old = *thread;
                    old.missed_at = Some(at);
                    self.gone.push(old);
                    *thread = Followed { base_ns: 0, last_ns: now_ns, last_seen: at, missed_at: None };
                    self.born += 1;
                }
                None => {
                    self.live.insert(tid, Followed { base_ns: 0, last_ns: now_ns, last_seen: at, missed_at: None });
                    self.born += 1;
                }
            }
        }
        self.last_reading = at;
    }

    /// The delay from the first reading to the last one observed.
    pub fn delay(&self) -> Result<RunQueueDelay, Unmeasured> {
        let wall = self.last_reading.saturating_duration_since(self.opened);
        if wall.is_zero() {
            return Err(Unmeasured::EmptyWindow);
        }
        let counted: u64 = self.live.values().chain(&self.gone).map(Followed::counted_ns).sum();
        let busiest = self.live.values().chain(&self.gone).map(Followed::counted_ns).max().unwrap_or(0);
        let missing = self
            .gone
            .iter()
            .map(|thread| thread.missed_at.unwrap_or(self.last_reading).saturating_duration_since(thread.last_seen))
            .sum();
        Ok(RunQueueDelay {
            delay: Duration::from_nanos(counted),
            busiest_thread: Duration::from_nanos(busiest),
            missing_at_most: missing,
            wall,
            threads_seen: self.live.len() + self.gone.len(),
            threads_born: self.born,
            threads_exited: self.gone.len(),
        })
    }
}

// ---------------------------------------------------------------------------------------------------------
// One process over a window

/// What one process used over a measured window: each figure measured or absent with its reason.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowAccount {
    pub cpu: Result<CpuWindow, Unmeasured>,
    pub run_queue: Result<RunQueueDelay, Unmeasured>,
}

/// One process followed over a window: opened before the measured work starts, observed now and then (each
/// observation bounds what a thread that exits afterwards can lose), closed when the work has ended.
#[derive(Debug, Clone)]
pub struct ProcessAccount {
    pid: u32,
    opened: Instant,
    /// `None` for a process born inside the window: its whole CPU time counts.
    cpu_start: Option<Result<CpuReading, Unmeasured>>,
    run_queue: Result<RunQueueAccount, Unmeasured>,
}

impl ProcessAccount {
    /// Opens the window on a process that is already running: its figures count from now.
    pub fn open(pid: u32) -> ProcessAccount {
        let cpu_start = Some(read_cpu(pid));
        let run_queue = read_threads(pid).map(|first| RunQueueAccount::open(&first));
        let opened = cpu_start.as_ref().and_then(|start| start.as_ref().ok()).map_or_else(Instant::now, |s| s.at);
        ProcessAccount { pid, opened, cpu_start, run_queue }
    }

    /// Opens the window at `opened` on a process started after it (the load generator, spawned once the
    /// window is open): everything it uses counts, every thread of it is born inside the window.
    pub fn born(pid: u32, opened: Instant) -> ProcessAccount {
        let nothing_yet = ThreadsReading { at: opened, threads: BTreeMap::new() };
        ProcessAccount { pid, opened, cpu_start: None, run_queue: Ok(RunQueueAccount::open(&nothing_yet)) }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Reads the threads once more. A failed reading is skipped: the next one, or the close, covers it.
    pub fn observe(&mut self) {
        if let Ok(account) = &mut self.run_queue
            && let Ok(reading) = read_threads(self.pid)
        {
            account.observe(&reading);
        }
    }

    /// Closes the window now. A process that has exited but is not reaped yet (see [`exited_unreaped`])
    /// still reads: its CPU then covers its whole life, and its threads other than the main one count as
    /// exited after their last observation.
    pub fn close(self, ticks_per_second: Result<u64, Unmeasured>) -> WindowAccount {
        let end = read_cpu(self.pid);
        let cpu = match (self.cpu_start, end, ticks_per_second) {
            (Some(Err(why)), _, _) | (_, Err(why), _) | (_, _, Err(why)) => Err(why),
            (Some(Ok(start)), Ok(end), Ok(ticks)) => cpu_between(Some(&start), self.opened, &end, ticks),
            (None, Ok(end), Ok(ticks)) => cpu_between(None, self.opened, &end, ticks),
        };
        let run_queue = self.run_queue.and_then(|mut account| {
            let last = read_threads(self.pid)?;
            account.observe(&last);
            account.delay()
        });
        WindowAccount { cpu, run_queue }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn reading(pid: u32, start_ticks: u64, cpu_ticks: u64, at: Instant) -> CpuReading {
        CpuReading { pid, start_ticks, cpu_ticks, at }
    }

    #[test]
    fn cpu_over_a_window_is_the_tick_difference_with_a_two_tick_bound() {
        let t0 = Instant::now();
        let start = reading(7, 100, 250, t0);
        let end = reading(7, 100, 400, t0 + Duration::from_secs(3));
        let window = cpu_between(Some(&start), t0, &end, 100).expect("measured");
        assert_eq!(window.cpu, Duration::from_millis(1500));
        assert_eq!(window.uncertainty, Duration::from_millis(20));
        assert_eq!(window.wall, Duration::from_secs(3));
        assert!((window.percent_of_one_core() - 50.0).abs() < 1e-9);
    }

    #[test]
    fn a_process_born_in_the_window_counts_everything_it_used() {
        let opened = Instant::now();
        let end = reading(9, 5000, 37, opened + Duration::from_secs(2));
        let window = cpu_between(None, opened, &end, 100).expect("measured");
        assert_eq!((window.cpu, window.wall), (Duration::from_millis(370), Duration::from_secs(2)));
    }

    #[test]
    fn a_reused_pid_or_an_empty_window_is_unmeasured_not_zero() {
        let t0 = Instant::now();
        let start = reading(7, 100, 250, t0);
        let other = reading(7, 900, 3, t0 + Duration::from_secs(1));
        assert!(matches!(cpu_between(Some(&start), t0, &other, 100), Err(Unmeasured::PidReused { pid: 7, .. })));
        assert_eq!(cpu_between(Some(&start), t0, &start, 100), Err(Unmeasured::EmptyWindow));
    }

    /// Spins `threads` threads of this process until the returned flag is cleared (or 5 s pass).
    fn spin(threads: usize) -> (Arc<AtomicBool>, Vec<std::thread::JoinHandle<()>>) {
        let busy = Arc::new(AtomicBool::new(true));
        let handles = (0..threads)
            .map(|_| {
                let busy = busy.clone();
                std::thread::spawn(move || {
                    let deadline = Instant::now() + Duration::from_secs(5);
                    let mut x: u64 = 0;
                    while busy.load(Ordering::Relaxed) && Instant::now() < deadline {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                    }
                })
            })
            .collect();
        (busy, handles)
    }

    #[test]
    fn the_cpu_of_exited_threads_still_counts() {
        let ticks = clock_ticks_per_second().expect("CLK_TCK");
        let pid = std::process::id();
        let start = read_cpu(pid).expect("own stat");
        let (busy, handles) = spin(1);
        std::thread::sleep(Duration::from_millis(400));
        busy.store(false, Ordering::Relaxed);
        for handle in handles {
            let _ = handle.join();
        }
        // The spinning thread has exited: only the process total still knows its CPU.
        let end = read_cpu(pid).expect("own stat");
        let window = cpu_between(Some(&start), start.at, &end, ticks).expect("measured");
        println!("{window:?}");
        // A loaded 2-core machine can leave the spinner a fraction of a core; 50 ms of 400 is plenty.
        assert!(window.cpu >= Duration::from_millis(50), "{window:?}");
        assert!(window.cpu <= window.wall * 2 + window.uncertainty, "{window:?}");
    }

    #[test]
    fn a_real_child_reads_the_same_as_a_zombie_until_reaped() {
        let ticks = clock_ticks_per_second().expect("CLK_TCK");
        let opened = Instant::now();
        let mut child = Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"])
            .stdin(Stdio::null())
            .spawn()
            .expect("sh runs");
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !exited_unreaped(pid).expect("waitid") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let zombie = read_cpu(pid).expect("a zombie's stat still reads");
        let window = cpu_between(None, opened, &zombie, ticks).expect("measured");
        let _ = child.wait();
        println!("{window:?}");
        assert!(window.cpu > Duration::ZERO, "a busy shell used CPU: {window:?}");
        assert!(matches!(read_cpu(pid), Err(Unmeasured::ProcessGone { .. })), "reaped: gone");
    }

    #[test]
    fn run_queue_delay_of_real_threads_competing_for_one_cpu() {
        // Three spinners on this process's CPUs wait for each other; pin them all to one CPU via the
        // affinity of the spawning thread, so they must queue even on an idle machine.
        let pid = std::process::id();
        let first = read_threads(pid).expect("own threads");
        let mut account = RunQueueAccount::open(&first);
        let (busy, handles) = {
            let size = std::mem::size_of::<libc::cpu_set_t>();
            // SAFETY: zeroed cpu_set_t values are valid empty sets; CPU_SET writes within one.
            let (mut one_cpu, mut saved): (libc::cpu_set_t, libc::cpu_set_t) = unsafe { std::mem::zeroed() };
            unsafe { libc::CPU_SET(0, &mut one_cpu) };
            // SAFETY: valid pointers to sets of the size given; 0 is the calling thread. New threads inherit
            // the mask, so the spinners share CPU 0; this thread gets its own mask back right after.
            unsafe { libc::sched_getaffinity(0, size, &mut saved) };
            unsafe { libc::sched_setaffinity(0, size, &one_cpu) };
            let spun = spin(3);
            unsafe { libc::sched_setaffinity(0, size, &saved) };
            spun
        };
        std::thread::sleep(Duration::from_millis(300));
        account.observe(&read_threads(pid).expect("own threads"));
        busy.store(false, Ordering::Relaxed);
        for handle in handles {
            let _ = handle.join();
        }
        std::thread::sleep(Duration::from_millis(50));
        account.observe(&read_threads(pid).expect("own threads"));
        let delay = account.delay().expect("measured");
        println!("{delay:?} share {:.2}", delay.share_of_window());
        // Other tests of this binary may start and end threads of their own meanwhile: at least these three.
        assert!(delay.threads_born >= 3 && delay.threads_exited >= 3, "{delay:?}");
        // Three runnable threads on one CPU: two wait whenever one runs, for most of 300 ms.
        assert!(delay.delay >= Duration::from_millis(150), "{delay:?}");
        assert!(delay.missing_at_most <= Duration::from_millis(3 * 400), "{delay:?}");
    }

    fn threads(at: Instant, delays: &[(u32, u64)]) -> ThreadsReading {
        let threads = delays.iter().map(|&(tid, d)| (tid, ThreadSchedstat { on_cpu_ns: 0, run_delay_ns: d })).collect();
        ThreadsReading { at, threads }
    }

    #[test]
    fn threads_born_exited_and_reused_are_accounted_honestly() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut account = RunQueueAccount::open(&threads(t0, &[(1, 1000), (2, 5000), (3, 700)]));
        // 1 waits 500 ns more, 2 exits, 3's id is reused by a new thread (value went down), 4 is born.
        account.observe(&threads(t0 + s(1), &[(1, 1500), (2, 5200), (3, 900), (4, 300)]));
        account.observe(&threads(t0 + s(2), &[(1, 1600), (3, 50), (4, 400)]));
        let delay = account.delay().expect("measured");
        // 1: 600; 2: 200 (until last seen); old 3: 200; new 3: 50; 4: 400.
        assert_eq!(delay.delay, Duration::from_nanos(600 + 200 + 200 + 50 + 400));
        assert_eq!(delay.busiest_thread, Duration::from_nanos(600), "the thread that waited longest");
        assert_eq!((delay.threads_seen, delay.threads_born, delay.threads_exited), (5, 2, 2));
        // Thread 2 and old thread 3 were last seen at 1 s and missed at 2 s: up to 1 s each is missing.
        assert_eq!(delay.missing_at_most, s(2));
        assert_eq!(delay.wall, s(2));
        assert!((delay.share_of_window() - 1450e-9 / 2.0).abs() < 1e-15);
        // A stale reading changes nothing; a window of one reading has no duration.
        let before = account.delay();
        account.observe(&threads(t0, &[(9, 1_000_000)]));
        assert_eq!(account.delay(), before);
        assert_eq!(RunQueueAccount::open(&threads(t0, &[(1, 5)])).delay(), Err(Unmeasured::EmptyWindow));
    }
    #[test]
    fn a_child_followed_from_its_birth_to_its_exit() {
        let opened = Instant::now();
        let mut child = Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
            .stdin(Stdio::null())
            .spawn()
            .expect("sh runs");
        let mut account = ProcessAccount::born(child.id(), opened);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !exited_unreaped(child.id()).expect("waitid") && Instant::now() < deadline {
            account.observe();
            std::thread::sleep(Duration::from_millis(20));
        }
        let window = account.close(clock_ticks_per_second());
        let _ = child.wait();
        println!("{window:?}");
        let cpu = window.cpu.expect("a zombie's CPU reads");
        assert!(cpu.cpu > Duration::ZERO && cpu.wall > Duration::ZERO, "{cpu:?}");
        let run_queue = window.run_queue.expect("a zombie's threads read");
        assert_eq!((run_queue.threads_seen, run_queue.threads_born), (1, 1), "{run_queue:?}");
    }

    #[test]
    fn a_process_gone_at_the_close_is_absent_not_zero() {
        let mut child = Command::new("sleep").arg("5").stdin(Stdio::null()).spawn().expect("sleep runs");
        let account = ProcessAccount::open(child.id());
        let _ = child.kill();
        let _ = child.wait();
        let window = account.close(clock_ticks_per_second());
        assert!(matches!(window.cpu, Err(Unmeasured::ProcessGone { .. })), "{window:?}");
        assert!(matches!(window.run_queue, Err(Unmeasured::ProcessGone { .. })), "{window:?}");
        let never = ProcessAccount::open(u32::MAX - 1).close(Ok(100));
        assert!(matches!(never.cpu, Err(Unmeasured::ProcessGone { .. })), "{never:?}");
        let no_ticks = ProcessAccount::open(std::process::id()).close(Err(Unmeasured::EmptyWindow));
        assert_eq!(no_ticks.cpu, Err(Unmeasured::EmptyWindow));
    }
}
