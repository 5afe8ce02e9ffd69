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
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::judge::cost::{ProjectedCapacity, per_request, projected_capacity};
use crate::model::{
    Accounting, CpuRecord, Measured, PROJECTION_LABEL, ProcessAccounting, ProjectedCapacityRecord, RunQueueRecord,
};

/// Why a figure could not be measured. It travels with the result as its note.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unmeasured {
    #[error("process {pid} was gone when {path} was read")]
    ProcessGone { pid: u32, path: PathBuf },
    #[error("no permission to read {path}")]
    PermissionDenied { path: PathBuf },
    #[error("cannot read {path}: {error}")]
    Unreadable { path: PathBuf, error: String },
    #[error("{path} has an unexpected format: {detail}")]
    Malformed { path: PathBuf, detail: String },
    #[error(
        "pid {pid} belonged to another process at the end of the window (it started at tick {start} and then {end})"
    )]
    PidReused { pid: u32, start: u64, end: u64 },
    #[error("this kernel does not report per-thread schedstat ({path} missing)")]
    SchedstatUnsupported { path: PathBuf },
    #[error("the window has no duration")]
    EmptyWindow,
}

impl Unmeasured {
    fn from_io(pid: u32, path: &Path, error: &std::io::Error) -> Unmeasured {
        let path = path.to_owned();
        match error.kind() {
            // ESRCH surfaces as an uncategorised error on some reads of a dying process.
            ErrorKind::NotFound => Unmeasured::ProcessGone { pid, path },
            _ if error.raw_os_error() == Some(libc::ESRCH) => Unmeasured::ProcessGone { pid, path },
            ErrorKind::PermissionDenied => Unmeasured::PermissionDenied { path },
            _ => Unmeasured::Unreadable { path, error: error.to_string() },
        }
    }
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`), the unit of `utime` and `stime`.
pub fn clock_ticks_per_second() -> Result<u64, Unmeasured> {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).ok_or_else(|| Unmeasured::Unreadable {
        path: PathBuf::from("sysconf(_SC_CLK_TCK)"),
        error: format!("returned {ticks}"),
    })
}

// ---------------------------------------------------------------------------------------------------------
// CPU time

/// One reading of `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuReading {
    pub pid: u32,
    /// Field 22: when the process started, in ticks since boot; tells a reused pid apart.
    pub start_ticks: u64,
    /// Fields 14 + 15: user and system time of every thread, exited ones included.
    pub cpu_ticks: u64,
    pub at: Instant,
}

/// Reads the CPU time of `pid` (a zombie still reads: its times then cover its whole life).
pub fn read_cpu(pid: u32) -> Result<CpuReading, Unmeasured> {
    let path = PathBuf::from(format!("/proc/{pid}/stat"));
    let text = std::fs::read_to_string(&path).map_err(|e| Unmeasured::from_io(pid, &path, &e))?;
    let at = Instant::now();
    let fields = parse_stat(&text).map_err(|detail| Unmeasured::Malformed { path, detail })?;
    Ok(CpuReading { pid, start_ticks: fields.start_ticks, cpu_ticks: fields.utime + fields.stime, at })
}

/// The fields of `/proc/<pid>/stat` this module needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StatFields {
    utime: u64,
    stime: u64,
    start_ticks: u64,
}

/// Parses `pid (comm) state ...`. The command name may hold spaces and parentheses, so fields are counted
/// from the last `)`: the field after it is field 3.
fn parse_stat(text: &str) -> Result<StatFields, String> {
    let after_comm = text.rfind(')').map(|i| &text[i + 1..]).ok_or("no `)` closing the command name")?;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // Field n (1-based, as in proc(5)) sits at index n - 3.
    let field = |n: usize| -> Result<u64, String> {
        let raw = fields.get(n - 3).ok_or_else(|| format!("only {} fields after the command name", fields.len()))?;
        raw.parse().map_err(|_| format!("field {n} is {raw:?}, not a count"))
    };
    Ok(StatFields { utime: field(14)?, stime: field(15)?, start_ticks: field(22)? })
}

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

// ---------------------------------------------------------------------------------------------------------
// Run-queue delay

/// One thread's schedstat: time on a CPU and time waiting on a run queue, both since the thread started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadSchedstat {
    pub on_cpu_ns: u64,
    pub run_delay_ns: u64,
}

/// The schedstat of every live thread of a process at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadsReading {
    pub at: Instant,
    pub threads: BTreeMap<u32, ThreadSchedstat>,
}

