//! Reading a process from `/proc`: its CPU time (`/proc/<pid>/stat`: utime + stime, every thread, exited
//! ones included, in clock ticks, and its start time, which tells a reused pid apart) and the schedstat of
//! each live thread (`/proc/<pid>/task/<tid>/schedstat`: nanoseconds on a CPU, nanoseconds waiting on a run
//! queue). A read that fails is [`Unmeasured`] with its reason, never a zero. What the readings add up to
//! over a window, and with what error, is [`super::account`]'s.
//!
//! Parsing is apart from reading ([`parse_stat`], [`parse_schedstat`]), so a process on another host reads
//! the same way: a [`ProcReader`] takes one [`Snapshot`] of a process (stat and threads together), and
//! [`LocalProc`] is the reader of this host's `/proc`; the ssh one lives with the transport.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Instant;

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
    #[error("no load generator ran on this machine (each attacker's is read on its own host)")]
    NotLocal,
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
    /// The CPU time of the process's own cgroup ([`super::cgroup`]): every thread and child, exited ones
    /// included, to the nanosecond. `None` for a process in no group of its own (or read on another host).
    pub group_cpu: Option<std::time::Duration>,
    pub at: Instant,
}

/// Reads the CPU time of `pid` (a zombie still reads: its times then cover its whole life).
pub fn read_cpu(pid: u32) -> Result<CpuReading, Unmeasured> {
    read_stat(pid).map(|(reading, _)| reading)
}

/// Reads `/proc/<pid>/stat`: the CPU reading and every field this module knows.
fn read_stat(pid: u32) -> Result<(CpuReading, StatFields), Unmeasured> {
    let path = stat_path(pid);
    let text = std::fs::read_to_string(&path).map_err(|e| Unmeasured::from_io(pid, &path, &e))?;
    let group_cpu = super::cgroup::usage(pid).ok();
    let (mut reading, fields) = cpu_reading(pid, &text, Instant::now(), &path)?;
    reading.group_cpu = group_cpu;
    Ok((reading, fields))
}

/// Where a process's stat is (on any host).
pub fn stat_path(pid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/stat"))
}

/// A CPU reading from the text of `/proc/<pid>/stat` read at `at` (from `path`, for the error).
pub fn cpu_reading(pid: u32, text: &str, at: Instant, path: &Path) -> Result<(CpuReading, StatFields), Unmeasured> {
    let fields = parse_stat(text).map_err(|detail| Unmeasured::Malformed { path: path.to_owned(), detail })?;
    let cpu_ticks = fields.utime + fields.stime;
    let reading = CpuReading { pid, start_ticks: fields.start_ticks, cpu_ticks, group_cpu: None, at };
    Ok((reading, fields))
}

/// The fields of `/proc/<pid>/stat` this module needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFields {
    /// Field 3: `R`, `S`, `D`, `Z` (zombie), ...
    pub state: char,
    pub utime: u64,
    pub stime: u64,
    pub start_ticks: u64,
    /// Field 24: resident set size in pages.
    pub rss_pages: u64,
}

impl StatFields {
    /// Whether the process has exited (a zombie, or dead) though its entry still reads.
    pub fn exited(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parses `pid (comm) state ...`. The command name may hold spaces and parentheses, so fields are counted
/// from the last `)`: the field after it is field 3.
pub fn parse_stat(text: &str) -> Result<StatFields, String> {
    let after_comm = text.rfind(')').map(|i| &text[i + 1..]).ok_or("no `)` closing the command name")?;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // Field n (1-based, as in proc(5)) sits at index n - 3.
    let field = |n: usize| -> Result<u64, String> {
        let raw = fields.get(n - 3).ok_or_else(|| format!("only {} fields after the command name", fields.len()))?;
        raw.parse().map_err(|_| format!("field {n} is {raw:?}, not a count"))
    };
    let state = fields.first().and_then(|raw| raw.chars().next()).ok_or("no state field")?;
    Ok(StatFields { state, utime: field(14)?, stime: field(15)?, start_ticks: field(22)?, rss_pages: field(24)? })
}

/// The other processes of the group `leader` leads (field 5 of `/proc/<pid>/stat`): the workers a server
/// forked, grandchildren and re-parented ones included. Sampling `leader` does not cover them.
pub fn group_members(leader: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut members: Vec<u32> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()))
        .filter(|&pid| pid != leader)
        .filter(|&pid| {
            let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            process_group(&text) == Some(leader)
        })
        .collect();
    members.sort_unstable();
    members
}

/// Field 5 of a `/proc/<pid>/stat` line, counted from the last `)` like [`parse_stat`].
fn process_group(stat: &str) -> Option<u32> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(2)?.parse().ok()
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
pub fn parse_schedstat(text: &str) -> Result<ThreadSchedstat, String> {
    let mut fields =
        text.split_whitespace().map(|raw| raw.parse::<u64>().map_err(|_| format!("{raw:?} is not a count")));
    let mut next = |name: &str| fields.next().unwrap_or_else(|| Err(format!("no {name} field")));
    Ok(ThreadSchedstat { on_cpu_ns: next("on-CPU")?, run_delay_ns: next("run-delay")? })
}

