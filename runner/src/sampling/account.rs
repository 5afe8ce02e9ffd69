//! Exact CPU and run-queue accounting of one process over a window, read from `/proc`. It owns reading
//! `/proc/<pid>/stat` and `/proc/<pid>/task/*/schedstat`, the arithmetic between two readings, and the error
//! bound of every figure. A reading that fails is [`Unmeasured`] with its reason, never a zero: a process
//! whose CPU could not be read must not pass a rule that a quiet process passes.
//!
//! # CPU time
//! `utime + stime` (fields 14 and 15 of `/proc/<pid>/stat`, in clock ticks of `sysconf(_SC_CLK_TCK)`) cover
//! every thread of the process, exited threads included. The kernel keeps the exact runtime in nanoseconds
//! and truncates `utime` and `stime` to whole ticks separately, so one reading is up to 2 ticks below the
//! truth and a difference of two readings is within ±2 ticks (20 ms at 100 ticks/s). A process in a cgroup of its
//! own ([`super::cgroup`], every local server) is read from that group instead, to the nanosecond. [`CpuWindow`] carries
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
    CpuReading, LocalProc, ProcReader, Snapshot, ThreadSchedstat, ThreadsReading, Unmeasured, clock_ticks_per_second,
    exited_unreaped, read_cpu, read_threads,
};

/// CPU time a process used over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuWindow {
    pub cpu: Duration,
    /// The true CPU time is within `cpu ± uncertainty`: two clock ticks (see the module docs), or the
    /// resolution of the process's own cgroup where it has one.
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
    // The process's own cgroup counts to the nanosecond: exact where both ends read it.
    let group_cpu = match start {
        Some(start) => start.group_cpu.zip(end.group_cpu).map(|(from, to)| to.saturating_sub(from)),
        None => end.group_cpu,
    };
    if let Some(cpu) = group_cpu {
        return Ok(CpuWindow { cpu, uncertainty: super::cgroup::resolution(), wall });
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
    /// Opens the window on a process of this host that is already running: its figures count from now.
    pub fn open(pid: u32) -> ProcessAccount {
        ProcessAccount::open_at(pid, LocalProc.snapshot(pid, true))
    }

    /// Opens the window on a running process at its snapshot `first` (taken by any host's reader).
    pub fn open_at(pid: u32, first: Snapshot) -> ProcessAccount {
        let cpu_start = Some(first.cpu);
        let threads = first.threads.unwrap_or(Err(Unmeasured::EmptyWindow));
        let run_queue = threads.map(|first| RunQueueAccount::open(&first));
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

    /// Reads this host's process's threads once more (see [`ProcessAccount::observe_snapshot`]).
    pub fn observe(&mut self) {
        let snapshot = LocalProc.snapshot(self.pid, true);
        self.observe_snapshot(&snapshot);
    }

    /// Takes a later snapshot's threads into account. A failed reading is skipped: the next one, or the
    /// close, covers it.
    pub fn observe_snapshot(&mut self, snapshot: &Snapshot) {
        if let Ok(account) = &mut self.run_queue
            && let Some(Ok(reading)) = &snapshot.threads
        {
            account.observe(reading);
        }
    }

    /// Closes the window on this host's process now (see [`ProcessAccount::close_at`]).
    pub fn close(self, ticks_per_second: Result<u64, Unmeasured>) -> WindowAccount {
        let last = LocalProc.snapshot(self.pid, true);
        self.close_at(last, ticks_per_second)
    }

    /// Closes the window at the snapshot `last`. A process that has exited but is not reaped yet (see
    /// [`exited_unreaped`]) still reads: its CPU then covers its whole life, and its threads other than the
    /// main one count as exited after their last observation.
    pub fn close_at(self, last: Snapshot, ticks_per_second: Result<u64, Unmeasured>) -> WindowAccount {
        let cpu = match (self.cpu_start, last.cpu, ticks_per_second) {
            (Some(Err(why)), _, _) | (_, Err(why), _) | (_, _, Err(why)) => Err(why),
            (Some(Ok(start)), Ok(end), Ok(ticks)) => cpu_between(Some(&start), self.opened, &end, ticks),
            (None, Ok(end), Ok(ticks)) => cpu_between(None, self.opened, &end, ticks),
        };
        let threads = last.threads.unwrap_or(Err(Unmeasured::EmptyWindow));
        let run_queue = self.run_queue.and_then(|mut account| {
            account.observe(&threads?);
            account.delay()
        });
        WindowAccount { cpu, run_queue }
    }
}

#[cfg(test)]
mod tests;