/// Reads `/proc/<pid>/task/*/schedstat`. A thread that exits between the listing and its read is simply not
/// in the reading (as if it had exited just before).
pub fn read_threads(pid: u32) -> Result<ThreadsReading, Unmeasured> {
    let task_dir = PathBuf::from(format!("/proc/{pid}/task"));
    let entries = std::fs::read_dir(&task_dir).map_err(|e| Unmeasured::from_io(pid, &task_dir, &e))?;
    let mut threads = BTreeMap::new();
    let mut listed = 0usize;
    for entry in entries {
        let entry = entry.map_err(|e| Unmeasured::from_io(pid, &task_dir, &e))?;
        let Some(tid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        listed += 1;
        let path = entry.path().join("schedstat");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let stat = parse_schedstat(&text).map_err(|detail| Unmeasured::Malformed { path, detail })?;
                threads.insert(tid, stat);
            }
            Err(e) if matches!(Unmeasured::from_io(pid, &path, &e), Unmeasured::ProcessGone { .. }) => {}
            Err(e) => return Err(Unmeasured::from_io(pid, &path, &e)),
        }
    }
    let at = Instant::now();
    if listed > 0 && threads.is_empty() && !task_dir.exists() {
        return Err(Unmeasured::ProcessGone { pid, path: task_dir });
    }
    if listed > 0 && threads.is_empty() {
        // Every listed thread lacked the file while the process is still there: no CONFIG_SCHED_INFO.
        return Err(Unmeasured::SchedstatUnsupported { path: task_dir.join("<tid>/schedstat") });
    }
    Ok(ThreadsReading { at, threads })
}

/// `on_cpu_ns run_delay_ns timeslices`.
fn parse_schedstat(text: &str) -> Result<ThreadSchedstat, String> {
    let mut fields =
        text.split_whitespace().map(|raw| raw.parse::<u64>().map_err(|_| format!("{raw:?} is not a count")));
    let mut next = |name: &str| fields.next().unwrap_or_else(|| Err(format!("no {name} field")));
    Ok(ThreadSchedstat { on_cpu_ns: next("on-CPU")?, run_delay_ns: next("run-delay")? })
}

