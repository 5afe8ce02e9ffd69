//! A CPU-accounting cgroup of its own for each server process: the kernel then counts the exact CPU time of
//! every thread and child of the process, exited ones included, in nanoseconds (`cpuacct.usage` of cgroup v1,
//! or `usage_usec` of cgroup v2's `cpu.stat`).
//!
//! Why: `/proc/<pid>/stat` counts in clock ticks (10 ms here), and a difference of two readings is only good
//! to ±2 ticks. A 1.7 s cost test of 3,400 requests then has ±5.9 µs per request of clock error alone, as large
//! as the differences between arms. Per-thread schedstat is exact but misses threads that exit, and children.
//!
//! A process is moved into `<controller mount>/runtime-bench/<pid>` right after it is spawned, before it has
//! done any work worth measuring. Where no writable CPU-accounting hierarchy exists (not root, a read-only
//! cgroup file system), [`CpuGroup::create`] says why and the accounting falls back to clock ticks, saying so.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a process's own group cannot be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {detail}")]
pub struct CgroupError {
    path: PathBuf,
    detail: String,
}

/// The folder, below each hierarchy's root, that holds the runner's cgroups.
const PARENT: &str = "runtime-bench";

/// Which kind of hierarchy holds the group, and so which file reads its usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hierarchy {
    /// cgroup v1's `cpuacct` controller: `cpuacct.usage`, nanoseconds.
    CpuacctV1,
    /// cgroup v2: `cpu.stat`'s `usage_usec`, microseconds.
    Unified,
}

/// A cgroup made for one process; removed on drop once its processes have exited.
#[derive(Debug)]
pub struct CpuGroup {
    dir: PathBuf,
}

impl CpuGroup {
    /// Makes a group for `pid` and moves the process (all its threads) into it; its later children are born
    /// in it.
    pub fn create(pid: u32) -> Result<CpuGroup, CgroupError> {
        let (root, _) = hierarchy()?;
        remove_leftovers(&root.join(PARENT));
        let dir = root.join(PARENT).join(pid.to_string());
        std::fs::create_dir_all(&dir).map_err(|error| unwritable(&dir, &error))?;
        let procs = dir.join("cgroup.procs");
        if let Err(error) = std::fs::write(&procs, pid.to_string()) {
            let _ = std::fs::remove_dir(&dir);
            return Err(unwritable(&procs, &error));
        }
        Ok(CpuGroup { dir })
    }
}

/// Removes the groups of processes that are gone (a runner killed with SIGKILL cannot remove its own); a
/// group still holding a process is refused by the kernel and stays.
fn remove_leftovers(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let gone = name
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
        if gone {
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

impl Drop for CpuGroup {
    fn drop(&mut self) {
        // Fails while a process is still in it (a child that outlived the server); the next run's group for
        // a new pid does not need this one gone.
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// The CPU time used so far by `pid`'s own group (made by [`CpuGroup::create`]): every thread and child of the
/// process since it was moved there, exited ones included. A process in no group of its own is unmeasured
/// here: a shared group's usage would count other processes.
pub fn usage(pid: u32) -> Result<Duration, CgroupError> {
    let (root, kind) = hierarchy()?;
    let dir = root.join(PARENT).join(pid.to_string());
    let own = own_group_of(pid, kind)?;
    if own != Path::new("/").join(PARENT).join(pid.to_string()) {
        return Err(CgroupError {
            path: PathBuf::from(format!("/proc/{pid}/cgroup")),
            detail: format!("the process is in the cgroup {}, not one of its own", own.display()),
        });
    }
    match kind {
        Hierarchy::CpuacctV1 => {
            let path = dir.join("cpuacct.usage");
            let text = read(&path)?;
            let nanos = text.trim().parse::<u64>().map_err(|e| malformed(&path, &e.to_string()))?;
            Ok(Duration::from_nanos(nanos))
        }
        Hierarchy::Unified => {
            let path = dir.join("cpu.stat");
            let text = read(&path)?;
            let micros = stat_field(&text, "usage_usec").ok_or_else(|| malformed(&path, "no usage_usec line"))?;
            Ok(Duration::from_micros(micros))
        }
    }
}

/// The resolution of [`usage`]'s figure.
pub fn resolution() -> Duration {
    match hierarchy() {
        Ok((_, Hierarchy::Unified)) => Duration::from_micros(1),
        _ => Duration::from_nanos(1),
    }
}

/// The mount point of the hierarchy that accounts CPU: cgroup v1's `cpuacct` controller if mounted (it is
/// in nanoseconds), else the cgroup v2 mount.
fn hierarchy() -> Result<(PathBuf, Hierarchy), CgroupError> {
    // Read once: every sample of every process asks.
    static FOUND: std::sync::OnceLock<Result<(PathBuf, Hierarchy), CgroupError>> = std::sync::OnceLock::new();
    FOUND.get_or_init(read_hierarchy).clone()
}

fn read_hierarchy() -> Result<(PathBuf, Hierarchy), CgroupError> {
    let mounts = Path::new("/proc/mounts");
    let text =
        std::fs::read_to_string(mounts).map_err(|e| CgroupError { path: mounts.to_owned(), detail: e.to_string() })?;
    find_hierarchy(&text).ok_or_else(|| CgroupError {
        path: mounts.to_owned(),
        detail: "no cgroup hierarchy accounts CPU on this machine (neither cgroup v1 cpuacct nor cgroup v2)".to_owned(),
    })
}

fn find_hierarchy(mounts: &str) -> Option<(PathBuf, Hierarchy)> {
    let entries: Vec<(&str, &str, &str)> = mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_device, mount, kind, options) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
            Some((mount, kind, options))
        })
        .collect();
    // A group where the `cpu` controller also acts is a scheduling entity of its own: it would compete with
    // vegeta as one, changing how a shared CPU is split. Only a hierarchy that merely counts will do.
    let counts_only = |options: &str| {
        let options: Vec<&str> = options.split(',').collect();
        options.contains(&"cpuacct") && !options.contains(&"cpu")
    };
    let v1 = entries.iter().find(|(_, kind, options)| *kind == "cgroup" && counts_only(options));
    let v2 = entries.iter().find(|(mount, kind, _)| *kind == "cgroup2" && !schedules_children(Path::new(mount)));
    v1.map(|(mount, ..)| (PathBuf::from(mount), Hierarchy::CpuacctV1))
        .or_else(|| v2.map(|(mount, ..)| (PathBuf::from(mount), Hierarchy::Unified)))
}

/// Whether cgroup v2's `cpu` controller is enabled for the root's children (then a group schedules).
fn schedules_children(mount: &Path) -> bool {
    std::fs::read_to_string(mount.join("cgroup.subtree_control"))
        .is_ok_and(|controllers| controllers.split_whitespace().any(|controller| controller == "cpu"))
}

/// The process's group in the hierarchy of `kind`, from `/proc/<pid>/cgroup`.
fn own_group_of(pid: u32, kind: Hierarchy) -> Result<PathBuf, CgroupError> {
    let path = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let text = read(&path)?;
    group_in(&text, kind).ok_or_else(|| malformed(&path, "no line for the CPU-accounting hierarchy"))
}

fn group_in(text: &str, kind: Hierarchy) -> Option<PathBuf> {
    text.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (id, controllers, group) = (fields.next()?, fields.next()?, fields.next()?);
        let matches = match kind {
            Hierarchy::CpuacctV1 => controllers.split(',').any(|controller| controller == "cpuacct"),
            Hierarchy::Unified => id == "0" && controllers.is_empty(),
        };
        matches.then(|| PathBuf::from(group))
    })
}