// ---------------------------------------------------------------------------------------------------------
// Readers

/// One look at a process: its stat and (when asked) its threads, read together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub cpu: Result<CpuReading, Unmeasured>,
    /// `None` when not asked for.
    pub threads: Option<Result<ThreadsReading, Unmeasured>>,
    /// Resident memory; `None` when the stat did not read.
    pub rss_bytes: Option<u64>,
    /// Whether the process has exited (its stat still reads as a zombie, or not at all).
    pub exited: bool,
}

impl Snapshot {
    /// A snapshot of a process that could not be read at all.
    pub fn unreadable(why: Unmeasured) -> Snapshot {
        let exited = matches!(why, Unmeasured::ProcessGone { .. });
        Snapshot { cpu: Err(why.clone()), threads: Some(Err(why)), rss_bytes: None, exited }
    }

    /// Combines a stat reading with the threads: the figures a reader on any host returns.
    pub fn from_stat(
        stat: Result<(CpuReading, StatFields), Unmeasured>,
        threads: Option<Result<ThreadsReading, Unmeasured>>,
        page_size: u64,
    ) -> Snapshot {
        match stat {
            Ok((cpu, fields)) => Snapshot {
                cpu: Ok(cpu),
                threads,
                rss_bytes: Some(fields.rss_pages.saturating_mul(page_size)),
                exited: fields.exited(),
            },
            Err(why) => Snapshot { exited: matches!(why, Unmeasured::ProcessGone { .. }), ..Snapshot::unreadable(why) },
        }
    }
}

/// Reads processes of one host. `Send`, so a sampling thread can own it.
pub trait ProcReader: Send + std::fmt::Debug {
    /// One snapshot of `pid`, with its threads when `threads` is set.
    fn snapshot(&mut self, pid: u32, threads: bool) -> Snapshot;
    /// That host's clock ticks per second, the unit of `utime` and `stime`.
    fn ticks_per_second(&self) -> Result<u64, Unmeasured>;
}

/// This host's `/proc`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalProc;

impl ProcReader for LocalProc {
    fn snapshot(&mut self, pid: u32, threads: bool) -> Snapshot {
        Snapshot::from_stat(read_stat(pid), threads.then(|| read_threads(pid)), page_size())
    }

    fn ticks_per_second(&self) -> Result<u64, Unmeasured> {
        clock_ticks_per_second()
    }
}

/// This host's page size, the unit of the stat's resident set size.
fn page_size() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096)
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

    const STAT: &str = "4242 (tokio-rt (w) 1) S 1 4242 4242 0 -1 4194560 1092 0 0 0 731 129 0 0 20 0 9 0 \
                        48033 123456789 2345 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let fields = parse_stat(STAT).expect("parses");
        assert_eq!(fields, StatFields { state: 'S', utime: 731, stime: 129, start_ticks: 48033, rss_pages: 2345 });
        assert!(!fields.exited() && parse_stat(&STAT.replace(") S ", ") Z ")).is_ok_and(|f| f.exited()));
        assert!(parse_stat("12 (x) S 1 2").is_err_and(|e| e.contains("fields")));
        assert!(parse_stat("no parenthesis").is_err());
        let bad = STAT.replace(" 731 ", " -1 ");
        assert!(parse_stat(&bad).is_err_and(|e| e.contains("field 14")), "{:?}", parse_stat(&bad));
    }

    #[test]
    fn group_members_are_the_processes_a_group_leader_forked() {
        assert_eq!(process_group(STAT), Some(4242));
        assert_eq!(process_group("garbage"), None);
        let mut command = std::process::Command::new("sh");
        command.args(["-c", "sleep 30 & sleep 30 & wait"]);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().expect("sh runs");
        let leader = child.id();
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        let mut members = group_members(leader);
        while members.len() < 2 && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
            members = group_members(leader);
        }
        // SAFETY: kill(2) on the group of a child this test spawned.
        unsafe {
            libc::kill(-libc::pid_t::try_from(leader).expect("pid fits"), libc::SIGKILL);
        }
        let _ = child.wait();
        assert_eq!(members.len(), 2, "{members:?}");
        assert!(!members.contains(&leader));
    }

    #[test]
    fn schedstat_has_cpu_then_delay() {
        let stat = parse_schedstat("151343780 23987 7\n").expect("parses");
        assert_eq!(stat, ThreadSchedstat { on_cpu_ns: 151_343_780, run_delay_ns: 23_987 });
        assert!(parse_schedstat("12").is_err());
        assert!(parse_schedstat("a b c").is_err());
    }

    #[test]
    fn a_missing_process_is_gone_with_its_path() {
        // PIDs above the kernel maximum (4194304) never exist.
        let gone = read_cpu(u32::MAX - 1).expect_err("no such process");
        assert!(matches!(gone, Unmeasured::ProcessGone { .. }), "{gone:?}");
        assert!(gone.to_string().contains("/proc/4294967294/stat"), "{gone}");
        assert!(matches!(read_threads(u32::MAX - 1), Err(Unmeasured::ProcessGone { .. })));
    }
}