/// Run-queue delay of a process over a window, with its error bound (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunQueueDelay {
    /// Summed over threads: two threads waiting for 1 ms each make 2 ms.
    pub delay: Duration,
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
        let missing = self
            .gone
            .iter()
            .map(|thread| thread.missed_at.unwrap_or(self.last_reading).saturating_duration_since(thread.last_seen))
            .sum();
        Ok(RunQueueDelay {
            delay: Duration::from_nanos(counted),
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

// ---------------------------------------------------------------------------------------------------------
// Schema records

/// The schema record of a test's accounting: both processes over the window, the server's cost per request
/// (`requests` = what vegeta sent) and the capacity it projects to on `server_cpus` CPUs.
pub fn accounting_record(
    server: &WindowAccount,
    vegeta: &WindowAccount,
    requests: u64,
    server_cpus: usize,
) -> Accounting {
    let projected = match &server.cpu {
        Err(why) => Measured::Absent(format!("the server's CPU was not measured: {why}")),
        Ok(cpu) => per_request(cpu.cpu, cpu.uncertainty, requests)
            .and_then(|cost| projected_capacity(server_cpus, &cost))
            .map_or_else(
                || Measured::Absent("no requests, or no measurable server CPU".to_owned()),
                |p| Measured::Measured(projection_record(&p)),
            ),
    };
    Accounting {
        server: process_record(server, requests),
        load_generator: process_record(vegeta, requests),
        server_cpus,
        projected_capacity: projected,
    }
}

fn process_record(account: &WindowAccount, requests: u64) -> ProcessAccounting {
    let cpu = account.cpu.as_ref().map(|cpu| cpu_record(cpu, requests)).map_err(ToString::to_string);
    let run_queue = account.run_queue.as_ref().map(run_queue_record).map_err(ToString::to_string);
    ProcessAccounting { cpu: cpu.into(), run_queue: run_queue.into() }
}

fn cpu_record(cpu: &CpuWindow, requests: u64) -> CpuRecord {
    let cost = per_request(cpu.cpu, cpu.uncertainty, requests);
    CpuRecord {
        cpu_s: cpu.cpu.as_secs_f64(),
        uncertainty_s: cpu.uncertainty.as_secs_f64(),
        window_s: cpu.wall.as_secs_f64(),
        cpu_pct: cpu.percent_of_one_core(),
        us_per_request: cost.map(|c| c.us),
        us_per_request_uncertainty: cost.map(|c| c.uncertainty_us),
    }
}

fn run_queue_record(delay: &RunQueueDelay) -> RunQueueRecord {
    RunQueueRecord {
        delay_s: delay.delay.as_secs_f64(),
        missing_at_most_s: delay.missing_at_most.as_secs_f64(),
        window_s: delay.wall.as_secs_f64(),
        share_pct: delay.share_of_window() * 100.0,
        threads_seen: delay.threads_seen,
        threads_born: delay.threads_born,
        threads_exited: delay.threads_exited,
    }
}

fn projection_record(projection: &ProjectedCapacity) -> ProjectedCapacityRecord {
    ProjectedCapacityRecord {
        rps: projection.rps,
        low_rps: projection.low_rps,
        high_rps: projection.high_rps.is_finite().then_some(projection.high_rps),
        label: PROJECTION_LABEL.to_owned(),
    }
}

/// Whether child `pid` has exited, without reaping it (`waitid(WNOWAIT)`): its `/proc` files stay readable
/// until the owner of its handle waits for it, so its final CPU time can still be read.
pub fn exited_unreaped(pid: u32) -> std::io::Result<bool> {
    let id = libc::id_t::from(pid);
    // SAFETY: a zeroed siginfo_t is a valid out-parameter; waitid writes at most its size.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: P_PID with a child's pid; WNOWAIT leaves the child waitable by its owner.
    let status = unsafe { libc::waitid(libc::P_PID, id, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) };
    if status != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: with WNOHANG, si_pid is 0 when no child changed state and the child's pid otherwise.
    Ok(unsafe { info.si_pid() } != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    const STAT: &str = "4242 (tokio-rt (w) 1) S 1 4242 4242 0 -1 4194560 1092 0 0 0 731 129 0 0 20 0 9 0 \
                        48033 123456789 2345 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let fields = parse_stat(STAT).expect("parses");
        assert_eq!(fields, StatFields { utime: 731, stime: 129, start_ticks: 48033 });
        assert!(parse_stat("12 (x) S 1 2").is_err_and(|e| e.contains("fields")));
        assert!(parse_stat("no parenthesis").is_err());
        let bad = STAT.replace(" 731 ", " -1 ");
        assert!(parse_stat(&bad).is_err_and(|e| e.contains("field 14")), "{:?}", parse_stat(&bad));
    }

    #[test]
    fn schedstat_has_cpu_then_delay() {
        let stat = parse_schedstat("151343780 23987 7\n").expect("parses");
        assert_eq!(stat, ThreadSchedstat { on_cpu_ns: 151_343_780, run_delay_ns: 23_987 });
        assert!(parse_schedstat("12").is_err());
        assert!(parse_schedstat("a b c").is_err());
    }

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

    #[test]
    fn a_missing_process_is_gone_with_its_path() {
        // PIDs above the kernel maximum (4194304) never exist.
        let gone = read_cpu(u32::MAX - 1).expect_err("no such process");
        assert!(matches!(gone, Unmeasured::ProcessGone { .. }), "{gone:?}");
        assert!(gone.to_string().contains("/proc/4294967294/stat"), "{gone}");
        assert!(matches!(read_threads(u32::MAX - 1), Err(Unmeasured::ProcessGone { .. })));
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
    fn window(cpu_ms: u64, wall_ms: u64) -> CpuWindow {
        CpuWindow {
            cpu: Duration::from_millis(cpu_ms),
            uncertainty: Duration::from_millis(20),
            wall: Duration::from_millis(wall_ms),
        }
    }

    fn delay(delay_ms: u64, wall_ms: u64) -> RunQueueDelay {
        RunQueueDelay {
            delay: Duration::from_millis(delay_ms),
            missing_at_most: Duration::ZERO,
            wall: Duration::from_millis(wall_ms),
            threads_seen: 2,
            threads_born: 0,
            threads_exited: 0,
        }
    }

    #[test]
    fn the_accounting_record_keeps_absent_figures_absent() {
        let measured = WindowAccount { cpu: Ok(window(2600, 10_000)), run_queue: Ok(delay(50, 10_000)) };
        let gone = WindowAccount {
            cpu: Err(Unmeasured::ProcessGone { pid: 7, path: "/proc/7/stat".into() }),
            run_queue: Err(Unmeasured::EmptyWindow),
        };
        let record = accounting_record(&measured, &gone, 135_000, 1);
        let cpu = record.server.cpu.value().expect("measured");
        assert!((cpu.us_per_request.expect("requests") - 19.259).abs() < 0.001, "{cpu:?}");
        assert!((cpu.cpu_pct - 26.0).abs() < 1e-9);
        let projection = record.projected_capacity.value().expect("projected");
        assert!((projection.rps - 1e6 / 19.259_259).abs() < 1.0, "{projection:?}");
        assert_eq!(projection.label, PROJECTION_LABEL);
        assert!(record.server.run_queue.value().is_some_and(|q| (q.share_pct - 0.5).abs() < 1e-9));
        let why = record.load_generator.cpu.absent_reason().expect("absent");
        assert!(why.contains("process 7 was gone"), "{why}");
        let unprojected = accounting_record(&gone, &measured, 135_000, 1);
        assert!(unprojected.projected_capacity.absent_reason().is_some_and(|r| r.contains("not measured")));
        let idle = accounting_record(&measured, &measured, 0, 1);
        assert!(idle.projected_capacity.absent_reason().is_some());
        assert_eq!(idle.server.cpu.value().and_then(|c| c.us_per_request), None);
    }
}