fn stat_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
}

fn read(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(|error| CgroupError { path: path.to_owned(), detail: error.to_string() })
}

fn unwritable(path: &Path, error: &std::io::Error) -> CgroupError {
    CgroupError { path: path.to_owned(), detail: format!("cannot make a CPU-accounting cgroup: {error}") }
}

fn malformed(path: &Path, detail: &str) -> CgroupError {
    CgroupError { path: path.to_owned(), detail: format!("unexpected format: {detail}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS_V1: &str = "tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n\
        cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n";

    #[test]
    fn cpuacct_v1_is_preferred_for_its_nanoseconds_and_v2_is_the_fallback() {
        assert_eq!(find_hierarchy(MOUNTS_V1), Some((PathBuf::from("/sys/fs/cgroup/cpuacct"), Hierarchy::CpuacctV1)));
        let v2_only = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n";
        assert_eq!(find_hierarchy(v2_only), Some((PathBuf::from("/sys/fs/cgroup"), Hierarchy::Unified)));
        assert_eq!(find_hierarchy("proc /proc proc rw 0 0\n"), None);
        let joint = "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n";
        assert_eq!(find_hierarchy(joint), None, "where cpu is mounted with cpuacct, a group would schedule");
    }

    #[test]
    fn the_group_is_read_from_the_right_line() {
        let text = "4:memory:/sandbox\n2:cpu,cpuacct:/runtime-bench/42\n0::/user.slice\n";
        assert_eq!(group_in(text, Hierarchy::CpuacctV1), Some(PathBuf::from("/runtime-bench/42")));
        assert_eq!(group_in(text, Hierarchy::Unified), Some(PathBuf::from("/user.slice")));
        assert_eq!(stat_field("usage_usec 1234\nuser_usec 1000\n", "usage_usec"), Some(1234));
    }

    /// Needs root and a writable hierarchy (CI has both); elsewhere it says why and checks nothing more.
    #[test]
    fn a_group_counts_a_child_busy_for_a_known_time() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "read line; end=$(($(date +%s%N) + 300000000)); while [ $(date +%s%N) -lt $end ]; do :; done"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("sh starts");
        let group = match CpuGroup::create(child.id()) {
            Ok(group) => group,
            Err(reason) => {
                let _ = child.kill();
                let _ = child.wait();
                eprintln!("no cgroup here ({reason}); the accounting falls back to clock ticks");
                return;
            }
        };
        let before = usage(child.id()).expect("the group's usage reads");
        drop(child.stdin.take());
        std::thread::sleep(Duration::from_millis(150));
        let during = usage(child.id()).expect("the group's usage reads while it runs");
        let _ = child.wait();
        assert!(during > before, "usage grows while the child works ({before:?} -> {during:?})");
        // `date` children of the loop are counted too: they are born in the group.
        assert!(during - before >= Duration::from_millis(50), "{:?} of CPU in 150 ms of a busy loop", during - before);
        drop(group);
    }
}
